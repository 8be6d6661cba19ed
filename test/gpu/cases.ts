// The GPU op tests, shared by the Node runner (test/gpu/ops.test.ts, Dawn)
// and the browser page (test/browser/pages/gpu-ops.ts, Chromium): every
// kernel and weight type on random inputs of awkward sizes against the
// engine's CPU op, in the pattern of llama.cpp's test-backend-ops.
//
// Error thresholds (normalized MSE against the CPU op) and why:
//   f32 matmul   1e-9   both f32; only the summation order differs
//   f16 matmul   1e-6   the CPU rounds activations to f16 (~2^-11 relative)
//   bf16 matmul  5e-5   the CPU rounds activations to bf16 (~2^-8 relative)
//   q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl and the K-quants  1e-12: both
//                       quantize activations the same way (Q8_0, Q8_1 or
//                       Q8_K, bit-exact) and take the same integer block dots;
//                       only the f32 sums of the block products differ (the
//                       CPU sums a K-quant super-block's integers first)
//   every matmul against an f64 product of the same dequantized weights: 1e-10
//                       (1e-7 over Q8_1 activations: their s = f16(d * sum(q))
//                       is not what the dequantized activations sum to)
//   attention    1e-6   the CPU rounds probabilities to f16 before P.V; the GPU
//                       keeps them f32 (the query is rounded on both sides)
//   rope         1e-11  same f32 angle; the kernels' own cos/sin (rope_math.wgsl)
//                       differ from libm by a few f32 ulps
//   rmsnorm, silu 1e-10 f32 vs f32 (the CPU sums squares in double)
//   kv store and add are bit-exact; kv erase moves bit-exactly and re-rotated
//   keys differ by at most one f16 ulp where cos/sin round differently.
import { GpuError } from '../../src/shared/errors.js';
import { requestGpu, withErrorScopes } from '../../src/gpu/device.js';
import { Kernels, actType as actTypeOf, attentionScratchBytes, attentionTilings, createQ8Acts, destroyQ8Acts, needsQ8Acts, type Q8Acts, type RopeConfig, type Step } from '../../src/gpu/kernels/index.js';
import { createWeightBuffers, destroyWeight } from '../../src/gpu/weights.js';
import { archCases } from './arch-cases.js';
import { imageAttentionCase } from './image-attention.js';
import type { CpuRope } from './cpu-ops.js';
import {
  GGML, Rng, catchError, check, checkEqual, checkNmse, createFrameBuffer, createTestBuffer, f16Bits, f16Value, nmse,
  randomWeightBytes, readBytes, readF32, readU16, runSteps, weightTypes, writeFrame, type GpuTestEnv,
} from './harness.js';

// GGUF ids of the activation types Q8_1 and Q8_K.
const Q8_1 = 9;
const Q8_K = 15;

/** The quantized weight types beyond Q8_0 and Q4_0: [name, GGUF id, block
 * elements, block bytes, offsets of its f16 scale fields, activation type]. */
const quantTypes = [
  ['q4_1', 3, 32, 20, [0, 2], Q8_1],
  ['q5_0', 6, 32, 22, [0], GGML.Q8_0],
  ['q5_1', 7, 32, 24, [0, 2], Q8_1],
  ['iq4_nl', 20, 32, 18, [0], GGML.Q8_0],
  ['q2_k', 10, 256, 84, [80, 82], Q8_K],
  ['q3_k', 11, 256, 110, [108], Q8_K],
  ['q4_k', 12, 256, 144, [0, 2], Q8_K],
  ['q5_k', 13, 256, 176, [0, 2], Q8_K],
  ['q6_k', 14, 256, 210, [208], Q8_K],
] as const;

// [rows, cols, tokens] for them: decode and both sides of the 32-token tile,
// and one large enough for the default's large prefill tile.
const blockShapes = [[7, 96, 1], [130, 288, 1], [130, 96, 17], [7, 288, 70], [1024, 64, 512]] as const;
const kShapes = [[7, 256, 1], [130, 512, 1], [130, 256, 17], [7, 512, 70]] as const;

/** Random GGUF blocks of one of quantTypes: every quant, high-bit and
 * sub-block scale byte random, the f16 scales (and minimums) set to small
 * positive values so products stay of unit size. */
function randomQuantBytes(rng: Rng, type: number, rows: number, cols: number): Uint8Array {
  const [, , block, bytes, halves] = quantTypes.find((t) => t[1] === type)!;
  const out = new Uint8Array(((rows * cols) / block) * bytes);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(0, 255);
  const dv = new DataView(out.buffer);
  const scale = block === 256 ? 1 / 256 : 1 / 8;
  for (let o = 0; o < out.length; o += bytes) {
    for (const h of halves) dv.setUint16(o + h, f16Bits(scale * (0.5 + rng.next())), true);
  }
  return out;
}

export interface GpuCase {
  name: string;
  run(env: GpuTestEnv): Promise<void>;
}

const matmulNmse: Record<string, number> = { f32: 1e-12, f16: 1e-10, bf16: 1e-10, q8_0: 1e-12, q4_0: 1e-12 };
for (const [name] of quantTypes) matmulNmse[name] = 1e-12;
// [rows, cols, tokens]: rows not multiples of the 4-row matvec or 64-row
// tile; token counts on both sides of the matvec/tiled switch and the 32-token tile.
const matmulShapes = [
  [1, 32, 1], [7, 96, 1], [130, 288, 1], [130, 96, 3], [7, 288, 17], [130, 32, 17], [1, 96, 64], [130, 288, 70],
] as const;

/** The GGUF type a matmul converts its activations to for these weights. */
const actType: Record<number, number> = { [GGML.F32]: GGML.F32, [GGML.F16]: GGML.F16, [GGML.BF16]: GGML.BF16, [GGML.Q8_0]: GGML.Q8_0, [GGML.Q4_0]: GGML.Q8_0 };
for (const [, type, , , , act] of quantTypes) actType[type] = act;
const actRowBytes = (type: number, cols: number) =>
  type === GGML.Q8_0 ? (cols / 32) * 34 : type === Q8_1 ? (cols / 32) * 36 : type === Q8_K ? (cols / 256) * 292 : type === GGML.F32 ? cols * 4 : cols * 2;

/** Q8_0 row bytes (d, 32 int8 per block) split like Q8Acts: int8 values and f32 scales. */
function q8Layout(bytes: Uint8Array, n: number): { quants: Uint8Array; scales: Float32Array } {
  const quants = new Uint8Array(n);
  const scales = new Float32Array(n / 32);
  for (let b = 0; b < n / 32; b++) {
    scales[b] = f16Value(bytes[b * 34] | (bytes[b * 34 + 1] << 8));
    quants.set(bytes.subarray(b * 34 + 2, b * 34 + 34), b * 32);
  }
  return { quants, scales };
}

