// Greedy decode steps recorded ahead, with the sampled token staying on the
// GPU: each step embeds its input token from the tied output weight
// (wgsl/embed_row.wgsl), runs the session's recorded forward, picks the best
// logit (src/gpu/pick.ts) and copies the pick into the next step's input and
// into a small ring; the host submits step after step without waiting and
// maps the ring once at the end. A step costs the host its recording only,
// which overlaps the GPU's work on the step before, instead of a submit,
// a wait and a map per token. It owns its few small buffers.
import type { Candidates } from '../core/offload.js';
import { HobError } from '../shared/errors.js';
import { f32Bits } from './kernels/context.js';
import { Pipelines } from './kernels/pipelines.js';
import type { ForwardGraph } from './forward-graph.js';
import type { GpuModelWeights } from './model-weights.js';
import { pickReadbackBytes } from './pick.js';
import * as wgsl from './shaders.js';
import type { GpuWeightType } from './weights.js';

/** Steps one decodeAhead runs at most (the ring's length). */
export const DECODE_AHEAD_MAX = 64;

/** Weight types whose load_block returns a block's elements in order with
 * one scale, which embed_row.wgsl reads. */
const EMBED_DEQUANT: Partial<Record<GpuWeightType, string>> = {
  q4_0: wgsl.dequantQ4_0Wgsl,
  q8_0: wgsl.dequantQ8_0Wgsl,
};

/** Bytes of one ring record: a greedy pick's header and best (id, logit). */
const RECORD = pickReadbackBytes(1);

/** Why `model` cannot decode ahead on the GPU (the token's embedding row is
 * not there, or a step needs more than the token), or null when it can. */
export function decodeAheadUnsupported(model: GpuModelWeights, tiedOutput: boolean): string | null {
  const hp = model.spec.hparams;
  if (!model.headOnDevice || !model.output) return 'the output head runs on the CPU';
  if (!tiedOutput) return 'the token embeddings are not on the GPU (the output weight is not tied to them)';
  if (!EMBED_DEQUANT[model.output.type]) return `embedding rows of ${model.output.type} weights are not read on the GPU`;
  if (model.encoderBlocks.length > 0 || !hp.causal) return 'not a causal decoder';
  if (model.blocks.some((b) => b.mixer)) return 'recurrent blocks cannot take back tokens computed past a stop';
  if (hp.nEmbdPerLayer > 0) return 'per-layer inputs come from the CPU';
  if (model.spec.info.nEmbd % 32 !== 0) return 'n_embd is not a multiple of 32';
  return null;
}

export class GpuDecodeAhead {
  readonly buffers: GPUBuffer[] = [];
  /** Word 0: the next step's input token. */
  private readonly token: GPUBuffer;
  private readonly ring: GPUBuffer;
  private readonly ringRead: GPUBuffer;
  /** Host time spent recording and submitting steps, over every run (ms). */
  hostMs = 0;
  private readonly embed: { pipeline: GPUComputePipeline; group: GPUBindGroup; groups: number }[];

  constructor(
    private readonly model: GpuModelWeights,
    private readonly graph: ForwardGraph,
  ) {
    const { device } = model.ctx;
    const w = model.output!;
    const create = (label: string, size: number, usage: number) => {
      const b = device.createBuffer({ label, size, usage });
      this.buffers.push(b);
      return b;
    };
    this.token = create('ahead token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.ring = create('ahead ring', DECODE_AHEAD_MAX * RECORD, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.ringRead = create('ahead ring readback', DECODE_AHEAD_MAX * RECORD, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const pipelines = new Pipelines(device);
    const pipeline = pipelines.get(`embed_row/${w.type}`, [wgsl.commonWgsl, wgsl.embedRowWgsl, EMBED_DEQUANT[w.type]!], 'embed_row');
    const E = model.spec.info.nEmbd;
    this.embed = w.parts.map((part, i) => {
      const data = new Uint32Array([part.rowCount, E, part.rowStart, f32Bits(model.spec.hparams.embdScale)]);
      const params = create(`embed row part ${i} params`, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(params, 0, data);
      const group = pipelines.bindGroup(pipeline, `embed row part ${i}`, [null, params, this.token, graph.x, ...part.buffers]);
      return { pipeline, group, groups: Math.ceil(E / 32 / 64) };
    });
  }

  /** Evaluates `token` at cell cell0 and then, for n - 1 more steps, the
   * token each step picked, at the cells after it: n forwards, one submit
   * each, one readback. Returns each step's greedy pick (what a forward
   * with { candidates: 1 } reads back), in order. The caller checks that
   * the cells fit. */
  async run(token: number, cell0: number, n: number): Promise<Candidates[]> {
    if (!Number.isInteger(n) || n < 1 || n > DECODE_AHEAD_MAX) {
      throw new HobError('argument/invalid', `decodeAhead runs 1 to ${DECODE_AHEAD_MAX} steps, got ${n}`, { n, max: DECODE_AHEAD_MAX });
    }
    const { device } = this.model.ctx;
    const g = this.graph;
    const picker = g.picker!;
    const t0 = performance.now();
    device.queue.writeBuffer(this.token, 0, new Uint32Array([token]));
    for (let i = 0; i < n; i++) {
      const cell = cell0 + i;
      // Ordered with the submits: each step's frame lands after the step before ran.
      device.queue.writeBuffer(g.frame, 0, new Uint32Array([1, cell, cell + 1, 0]));
      const enc = device.createCommandEncoder({ label: 'decode ahead' });
      const pass = enc.beginComputePass({ label: 'blocks' });
      for (const e of this.embed) {
        pass.setPipeline(e.pipeline);
        pass.setBindGroup(0, e.group);
        pass.dispatchWorkgroups(e.groups);
      }
      for (const s of g.blockSteps) s.encode(pass, 1, cell + 1);
      for (const s of g.headSteps) s.encode(pass, 1);
      pass.end();
      picker.encode(enc, 1);
      // The pick's record into the ring, its id into the next step's input.
      picker.copyResult(enc, this.ring, i * RECORD, RECORD);
      enc.copyBufferToBuffer(this.ring, i * RECORD + 8, this.token, 0, 4);
      device.queue.submit([enc.finish()]);
    }
    const enc = device.createCommandEncoder({ label: 'decode ahead ring' });
    enc.copyBufferToBuffer(this.ring, 0, this.ringRead, 0, n * RECORD);
    device.queue.submit([enc.finish()]);
    this.hostMs += performance.now() - t0;
    await this.ringRead.mapAsync(GPUMapMode.READ, 0, n * RECORD);
    const words = new Uint32Array(this.ringRead.getMappedRange(0, n * RECORD).slice(0));
    this.ringRead.unmap();
    return Array.from({ length: n }, (_, i) => picker.parse(words.subarray((i * RECORD) / 4, ((i + 1) * RECORD) / 4), 1));
  }

  /** Dispatches of one step besides the forward's and the pick's. */
  get dispatches(): number {
    return this.embed.length;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
