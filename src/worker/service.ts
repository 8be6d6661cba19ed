// What the engine's worker does, whichever thread runs it (a web worker or a
// Node worker thread): it owns the wasm engine, the GPU device, the loaded
// model and its one session with the cache, and serves one request at a
// time through the generation loop (src/runtime/generate.ts). The entries
// (engine-worker.ts, engine-worker-node.ts) expose it with comlink; the host
// says what differs between browser and Node (sources.ts).
import type { Model } from '../core/model.js';
import { Session } from '../core/session.js';
import { Projector } from '../core/vision.js';
import { bytesSource } from '../format/source.js';
import { readGgufLayout } from '../format/gguf-layout.js';
import { Engine } from '../core/wasm-engine.js';
import type { GpuContext } from '../gpu/device.js';
import { embedTexts, embedTokens, rerankScores } from '../runtime/embeddings.js';
import { generate } from '../runtime/generate.js';
import { gpuBudgetBytes } from '../runtime/device-limits.js';
import { loadModelFromSource } from '../runtime/load.js';
import { chatPrompt } from '../runtime/prompt.js';
import { prepareRequest, type ReplyDelta } from '../runtime/request.js';
import { Sequence } from '../runtime/sequence.js';
import { openVisionEncoder, type VisionEncoder } from '../runtime/vision-encoder.js';
import { AbortError, BusyError, HobError, SessionError, UnsupportedModelError } from '../shared/errors.js';
import type { ChatMessage, ContextShiftOptions, EngineInfo, LoadProgressEvent, SessionEvent, ShiftEvent } from '../shared/types.js';
import type { SessionStore } from '../store/sessions.js';
import type { EngineWorkerApi, GenerateRequest, GenerateResult, OpenOptions, WorkerEvent } from './protocol.js';
import { SessionKeeper } from './session-keeper.js';
import { openLocation, type WorkerHost } from './sources.js';

export type { WorkerHost };

/** The state of one opened engine: everything a request needs. */
interface Opened {
  engine: Engine;
  model: Model;
  session: Session;
  /** The tokens in the session's cache: the next request reuses their prefix. */
  sequence: Sequence;
  /** The vision projector, when one was loaded with the model, and its
   *  encoder: the ViT blocks on the model's GPU when it has one. */
  projector?: { projector: Projector; type: string; encoder: VisionEncoder };
}

/** A macrotask turn without setTimeout's clamping: lets queued messages (a
 * stop request) in between two tokens. */
function messageChannelYield(): () => Promise<void> {
  const channel = new MessageChannel();
  const waiters: (() => void)[] = [];
  channel.port1.onmessage = () => waiters.shift()?.();
  return () =>
    new Promise((resolve) => {
      waiters.push(resolve);
      channel.port2.postMessage(0);
    });
}

