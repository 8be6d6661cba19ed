// The recurrent family: the causal convolution of a hybrid model's
// recurrent blocks (wgsl/ssm_conv.wgsl: LFM2's gated form and Qwen 3.5's
// SiLU form) and the Gated DeltaNet recurrence (wgsl/delta_net.wgsl). Both
// carry a state across batches in a buffer the caller owns.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import { f32Bits, type KernelContext } from './context.js';
import { checkInt, checkTokens, dispatch, needBytes, rowsIn } from './dispatch.js';
import type { Step } from './types.js';

export interface ConvShape {
  channels: number;
  /** Taps; the state holds kernel - 1 inputs per channel. */
  kernel: number;
  /** 'gated' (LFM2): x rows are b | c | u, y = c * conv(b * u); 'silu' (Qwen 3.5): y = silu(conv(x)). */
  mode: 'gated' | 'silu';
}

/** Kernels.conv. */
export function recordConv(kc: KernelContext, x: GPUBuffer, w: GPUBuffer, state: GPUBuffer, y: GPUBuffer, shape: ConvShape, frame: GPUBuffer): Step {
  const { channels: n, kernel, mode } = shape;
  const label = `conv ${mode} ${n}x${kernel}`;
  checkInt(label, 'channels', n, 1);
  checkInt(label, 'kernel', kernel, 2);
  if (kernel > 64) throw new HobError('argument/invalid', `${label}: at most 64 taps, got ${kernel}`, { kernel });
  const inStride = mode === 'gated' ? 3 * n : n;
  needBytes(label, 'weight', w, n * kernel * 4);
  needBytes(label, 'state', state, (kernel - 1) * n * 4);
  const maxRows = Math.min(rowsIn(label, 'x', x, inStride * 4), rowsIn(label, 'y', y, n * 4));
  const pipeline = kc.pipelines.get('ssm_conv', [wgsl.commonWgsl, wgsl.ssmConvWgsl], 'conv');
  const params = kc.uniform(label, [n, kernel, maxRows, mode === 'gated' ? 0 : 1, inStride, 0, 0, 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, x, w, state, y]);
  const groups = kc.limit.dim(label, Math.ceil(n / 64));
  return {
    label,
    encode: (pass, nTokens) => {
      checkTokens(label, nTokens, maxRows);
      if (nTokens > 0) dispatch(pass, pipeline, group, groups);
    },
  };
}

export interface DeltaShape {
  /** Key heads, value heads (a multiple of them) and the width of both. */
  nKeyHeads: number;
  nValueHeads: number;
  headDim: number;
  /** Floats per row of the convolved q | k | v. */
  channels: number;
  /** Of the L2 norms of q and k (the model's RMS epsilon). */
  eps: number;
}

export interface DeltaWeights {
  dtBias: GPUBuffer; // (n_value_heads) f32
  a: GPUBuffer; // (n_value_heads) f32: -exp(A_log)
}

/** Kernels.deltaNet. */
export function recordDeltaNet(kc: KernelContext, qkv: GPUBuffer, alpha: GPUBuffer, beta: GPUBuffer, weights: DeltaWeights, state: GPUBuffer, out: GPUBuffer, shape: DeltaShape, frame: GPUBuffer): Step {
  const { nKeyHeads: nk, nValueHeads: nv, headDim: dim, channels } = shape;
  const label = `delta_net ${nv}x${dim}`;
  checkInt(label, 'nKeyHeads', nk, 1);
  checkInt(label, 'nValueHeads', nv, 1);
  checkInt(label, 'headDim', dim, 1);
  if (nv % nk !== 0 || dim > 256 || channels !== (2 * nk + nv) * dim) {
    throw new HobError('argument/invalid', `${label}: ${nv} value heads over ${nk} key heads of ${dim} (at most 256) in rows of ${channels}`, {
      nKeyHeads: nk, nValueHeads: nv, headDim: dim, channels,
    });
  }
  needBytes(label, 'dt_bias', weights.dtBias, nv * 4);
  needBytes(label, 'a', weights.a, nv * 4);
  needBytes(label, 'state', state, nv * dim * dim * 4);
  const maxRows = Math.min(
    rowsIn(label, 'qkv', qkv, channels * 4), rowsIn(label, 'alpha', alpha, nv * 4),
    rowsIn(label, 'beta', beta, nv * 4), rowsIn(label, 'out', out, nv * dim * 4),
  );
  const pipeline = kc.pipelines.get('delta_net', [wgsl.commonWgsl, wgsl.deltaNetWgsl], 'delta_net');
  const scale = Math.fround(1 / Math.sqrt(dim));
  const params = kc.uniform(label, [nk, nv, dim, channels, maxRows, f32Bits(shape.eps), f32Bits(scale), 0]);
  const group = kc.pipelines.bindGroup(pipeline, label, [frame, params, qkv, alpha, beta, weights.dtBias, weights.a, state, out]);
  const groups = kc.limit.dim(label, nv);
  return {
    label,
    encode: (pass, nTokens) => {
      checkTokens(label, nTokens, maxRows);
      if (nTokens > 0) dispatch(pass, pipeline, group, groups);
    },
  };
}
