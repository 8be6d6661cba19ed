// Saved sessions with GPU layers, in Node (Dawn on SwiftShader): for every
// architecture, a session saved with every block on the GPU restores into
// the same split with the very next-token logits, and into other splits
// (all in wasm, one block on the GPU) with those logits within the tolerance
// the split itself has (test/gpu/arch-split.test.ts); a session saved in
// wasm restores onto the GPU the same way, also after several shifts. The
// cells move to wherever their layer runs. No WebGPU error, no adapter is a
// failure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import type { Model } from '../../src/core/model.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { Sequence, type SequenceState } from '../../src/runtime/sequence.js';
import { ARCHS, makeArchSpec, writeArchModel, type ArchName } from '../gguf/arch-models.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_CTX = 32;
// As in arch-split.test.ts: what is left between the splits is f32
// summation order, which the Gemmas' post-norms and soft-caps magnify.
const TOLERANCE: Record<ArchName, number> = { llama: 1e-3, qwen2: 1e-3, qwen3: 1e-3, phi3: 1e-3, gemma2: 2e-2, gemma3: 2e-2 };

const ids = (first: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

function top10Diff(a: Float32Array, b: Float32Array): number {
  const top = Array.from(b.keys()).sort((x, y) => b[y] - b[x] || x - y).slice(0, 10);
  return Math.max(...top.map((i) => Math.abs(a[i] - b[i])));
}

describe('saved sessions move between the CPU and the GPU (Dawn in Node)', () => {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];
  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 1 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(() => {
    engine?.dispose();
    gpu?.device.destroy();
  });

  /** A conversation on split k: a prompt, a reply, shifts when asked. */
  async function converse(model: Model, shifts: number): Promise<Sequence> {
    let seen = 0;
    const seq = new Sequence(Session.create(model, { nCtx: N_CTX }), { contextShift: { nKeep: 1, nDiscard: 7 }, onShift: () => seen++ });
    await seq.prefill([1, ...ids(5, shifts ? 28 : 12)]);
    for (let i = 0; i < 3 || seen < shifts; i++) await seq.append(ids(60 + i, 1));
    return seq;
  }

  /** The next token's logits after restoring `state` into split k. */
  async function nextAfterRestore(model: Model, state: SequenceState, next: number[]): Promise<Float32Array> {
    const seq = new Sequence(Session.create(model, { nCtx: N_CTX }));
    try {
      await seq.restore(state);
      assert.deepEqual(seq.tokens, Array.from(state.tokens));
      await seq.append(next);
      return seq.session.logits();
    } finally {
      seq.session.free();
    }
  }

  test('every architecture: saved on one split, restored on each, next-token logits as the saved session', async () => {
    const failures: string[] = [];
    for (const arch of ARCHS) {
      const t0 = performance.now();
      const bytes = writeArchModel(makeArchSpec(arch));
      const nLayer = makeArchSpec(arch).nLayer;
      // Every split for llama; wasm and all-GPU (the head moving too) for the others.
      const splits = arch === 'llama' ? [0, 1, nLayer] : [0, nLayer];
      const models = new Map<number, Model>();
      for (const k of splits) models.set(k, await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu }));
      try {
        const saves: [number, number][] = arch === 'llama' ? [[nLayer, 0], [0, 3], [1, 1]] : [[nLayer, 0], [0, 3]];
        for (const [from, shifts] of saves) {
          const seq = await converse(models.get(from)!, shifts);
          const state = await seq.save();
          assert.equal(state.kv.gpuLayers, from);
          const next = ids(300, 2);
          await seq.append(next);
          const want = seq.session.logits();
          seq.session.free();
          for (const [to, model] of models) {
            const got = await nextAfterRestore(model, state, next);
            const diff = top10Diff(got, want);
            const name = `${arch}: saved with ${from} GPU blocks${shifts ? ` after ${shifts} shifts` : ''}, restored with ${to}`;
            // The same split computes the same way: the very same logits.
            if (to === from && diff !== 0) failures.push(`${name}: top-10 logits differ by ${diff}, expected none`);
            if (!(diff <= TOLERANCE[arch])) failures.push(`${name}: top-10 logits differ by ${diff} (limit ${TOLERANCE[arch]})`);
          }
        }
      } finally {
        for (const m of models.values()) m.free();
      }
      console.log(`  ${arch}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    assert.deepEqual(failures, []);
    await gpu.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });
});
