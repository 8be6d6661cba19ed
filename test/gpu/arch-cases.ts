// Op cases for the kernels other architectures need (Qwen's biases, Qwen 3's
// and Gemma 3's per-head norms, Gemma's GeGLU, post-norms, sliding windows,
// soft-caps and scale on q), each against the engine's CPU op. Part of
// gpuCases, so they run in Node (Dawn) and in Chromium alike.
import { attentionScratchBytes, createQ8Acts } from '../../src/gpu/kernels/index.js';
import type { GpuCase } from './cases.js';
import { GGML, Rng, check, checkEqual, checkNmse, createFrameBuffer, createTestBuffer, readBytes, readF32, runSteps } from './harness.js';

const biasCase: GpuCase = {
  name: 'addBias adds one row of bias to each of n_tokens rows, exactly as the CPU op',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(41);
    const frame = createFrameBuffer(ctx);
    for (const [n, T] of [[96, 3], [7, 17], [4096, 1]]) {
      const x = rng.floats((T + 1) * n);
      const bias = rng.floats(n);
      const xb = createTestBuffer(ctx, x);
      await runSteps(ctx, frame, [kernels.addBias(xb, createTestBuffer(ctx, bias), n, frame)], T);
      const got = await readF32(ctx, xb, (T + 1) * n);
      checkEqual(`add_bias n=${n} T=${T}`, got.subarray(0, T * n), cpu.addBias(x.subarray(0, T * n), bias, T));
      checkEqual('row past n_tokens', got.subarray(T * n), x.subarray(T * n));
    }
    env.report('add_bias: exact');
  },
};

const geluCase: GpuCase = {
  name: "geluMul matches the CPU's GeGLU (f16 table semantics), plain and fused with Q8_0 quantization",
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(43);
    const frame = createFrameBuffer(ctx);
    let worst = 0;
    let exact = 0;
    let total = 0;
    for (const [n, T] of [[96, 3], [7, 17], [8192, 1]]) {
      // Inputs spread over [-12, 12]: both saturated ends and the table's range.
      const a = rng.floats((T + 1) * n, 12);
      const b = rng.floats((T + 1) * n);
      const ab = createTestBuffer(ctx, a);
      await runSteps(ctx, frame, [kernels.geluMul(ab, createTestBuffer(ctx, b), n, frame)], T);
      const got = await readF32(ctx, ab, (T + 1) * n);
      const want = cpu.geluMul(a.subarray(0, T * n), b.subarray(0, T * n));
      worst = Math.max(worst, checkNmse(`gelu_mul n=${n} T=${T}`, got.subarray(0, T * n), want, 1e-8));
      for (let i = 0; i < want.length; i++) exact += got[i] === want[i] ? 1 : 0;
      total += want.length;
      checkEqual('row past n_tokens', got.subarray(T * n), a.subarray(T * n));
    }
    // Fused with Q8_0 quantization: the bytes of the CPU's product quantized
    // (a quant may move by one where an ulp of the product crosses a .5 step).
    let qDiff = 0;
    let qTotal = 0;
    for (const [n, T] of [[64, 1], [288, 5]]) {
      const a = rng.floats(T * n, 12);
      const b = rng.floats(T * n);
      const ab = createTestBuffer(ctx, a);
      const acts = createQ8Acts(ctx.device, 'h', T, n);
      await runSteps(ctx, frame, [kernels.geluMul(ab, createTestBuffer(ctx, b), n, frame, { q8: acts })], T);
      const gotQ = new Uint8Array(await readBytes(ctx, acts.quants, T * n));
      const prod = cpu.geluMul(a, b);
      for (let t = 0; t < T; t++) {
        const want = cpu.quantize(GGML.Q8_0, prod.subarray(t * n, (t + 1) * n), (n / 32) * 34);
        for (let blk = 0; blk < n / 32; blk++) {
          for (let i = 0; i < 32; i++) {
            const d = Math.abs(((gotQ[t * n + blk * 32 + i] << 24) >> 24) - ((want[blk * 34 + 2 + i] << 24) >> 24));
            check(d <= 1, `gelu_mul_q8 n=${n} row ${t}: quant ${blk * 32 + i} differs by ${d}`);
            qDiff += d;
            qTotal++;
          }
        }
      }
      checkEqual(`gelu_mul_q8 n=${n} leaves a alone`, await readF32(ctx, ab, T * n), a);
    }
    check(qDiff / qTotal < 1e-2, `${qDiff} of ${qTotal} quants differ`);
    env.report(`gelu_mul: NMSE vs CPU ${worst.toExponential(2)}; ${((100 * exact) / total).toFixed(1)}% bit-equal; fused q8 ${qDiff} of ${qTotal} quants off by one`);
  },
};