export function createEngineService(host: WorkerHost): EngineWorkerApi {
  let engine: Engine | undefined;
  let gpu: GpuContext | undefined;
  let opened: Opened | undefined;
  let busy = false;
  let contextShift: ContextShiftOptions | false | undefined;
  let shiftListener: ((e: ShiftEvent) => void) | undefined;
  let sessionListener: ((e: SessionEvent) => void) | undefined;
  let loadAbort: AbortController | undefined;
  let stopAll = false;
  const stopIds = new Set<number>();
  let stopFlag: Int32Array | undefined;
  const yieldToEvents = host.yieldToEvents ?? messageChannelYield();

  // Whatever changes the cache runs under this lock, one at a time: the
  // requests (which the caller's side already queues) and the saves of
  // sessions that wait for an idle moment.
  let locked: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = locked.then(fn, fn);
    locked = run.catch(() => {});
    return run;
  }
  let sessionStore: SessionStore | undefined;
  let sessionDir: string | undefined;
  const sessions = new SessionKeeper({
    store() {
      if (!host.openSessionStore) throw new HobError('argument/invalid', 'sessions cannot be saved here: there is no session store');
      return (sessionStore ??= host.openSessionStore(sessionDir));
    },
    loaded: () => loaded(),
    exclusive,
    busy: () => busy,
    emit: (e) => sessionListener?.(e),
  });

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

  function loaded(): Opened {
    if (!opened) throw new HobError('argument/invalid', 'no model is loaded');
    return opened;
  }

  function info(): EngineInfo {
    const { engine: e, model: m, session: s, projector } = loaded();
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
        nEmbd: m.info.nEmbd,
        pooling: m.hparams.pooling,
        generates: m.hparams.hasHead,
      },
      contextSize: s.nCtx,
      threads: s.nThreads,
      images: projector !== undefined,
      ...(projector ? { projector: projector.type } : {}),
      variant: e.variant,
      shift: { mode: m.shiftMode, checkpoints: s.nCheckpoints },
      simd: e.simd,
      load: {
        gpuLayers: report?.gpuLayers ?? 0,
        reason: report?.reason,
        cpuBytes: report?.cpuWeightBytes ?? m.info.weightBytes,
        gpuBytes: report?.gpuWeightBytes ?? 0,
        wasmHeapBytes: memory,
        wasmHeapUsedBytes: e.heapBytes(),
      },
    };
  }

  function freeModel(): void {
    opened?.projector?.encoder.destroy();
    opened?.projector?.projector.free();
    opened?.session.free();
    opened?.model.free();
    opened = undefined;
  }

  /** Loads the model the options name into the engine, with its GPU layers. */
  async function loadModel(e: Engine, opts: OpenOptions, onProgress?: (p: LoadProgressEvent) => void): Promise<Model> {
    loadAbort = new AbortController();
    const signal = loadAbort.signal;
    try {
      const source = await openLocation(host, opts.location, signal, onProgress);
      try {
        const gpuLayers = opts.gpuLayers ?? 0;
        let noGpuReason: string | undefined;
        // 'auto' without an adapter runs on the CPU, as it promises, and says why.
        const gpu = gpuLayers === 0 ? undefined : await gpuContext().catch((e: unknown) => {
          if (gpuLayers === 'auto' && e instanceof HobError && e.code === 'gpu/unavailable') return void (noGpuReason = e.message);
          throw e;
        });
        return await loadModelFromSource(e, source, {
          gpuLayers,
          gpu,
          noGpuReason,
          // 'auto' chooses as checkFit does: for this context, within the page's GPU budget.
          contextSize: opts.contextSize,
          gpuBudgetBytes: gpuBudgetBytes(globalThis.navigator?.userAgent, { gpuBytes: opts.gpuBudgetBytes }),
          signal,
          onProgress: onProgress && ((p) => onProgress({ ...p, phase: 'load' })),
        });
      } finally {
        await source.close?.();
      }
    } catch (err) {
      if (err instanceof Error && err.name === 'AbortError' && !(err instanceof HobError)) {
        throw new AbortError('request/aborted', 'loading the model was cancelled');
      }
      throw err;
    } finally {
      loadAbort = undefined;
    }
  }

  /** Loads a vision projector (an mmproj GGUF, read whole) for the model:
   *  its rows must be as wide as the model's embeddings. */
  async function loadProjector(
    e: Engine,
    model: Model,
    location: OpenOptions['location'],
    onProgress?: (p: LoadProgressEvent) => void,
  ): Promise<NonNullable<Opened['projector']>> {
    loadAbort = new AbortController();
    // The model's event shape, told apart by `file`.
    const progress = onProgress && ((p: LoadProgressEvent) => onProgress({ ...p, file: 'projector' }));
    try {
      const source = await openLocation(host, location, loadAbort.signal, progress);
      let bytes: Uint8Array;
      try {
        progress?.({ loaded: 0, total: source.sizeBytes, phase: 'load' });
        bytes = await source.read(0, source.sizeBytes);
        progress?.({ loaded: source.sizeBytes, total: source.sizeBytes, phase: 'load' });
      } finally {
        await source.close?.();
      }
      const type = String((await readGgufLayout(bytesSource(bytes))).meta.get('clip.projector_type') ?? 'unknown');
      const projector = Projector.load(e, bytes);
      if (projector.nEmbd !== model.info.nEmbd) {
        projector.free();
        throw new HobError('argument/invalid', `the projector's rows are ${projector.nEmbd} wide, the model's embeddings ${model.info.nEmbd}: it belongs to another model`, {
          projectorEmbd: projector.nEmbd, nEmbd: model.info.nEmbd,
        });
      }
      try {
        return { projector, type, encoder: await openVisionEncoder(projector, bytes, gpu) };
      } catch (err) {
        projector.free();
        throw err;
      }
    } finally {
      loadAbort = undefined;
    }
  }

  /** An embeddings or rerank call: one at a time like generation, over the
   * same session, whose cache it leaves empty for the next request. */
  async function vectorTask<T>(id: number, run: (shouldStop: () => boolean) => Promise<T>): Promise<T> {
    const { sequence } = loaded();
    if (busy) throw new BusyError('engine/busy', 'a request is already running');
    busy = true;
    stopAll = false;
    const shouldStop = () => stopAll || stopIds.has(id) || (stopFlag !== undefined && Atomics.load(stopFlag, 0) === id);
    try {
      return await exclusive(async () => {
        // The batches overwrite the cells a conversation held: a saved
        // session that owns them is written out first, as for a reset.
        await sessions.detach();
        sequence.clear();
        try {
          return await run(shouldStop);
        } finally {
          sequence.clear();
        }
      });
    } finally {
      stopIds.delete(id);
      busy = false;
    }
  }

  const service: EngineWorkerApi = {
    async init(opts = {}) {
      engine ??= await Engine.create({ threads: opts.threads ?? host.defaultThreads() });
      return { variant: engine.variant, threads: engine.threads };
    },

    async open(opts, events) {
      if (busy) throw new BusyError('engine/busy', 'a request is running; stop it before loading a model');
      await service.init({ threads: opts.threads });
      if (!engine) throw new HobError('internal', 'the engine did not start');
      contextShift = opts.contextShift;
      const post = (m: WorkerEvent) => events?.postMessage(m);
      shiftListener = events && ((event) => post({ kind: 'shift', event }));
      // A model's sessions are written before it goes.
      await sessions.close();
      sessionListener = events && ((event) => post({ kind: 'session', event }));
      if (opts.sessionDir !== sessionDir) sessionStore = undefined;
      sessionDir = opts.sessionDir;
      stopFlag = opts.stopFlag;
      freeModel();
      const progress = events && ((event: LoadProgressEvent) => post({ kind: 'progress', event }));
      const model = await loadModel(engine, opts, progress);
      let projector: Opened['projector'];
      try {
        if (opts.projector) projector = await loadProjector(engine, model, opts.projector, progress);
        // Marks the end of the load's progress (the projector's included) on
        // the same port, so the page has every progress event before open() returns.
        post({ kind: 'loaded' });
        const contextSize = opts.contextSize ?? Math.min(model.info.nCtxTrain, 4096);
        if (!Number.isInteger(contextSize) || contextSize < 1) {
          throw new HobError('argument/invalid', `contextSize must be a positive integer, got ${contextSize}`, { contextSize });
        }
        const session = Session.create(model, { nCtx: contextSize });
        const sequence = new Sequence(session, { contextShift, onShift: (e) => shiftListener?.(e) });
        opened = { engine, model, session, sequence, projector };
      } catch (e) {
        projector?.encoder.destroy();
        projector?.projector.free();
        model.free();
        throw e;
      }
      return info();
    },

    cancelLoad(): void {
      loadAbort?.abort();
    },

    tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
      return loaded().model.tokenize(text, opts);
    },

    detokenize(ids: number[]): string {
      const { model } = loaded();
      for (const t of ids) {
        if (!Number.isInteger(t) || t < 0 || t >= model.info.nVocab) {
          throw new HobError('argument/invalid', `${t} is not a token id (vocabulary of ${model.info.nVocab})`, { token: t });
        }
      }
      return model.detokenize(ids);
    },

    applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
      return chatPrompt(loaded().model, { messages }, addGenerationPrompt).prompt;
    },

    info,

    contextUsed(): number {
      return opened?.sequence.tokens.length ?? 0;
    },

    async resetContext(): Promise<void> {
      if (busy) throw new BusyError('engine/busy', 'a request is running');
      await exclusive(async () => {
        await sessions.detach();
        opened?.sequence.clear();
      });
    },

    saveSession: (name, meta) => sessions.save(checkName(name), meta),
    restoreSession: (name) => sessions.restore(checkName(name)),
    listSessions: () => sessions.list(),
    deleteSession: (name) => sessions.delete(checkName(name)),

    async generate(id: number, req: GenerateRequest, deltas?: MessagePort): Promise<GenerateResult> {
      const { model } = loaded();
      if (busy) throw new BusyError('engine/busy', 'a request is already running');
      if (!model.hparams.hasHead) {
        throw new UnsupportedModelError('model/unsupported-task', `a ${model.info.architecture} model gives embeddings, not text: use embeddings or rerank`, {
          task: 'generate',
        });
      }
      busy = true;
      stopAll = false;
      try {
        return await exclusive(() => run(id, req, deltas));
      } finally {
        stopIds.delete(id);
        busy = false;
      }
    },

    embed(id, req) {
      return vectorTask(id, (shouldStop) => {
        const { model, session } = loaded();
        return embedTexts(model, session, req.input, { ...req, shouldStop });
      });
    },

    embedTokens(id, req) {
      return vectorTask(id, (shouldStop) => {
        const { model, session } = loaded();
        return embedTokens(model, session, req.input, { normalize: req.normalize, shouldStop });
      });
    },

    rerank(id, req) {
      return vectorTask(id, (shouldStop) => {
        const { model, session } = loaded();
        return rerankScores(model, session, req.query, req.documents, shouldStop);
      });
    },

    stop(id?: number): void {
      if (id === undefined) stopAll = true;
      else if (busy) stopIds.add(id);
    },

    async unload(): Promise<void> {
      stopAll = true;
      await exclusive(() => sessions.close());
      freeModel();
      // The device's pending error scopes settle first: Dawn in Node aborts
      // the process when a worker ends with one of their promises pending.
      await gpu?.device.queue.onSubmittedWorkDone();
      gpu?.device.destroy();
      gpu = undefined;
      engine?.dispose();
      engine = undefined;
    },
  };

  /** One request, holding the lock. */
  async function run(id: number, req: GenerateRequest, deltas?: MessagePort): Promise<GenerateResult> {
    const { model, sequence, projector } = loaded();
    const session = req.session === undefined ? undefined : checkName(req.session);
    const prepared = prepareRequest(model, req, projector?.encoder);
    if (session !== undefined && prepared.imageTokens > 0) {
      throw new SessionError('session/unsupported', 'a conversation with images cannot live in a saved session', { imageTokens: prepared.imageTokens });
    }
    const ids = prepared.promptIds;
    const room = sequence.session.nCtx - ids.length;
    const maxTokens = req.max_tokens ?? Math.max(1, room);
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new HobError('argument/invalid', `max_tokens must be a non-negative integer, got ${req.max_tokens}`);
    }
    let nDeltas = 0;
    const post = (list: ReplyDelta[]) => {
      if (!deltas) return;
      for (const d of list) {
        nDeltas++;
        deltas.postMessage(d);
      }
    };
    // The conversation's saved session first, where it holds more of the prompt.
    await sessions.before(session, ids);
    let r: Awaited<ReturnType<typeof generate>>;
    try {
      r = await generate(model, sequence, { ...prepared.generation, promptIds: ids, maxTokens, ignoreEos: req.ignore_eos }, {
        onText: (d, logprobs) => post(prepared.reply.push(d, logprobs)),
        shouldStop: () => stopAll || stopIds.has(id) || (stopFlag !== undefined && Atomics.load(stopFlag, 0) === id),
        pause: yieldToEvents,
      });
    } finally {
      sessions.after(session);
    }
    const done = prepared.reply.finish(r.finishReason);
    post(done.deltas);
    const decodeTps = r.decodeTokens > 0 ? r.decodeTokens / (r.decodeMs / 1000) : 0;
    const evaluated = r.promptTokens - r.cachedTokens;
    return {
      text: r.text,
      ids: r.ids,
      finishReason: done.finishReason,
      ...(prepared.reply.chat ? { message: done.message } : {}),
      ...(r.logprobs ? { logprobs: r.logprobs } : {}),
      nDeltas,
      usage: {
        prompt_tokens: r.promptTokens,
        completion_tokens: r.ids.length,
        total_tokens: r.promptTokens + r.ids.length,
        cached_tokens: r.cachedTokens,
        prefill_tokens_per_second: r.prefillMs > 0 ? evaluated / (r.prefillMs / 1000) : 0,
        decode_tokens_per_second: decodeTps,
        ...(prepared.generation.thought ? { completion_tokens_details: { reasoning_tokens: r.reasoningTokens } } : {}),
        ...(prepared.imageTokens > 0 ? { prompt_tokens_details: { image_tokens: prepared.imageTokens } } : {}),
      },
    };
  }
  return service;
}

/** A session's name: text of 1 to 256 characters (a store may ask more). */
function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw new HobError('argument/invalid', `a session name is a string of 1 to 256 characters, got ${JSON.stringify(name)}`);
  }
  return name;
}
