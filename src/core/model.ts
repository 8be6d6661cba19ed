// A model in the engine: its metadata and hyperparameters, the tokenizer
// (text <-> ids, token bytes, end of generation), and where its weights are.
// Sessions over it are made in session.ts; the loader that streams a file
// in and attaches offloaded blocks is src/runtime/load.ts.
import { Hparam, PoolingType, Status } from './c-api.js';
import type { OffloadedBlocks } from './offload.js';
import type { Engine } from './wasm-engine.js';
import { HobError } from '../shared/errors.js';
import type { LoadReport, ModelHparams, ModelIdentity, ModelInfo, TokenMixer } from '../shared/model.js';
import type { ContextShiftMode, EmbeddingPooling } from '../shared/types.js';

const encoder = new TextEncoder();

/** Pooling names by the engine's number (hob_pooling). */
export const POOLING_NAMES: Readonly<Record<number, EmbeddingPooling>> = {
  [PoolingType.NONE]: 'none',
  [PoolingType.MEAN]: 'mean',
  [PoolingType.CLS]: 'cls',
  [PoolingType.LAST]: 'last',
  [PoolingType.RANK]: 'rank',
};

/** What tokenizing with special tokens adds, and a pair's separator (rerankers). */
export interface SpecialTokens {
  bos: number;
  eos: number;
  /** -1 if none (WordPiece's [SEP]). */
  sep: number;
  addBos: boolean;
  addEos: boolean;
  addSep: boolean;
}

export interface TokenizeOptions {
  /** Add BOS/EOS as the model's metadata asks (default true). */
  addSpecial?: boolean;
  /** Map special-token text such as "<s>" to its id (default true). */
  parseSpecial?: boolean;
}

/** Allocates engine memory for a model file of `sizeBytes` for the caller to
 * fill before Model.loadAt, which takes it over. */
export function allocModelBuffer(engine: Engine, sizeBytes: number): number {
  const ptr = engine.module._hob_alloc(sizeBytes);
  if (!ptr) {
    throw new HobError('memory/out-of-memory', `cannot allocate ${sizeBytes} bytes for the model in the wasm heap (at most 4 GiB)`, {
      sizeBytes,
    });
  }
  return ptr;
}

/** A loaded model: tokenizer, metadata, and the weights sessions compute
 * with (the CPU blocks' in wasm, the rest behind `offload`). */
export class Model {
  readonly info: ModelInfo;
  /** The offloaded blocks, when any (attached by the loader: src/runtime/load.ts). */
  offload?: OffloadedBlocks;
  /** How the loader split the model. */
  loadReport?: LoadReport;
  /** The file it was loaded from (set by the loader): what a saved session
   * must match to restore into it. */
  identity?: ModelIdentity;
  private freed = false;
  private hparamsValue?: ModelHparams;

  /** Builds a model from a whole GGUF file in memory. */
  static load(engine: Engine, bytes: Uint8Array): Model {
    const ptr = allocModelBuffer(engine, bytes.byteLength);
    engine.heap().set(bytes, ptr);
    return Model.loadAt(engine, ptr, bytes.byteLength);
  }

  /** A model of the vocabulary alone, from a GGUF header (its first
   * headerBytes of a file of fileBytes): it tokenizes and detokenizes and
   * reads metadata; no tensor is read, so vocabulary-only files load too, and
   * sessions refuse it ('model/vocab-only'). */
  static loadVocab(engine: Engine, headerBytes: Uint8Array, fileBytes: number): Model {
    const m = engine.module;
    const ptr = m._malloc(Math.max(1, headerBytes.byteLength));
    try {
      engine.heap().set(headerBytes, ptr);
      engine.check(m._hob_model_load_vocab(ptr, headerBytes.byteLength, BigInt(fileBytes), engine.out(0)));
    } finally {
      m._free(ptr);
    }
    return new Model(engine, engine.u32(engine.out(0)), fileBytes);
  }

  /** Builds a model from a file already copied to `ptr` (from allocModelBuffer). */
  static loadAt(engine: Engine, ptr: number, sizeBytes: number): Model {
    // The engine takes ownership of ptr, also when loading fails.
    engine.check(engine.module._hob_model_load(ptr, sizeBytes, 1, engine.out(0)));
    return new Model(engine, engine.u32(engine.out(0)), sizeBytes);
  }

  /** Wraps a model handle the engine built; the model owns it from here. */
  constructor(
    readonly engine: Engine,
    readonly handle: number,
    fileBytes: number,
  ) {
    const m = engine.module;
    this.info = {
      architecture: this.metaString('general.architecture') ?? '',
      name: this.metaString('general.name') ?? '',
      nVocab: m._hob_model_n_vocab(handle),
      nCtxTrain: m._hob_model_n_ctx_train(handle),
      nEmbd: m._hob_model_n_embd(handle),
      nLayer: m._hob_model_n_layer(handle),
      bos: m._hob_model_token_bos(handle),
      eos: m._hob_model_token_eos(handle),
      weightBytes: Number(m._hob_model_weight_bytes(handle)),
      fileBytes,
    };
  }

