// What the engine's worker does, whichever thread runs it (a web worker or a
// Node worker thread): it owns the wasm engine, the GPU device, the loaded
// model and its one session with the cache, and serves one request at a
// time. The entries (engine-worker.ts, engine-worker-node.ts) expose it with
// comlink; the host says what differs between browser and Node.
import { Engine, Sampler, type Model, type SamplerOptions, type Session } from '../core/engine.js';
import type { LoadReport, ModelInfo } from '../shared/model.js';
import { complete, type CompletionResult } from '../core/generate.js';
import { joinSplitParts } from '../core/gguf-split.js';
import { loadModelFromSource } from '../core/load.js';
import { Sequence } from '../core/sequence.js';
import { blobSource, bytesSource, type ByteSource } from '../core/source.js';
import { renderChat } from '../chat/template.js';
import { AbortError, BusyError, HobError } from '../shared/errors.js';
import type { ChatMessage, ContextShiftOptions, EngineInfo, FinishReason, LoadProgressEvent, SamplingParams, ShiftEvent, Usage } from '../shared/types.js';
import type { GpuContext } from '../gpu/device.js';
import type { ModelStore } from '../store/index.js';
import { generate } from './generation.js';

/** Where a model comes from: a URL (downloaded once into the model store,
 * then read from there), a model already in the store, a File/Blob, bytes, a
 * file path (Node), or a name that is a stored model's id if the store has
 * one and otherwise the URL given with it. */
export type ModelSource =
  | { url: string }
  | { storeId: string }
  | { blob: Blob }
  | { bytes: Uint8Array }
  | { path: string }
  | { ref: string; url: string };

export interface LoadProgress {
  loaded: number;
  total: number;
  /** 'download' while a URL is fetched into the store, 'load' while the engine reads it. */
  phase: 'download' | 'load';
}

export interface WorkerLoadOptions {
  /** Blocks to offload to the GPU from the last, or 'auto' (see LoadOptions). */
  gpuLayers?: number | 'auto';
  gpuBudgetBytes?: number;
}

export interface WorkerCompletionRequest extends SamplerOptions {
  prompt?: string;
  promptIds?: number[];
  nPredict: number;
  nCtx?: number;
  ignoreEos?: boolean;
}

export interface OpenOptions extends WorkerLoadOptions {
  source: ModelSource;
  threads?: number;
  contextSize?: number;
  contextShift?: ContextShiftOptions | false;
  /** Shared memory the caller writes a request's id into to stop it: seen
   * during a token's evaluation, without waiting for a message. */
  stopFlag?: Int32Array;
}

/** One request of the public API, as the worker receives it. */
export interface GenerateRequest extends SamplingParams {
  messages?: ChatMessage[];
  prompt?: string;
  max_tokens?: number;
  /** Keep generating past end-of-generation tokens (for comparisons). */
  ignore_eos?: boolean;
}

export interface GenerateResult {
  text: string;
  ids: number[];
  finishReason: FinishReason;
  usage: Usage;
  /** Messages posted on `deltas`: the caller waits for them all before ending a stream (they travel on their own port). */
  nDeltas: number;
}

