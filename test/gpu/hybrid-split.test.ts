// The hybrid architectures on the GPU, in Node (Dawn on SwiftShader): LFM2's
// gated short convolutions and Qwen 3.5's Gated DeltaNet blocks and gated
// attention. Each split k must give the greedy tokens of k = 0 (all in
// wasm) with the top-10 logits close, also through overflow shifts (LFM2's
// in place, keeping its convolution state; Qwen 3.5's back to a checkpoint
// and evaluated again, which restores the state on both sides). No adapter
// is a failure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import type { ShiftEvent } from '../../src/shared/types.js';
import { makeHybridSpec, writeHybridModel, type HybridArch } from '../gguf/hybrid-models.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_GEN = 16;
const PROMPT = Array.from({ length: 30 }, (_, i) => 1 + ((i * 37 + 11) % 500));
// The kernels round where the CPU rounds; what is left is f32 summation order.
const TOLERANCE = 1e-3;

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
  shifts: ShiftEvent[];
}

describe('hybrid architectures offload with the tokens of the CPU (Dawn in Node)', () => {
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

  /** Greedy generation through a Sequence of nCtx cells (shifting when full). */
  async function greedy(bytes: Uint8Array, k: number, nCtx: number, nGen: number): Promise<Run & { nLayer: number }> {
    const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
    try {
      assert.equal(model.loadReport?.gpuLayers, Math.min(k, model.info.nLayer));
      const session = Session.create(model, { nCtx });
      const run: Run = { tokens: [], logits: [], shifts: [] };
      try {
        const seq = new Sequence(session, { contextShift: { nKeep: 4, nDiscard: 12 }, onShift: (e) => run.shifts.push(e) });
        let logits = await (await seq.prefill(PROMPT)).logits.all();
        for (let i = 0; i < nGen; i++) {
          const next = argmax(logits);
          run.tokens.push(next);
          run.logits.push(logits);
          logits = await (await seq.append([next])).all();
        }
      } finally {
        session.free();
      }
      return { ...run, nLayer: model.info.nLayer };
    } finally {
      model.free();
    }
  }

  function compare(name: string, cpu: Run, split: Run, failures: string[]): void {
    let maxDiff = 0;
    let agree = 0;
    assert.equal(split.tokens.length, cpu.tokens.length);
    for (let i = 0; i < cpu.tokens.length; i++) {
      if (split.tokens[i] === cpu.tokens[i]) agree++;
      for (const id of top10(cpu.logits[i])) maxDiff = Math.max(maxDiff, Math.abs(split.logits[i][id] - cpu.logits[i][id]));
    }
    console.log(`  ${name}: ${agree}/${cpu.tokens.length} tokens agree, max top-10 logit diff ${maxDiff.toExponential(2)}, ${split.shifts.length} shifts`);
    if (agree !== cpu.tokens.length) failures.push(`${name}: ${cpu.tokens.length - agree} of ${cpu.tokens.length} tokens differ from k = 0`);
    if (!(maxDiff <= TOLERANCE)) failures.push(`${name}: top-10 logits differ by ${maxDiff} (limit ${TOLERANCE})`);
    assert.deepEqual(split.shifts, cpu.shifts, `${name}: shifts`);
  }

  const ARCHS: HybridArch[] = ['lfm2', 'qwen35'];
  for (const arch of ARCHS) {
    test(`${arch}: k in {1, all} gives the greedy tokens of k = 0, through overflow shifts`, async () => {
      const failures: string[] = [];
      const bytes = writeHybridModel(makeHybridSpec(arch));
      // 30 prompt tokens in 40 cells: the generation overflows twice.
      const cpu = await greedy(bytes, 0, 40, N_GEN + 8);
      assert.ok(cpu.shifts.length >= 2, `${arch}: ${cpu.shifts.length} shifts`);
      // Qwen 3.5 goes back to a checkpoint for every shift; LFM2 shifts in place.
      assert.equal(cpu.shifts.every((e) => e.reevaluated !== undefined), arch === 'qwen35');
      for (const k of [1, cpu.nLayer]) compare(`${arch} k=${k}/${cpu.nLayer}`, cpu, await greedy(bytes, k, 40, N_GEN + 8), failures);
      assert.deepEqual(failures, []);
      await gpu.device.queue.onSubmittedWorkDone();
      assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
    });
  }
});