  /** True for a model loaded as its vocabulary alone (loadVocab). */
  get vocabOnly(): boolean {
    return this.engine.module._hob_model_vocab_only(this.handle) !== 0;
  }

  get hparams(): ModelHparams {
    if (this.hparamsValue) return this.hparamsValue;
    const e = this.engine;
    const get = (which: number): number => {
      e.check(e.module._hob_model_hparam(this.handle, which, e.out(0)));
      return new DataView(e.heap().buffer).getFloat64(e.out(0), true);
    };
    this.hparamsValue = {
      nHead: get(Hparam.N_HEAD),
      nHeadKv: get(Hparam.N_HEAD_KV),
      headDim: get(Hparam.HEAD_DIM),
      nFf: get(Hparam.N_FF),
      rmsEps: get(Hparam.RMS_EPS),
      ropeStyle: get(Hparam.ROPE_STYLE) === 1 ? 'neox' : 'normal',
      nRot: get(Hparam.ROPE_N_ROT),
      freqBase: get(Hparam.ROPE_FREQ_BASE),
      freqScale: get(Hparam.ROPE_FREQ_SCALE),
      nCpuLayers: get(Hparam.N_CPU_LAYERS),
      headOnCpu: get(Hparam.HEAD_ON_CPU) === 1,
      qkvBias: get(Hparam.QKV_BIAS) === 1,
      fusedQkv: get(Hparam.FUSED_QKV) === 1,
      fusedFfn: get(Hparam.FUSED_FFN) === 1,
      qkNorm: (['none', 'head', 'row'] as const)[get(Hparam.QK_NORM)] ?? 'none',
      preNorms: get(Hparam.PRE_NORMS) === 1,
      postNorms: get(Hparam.POST_NORMS) === 1,
      embdScale: get(Hparam.EMBD_SCALE),
      residualScale: get(Hparam.RESIDUAL_SCALE),
      logitScale: get(Hparam.LOGIT_SCALE),
      attnScale: get(Hparam.ATTN_SCALE),
      attnScaleOnQ: get(Hparam.ATTN_SCALE_ON_Q) === 1,
      attnSoftcap: get(Hparam.ATTN_SOFTCAP),
      finalSoftcap: get(Hparam.FINAL_SOFTCAP),
      ffnAct: get(Hparam.FFN_ACT) === 1 ? 'gelu' : 'silu',
      nSwa: get(Hparam.N_SWA),
      swaLayers: [],
      freqBaseSwa: get(Hparam.ROPE_FREQ_BASE_SWA),
      freqScaleSwa: get(Hparam.ROPE_FREQ_SCALE_SWA),
      ropeAttnFactor: get(Hparam.ROPE_ATTN_FACTOR),
      ropeAttnFactorSwa: get(Hparam.ROPE_ATTN_FACTOR_SWA),
      nCtxOrig: get(Hparam.ROPE_N_CTX_ORIG),
      ropeLayers: [],
      mixers: [],
      convKernel: get(Hparam.CONV_KERNEL),
      convChannels: get(Hparam.CONV_CHANNELS),
      ssmHeadDim: get(Hparam.SSM_HEAD_DIM),
      ssmKeyHeads: get(Hparam.SSM_KEY_HEADS),
      ssmValueHeads: get(Hparam.SSM_VALUE_HEADS),
      attnGate: get(Hparam.ATTN_GATE) === 1,
      causal: get(Hparam.CAUSAL) === 1,
      pooling: POOLING_NAMES[get(Hparam.POOLING)] ?? 'none',
      nClsOut: get(Hparam.N_CLS_OUT),
      clsDense: (get(Hparam.CLS_HEAD) & 1) !== 0,
      clsOut: (get(Hparam.CLS_HEAD) & 2) !== 0,
      hasHead: get(Hparam.HAS_HEAD) === 1,
      block: get(Hparam.BLOCK) === 1 ? 'bert' : 'decoder',
      normEps: get(Hparam.NORM_EPS),
      swaSymmetric: get(Hparam.SWA_SYMMETRIC) === 1,
      nEmbdPerLayer: get(Hparam.N_EMBD_PER_LAYER),
      headDimSwa: get(Hparam.HEAD_DIM_SWA),
      nRotSwa: get(Hparam.N_ROT_SWA),
      headKvLayers: [],
      kvSourceLayers: [],
      ffLayers: [],
    };
    const nLayer = this.info.nLayer;
    const mixers: TokenMixer[] = ['attention', 'shortconv', 'deltanet'];
    for (let l = 0; l < nLayer; l++) {
      this.hparamsValue.swaLayers.push(get(Hparam.LAYER_SWA + l) === 1);
      this.hparamsValue.ropeLayers.push(get(Hparam.LAYER_ROPE + l) === 1);
      this.hparamsValue.mixers.push(mixers[get(Hparam.LAYER_MIXER + l)] ?? 'attention');
      this.hparamsValue.headKvLayers.push(get(Hparam.LAYER_N_HEAD_KV + l));
      this.hparamsValue.kvSourceLayers.push(get(Hparam.LAYER_KV_SOURCE + l));
      this.hparamsValue.ffLayers.push(get(Hparam.LAYER_N_FF + l));
    }
    return this.hparamsValue;
  }

