// The low-level engine in TypeScript: models, sessions and samplers as thin
// owners of the C API's handles in the wasm module. Every status is checked
// and turned into a typed HobError; every buffer handed to the engine is
// freed on all paths. This runs wherever the wasm runs (a worker, Node).
import { GgufValueType, Hparam, SamplerParam, Status } from './c-api.js';
import type { GpuModel } from '../gpu/gpu-model.js';
import type { GpuRunner } from '../gpu/runner.js';
import type { GgufHeader, GgufMetadataValue, GgufScalar, GgufTensor, LoadReport, ModelHparams, ModelInfo } from '../shared/model.js';
import { cppSamplerPick, pickedLogits, pickSize, type CppSamplerParams, type SamplePick } from '../sampling/pick.js';
import { ContextFullError, HobError } from '../shared/errors.js';
import { errorFromStatus } from './status.js';
import { heapU8, loadWasm, terminateWasm, type HobModule, type LoadWasmOptions, type WasmVariant } from './wasm.js';

const encoder = new TextEncoder();

export interface EngineOptions extends Partial<LoadWasmOptions> {}

export interface SessionOptions {
  /** Context window in tokens; 0 or absent takes the model's training context. */
  nCtx?: number;
  /** Threads for this session's compute, the calling one included. */
  nThreads?: number;
}

export interface TokenizeOptions {
  /** Add BOS/EOS as the model's metadata asks (default true). */
  addSpecial?: boolean;
  /** Map special-token text such as "<s>" to its id (default true). */
  parseSpecial?: boolean;
}

export interface SamplerOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  seed?: number;
}

/** One wasm engine instance: owns the module and everything made in it. */
export class Engine {
  /** Scratch for out-parameters of C calls (never held across calls). */
  private readonly outPtr: number;

  private constructor(
    readonly module: HobModule,
    readonly variant: WasmVariant,
    readonly threads: number,
  ) {
    this.outPtr = module._malloc(64);
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const { module, variant } = await loadWasm({ threads, variant: opts.variant, assets: opts.assets });
    const engine = new Engine(module, variant, variant === 'mt' ? threads : 1);
    // The pool's threads start now, while emscripten's preloaded workers are
    // idle: a thread started later, from a busy caller, could not start.
    engine.check(module._hob_init(engine.threads));
    return engine;
  }

  /** Stops the engine's threads. Models and sessions made by it are dead. */
  dispose(): void {
    terminateWasm(this.module);
  }

  /** Throws the typed error for a failed status, with the engine's message. */
  check(status: number, details: Record<string, number | string> = {}): void {
    if (status === Status.OK) return;
    throw errorFromStatus(status, this.module.UTF8ToString(this.module._hob_last_error()), details);
  }

  heap(): Uint8Array {
    return heapU8(this.module);
  }

  u32(ptr: number): number {
    return new DataView(this.heap().buffer).getUint32(ptr, true);
  }

  i32(ptr: number): number {
    return new DataView(this.heap().buffer).getInt32(ptr, true);
  }

  /** Scratch address for out-parameter `slot` (8 bytes each). */
  out(slot: number): number {
    return this.outPtr + slot * 8;
  }

  /** Allocates engine memory for a model file of `sizeBytes` and lets
   * `fill(heap, ptr)` write it; the engine then owns it. */
  allocModelBuffer(sizeBytes: number): number {
    const ptr = this.module._hob_alloc(sizeBytes);
    if (!ptr) {
      throw new HobError('memory/out-of-memory', `cannot allocate ${sizeBytes} bytes for the model in the wasm heap (at most 4 GiB)`, {
        sizeBytes,
      });
    }
    return ptr;
  }

  /** Builds a model from a file already copied to `ptr` (from allocModelBuffer). */
  loadModelAt(ptr: number, sizeBytes: number): Model {
    // The engine takes ownership of ptr, also when loading fails.
    this.check(this.module._hob_model_load(ptr, sizeBytes, 1, this.out(0)));
    return this.adoptModel(this.u32(this.out(0)), sizeBytes);
  }

  /** Wraps a model handle the engine built (the TypeScript side owns it from here). */
  adoptModel(handle: number, fileBytes: number): Model {
    return new Model(this, handle, fileBytes);
  }

  /** Builds a model from a whole GGUF file in memory. */
  loadModel(bytes: Uint8Array): Model {
    const ptr = this.allocModelBuffer(bytes.byteLength);
    this.heap().set(bytes, ptr);
    return this.loadModelAt(ptr, bytes.byteLength);
  }