async function gpuMatmul(env: GpuTestEnv, kernels: Kernels, type: number, wBytes: Uint8Array, rows: number, cols: number, x: Float32Array, T: number, opts: { maxBindingBytes?: number; accumulateOnto?: Float32Array } = {}): Promise<{ y: Float32Array; parts: number }> {
  const { ctx } = env;
  const w = createWeightBuffers(ctx, 'w', type, rows, cols, wBytes, { maxBindingBytes: opts.maxBindingBytes });
  const xb = createTestBuffer(ctx, x, 'x');
  const yb = createTestBuffer(ctx, opts.accumulateOnto ?? T * rows * 4, 'y');
  const frame = createFrameBuffer(ctx);
  const accumulate = !!opts.accumulateOnto;
  let acts: Q8Acts | undefined;
  if (needsQ8Acts(w.type)) {
    acts = createQ8Acts(ctx.device, 'x', T, cols, actTypeOf(w.type) as Q8Acts['type']);
    await runSteps(ctx, frame, [kernels.quantize(xb, acts, frame), kernels.matmul(w, acts, yb, frame, { accumulate })], T);
  } else {
    await runSteps(ctx, frame, [kernels.matmul(w, xb, yb, frame, { accumulate })], T);
  }
  const y = await readF32(ctx, yb, T * rows);
  const parts = w.parts.length;
  destroyWeight(w);
  for (const b of [xb, yb, frame]) b.destroy();
  if (acts) destroyQ8Acts(acts);
  return { y, parts };
}

/** y = x W^T in f64 from the engine's own dequantization of W and of x as
 * the CPU converts it for these weights (Q8_0, f16, bf16 or as it is). */
function referenceMatmul(env: GpuTestEnv, type: number, wBytes: Uint8Array, rows: number, cols: number, x: Float32Array, T: number): Float64Array {
  const w = env.cpu.dequantize(type, wBytes, rows * cols);
  const at = actType[type];
  const xa = new Float32Array(T * cols);
  for (let t = 0; t < T; t++) {
    const row = x.subarray(t * cols, (t + 1) * cols);
    xa.set(at === GGML.F32 ? row : env.cpu.dequantize(at, env.cpu.quantize(at, row, actRowBytes(at, cols)), cols), t * cols);
  }
  const y = new Float64Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += w[r * cols + c] * xa[t * cols + c];
      y[t * rows + r] = s;
    }
  }
  return y;
}

// The fallbacks: workgroup-memory reductions and the unpacked 8-bit dot,
// and only the large tile for the quantized prefill kernel (64 x 64, two
// blocks a stage; by default the small shapes here take 32 x 32, four a
// stage), never a subgroup variant: where the device has an int8
// subgroup-matrix config the default quantized prefill kernel is
// matmul_q8_sgmat.wgsl for the types below (then the bits compared are
// its against matmul_q8_tiled.wgsl's).
const fallback = (env: GpuTestEnv) => new Kernels(env.ctx, { subgroups: false, packedDot4: false, int8Matrix: false, q8Tile: { rows: 4, tokens: 4, blocks: 2 } });

// The weight types matmul_q8_sgmat.wgsl serves where the device has it.
const sgmatTypes = new Set(['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl']);
// The subgroup kernel with row groups of 2 invocations (several to a
// subgroup, where the default's 16 span several subgroups of SwiftShader's
// 4), an odd token count and workgroups of 32; never the matrix kernel.
const narrowSg = (env: GpuTestEnv) => new Kernels(env.ctx, { int8Matrix: false, q8Subgroups: true, q8SgTile: { rows: 2, tokens: 3, lanes: 2, workgroup: 32 } });

const matmulCase = (name: string, type: number, shapes: readonly (readonly [number, number, number])[], bytes: (rng: Rng, rows: number, cols: number) => Uint8Array): GpuCase => ({
  name: `matmul over ${name} weights matches the CPU op for decode and prefill shapes, fast path and fallback`,
  async run(env) {
    const rng = new Rng(1000 + type);
    let worstCpu = 0;
    let worstRef = 0;
    const slow = fallback(env);
    const narrow = narrowSg(env);
    const quantized = actType[type] !== GGML.F32 && actType[type] !== GGML.F16 && actType[type] !== GGML.BF16;
    let equalSg = 0;
    for (const [rows, cols, T] of shapes) {
      const wBytes = bytes(rng, rows, cols);
      const x = rng.floats(T * cols);
      const want = env.cpu.matmul(type, wBytes, rows, cols, x, T);
      const ref = referenceMatmul(env, type, wBytes, rows, cols, x, T);
      const ys: Float32Array[] = [];
      const paths: [string, Kernels][] = [['fast', env.kernels], ['fallback', slow]];
      if (quantized && T > 1 && narrow.q8Subgroups) paths.push(['narrow subgroup tile', narrow]);
      for (const [path, k] of paths) {
        const { y } = await gpuMatmul(env, k, type, wBytes, rows, cols, x, T);
        const shape = `${name} ${rows}x${cols}, ${T} tokens (${path})`;
        // Q8_1's s is f16(d * sum) rather than f16(d) * sum: not the dequantized activations.
        worstRef = Math.max(worstRef, checkNmse(`${shape} vs f64`, y, ref, actType[type] === Q8_1 ? 1e-7 : 1e-10));
        worstCpu = Math.max(worstCpu, checkNmse(`${shape} vs CPU`, y, want, matmulNmse[name]));
        ys.push(y);
      }
      // The quantized prefill kernels add integer block dots in column
      // order whatever their tile, 8-bit dot or sharing (subgroup shuffles
      // or workgroup memory): every path gives the same bits.
      if (T > 1 && quantized) {
        const what = env.kernels.int8Matrix && sgmatTypes.has(name) ? 'subgroup-matrix kernel' : 'default tile';
        checkEqual(`${name} ${rows}x${cols}, ${T} tokens: ${what} and the workgroup-memory kernel's 64x64`, ys[0], ys[1]);
        for (let i = 2; i < ys.length; i++) checkEqual(`${name} ${rows}x${cols}, ${T} tokens: ${paths[i][0]} and 64x64`, ys[i], ys[1]);
        if (narrow.q8Subgroups) equalSg++;
      }
    }
    slow.destroy();
    narrow.destroy();
    const sg = quantized ? `; ${equalSg} subgroup-kernel outputs bit-equal to the workgroup-memory kernel's` : '';
    const sgmat = env.kernels.int8Matrix && sgmatTypes.has(name) ? '; prefill through int8 subgroup matrices, bit-equal to the tiled kernel' : '';
    env.report(`matmul ${name}: NMSE vs CPU ${worstCpu.toExponential(2)} (limit ${matmulNmse[name].toExponential(0)}), vs f64 of the converted activations ${worstRef.toExponential(2)}${sg}${sgmat}`);
  },
});

const matmulCases: GpuCase[] = [
  ...weightTypes.map(([name, type]) => matmulCase(name, type, matmulShapes, (rng, rows, cols) => randomWeightBytes(rng, type, rows, cols))),
  ...quantTypes.map(([name, type, block]) => matmulCase(name, type, block === 256 ? kShapes : blockShapes, (rng, rows, cols) => randomQuantBytes(rng, type, rows, cols))),
];

