// The GPU op tests, shared by the Node runner (test/gpu/ops.test.ts, Dawn)
// and the browser page (test/browser/pages/gpu-ops.ts, Chromium): every
// kernel and weight type on random inputs of awkward sizes against the
// engine's CPU op, in the pattern of llama.cpp's test-backend-ops.
//
// Error thresholds (normalized MSE against the CPU op) and why:
//   f32 matmul   1e-9   both f32; only the summation order differs
//   f16 matmul   1e-6   the CPU rounds activations to f16 (~2^-11 relative)
//   bf16 matmul  5e-5   the CPU rounds activations to bf16 (~2^-8 relative)
//   q8_0, q4_0   5e-4   the CPU quantizes activations to Q8_0 (32-element
//                       blocks, step amax/127); the GPU keeps them f32
//   every matmul against an f64 product of the same dequantized weights: 1e-9
//   attention    1e-6   the CPU rounds probabilities to f16 before P.V; the GPU
//                       keeps them f32 (the query is rounded on both sides)
//   rope         1e-11  same f32 angle; the kernels' own cos/sin (rope_math.wgsl)
//                       differ from libm by a few f32 ulps
//   rmsnorm, silu 1e-10 f32 vs f32 (the CPU sums squares in double)
//   kv store and add are bit-exact; kv erase moves bit-exactly and re-rotated
//   keys differ by at most one f16 ulp where cos/sin round differently.
import { GpuError } from '../../src/api/errors.js';
import { requestGpu, withErrorScopes } from '../../src/gpu/device.js';
import { Kernels, type RopeConfig, type Step } from '../../src/gpu/kernels.js';
import { createWeightBuffers, destroyWeight } from '../../src/gpu/weights.js';
import type { CpuRope } from './cpu-ops.js';
import {
  GGML, Rng, catchError, check, checkEqual, checkNmse, createFrameBuffer, createTestBuffer, f16Bits, f16Value, nmse,
  randomWeightBytes, readF32, readU16, runSteps, weightTypes, type GpuTestEnv,
} from './harness.js';

export interface GpuCase {
  name: string;
  run(env: GpuTestEnv): Promise<void>;
}

const matmulNmse: Record<string, number> = { f32: 1e-9, f16: 1e-6, bf16: 5e-5, q8_0: 5e-4, q4_0: 5e-4 };
// [rows, cols, tokens]: rows not multiples of the 4-row matvec or 64-row
// tile; token counts on both sides of the matvec/tiled switch and the 32-token tile.
const matmulShapes = [
  [1, 32, 1], [7, 96, 1], [130, 288, 1], [130, 96, 3], [7, 288, 17], [130, 32, 17], [1, 96, 64], [130, 288, 70],
] as const;

async function gpuMatmul(env: GpuTestEnv, kernels: Kernels, type: number, wBytes: Uint8Array, rows: number, cols: number, x: Float32Array, T: number, maxBindingBytes?: number): Promise<{ y: Float32Array; parts: number }> {
  const { ctx } = env;
  const w = createWeightBuffers(ctx, 'w', type, rows, cols, wBytes, { maxBindingBytes });
  const xb = createTestBuffer(ctx, x, 'x');
  const yb = createTestBuffer(ctx, T * rows * 4, 'y');
  const frame = createFrameBuffer(ctx);
  await runSteps(ctx, frame, [kernels.matmul(w, xb, yb, frame)], T);
  const y = await readF32(ctx, yb, T * rows);
  const parts = w.parts.length;
  destroyWeight(w);
  for (const b of [xb, yb, frame]) b.destroy();
  return { y, parts };
}

/** y = x W^T in f64 from the engine's own dequantization of W. */
function referenceMatmul(env: GpuTestEnv, type: number, wBytes: Uint8Array, rows: number, cols: number, x: Float32Array, T: number): Float64Array {
  const w = env.cpu.dequantize(type, wBytes, rows * cols);
  const y = new Float64Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += w[r * cols + c] * x[t * cols + c];
      y[t * rows + r] = s;
    }
  }
  return y;
}

