// Test page: the context-shift scenario in the browser's WebGPU (SwiftShader
// in headless Chromium): a greedy generation through a small window shifted
// again and again, with every block in wasm, some on the GPU or all of them,
// for test/browser/shift.test.ts. Reports the tokens, the shifts, whether
// any GPU buffer was created or replaced, and every uncaptured WebGPU error.
import type { ShiftEvent } from '../../../src/shared/types.js';
import { Session } from '../../../src/core/session.js';
import { Engine } from '../../../src/core/wasm-engine.js';
import type { GpuRunner } from '../../../src/gpu/runner.js';
import { loadModelFromSource } from '../../../src/runtime/load.js';
import { Sequence } from '../../../src/runtime/sequence.js';
import { bytesSource } from '../../../src/format/source.js';
import { requestGpu } from '../../../src/gpu/device.js';
import { makeSpec, writeRandomLlama } from '../../gguf/random-model.js';
import { watchUncaptured } from '../../gpu/harness.js';

export interface ShiftRun {
  k: number;
  tokens: number[];
  events: ShiftEvent[];
  created: number;
  buffersKept: boolean;
  uncaptured: string[];
  ms: number;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

const api = {
  async run(opts: { nCtx: number; nShifts: number; discards: number[]; ks: number[] }): Promise<{ adapter: string; runs: ShiftRun[] }> {
    const [engine, gpu] = await Promise.all([Engine.create({ threads: 1, variant: 'st' }), requestGpu()]);
    const uncaptured = watchUncaptured(gpu.device);
    const bytes = writeRandomLlama(makeSpec('tiny', { weightType: 'f32', seed: 11, nEmbd: 32, nHead: 2, nHeadKv: 1, nFf: 64, nLayer: 2 }));
    const device = gpu.device;
    const runs: ShiftRun[] = [];
    try {
      for (const k of opts.ks) {
        const t0 = performance.now();
        const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
        const events: ShiftEvent[] = [];
        const shift = { nKeep: 1, nDiscard: opts.discards[0] };
        const seq = new Sequence(Session.create(model, { nCtx: opts.nCtx }), { contextShift: shift, onShift: (e) => events.push(e) });
        const runner = seq.session.offload as GpuRunner | undefined;
        const before = runner ? [...runner.buffers] : [];
        let created = 0;
        const createBuffer = device.createBuffer.bind(device);
        device.createBuffer = (d: GPUBufferDescriptor) => {
          created++;
          return createBuffer(d);
        };
        const tokens: number[] = [];
        try {
          await seq.prefill([1, ...Array.from({ length: opts.nCtx - 41 }, (_, i) => 3 + ((i * 37 + 5) % 500))]);
          let shifts = 0;
          while (shifts < opts.nShifts) {
            const next = argmax(seq.session.logits());
            tokens.push(next);
            if (seq.session.nPast === opts.nCtx) shift.nDiscard = opts.discards[shifts++ % opts.discards.length];
            await seq.append([next]);
          }
        } finally {
          device.createBuffer = createBuffer;
        }
        const buffersKept = !runner || (runner.buffers.length === before.length && runner.buffers.every((b, i) => b === before[i]));
        seq.session.free();
        model.free();
        await device.queue.onSubmittedWorkDone();
        runs.push({ k, tokens, events, created, buffersKept, uncaptured: uncaptured.splice(0), ms: performance.now() - t0 });
      }
      return { adapter: gpu.caps.adapterName, runs };
    } finally {
      engine.dispose();
      device.destroy();
    }
  },
};

(window as unknown as { shift: typeof api }).shift = api;
document.title = 'ready';