  /** Parses a GGUF header. `bytes` holds the start of a file of fileSize
   * bytes; it must include the whole header. */
  readGgufHeader(bytes: Uint8Array, fileSize: number, opts: { maxArray?: number } = {}): GgufHeader {
    const m = this.module;
    const ptr = m._malloc(Math.max(1, bytes.byteLength));
    let g = 0;
    try {
      this.heap().set(bytes, ptr);
      this.check(m._hob_gguf_open(ptr, bytes.byteLength, BigInt(fileSize), this.out(0)));
      g = this.u32(this.out(0));
      const metadata: Record<string, GgufMetadataValue> = {};
      const nKv = Number(m._hob_gguf_kv_count(g));
      for (let i = 0; i < nKv; i++) {
        const key = this.readString((buf, cap, len) => m._hob_gguf_kv_key(g, BigInt(i), buf, cap, len));
        this.check(m._hob_gguf_kv_type(g, BigInt(i), this.out(0), this.out(1), this.out(2)));
        const type = this.i32(this.out(0));
        const elemType = this.i32(this.out(1));
        const count = Number(new DataView(this.heap().buffer).getBigUint64(this.out(2), true));
        const read = (t: number, j: number): GgufScalar => {
          if (t === GgufValueType.STRING) {
            return this.readString((buf, cap, len) => m._hob_gguf_kv_string(g, BigInt(i), BigInt(j), buf, cap, len));
          }
          this.check(m._hob_gguf_kv_number(g, BigInt(i), BigInt(j), this.out(3)));
          const v = new DataView(this.heap().buffer).getFloat64(this.out(3), true);
          return t === GgufValueType.BOOL ? v !== 0 : v;
        };
        if (type === GgufValueType.ARRAY) {
          const n = Math.min(count, opts.maxArray ?? Infinity);
          const arr: GgufScalar[] = [];
          for (let j = 0; j < n; j++) arr.push(read(elemType, j));
          metadata[key] = arr;
        } else {
          metadata[key] = read(type, 0);
        }
      }
      const tensors: GgufTensor[] = [];
      const nTensors = Number(m._hob_gguf_tensor_count(g));
      for (let i = 0; i < nTensors; i++) {
        const name = this.readString((buf, cap, len) => m._hob_gguf_tensor_name(g, BigInt(i), buf, cap, len));
        const dimsPtr = m._malloc(32);
        try {
          this.check(m._hob_gguf_tensor_info(g, BigInt(i), this.out(0), this.out(1), dimsPtr, this.out(2), this.out(3)));
          const dv = new DataView(this.heap().buffer);
          const typeId = dv.getInt32(this.out(0), true);
          const nDims = dv.getInt32(this.out(1), true);
          const dims: number[] = [];
          for (let d = 0; d < nDims; d++) dims.push(Number(dv.getBigInt64(dimsPtr + 8 * d, true)));
          tensors.push({
            name,
            typeId,
            type: m.UTF8ToString(m._hob_type_name(typeId)),
            dims,
            offset: Number(dv.getBigUint64(this.out(2), true)),
            sizeBytes: Number(dv.getBigUint64(this.out(3), true)),
          });
        } finally {
          m._free(dimsPtr);
        }
      }
      return { version: m._hob_gguf_version(g), dataOffset: Number(m._hob_gguf_data_offset(g)), metadata, tensors };
    } finally {
      if (g) m._hob_gguf_close(g);
      m._free(ptr);
    }
  }

  /** Calls a C function that copies a string out, growing the buffer once
   * if it reports BUFFER_TOO_SMALL. */
  readBytes(call: (buf: number, cap: number, len: number) => number, guess = 256): Uint8Array {
    const m = this.module;
    let cap = guess;
    for (let attempt = 0; attempt < 2; attempt++) {
      const buf = m._malloc(cap + 1);
      try {
        const status = call(buf, cap + 1, this.out(7));
        const len = this.u32(this.out(7));
        if (status === Status.ERR_BUFFER_TOO_SMALL && attempt === 0) {
          cap = len;
          continue;
        }
        this.check(status);
        return this.heap().slice(buf, buf + len);
      } finally {
        m._free(buf);
      }
    }
    throw new HobError('internal', 'string buffer size kept changing');
  }

  readString(call: (buf: number, cap: number, len: number) => number): string {
    return new TextDecoder().decode(this.readBytes(call));
  }
}

