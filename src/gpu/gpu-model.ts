// The offloaded part of a model on the GPU: the weights of blocks
// [firstLayer, nLayer) and, when every block is offloaded, the output norm
// and head, uploaded from the file's bytes (never through the wasm heap).
// Sessions get a GpuRunner from here, which owns their caches and
// activations; this file owns only weights and the compiled kernels.
import type { OffloadedBlocks } from '../core/offload.js';
import { GpuError, HobError } from '../shared/errors.js';
import type { ModelHparams, ModelInfo } from '../shared/model.js';
import { withErrorScopes, type GpuContext } from './device.js';
import { Kernels, type RopeConfig } from './kernels/index.js';
import type { GpuBlockWeights, GpuEncoderBlockWeights, GpuMixerWeights, GpuModelSpec, GpuModelWeights, TensorBytes, TensorReader } from './model-weights.js';
import { GpuRunner } from './runner.js';
import { createF32Buffer, createVectorBuffer, createWeightBuffers, vectorValues, destroyWeight, isGpuWeightType, type GpuWeight } from './weights.js';

export type { GpuBlockWeights, GpuModelSpec, TensorBytes, TensorReader };

export class GpuModel implements OffloadedBlocks, GpuModelWeights {
  readonly kernels: Kernels;
  readonly blocks: GpuBlockWeights[] = [];
  readonly encoderBlocks: GpuEncoderBlockWeights[] = [];
  /** Output norm (n_embd f32) and head (n_embd -> n_vocab), when every block is offloaded. */
  outputNorm?: GPUBuffer;
  output?: GpuWeight;
  outputTied = false;
  embed?: GpuWeight;
  ropeFreqs?: GPUBuffer;
  /** LongRoPE's factors (n_rot / 2 f32 each), when the file has them. */
  ropeLong?: GPUBuffer;
  ropeShort?: GPUBuffer;
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

  /** Every block is offloaded and the model has a head (embedding models have none). */
  get headOnDevice(): boolean {
    return this.spec.hparams.hasHead && !this.spec.hparams.headOnCpu;
  }

  /** The RoPE of layer l in a session of nCtx cells, as the CPU's
   * Model::rope_of: sliding-window layers may use another base; LongRoPE
   * takes its long factors past rope.scaling.original_context_length.
   * Undefined for a NoPE layer. */
  ropeOf(l: number, nCtx: number): RopeConfig | undefined {
    const hp = this.spec.hparams;
    if (!hp.ropeLayers[l]) return undefined;
    const swa = hp.nSwa > 0 && hp.swaLayers[l];
    // Gemma 4's sliding blocks have their own head width and rotate
    // without rope_freqs (the full blocks' proportional factors).
    if (swa && hp.headDimSwa > 0) {
      return { style: hp.ropeStyle, nRot: hp.nRotSwa, freqBase: hp.freqBaseSwa, freqScale: hp.freqScaleSwa, mscale: hp.ropeAttnFactorSwa };
    }
    const longRope = this.ropeLong && this.ropeShort ? (nCtx > hp.nCtxOrig ? this.ropeLong : this.ropeShort) : undefined;
    return {
      style: hp.ropeStyle,
      nRot: hp.nRot,
      freqBase: swa ? hp.freqBaseSwa : hp.freqBase,
      freqScale: swa ? hp.freqScaleSwa : hp.freqScale,
      freqFactors: this.ropeFreqs ?? longRope,
      mscale: swa ? hp.ropeAttnFactorSwa : hp.ropeAttnFactor,
    };
  }

