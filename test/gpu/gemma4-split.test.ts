// Gemma 4 on the GPU, in Node (Dawn on SwiftShader): sliding blocks with
// narrower heads and other KV head counts than the full ones, proportional
// RoPE on the full blocks only, V normed without a weight (K's projection
// where attn_v is absent), per-layer inputs handed over from the CPU,
// blocks attending over an earlier block's cache, and layer_output_scale.
// Every block offloaded and a CPU/GPU split must give the greedy tokens of
// the CPU with the top-10 logits close, also through context shifts; a
// session saved on one side restores on the other (caches of different
// widths). A split that would leave a shared cache on the CPU is refused.
// No adapter is a failure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { makeGemma4Spec, writeGemma4Model, type Gemma4Spec, type Gemma4Variant } from '../gguf/gemma4-models.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_GEN = 16;
const N_CTX = 96;
const prompts = [
  [2, 15, 300, 42, 7, 99, 250, 3],
  Array.from({ length: 30 }, (_, i) => 1 + ((i * 37 + 11) % 500)),
];

// As Gemma 2/3 in arch-split.test.ts: the post-norms and the soft-cap
// magnify f32 summation order; Q8_0 activations may round the other way.
const TOLERANCE = { f32: 2e-2, q8_0: 0.1 };

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function top10(a: Float32Array): number[] {
  return Array.from(a.keys()).sort((x, y) => a[y] - a[x] || x - y).slice(0, 10);
}

interface Run {
  tokens: number[];
  logits: Float32Array[];
}

describe('Gemma 4 offloads with the tokens of the CPU (Dawn in Node)', () => {
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

  /** Greedy generation; with `shifts`, the context is shifted whenever full. */
  async function greedy(bytes: Uint8Array, k: number, opts: { nCtx?: number; shifts?: number } = {}): Promise<Run[]> {
    const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
    try {
      assert.equal(model.loadReport?.gpuLayers ?? 0, k);
      const runs: Run[] = [];
      for (const prompt of opts.shifts ? [prompts[0]] : prompts) {
        const session = Session.create(model, { nCtx: opts.nCtx ?? N_CTX });
        try {
          const run: Run = { tokens: [], logits: [] };
          await session.eval(prompt);
          let shifts = 0;
          for (let i = 0; opts.shifts ? shifts < opts.shifts : i < N_GEN; i++) {
            const logits = session.logits();
            const next = argmax(logits);
            run.tokens.push(next);
            run.logits.push(logits);
            if (opts.shifts && session.nPast + 1 > session.nCtx) {
              session.shift(2, [9, 5, 13][shifts % 3]);
              shifts++;
            }
            await session.eval([next]);
          }
          runs.push(run);
        } finally {
          session.free();
        }
      }
      return runs;
    } finally {
      model.free();
    }
  }

  function compare(name: string, cpu: Run[], split: Run[], tol: number, failures: string[]): void {
    let maxDiff = 0;
    let agree = 0;
    let total = 0;
    split.forEach((run, p) => {
      const want = cpu[p];
      assert.equal(run.tokens.length, want.tokens.length);
      for (let i = 0; i < want.tokens.length; i++) {
        total++;
        if (run.tokens[i] === want.tokens[i]) agree++;
        for (const id of top10(want.logits[i])) maxDiff = Math.max(maxDiff, Math.abs(run.logits[i][id] - want.logits[i][id]));
      }
    });
    console.log(`  ${name}: ${agree}/${total} tokens agree, max top-10 logit diff ${maxDiff.toExponential(2)}`);
    if (agree !== total) failures.push(`${name}: ${total - agree} of ${total} tokens differ from the CPU`);
    if (!(maxDiff <= tol)) failures.push(`${name}: top-10 logits differ by ${maxDiff} (limit ${tol})`);
  }

  // e2b: blocks 4 and 5 read blocks 2 and 3's caches, so a split offloads
  // 4 blocks or more; dense: any split.
  const cases: { name: string; variant: Gemma4Variant; splits: number[]; spec?: Partial<Gemma4Spec>; tol: number }[] = [
    { name: 'e2b', variant: 'e2b', splits: [4, 6], tol: TOLERANCE.f32 },
    { name: 'dense', variant: 'dense', splits: [1, 3, 6], tol: TOLERANCE.f32 },
    { name: 'e2b q8_0', variant: 'e2b', splits: [6], spec: { weightType: 'q8_0' }, tol: TOLERANCE.q8_0 },
  ];

  test('a split and every block give the greedy tokens of the CPU', async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const bytes = writeGemma4Model(makeGemma4Spec(c.variant, c.spec));
      const cpu = await greedy(bytes, 0);
      for (const k of c.splits) compare(`${c.name} k=${k}/6`, cpu, await greedy(bytes, k), c.tol, failures);
    }
    assert.deepEqual(failures, []);
    await gpu.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('context shifts re-rotate each block kind with its own RoPE on the GPU', async () => {
    const failures: string[] = [];
    for (const [variant, k] of [['e2b', 6], ['e2b', 4], ['dense', 6]] as const) {
      const bytes = writeGemma4Model(makeGemma4Spec(variant));
      const cpu = await greedy(bytes, 0, { nCtx: 32, shifts: 5 });
      assert.ok(cpu[0].tokens.length > 50, `${variant}: only ${cpu[0].tokens.length} tokens`);
      compare(`${variant} shifts k=${k}/6`, cpu, await greedy(bytes, k, { nCtx: 32, shifts: 5 }), TOLERANCE.f32, failures);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('a session saved on the CPU restores onto the GPU and back (caches of different widths)', async () => {
    const bytes = writeGemma4Model(makeGemma4Spec('e2b'));
    const cpuModel = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 0 });
    const gpuModel = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 6, gpu });
    const sessions = [Session.create(cpuModel, { nCtx: 48 }), Session.create(gpuModel, { nCtx: 48 })];
    try {
      const [cpu, dev] = sessions;
      await cpu.eval(prompts[1]);
      await dev.restoreState(await cpu.saveState());
      await cpu.eval([77]);
      await dev.eval([77]);
      assert.equal(argmax(dev.logits()), argmax(cpu.logits()));
      // Back: the GPU's rows (narrow sliding ones widened) restore on the CPU.
      const back = Session.create(cpuModel, { nCtx: 48 });
      sessions.push(back);
      await back.restoreState(await dev.saveState());
      await back.eval([5]);
      await cpu.eval([5]);
      assert.deepEqual(back.logits(), cpu.logits());
    } finally {
      for (const s of sessions) s.free();
      cpuModel.free();
      gpuModel.free();
    }
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('a split leaving a shared cache on the CPU is refused, naming the blocks', async () => {
    const bytes = writeGemma4Model(makeGemma4Spec('e2b'));
    await assert.rejects(loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 2, gpu }), (e: unknown) =>
      (e as { code?: string }).code === 'model/unsupported-architecture' && /block 4 on the GPU would attend over the cache of block 2 on the CPU: offload at least 4 blocks, or none/.test(String(e)));
  });
});
