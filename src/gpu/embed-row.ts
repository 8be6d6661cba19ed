// One token's embedding row read on the GPU (wgsl/embed_row*.wgsl) from
// the token embedding weight as the matmuls hold it, for a decode step
// whose input token never left the GPU (decode-ahead.ts): one dispatch per
// part of the weight, each writing the row only if its part holds the
// token. Bit for bit the CPU's dequantize_tensor_row and embedding scale,
// for every type the GPU multiplies by.
import { f32Bits } from './kernels/context.js';
import { Pipelines } from './kernels/pipelines.js';
import * as wgsl from './shaders.js';
import type { GpuWeight, GpuWeightType } from './weights.js';

/** How embed_row_quant.wgsl forms an element (its FORM and SIGNED), or
 * 'float' for the types embed_row_float.wgsl reads. */
type Form = { form: 0 | 1 | 2; signed: boolean } | 'float';

const EMBED: Record<GpuWeightType, { dequant: string; form: Form }> = {
  f32: { dequant: wgsl.dequantF32Wgsl, form: 'float' },
  f16: { dequant: wgsl.dequantF16Wgsl, form: 'float' },
  bf16: { dequant: wgsl.dequantBf16Wgsl, form: 'float' },
  q8_0: { dequant: wgsl.dequantQ8_0Wgsl, form: { form: 0, signed: true } },
  q4_0: { dequant: wgsl.dequantQ4_0Wgsl, form: { form: 0, signed: true } },
  q5_0: { dequant: wgsl.dequantQ5_0Wgsl, form: { form: 0, signed: true } },
  iq4_nl: { dequant: wgsl.dequantIq4NlWgsl, form: { form: 0, signed: true } },
  q4_1: { dequant: wgsl.dequantQ4_1Wgsl, form: { form: 1, signed: false } },
  q5_1: { dequant: wgsl.dequantQ5_1Wgsl, form: { form: 1, signed: false } },
  q2_k: { dequant: wgsl.dequantQ2KWgsl, form: { form: 2, signed: false } },
  q4_k: { dequant: wgsl.dequantQ4KWgsl, form: { form: 2, signed: false } },
  q5_k: { dequant: wgsl.dequantQ5KWgsl, form: { form: 2, signed: false } },
  q3_k: { dequant: wgsl.dequantQ3KWgsl, form: { form: 2, signed: true } },
  q6_k: { dequant: wgsl.dequantQ6KWgsl, form: { form: 2, signed: true } },
};

/** Whether the GPU reads embedding rows of this weight type. */
export function embedsRowsOf(type: GpuWeightType): boolean {
  return EMBED[type] !== undefined;
}

export class GpuEmbedRow {
  private readonly steps: { pipeline: GPUComputePipeline; group: GPUBindGroup; groups: number }[];

  /** Binds `weight` (n_embd columns) to read the row of the token at word 0
   * of `token` into the first n_embd floats of `x`, times embdScale. The
   * uniforms are created through `create` (the caller owns them). */
  constructor(
    device: GPUDevice,
    weight: GpuWeight,
    embdScale: number,
    token: GPUBuffer,
    x: GPUBuffer,
    create: (label: string, size: number, usage: number) => GPUBuffer,
  ) {
    const { dequant, form } = EMBED[weight.type];
    const pipelines = new Pipelines(device);
    const E = weight.cols;
    const float = form === 'float';
    const pipeline = float
      ? pipelines.get(`embed_row/${weight.type}`, [wgsl.commonWgsl, wgsl.embedRowWgsl, dequant, wgsl.embedRowFloatWgsl], 'embed_row')
      : pipelines.get(`embed_row/${weight.type}`, [wgsl.commonWgsl, wgsl.embedRowWgsl, dequant, wgsl.embedRowQuantWgsl], 'embed_row', {
        FORM: form.form,
        SIGNED: form.signed ? 1 : 0,
      });
    // One invocation per 8 elements (float) or per 32-element block.
    const groups = Math.ceil(E / (float ? 8 : 32) / 64);
    this.steps = weight.parts.map((part, i) => {
      const data = new Uint32Array([part.rowCount, E, part.rowStart, f32Bits(embdScale), E / 8, 0, 0, 0]);
      const params = create(`embed row part ${i} params`, data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(params, 0, data);
      const group = pipelines.bindGroup(pipeline, `embed row part ${i}`, [null, params, token, x, ...part.buffers]);
      return { pipeline, group, groups };
    });
  }

  /** Dispatches the row's read into pass. */
  encode(pass: GPUComputePassEncoder): void {
    for (const s of this.steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.group);
      pass.dispatchWorkgroups(s.groups);
    }
  }

  get dispatches(): number {
    return this.steps.length;
  }
}