// The RMSNorm fused into a decode step's matvec (matvec_q8_norm.wgsl)
// against rmsnorm with a Q8_0 output followed by the plain matvec: the same
// bytes of activations, so the same bits of y; stacked outputs, a weight
// split into parts, widths from one block to 4096 (the norm's loads in more
// than one round), accumulate, subgroup and workgroup-memory row sums. A batch ignores the fused norm and reads x.
const fusedNormMatvecCase: GpuCase = {
  name: 'a decode matvec with the RMSNorm fused computes the bits of rmsnorm (Q8_0 out) then matvec, one dispatch a part',
  async run(env) {
    const { ctx } = env;
    const rng = new Rng(43);
    // The fast paths and the fallbacks (workgroup-memory row sums, unpacked dot).
    const slow = fallback(env);
    // [name, type, cols, stacked rows]
    const configs = [
      ['q4_0', GGML.Q4_0, 2048, [96, 32, 32]],
      ['q4_0', GGML.Q4_0, 32, [7]],
      ['q8_0', GGML.Q8_0, 4096, [40, 24]],
      ['iq4_nl', 20, 320, [33]],
    ] as const;
    let checked = 0;
    for (const [name, type, cols, stack] of configs) {
      const rows = stack.reduce((a, b) => a + b, 0);
      const bytes = type === GGML.Q4_0 || type === GGML.Q8_0 ? randomWeightBytes(rng, type, rows, cols) : randomQuantBytes(rng, type, rows, cols);
      for (const maxBindingBytes of [undefined, Math.ceil(bytes.length / 3 / 64) * 64]) {
        const w = createWeightBuffers(ctx, 'w', type, rows, cols, bytes, { maxBindingBytes });
        if (stack.length > 1) w.stack = [...stack];
        for (const [kernels, accumulate] of [[env.kernels, false], [env.kernels, true], [slow, false]] as const) {
          const frame = createFrameBuffer(ctx);
          const x = rng.floats(cols, 3);
          const xb = createTestBuffer(ctx, x, 'x');
          const nw = createTestBuffer(ctx, rng.floats(cols, 2), 'norm weight');
          const start = rng.floats(rows);
          const outs = [0, 1].map(() => stack.map((r, i) => createTestBuffer(ctx, start.slice(stack.slice(0, i).reduce((a, b) => a + b, 0)).subarray(0, r), 'y')));
          const acts = createQ8Acts(ctx.device, 'x', 1, cols);
          const eps = 1e-5;
          const plain = [kernels.rmsnorm(xb, nw, null, cols, eps, frame, { q8: acts }), kernels.matmul(w, acts, outs[0].length > 1 ? outs[0] : outs[0][0], frame, { accumulate })];
          const fused = kernels.matmul(w, acts, outs[1].length > 1 ? outs[1] : outs[1][0], frame, { accumulate, norm: { x: xb, weight: nw, eps } });
          let dispatches = 0;
          fused.encode({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups: () => dispatches++ } as unknown as GPUComputePassEncoder, 1);
          check(dispatches === w.parts.length, `${name}: ${dispatches} dispatches for ${w.parts.length} parts`);
          await runSteps(ctx, frame, plain, 1);
          await runSteps(ctx, frame, [fused], 1);
          for (const [i, r] of stack.entries()) {
            checkEqual(`${name} ${cols} cols, stacked ${stack.join('+')} (${w.parts.length} parts)${accumulate ? ' +=' : ''}, output ${i}${kernels === slow ? ' (fallback)' : ''}`, await readF32(ctx, outs[1][i], r), await readF32(ctx, outs[0][i], r));
          }
          destroyQ8Acts(acts);
          for (const b of [frame, xb, nw, ...outs.flat()]) b.destroy();
          checked++;
        }
        destroyWeight(w);
      }
    }
    slow.destroy();
    const e = catchError(() => env.kernels.matmul(createWeightBuffers(ctx, 'w', 12, 1, 256, randomQuantBytes(rng, 12, 1, 256)), createQ8Acts(ctx.device, 'x', 1, 256, 'q8_k'), createTestBuffer(ctx, 4), createFrameBuffer(ctx), { norm: { x: createTestBuffer(ctx, 1024), weight: createTestBuffer(ctx, 1024), eps: 1e-5 } }));
    check(e.code === 'argument/invalid', `a fused norm over Q8_K activations: ${e.code} ${e.message}`);
    env.report(`fused norm matvec: ${checked} cases bit-equal to rmsnorm then matvec`);
  },
};

const stackedMatmulCase: GpuCase = {
  name: 'a stacked weight (Q, K and V; gate and up) writes each output bit for bit as its own matmul does, one dispatch for all',
  async run(env) {
    const { ctx, kernels } = env;
    const rng = new Rng(41);
    // [name, type, cols, stacked rows, tokens]: decode and prefill; rows that
    // split no 4-row group or 64-row tile evenly.
    const configs = [
      ['f16', GGML.F16, 96, [70, 34, 34], [1, 17]],
      ['q4_0', GGML.Q4_0, 96, [130, 7, 7], [1, 40]],
      ['q4_1', 3, 96, [64, 64], [1, 33]],
      ['q4_k', 12, 256, [66, 17, 17], [1, 35]],
    ] as const;
    let checked = 0;
    for (const [name, type, cols, stack, Ts] of configs) {
      const pieces = stack.map((rows) => (type === GGML.F16 || type === GGML.Q4_0 ? randomWeightBytes(rng, type, rows, cols) : randomQuantBytes(rng, type, rows, cols)));
      const all = new Uint8Array(pieces.reduce((a, p) => a + p.length, 0));
      pieces.reduce((o, p) => (all.set(p, o), o + p.length), 0);
      const rows = stack.reduce((a, b) => a + b, 0);
      // Also split into parts whose bounds fall inside the stacked weights.
      for (const maxBindingBytes of [undefined, Math.ceil(all.length / 3 / 64) * 64]) {
        const w = createWeightBuffers(ctx, 'w', type, rows, cols, all, { maxBindingBytes });
        w.stack = [...stack];
        for (const T of Ts) {
          const x = rng.floats(T * cols);
          const want = [];
          for (const [i, r] of stack.entries()) want.push((await gpuMatmul(env, kernels, type, pieces[i], r, cols, x, T)).y);
          const frame = createFrameBuffer(ctx);
          const xb = createTestBuffer(ctx, x, 'x');
          const ys = stack.map((r) => createTestBuffer(ctx, T * r * 4, 'y'));
          const steps: Step[] = [];
          let input: GPUBuffer | Q8Acts = xb;
          if (needsQ8Acts(w.type)) {
            input = createQ8Acts(ctx.device, 'x', T, cols, actTypeOf(w.type) as Q8Acts['type']);
            steps.push(kernels.quantize(xb, input, frame));
          }
          const mm = kernels.matmul(w, input, ys, frame);
          let dispatches = 0;
          mm.encode({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups: () => dispatches++ } as unknown as GPUComputePassEncoder, T);
          check(dispatches === w.parts.length, `${name}: ${dispatches} dispatches for a weight of ${w.parts.length} parts`);
          await runSteps(ctx, frame, [...steps, mm], T);
          for (const [i, r] of stack.entries()) checkEqual(`${name} stacked ${stack.join('+')} (${w.parts.length} parts), output ${i}, ${T} tokens`, await readF32(ctx, ys[i], T * r), want[i]);
          if (input !== xb) destroyQ8Acts(input as Q8Acts);
          for (const b of [frame, xb, ...ys]) b.destroy();
          checked++;
        }
        destroyWeight(w);
      }
    }
    const e = catchError(() => kernels.matmul({ ...createWeightBuffers(ctx, 'w', GGML.F32, 8, 32, new Uint8Array(8 * 32 * 4)), stack: [4, 4] }, createTestBuffer(ctx, 128), createTestBuffer(ctx, 32), createFrameBuffer(ctx)));
    check(e.code === 'argument/invalid' && /stacked from 2/.test(e.message), `one output for a stack of two: ${e.message}`);
    env.report(`stacked matmul: ${checked} shapes bit-equal to the separate matmuls`);
  },
};

