// The kernels that write the KV cache outside RoPE: storing a batch's k and
// v into the cells of the frame (rope.ts holds the fused RoPE + store most
// models use), and the context shift, which moves cells down and re-rotates
// their keys in place. The caches and the shift's scratch are the caller's.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import type { KernelContext } from './context.js';
import { checkInt, dispatch, gridStep, needBytes, outOfBounds, rowsIn } from './dispatch.js';
import { checkRope, ropeUniform } from './rope.js';
import type { KvEraseShape, KvEraseStep, Step } from './types.js';

/** Kernels.kvStore. */
export function recordKvStore(kc: KernelContext, k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, kvDim: number, nCtx: number, frame: GPUBuffer): Step {
  const label = `kv_store ${kvDim}`;
  checkInt(label, 'kvDim', kvDim, 2);
  checkInt(label, 'nCtx', nCtx, 1);
  if (kvDim % 2 !== 0) throw new HobError('argument/invalid', `${label}: kvDim must be even (halves are stored in pairs)`, { kvDim });
  needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
  needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
  const maxRows = Math.min(rowsIn(label, 'k', k, kvDim * 4), rowsIn(label, 'v', v, kvDim * 4));
  const pipeline = kc.pipelines.get('kv_store', [wgsl.commonWgsl, wgsl.kvStoreWgsl], 'kv_store');
  const params = kc.uniform(label, [kvDim, nCtx, maxRows, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, k, v, kCache, vCache]);
  // One invocation per pair of elements (a word of each cache), 64 a workgroup.
  return gridStep(label, kc.limit, maxRows, pipeline, group, (nTokens) => Math.ceil((nTokens * kvDim) / 2 / 64));
}

/** Kernels.kvErase. */
export function recordKvErase(kc: KernelContext, kCache: GPUBuffer, vCache: GPUBuffer, scratch: GPUBuffer, shape: KvEraseShape): KvEraseStep {
  const { kvDim, nCtx, nHeadKv, headDim, rope } = shape;
  const label = 'kv_erase';
  for (const [name, v] of Object.entries({ kvDim, nCtx, nHeadKv, headDim })) checkInt(label, name, v, 1);
  if (rope) checkRope(label, nHeadKv, headDim, rope);
  if (kvDim % 2 !== 0 || nHeadKv * headDim > kvDim) {
    throw new HobError('argument/invalid', `${label}: kvDim ${kvDim} must be even and hold ${nHeadKv} heads of ${headDim}`, { kvDim, nHeadKv, headDim });
  }
  const rowBytes = kvDim * 2;
  needBytes(label, 'kCache', kCache, nCtx * rowBytes);
  needBytes(label, 'vCache', vCache, nCtx * rowBytes);
  // A NoPE layer's keys hold no position: its shift only moves cells.
  const rotate = rope && {
    pipeline: kc.pipelines.get('kv_shift', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.kvShiftWgsl], 'kv_shift'),
    params: kc.uniform(label, [0, 0, 0, kvDim]),
  };
  const group = rope && rotate
    ? kc.pipelines.bindGroup(rotate.pipeline, label, [null, kc.uniform(`${label} rope`, ropeUniform(rope, nHeadKv, headDim, nCtx, true)), rotate.params, kCache, rope.freqFactors ?? kc.noFactors])
    : null;
  const words = new Uint32Array(4);
  return {
    label,
    encode: (enc, start, end, nMoved) => {
      for (const [name, v] of Object.entries({ start, end, nMoved })) {
        if (!Number.isInteger(v)) throw new HobError('argument/invalid', `${label}: ${name} must be an integer, got ${v}`, { [name]: v });
      }
      // A reversed or oversized range must never reach the copies below (the
      // heap overflow of llama.cpp's CVE-2026-21869 came from one).
      if (start < 0 || end < start || nMoved < 0 || end + nMoved > nCtx) {
        throw outOfBounds(`${label}: cannot move cells [${end}, ${end + nMoved}) to ${start} in a cache of ${nCtx} cells (need 0 <= start <= end, end + nMoved <= nCtx)`, {
          start,
          end,
          nMoved,
          nCtx,
        });
      }
      needBytes(label, 'scratch', scratch, nMoved * rowBytes);
      if (start === end || nMoved === 0) return;
      const bytes = nMoved * rowBytes;
      for (const cache of [kCache, vCache]) {
        enc.copyBufferToBuffer(cache, end * rowBytes, scratch, 0, bytes);
        enc.copyBufferToBuffer(scratch, 0, cache, start * rowBytes, bytes);
      }
      if (!rotate || !group) return;
      words.set([start, nMoved, (start - end) >>> 0, kvDim]);
      kc.device.queue.writeBuffer(rotate.params, 0, words);
      const pass = enc.beginComputePass({ label });
      // One invocation per (cell, head) of the moved cells, 64 a workgroup.
      const [gx, gy] = kc.limit.grid(label, Math.ceil((nMoved * nHeadKv) / 64));
      dispatch(pass, rotate.pipeline, group, gx, gy);
      pass.end();
    },
  };
}