  /** Uploads the offloaded blocks (and head) of a model whose CPU side is
   * already built, reading each tensor once; onBytes reports progress.
   * With opts.embeddings, an untied model's token embeddings go up too
   * (for decoding ahead; runtime/load.ts decides whether memory allows). */
  static async create(ctx: GpuContext, spec: GpuModelSpec, read: TensorReader, onBytes?: (n: number) => void, opts: { embeddings?: boolean } = {}): Promise<GpuModel> {
    const g = new GpuModel(ctx, spec);
    try {
      await g.upload(read, onBytes);
      if (opts.embeddings && g.output && !g.outputTied) await g.uploadEmbeddings(read, onBytes);
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
    // A matrix from the file's bytes: a whole tensor, or several stacked by
    // rows (rows [r0, r0 + n) of each, all of it by default) into one weight
    // whose matmul writes each one's rows to its own output.
    const stacked = async (label: string, srcs: { name: string; t: TensorBytes; r0?: number; n?: number }[]): Promise<GpuWeight> => {
      let rows = 0;
      const pieces: Uint8Array[] = [];
      const { typeId, type, dims: [cols] } = srcs[0].t;
      for (const { name, t, r0 = 0, n = t.dims[1] } of srcs) {
        if (!isGpuWeightType(t.typeId)) {
          throw new GpuError('gpu/unsupported-type', `tensor ${name} has type ${t.type}, which the GPU kernels do not support yet`, {
            name, type: t.type, lost: false,
          });
        }
        const allRows = t.dims[1];
        const rowBytes = t.bytes.byteLength / allRows;
        if (!Number.isInteger(rowBytes) || r0 < 0 || n < 1 || r0 + n > allRows) {
          throw new HobError('model/invalid', `${name}: cannot take rows [${r0}, ${r0 + n}) of ${allRows}`, { name, rows: allRows });
        }
        if (t.typeId !== typeId || t.dims[0] !== cols) {
          throw new HobError('model/invalid', `${name}: cannot stack ${t.type} rows of ${t.dims[0]} on ${type} rows of ${cols}`, { name });
        }
        pieces.push(t.bytes.subarray(r0 * rowBytes, (r0 + n) * rowBytes));
        rows += n;
      }
      let bytes = pieces[0];
      if (pieces.length > 1) {
        bytes = new Uint8Array(pieces.reduce((a, p) => a + p.byteLength, 0));
        let o = 0;
        for (const p of pieces) {
          bytes.set(p, o);
          o += p.byteLength;
        }
      }
      const w = await withErrorScopes(this.ctx.device, `uploading ${label}`, () =>
        createWeightBuffers(this.ctx, label, typeId, rows, cols, bytes));
      this.weights.push(w);
      this.sizeBytes += w.sizeBytes;
      return w;
    };
    const matrix = async (name: string, read?: TensorBytes): Promise<GpuWeight> => stacked(name, [{ name, t: read ?? (await need(name)) }]);
    // Weights that read the same input: one stacked weight when their types
    // match (the matmul writes `rows` rows to each output), else each alone.
    const together = async (label: string, srcs: { name: string; t: TensorBytes; r0: number; n: number }[]): Promise<GpuWeight[]> => {
      if (srcs.every((x) => x.t.typeId === srcs[0].t.typeId && x.t.dims[0] === srcs[0].t.dims[0])) {
        const w = await stacked(label, srcs);
        w.stack = srcs.map((x) => x.n);
        return [w];
      }
      const ws: GpuWeight[] = [];
      for (const x of srcs) ws.push(await stacked(x.r0 === 0 && x.n === x.t.dims[1] ? x.name : `${x.name}[${x.r0}+${x.n}]`, [x]));
      return ws;
    };
    const whole = async (name: string) => {
      const t = await need(name);
      return { name, t, r0: 0, n: t.dims[1] };
    };
    const vector = async (name: string, n: number, read?: TensorBytes, from = 0): Promise<GPUBuffer> =>
      upload(name, await values(name, n, read, from));
    const upload = async (name: string, v: Float32Array): Promise<GPUBuffer> => {
      const b = await withErrorScopes(this.ctx.device, `uploading ${name}`, () => createF32Buffer(this.ctx, name, v));
      this.vectors.push(b);
      this.sizeBytes += b.size;
      return b;
    };
    const values = async (name: string, n: number, read?: TensorBytes, from = 0): Promise<Float32Array> => {
      const t = read ?? (await need(name));
      const elemBytes = t.bytes.byteLength / Math.max(1, t.dims.reduce((a, b) => a * b, 1));
      if (from > 0 || (read && t.dims[0] !== n)) {
        if (!Number.isInteger(elemBytes) || (from + n) * elemBytes > t.bytes.byteLength) {
          throw new HobError('model/invalid', `${name}: cannot take elements [${from}, ${from + n})`, { name });
        }
      }
      return vectorValues(name, t.typeId, n, t.bytes.subarray(from * elemBytes, (from + n) * elemBytes));
    };

    const factors = async (name: string): Promise<GPUBuffer | undefined> => {
      const t = await read(name);
      if (!t) return undefined;
      onBytes?.(t.bytes.byteLength);
      const b = await withErrorScopes(this.ctx.device, `uploading ${name}`, () => createVectorBuffer(this.ctx, name, t.typeId, hp.nRot / 2, t.bytes));
      this.vectors.push(b);
      return b;
    };
    this.ropeFreqs = await factors('rope_freqs.weight');
    // LongRoPE's two sets (the CPU side has checked both are there).
    if (!this.ropeFreqs) {
      this.ropeLong = await factors('rope_factors_long.weight');
      this.ropeShort = await factors('rope_factors_short.weight');
    }
    const Q = hp.nHead * hp.headDim;
    const KV = hp.nHeadKv * hp.headDim;
    if (hp.block === 'bert') {
      // BERT's blocks: biases where the file has them, post-norm LayerNorms.
      const E = info.nEmbd;
      const optional = async (name: string, n: number) => ((await read(name)) ? vector(name, n) : undefined);
      for (let l = hp.nCpuLayers; l < info.nLayer; l++) {
        const p = `blk.${l}.`;
        let qkv: GpuWeight[];
        let biases: (GPUBuffer | undefined)[] = [];
        if (hp.fusedQkv) {
          const name = p + 'attn_qkv.weight';
          const t = await need(name);
          qkv = await together(name, [{ name, t, r0: 0, n: E }, { name, t, r0: E, n: E }, { name, t, r0: 2 * E, n: E }]);
          const b = hp.qkvBias ? await need(p + 'attn_qkv.bias') : undefined;
          if (b) biases = [await vector(p + 'attn_qkv.bias[q]', E, b, 0), await vector(p + 'attn_qkv.bias[k]', E, b, E), await vector(p + 'attn_qkv.bias[v]', E, b, 2 * E)];
        } else {
          qkv = await together(p + 'attn_qkv', [await whole(p + 'attn_q.weight'), await whole(p + 'attn_k.weight'), await whole(p + 'attn_v.weight')]);
          if (hp.qkvBias) biases = [await vector(p + 'attn_q.bias', E), await vector(p + 'attn_k.bias', E), await vector(p + 'attn_v.bias', E)];
        }
        const wo = await matrix(p + 'attn_output.weight');
        const bo = await optional(p + 'attn_output.bias', E);
        const attnOutNorm = await vector(p + 'attn_output_norm.weight', E);
        const attnOutNormB = await vector(p + 'attn_output_norm.bias', E);
        const up = hp.ffnAct === 'silu'
          ? await together(p + 'ffn_gate_up', [await whole(p + 'ffn_gate.weight'), await whole(p + 'ffn_up.weight')])
          : [await matrix(p + 'ffn_up.weight')];
        const bUp = await optional(p + 'ffn_up.bias', hp.nFf);
        const down = await matrix(p + 'ffn_down.weight');
        const bDown = await optional(p + 'ffn_down.bias', E);
        const outNorm = await vector(p + 'layer_output_norm.weight', E);
        const outNormB = await vector(p + 'layer_output_norm.bias', E);
        this.encoderBlocks.push({
          qkv, bq: biases[0], bk: biases[1], bv: biases[2], wo, bo, attnOutNorm, attnOutNormB, up, bUp, down, bDown, outNorm, outNormB,
        });
      }
      return;
    }
    // The FFN's norm: Qwen 3.5 calls it post_attention_norm (its only
    // post-attention norm; Gemma's are postNorms).
    const ffnNormName = async (p: string) => (hp.postNorms || (await read(p + 'ffn_norm.weight')) ? 'ffn_norm' : 'post_attention_norm');
    const ffn = async (p: string) => {
      const ffnNorm = hp.preNorms ? await vector(p + (await ffnNormName(p)) + '.weight', info.nEmbd) : undefined;
      let gateUp: GpuWeight[];
      if (hp.fusedFfn) {
        const name = p + 'ffn_up.weight';
        const t = await need(name);
        gateUp = await together(name, [{ name, t, r0: 0, n: hp.nFf }, { name, t, r0: hp.nFf, n: hp.nFf }]);
      } else {
        gateUp = await together(p + 'ffn_gate_up', [await whole(p + 'ffn_gate.weight'), await whole(p + 'ffn_up.weight')]);
      }
      const down = await matrix(p + 'ffn_down.weight');
      const postFfnNorm = hp.postNorms ? await vector(p + 'post_ffw_norm.weight', info.nEmbd) : undefined;
      return { ffnNorm, gateUp, down, postFfnNorm };
    };
    // Gemma 4's block: widths of its kind (sliding or full), shared KV,
    // V normed without a weight (and K's projection without attn_v), the
    // per-layer input and the output scale (cpp/model_gemma4.cpp).
    const gemma4Block = async (l: number): Promise<GpuBlockWeights> => {
      const p = `blk.${l}.`;
      const E = info.nEmbd;
      const swa = hp.nSwa > 0 && hp.swaLayers[l];
      const D = swa ? hp.headDimSwa : hp.headDim;
      const nHeadKv = hp.headKvLayers[l];
      const src = hp.kvSourceLayers[l];
      if (src !== l && src < hp.nCpuLayers) {
        throw new HobError('model/unsupported-architecture', `block ${l} on the GPU cannot attend over the cache of block ${src} on the CPU`, { layer: l, source: src });
      }
      const attnNorm = await vector(p + 'attn_norm.weight', E);
      let qkv: GpuWeight[];
      let kNorm: GPUBuffer | undefined, vNorm: GPUBuffer | undefined;
      if (src === l) {
        // Without attn_v, V is K's projection: stacked twice, one dispatch writes both.
        const k = await whole(p + 'attn_k.weight');
        const vt = await read(p + 'attn_v.weight');
        if (vt) onBytes?.(vt.bytes.byteLength);
        const v = vt ? { name: p + 'attn_v.weight', t: vt, r0: 0, n: vt.dims[1] } : k;
        qkv = await together(p + 'attn_qkv', [await whole(p + 'attn_q.weight'), k, v]);
        kNorm = await vector(p + 'attn_k_norm.weight', D);
        vNorm = await upload(p + 'v_norm (ones)', new Float32Array(D).fill(1));
      } else {
        qkv = [await matrix(p + 'attn_q.weight')];
      }
      const qNorm = await vector(p + 'attn_q_norm.weight', D);
      const wo = await matrix(p + 'attn_output.weight');
      const postAttnNorm = await vector(p + 'post_attention_norm.weight', E);
      const f = await ffn(p);
      const perLayer = hp.nEmbdPerLayer > 0
        ? { gate: await matrix(p + 'inp_gate.weight'), proj: await matrix(p + 'proj.weight'), postNorm: await vector(p + 'post_norm.weight', E) }
        : undefined;
      const scale = await read(p + 'layer_output_scale.weight');
      const outScale = scale ? (await values(p + 'layer_output_scale.weight', 1, scale))[0] : undefined;
      return {
        attnNorm, qkv, wo, qNorm, kNorm, vNorm, postAttnNorm, ...f, perLayer, outScale,
        window: swa ? hp.nSwa : 0,
        headDim: D, nHeadKv, nFf: hp.ffLayers[l],
        kvFrom: src === l ? undefined : src - hp.nCpuLayers,
      };
    };
    for (let l = hp.nCpuLayers; l < info.nLayer; l++) {
      const p = `blk.${l}.`;
      const attnNorm = hp.preNorms ? await vector(p + 'attn_norm.weight', info.nEmbd) : undefined;
      const kind = hp.mixers[l];
      if (kind !== 'attention') {
        // A recurrent block (hybrids): its mixer's weights, then the FFN.
        const C = hp.convChannels;
        const conv = await vector(p + (kind === 'shortconv' ? 'shortconv.conv.weight' : 'ssm_conv1d.weight'), C * hp.convKernel);
        let mixer: GpuMixerWeights;
        let wo: GpuWeight;
        if (kind === 'shortconv') {
          mixer = { kind, inProj: [await matrix(p + 'shortconv.in_proj.weight')], conv };
          wo = await matrix(p + 'shortconv.out_proj.weight');
        } else {
          const H = hp.ssmValueHeads;
          // Two stacks: a matmul writes at most three outputs.
          const inProj = [
            ...(await together(p + 'ssm_in', [await whole(p + 'attn_qkv.weight'), await whole(p + 'attn_gate.weight')])),
            ...(await together(p + 'ssm_ba', [await whole(p + 'ssm_beta.weight'), await whole(p + 'ssm_alpha.weight')])),
          ];
          mixer = {
            kind, conv, inProj,
            dtBias: await vector(p + 'ssm_dt.bias', H), a: await vector(p + 'ssm_a', H),
            ssmNorm: await vector(p + 'ssm_norm.weight', hp.ssmHeadDim),
          };
          wo = await matrix(p + 'ssm_out.weight');
        }
        this.blocks.push({ attnNorm, qkv: [], wo, ...(await ffn(p)), window: 0, mixer });
        continue;
      }
      if (hp.headDimSwa > 0) {
        this.blocks.push(await gemma4Block(l));
        continue;
      }
      let qkv: GpuWeight[];
      let bq: GPUBuffer | undefined, bk: GPUBuffer | undefined, bv: GPUBuffer | undefined, bqkv: GPUBuffer | undefined;
      let biases: Float32Array[] | undefined;
      if (hp.fusedQkv) {
        const name = p + 'attn_qkv.weight';
        const t = await need(name);
        qkv = await together(name, [{ name, t, r0: 0, n: Q }, { name, t, r0: Q, n: KV }, { name, t, r0: Q + KV, n: KV }]);
        if (hp.qkvBias) {
          const b = await need(p + 'attn_qkv.bias');
          biases = [await values(p + 'attn_qkv.bias[q]', Q, b, 0), await values(p + 'attn_qkv.bias[k]', KV, b, Q), await values(p + 'attn_qkv.bias[v]', KV, b, Q + KV)];
        }
      } else if (hp.attnGate) {
        // Qwen 3.5: attn_q holds each head's query rows then its gate rows.
        const D = hp.headDim;
        const q = await need(p + 'attn_q.weight');
        const heads = (off: number) => Array.from({ length: hp.nHead }, (_, h) => ({ name: p + 'attn_q.weight', t: q, r0: 2 * h * D + off, n: D }));
        const k = await whole(p + 'attn_k.weight');
        const v = await whole(p + 'attn_v.weight');
        if (q.typeId === k.t.typeId && q.typeId === v.t.typeId) {
          // A matmul writes at most three outputs: q, k, v stacked, the gates apart.
          const w = await stacked(p + 'attn_qkv', [...heads(0), k, v]);
          w.stack = [Q, KV, KV];
          qkv = [w, await stacked(p + 'attn_q.weight[gate]', heads(D))];
        } else {
          qkv = [await stacked(p + 'attn_q.weight[q]', heads(0)), await matrix(k.name, k.t), await matrix(v.name, v.t), await stacked(p + 'attn_q.weight[gate]', heads(D))];
        }
      } else {
        const srcs = [await whole(p + 'attn_q.weight'), await whole(p + 'attn_k.weight'), await whole(p + 'attn_v.weight')];
        qkv = await together(p + 'attn_qkv', srcs);
        if (hp.qkvBias) biases = [await values(p + 'attn_q.bias', Q), await values(p + 'attn_k.bias', KV), await values(p + 'attn_v.bias', KV)];
      }
      if (biases) {
        // Added by the fused RoPE + cache store where every element is
        // rotated and no q/k norm comes between; else by their own passes.
        if (hp.qkNorm === 'none' && hp.nRot === hp.headDim && hp.ropeLayers[l]) {
          const all = new Float32Array(Q + 2 * KV);
          all.set(biases[0]);
          all.set(biases[1], Q);
          all.set(biases[2], Q + KV);
          bqkv = await upload(p + 'attn_qkv.bias', all);
        } else {
          bq = await upload(p + 'attn_q.bias', biases[0]);
          bk = await upload(p + 'attn_k.bias', biases[1]);
          bv = await upload(p + 'attn_v.bias', biases[2]);
        }
      }
      const row = hp.qkNorm === 'row';
      const qNorm = hp.qkNorm !== 'none' ? await vector(p + 'attn_q_norm.weight', row ? Q : hp.headDim) : undefined;
      const kNorm = hp.qkNorm !== 'none' ? await vector(p + 'attn_k_norm.weight', row ? KV : hp.headDim) : undefined;
      const wo = await matrix(p + 'attn_output.weight');
      const postAttnNorm = hp.postNorms ? await vector(p + 'post_attention_norm.weight', info.nEmbd) : undefined;
      const { ffnNorm, gateUp, down, postFfnNorm } = await ffn(p);
      this.blocks.push({
        attnNorm, qkv, wo, ffnNorm, gateUp, down,
        bq, bk, bv, bqkv, qNorm, kNorm, postAttnNorm, postFfnNorm,
        window: hp.nSwa > 0 && hp.swaLayers[l] ? hp.nSwa : 0,
      });
    }
    if (this.headOnDevice) {
      // llama.cpp reads LFM2's output norm under the name token_embd_norm.
      const outputNorm = (await read('output_norm.weight')) ? 'output_norm.weight' : 'token_embd_norm.weight';
      this.outputNorm = await vector(outputNorm, info.nEmbd);
      // Tied embeddings: the head is the token embedding matrix.
      const output = await read('output.weight');
      if (output) onBytes?.(output.bytes.byteLength);
      this.output = output ? await matrix('output.weight', output) : await matrix('token_embd.weight');
      this.outputTied = !output;
      if (this.outputTied) this.embed = this.output;
    }
  }

  /** An untied model's token embeddings, uploaded as a weight of their own
   * (the CPU keeps its copy for prompts). */
  private async uploadEmbeddings(read: TensorReader, onBytes?: (n: number) => void): Promise<void> {
    const t = await read('token_embd.weight');
    if (!t || !isGpuWeightType(t.typeId) || t.dims[0] !== this.spec.info.nEmbd) return;
    onBytes?.(t.bytes.byteLength);
    const w = await withErrorScopes(this.ctx.device, 'uploading token_embd.weight', () =>
      createWeightBuffers(this.ctx, 'token_embd.weight', t.typeId, t.dims[1], t.dims[0], t.bytes));
    this.weights.push(w);
    this.sizeBytes += w.sizeBytes;
    this.embed = w;
  }

  /** The GPU side of a new session: caches for nCtx cells and activations,
   * allocated once. */
  createRunner(nCtx: number, checkpoints = 0): GpuRunner {
    const r = new GpuRunner(this, nCtx, checkpoints, () => this.runners.delete(r));
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
