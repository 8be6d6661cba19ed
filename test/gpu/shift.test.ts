// The crash scenario behind Hob, in Node (Dawn on SwiftShader): a context of
// 2,048 tokens filled by a long greedy generation, then shifted again and
// again (sizes 49, 7, 1, 13, ... as a chat front end's log shows them) while
// the generation goes on, with every block in wasm, half of them on the GPU
// and all of them on the GPU. No error, no WebGPU error, the same greedy
// tokens on all three splits, and the same GPU buffer objects before and
// after (identity and count; no buffer created meanwhile).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { ShiftEvent } from '../../src/shared/types.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import type { GpuRunner } from '../../src/gpu/runner.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { runShiftMachine } from '../unit/shift-machine.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const N_CTX = 2048;
const N_KEEP = 1;
// Evicted per shift, in turn: odd sizes first (49 is the log line's).
// Small ones keep the number of tokens generated between shifts, and so
// the run time on SwiftShader, low.
const DISCARDS = [49, 7, 1, 13, 3, 2, 1, 5, 11, 1];
// Every size of DISCARDS once and the first two again (a shift sized like
// an earlier one, on cells moved before).
const N_SHIFTS = 12;
// Generated before the window is full.
const N_FILL = 40;
// Two blocks of a 32-wide model (2 heads of 16, f32): the shape of the tiny
// preset at a quarter of the attention work, which is what a 2,048-token
// window costs on SwiftShader (measured: about 100 ms a token and 25 s a
// 1,000 tokens of prompt for the all-GPU split on a busy 2-core machine).
const SHAPE = { weightType: 'f32', seed: 11, nEmbd: 32, nHead: 2, nHeadKv: 1, nFf: 64, nLayer: 2 } as const;

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