/** A loaded model: tokenizer, metadata and the factory of sessions. */
export class Model {
  readonly info: ModelInfo;
  /** The offloaded blocks' weights on the GPU, when any (set by the loader). */
  gpu?: GpuModel;
  /** How the loader split the model (set by loadModelFromSource). */
  loadReport?: LoadReport;
  private freed = false;
  private hparamsValue?: ModelHparams;

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
      qkNorm: get(Hparam.QK_NORM) === 1,
      postNorms: get(Hparam.POST_NORMS) === 1,
      embdScale: get(Hparam.EMBD_SCALE),
      attnScale: get(Hparam.ATTN_SCALE),
      attnScaleOnQ: get(Hparam.ATTN_SCALE_ON_Q) === 1,
      attnSoftcap: get(Hparam.ATTN_SOFTCAP),
      finalSoftcap: get(Hparam.FINAL_SOFTCAP),
      ffnAct: get(Hparam.FFN_ACT) === 1 ? 'gelu' : 'silu',
      nSwa: get(Hparam.N_SWA),
      swaLayers: [],
      freqBaseSwa: get(Hparam.ROPE_FREQ_BASE_SWA),
      freqScaleSwa: get(Hparam.ROPE_FREQ_SCALE_SWA),
    };
    const nLayer = this.info.nLayer;
    for (let l = 0; l < nLayer; l++) this.hparamsValue.swaLayers.push(get(Hparam.LAYER_SWA + l) === 1);
    return this.hparamsValue;
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

  /** A session with its KV cache: in wasm for the CPU blocks and, when
   * blocks are offloaded, in GPU buffers for those; both allocated here,
   * once, for the whole context. */
  createSession(opts: SessionOptions = {}): Session {
    const m = this.engine.module;
    const threads = Math.min(opts.nThreads ?? this.engine.threads, this.engine.threads);
    this.engine.check(m._hob_session_create(this.handle, opts.nCtx ?? 0, threads, this.engine.out(0)));
    const handle = this.engine.u32(this.engine.out(0));
    let gpu: GpuRunner | undefined;
    try {
      gpu = this.gpu?.createRunner(m._hob_session_n_ctx(handle));
    } catch (e) {
      m._hob_session_free(handle);
      throw e;
    }
    return new Session(this, handle, gpu);
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.gpu?.destroy();
    this.engine.module._hob_model_free(this.handle);
  }
}

/** One sequence and its KV cache (allocated once, at creation). With
 * offloaded blocks, each step runs the CPU blocks in wasm, hands their
 * hidden states to the GPU runner for the rest, and takes the logits (or
 * the last hidden state, for a head on the CPU) back; both caches move
 * together in every erase and shift. */
export class Session {
  private logitsPtr = 0;
  private handleValue: number;
  /**
   * What the next evaluations read back when the output head runs on the
   * GPU: null, every logit; a pick, only the best k logits, when they meet
   * the pick's checks (every logit otherwise), and logits() then holds those
   * k with -inf for every other token. Set by a generation loop for the
   * sampler it runs (see src/core/gpu-sample.ts), and cleared after it.
   */
  readout: SamplePick | null = null;

  constructor(
    readonly model: Model,
    handle: number,
    /** The GPU half of the cache and the offloaded blocks' runner. */
    readonly gpu?: GpuRunner,
  ) {
    this.handleValue = handle;
  }

  /** The engine's session handle; 0 once freed. */
  get handle(): number {
    return this.handleValue;
  }

  get nCtx(): number {
    return this.model.engine.module._hob_session_n_ctx(this.handle);
  }

  get nPast(): number {
    return this.model.engine.module._hob_session_n_past(this.handle);
  }

  get nThreads(): number {
    return this.model.engine.module._hob_session_n_threads(this.handle);
  }

  /** Appends tokens and computes the next-token logits of the last one.
   * Nothing changes if they do not fit (ContextFullError) or a step fails. */
  async eval(tokens: ArrayLike<number>): Promise<void> {
    const n = tokens.length;
    if (n === 0) throw new HobError('argument/invalid', 'eval needs at least one token');
    const nCtx = this.nCtx;
    const nPast = this.nPast;
    if (nPast + n > nCtx) {
      throw new ContextFullError('context/overflow', `${n} tokens do not fit: ${nPast} of ${nCtx} context tokens are in use`, {
        nCtx, nPast, nTokens: n,
      });
    }
    if (this.gpu) return this.evalSplit(Array.from(tokens));
    this.withTokens(Array.from(tokens), (ptr) =>
      this.model.engine.check(this.model.engine.module._hob_session_eval(this.handle, ptr, n), { nCtx, nPast, nTokens: n }));
  }

