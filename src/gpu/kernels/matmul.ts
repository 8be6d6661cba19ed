// The matmul family: y = W x over weights of every GPU type (matvec kernels
// for a token, tiled kernels for a batch, either writing up to three stacked
// outputs in one dispatch), and the quantization of f32 activations to the
// Q8 types the integer kernels read. Weights and activations are the caller's.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import type { GpuWeight, GpuWeightType } from '../weights.js';
import { f32Bits, pow2Ceil, type KernelContext, type Q8SgTile, type Q8Tile } from './context.js';
import { checkTokens, gridStep, rowsIn } from './dispatch.js';
import { actType, actsServe, isQ8Acts, needsQ8Acts, q8Rows, type Q8Acts } from './q8-acts.js';
import type { Step } from './types.js';

const dequantWgsl: Record<GpuWeightType, string> = {
  f32: wgsl.dequantF32Wgsl,
  f16: wgsl.dequantF16Wgsl,
  bf16: wgsl.dequantBf16Wgsl,
  q8_0: wgsl.dequantQ8_0Wgsl,
  q4_0: wgsl.dequantQ4_0Wgsl,
  q4_1: wgsl.dequantQ4_1Wgsl,
  q5_0: wgsl.dequantQ5_0Wgsl,
  q5_1: wgsl.dequantQ5_1Wgsl,
  iq4_nl: wgsl.dequantIq4NlWgsl,
  q2_k: wgsl.dequantQ2KWgsl,
  q3_k: wgsl.dequantQ3KWgsl,
  q4_k: wgsl.dequantQ4KWgsl,
  q5_k: wgsl.dequantQ5KWgsl,
  q6_k: wgsl.dequantQ6KWgsl,
};

// The activation side of the integer kernels per activation type.
const qactWgsl: Record<Q8Acts['type'], string> = {
  q8_0: wgsl.qactQ8_0Wgsl,
  q8_1: wgsl.qactQ8_1Wgsl,
  q8_k: wgsl.qactQ8KWgsl,
};

// Invocations per row of the matvec kernels (of 256 a workgroup): at most
// MATVEC_TPR (matvec.wgsl, 8 weights an invocation a step) or MATVEC_Q8_TPR
// (matvec_q8.wgsl, a 32-weight block a step), fewer for short rows so no
// invocation idles. Batches up to MATVEC_MAX_TOKENS tokens use them, larger
// ones the tiled kernels, which read each weight tile once per 32 tokens.
const MATVEC_TPR = 64;
const MATVEC_Q8_TPR = 32;
const MATVEC_MAX_TOKENS = 1;
// The float tiled kernel's tile.
const TILE_ROWS = 64;
const TILE_TOKENS = 32;
// The quantized one's (KernelOptions.q8Tile): on an H200, 64 x 64 with two
// blocks a stage is the fastest for Llama-1B's large matrices and 32 x 32
// with four for its K and V projections, whose large tiles leave most of the
// GPU idle (bench/gpu-matmul.ts).
export const Q8_TILE_LARGE: Q8Tile = { rows: 4, tokens: 4, blocks: 2 };
export const Q8_TILE_SMALL: Q8Tile = { rows: 2, tokens: 2, blocks: 4 };
const Q8_TILE_MIN_GROUPS = 128;
// The subgroup kernel's (KernelOptions.q8SgTile): workgroups of 64, row
// groups of 16 invocations; 8 rows x 4 tokens an invocation (a 32 x 64
// tile), or 4 x 2 (16 x 32) where that gives fewer invocations than
// Q8_TILE_MIN_GROUPS workgroups of 256. Not yet measured on a real GPU
// (bench/gpu-matmul.ts times every tile). Rows are
// capped by the adapter's minimum subgroup size (4 on SwiftShader: 16 x 64).
export const Q8_SG_TILE_LARGE: Q8SgTile = { rows: 8, tokens: 4, lanes: 16, workgroup: 64 };
export const Q8_SG_TILE_SMALL: Q8SgTile = { rows: 4, tokens: 2, lanes: 16, workgroup: 64 };