/** What differs between a browser worker and a Node worker thread. */
export interface WorkerHost {
  requestGpu(): Promise<GpuContext>;
  /** Reads a model file from disk (Node only). */
  openPath?(path: string): Promise<ByteSource>;
  /** Reads a URL without the model store (Node: no IndexedDB). */
  openUrl?(url: string, signal: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<ByteSource>;
  /** The model store (the browser worker's; loaded with the worker, so a
   * page that went offline still reaches it). */
  openStore?(): ModelStore;
  defaultThreads(): number;
  /** A macrotask turn that lets queued messages (a stop) in between two tokens; default a MessageChannel round trip. */
  yieldToEvents?(): Promise<void>;
}

export function createWorkerApi(host: WorkerHost) {
  let engine: Engine | undefined;
  let gpu: GpuContext | undefined;
  let model: Model | undefined;
  let session: Session | undefined;
  // The tokens in the session's cache: the next request reuses their prefix.
  let sequence: Sequence | undefined;
  let busy = false;
  let contextShift: ContextShiftOptions | false | undefined;
  let shiftListener: ((e: ShiftEvent) => void) | undefined;
  let loadAbort: AbortController | undefined;
  let stopAll = false;
  const stopIds = new Set<number>();
  let stopFlag: Int32Array | undefined;

  // A macrotask turn without setTimeout's clamping: lets queued messages (a
  // stop request) in between two tokens.
  let yieldToEvents = host.yieldToEvents;
  if (!yieldToEvents) {
    const channel = new MessageChannel();
    const waiters: (() => void)[] = [];
    channel.port1.onmessage = () => waiters.shift()?.();
    yieldToEvents = (): Promise<void> =>
      new Promise((resolve) => {
        waiters.push(resolve);
        channel.port2.postMessage(0);
      });
  }

  const newSequence = (s: Session): Sequence =>
    new Sequence(s, { contextShift, onShift: (e) => shiftListener?.(e) });

  async function openSource(source: ModelSource, signal: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<ByteSource> {
    if ('bytes' in source) return bytesSource(source.bytes);
    if ('blob' in source) return blobSource(source.blob);
    if ('path' in source) {
      if (!host.openPath) throw new HobError('argument/invalid', `a file path (${source.path}) can only be loaded in Node`, { path: source.path });
      return host.openPath(source.path);
    }
    const url = 'url' in source ? source.url : undefined;
    if (host.openUrl) {
      if (!url) throw new HobError('argument/invalid', `no model store here: ${JSON.stringify(source)} names no URL`);
      return host.openUrl(url, signal, onProgress);
    }
    if (!host.openStore) throw new HobError('argument/invalid', `no model store here: ${JSON.stringify(source)} cannot be loaded`);
    const store = host.openStore();
    if ('ref' in source && (await store.get(source.ref))?.state === 'complete') {
      return joinSplitParts(await store.openModelParts(source.ref));
    }
    // A split model's parts are joined into one virtual file.
    if ('storeId' in source) return joinSplitParts(await store.openModelParts(source.storeId));
    try {
      const stored = await store.download(url!, {
        signal,
        onProgress: onProgress && ((p) => onProgress({ loaded: p.loaded, total: p.total, phase: 'download', ...rate(p) })),
      });
      return await joinSplitParts(await store.openModelParts(stored.id));
    } catch (e) {
      // A server that cannot serve ranges cannot be stored resumably: read it
      // once as a Blob (which the browser may keep on disk), uncached.
      if (!(e instanceof HobError && e.code === 'network/no-range')) throw e;
      const res = await fetch(url!, { signal });
      if (!res.ok) throw e;
      return blobSource(await res.blob());
    }
  }

  /** The worker's GPU device, made on first use; a lost one is replaced. */
  async function gpuContext(): Promise<GpuContext> {
    if (gpu) return gpu;
    const ctx = await host.requestGpu();
    gpu = ctx;
    void ctx.lost.then(() => {
      if (gpu === ctx) gpu = undefined;
    });
    return ctx;
  }

  function loaded(): { engine: Engine; model: Model; session: Session; sequence: Sequence } {
    if (!engine || !model || !session || !sequence) throw new HobError('argument/invalid', 'no model is loaded');
    return { engine, model, session, sequence };
  }

  function tokenText(m: Model, token: number): string {
    return token >= 0 ? new TextDecoder().decode(m.tokenBytes(token, true)) : '';
  }

  function chatPrompt(m: Model, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new HobError('argument/invalid', 'messages must be a non-empty array of { role, content }');
    }
    for (const [i, msg] of messages.entries()) {
      if (!msg || typeof msg.content !== 'string' || !['system', 'user', 'assistant'].includes(msg.role)) {
        throw new HobError('argument/invalid', `messages[${i}] is not a { role: 'system' | 'user' | 'assistant', content: string }`, { index: i });
      }
    }
    return renderChat(m.metaString('tokenizer.chat_template'), messages, {
      addGenerationPrompt,
      bosToken: tokenText(m, m.info.bos),
      eosToken: tokenText(m, m.info.eos),
      architecture: m.info.architecture,
    });
  }

  function promptIds(m: Model, req: GenerateRequest): number[] {
    if (req.messages !== undefined) {
      const text = chatPrompt(m, req.messages, true);
      // Templates that write BOS themselves must not get a second one.
      const bos = tokenText(m, m.info.bos);
      return m.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
    }
    if (typeof req.prompt !== 'string') throw new HobError('argument/invalid', 'a completion needs a prompt string');
    const ids = m.tokenize(req.prompt, { addSpecial: true, parseSpecial: true });
    if (ids.length === 0) throw new HobError('argument/invalid', 'the prompt is empty and the model adds no BOS token');
    return ids;
  }

  function info(): EngineInfo {
    const { engine: e, model: m, session: s } = loaded();
    const report = m.loadReport;
    const memory = (e.module.wasmMemory ?? e.module.asm?.memory)?.buffer.byteLength ?? e.heap().byteLength;
    return {
      model: {
        name: m.info.name,
        architecture: m.info.architecture,
        nLayer: m.info.nLayer,
        nVocab: m.info.nVocab,
        nCtxTrain: m.info.nCtxTrain,
        fileBytes: m.info.fileBytes,
        chatTemplate: m.metaString('tokenizer.chat_template'),
      },
      contextSize: s.nCtx,
      threads: s.nThreads,
      variant: e.variant,
      load: {
        gpuLayers: report?.gpuLayers ?? 0,
        reason: report?.reason,
        cpuBytes: report?.cpuWeightBytes ?? m.info.weightBytes,
        gpuBytes: report?.gpuWeightBytes ?? 0,
        wasmHeapBytes: memory,
      },
    };
  }

  function freeModel(): void {
    session?.free();
    model?.free();
    session = undefined;
    sequence = undefined;
    model = undefined;
  }

  const api = {
    async init(opts: { threads?: number } = {}): Promise<{ variant: string; threads: number }> {
      const threads = opts.threads ?? host.defaultThreads();
      engine ??= await Engine.create({ threads });
      return { variant: engine.variant, threads: engine.threads };
    },

    async loadModel(
      source: ModelSource,
      onProgress?: (p: LoadProgress) => void,
      opts: WorkerLoadOptions = {},
    ): Promise<ModelInfo & { report?: LoadReport }> {
      if (!engine) throw new HobError('argument/invalid', 'init() must be called before loadModel()');
      if (busy) throw new BusyError('engine/busy', 'a request is running; stop it before loading a model');
      freeModel();
      loadAbort = new AbortController();
      const signal = loadAbort.signal;
      const bytes = await openSource(source, signal, onProgress);
      try {
        const gpuLayers = opts.gpuLayers ?? 0;
        model = await loadModelFromSource(engine, bytes, {
          gpuLayers,
          // 'auto' without an adapter runs on the CPU, as it promises.
          gpu: gpuLayers === 0 ? undefined : await gpuContext().catch((e: unknown) => {
            if (gpuLayers === 'auto' && e instanceof HobError && e.code === 'gpu/unavailable') return undefined;
            throw e;
          }),
          gpuBudgetBytes: opts.gpuBudgetBytes,
          signal,
          onProgress: onProgress && ((p) => onProgress({ ...p, phase: 'load' })),
        });
      } finally {
        await bytes.close?.();
        loadAbort = undefined;
      }
      return { ...model.info, report: model.loadReport };
    },

    /** The public API's open: engine, model and session in one call. Load
     * progress and shifts are posted on `events` as { kind, event }. */
    async open(opts: OpenOptions, events?: MessagePort): Promise<EngineInfo> {
      await api.init({ threads: opts.threads });
      contextShift = opts.contextShift;
      shiftListener = events && ((e) => events.postMessage({ kind: 'shift', event: e }));
      stopFlag = opts.stopFlag;
      const onProgress = events && ((p: LoadProgressEvent) => events.postMessage({ kind: 'progress', event: p }));
      try {
        await api.loadModel(opts.source, onProgress, { gpuLayers: opts.gpuLayers, gpuBudgetBytes: opts.gpuBudgetBytes });
      } catch (e) {
        if (e instanceof Error && e.name === 'AbortError' && !(e instanceof HobError)) {
          throw new AbortError('request/aborted', 'loading the model was cancelled');
        }
        throw e;
      }
      // Marks the end of the load's progress on the same port, so the page
      // has every progress event before open() returns (ports are not
      // ordered with each other).
      events?.postMessage({ kind: 'loaded' });
      const m = model!;
      const contextSize = opts.contextSize ?? Math.min(m.info.nCtxTrain, 4096);
      if (!Number.isInteger(contextSize) || contextSize < 1) {
        throw new HobError('argument/invalid', `contextSize must be a positive integer, got ${contextSize}`, { contextSize });
      }
      session = m.createSession({ nCtx: contextSize });
      sequence = newSequence(session);
      return info();
    },

    /** Cancels a load in progress (download included). */
    cancelLoad(): void {
      loadAbort?.abort();
    },

    tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
      if (!model) throw new HobError('argument/invalid', 'no model is loaded');
      return model.tokenize(text, opts);
    },

    detokenize(ids: number[]): string {
      if (!model) throw new HobError('argument/invalid', 'no model is loaded');
      for (const t of ids) {
        if (!Number.isInteger(t) || t < 0 || t >= model.info.nVocab) {
          throw new HobError('argument/invalid', `${t} is not a token id (vocabulary of ${model.info.nVocab})`, { token: t });
        }
      }
      return model.detokenize(ids);
    },

    applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
      if (!model) throw new HobError('argument/invalid', 'no model is loaded');
      return chatPrompt(model, messages, addGenerationPrompt);
    },