  private withTokens<T>(tokens: number[], fn: (ptr: number) => T): T {
    const engine = this.model.engine;
    const ptr = engine.module._malloc(tokens.length * 4);
    try {
      new Int32Array(engine.heap().buffer, ptr, tokens.length).set(tokens);
      return fn(ptr);
    } finally {
      engine.module._free(ptr);
    }
  }

  private async evalSplit(tokens: number[]): Promise<void> {
    const gpu = this.gpu!;
    const engine = this.model.engine;
    const m = engine.module;
    const { nEmbd, nVocab } = this.model.info;
    const start = this.nPast;
    const hiddenPtr = m._malloc(gpu.maxBatch * nEmbd * 4);
    try {
      for (let i = 0; i < tokens.length; i += gpu.maxBatch) {
        const batch = tokens.slice(i, i + gpu.maxBatch);
        const cell0 = start + i;
        const last = i + batch.length === tokens.length;
        // CPU blocks first: their cells are committed here, so a failure on
        // the GPU below must take them back.
        this.withTokens(batch, (ptr) =>
          engine.check(m._hob_session_eval_hidden(this.handle, ptr, batch.length, hiddenPtr, gpu.maxBatch * nEmbd), {
            nPast: cell0, nTokens: batch.length,
          }));
        // A copy: the threaded build's heap is a SharedArrayBuffer, which not
        // every WebGPU implementation takes in writeBuffer.
        const hidden = new Float32Array(engine.heap().buffer, hiddenPtr, batch.length * nEmbd).slice();
        const out = last && gpu.headOnGpu && this.readout
          ? await this.readPicked(hidden, batch.length, cell0, this.readout)
          : await gpu.forward(hidden, batch.length, cell0, last);
        if (!last || !out) continue;
        const outPtr = m._malloc(out.length * 4);
        try {
          new Float32Array(engine.heap().buffer, outPtr, out.length).set(out);
          if (gpu.headOnGpu) engine.check(m._hob_session_set_logits(this.handle, outPtr, nVocab));
          else engine.check(m._hob_session_head(this.handle, outPtr, nEmbd));
        } finally {
          m._free(outPtr);
        }
      }
    } catch (e) {
      // The CPU cache may hold cells the GPU never wrote: forget them.
      m._hob_session_truncate(this.handle, start);
      throw e;
    } finally {
      m._free(hiddenPtr);
    }
  }

  /** The last token's logits as a pick's sampler reads them: its best
   * candidates (capped logits checked for ties too), or all of them. */
  private async readPicked(hidden: Float32Array, T: number, cell0: number, readout: SamplePick): Promise<Float32Array> {
    const gpu = this.gpu!;
    const pick = gpu.logitSoftcap > 0 ? { ...readout, tieFree: true } : readout;
    const candidates = await gpu.forward(hidden, T, cell0, true, pickSize(pick));
    return pickedLogits(candidates, pick, this.model.info.nVocab) ?? (await gpu.readLogits());
  }

  /** A copy of the last evaluated token's logits (nVocab floats). */
  logits(): Float32Array {
    const engine = this.model.engine;
    const nVocab = this.model.info.nVocab;
    if (!this.logitsPtr) this.logitsPtr = engine.module._malloc(nVocab * 4);
    engine.check(engine.module._hob_session_logits(this.handle, this.logitsPtr, nVocab));
    return new Float32Array(engine.heap().buffer, this.logitsPtr, nVocab).slice();
  }

  /** Positions of the cached tokens, oldest first, as the wasm cache holds
   * them. Every erase and shift renumbers the tokens after the evicted
   * span, so token i sits at position i. */
  positions(): Int32Array {
    const engine = this.model.engine;
    const n = this.nPast;
    const ptr = engine.module._malloc(Math.max(1, n) * 4);
    try {
      engine.check(engine.module._hob_session_positions(this.handle, ptr, n), { nPast: n });
      return new Int32Array(engine.heap().buffer, ptr, n).slice();
    } finally {
      engine.module._free(ptr);
    }
  }

  /** Forgets every token from position nKeep on. The GPU cells past it are
   * simply overwritten by what comes next. */
  truncate(nKeep: number): void {
    const nPast = this.nPast;
    if (!Number.isInteger(nKeep) || nKeep < 0 || nKeep > nPast) {
      throw new HobError('range/out-of-bounds', `cannot keep ${nKeep} tokens: the cache holds ${nPast}`, { nKeep, nPast });
    }
    this.model.engine.check(this.model.engine.module._hob_session_truncate(this.handle, nKeep), { nKeep, nPast });
  }