/** Whether t is a tile matmul_q8_sg.wgsl takes (before the subgroup cap). */
export function validSgTile(t: Q8SgTile): boolean {
  const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  return Number.isInteger(t.rows) && t.rows >= 1 && t.rows <= 16 && t.rows <= t.lanes && Number.isInteger(t.tokens) && t.tokens >= 1 && t.tokens <= 4 &&
    pow2(t.lanes) && pow2(t.workgroup) && t.workgroup <= 256 && t.lanes <= t.workgroup;
}

// Weights whose 32-element blocks have one integer scale (load_scales gives
// sc = (1, 1)): matmul_q8_sgmat.wgsl serves them.
const SGMAT_TYPES: ReadonlySet<GpuWeightType> = new Set(['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl']);
const SGMAT_TILE = 64;

/** matmul_q8_sgmat.wgsl with the device's matrix shape as constants. */
function sgmatWgsl(m: NonNullable<KernelContext['int8Matrix']>): string {
  return `const SM: u32 = ${m.M}u;\nconst SN: u32 = ${m.N}u;\nconst SK: u32 = ${m.K}u;\nconst SG: u32 = ${m.subgroupSize}u;\nconst KB: u32 = ${m.blocks}u;\n${wgsl.matmulQ8SgmatWgsl}`;
}

// matvec_q8_norm.wgsl normalizes and quantizes its row in workgroup memory:
// 8192 columns (8 KiB of quants) at most.
const NORM_FUSED_MAX_COLS = 8192;

/** The RMSNorm a decode step's matvec computes itself (matvec_q8_norm.wgsl):
 * row 0 of x (cols f32) normalized with weight and eps, as Kernels.rmsnorm
 * with a Q8_0 output would make the matmul's input. */
export interface FusedNorm {
  x: GPUBuffer;
  weight: GPUBuffer;
  eps: number;
}

/** Whether a matmul of w can take its decode input as a FusedNorm. */
export function canFuseNorm(w: GpuWeight): boolean {
  return actType(w.type) === 'q8_0' && w.cols % 32 === 0 && w.cols <= NORM_FUSED_MAX_COLS;
}