const accumulateCase: GpuCase = {
  name: 'matmul with accumulate adds W x onto y (the residual) for decode and prefill',
  async run(env) {
    const rng = new Rng(5);
    for (const [, type] of [['q4_0', GGML.Q4_0], ['f16', GGML.F16]] as const) {
      const [rows, cols] = [130, 96];
      const wBytes = randomWeightBytes(rng, type, rows, cols);
      for (const T of [1, 17]) {
        const x = rng.floats(T * cols);
        const y0 = rng.floats(T * rows);
        const plain = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T);
        const acc = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T, { accumulateOnto: y0 });
        checkEqual(`type ${type} accumulate, ${T} tokens`, acc.y, plain.y.map((v, i) => Math.fround(y0[i] + v)));
      }
    }
  },
};

const quantizeCase: GpuCase = {
  name: "quantize writes the CPU's Q8_0 bytes and scales exactly, ties and zero blocks included",
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(3);
    const frame = createFrameBuffer(ctx);
    for (const [cols, T] of [[32, 1], [96, 3], [2048, 2], [288, 17]]) {
      const x = rng.floats(T * cols, 3);
      // A zero block, a block of one value, and values that land on .5 steps.
      x.fill(0, 0, 32);
      if (T * cols >= 96) {
        x.fill(1.5, 32, 64);
        for (let j = 64; j < 96; j++) x[j] = ((j % 7) - 3) * (127 / 254) * (j === 64 ? 2 : 1);
      }
      const xb = createTestBuffer(ctx, x);
      const acts = createQ8Acts(ctx.device, 'x', T, cols);
      await runSteps(ctx, frame, [kernels.quantize(xb, acts, frame)], T);
      const gotQ = new Uint8Array(await readBytes(ctx, acts.quants, T * cols));
      const gotD = await readF32(ctx, acts.scales, (T * cols) / 32);
      for (let t = 0; t < T; t++) {
        const want = q8Layout(cpu.quantize(GGML.Q8_0, x.subarray(t * cols, (t + 1) * cols), actRowBytes(GGML.Q8_0, cols)), cols);
        checkEqual(`q8 quants row ${t} of ${T}x${cols}`, gotQ.subarray(t * cols, (t + 1) * cols), want.quants);
        checkEqual(`q8 scales row ${t} of ${T}x${cols}`, gotD.subarray((t * cols) / 32, ((t + 1) * cols) / 32), want.scales);
      }
      for (const b of [xb, acts.quants, acts.scales]) b.destroy();
    }
  },
};

/** Q8_1 row bytes ({f16 d, f16 s, qs[32]}) and Q8_K row bytes ({f32 d,
 * qs[256], i16 bsums[16]}) split like Q8Acts: quants, a scale per
 * 32-element block (Q8_K's repeated over its super-block) and the block's
 * sums word (Q8_1: s as f32 bits; Q8_K: its two 16-element sums). */
function q8xLayout(type: number, bytes: Uint8Array, n: number): { quants: Uint8Array; scales: Float32Array; sums: Uint32Array } {
  const quants = new Uint8Array(n);
  const scales = new Float32Array(n / 32);
  const sums = new Uint32Array(n / 32);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === Q8_1) {
    for (let b = 0; b < n / 32; b++) {
      scales[b] = f16Value(dv.getUint16(b * 36, true));
      sums[b] = new Uint32Array(new Float32Array([f16Value(dv.getUint16(b * 36 + 2, true))]).buffer)[0];
      quants.set(bytes.subarray(b * 36 + 4, b * 36 + 36), b * 32);
    }
  } else {
    for (let sb = 0; sb < n / 256; sb++) {
      const o = sb * 292;
      quants.set(bytes.subarray(o + 4, o + 260), sb * 256);
      for (let j = 0; j < 8; j++) {
        scales[sb * 8 + j] = dv.getFloat32(o, true);
        sums[sb * 8 + j] = ((dv.getUint16(o + 260 + 4 * j, true)) | (dv.getUint16(o + 262 + 4 * j, true) << 16)) >>> 0;
      }
    }
  }
  return { quants, scales, sums };
}

const quantizeXCase: GpuCase = {
  name: "quantize writes the CPU's Q8_1 and Q8_K activations exactly: quants, scales and sums, ties and zero blocks included",
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(4);
    const frame = createFrameBuffer(ctx);
    for (const [type, name] of [[Q8_1, 'q8_1'], [Q8_K, 'q8_k']] as const) {
      for (const [cols, T] of [[256, 1], [512, 3], [2048, 2], [768, 17]]) {
        const x = rng.floats(T * cols, 3);
        // A zero super-block; one whose largest magnitudes tie with opposite
        // signs (the first sets the sign of the scale); values on .5 steps.
        x.fill(0, 0, 256);
        if (T * cols >= 512) {
          for (let j = 256; j < 512; j++) x[j] = ((j % 9) - 4) * 0.25;
          x[300] = -4;
          x[400] = 4;
        }
        const xb = createTestBuffer(ctx, x);
        const acts = createQ8Acts(ctx.device, 'x', T, cols, name);
        await runSteps(ctx, frame, [kernels.quantize(xb, acts, frame)], T);
        const gotQ = new Uint8Array(await readBytes(ctx, acts.quants, T * cols));
        const gotD = await readF32(ctx, acts.scales, (T * cols) / 32);
        const gotS = new Uint32Array(await readBytes(ctx, acts.sums!, (T * cols) / 32 * 4));
        for (let t = 0; t < T; t++) {
          const want = q8xLayout(type, cpu.quantize(type, x.subarray(t * cols, (t + 1) * cols), actRowBytes(type, cols)), cols);
          const nb = cols / 32;
          checkEqual(`${name} quants row ${t} of ${T}x${cols}`, gotQ.subarray(t * cols, (t + 1) * cols), want.quants);
          checkEqual(`${name} scales row ${t} of ${T}x${cols}`, gotD.subarray(t * nb, (t + 1) * nb), want.scales);
          checkEqual(`${name} sums row ${t} of ${T}x${cols}`, gotS.subarray(t * nb, (t + 1) * nb), want.sums);
        }
        xb.destroy();
        destroyQ8Acts(acts);
      }
    }
  },
};

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
        const split = await gpuMatmul(env, env.kernels, type, wBytes, rows, cols, x, T, { maxBindingBytes: 200 });
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

// See ATTENTION_NMSE for why this is not tighter.
const ROPE_NMSE = 1e-10;

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
        worst = Math.max(worst, checkNmse(`rope ${c.style} nRot=${c.nRot} at ${cell0}+${T}`, got, want, ROPE_NMSE));
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

