// The element-wise family over rows of n f32: the gated FFN products (SiLU
// or GELU times up, optionally quantized to Q8_0 for the down projection),
// BERT's plain GELU, the residual add and the per-row bias add. One pipeline per entry point
// of wgsl/elementwise.wgsl.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import type { KernelContext } from './context.js';
import { checkInt, gridStep, needBytes, rowsIn } from './dispatch.js';
import { q8Rows, type Q8Acts } from './q8-acts.js';
import type { Step } from './types.js';

export type ElementwiseEntry = 'silu_mul' | 'silu_mul_q8' | 'sigmoid_mul' | 'gelu_mul' | 'gelu_mul_q8' | 'gelu' | 'add' | 'add_bias';

/** Kernels.siluMul, sigmoidMul, geluMul, gelu, add and addBias: `entry` of
 * elementwise.wgsl over a and b (b one row of n for add_bias, none for
 * gelu), q8 its quantized output. */
export function recordElementwise(kc: KernelContext, entry: ElementwiseEntry, a: GPUBuffer, b: GPUBuffer | null, n: number, frame: GPUBuffer, q8?: Q8Acts): Step {
  const label = `${entry} ${n}`;
  checkInt(label, 'n', n, 1);
  let maxRows = rowsIn(label, 'a', a, n * 4);
  if (entry === 'add_bias') needBytes(label, 'bias', b!, n * 4);
  else if (entry !== 'gelu') maxRows = Math.min(maxRows, rowsIn(label, 'b', b!, n * 4));
  if (q8) maxRows = Math.min(maxRows, q8Rows(label, q8, n));
  if (q8 && q8.type !== 'q8_0') throw new HobError('argument/invalid', `${label}: the fused product writes Q8_0 activations only, not ${q8.type}`, {});
  const pipeline = kc.pipelines.get(entry, [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.elementwiseWgsl], entry);
  const params = kc.uniform(label, [n, maxRows, 0, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, a, b, null, null, q8?.quants ?? null, q8?.scales ?? null]);
  // One invocation per element, 256 a workgroup.
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => Math.ceil((nTokens * n) / 256));
}
