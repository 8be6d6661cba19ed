// The normalization family: RMSNorm of whole rows (alone, accumulated into
// the residual, or fused with the Q8_0 quantization the next matmul reads),
// per-head RMSNorm in place (the Q/K norms of Qwen 3 and Gemma 3), and
// BERT's LayerNorm with bias, in place.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import { f32Bits, type KernelContext } from './context.js';
import { checkInt, gridStep, needBytes, rowsIn } from './dispatch.js';
import { q8Rows, type Q8Acts } from './q8-acts.js';
import type { Step } from './types.js';

/** Kernels.rmsnorm. */
export function recordRmsnorm(kc: KernelContext, x: GPUBuffer, weight: GPUBuffer, y: GPUBuffer | null, n: number, eps: number, frame: GPUBuffer, opts: { lastRowOnly?: boolean; q8?: Q8Acts; accumulate?: boolean; outScale?: number } = {}): Step {
  const outScale = opts.outScale ?? 1;
  const label = `rmsnorm ${n}${opts.q8 ? ' -> q8_0' : ''}${opts.accumulate ? ' (+=)' : ''}${outScale !== 1 ? ` (x ${outScale})` : ''}${opts.lastRowOnly ? ' (last row)' : ''}`;
  checkInt(label, 'n', n, 1);
  needBytes(label, 'weight', weight, n * 4);
  if (!y && !opts.q8) throw new HobError('argument/invalid', `${label}: needs an output (y or q8)`, {});
  if (opts.accumulate && (!y || opts.q8 || opts.lastRowOnly)) {
    throw new HobError('argument/invalid', `${label}: accumulating takes an f32 output y of every row, and no q8 output`, {});
  }
  if (outScale !== 1 && (!opts.accumulate || !Number.isFinite(outScale))) {
    throw new HobError('argument/invalid', `${label}: an output scale needs accumulate and a finite factor`, {});
  }
  let outRows = Infinity;
  if (y) outRows = rowsIn(label, 'y', y, n * 4);
  if (opts.q8) outRows = Math.min(outRows, q8Rows(label, opts.q8, n));
  if (opts.q8 && opts.q8.type !== 'q8_0') throw new HobError('argument/invalid', `${label}: the fused norm writes Q8_0 activations only, not ${opts.q8.type}`, {});
  const xRows = rowsIn(label, 'x', x, n * 4);
  const maxRows = opts.lastRowOnly ? xRows : Math.min(xRows, outRows);
  const code = [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.rmsnormWgsl];
  const entry = opts.q8 ? 'rmsnorm_q8' : opts.accumulate ? 'rmsnorm_add' : 'rmsnorm';
  const pipeline = kc.pipelines.get(entry, code, entry);
  const params = kc.uniform(label, [n, f32Bits(eps), maxRows, opts.lastRowOnly ? 1 : 0, y ? 1 : 0, f32Bits(outScale), 0, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, weight, y ?? kc.dummy, null, opts.q8?.quants ?? null, opts.q8?.scales ?? null]);
  // One workgroup a row; the last row only: one workgroup.
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => (opts.lastRowOnly ? 1 : nTokens));
}

/** Kernels.rmsnormHeads. */
export function recordRmsnormHeads(kc: KernelContext, x: GPUBuffer, weight: GPUBuffer, nHeads: number, headDim: number, eps: number, frame: GPUBuffer): Step {
  const label = `rmsnorm_heads ${nHeads}x${headDim}`;
  checkInt(label, 'nHeads', nHeads, 1);
  checkInt(label, 'headDim', headDim, 1);
  needBytes(label, 'weight', weight, headDim * 4);
  const maxRows = rowsIn(label, 'x', x, nHeads * headDim * 4);
  const pipeline = kc.pipelines.get('rmsnorm_heads', [wgsl.commonWgsl, wgsl.rmsnormHeadsWgsl], 'rmsnorm_heads');
  const params = kc.uniform(label, [headDim, f32Bits(eps), maxRows, nHeads]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, weight]);
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => nTokens * nHeads);
}

/** Kernels.layernorm. */
export function recordLayernorm(kc: KernelContext, x: GPUBuffer, weight: GPUBuffer, bias: GPUBuffer, n: number, eps: number, frame: GPUBuffer): Step {
  const label = `layernorm ${n}`;
  checkInt(label, 'n', n, 1);
  needBytes(label, 'weight', weight, n * 4);
  needBytes(label, 'bias', bias, n * 4);
  const maxRows = rowsIn(label, 'x', x, n * 4);
  const pipeline = kc.pipelines.get('layernorm', [wgsl.commonWgsl, wgsl.layernormWgsl], 'layernorm');
  const params = kc.uniform(label, [n, f32Bits(eps), maxRows, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, weight, bias]);
  // One workgroup a row.
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => nTokens);
}