const matmulCases: GpuCase[] = weightTypes.map(([name, type]) => ({
  name: `matmul over ${name} weights matches the CPU op for decode and prefill shapes`,
  async run(env) {
    const rng = new Rng(1000 + type);
    let worstCpu = 0;
    let worstRef = 0;
    for (const [rows, cols, T] of matmulShapes) {
      const wBytes = randomWeightBytes(rng, type, rows, cols);
      const x = rng.floats(T * cols);
      const { y } = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T);
      const shape = `${name} ${rows}x${cols}, ${T} tokens`;
      worstRef = Math.max(worstRef, checkNmse(`${shape} vs f64`, y, referenceMatmul(env, type, wBytes, rows, cols, x, T), 1e-9));
      worstCpu = Math.max(worstCpu, checkNmse(`${shape} vs CPU`, y, env.cpu.matmul(type, wBytes, rows, cols, x, T), matmulNmse[name]));
    }
    env.report(`matmul ${name}: NMSE vs CPU ${worstCpu.toExponential(2)} (limit ${matmulNmse[name].toExponential(0)}), vs f64 ${worstRef.toExponential(2)}`);
  },
}));

const splitCase: GpuCase = {
  name: 'a weight split across several bindings gives the same product as one binding',
  async run(env) {
    const rng = new Rng(7);
    for (const [name, type] of [['q4_0', GGML.Q4_0], ['f16', GGML.F16], ['q8_0', GGML.Q8_0]] as const) {
      const [rows, cols] = [130, 96];
      const wBytes = randomWeightBytes(rng, type, rows, cols);
      for (const T of [1, 17]) {
        const x = rng.floats(T * cols);
        const whole = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T);
        // 200 bytes a binding: 1 to 4 rows a part, the last one short.
        const split = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T, 200);
        check(whole.parts === 1 && split.parts > 10, `${name}: expected 1 and >10 parts, got ${whole.parts} and ${split.parts}`);
        checkEqual(`${name} split vs whole, ${T} tokens`, split.y, whole.y);
      }
    }
  },
};

const rmsnormCase: GpuCase = {
  name: 'rmsnorm matches the CPU op, and lastRowOnly normalizes only the last row into row 0',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(11);
    const frame = createFrameBuffer(ctx);
    let worst = 0;
    for (const [n, T] of [[8, 1], [96, 3], [288, 17], [2049, 2]]) {
      const x = rng.floats(T * n, 3);
      const w = rng.floats(n);
      const eps = 1e-5;
      const want = cpu.rmsnorm(x, w, T, n, eps);
      const xb = createTestBuffer(ctx, x);
      const wb = createTestBuffer(ctx, w);
      const yb = createTestBuffer(ctx, T * n * 4);
      await runSteps(ctx, frame, [kernels.rmsnorm(xb, wb, yb, n, eps, frame)], T);
      worst = Math.max(worst, checkNmse(`rmsnorm n=${n} T=${T}`, await readF32(ctx, yb, T * n), want, 1e-10));

      const last = createTestBuffer(ctx, n * 4);
      await runSteps(ctx, frame, [kernels.rmsnorm(xb, wb, last, n, eps, frame, { lastRowOnly: true })], T);
      checkNmse(`rmsnorm last row n=${n} T=${T}`, await readF32(ctx, last, n), want.subarray((T - 1) * n), 1e-10);
    }
    env.report(`rmsnorm: NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

function cpuRope(r: RopeConfig, factors?: Float32Array): CpuRope {
  return { style: r.style, nRot: r.nRot, freqBase: r.freqBase, freqScale: r.freqScale, freqFactors: factors };
}

const ropeCase: GpuCase = {
  name: 'rope matches the CPU op in both styles, partial rotation, scaling and frequency factors',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(13);
    const frame = createFrameBuffer(ctx);
    const configs = [
      { nHeads: 4, headDim: 64, style: 'normal', nRot: 64, freqBase: 10000, freqScale: 1 },
      { nHeads: 3, headDim: 128, style: 'neox', nRot: 128, freqBase: 500000, freqScale: 1, factors: true },
      { nHeads: 2, headDim: 64, style: 'neox', nRot: 32, freqBase: 10000, freqScale: 1 },
      { nHeads: 5, headDim: 96, style: 'normal', nRot: 64, freqBase: 1e6, freqScale: 0.25 },
    ] as const;
    let worst = 0;
    for (const c of configs) {
      const half = c.nRot / 2;
      const factors = 'factors' in c ? Float32Array.from({ length: half }, (_, i) => 1 + (i % 5)) : undefined;
      const rope: RopeConfig = { style: c.style, nRot: c.nRot, freqBase: c.freqBase, freqScale: c.freqScale, freqFactors: factors && createTestBuffer(ctx, factors) };
      for (const [cell0, T] of [[0, 1], [0, 17], [4000, 3], [100000, 2]]) {
        const x = rng.floats(T * c.nHeads * c.headDim);
        const pos = Int32Array.from({ length: T }, (_, t) => cell0 + t);
        const want = cpu.rope(x, T, c.nHeads, c.headDim, pos, cpuRope(rope, factors));
        const xb = createTestBuffer(ctx, x);
        await runSteps(ctx, frame, [kernels.rope(xb, c.nHeads, c.headDim, rope, frame)], T, cell0);
        const got = await readF32(ctx, xb, x.length);
        worst = Math.max(worst, checkNmse(`rope ${c.style} nRot=${c.nRot} at ${cell0}+${T}`, got, want, 1e-11));
        // Dimensions past nRot are not rotated.
        for (let i = c.nRot; i < c.headDim; i++) check(got[i] === x[i], `rope touched dimension ${i} past nRot ${c.nRot}`);
      }
    }
    env.report(`rope: NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

const kvStoreCase: GpuCase = {
  name: 'kvStore writes the CPU kv_store halves into cells cell0.. and never past nCtx',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(17);
    const [nCtx, kvDim] = [20, 96];
    const frame = createFrameBuffer(ctx);
    const fill = new Uint16Array(nCtx * kvDim).fill(0x1234);
    for (const [cell0, T] of [[5, 7], [0, 1], [18, 7]]) {
      const k = rng.floats(T * kvDim);
      const v = rng.floats(T * kvDim);
      const want = cpu.kvStore(k, v, T, kvDim);
      const kc = createTestBuffer(ctx, fill);
      const vc = createTestBuffer(ctx, fill);
      // The cache is longer than nCtx: cells past it must stay as they were.
      const guard = createTestBuffer(ctx, new Uint16Array((nCtx + 4) * kvDim).fill(0x1234));
      await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, guard, kvDim, nCtx, frame)], T, cell0);
      await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, nCtx, frame)], T, cell0);
      const gotK = await readU16(ctx, kc, nCtx * kvDim);
      const gotV = await readU16(ctx, vc, nCtx * kvDim);
      const gotGuard = await readU16(ctx, guard, (nCtx + 4) * kvDim);
      const written = Math.min(T, nCtx - cell0);
      const expectK = fill.slice();
      const expectV = fill.slice();
      expectK.set(want.k.subarray(0, written * kvDim), cell0 * kvDim);
      expectV.set(want.v.subarray(0, written * kvDim), cell0 * kvDim);
      checkEqual(`K cells of ${cell0}+${T}`, gotK, expectK);
      checkEqual(`V cells of ${cell0}+${T}`, gotV, expectV);
      checkEqual(`cells past nCtx of ${cell0}+${T}`, gotGuard.subarray(nCtx * kvDim), new Uint16Array(4 * kvDim).fill(0x1234));
    }
  },
};