describe('a 2,048-token context shifted 12 times during generation, on CPU, split and all-GPU', () => {
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

  test('same greedy tokens on k = 0, 1 and 2 (of 2), the same GPU buffers, no WebGPU error', async () => {
    // Well conditioned (f32, small weights): rounding differences between
    // the CPU and GPU kernels do not grow into different tokens.
    const bytes = writeRandomLlama(makeSpec('tiny', SHAPE));
    const device = gpu.device;
    const runs: { k: number; tokens: number[]; events: ShiftEvent[] }[] = [];
    for (const k of [0, 1, 2]) {
      const t0 = performance.now();
      const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
      const events: ShiftEvent[] = [];
      const shiftOptions = { nKeep: N_KEEP, nDiscard: DISCARDS[0] };
      const seq = new Sequence(Session.create(model, { nCtx: N_CTX }), { contextShift: shiftOptions, onShift: (e) => events.push(e) });
      const runner = seq.session.offload as GpuRunner | undefined;
      assert.equal(!!runner, k > 0);
      const buffersBefore = runner ? [...runner.buffers] : [];
      const cacheBefore = runner ? [...runner.cacheBuffers] : [];
      let created = 0;
      const createBuffer = device.createBuffer.bind(device);
      device.createBuffer = (d: GPUBufferDescriptor) => {
        created++;
        return createBuffer(d);
      };
      const tokens: number[] = [];
      try {
        // Fill most of the window with a prompt, then generate: the rest
        // fills up and every further token needs a shift first.
        await seq.prefill([1, ...Array.from({ length: N_CTX - N_FILL - 1 }, (_, i) => 3 + ((i * 37 + 5) % 500))]);
        let shifts = 0;
        while (shifts < N_SHIFTS) {
          const next = argmax(seq.session.logits());
          tokens.push(next);
          if (seq.session.nPast === N_CTX) {
            // Sizes that vary from shift to shift, through the options the
            // overflow shift reads.
            shiftOptions.nDiscard = DISCARDS[shifts % DISCARDS.length];
            shifts++;
          }
          await seq.append([next]);
        }
      } finally {
        device.createBuffer = createBuffer;
      }
      assert.equal(created, 0, `k=${k}: ${created} GPU buffers were created during generation and shifts`);
      if (runner) {
        assert.equal(runner.buffers.length, buffersBefore.length, `k=${k}: the runner's buffer count changed`);
        runner.buffers.forEach((b, i) => assert.equal(b, buffersBefore[i], `k=${k}: buffer ${i} (${b.label}) was replaced`));
        assert.equal(runner.cacheBuffers.length, 2 * k);
        runner.cacheBuffers.forEach((b, i) => assert.equal(b, cacheBefore[i], `k=${k}: cache buffer ${i} was replaced`));
      }
      assert.deepEqual(seq.session.positions(), Int32Array.from({ length: seq.session.nPast }, (_, i) => i));
      assert.equal(seq.tokens.length, seq.session.nPast);
      seq.session.free();
      model.free();
      await device.queue.onSubmittedWorkDone();
      assert.deepEqual(uncaptured.splice(0), [], `k=${k}: uncaptured WebGPU errors`);
      console.log(`  k=${k}: ${tokens.length} tokens, ${events.length} shifts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      runs.push({ k, tokens, events });
    }
    const [cpu, ...gpuRuns] = runs;
    assert.equal(cpu.events.length, N_SHIFTS);
    assert.deepEqual(cpu.events.slice(0, 4), [
      { kind: 'overflow', position: 1, evicted: 49, nPast: N_CTX - 49 },
      { kind: 'overflow', position: 1, evicted: 7, nPast: N_CTX - 7 },
      { kind: 'overflow', position: 1, evicted: 1, nPast: N_CTX - 1 },
      { kind: 'overflow', position: 1, evicted: 13, nPast: N_CTX - 13 },
    ]);
    for (const r of gpuRuns) {
      assert.deepEqual(r.events, cpu.events, `k=${r.k}: the shifts differ from k = 0`);
      const firstDiff = r.tokens.findIndex((t, i) => t !== cpu.tokens[i]);
      assert.equal(firstDiff, -1, `k=${r.k}: token ${firstDiff} differs from k = 0`);
      assert.equal(r.tokens.length, cpu.tokens.length);
    }
  });

  test('the randomized shift state machine on an all-GPU model agrees with the CPU-only engine at every step', async (t) => {
    // Position-sensitive weights (a key left unrotated on the GPU would
    // show); the mirror and the fresh evaluations run on a CPU-only load.
    const bytes = writeRandomLlama(makeSpec('tiny', { weightType: 'f32', std: 0.15, seed: 3 }));
    const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 4, gpu });
    const reference = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 0 });
    try {
      assert.equal(model.loadReport?.gpuLayers, 4);
      const r = await runShiftMachine({ model, reference, seed: 7, steps: 30, nCtx: 64, contextShift: { nKeep: 2 }, tolerance: 1e-2, freshTolerance: 1e-2 });
      t.diagnostic(JSON.stringify(r));
      assert.ok(r.shifts.overflow >= 3 && r.shifts['prompt-edit'] >= 1, JSON.stringify(r.shifts));
    } finally {
      model.free();
      reference.free();
    }
    await gpu.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });

  test('bad ranges on a split session are typed errors with the numbers, before either side changes', async () => {
    const bytes = writeRandomLlama(makeSpec('tiny', { weightType: 'f32', std: 0.15, seed: 3 }));
    const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 2, gpu });
    const s = Session.create(model, { nCtx: 64 });
    try {
      const prompt = [1, ...Array.from({ length: 29 }, (_, i) => 3 + ((i * 37 + 5) % 500))];
      await s.eval(prompt);
      const before = s.logits();
      const isRange = (re: RegExp) => (e: unknown) => (e as { code?: string }).code === 'range/out-of-bounds' && re.test((e as Error).message);
      assert.throws(() => s.erase(12, 4), isRange(/\[12, 4\)/));
      assert.throws(() => s.erase(3, 31), isRange(/within the 30 tokens/));
      assert.throws(() => s.shift(4, -3), isRange(/keep 4 and discard -3 of 30/));
      assert.throws(() => s.truncate(31), isRange(/keep 31 tokens/));
      // The runner's own check, as a caller bypassing the session would meet it.
      assert.throws(() => s.offload!.erase(5, 3, 1), isRange(/cells \[3, 4\) to 5/));
      assert.throws(() => s.offload!.erase(0, 60, 10), isRange(/cache of 64 cells/));
      assert.equal(s.nPast, 30);
      assert.deepEqual(s.logits(), before);
      // Still usable: the same shift as a fresh CPU session gives the same logits.
      s.shift(1, 13);
      await s.eval([42]);
      const cpuModel = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 0 });
      const c = Session.create(cpuModel, { nCtx: 64 });
      await c.eval(prompt);
      c.shift(1, 13);
      await c.eval([42]);
      const a = s.logits();
      const b = c.logits();
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      assert.ok(d < 2e-3, `split and CPU differ by ${d} after the shift`);
      c.free();
      cpuModel.free();
    } finally {
      s.free();
      model.free();
    }
    await gpu.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
  });
});
