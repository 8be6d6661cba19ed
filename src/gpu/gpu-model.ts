// The offloaded part of a model on the GPU: the weights of blocks
// [firstLayer, nLayer) and, when every block is offloaded, the output norm
// and head, uploaded from the file's bytes (never through the wasm heap).
// Sessions get a GpuRunner from here, which owns their caches and
// activations; this file owns only weights and the compiled kernels.
import { GpuError, HobError } from '../api/errors.js';
import type { ModelHparams, ModelInfo } from '../core/engine.js';
import { withErrorScopes, type GpuContext } from './device.js';
import { Kernels, type RopeConfig } from './kernels.js';
import { GpuRunner } from './runner.js';
import { createVectorBuffer, createWeightBuffers, destroyWeight, isGpuWeightType, type GpuWeight } from './weights.js';

/** One tensor as the file stores it. dims[0] is the row length. */
export interface TensorBytes {
  typeId: number;
  type: string;
  dims: number[];
  bytes: Uint8Array;
}

/** Reads a tensor of the model file by name; undefined if it is absent. */
export type TensorReader = (name: string) => Promise<TensorBytes | undefined>;

export interface GpuBlockWeights {
  attnNorm: GPUBuffer; // (n_embd) f32
  wq: GpuWeight; // (n_embd -> n_head * head_dim)
  wk: GpuWeight; // (n_embd -> n_head_kv * head_dim)
  wv: GpuWeight; // (n_embd -> n_head_kv * head_dim)
  wo: GpuWeight; // (n_head * head_dim -> n_embd)
  ffnNorm: GPUBuffer; // (n_embd) f32
  gate: GpuWeight; // (n_embd -> n_ff)
  up: GpuWeight; // (n_embd -> n_ff)
  down: GpuWeight; // (n_ff -> n_embd)
}

export interface GpuModelSpec {
  info: ModelInfo;
  hparams: ModelHparams;
}

export class GpuModel {
  readonly kernels: Kernels;
  readonly blocks: GpuBlockWeights[] = [];
  /** Output norm (n_embd f32) and head (n_embd -> n_vocab), when every block is offloaded. */
  outputNorm?: GPUBuffer;
  output?: GpuWeight;
  ropeFreqs?: GPUBuffer;
  /** Bytes of GPU memory the weights take. */
  sizeBytes = 0;
  private readonly weights: GpuWeight[] = [];
  private readonly vectors: GPUBuffer[] = [];
  private readonly runners = new Set<GpuRunner>();

  private constructor(
    readonly ctx: GpuContext,
    readonly spec: GpuModelSpec,
  ) {
    this.kernels = new Kernels(ctx);
  }

  get firstLayer(): number {
    return this.spec.hparams.nCpuLayers;
  }

  get headOnGpu(): boolean {
    return !this.spec.hparams.headOnCpu;
  }

  get rope(): RopeConfig {
    const hp = this.spec.hparams;
    return { style: hp.ropeStyle, nRot: hp.nRot, freqBase: hp.freqBase, freqScale: hp.freqScale, freqFactors: this.ropeFreqs };
  }

  /** Uploads the offloaded blocks (and head) of a model whose CPU side is
   * already built, reading each tensor once; onBytes reports progress. */
  static async create(ctx: GpuContext, spec: GpuModelSpec, read: TensorReader, onBytes?: (n: number) => void): Promise<GpuModel> {
    const g = new GpuModel(ctx, spec);
    try {
      await g.upload(read, onBytes);
    } catch (e) {
      g.destroy();
      throw e;
    }
    return g;
  }

  private async upload(read: TensorReader, onBytes?: (n: number) => void): Promise<void> {
    const { info, hparams: hp } = this.spec;
    const need = async (name: string): Promise<TensorBytes> => {
      const t = await read(name);
      if (!t) throw new HobError('model/invalid', `tensor ${name} is missing`, { name });
      onBytes?.(t.bytes.byteLength);
      return t;
    };
    const matrix = async (name: string, read?: TensorBytes): Promise<GpuWeight> => {
      const t = read ?? (await need(name));
      if (!isGpuWeightType(t.typeId)) {
        throw new GpuError('gpu/unsupported-type', `tensor ${name} has type ${t.type}, which the GPU kernels do not support yet`, {
          name, type: t.type, lost: false,
        });
      }
      const [cols, rows] = t.dims;
      const w = await withErrorScopes(this.ctx.device, `uploading ${name}`, () =>
        createWeightBuffers(this.ctx, name, t.typeId, rows, cols, t.bytes));
      this.weights.push(w);
      this.sizeBytes += w.sizeBytes;
      return w;
    };
    const vector = async (name: string, n: number): Promise<GPUBuffer> => {
      const t = await need(name);
      const b = await withErrorScopes(this.ctx.device, `uploading ${name}`, () =>
        createVectorBuffer(this.ctx, name, t.typeId, n, t.bytes));
      this.vectors.push(b);
      this.sizeBytes += b.size;
      return b;
    };

    const freqs = await read('rope_freqs.weight');
    if (freqs) {
      onBytes?.(freqs.bytes.byteLength);
      this.ropeFreqs = await withErrorScopes(this.ctx.device, 'uploading rope_freqs.weight', () =>
        createVectorBuffer(this.ctx, 'rope_freqs.weight', freqs.typeId, hp.nRot / 2, freqs.bytes));
      this.vectors.push(this.ropeFreqs);
    }
    for (let l = hp.nCpuLayers; l < info.nLayer; l++) {
      const p = `blk.${l}.`;
      this.blocks.push({
        attnNorm: await vector(p + 'attn_norm.weight', info.nEmbd),
        wq: await matrix(p + 'attn_q.weight'),
        wk: await matrix(p + 'attn_k.weight'),
        wv: await matrix(p + 'attn_v.weight'),
        wo: await matrix(p + 'attn_output.weight'),
        ffnNorm: await vector(p + 'ffn_norm.weight', info.nEmbd),
        gate: await matrix(p + 'ffn_gate.weight'),
        up: await matrix(p + 'ffn_up.weight'),
        down: await matrix(p + 'ffn_down.weight'),
      });
    }
    if (this.headOnGpu) {
      this.outputNorm = await vector('output_norm.weight', info.nEmbd);
      // Tied embeddings: the head is the token embedding matrix.
      const output = await read('output.weight');
      if (output) onBytes?.(output.bytes.byteLength);
      this.output = output ? await matrix('output.weight', output) : await matrix('token_embd.weight');
    }
  }

  /** The GPU side of a new session: caches for nCtx cells and activations,
   * allocated once. */
  createRunner(nCtx: number): GpuRunner {
    const r = new GpuRunner(this, nCtx, () => this.runners.delete(r));
    this.runners.add(r);
    return r;
  }

  destroy(): void {
    for (const r of [...this.runners]) r.destroy();
    for (const w of this.weights) destroyWeight(w);
    for (const b of this.vectors) b.destroy();
    this.weights.length = 0;
    this.vectors.length = 0;
    this.kernels.destroy();
  }
}