const attentionCase: GpuCase = {
  name: 'attention matches the CPU op for prefill, decode (split over the cells) and GQA',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(19);
    const frame = createFrameBuffer(ctx);
    const configs = [
      { nHead: 4, nHeadKv: 4, headDim: 64, nCtx: 320, runs: [[0, 1], [0, 5], [4, 1], [299, 1], [283, 17]] },
      { nHead: 8, nHeadKv: 2, headDim: 128, nCtx: 512, runs: [[0, 1], [299, 1], [0, 70], [500, 12]] },
      { nHead: 6, nHeadKv: 3, headDim: 256, nCtx: 300, runs: [[0, 3], [299, 1]] },
      { nHead: 6, nHeadKv: 2, headDim: 64, nCtx: 64, runs: [[0, 64], [40, 1], [63, 1]] },
    ];
    let worst = 0;
    for (const c of configs) {
      const kvDim = c.nHeadKv * c.headDim;
      const shape = { nHead: c.nHead, nHeadKv: c.nHeadKv, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim), nCtx: c.nCtx };
      const kc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      const vc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      for (const [cell0, T] of c.runs) {
        const nKv = cell0 + T;
        const k = rng.floats(nKv * kvDim);
        const v = rng.floats(nKv * kvDim);
        const q = rng.floats(T * c.nHead * c.headDim);
        const want = cpu.attention(q, k, v, cell0, T, shape);
        // Fill cells [0, nKv) through the GPU's own kv store, then attend.
        await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, c.nCtx, frame)], nKv, 0);
        const qb = createTestBuffer(ctx, q);
        const ob = createTestBuffer(ctx, q.length * 4);
        await runSteps(ctx, frame, [kernels.attention(qb, kc, vc, ob, shape, frame)], T, cell0);
        const got = await readF32(ctx, ob, q.length);
        const what = `attention ${c.nHead}/${c.nHeadKv}x${c.headDim} at ${cell0}+${T}`;
        worst = Math.max(worst, checkNmse(what, got, want, 1e-6));
      }
    }
    env.report(`attention: NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

const elementwiseCase: GpuCase = {
  name: 'siluMul matches the CPU op and add is exact, over n_tokens rows only',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(23);
    const frame = createFrameBuffer(ctx);
    let worst = 0;
    for (const [n, T] of [[300, 3], [7, 17], [8192, 1]]) {
      // Buffers hold one row more than the batch: it must be left alone.
      const a = rng.floats((T + 1) * n, 4);
      const b = rng.floats((T + 1) * n);
      const ab = createTestBuffer(ctx, a);
      const bb = createTestBuffer(ctx, b);
      await runSteps(ctx, frame, [kernels.siluMul(ab, bb, n, frame)], T);
      const got = await readF32(ctx, ab, (T + 1) * n);
      const want = cpu.siluMul(a.subarray(0, T * n), b.subarray(0, T * n));
      worst = Math.max(worst, checkNmse(`silu_mul n=${n} T=${T}`, got.subarray(0, T * n), want, 1e-10));
      checkEqual('row past n_tokens', got.subarray(T * n), a.subarray(T * n));

      const xb = createTestBuffer(ctx, a);
      await runSteps(ctx, frame, [kernels.add(xb, bb, n, frame)], T);
      const sum = await readF32(ctx, xb, (T + 1) * n);
      checkEqual(`add n=${n} T=${T}`, sum.subarray(0, T * n), cpu.add(a.subarray(0, T * n), b.subarray(0, T * n)));
      checkEqual('row past n_tokens', sum.subarray(T * n), a.subarray(T * n));
    }
    env.report(`silu_mul: NMSE vs CPU ${worst.toExponential(2)}; add exact`);
  },
};

const kvEraseCase: GpuCase = {
  name: "kvErase moves cells and re-rotates keys like the CPU's erase and rope_shift_k",
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(29);
    const [nCtx, nHeadKv] = [40, 2];
    const runs = [
      { headDim: 64, style: 'normal', nRot: 64, used: 30, start: 4, end: 11 },
      { headDim: 64, style: 'neox', nRot: 64, used: 40, start: 0, end: 25, factors: true },
      { headDim: 128, style: 'neox', nRot: 32, used: 33, start: 10, end: 12 },
      { headDim: 64, style: 'normal', nRot: 64, used: 30, start: 0, end: 30 },
      { headDim: 64, style: 'normal', nRot: 64, used: 30, start: 7, end: 7 },
    ] as const;
    let worstUlps = 0;
    let worst = 0;
    for (const r of runs) {
      const kvDim = nHeadKv * r.headDim;
      const halves = (n: number) => Uint16Array.from(rng.floats(n), f16Bits);
      const k = halves(nCtx * kvDim);
      const v = halves(nCtx * kvDim);
      const factors = 'factors' in r ? Float32Array.from({ length: r.nRot / 2 }, (_, i) => 1 + (i % 3)) : undefined;
      const rope: RopeConfig = { style: r.style, nRot: r.nRot, freqBase: 10000, freqScale: 1, freqFactors: factors && createTestBuffer(ctx, factors) };
      const want = cpu.kvErase(k, v, nCtx, kvDim, r.used, r.start, r.end, nHeadKv, r.headDim, cpuRope(rope, factors));

      const kc = createTestBuffer(ctx, k);
      const vc = createTestBuffer(ctx, v);
      const nMoved = r.used - r.end;
      const scratch = createTestBuffer(ctx, Math.max(4, nMoved * kvDim * 2));
      await withErrorScopes(ctx.device, 'kv erase', () => {
        const enc = ctx.device.createCommandEncoder();
        kernels.encodeKvErase(enc, kc, vc, scratch, { start: r.start, end: r.end, nMoved, kvDim, nCtx, nHeadKv, headDim: r.headDim, rope });
        ctx.device.queue.submit([enc.finish()]);
      });
      const gotK = await readU16(ctx, kc, nCtx * kvDim);
      const gotV = await readU16(ctx, vc, nCtx * kvDim);
      const what = `erase [${r.start}, ${r.end}) of ${r.used} (${r.style}, nRot ${r.nRot})`;
      checkEqual(`${what}: V`, gotV, want.v);
      // Rows outside the re-rotated span are moved or left bit for bit.
      const rot0 = r.start * kvDim;
      const rot1 = (r.start + (r.end > r.start ? nMoved : 0)) * kvDim;
      checkEqual(`${what}: K before the span`, gotK.subarray(0, rot0), want.k.subarray(0, rot0));
      checkEqual(`${what}: K after the span`, gotK.subarray(rot1), want.k.subarray(rot1));
      let ulps = 0;
      for (let i = rot0; i < rot1; i++) ulps = Math.max(ulps, Math.abs(gotK[i] - want.k[i]));
      check(ulps <= 1, `${what}: re-rotated keys differ by ${ulps} f16 ulps`);
      worstUlps = Math.max(worstUlps, ulps);
      const toF = (a: Uint16Array) => Array.from(a, (h) => f16Value(h));
      worst = Math.max(worst, nmse(toF(gotK.subarray(rot0, rot1)), toF(want.k.subarray(rot0, rot1))));
      // A shift really happened where one was asked for: the moved keys changed.
      if (nMoved > 0 && r.end > r.start) {
        check(nmse(toF(gotK.subarray(rot0, rot1)), toF(k.subarray(r.end * kvDim, (r.end + nMoved) * kvDim))) > 1e-4, `${what}: keys were not re-rotated`);
      }
    }
    env.report(`kv erase: V and unrotated K exact; re-rotated K within ${worstUlps} f16 ulp, NMSE ${worst.toExponential(2)}`);
  },
};

const wideGridCase: GpuCase = {
  name: 'dispatches wider than the per-dimension workgroup limit run as 2D grids with the same results',
  async run(env) {
    const { ctx } = env;
    const narrow = new Kernels(ctx, { maxWorkgroupsPerDimension: 6 });
    const rng = new Rng(31);
    const frame = createFrameBuffer(ctx);
    const [rows, cols] = [130, 96];
    const wBytes = randomWeightBytes(rng, GGML.Q4_0, rows, cols);
    const x1 = rng.floats(cols);
    const a = await gpuMatmul(env, env.kernels, GGML.Q4_0, wBytes, rows, cols, x1, 1);
    const b = await gpuMatmul(env, narrow, GGML.Q4_0, wBytes, rows, cols, x1, 1);
    checkEqual('matvec on a 2D grid', b.y, a.y);

    const [n, T] = [96, 17];
    const x = rng.floats(T * n);
    const run = async (k: Kernels, make: (k: Kernels, xb: GPUBuffer, yb: GPUBuffer) => Step) => {
      const xb = createTestBuffer(ctx, x);
      const yb = createTestBuffer(ctx, x);
      await runSteps(ctx, frame, [make(k, xb, yb)], T, 5);
      return [await readF32(ctx, xb, T * n), await readF32(ctx, yb, T * n)];
    };
    const w = createTestBuffer(ctx, rng.floats(n));
    const rope: RopeConfig = { style: 'normal', nRot: 32, freqBase: 10000, freqScale: 1 };
    const makers: [string, (k: Kernels, xb: GPUBuffer, yb: GPUBuffer) => Step][] = [
      ['rmsnorm', (k, xb, yb) => k.rmsnorm(xb, w, yb, n, 1e-6, frame)],
      ['rope', (k, xb) => k.rope(xb, 3, 32, rope, frame)],
      ['silu_mul', (k, xb, yb) => k.siluMul(xb, yb, n, frame)],
      ['kv_store', (k, xb, yb) => k.kvStore(xb, xb, yb, createTestBuffer(ctx, T * n * 2), n, T, frame)],
    ];
    for (const [name, make] of makers) {
      const [wx, wy] = await run(env.kernels, make);
      const [nx, ny] = await run(narrow, make);
      checkEqual(`${name} on a 2D grid (x)`, nx, wx);
      checkEqual(`${name} on a 2D grid (y)`, ny, wy);
    }
    narrow.destroy();
  },
};

const boundsCase: GpuCase = {
  name: 'bad ranges and sizes throw typed errors with the numbers before anything is dispatched',
  async run(env) {
    const { ctx, kernels } = env;
    const [nCtx, kvDim] = [16, 64];
    const kc = createTestBuffer(ctx, nCtx * kvDim * 2);
    const vc = createTestBuffer(ctx, nCtx * kvDim * 2);
    const scratch = createTestBuffer(ctx, nCtx * kvDim * 2);
    const rope: RopeConfig = { style: 'normal', nRot: 64, freqBase: 10000, freqScale: 1 };
    const enc = ctx.device.createCommandEncoder();
    const erase = (start: number, end: number, nMoved: number) => () =>
      kernels.encodeKvErase(enc, kc, vc, scratch, { start, end, nMoved, kvDim, nCtx, nHeadKv: 1, headDim: 64, rope });
    for (const [start, end, nMoved] of [[5, 3, 0], [-1, 2, 1], [2, 10, 7], [0, 0, 17], [3, 4, -1]]) {
      const e = catchError(erase(start, end, nMoved));
      check(e.code === 'range/out-of-bounds', `erase(${start}, ${end}, ${nMoved}) threw ${e.code}: ${e.message}`);
      check(e.details?.start === start && e.details?.end === end && e.details?.nCtx === nCtx, `erase details lack the numbers: ${JSON.stringify(e.details)}`);
    }
    const small = createTestBuffer(ctx, 100 * kvDim * 2);
    let e = catchError(() => kernels.encodeKvErase(enc, kc, vc, createTestBuffer(ctx, 8), { start: 0, end: 2, nMoved: 4, kvDim, nCtx, nHeadKv: 1, headDim: 64, rope }));
    check(e.code === 'range/out-of-bounds' && e.details?.needBytes === 4 * kvDim * 2, `a small scratch: ${e.code} ${JSON.stringify(e.details)}`);
    enc.finish();

    const frame = createFrameBuffer(ctx);
    const w = createWeightBuffers(ctx, 'w', GGML.Q8_0, 8, 64, new Uint8Array(8 * 2 * 34));
    e = catchError(() => kernels.matmul(w, createTestBuffer(ctx, 60 * 4), small, frame));
    check(e.code === 'range/out-of-bounds' && e.details?.rowBytes === 256, `x smaller than a row: ${e.code} ${JSON.stringify(e.details)}`);
    const step = kernels.matmul(w, createTestBuffer(ctx, 3 * 64 * 4), small, frame);
    const pass = ctx.device.createCommandEncoder().beginComputePass();
    e = catchError(() => step.encode(pass, 4));
    check(e.code === 'range/out-of-bounds' && e.details?.nTokens === 4 && e.details?.maxRows === 3, `4 tokens in 3 rows: ${JSON.stringify(e.details)}`);
    pass.end();
    e = catchError(() => kernels.attention(small, kc, vc, small, { nHead: 2, nHeadKv: 1, headDim: 64, scale: 1, nCtx: 32 }, frame));
    check(e.code === 'range/out-of-bounds' && e.details?.needBytes === 32 * 64 * 2, `a cache shorter than nCtx: ${JSON.stringify(e.details)}`);

    e = catchError(() => createWeightBuffers(ctx, 'w', 23, 8, 256, new Uint8Array(8 * 136)));
    check(e.code === 'gpu/unsupported-type' && e instanceof GpuError, `an unsupported type: ${e.code}`);
    e = catchError(() => createWeightBuffers(ctx, 'w', GGML.Q4_0, 8, 64, new Uint8Array(100)));
    check(e.code === 'range/out-of-bounds' && e.details?.needBytes === 8 * 2 * 18, `too few bytes: ${JSON.stringify(e.details)}`);
    destroyWeight(w);
  },
};

const errorScopeCase: GpuCase = {
  name: 'WebGPU validation errors and a missing adapter surface as typed GpuErrors',
  async run(env) {
    const { ctx } = env;
    let caught: unknown = null;
    try {
      await withErrorScopes(ctx.device, 'an invalid buffer', () =>
        ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }),
      );
    } catch (e) {
      caught = e;
    }
    check(caught instanceof GpuError && caught.code === 'gpu/validation' && caught.details.lost === false, `expected gpu/validation, got ${String(caught)}`);
    check(/an invalid buffer/.test((caught as GpuError).message), 'the message names the failed step');

    caught = null;
    try {
      await requestGpu({ gpu: { requestAdapter: async () => null } as unknown as GPU });
    } catch (e) {
      caught = e;
    }
    check(caught instanceof GpuError && caught.code === 'gpu/unavailable', `expected gpu/unavailable, got ${String(caught)}`);
  },
};

export const gpuCases: GpuCase[] = [
  ...matmulCases,
  splitCase,
  rmsnormCase,
  ropeCase,
  kvStoreCase,
  attentionCase,
  elementwiseCase,
  kvEraseCase,
  wideGridCase,
  boundsCase,
  errorScopeCase,
];
