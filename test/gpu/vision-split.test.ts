// Images with offloaded text blocks, in Node (Dawn on SwiftShader): the
// random-weight SmolVLM pair (idefics3 projector, llama text model: causal
// image rows) and Gemma 3 pair (gemma3 projector and text model, sliding
// windows shorter than an image: rows that attend both ways) at every
// partial split and with every block offloaded. The CPU encoder's rows
// enter the offloaded blocks at the image's cells; the logits after the
// image and the greedy tokens must be those of every block in wasm, a
// follow-up turn must reuse the whole cached prefix with blocks offloaded,
// and an overflow shift that evicts the image must leave the logits and
// the cache (both halves, cell by cell) of the same steps in wasm. (Not a
// fresh evaluation of what stays: the cells kept after an evicted image
// were computed while it was there, on the CPU as in llama.cpp.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Projector } from '../../src/core/vision.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { prepareRequest } from '../../src/runtime/request.js';
import { Sequence } from '../../src/runtime/sequence.js';
import type { KvState } from '../../src/core/kv-state.js';
import type { ShiftEvent } from '../../src/shared/types.js';
import {
  buildGemma3TextModel, buildVisionProjector, buildVisionTextModel, makeGemma3TextSpec, makeGemma3VisionSpec, makeVisionSpec,
  makeVisionTextSpec, testImage,
} from '../gguf/vision-models.js';
import { f16Value, watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_GEN = 4;

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** The largest difference over the reference's ten best logits. */
function top10Diff(got: Float32Array, want: Float32Array): number {
  const ids = Array.from(want.keys()).sort((x, y) => want[y] - want[x] || x - y).slice(0, 10);
  return Math.max(...ids.map((id) => Math.abs(got[id] - want[id])));
}

interface Family {
  name: string;
  text: Uint8Array;
  projector: Uint8Array;
  /** As test/gpu/arch-split.test.ts's for the same text architecture. */
  tol: number;
  /** The largest difference of a cached K or V value from the CPU's. */
  kvTol: number;
  bidirectional: boolean;
}

const families: Family[] = [
  {
    name: 'idefics3 (llama)', text: buildVisionTextModel(makeVisionTextSpec()).toBytes(),
    projector: buildVisionProjector(makeVisionSpec()).toBytes(), tol: 1e-3, kvTol: 1e-3, bidirectional: false,
  },
  {
    name: 'gemma3', text: buildGemma3TextModel(makeGemma3TextSpec()).toBytes(),
    projector: buildVisionProjector(makeGemma3VisionSpec()).toBytes(), tol: 2e-2, kvTol: 1e-2, bidirectional: true,
  },
];

/** What one model does with an image prompt, on one split. */
interface Run {
  nLayer: number;
  /** Logits after the image prompt, then after each greedy token, then after the follow-up. */
  logits: Float32Array[];
  tokens: number[];
  /** The follow-up's prefill: cells reused and evaluated, and the cells cached before it. */
  reused: number;
  evaluated: number;
  cachedBefore: number;
  /** After the overflow shift: the cells evicted, then the logits and the cache. */
  evicted: number;
  shiftedLogits: Float32Array;
  shiftedKv: KvState;
}

describe('vision: image rows through offloaded blocks (Dawn in Node)', () => {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];

  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 2 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(() => {
    engine?.dispose();
    gpu?.device.destroy();
  });

  /** On k offloaded blocks: an image prompt, greedy tokens after it, a
   *  follow-up question about the same image; then a prompt in a context
   *  that overflows, until the shift evicts its image. */
  async function run(f: Family, k: number): Promise<Run> {
    const model = await loadModelFromSource(engine, bytesSource(f.text), { gpuLayers: k, gpu });
    const projector = Projector.load(engine, f.projector);
    try {
      assert.equal(model.loadReport?.gpuLayers ?? 0, k);
      assert.equal(projector.bidirectional, f.bidirectional);
      const opts = { temperature: 0, seed: 0 };
      const p = prepareRequest(model, { prompt: 'Look at this picture:<__media__> What is it?', images: [testImage(40, 96, 1)], ...opts }, projector);
      const s = new Sequence(Session.create(model, { nCtx: 256 }));
      const out = { nLayer: model.info.nLayer, logits: [] as Float32Array[], tokens: [] as number[] } as Run;
      try {
        let logits = await (await s.prefill(p.promptIds, { images: p.images })).logits.all();
        for (let i = 0; i < N_GEN; i++) {
          out.logits.push(logits);
          out.tokens.push(argmax(logits));
          logits = await (await s.append([out.tokens[i]])).all();
        }
        out.cachedBefore = s.tokens.length;
        const follow = [...s.tokens, ...model.tokenize(' And its colour?', { addSpecial: false })];
        const r = await s.prefill(follow, { images: p.images });
        Object.assign(out, { reused: r.reused, evaluated: r.evaluated });
        out.logits.push(await r.logits.all());
      } finally {
        s.session.free();
      }

      // The default shift evicts half of what follows the BOS: a cut inside the image, which goes whole.
      const q = prepareRequest(model, { prompt: 'Look at this picture:<__media__> then tell me a long story about it', images: [testImage(5, 3, 2)], ...opts }, projector);
      const nCtx = q.promptIds.length + 6;
      const events: ShiftEvent[] = [];
      const t = new Sequence(Session.create(model, { nCtx }), { onShift: (e) => events.push(e) });
      try {
        await t.prefill(q.promptIds, { images: q.images });
        for (let i = 0; events.length === 0; i++) out.shiftedLogits = await (await t.append([3 + i])).all();
        assert.equal(events.length, 1);
        const span = [...q.images!.values()][0];
        out.evicted = events[0].evicted;
        assert.equal(out.evicted, q.promptIds.lastIndexOf(span.id) + span.trail, `k=${k}: the image and its markers are evicted`);
        assert.ok(t.tokens.every((id) => id >= 0));
        out.shiftedKv = await t.session.saveState();
      } finally {
        t.session.free();
      }
      return out;
    } finally {
      projector.free();
      model.free();
    }
  }

  for (const f of families) {
    test(`${f.name}: at a partial split and all blocks offloaded, the logits and greedy tokens after an image are the CPU's, a follow-up reuses the cached image, a shift that evicts it leaves the CPU's cache`, async () => {
      const cpu = await run(f, 0);
      assert.equal(cpu.reused, cpu.cachedBefore);
      for (const k of [Math.floor(cpu.nLayer / 2), cpu.nLayer]) {
        const split = await run(f, k);
        assert.deepEqual(split.tokens, cpu.tokens, `k=${k}: greedy tokens`);
        const diff = Math.max(...split.logits.map((l, i) => top10Diff(l, cpu.logits[i])));
        // The follow-up evaluates its new tokens only: the image stays cached on both sides.
        assert.equal(split.reused, split.cachedBefore, `k=${k}: the cached prefix is reused`);
        assert.equal(split.evaluated, cpu.evaluated);
        // After the shift: the CPU's logits, and both halves of the cache
        // hold the CPU's K/V rows (f16) at the same cells.
        assert.equal(split.evicted, cpu.evicted);
        const shiftDiff = top10Diff(split.shiftedLogits, cpu.shiftedLogits);
        assert.equal(argmax(split.shiftedLogits), argmax(cpu.shiftedLogits));
        assert.deepEqual(split.shiftedKv.positions, cpu.shiftedKv.positions);
        assert.equal(split.shiftedKv.layers.length, cpu.shiftedKv.layers.length);
        let kvDiff = 0;
        split.shiftedKv.layers.forEach((l, i) => {
          for (const kv of ['k', 'v'] as const) {
            const want = cpu.shiftedKv.layers[i][kv];
            assert.equal(l[kv].length, want.length);
            for (let j = 0; j < want.length; j++) kvDiff = Math.max(kvDiff, Math.abs(f16Value(l[kv][j]) - f16Value(want[j])));
          }
        });
        console.log(`  ${f.name} k=${k}/${cpu.nLayer}: top-10 logit diff ${diff.toExponential(2)}, after the shift ${shiftDiff.toExponential(2)}, K/V ${kvDiff.toExponential(2)}`);
        assert.ok(diff <= f.tol, `k=${k}: top-10 logits differ by ${diff} (limit ${f.tol})`);
        assert.ok(shiftDiff <= f.tol, `k=${k}: logits after the shift differ by ${shiftDiff} (limit ${f.tol})`);
        assert.ok(kvDiff <= f.kvTol, `k=${k}: cached K/V differ by ${kvDiff} (limit ${f.kvTol})`);
      }
      await gpu.device.queue.onSubmittedWorkDone();
      assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
    });
  }
});
