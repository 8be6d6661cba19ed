// Compute dispatches of one decode step with every block on the GPU (Dawn
// in Node): each dispatch is a full barrier on the GPU, so their number per
// block is what a decode step costs beyond its bytes. Counted by the runner
// (GpuRunner.dispatches encodes the recorded steps into a counting pass);
// a regression that adds a pass fails here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import type { GpuRunner } from '../../src/gpu/runner.js';
import { makeArchSpec, writeArchModel } from '../gguf/arch-models.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { requestNodeGpu } from './node-gpu.js';

// Per block and decode step, over a context of at most 128 cells (one slice):
//   Q8_0 activations (Q4_0): QKV (the norm and its quantization fused),
//     RoPE + cache store, attention + quantize, output projection,
//     gate + up (norm fused), SiLU·up + quantize, down              = 7
//   the same with heads of 16 (not whole Q8_0 blocks): attention's output
//     quantized by its own pass                                     = 8
//   f32 weights with Q/K/V biases (Qwen 2): norm, QKV, bias adds + RoPE +
//     store, attention, output, norm, gate + up, SiLU·up, down      = 9
//   Q8_K activations (Q4_K): norm, quantize, QKV, RoPE + store, attention,
//     quantize, output, norm, quantize, gate + up, SiLU·up, quantize, down = 13
// A longer context splits decode attention over slices of cells: 2 more
// (probabilities times V per slice, then the merge).
// The head (every block offloaded): its norm, a Q8_K quantize where the
// weights need one, and the matmul.
const cases = [
  { name: 'llama q4_0', bytes: () => writeRandomLlama(makeSpec('tiny', { weightType: 'q4_0', nHead: 2, nHeadKv: 1 })), perBlock: 7, head: 2 },
  { name: 'llama q4_0 (head_dim 16)', bytes: () => writeRandomLlama(makeSpec('tiny', { weightType: 'q4_0' })), perBlock: 8, head: 2 },
  { name: 'qwen2 f32 (biases)', bytes: () => writeArchModel(makeArchSpec('qwen2')), perBlock: 9, head: 2 },
  { name: 'llama q4_k', bytes: () => writeRandomLlama(makeSpec('tiny', { weightType: 'q4_k', nEmbd: 256, nFf: 512 })), perBlock: 13, head: 3 },
];
const SPLIT_ATTENTION = 2;

describe('dispatches of one decode step (Dawn in Node)', () => {
  let engine: Engine;
  let gpu: GpuContext;

  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 1 }), requestNodeGpu()]);
  });
  after(() => {
    engine?.dispose();
    gpu?.device.destroy();
  });

  for (const c of cases) {
    test(`${c.name}: ${c.perBlock} per block, ${c.head} for the head`, async () => {
      const model = await loadModelFromSource(engine, bytesSource(c.bytes()), { gpuLayers: Number.MAX_SAFE_INTEGER, gpu });
      try {
        const session = Session.create(model, { nCtx: 512 });
        try {
          const runner = session.offload as GpuRunner;
          const n = model.info.nLayer;
          assert.equal(runner.headOnDevice, true);
          assert.equal(runner.dispatchesPerToken, n * c.perBlock + c.head);
          assert.equal(runner.dispatches(1, 128), n * c.perBlock + c.head);
          assert.equal(runner.dispatches(1, 129), n * (c.perBlock + SPLIT_ATTENTION) + c.head);
        } finally {
          session.free();
        }
      } finally {
        model.free();
      }
    });
  }
});