  /** What making room in the context does with this model's cache: see
   *  ContextShiftMode. */
  get shiftMode(): ContextShiftMode {
    if (this.vocabOnly) return 'rotate';
    const mixers = this.hparams.mixers;
    if (mixers.includes('deltanet')) return 'reevaluate-from-checkpoint';
    if (mixers.includes('shortconv')) return 'rotate-keep-conv-state';
    return 'rotate';
  }

  /** BOS, EOS and separator ids and the flags that say where tokenizing puts them. */
  get specialTokens(): SpecialTokens {
    const m = this.engine.module;
    const h = this.handle;
    return {
      bos: this.info.bos,
      eos: this.info.eos,
      sep: m._hob_model_token_sep(h),
      addBos: m._hob_model_add_bos(h) !== 0,
      addEos: m._hob_model_add_eos(h) !== 0,
      addSep: m._hob_model_add_sep(h) !== 0,
    };
  }

  /** A string value of the model's GGUF metadata, or undefined. */
  metaString(key: string): string | undefined {
    const m = this.engine.module;
    const keyBytes = encoder.encode(key + '\0');
    const keyPtr = m._malloc(keyBytes.length);
    try {
      this.engine.heap().set(keyBytes, keyPtr);
      return this.engine.readString((buf, cap, len) => m._hob_model_meta_string(this.handle, keyPtr, buf, cap, len));
    } catch (e) {
      if (e instanceof HobError && e.code === 'argument/invalid') return undefined;
      throw e;
    } finally {
      m._free(keyPtr);
    }
  }

  tokenize(text: string, opts: TokenizeOptions = {}): number[] {
    const m = this.engine.module;
    const bytes = encoder.encode(text);
    const textPtr = m._malloc(Math.max(1, bytes.length));
    let cap = bytes.length + 8;
    try {
      this.engine.heap().set(bytes, textPtr);
      for (let attempt = 0; attempt < 2; attempt++) {
        const buf = m._malloc(cap * 4);
        try {
          const status = m._hob_tokenize(
            this.handle, textPtr, bytes.length, opts.addSpecial === false ? 0 : 1, opts.parseSpecial === false ? 0 : 1,
            buf, cap, this.engine.out(0),
          );
          const n = this.engine.u32(this.engine.out(0));
          if (status === Status.ERR_BUFFER_TOO_SMALL && attempt === 0) {
            cap = n;
            continue;
          }
          this.engine.check(status);
          return Array.from(new Int32Array(this.engine.heap().buffer, buf, n));
        } finally {
          m._free(buf);
        }
      }
      throw new HobError('internal', 'token count kept changing');
    } finally {
      m._free(textPtr);
    }
  }

  /** The raw bytes of one token (possibly part of a UTF-8 character). */
  tokenBytes(token: number, renderSpecial = false): Uint8Array {
    return this.engine.readBytes((buf, cap, len) =>
      this.engine.module._hob_token_to_piece(this.handle, token, renderSpecial ? 1 : 0, buf, cap, len), 64);
  }

  /** The text of a whole sequence: the inverse of tokenize, so the space a
   * SentencePiece tokenizer prepends is dropped again (as llama.cpp does). */
  detokenize(tokens: readonly number[], renderSpecial = false): string {
    const d = this.decoder(renderSpecial);
    const text = tokens.map((t) => d.push(t)).join('') + d.flush();
    const prefixed = this.engine.module._hob_model_add_space_prefix(this.handle) !== 0;
    return prefixed && text.startsWith(' ') ? text.slice(1) : text;
  }

  /** A streaming decoder: push ids, get the text that is complete so far
   * (a character split across tokens appears once its last byte arrives). */
  decoder(renderSpecial = false): { push(token: number): string; flush(): string } {
    const td = new TextDecoder('utf-8');
    return {
      push: (token) => td.decode(this.tokenBytes(token, renderSpecial), { stream: true }),
      flush: () => td.decode(),
    };
  }

  isEog(token: number): boolean {
    return this.engine.module._hob_model_token_is_eog(this.handle, token) !== 0;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.offload?.destroy();
    this.engine.module._hob_model_free(this.handle);
  }
}