// Limits that hold on real GPUs as well as on SwiftShader: a GPU compiler
// may fuse a multiply and an add into one rounding (WGSL allows it) and its
// exp is within a few ulps, not correctly rounded. An H100 gave 1.9e-9 for
// a 150-cell decode with 20-wide heads and 2.4e-11 for RoPE at position
// 4000, where SwiftShader gives a tenth of that.
const ATTENTION_NMSE = 1e-8;

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
      // Heads that are not whole runs of 8 (the real tiny Llama has head_dim 4).
      { nHead: 2, nHeadKv: 2, headDim: 4, nCtx: 300, runs: [[0, 9], [200, 1], [250, 1]] },
      { nHead: 4, nHeadKv: 2, headDim: 6, nCtx: 40, runs: [[0, 7], [30, 1]] },
      { nHead: 3, nHeadKv: 1, headDim: 20, nCtx: 200, runs: [[0, 33], [150, 1]] },
    ];
    let worst = 0;
    let exact = 0;
    let total = 0;
    // Brief: GQA, a head size of 4 and a split decode are kept.
    for (const c of env.brief ? [configs[1], configs[4]] : configs) {
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
        const bytes = attentionScratchBytes(shape);
        const scratch = bytes > 0 ? createTestBuffer(ctx, bytes) : null;
        await runSteps(ctx, frame, [kernels.attention(qb, kc, vc, ob, shape, frame, scratch)], T, cell0);
        const got = await readF32(ctx, ob, q.length);
        const what = `attention ${c.nHead}/${c.nHeadKv}x${c.headDim} at ${cell0}+${T}${T === 1 && scratch ? ' (split)' : ''}`;
        worst = Math.max(worst, checkNmse(what, got, want, ATTENTION_NMSE));
        for (let i = 0; i < got.length; i++) exact += got[i] === want[i] ? 1 : 0;
        total += got.length;
      }
    }
    env.report(`attention: NMSE vs CPU ${worst.toExponential(2)} (limit ${ATTENTION_NMSE.toExponential(0)}); ${((100 * exact) / total).toFixed(1)}% of outputs bit-equal`);
  },
};

// The query-tiled prefill kernel (attention_tiled.wgsl) against the
// one-workgroup-per-row kernel (`attn`): the same rounding points and the
// same summation orders, so the same bits; and both against the CPU op.
// Shapes: tiles cut short (T not a multiple of the tile's rows), T = 2 and
// 3, tokens after a cached prefix, GQA groups 1, 3, 4, 8 and 64 (more heads
// than a tile holds), head_dim 4 to 256 (4 and 74 end in a tail shorter
// than 8, 74 and 80 are no powers of two), windows shorter than T, soft-cap,
// a scale on q, n_kv up to n_ctx.
const attentionTiledCase: GpuCase = {
  name: 'tiled prefill attention computes the bits of the per-row kernel and matches the CPU op',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(61);
    const frame = createFrameBuffer(ctx);
    // n_ctx <= 128: one decode slice, so no split pipelines to build.
    const configs = [
      { nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 128, window: 0, softcap: 0, qScale: 1, runs: [[0, 37], [7, 3], [100, 28]] },
      { nHead: 4, nHeadKv: 1, headDim: 64, nCtx: 64, window: 7, softcap: 2, qScale: 1, runs: [[0, 40], [30, 20]] },
      { nHead: 8, nHeadKv: 1, headDim: 128, nCtx: 64, window: 0, softcap: 0, qScale: 1, runs: [[0, 20], [50, 2]] },
      { nHead: 4, nHeadKv: 4, headDim: 256, nCtx: 64, window: 0, softcap: 0, qScale: 1, runs: [[0, 17], [30, 34]] },
      { nHead: 6, nHeadKv: 2, headDim: 74, nCtx: 64, window: 0, softcap: 0, qScale: 1, runs: [[0, 33], [50, 11]] },
      { nHead: 4, nHeadKv: 1, headDim: 80, nCtx: 64, window: 10, softcap: 30, qScale: 0.125, runs: [[0, 45], [40, 24]] },
      { nHead: 64, nHeadKv: 1, headDim: 32, nCtx: 16, window: 0, softcap: 0, qScale: 1, runs: [[0, 5], [9, 3]] },
      { nHead: 2, nHeadKv: 2, headDim: 4, nCtx: 16, window: 5, softcap: 0, qScale: 1, runs: [[0, 9], [3, 2]] },
    ];
    let worst = 0;
    let outputs = 0;
    let tilings = 0;
    let stored = 0;
    for (const c of configs) {
      const kvDim = c.nHeadKv * c.headDim;
      const scale = c.qScale === 1 ? 1 / Math.sqrt(c.headDim) : 1;
      const shape = { nHead: c.nHead, nHeadKv: c.nHeadKv, headDim: c.headDim, scale, qScale: c.qScale, nCtx: c.nCtx, window: c.window, softcap: c.softcap };
      const kc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      const vc = createTestBuffer(ctx, c.nCtx * kvDim * 2);
      const bytes = attentionScratchBytes(shape);
      const scratch = bytes > 0 ? createTestBuffer(ctx, bytes) : null;
      for (const [run, [cell0, T]] of c.runs.entries()) {
        const nKv = cell0 + T;
        const k = rng.floats(nKv * kvDim);
        const v = rng.floats(nKv * kvDim);
        const q = rng.floats(T * c.nHead * c.headDim, 3);
        const scaledQ = q.map((x) => Math.fround(x * Math.fround(c.qScale)));
        const want = cpu.attentionWindow(scaledQ, k, v, cell0, T, shape);
        await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, c.nCtx, frame)], nKv, 0);
        const qb = createTestBuffer(ctx, q);
        const tiled = createTestBuffer(ctx, q.length * 4);
        const rows = createTestBuffer(ctx, q.length * 4);
        // A session's scratch for this batch: every score stored once, one dispatch.
        const full = createTestBuffer(ctx, attentionScratchBytes(shape, T));
        await runSteps(ctx, frame, [kernels.attention(qb, kc, vc, tiled, shape, frame, full), kernels.attention(qb, kc, vc, rows, shape, frame, scratch, undefined, 'rows')], T, cell0);
        const got = await readF32(ctx, tiled, q.length);
        const ref = await readF32(ctx, rows, q.length);
        const what = `tiled attention ${c.nHead}/${c.nHeadKv}x${c.headDim} window ${c.window} softcap ${c.softcap} at ${cell0}+${T}`;
        checkEqual(`${what} (bits vs attn)`, new Uint32Array(got.buffer), new Uint32Array(ref.buffer));
        worst = Math.max(worst, checkNmse(what, got, want, ATTENTION_NMSE));
        outputs += got.length;
        // Every tiling a batch may get (small batches take the smallest
        // tile by default): the same bits, with the scores stored in chunks
        // of one or two tiles' rows (a dispatch each), or with no scratch
        // for them, recomputed in each pass. Runs of a shape alternate the
        // two, so each tiling is checked both ways.
        // Brief: the first run of each shape only (a new Kernels compiles
        // every pipeline again).
        for (const [i, t] of (env.brief && run > 0 ? [] : attentionTilings(c.nHead, c.nHeadKv, c.headDim)).entries()) {
          const fixed = new Kernels(ctx, { attnTileRows: t.rows });
          const chunked = (i + run) % 2 === 0;
          const small = chunked ? createTestBuffer(ctx, c.nHead * c.nCtx * t.rows * (1 + (i % 4 >> 1)) * 4) : scratch;
          await runSteps(ctx, frame, [fixed.attention(qb, kc, vc, tiled, shape, frame, small)], T, cell0);
          checkEqual(`${what} (tile of ${t.rows} x ${t.heads}, ${t.cells} cells, scores ${chunked ? 'stored in chunks' : 'recomputed'}: bits vs attn)`, new Uint32Array((await readF32(ctx, tiled, q.length)).buffer), new Uint32Array(ref.buffer));
          if (chunked) small?.destroy();
          fixed.destroy();
          tilings++;
          stored += chunked ? 1 : 0;
        }
        full.destroy();
      }
    }
    env.report(`tiled attention: ${outputs} outputs bit-equal to attn, scores stored (and in ${tilings} runs with the tiling fixed, every tiling of each shape, ${stored} with the scores stored in chunks, the others recomputed); NMSE vs CPU ${worst.toExponential(2)} (limit ${ATTENTION_NMSE.toExponential(0)})`);
  },
};

