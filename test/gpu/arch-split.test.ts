// Every architecture on the GPU, in Node (Dawn on SwiftShader): Qwen 2's
// biases, Qwen 3's Q/K norms, Phi 3's fused projections, Gemma 2's post-norms,
// GeGLU, soft-caps and sliding windows, Gemma 3's Q/K norms and per-layer
// RoPE bases, SmolLM3's NoPE layers, Granite's multipliers, OLMo 2's missing
// pre-norms and whole-row Q/K norms, Phi-3.5's LongRoPE and Llama 3's
// frequency factors. Each split k must give the greedy tokens of k = 0 (all
// in wasm) with the top-10 logits close, also through context shifts that
// re-rotate keys with the layer's own RoPE (or leave a NoPE layer's alone).
// No adapter is a failure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { makeArchSpec, writeArchModel, type ArchName, type ArchSpec } from '../gguf/arch-models.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_GEN = 16;
const N_CTX = 96;
const prompts = [
  [1, 15, 300, 42, 7, 99, 250, 3],
  Array.from({ length: 30 }, (_, i) => 1 + ((i * 37 + 11) % 500)),
];

// The kernels round where the CPU rounds; what is left is f32 summation
// order, which the Gemmas' large post-norms and soft-caps magnify (as in
// test/oracle/arch-generation.test.ts against llama.cpp). OLMo 2's
// post-norms do the same (measured with every block offloaded 2.0e-3 on
// F32 and 0.14 on Q8_0, where an activation rounding that lands the other
// way is magnified alike; with one block 3e-6 and 0).
const TOLERANCE: Record<string, number> = {
  qwen2: 1e-3, qwen3: 1e-3, phi3: 1e-3, gemma2: 2e-2, gemma3: 2e-2, 'qwen2 q8_0': 5e-2,
  smollm3: 1e-3, granite: 1e-3, olmo2: 1e-2, 'phi3 longrope': 1e-3, 'llama3 rope': 1e-3, 'granite q8_0': 5e-2, 'olmo2 q8_0': 0.25,
};

// LongRoPE with an original context below the sessions' (long factors).
const LONG_ROPE: Partial<ArchSpec> = { longRope: { originalContext: 24, attnFactor: 1.19, shortStep: 0.05, longStep: 0.6 } };
const LLAMA3_ROPE: Partial<ArchSpec> = { ropeFreqBase: 500000, llama3Rope: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } };

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

describe('every architecture offloads with the tokens of the CPU (Dawn in Node)', () => {
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
  async function greedy(bytes: Uint8Array, k: number, opts: { nCtx?: number; shifts?: number } = {}): Promise<{ runs: Run[]; nLayer: number }> {
    const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
    try {
      assert.equal(model.loadReport?.gpuLayers, Math.min(k, model.info.nLayer));
      const runs: Run[] = [];
      for (const prompt of opts.shifts ? [prompts[0]] : prompts) {
        const session: Session = Session.create(model, { nCtx: opts.nCtx ?? N_CTX });
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
      return { runs, nLayer: model.info.nLayer };
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
    if (agree !== total) failures.push(`${name}: ${total - agree} of ${total} tokens differ from k = 0`);
    if (!(maxDiff <= tol)) failures.push(`${name}: top-10 logits differ by ${maxDiff} (limit ${tol})`);
  }

  test('k in {1, all} gives the greedy tokens of k = 0 for every architecture', async () => {
    const failures: string[] = [];
    const cases: { name: string; arch: ArchName; spec?: Partial<ArchSpec> }[] = [
      { name: 'qwen2', arch: 'qwen2' },
      { name: 'qwen3', arch: 'qwen3' },
      { name: 'phi3', arch: 'phi3' },
      { name: 'gemma2', arch: 'gemma2' },
      { name: 'gemma3', arch: 'gemma3' },
      { name: 'qwen2 q8_0', arch: 'qwen2', spec: { weightType: 'q8_0' } },
      { name: 'smollm3', arch: 'smollm3' },
      { name: 'granite', arch: 'granite' },
      { name: 'olmo2', arch: 'olmo2' },
      { name: 'phi3 longrope', arch: 'phi3', spec: LONG_ROPE },
      { name: 'llama3 rope', arch: 'llama', spec: LLAMA3_ROPE },
      { name: 'granite q8_0', arch: 'granite', spec: { weightType: 'q8_0' } },
      { name: 'olmo2 q8_0', arch: 'olmo2', spec: { weightType: 'q8_0' } },
    ];
    for (const c of cases) {
      const bytes = writeArchModel(makeArchSpec(c.arch, c.spec));
      const cpu = await greedy(bytes, 0);
      for (const k of [1, cpu.nLayer]) {
        compare(`${c.name} k=${k}/${cpu.nLayer}`, cpu.runs, (await greedy(bytes, k)).runs, TOLERANCE[c.name], failures);
      }
    }
    assert.deepEqual(failures, []);
    await gpu.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('sliding-window layers with their own RoPE base survive context shifts on the GPU', async () => {
    const failures: string[] = [];
    for (const arch of ['gemma3', 'gemma2'] as const) {
      const bytes = writeArchModel(makeArchSpec(arch));
      const cpu = await greedy(bytes, 0, { nCtx: 32, shifts: 6 });
      assert.ok(cpu.runs[0].tokens.length > 60, `${arch}: only ${cpu.runs[0].tokens.length} tokens`);
      const all = await greedy(bytes, cpu.nLayer, { nCtx: 32, shifts: 6 });
      compare(`${arch} shifts k=${cpu.nLayer}`, cpu.runs, all.runs, TOLERANCE[arch], failures);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('NoPE layers, LongRoPE, Granite\'s multipliers and OLMo 2\'s norms survive context shifts on the GPU', async () => {
    const failures: string[] = [];
    const cases: { name: string; arch: ArchName; spec?: Partial<ArchSpec> }[] = [
      { name: 'smollm3', arch: 'smollm3' },
      { name: 'phi3 longrope', arch: 'phi3', spec: LONG_ROPE },
      { name: 'granite', arch: 'granite' },
      { name: 'olmo2', arch: 'olmo2' },
    ];
    for (const c of cases) {
      const bytes = writeArchModel(makeArchSpec(c.arch, { std: 0.1, ...c.spec }));
      const cpu = await greedy(bytes, 0, { nCtx: 32, shifts: 4 });
      assert.ok(cpu.runs[0].tokens.length > 40, `${c.name}: only ${cpu.runs[0].tokens.length} tokens`);
      const all = await greedy(bytes, cpu.nLayer, { nCtx: 32, shifts: 4 });
      compare(`${c.name} shifts k=${cpu.nLayer}`, cpu.runs, all.runs, TOLERANCE[c.name], failures);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });
});
