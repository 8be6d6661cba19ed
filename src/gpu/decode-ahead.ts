// Decode steps recorded ahead, with the sampled token staying on the GPU:
// each step embeds its input token from the token embeddings on the GPU
// (embed-row.ts: the tied output weight, or an untied model's own upload),
// runs the session's recorded forward, picks the best logits
// (src/gpu/pick.ts) and feeds the next step the best one (greedy) or a
// seeded draw from the best k (wgsl/draw.wgsl, with the sampler's next
// uniform numbers), recording each step's pick and token in a small ring;
// the host submits step after step without waiting and maps the ring once
// at the end. A step costs the host its recording only, which overlaps the
// GPU's work on the step before, instead of a submit, a wait and a map per
// token. It owns its few small buffers.
import type { Candidates, DeviceDraw } from '../core/offload.js';
import { HobError } from '../shared/errors.js';
import { GpuEmbedRow, embedsRowsOf } from './embed-row.js';
import type { ForwardGraph } from './forward-graph.js';
import { Pipelines } from './kernels/pipelines.js';
import type { GpuModelWeights } from './model-weights.js';
import { GPU_PICK_MAX, pickReadbackBytes } from './pick.js';
import { drawWgsl } from './shaders.js';

/** Steps one decodeAhead runs at most (the ring's length). */
export const DECODE_AHEAD_MAX = 64;

/** Bytes of one ring record: a greedy step's pick of 1; a draw's token
 * and the uniforms it used so far, then its pick of m. */
const record = (m: number, draw: boolean) => (draw ? 8 : 0) + pickReadbackBytes(m);
/** The largest pick a draw takes (wgsl/draw.wgsl's MAX_M). */
const DRAW_MAX = 128;
const STAGE_KINDS = { top_p: 0, min_p: 1, temperature: 2 } as const;
const NONE = 0xffffffff;

/** Why `model` cannot decode ahead on the GPU (the token's embedding row is
 * not there, or a step needs more than the token), or null when it can. */
export function decodeAheadUnsupported(model: GpuModelWeights): string | null {
  const hp = model.spec.hparams;
  if (!model.headOnDevice || !model.output) return 'the output head runs on the CPU';
  if (!model.embed) return 'the token embeddings are not on the GPU (the output weight is not tied to them, and the GPU budget left no room for them)';
  if (!embedsRowsOf(model.embed.type)) return `embedding rows of ${model.embed.type} weights are not read on the GPU`;
  if (model.encoderBlocks.length > 0 || !hp.causal) return 'not a causal decoder';
  if (model.blocks.some((b) => b.mixer)) return 'recurrent blocks cannot take back tokens computed past a stop';
  if (hp.nEmbdPerLayer > 0) return 'per-layer inputs come from the CPU';
  if (model.spec.info.nEmbd % 32 !== 0) return 'n_embd is not a multiple of 32';
  return null;
}

export class GpuDecodeAhead {
  readonly buffers: GPUBuffer[] = [];
  /** Word 0: the next step's input token; word 1: the uniforms a draw used. */
  private readonly token: GPUBuffer;
  private readonly ring: GPUBuffer;
  private readonly ringRead: GPUBuffer;
  /** The draw's parameters (Draw) and the run's uniform numbers. */
  private readonly drawParams: GPUBuffer;
  private readonly uniforms: GPUBuffer;
  private readonly draw: { pipeline: GPUComputePipeline; group: GPUBindGroup };
  /** Host time spent recording and submitting steps, over every run (ms). */
  hostMs = 0;
  private readonly embed: GpuEmbedRow;

