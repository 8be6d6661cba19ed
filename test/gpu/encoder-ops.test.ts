// The kernels BERT's blocks add (Dawn in Node): LayerNorm with bias in place
// and the ungated GELU, on random rows of awkward widths, against
// references that compute what cpp/ops/norm.cpp and cpp/ops/elementwise.cpp
// compute (LayerNorm's sums in double; GELU through f16 in and out,
// saturating outside [-10, 10]). Rows past the frame's tokens stay untouched.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { GpuContext } from '../../src/gpu/device.js';
import { Kernels } from '../../src/gpu/kernels/index.js';
import { checkNmse, createFrameBuffer, createTestBuffer, f16Bits, f16Value, readF32, Rng, runSteps, watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

let gpu: GpuContext;
let uncaptured: string[];
before(async () => {
  gpu = await requestNodeGpu();
  uncaptured = watchUncaptured(gpu.device);
});
after(() => gpu?.device.destroy());

function layernormRef(x: Float32Array, w: Float32Array, b: Float32Array, T: number, n: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    const row = x.subarray(t * n, (t + 1) * n);
    let sum = 0;
    for (const v of row) sum += v;
    const mean = Math.fround(sum / n);
    let sum2 = 0;
    for (const v of row) {
      const c = Math.fround(v - mean);
      sum2 += Math.fround(c * c);
    }
    const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(Math.fround(sum2 / n) + eps))));
    for (let i = 0; i < n; i++) y[t * n + i] = Math.fround(Math.fround(Math.fround(row[i] - mean) * scale) * w[i]) + b[i];
  }
  return y;
}

const f16 = (v: number) => f16Value(f16Bits(v));

function geluRef(v: number): number {
  if (v <= -10) return 0;
  if (v >= 10) return v;
  const x = f16(v);
  return f16(0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * x * (1 + 0.044715 * x * x))));
}

test('layernorm: rows of 1 to 1000 values, in place, with weight and bias, only the frame\'s rows', async () => {
  const kernels = new Kernels(gpu);
  const rng = new Rng(7);
  const frame = createFrameBuffer(gpu);
  for (const [n, T, live] of [[1, 3, 3], [7, 5, 4], [64, 8, 8], [300, 3, 2], [1000, 2, 2]]) {
    const x = new Float32Array(T * n).map(() => rng.normal() * 3 + 1.5);
    const w = new Float32Array(n).map(() => rng.normal());
    const b = new Float32Array(n).map(() => rng.normal() * 0.1);
    const xb = createTestBuffer(gpu, x);
    await runSteps(gpu, frame, [kernels.layernorm(xb, createTestBuffer(gpu, w), createTestBuffer(gpu, b), n, 1e-12, frame)], live);
    const got = await readF32(gpu, xb, T * n);
    const want = layernormRef(x, w, b, live, n, 1e-12);
    checkNmse(`layernorm n=${n}`, got.subarray(0, live * n), want.subarray(0, live * n), 1e-10);
    assert.deepEqual(Array.from(got.subarray(live * n)), Array.from(x.subarray(live * n)), 'rows past the frame are untouched');
  }
  assert.deepEqual(uncaptured, []);
});

test('gelu: the CPU\'s f16 roundings and saturation, to one f16 ulp', async () => {
  const kernels = new Kernels(gpu);
  const rng = new Rng(11);
  const frame = createFrameBuffer(gpu);
  const n = 333;
  const T = 3;
  const x = new Float32Array(T * n).map(() => rng.normal() * 6);
  x.set([-10, 10, -10.5, 12, 0, -0.0001, 9.999], 0);
  const xb = createTestBuffer(gpu, x);
  await runSteps(gpu, frame, [kernels.gelu(xb, n, frame)], 2);
  const got = await readF32(gpu, xb, T * n);
  for (let i = 0; i < 2 * n; i++) {
    // tanh may differ from Math.tanh by an ulp, which f16 rounding absorbs
    // except at a rounding boundary: one f16 ulp at most. Below about -4.5
    // the device's tanh reaches -1 where libm's stops an ulp short, so a
    // result of a few f16 subnormals (under 3e-7) may come out 0.
    const want = geluRef(x[i]);
    assert.ok(Math.abs(got[i] - want) <= Math.abs(want) * 2 ** -10 + 3e-7, `gelu(${x[i]}) = ${got[i]}, want ${want}`);
  }
  assert.deepEqual(Array.from(got.subarray(2 * n)), Array.from(x.subarray(2 * n)));
  assert.deepEqual(uncaptured, []);
});