// Decode attention (attention_decode.wgsl, one query row, the cells in
// slices of 128): contexts on both sides of a slice's end and of two (1,
// 128, 129, 255, 256, 257, 2048 cells: one dispatch within a slice, three
// past it), GQA groups 1, 2, 4, 7 and 16 (more than the 8 heads a workgroup
// takes), head_dim 4 (no run of 8), 20, 64, 128 and 256, windows shorter and
// longer than a slice, soft-cap and a scale on q; against the CPU op, and
// the fused Q8_0 output bit for bit what quantize makes of the f32 output.
const attentionDecodeCase: GpuCase = {
  name: 'decode attention (split-K over slices of cells) matches the CPU op at every depth, one dispatch within a slice, its fused Q8_0 output bit for bit quantize',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(29);
    const frame = createFrameBuffer(ctx);
    // [heads, kv heads, head_dim, n_ctx, window, softcap, q scale, decode cells]
    const configs = [
      [8, 2, 64, 2048, 0, 0, 1, [1, 128, 129, 255, 256, 257, 2048]],
      [14, 2, 64, 300, 0, 0, 1, [1, 257]],
      [16, 1, 128, 512, 0, 0, 1, [100, 300]],
      [4, 4, 128, 2048, 0, 0, 1, [2048]],
      [6, 3, 256, 300, 0, 0, 1, [255, 256, 257]],
      [4, 2, 64, 400, 8, 2, 0.125, [3, 300]],
      [4, 2, 64, 2048, 1000, 30, 1, [257, 2048]],
      [2, 2, 4, 300, 0, 0, 1, [1, 256, 257]],
      [3, 1, 20, 300, 0, 0, 1, [200]],
    ] as const;
    let checked = 0;
    let quantized = 0;
    let worst = 0;
    // Brief: one slice and three slices, GQA, a window with soft-cap, head size 4.
    const brief = [[8, 2, 64, 2048, 0, 0, 1, [1, 2048]], configs[5], configs[7]] as const;
    for (const [nHead, nHeadKv, headDim, nCtx, window, softcap, qScale, cells] of env.brief ? brief : configs) {
      const kvDim = nHeadKv * headDim;
      const scale = qScale === 1 ? 1 / Math.sqrt(headDim) : 1;
      const shape = { nHead, nHeadKv, headDim, scale, nCtx, window, softcap, qScale };
      const kc = createTestBuffer(ctx, nCtx * kvDim * 2);
      const vc = createTestBuffer(ctx, nCtx * kvDim * 2);
      const k = rng.floats(nCtx * kvDim);
      const v = rng.floats(nCtx * kvDim);
      await runSteps(ctx, frame, [kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, nCtx, frame)], nCtx, 0);
      const bytes = attentionScratchBytes(shape);
      const scratch = bytes > 0 ? createTestBuffer(ctx, bytes) : null;
      const qDim = nHead * headDim;
      const q = rng.floats(qDim, 3);
      const scaledQ = q.map((x) => Math.fround(x * Math.fround(qScale)));
      const qb = createTestBuffer(ctx, q);
      const outs = [createTestBuffer(ctx, qDim * 4), createTestBuffer(ctx, qDim * 4)];
      // Heads of whole Q8_0 blocks also quantize the output in the kernel;
      // the other output goes through quantize.
      const fused = headDim % 32 === 0 ? createQ8Acts(ctx.device, 'fused', 1, qDim) : undefined;
      const separate = fused ? createQ8Acts(ctx.device, 'separate', 1, qDim) : undefined;
      for (const nKv of cells) {
        const want = cpu.attentionWindow(scaledQ, k.subarray(0, nKv * kvDim), v.subarray(0, nKv * kvDim), nKv - 1, 1, shape);
        const got: Float32Array[] = [];
        let dispatches = 0;
        for (let i = 0; i < 2; i++) {
          const step = kernels.attention(qb, kc, vc, outs[i], shape, frame, scratch, i === 1 ? fused : undefined);
          if (i === 1) step.encode({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups: () => dispatches++ } as unknown as GPUComputePassEncoder, 1, nKv);
          writeFrame(ctx, frame, 1, nKv - 1);
          await withErrorScopes(ctx.device, step.label, () => {
            const enc = ctx.device.createCommandEncoder();
            const pass = enc.beginComputePass();
            step.encode(pass, 1, nKv);
            if (i === 0 && separate) kernels.quantize(outs[0], separate, frame).encode(pass, 1);
            pass.end();
            ctx.device.queue.submit([enc.finish()]);
          });
          got.push(await readF32(ctx, outs[i], qDim));
        }
        const what = `decode attention ${nHead}/${nHeadKv}x${headDim} window ${window} softcap ${softcap} at ${nKv} cells`;
        check(dispatches === (nKv <= 128 ? 1 : 3), `${what}: ${dispatches} dispatches`);
        worst = Math.max(worst, checkNmse(what, got[0], want, ATTENTION_NMSE));
        checkEqual(`${what}: with and without the q8 output`, got[1], got[0]);
        if (fused && separate) {
          checkEqual(`${what}: q8 quants`, new Uint8Array(await readBytes(ctx, fused.quants, qDim)), new Uint8Array(await readBytes(ctx, separate.quants, qDim)));
          checkEqual(`${what}: q8 scales`, await readF32(ctx, fused.scales, qDim / 32), await readF32(ctx, separate.scales, qDim / 32));
          quantized++;
        }
        checked++;
      }
      for (const b of [kc, vc, scratch, qb, ...outs]) b?.destroy();
      for (const a of [fused, separate]) if (a) destroyQ8Acts(a);
    }
    env.report(`decode attention: ${checked} contexts, NMSE vs CPU ${worst.toExponential(2)} (limit ${ATTENTION_NMSE.toExponential(0)}), one dispatch within a slice, three past it (${quantized} with the Q8_0 output fused, bit-equal to quantize)`);
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
      // n_rot not a multiple of 4 (NeoX pairs share words), and tiny heads.
      { headDim: 12, style: 'neox', nRot: 6, used: 37, start: 3, end: 20 },
      { headDim: 10, style: 'normal', nRot: 6, used: 40, start: 1, end: 2 },
      { headDim: 4, style: 'normal', nRot: 4, used: 33, start: 5, end: 12 },
      { headDim: 4, style: 'neox', nRot: 2, used: 40, start: 0, end: 39 },
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
        kernels.kvErase(kc, vc, scratch, { kvDim, nCtx, nHeadKv, headDim: r.headDim, rope }).encode(enc, r.start, r.end, nMoved);
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
    const eraseStep = kernels.kvErase(kc, vc, scratch, { kvDim, nCtx, nHeadKv: 1, headDim: 64, rope });
    const erase = (start: number, end: number, nMoved: number) => () => eraseStep.encode(enc, start, end, nMoved);
    for (const [start, end, nMoved] of [[5, 3, 0], [-1, 2, 1], [2, 10, 7], [0, 0, 17], [3, 4, -1]]) {
      const e = catchError(erase(start, end, nMoved));
      check(e.code === 'range/out-of-bounds', `erase(${start}, ${end}, ${nMoved}) threw ${e.code}: ${e.message}`);
      check(e.details?.start === start && e.details?.end === end && e.details?.nCtx === nCtx, `erase details lack the numbers: ${JSON.stringify(e.details)}`);
    }
    const small = createTestBuffer(ctx, 100 * kvDim * 2);
    let e = catchError(() => kernels.kvErase(kc, vc, createTestBuffer(ctx, 8), { kvDim, nCtx, nHeadKv: 1, headDim: 64, rope }).encode(enc, 0, 2, 4));
    check(e.code === 'range/out-of-bounds' && e.details?.needBytes === 4 * kvDim * 2, `a small scratch: ${e.code} ${JSON.stringify(e.details)}`);
    enc.finish();

    const frame = createFrameBuffer(ctx);
    const w = createWeightBuffers(ctx, 'w', GGML.F16, 8, 64, new Uint8Array(8 * 64 * 2));
    e = catchError(() => kernels.matmul(w, createTestBuffer(ctx, 60 * 4), small, frame));
    check(e.code === 'range/out-of-bounds' && e.details?.rowBytes === 256, `x smaller than a row: ${e.code} ${JSON.stringify(e.details)}`);
    const step = kernels.matmul(w, createTestBuffer(ctx, 3 * 64 * 4), small, frame);
    const pass = ctx.device.createCommandEncoder().beginComputePass();
    e = catchError(() => step.encode(pass, 4));
    check(e.code === 'range/out-of-bounds' && e.details?.nTokens === 4 && e.details?.maxRows === 3, `4 tokens in 3 rows: ${JSON.stringify(e.details)}`);
    pass.end();
    // Quantized weights take Q8_0 activations of their width, never f32 rows.
    const wq = createWeightBuffers(ctx, 'wq', GGML.Q4_0, 8, 64, new Uint8Array(8 * 2 * 18));
    e = catchError(() => kernels.matmul(wq, createTestBuffer(ctx, 3 * 64 * 4), small, frame));
    check(e.code === 'argument/invalid', `f32 input to q4_0 weights: ${e.code}`);
    const acts = createQ8Acts(ctx.device, 'x', 2, 96);
    e = catchError(() => kernels.matmul(wq, acts, small, frame));
    check(e.code === 'argument/invalid' && e.details?.actsCols === 96, `96-wide activations for 64 columns: ${JSON.stringify(e.details)}`);
    destroyWeight(wq);
    // The subgroup kernel's tile: R rows from R invocations of a row group.
    for (const t of [{ rows: 8, tokens: 4, lanes: 4, workgroup: 64 }, { rows: 4, tokens: 5, lanes: 16, workgroup: 64 }, { rows: 4, tokens: 2, lanes: 16, workgroup: 512 }, { rows: 4, tokens: 2, lanes: 12, workgroup: 48 }]) {
      e = catchError(() => new Kernels(ctx, { q8SgTile: t }));
      check(e.code === 'argument/invalid' && e.details?.lanes === t.lanes, `q8SgTile ${JSON.stringify(t)}: ${e.code} ${JSON.stringify(e.details)}`);
    }
    // The subgroup prefill matmul is opt-in, and only where the adapter has subgroups.
    check(!kernels.q8Subgroups, `q8Subgroups ${kernels.q8Subgroups} by default`);
    const sgOn = new Kernels(ctx, { q8Subgroups: true });
    check(sgOn.q8Subgroups === ctx.caps.hasSubgroups && sgOn.subgroups === ctx.caps.hasSubgroups, `q8Subgroups: true with subgroups ${ctx.caps.hasSubgroups} gives ${sgOn.q8Subgroups}`);
    sgOn.destroy();
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


