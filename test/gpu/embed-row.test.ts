// A token's embedding row read on the GPU (src/gpu/embed-row.ts,
// wgsl/embed_row*.wgsl) against the engine's CPU dequantize_row and
// embedding scale: bit for bit, for every weight type the GPU multiplies by,
// with the weight split into several parts (the token in the first, a
// middle and the last), with and without an embedding scale.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { GpuContext } from '../../src/gpu/device.js';
import { GpuEmbedRow, embedsRowsOf } from '../../src/gpu/embed-row.js';
import { gpuWeightSize } from '../../src/gpu/memory.js';
import { createWeightBuffers, destroyWeight } from '../../src/gpu/weights.js';
import { ENCODINGS, encodeTensor, type TensorType } from '../gguf/quantize.js';
import { CpuOps } from './cpu-ops.js';
import { Rng, createTestBuffer, readF32, watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const TYPES: TensorType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];
const ROWS = 40;
const COLS = 512;

const bitsOf = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);

describe('embedding rows on the GPU (Dawn in Node)', () => {
  let gpu: GpuContext;
  let cpu: CpuOps;
  let uncaptured: string[];
  before(async () => {
    [gpu, cpu] = await Promise.all([requestNodeGpu(), CpuOps.load()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(async () => {
    await gpu?.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured, [], 'uncaptured WebGPU errors');
    gpu?.device.destroy();
  });

  for (const type of TYPES) {
    test(`${type}: the CPU's row, bit for bit, in every part`, async () => {
      const enc = ENCODINGS[type];
      const rng = new Rng(7 + enc.ggmlType);
      // Values of a few sizes, negatives, zeros: every rounding path of the formulas.
      const values = new Float32Array(ROWS * COLS);
      for (let i = 0; i < values.length; i++) values[i] = i % 97 === 0 ? 0 : rng.normal() * (1 + (i % 5)) * 0.37;
      const bytes = encodeTensor(type, values);
      const rowBytes = bytes.byteLength / ROWS;
      // Parts of at most 16 rows: three parts, the last one short.
      const perRow = gpuWeightSize(enc.ggmlType, 1, COLS, 1 << 30)!.rowBytes;
      const w = createWeightBuffers(gpu, type, enc.ggmlType, ROWS, COLS, bytes, { maxBindingBytes: 16 * perRow });
      assert.ok(w.parts.length >= 3, `${w.parts.length} parts`);
      assert.ok(embedsRowsOf(w.type));
      const token = createTestBuffer(gpu, 16, 'token');
      const x = createTestBuffer(gpu, COLS * 4, 'x');
      const owned: GPUBuffer[] = [token, x];
      const create = (label: string, size: number, usage: number) => {
        const b = gpu.device.createBuffer({ label, size, usage });
        owned.push(b);
        return b;
      };
      try {
        for (const scale of [1, Math.fround(Math.sqrt(COLS))]) {
          const embed = new GpuEmbedRow(gpu.device, w, scale, token, x, create);
          assert.equal(embed.dispatches, w.parts.length);
          for (const t of [0, 17, ROWS - 1]) {
            gpu.device.queue.writeBuffer(token, 0, new Uint32Array([t]));
            const e = gpu.device.createCommandEncoder();
            const pass = e.beginComputePass();
            embed.encode(pass);
            pass.end();
            gpu.device.queue.submit([e.finish()]);
            const got = await readF32(gpu, x, COLS);
            const want = cpu.dequantize(enc.ggmlType, bytes.subarray(t * rowBytes, (t + 1) * rowBytes), COLS);
            if (scale !== 1) for (let i = 0; i < COLS; i++) want[i] = Math.fround(want[i] * scale);
            assert.ok(want.some((v) => v !== 0));
            assert.deepEqual(bitsOf(got), bitsOf(want), `${type}, token ${t}, scale ${scale}`);
          }
        }
      } finally {
        destroyWeight(w);
        for (const b of owned) b.destroy();
      }
    });
  }
});