const normCase: GpuCase = {
  name: 'rmsnormHeads normalizes every head in place and rmsnorm accumulate adds the normed row, as the CPU ops',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(47);
    const frame = createFrameBuffer(ctx);
    let worst = 0;
    for (const [heads, d, T] of [[4, 32, 3], [2, 128, 1], [14, 64, 9], [3, 6, 5]]) {
      const x = rng.floats((T + 1) * heads * d, 3);
      const w = rng.floats(d);
      const xb = createTestBuffer(ctx, x);
      await runSteps(ctx, frame, [kernels.rmsnormHeads(xb, createTestBuffer(ctx, w), heads, d, 1e-6, frame)], T);
      const got = await readF32(ctx, xb, (T + 1) * heads * d);
      const want = cpu.rmsnorm(x.subarray(0, T * heads * d), w, T * heads, d, 1e-6);
      worst = Math.max(worst, checkNmse(`rmsnorm_heads ${heads}x${d} T=${T}`, got.subarray(0, T * heads * d), want, 1e-10));
      checkEqual('row past n_tokens', got.subarray(T * heads * d), x.subarray(T * heads * d));
    }
    for (const [n, T] of [[64, 3], [2048, 2]]) {
      const x = rng.floats(T * n, 3);
      const y = rng.floats(T * n);
      const w = rng.floats(n);
      const yb = createTestBuffer(ctx, y);
      await runSteps(ctx, frame, [kernels.rmsnorm(createTestBuffer(ctx, x), createTestBuffer(ctx, w), yb, n, 1e-6, frame, { accumulate: true })], T);
      const want = cpu.add(y, cpu.rmsnorm(x, w, T, n, 1e-6));
      worst = Math.max(worst, checkNmse(`rmsnorm += n=${n} T=${T}`, await readF32(ctx, yb, T * n), want, 1e-10));
    }
    // Gemma 4's layer_output_scale after the block's last add: (y + norm(x)) * s,
    // as the CPU adds then scales (f32 both). Rows past n_tokens stay as they were.
    for (const [n, T, s] of [[64, 3, 0.0625], [1536, 2, 0.7]]) {
      const x = rng.floats((T + 1) * n, 3);
      const y = rng.floats((T + 1) * n);
      const w = rng.floats(n);
      const yb = createTestBuffer(ctx, y);
      await runSteps(ctx, frame, [kernels.rmsnorm(createTestBuffer(ctx, x), createTestBuffer(ctx, w), yb, n, 1e-6, frame, { accumulate: true, outScale: s })], T);
      const got = await readF32(ctx, yb, (T + 1) * n);
      const sum = cpu.add(y.subarray(0, T * n), cpu.rmsnorm(x.subarray(0, T * n), w, T, n, 1e-6));
      const want = sum.map((v) => Math.fround(v * s));
      worst = Math.max(worst, checkNmse(`rmsnorm += then x ${s} n=${n} T=${T}`, got.subarray(0, T * n), want, 1e-10));
      checkEqual(`rmsnorm += then x ${s}: row past n_tokens`, got.subarray(T * n), y.subarray(T * n));
    }
    let refused = '';
    try {
      kernels.rmsnorm(createTestBuffer(ctx, 64 * 4), createTestBuffer(ctx, 64 * 4), createTestBuffer(ctx, 64 * 4), 64, 1e-6, frame, { outScale: 2 });
    } catch (e) {
      refused = String(e);
    }
    check(/needs accumulate/.test(refused), `an output scale without accumulate is refused (got: ${refused || 'no error'})`);
    env.report(`rmsnorm_heads, rmsnorm += (and scaled): NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

const windowCase: GpuCase = {
  name: 'attention within a sliding window, with soft-capped scores and q scaled first, matches the CPU op',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(53);
    const frame = createFrameBuffer(ctx);
    const configs = [
      { nHead: 4, nHeadKv: 2, headDim: 32, nCtx: 320, window: 8, softcap: 2, runs: [[0, 12], [30, 1], [299, 1], [283, 17]] },
      { nHead: 2, nHeadKv: 1, headDim: 64, nCtx: 600, window: 300, softcap: 0, runs: [[0, 40], [550, 1], [320, 1]] },
      { nHead: 3, nHeadKv: 3, headDim: 16, nCtx: 64, window: 0, softcap: 30, runs: [[0, 20], [50, 1]] },
    ];
    let worst = 0;
    for (const c of configs) {
      const kvDim = c.nHeadKv * c.headDim;
      // Gemma's form: the scale multiplies q (before its f16 rounding); the
      // CPU op gets q already scaled and a score scale of 1.
      const qScale = 1 / Math.sqrt(c.headDim);
      const shape = { nHead: c.nHead, nHeadKv: c.nHeadKv, headDim: c.headDim, scale: 1, qScale, nCtx: c.nCtx, window: c.window, softcap: c.softcap };
      const kc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      const vc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      for (const [cell0, T] of c.runs) {
        const nKv = cell0 + T;
        const k = rng.floats(nKv * kvDim);
        const v = rng.floats(nKv * kvDim);
        const q = rng.floats(T * c.nHead * c.headDim, 4);
        const scaledQ = q.map((x) => Math.fround(x * Math.fround(qScale)));
        const want = cpu.attentionWindow(scaledQ, k, v, cell0, T, { ...shape, scale: 1 });
        await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, c.nCtx, frame)], nKv, 0);
        const qb = createTestBuffer(ctx, q);
        const ob = createTestBuffer(ctx, q.length * 4);
        const bytes = attentionScratchBytes(shape);
        await runSteps(ctx, frame, [kernels.attention(qb, kc, vc, ob, shape, frame, bytes > 0 ? createTestBuffer(ctx, bytes) : null)], T, cell0);
        const what = `attention window ${c.window} softcap ${c.softcap} at ${cell0}+${T}`;
        worst = Math.max(worst, checkNmse(what, await readF32(ctx, ob, q.length), want, 1e-9));
      }
    }
    env.report(`attention with window/softcap/q scale: NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

export const archCases: GpuCase[] = [biasCase, geluCase, normCase, windowCase];