const fusedQ8Case: GpuCase = {
  name: 'rmsnorm and silu_mul fused with Q8_0 quantization give the bytes of the CPU op followed by quantize_row',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(37);
    const frame = createFrameBuffer(ctx);
    let qDiff = 0;
    let qTotal = 0;
    let dDiff = 0;
    const compare = (what: string, gotQ: Uint8Array, gotD: Float32Array, rows: Float32Array[], cols: number) => {
      rows.forEach((row, t) => {
        const want = q8Layout(cpu.quantize(GGML.Q8_0, row, actRowBytes(GGML.Q8_0, cols)), cols);
        for (let i = 0; i < cols; i++) {
          const d = Math.abs(((gotQ[t * cols + i] << 24) >> 24) - ((want.quants[i] << 24) >> 24));
          check(d <= 1, `${what} row ${t}: quant ${i} differs by ${d}`);
          qDiff += d;
        }
        for (let b = 0; b < cols / 32; b++) dDiff += gotD[t * (cols / 32) + b] === want.scales[b] ? 0 : 1;
        qTotal += cols;
      });
    };
    for (const [n, T] of [[64, 1], [288, 17], [2048, 2]]) {
      const x = rng.floats(T * n, 3);
      const w = rng.floats(n);
      const eps = 1e-5;
      const normed = cpu.rmsnorm(x, w, T, n, eps);
      const xb = createTestBuffer(ctx, x);
      const wb = createTestBuffer(ctx, w);
      const yb = createTestBuffer(ctx, T * n * 4);
      const acts = createQ8Acts(ctx.device, 'x', T, n);
      await runSteps(ctx, frame, [kernels.rmsnorm(xb, wb, yb, n, eps, frame, { q8: acts })], T);
      const rows = Array.from({ length: T }, (_, t) => normed.subarray(t * n, (t + 1) * n));
      compare(`rmsnorm_q8 n=${n}`, new Uint8Array(await readBytes(ctx, acts.quants, T * n)), await readF32(ctx, acts.scales, (T * n) / 32), rows, n);
      checkNmse(`rmsnorm_q8 n=${n} f32 output`, await readF32(ctx, yb, T * n), normed, 1e-12);
      // The last row only, into row 0, without an f32 output.
      const last = createQ8Acts(ctx.device, 'last', 1, n);
      await runSteps(ctx, frame, [kernels.rmsnorm(xb, wb, null, n, eps, frame, { q8: last, lastRowOnly: true })], T);
      compare(`rmsnorm_q8 last row n=${n}`, new Uint8Array(await readBytes(ctx, last.quants, n)), await readF32(ctx, last.scales, n / 32), [rows[T - 1]], n);

      const a = rng.floats(T * n, 3);
      const b = rng.floats(T * n);
      const ab = createTestBuffer(ctx, a);
      await runSteps(ctx, frame, [kernels.siluMul(ab, createTestBuffer(ctx, b), n, frame, { q8: acts })], T);
      const prod = cpu.siluMul(a, b);
      compare(`silu_mul_q8 n=${n}`, new Uint8Array(await readBytes(ctx, acts.quants, T * n)), await readF32(ctx, acts.scales, (T * n) / 32),
        Array.from({ length: T }, (_, t) => prod.subarray(t * n, (t + 1) * n)), n);
      checkEqual(`silu_mul_q8 n=${n} leaves a alone`, await readF32(ctx, ab, T * n), a);
    }
    // Rounding of the norm or exp by an ulp can move a quant across a .5 step now and then.
    check(qDiff / qTotal < 1e-3, `${qDiff} of ${qTotal} quants differ`);
    env.report(`fused q8: ${qDiff} of ${qTotal} quants off by one, ${dDiff} block scales differ`);
  },
};

