// Greedy decode steps recorded ahead, with the sampled token staying on the
// GPU: each step embeds its input token from the token embeddings on the
// GPU (embed-row.ts: the tied output weight, or an untied model's own
// upload), runs the session's recorded forward, picks the best
// logit (src/gpu/pick.ts) and copies the pick into the next step's input and
// into a small ring; the host submits step after step without waiting and
// maps the ring once at the end. A step costs the host its recording only,
// which overlaps the GPU's work on the step before, instead of a submit,
// a wait and a map per token. It owns its few small buffers.
import type { Candidates } from '../core/offload.js';
import { HobError } from '../shared/errors.js';
import { GpuEmbedRow, embedsRowsOf } from './embed-row.js';
import type { ForwardGraph } from './forward-graph.js';
import type { GpuModelWeights } from './model-weights.js';
import { pickReadbackBytes } from './pick.js';

/** Steps one decodeAhead runs at most (the ring's length). */
export const DECODE_AHEAD_MAX = 64;

/** Bytes of one ring record: a greedy pick's header and best (id, logit). */
const RECORD = pickReadbackBytes(1);

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
  /** Word 0: the next step's input token. */
  private readonly token: GPUBuffer;
  private readonly ring: GPUBuffer;
  private readonly ringRead: GPUBuffer;
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
    this.token = create('ahead token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.ring = create('ahead ring', DECODE_AHEAD_MAX * RECORD, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.ringRead = create('ahead ring readback', DECODE_AHEAD_MAX * RECORD, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.embed = new GpuEmbedRow(device, model.embed!, model.spec.hparams.embdScale, this.token, graph.x, create);
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
      this.embed.encode(pass);
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
    return this.embed.dispatches;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