  /** Evicts tokens [start, end). Later tokens keep their cache entries,
   * move down and are re-rotated to their new positions in place, in wasm
   * and on the GPU. The range is checked before either side changes. */
  erase(start: number, end: number): void {
    const nPast = this.checkSpan(start, end);
    // A lost or freed GPU side fails here, before the wasm side changes.
    this.gpu?.checkErase(start, end, nPast - end);
    // The engine checks the range again and changes nothing if it is bad;
    // only then does the GPU side follow, with the same numbers.
    this.model.engine.check(this.model.engine.module._hob_session_erase(this.handle, start, end), { start, end, nPast });
    this.gpu?.erase(start, end, nPast - end);
  }

  /** llama.cpp's context shift: keep the first nKeep tokens, evict the
   * nDiscard after them: erase(nKeep, nKeep + nDiscard). */
  shift(nKeep: number, nDiscard: number): void {
    const nPast = this.nPast;
    if (!Number.isInteger(nKeep) || !Number.isInteger(nDiscard) || nKeep < 0 || nDiscard < 0 || nKeep + nDiscard > nPast) {
      throw new HobError('range/out-of-bounds', `cannot keep ${nKeep} and discard ${nDiscard} of ${nPast} tokens`, {
        nKeep, nDiscard, nPast,
      });
    }
    this.erase(nKeep, nKeep + nDiscard);
  }

  /** Checks 0 <= start <= end <= nPast (integers) on the host, before any
   * side of the cache is touched; returns nPast. */
  private checkSpan(start: number, end: number): number {
    const nPast = this.nPast;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > nPast) {
      throw new HobError('range/out-of-bounds', `cannot erase tokens [${start}, ${end}): the range must lie within the ${nPast} tokens in the cache, start <= end`, {
        start, end, nPast,
      });
    }
    return nPast;
  }

  free(): void {
    const m = this.model.engine.module;
    if (this.logitsPtr) m._free(this.logitsPtr);
    this.logitsPtr = 0;
    this.gpu?.destroy();
    if (this.handleValue) m._hob_session_free(this.handleValue);
    this.handleValue = 0;
  }
}

const samplerKeys: Record<keyof SamplerOptions, number> = {
  temperature: SamplerParam.TEMPERATURE,
  topK: SamplerParam.TOP_K,
  topP: SamplerParam.TOP_P,
  minP: SamplerParam.MIN_P,
  repeatPenalty: SamplerParam.REPEAT_PENALTY,
  repeatLastN: SamplerParam.REPEAT_LAST_N,
  seed: SamplerParam.SEED,
};

/** Picks tokens from a session's logits. Defaults are llama.cpp's. */
export class Sampler {
  readonly handle: number;
  /** The options the GPU pick depends on (cpp/sampler.h's defaults). */
  private readonly picked: CppSamplerParams = { temperature: 0.8, topK: 40, repeatPenalty: 1, repeatLastN: 64 };

  constructor(
    readonly engine: Engine,
    opts: SamplerOptions = {},
  ) {
    engine.check(engine.module._hob_sampler_create(engine.out(0)));
    this.handle = engine.u32(engine.out(0));
    try {
      this.configure(opts);
    } catch (e) {
      engine.module._hob_sampler_free(this.handle);
      throw e;
    }
  }

  configure(opts: SamplerOptions): void {
    for (const [key, value] of Object.entries(opts) as [keyof SamplerOptions, number | undefined][]) {
      if (value === undefined) continue;
      const param = samplerKeys[key];
      if (param === undefined) throw new HobError('argument/invalid', `unknown sampler option ${key}`);
      this.engine.check(this.engine.module._hob_sampler_set(this.handle, param, value), { [key]: value });
      if (key in this.picked) this.picked[key as keyof CppSamplerParams] = value;
    }
  }

  /** What the next evaluation may read back instead of every logit (see Session.readout). */
  gpuPick(nVocab: number): SamplePick | null {
    return cppSamplerPick(this.picked, nVocab);
  }

  sample(session: Session): number {
    this.engine.check(this.engine.module._hob_sampler_sample(this.handle, session.handle, this.engine.out(0)));
    return this.engine.i32(this.engine.out(0));
  }

  accept(token: number): void {
    this.engine.check(this.engine.module._hob_sampler_accept(this.handle, token));
  }

  reset(): void {
    this.engine.module._hob_sampler_reset(this.handle);
  }

  free(): void {
    this.engine.module._hob_sampler_free(this.handle);
  }
}