const ropeStoreCase: GpuCase = {
  name: 'ropeStore equals rope on q and k then kvStore (with biases: addBias first), and matches the CPU ops, for any even head size and nRot',
  async run(env) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(41);
    const frame = createFrameBuffer(ctx);
    let biased = 0;
    const configs = [
      { nHead: 4, nHeadKv: 2, headDim: 64, style: 'normal', nRot: 64 },
      { nHead: 6, nHeadKv: 3, headDim: 32, style: 'neox', nRot: 20, factors: true },
      { nHead: 2, nHeadKv: 2, headDim: 4, style: 'normal', nRot: 4 },
      { nHead: 4, nHeadKv: 1, headDim: 12, style: 'neox', nRot: 6 },
    ] as const;
    let worst = 0;
    for (const c of configs) {
      const half = c.nRot / 2;
      const factors = 'factors' in c ? Float32Array.from({ length: half }, (_, i) => 1 + (i % 4)) : undefined;
      const rope: RopeConfig = { style: c.style, nRot: c.nRot, freqBase: 10000, freqScale: 1, freqFactors: factors && createTestBuffer(ctx, factors) };
      const kvDim = c.nHeadKv * c.headDim;
      const nCtx = 40;
      for (const [cell0, T] of [[0, 5], [30, 1], [35, 9]]) {
        const q = rng.floats(T * c.nHead * c.headDim);
        const k = rng.floats(T * kvDim);
        const v = rng.floats(T * kvDim);
        const fill = new Uint16Array(nCtx * kvDim).fill(0x3c00);
        // Fused.
        const [qf, kcf, vcf] = [createTestBuffer(ctx, q), createTestBuffer(ctx, fill), createTestBuffer(ctx, fill)];
        const shape = { nHead: c.nHead, nHeadKv: c.nHeadKv, headDim: c.headDim, nCtx };
        await runSteps(ctx, frame, [kernels.ropeStore(qf, createTestBuffer(ctx, k), createTestBuffer(ctx, v), kcf, vcf, shape, rope, frame)], T, cell0);
        // Separate kernels.
        const [qs, ks, kcs, vcs] = [createTestBuffer(ctx, q), createTestBuffer(ctx, k), createTestBuffer(ctx, fill), createTestBuffer(ctx, fill)];
        await runSteps(ctx, frame, [
          kernels.rope(qs, c.nHead, c.headDim, rope, frame),
          kernels.rope(ks, c.nHeadKv, c.headDim, rope, frame),
          kernels.kvStore(ks, createTestBuffer(ctx, v), kcs, vcs, kvDim, nCtx, frame),
        ], T, cell0);
        const what = `rope_store ${c.style} ${c.nHead}/${c.nHeadKv}x${c.headDim} nRot ${c.nRot} at ${cell0}+${T}`;
        const gotQ = await readF32(ctx, qf, q.length);
        checkEqual(`${what}: q`, gotQ, await readF32(ctx, qs, q.length));
        const gotK = await readU16(ctx, kcf, nCtx * kvDim);
        checkEqual(`${what}: k cache`, gotK, await readU16(ctx, kcs, nCtx * kvDim));
        checkEqual(`${what}: v cache`, await readU16(ctx, vcf, nCtx * kvDim), await readU16(ctx, vcs, nCtx * kvDim));
        // And against the CPU: rope, then the cache's f16.
        const pos = Int32Array.from({ length: T }, (_, t) => cell0 + t);
        worst = Math.max(worst, checkNmse(`${what}: q vs CPU`, gotQ, cpu.rope(q, T, c.nHead, c.headDim, pos, cpuRope(rope, factors)), 1e-11));
        const wantK = cpu.kvStore(cpu.rope(k, T, c.nHeadKv, c.headDim, pos, cpuRope(rope, factors)), v, T, kvDim).k;
        const n = Math.min(T, nCtx - cell0) * kvDim;
        let ulps = 0;
        for (let i = 0; i < n; i++) ulps = Math.max(ulps, Math.abs(gotK[cell0 * kvDim + i] - wantK[i]));
        check(ulps <= 1, `${what}: cached keys differ from the CPU's by ${ulps} f16 ulps`);
        if (c.nRot === c.headDim) {
          // The Q/K/V biases added as q, k and v are read = addBias, then ropeStore.
          const qDim = c.nHead * c.headDim;
          const bias = rng.floats(qDim + 2 * kvDim);
          const [qb, kcb, vcb] = [createTestBuffer(ctx, q), createTestBuffer(ctx, fill), createTestBuffer(ctx, fill)];
          await runSteps(ctx, frame, [kernels.ropeStore(qb, createTestBuffer(ctx, k), createTestBuffer(ctx, v), kcb, vcb, shape, rope, frame, createTestBuffer(ctx, bias))], T, cell0);
          const [qa, ka, va, kca, vca] = [createTestBuffer(ctx, q), createTestBuffer(ctx, k), createTestBuffer(ctx, v), createTestBuffer(ctx, fill), createTestBuffer(ctx, fill)];
          await runSteps(ctx, frame, [
            kernels.addBias(qa, createTestBuffer(ctx, bias.subarray(0, qDim)), qDim, frame),
            kernels.addBias(ka, createTestBuffer(ctx, bias.subarray(qDim, qDim + kvDim)), kvDim, frame),
            kernels.addBias(va, createTestBuffer(ctx, bias.subarray(qDim + kvDim)), kvDim, frame),
            kernels.ropeStore(qa, ka, va, kca, vca, shape, rope, frame),
          ], T, cell0);
          checkEqual(`${what} with biases: q`, await readF32(ctx, qb, q.length), await readF32(ctx, qa, q.length));
          checkEqual(`${what} with biases: k cache`, await readU16(ctx, kcb, nCtx * kvDim), await readU16(ctx, kca, nCtx * kvDim));
          checkEqual(`${what} with biases: v cache`, await readU16(ctx, vcb, nCtx * kvDim), await readU16(ctx, vca, nCtx * kvDim));
          biased++;
        }
      }
    }
    const e = catchError(() => kernels.ropeStore(createTestBuffer(ctx, 256), createTestBuffer(ctx, 128), createTestBuffer(ctx, 128), createTestBuffer(ctx, 512), createTestBuffer(ctx, 512),
      { nHead: 2, nHeadKv: 1, headDim: 32, nCtx: 8 }, { style: 'neox', nRot: 16, freqBase: 10000, freqScale: 1 }, frame, createTestBuffer(ctx, 512)));
    check(e.code === 'argument/invalid' && /every element rotated/.test(e.message), `biases with partial rotation: ${e.message}`);
    env.report(`rope_store: fused = separate kernels bit for bit (${biased} with the bias adds fused); q NMSE vs CPU ${worst.toExponential(2)}`);
  },
};

export const gpuCases: GpuCase[] = [
  ...matmulCases,
  stackedMatmulCase,
  fusedNormMatvecCase,
  accumulateCase,
  quantizeCase,
  quantizeXCase,
  fusedQ8Case,
  ropeStoreCase,
  splitCase,
  rmsnormCase,
  ropeCase,
  kvStoreCase,
  attentionCase,
  attentionTiledCase,
  imageAttentionCase,
  attentionDecodeCase,
  elementwiseCase,
  kvEraseCase,
  wideGridCase,
  boundsCase,
  errorScopeCase,
  ...archCases,
];