    info,

    contextUsed(): number {
      return sequence?.tokens.length ?? 0;
    },

    resetContext(): void {
      if (busy) throw new BusyError('engine/busy', 'a request is running');
      sequence?.clear();
    },

    /** One chat or text completion; the text is posted on `deltas` as it becomes final. */
    async generate(id: number, req: GenerateRequest, deltas?: MessagePort): Promise<GenerateResult> {
      const { model: m, sequence: seq } = loaded();
      if (busy) throw new BusyError('engine/busy', 'a request is already running');
      busy = true;
      stopAll = false;
      try {
        const ids = promptIds(m, req);
        const room = seq.session.nCtx - ids.length;
        const maxTokens = req.max_tokens ?? Math.max(1, room);
        if (!Number.isInteger(maxTokens) || maxTokens < 0) {
          throw new HobError('argument/invalid', `max_tokens must be a non-negative integer, got ${req.max_tokens}`);
        }
        let nDeltas = 0;
        const r = await generate(m, seq, { ...req, promptIds: ids, maxTokens, ignoreEos: req.ignore_eos }, {
          onText: deltas && ((d) => {
            nDeltas++;
            deltas.postMessage(d);
          }),
          shouldStop: () => stopAll || stopIds.has(id) || (stopFlag !== undefined && Atomics.load(stopFlag, 0) === id),
          pause: yieldToEvents,
        });
        const decodeTps = r.decodeTokens > 0 ? r.decodeTokens / (r.decodeMs / 1000) : 0;
        const evaluated = r.promptTokens - r.cachedTokens;
        return {
          text: r.text,
          ids: r.ids,
          finishReason: r.finishReason,
          nDeltas,
          usage: {
            prompt_tokens: r.promptTokens,
            completion_tokens: r.ids.length,
            total_tokens: r.promptTokens + r.ids.length,
            cached_tokens: r.cachedTokens,
            prefill_tokens_per_second: r.prefillMs > 0 ? evaluated / (r.prefillMs / 1000) : 0,
            decode_tokens_per_second: decodeTps,
          },
        };
      } finally {
        stopIds.delete(id);
        busy = false;
      }
    },