/** Kernels.matmul. */
export function recordMatmul(kc: KernelContext, w: GpuWeight, x: GPUBuffer | Q8Acts, y: GPUBuffer | GPUBuffer[], frame: GPUBuffer, opts: { accumulate?: boolean; outScale?: number; norm?: FusedNorm } = {}): Step {
  const outScale = opts.outScale ?? 1;
  const label = `matmul ${w.type} ${w.rows}x${w.cols}${w.stack ? ` (${w.stack.join('+')})` : ''}${opts.accumulate ? ' (+=)' : ''}${outScale !== 1 ? ` (x${outScale})` : ''}`;
  if (!Number.isFinite(outScale)) throw new HobError('argument/invalid', `${label}: outScale must be finite, got ${outScale}`, { outScale });
  const stack = w.stack ?? [w.rows];
  const ys = Array.isArray(y) ? y : [y];
  if (ys.length !== stack.length || stack.length > 3 || stack.reduce((a, b) => a + b, 0) !== w.rows) {
    throw new HobError('argument/invalid', `${label}: a weight stacked from ${stack.length} takes as many outputs (at most 3), got ${ys.length}`, { outputs: ys.length, stacked: stack.length });
  }
  const q8 = needsQ8Acts(w.type);
  const act = actType(w.type);
  if (q8 !== isQ8Acts(x)) {
    throw new HobError('argument/invalid', `${label}: ${q8 ? `${w.type} weights take ${act} activations (quantize the input first)` : 'float weights take f32 activations'}`, {});
  }
  if (isQ8Acts(x) && !actsServe(x.type, w.type)) {
    throw new HobError('argument/invalid', `${label}: ${w.type} weights take ${act} activations, not ${x.type}`, { actType: x.type });
  }
  const xRows = isQ8Acts(x) ? q8Rows(label, x, w.cols) : rowsIn(label, 'x', x, w.cols * 4);
  const maxTokens = Math.min(xRows, ...ys.map((b, i) => rowsIn(label, `y${i > 0 ? i + 1 : ''}`, b, stack[i] * 4)));
  // Rows where the second and third stacked weights start (w.rows: none).
  const seg1 = stack.length > 1 ? stack[0] : w.rows;
  const seg2 = stack.length > 2 ? stack[0] + stack[1] : w.rows;
  const base = [wgsl.commonWgsl, wgsl.matmulOutWgsl, dequantWgsl[w.type]];
  const pipelines = kc.pipelines;
  let matvec: GPUComputePipeline;
  let tiled: { pipeline: GPUComputePipeline; rows: number; tokens: number; invocations: number }[];
  let rowsPerGroup: number;
  if (q8) {
    base.splice(1, 0, qactWgsl[act as Q8Acts['type']], wgsl.blockTermWgsl);
    const dot4 = kc.packedDot4 ? wgsl.dot4PackedWgsl : wgsl.dot4UnpackedWgsl;
    const tpr = Math.min(MATVEC_Q8_TPR, pow2Ceil(w.cols / 32));
    matvec = pipelines.get(`matvec_q8/${w.type}`, [...base, dot4, kc.reduceWgsl(), wgsl.matvecQ8Wgsl], 'matvec_q8', { TPR: tpr });
    const im = kc.int8Matrix;
    tiled = im && SGMAT_TYPES.has(w.type)
      ? [{ pipeline: pipelines.get(`sgmat_q8/${w.type}/${im.M}x${im.N}x${im.K}/${im.subgroupSize}/${im.blocks}`, [...base, sgmatWgsl(im)], 'matmul_q8_sgmat'), rows: SGMAT_TILE, tokens: SGMAT_TILE, invocations: 256 }]
      : kc.q8SgTiles.length > 0
      ? kc.q8SgTiles.map((t) => ({
        pipeline: pipelines.get(`tiled_q8_sg/${w.type}`, [...base, dot4, wgsl.matmulQ8SgWgsl], 'matmul_q8_sg', { R: t.rows, TPL: t.tokens, L: t.lanes, WG: t.workgroup }),
        rows: (t.workgroup / t.lanes) * t.rows,
        tokens: t.lanes * t.tokens,
        invocations: t.workgroup,
      }))
      : kc.q8Tiles.map((t) => ({
        pipeline: pipelines.get(`tiled_q8/${w.type}`, [...base, dot4, wgsl.matmulQ8TiledWgsl], 'matmul_q8_tiled', { RM: t.rows, TN: t.tokens, KB: t.blocks }),
        rows: 16 * t.rows,
        tokens: 16 * t.tokens,
        invocations: 256,
      }));
    rowsPerGroup = 256 / tpr;
  } else {
    rowsPerGroup = kc.matvecRows ?? 256 / Math.min(MATVEC_TPR, pow2Ceil(w.cols / 8));
    matvec = pipelines.get(`matvec/${w.type}`, [...base, kc.reduceWgsl(), wgsl.matvecWgsl], 'matvec', { ROWS_PER_WG: rowsPerGroup });
    tiled = [{ pipeline: pipelines.get(`tiled/${w.type}`, [...base, wgsl.matmulTiledWgsl], 'matmul_tiled'), rows: TILE_ROWS, tokens: TILE_TOKENS, invocations: 256 }];
  }
  const norm = opts.norm;
  let normed: GPUComputePipeline | null = null;
  if (norm) {
    if (!canFuseNorm(w) || !Number.isFinite(norm.eps)) {
      throw new HobError('argument/invalid', `${label}: a fused norm needs weights that take Q8_0 activations, at most ${NORM_FUSED_MAX_COLS} columns and a finite eps`, { cols: w.cols });
    }
    rowsIn(label, 'norm x', norm.x, w.cols * 4);
    rowsIn(label, 'norm weight', norm.weight, w.cols * 4);
    const dot4 = kc.packedDot4 ? wgsl.dot4PackedWgsl : wgsl.dot4UnpackedWgsl;
    normed = pipelines.get(`matvec_q8_norm/${w.type}`, [...base, dot4, kc.reduceWgsl(), wgsl.matvecQ8NormWgsl], 'matvec_q8_norm', { TPR: Math.min(MATVEC_Q8_TPR, pow2Ceil(w.cols / 32)) });
  }
  const parts = w.parts.map((part, i) => {
    const params = kc.uniform(`${label} part ${i}`, [
      part.rowCount, w.cols, w.cols / 8, part.rowStart, seg1, maxTokens, opts.accumulate ? 1 : 0, f32Bits(outScale), seg1, seg2, w.rows, norm ? f32Bits(norm.eps) : 0,
    ]);
    // Bindings 0..3, the weight's two buffers (4, 5), then the activations'
    // scales (6) and, where the weights read them, sums (7); the outputs of
    // the second and third stacked weights (8, 9).
    const buffers = isQ8Acts(x)
      ? [frame, params, x.quants, ys[0], ...part.buffers, x.scales, act === 'q8_0' ? null : x.sums]
      : [frame, params, x, ys[0], ...part.buffers];
    while (buffers.length < 8) buffers.push(null);
    buffers.push(ys[1] ?? kc.dummy, ys[2] ?? kc.dummy2);
    const normGroup = normed && norm
      ? pipelines.bindGroup(normed, `${label} (norm fused)`, [frame, params, norm.x, ys[0], ...part.buffers, norm.weight, null, ys[1] ?? kc.dummy, ys[2] ?? kc.dummy2])
      : null;
    return {
      rows: part.rowCount,
      normGroup,
      matvec: pipelines.bindGroup(matvec, label, buffers),
      tiled: tiled.map((t) => pipelines.bindGroup(t.pipeline, label, buffers)),
    };
  });
  // Not gridStep or dispatch: the parts of a weight split over bindings
  // share one pipeline, set once, then each part's bind group and grid.
  return {
    label,
    encode: (pass, nTokens) => {
      checkTokens(label, nTokens, maxTokens);
      if (nTokens === 0) return;
      if (nTokens === 1 && normed) {
        // One token: the norm runs in the matvec (its own step is batchOnly).
        pass.setPipeline(normed);
        for (const p of parts) {
          const [gx, gy] = kc.limit.grid(label, Math.ceil(p.rows / rowsPerGroup));
          pass.setBindGroup(0, p.normGroup!);
          pass.dispatchWorkgroups(gx, gy, 1);
        }
      } else if (nTokens <= MATVEC_MAX_TOKENS) {
        pass.setPipeline(matvec);
        for (const p of parts) {
          const [gx, gy] = kc.limit.grid(label, Math.ceil(p.rows / rowsPerGroup));
          pass.setBindGroup(0, p.matvec);
          pass.dispatchWorkgroups(gx, gy, nTokens);
        }
      } else {
        // The first tile that still gives enough workgroups (counted in
        // workgroups of 256: the subgroup kernel's are smaller), else the last.
        const found = tiled.findIndex((t) => Math.ceil(w.rows / t.rows) * Math.ceil(nTokens / t.tokens) * t.invocations >= Q8_TILE_MIN_GROUPS * 256);
        const k = found === -1 ? tiled.length - 1 : found;
        const t = tiled[k];
        pass.setPipeline(t.pipeline);
        for (const p of parts) {
          pass.setBindGroup(0, p.tiled[k]);
          pass.dispatchWorkgroups(kc.limit.dim(label, Math.ceil(p.rows / t.rows)), kc.limit.dim(label, Math.ceil(nTokens / t.tokens)));
        }
      }
    },
  };
}

/** Kernels.quantize. */
export function recordQuantize(kc: KernelContext, x: GPUBuffer, acts: Q8Acts, frame: GPUBuffer): Step {
  const cols = acts.cols;
  const label = `quantize ${acts.type} ${cols}`;
  const maxRows = Math.min(rowsIn(label, 'x', x, cols * 4), q8Rows(label, acts, cols));
  let pipeline: GPUComputePipeline;
  let group: GPUBindGroup;
  const params = kc.uniform(label, [cols, maxRows, 0, 0]);
  if (acts.type === 'q8_0') {
    pipeline = kc.pipelines.get('quantize_q8', [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.quantizeWgsl], 'quantize_q8');
    group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, null, null, null, acts.quants, acts.scales]);
  } else {
    const [code, entry] = acts.type === 'q8_1' ? [wgsl.quantizeQ8_1Wgsl, 'quantize_q8_1'] : [wgsl.quantizeQ8KWgsl, 'quantize_q8_k'];
    pipeline = kc.pipelines.get(entry, [wgsl.commonWgsl, code], entry);
    group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, null, null, null, acts.quants, acts.scales, acts.sums]);
  }
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => Math.ceil((nTokens * cols) / 32 / 64));
}
