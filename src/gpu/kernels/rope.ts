// The RoPE family: rotation of q or k in place, and the fused step that
// rotates q and k (after their bias adds, where the model has biases) and
// stores k and v into the cache cells of the frame. The context shift's
// re-rotation (kv-cache.ts) shares this file's uniform and checks.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import { f32Bits, type KernelContext } from './context.js';
import { checkInt, gridStep, needBytes, rowsIn } from './dispatch.js';
import type { RopeConfig, Step } from './types.js';

/** The Rope uniform of rope_math.wgsl. theta_scale = base^(-2/nRot) in f32,
 * as the CPU computes it. A shift's re-rotation (`shift`) leaves out the
 * attention factor: the keys carry it from their first rotation. */
export function ropeUniform(rope: RopeConfig, nHeads: number, headDim: number, maxRows: number, shift = false): number[] {
  const thetaScale = Math.fround(Math.pow(Math.fround(rope.freqBase), Math.fround(-2 / rope.nRot)));
  return [
    nHeads,
    headDim,
    rope.nRot,
    rope.style === 'neox' ? 1 : 0,
    f32Bits(thetaScale),
    f32Bits(rope.freqScale),
    rope.freqFactors ? 1 : 0,
    maxRows,
    f32Bits(shift ? 1 : rope.mscale ?? 1),
    0,
    0,
    0,
  ];
}

export function checkRope(label: string, nHeads: number, headDim: number, rope: RopeConfig): void {
  checkInt(label, 'nHeads', nHeads, 1);
  checkInt(label, 'headDim', headDim, 2);
  if (!Number.isInteger(rope.nRot) || rope.nRot <= 0 || rope.nRot % 2 !== 0 || rope.nRot > headDim) {
    throw new HobError('argument/invalid', `${label}: nRot must be a positive even number up to headDim ${headDim}, got ${rope.nRot}`, {
      nRot: rope.nRot,
      headDim,
    });
  }
  if (headDim % 2 !== 0) throw new HobError('argument/invalid', `${label}: headDim must be even`, { headDim });
  if (rope.freqFactors) needBytes(label, 'freqFactors', rope.freqFactors, (rope.nRot / 2) * 4);
  const m = rope.mscale ?? 1;
  if (!(Number.isFinite(m) && m > 0)) throw new HobError('argument/invalid', `${label}: mscale must be a positive number, got ${m}`, { mscale: m });
}

/** Kernels.rope. */
export function recordRope(kc: KernelContext, x: GPUBuffer, nHeads: number, headDim: number, rope: RopeConfig, frame: GPUBuffer): Step {
  const label = `rope ${rope.style} ${nHeads}x${headDim}`;
  checkRope(label, nHeads, headDim, rope);
  const maxRows = rowsIn(label, 'x', x, nHeads * headDim * 4);
  const pipeline = kc.pipelines.get('rope', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.ropeWgsl], 'rope');
  const params = kc.uniform(label, ropeUniform(rope, nHeads, headDim, maxRows));
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, rope.freqFactors ?? kc.noFactors]);
  // One invocation per rotated pair, 64 a workgroup.
  const perRow = nHeads * (rope.nRot / 2);
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => Math.ceil((nTokens * perRow) / 64));
}

/** Kernels.ropeStore. */
export function recordRopeStore(kc: KernelContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, shape: { nHead: number; nHeadKv: number; headDim: number; nCtx: number }, rope: RopeConfig, frame: GPUBuffer, bias?: GPUBuffer): Step {
  const { nHead, nHeadKv, headDim, nCtx } = shape;
  const label = `rope_store ${nHead}/${nHeadKv}x${headDim}`;
  checkRope(label, nHead, headDim, rope);
  checkInt(label, 'nHeadKv', nHeadKv, 1);
  checkInt(label, 'nCtx', nCtx, 1);
  const kvDim = nHeadKv * headDim;
  needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
  needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
  const maxRows = Math.min(rowsIn(label, 'q', q, nHead * headDim * 4), rowsIn(label, 'k', k, kvDim * 4), rowsIn(label, 'v', v, kvDim * 4));
  const pipeline = kc.pipelines.get('rope_store', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.ropeStoreWgsl], 'rope_store');
  const ropeParams = kc.uniform(label, ropeUniform(rope, nHead, headDim, maxRows));
  if (bias) {
    if (rope.nRot !== headDim) throw new HobError('argument/invalid', `${label}: the fused bias add needs every element rotated (nRot ${rope.nRot} of ${headDim})`, { nRot: rope.nRot, headDim });
    needBytes(label, 'bias', bias, (nHead * headDim + 2 * kvDim) * 4);
  }
  const storeParams = kc.uniform(label, [kvDim, nCtx, bias ? 1 : 0, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, ropeParams, q, k, v, kCache, vCache, rope.freqFactors ?? kc.noFactors, storeParams, bias ?? kc.noFactors]);
  // One invocation per rotated pair of q and per word (two halves) of k and v.
  const perRow = nHead * (rope.nRot / 2) + kvDim;
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => Math.ceil((nTokens * perRow) / 64));
}