    /** Generates from a fresh context with the engine's C++ sampler; onToken streams each piece of text. */
    async complete(
      req: WorkerCompletionRequest,
      onToken?: (token: number, text: string) => void,
    ): Promise<CompletionResult & { threads: number; variant: string }> {
      if (!engine || !model) throw new HobError('argument/invalid', 'no model is loaded');
      if (busy) throw new BusyError('engine/busy', 'a completion is already running');
      busy = true;
      stopAll = false;
      try {
        const nCtx = req.nCtx ?? session?.nCtx ?? Math.min(model.info.nCtxTrain, 2048);
        if (!session || !sequence || session.nCtx !== nCtx) {
          session?.free();
          session = model.createSession({ nCtx });
          sequence = newSequence(session);
        }
        const { prompt, promptIds: given, nPredict, nCtx: _n, ignoreEos, ...samplerOpts } = req;
        const sampler = new Sampler(engine, samplerOpts);
        try {
          const ids = given ?? model.tokenize(prompt ?? '');
          const result = await complete(model, sequence, sampler, ids, {
            nPredict,
            ignoreEos,
            onToken,
            shouldStop: () => stopAll,
            pause: yieldToEvents,
          });
          return { ...result, threads: session.nThreads, variant: engine.variant };
        } finally {
          sampler.free();
        }
      } finally {
        busy = false;
      }
    },

    /** Stops request `id` between two tokens; without an id, whatever runs. */
    stop(id?: number): void {
      if (id === undefined) stopAll = true;
      else if (busy) stopIds.add(id);
    },

    /** Frees the session, the model, the GPU device and the engine's threads. */
    unload(): void {
      stopAll = true;
      freeModel();
      gpu?.device.destroy();
      gpu = undefined;
      engine?.dispose();
      engine = undefined;
    },
  };
  return api;
}

function rate(p: { bytesPerSecond?: number; etaMs?: number }): { bytesPerSecond?: number; etaSeconds?: number } {
  return {
    ...(p.bytesPerSecond !== undefined ? { bytesPerSecond: p.bytesPerSecond } : {}),
    ...(p.etaMs !== undefined && Number.isFinite(p.etaMs) ? { etaSeconds: p.etaMs / 1000 } : {}),
  };
}

export type EngineWorkerApi = ReturnType<typeof createWorkerApi>;
