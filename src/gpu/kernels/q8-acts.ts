// Quantized activations, the input of the integer matmuls: which type the
// weights of each type take (the CPU's choice, so both sides round the
// same), allocating and destroying them, and the checks a kernel makes on
// them. The kernels that write them live in matmul.ts, norm.ts and others.
import { HobError } from '../../shared/errors.js';
import type { GpuWeightType } from '../weights.js';
import { needBytes } from './dispatch.js';

/** What the CPU converts a matmul's activations to for weights of a type
 * (cpp/quants.h vec_dot_type); float weights take f32 rows (their kernels
 * round them to f16 / bf16 themselves). */
export type ActType = 'f32' | 'q8_0' | 'q8_1' | 'q8_k';

/** Activations quantized to Q8_0, Q8_1 or Q8_K (wgsl/q8_store.wgsl,
 * quantize_q8_1.wgsl, quantize_q8_k.wgsl): the input of the integer matmuls
 * over quantized weights. All three are stored per 32-element block: Q8_1
 * adds each block's s (f16 of d * sum of quants), Q8_K repeats its
 * super-block's scale for each block and adds the sums of the block's two
 * 16-element halves. Q8_1 activations serve Q8_0 weights too. */
export interface Q8Acts {
  type: Exclude<ActType, 'f32'>;
  quants: GPUBuffer; // (maxTokens, cols / 4) u32: int8 values
  scales: GPUBuffer; // (maxTokens, cols / 32) f32: block scales
  sums: GPUBuffer | null; // (maxTokens, cols / 32) u32: Q8_1's s (f32 bits) or Q8_K's two i16 sums
  cols: number;
  maxTokens: number;
}

const actTypes: Record<GpuWeightType, ActType> = {
  f32: 'f32',
  f16: 'f32',
  bf16: 'f32',
  q8_0: 'q8_0',
  q4_0: 'q8_0',
  q5_0: 'q8_0',
  iq4_nl: 'q8_0',
  q4_1: 'q8_1',
  q5_1: 'q8_1',
  q2_k: 'q8_k',
  q3_k: 'q8_k',
  q4_k: 'q8_k',
  q5_k: 'q8_k',
  q6_k: 'q8_k',
};

/** The activation type of a matmul over weights of this type. */
export function actType(type: GpuWeightType): ActType {
  return actTypes[type];
}

/** True when the CPU (and so the GPU) multiplies weights of this type by
 * quantized activations: the matmul then takes a Q8Acts of actType(type). */
export function needsQ8Acts(type: GpuWeightType): boolean {
  return actTypes[type] !== 'f32';
}

/** True if activations of type `have` serve weights of type `w`. */
export function actsServe(have: Q8Acts['type'], w: GpuWeightType): boolean {
  const want = actTypes[w];
  return have === want || (want === 'q8_0' && have === 'q8_1');
}

/** Allocates the buffers of maxTokens rows of cols activations in Q8_0
 * (default), Q8_1 or Q8_K (cols a multiple of 256). */
export function createQ8Acts(device: GPUDevice, label: string, maxTokens: number, cols: number, type: Q8Acts['type'] = 'q8_0'): Q8Acts {
  const block = type === 'q8_k' ? 256 : 32;
  if (!Number.isInteger(cols) || cols <= 0 || cols % block !== 0 || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new HobError('argument/invalid', `${label}: ${type} activations need cols a positive multiple of ${block} and maxTokens >= 1, got ${cols} and ${maxTokens}`, { cols, maxTokens });
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const quants = device.createBuffer({ label: `${label} ${type} quants`, size: maxTokens * cols, usage });
  const blockBytes = Math.max(16, (maxTokens * cols) / 32 * 4);
  const scales = device.createBuffer({ label: `${label} ${type} scales`, size: blockBytes, usage });
  const sums = type === 'q8_0' ? null : device.createBuffer({ label: `${label} ${type} sums`, size: blockBytes, usage });
  return { type, quants, scales, sums, cols, maxTokens };
}

/** Destroys the buffers of quantized activations. */
export function destroyQ8Acts(acts: Q8Acts): void {
  acts.quants.destroy();
  acts.scales.destroy();
  acts.sums?.destroy();
}

export function isQ8Acts(x: GPUBuffer | Q8Acts): x is Q8Acts {
  return (x as Q8Acts).quants !== undefined;
}

/** Rows of Q8 activations that `acts` holds for `cols` columns. */
export function q8Rows(label: string, acts: Q8Acts, cols: number): number {
  if (acts.cols !== cols) {
    throw new HobError('argument/invalid', `${label}: ${acts.type} activations of ${acts.cols} columns where ${cols} are needed`, { cols, actsCols: acts.cols });
  }
  needBytes(label, 'q8 quants', acts.quants, acts.maxTokens * cols);
  needBytes(label, 'q8 scales', acts.scales, (acts.maxTokens * cols) / 32 * 4);
  if (acts.type !== 'q8_0') {
    if (!acts.sums) throw new HobError('argument/invalid', `${label}: ${acts.type} activations need their sums buffer`, {});
    needBytes(label, 'q8 sums', acts.sums, (acts.maxTokens * cols) / 32 * 4);
  }
  return acts.maxTokens;
}