  constructor(
    private readonly model: GpuModelWeights,
    private readonly graph: ForwardGraph,
  ) {
    const { device } = model.ctx;
    const create = (label: string, size: number, usage: number) => {
      const b = device.createBuffer({ label, size, usage });
      this.buffers.push(b);
      return b;
    };
    const ringBytes = DECODE_AHEAD_MAX * record(GPU_PICK_MAX, true);
    this.token = create('ahead token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.ring = create('ahead ring', ringBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.ringRead = create('ahead ring readback', ringBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.drawParams = create('ahead draw params', 48, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.uniforms = create('ahead uniforms', DECODE_AHEAD_MAX * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.embed = new GpuEmbedRow(device, model.embed!, model.spec.hparams.embdScale, this.token, graph.x, create);
    const pipelines = new Pipelines(device);
    const pipeline = pipelines.get('draw', [drawWgsl], 'draw');
    this.draw = { pipeline, group: pipelines.bindGroup(pipeline, 'ahead draw', [this.drawParams, graph.picker!.output, this.uniforms, this.token]) };
  }

  /** Evaluates `token` at cell0 and then, for n - 1 more steps, the token
   * each step chose, at the cells after it: n forwards, one submit each,
   * one readback. A step chooses the best logit, or with `draw` a draw from
   * the best m as the sampler's stages and next uniforms say. Returns each
   * step's pick of m (what a forward with { candidates: m } reads back) and,
   * with a draw, the token drawn, in order. The caller checks that the
   * cells fit. */
  async run(token: number, cell0: number, n: number, m = 1, draw?: DeviceDraw): Promise<Candidates[]> {
    if (!Number.isInteger(n) || n < 1 || n > DECODE_AHEAD_MAX) {
      throw new HobError('argument/invalid', `decodeAhead runs 1 to ${DECODE_AHEAD_MAX} steps, got ${n}`, { n, max: DECODE_AHEAD_MAX });
    }
    if (!Number.isInteger(m) || m < 1 || m > (draw ? DRAW_MAX : 1) || (draw && draw.stages.length > 4)) {
      throw new HobError('argument/invalid', `decodeAhead picks 1 candidate, or draws from 2 to ${DRAW_MAX} with at most 4 stages, got ${m}`, { m });
    }
    const { device } = this.model.ctx;
    const g = this.graph;
    const picker = g.picker!;
    const rec = record(m, !!draw);
    const at0 = draw ? 8 : 0;
    const t0 = performance.now();
    device.queue.writeBuffer(this.token, 0, new Uint32Array([token, 0]));
    if (draw) {
      const params = new ArrayBuffer(48);
      const w = new Uint32Array(params);
      const f = new Float32Array(params);
      w.set([m, draw.stages.length, n, 0]);
      draw.stages.forEach((s, i) => {
        w[4 + i] = STAGE_KINDS[s.kind];
        f[8 + i] = s.value;
      });
      device.queue.writeBuffer(this.drawParams, 0, params);
      // A uniform's top 24 bits: exact in f32, and below 1.
      const u = Float32Array.from(draw.uniforms(n), (x) => Math.floor(x * 2 ** 24) / 2 ** 24);
      device.queue.writeBuffer(this.uniforms, 0, u);
    }
    for (let i = 0; i < n; i++) {
      const cell = cell0 + i;
      // Ordered with the submits: each step's frame lands after the step before ran.
      device.queue.writeBuffer(g.frame, 0, new Uint32Array([1, cell, cell + 1, 0]));
      const enc = device.createCommandEncoder({ label: 'decode ahead' });
      const pass = enc.beginComputePass({ label: 'blocks' });
      this.embed.encode(pass);
      for (const s of g.blockSteps) s.encode(pass, 1, cell + 1);
      for (const s of g.headSteps) s.encode(pass, 1);
      pass.end();
      picker.encode(enc, m);
      // The pick's result into the ring; the token it chose into the next
      // step's input (and, with a draw, into the ring).
      picker.copyResult(enc, this.ring, i * rec + at0, rec - at0);
      if (draw) {
        const dp = enc.beginComputePass({ label: 'draw' });
        dp.setPipeline(this.draw.pipeline);
        dp.setBindGroup(0, this.draw.group);
        dp.dispatchWorkgroups(1);
        dp.end();
        enc.copyBufferToBuffer(this.token, 0, this.ring, i * rec, 8);
      } else {
        enc.copyBufferToBuffer(this.ring, i * rec + 8, this.token, 0, 4);
      }
      device.queue.submit([enc.finish()]);
    }
    const enc = device.createCommandEncoder({ label: 'decode ahead ring' });
    enc.copyBufferToBuffer(this.ring, 0, this.ringRead, 0, n * rec);
    device.queue.submit([enc.finish()]);
    this.hostMs += performance.now() - t0;
    await this.ringRead.mapAsync(GPUMapMode.READ, 0, n * rec);
    const words = new Uint32Array(this.ringRead.getMappedRange(0, n * rec).slice(0));
    this.ringRead.unmap();
    return Array.from({ length: n }, (_, i) => {
      const at = (i * rec) / 4;
      const c = picker.parse(words.subarray(at + at0 / 4, at + rec / 4), m);
      if (!draw) return c;
      return { ...c, drawn: words[at] === NONE ? -1 : words[at] };
    });
  }

  /** Bytes read back per step of a pick of m (with a draw or not). */
  static recordBytes(m: number, draw: boolean): number {
    return record(m, draw);
  }

  /** Dispatches of one step besides the forward's and the pick's (and a draw's one). */
  get dispatches(): number {
    return this.embed.dispatches;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
