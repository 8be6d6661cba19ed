// The public engine on the caller's side of the worker, shared by the browser
// (src/api/index.ts) and Node (src/node/engine.ts): it queues requests (one
// runs at a time, the rest wait in order), shapes results and streams as
// OpenAI's chat/completions API does, turns an AbortSignal into a stop the
// worker sees between two tokens, and relays events. Everything else runs in
// the worker.
import * as Comlink from 'comlink';

import { AbortError, BusyError, EngineClosedError, HobError, ImageError } from '../shared/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionDelta, ChatCompletionRequest, ChoiceLogprobs, ChatCompletions, ChatMessage, Completion, CompletionChunk,
  CompletionRequest, Completions, CreateEngineOptions, EngineEvents, EngineInfo, FinishReason, HobEngine, RequestOptions,
  Usage, VectorRequestOptions,
} from '../shared/types.js';
import type { ReplyDelta } from '../runtime/request.js';
import type { EngineWorkerApi, GenerateRequest, GenerateResult, ModelLocation, WorkerEvent } from '../worker/protocol.js';
import type { ImageDecoder } from './images.js';
import { abortion, WorkerCalls, type WorkerHooks } from './lifecycle.js';
import { checkRequest } from './options.js';
import { embeddingList, embedRequest, rerankRequest, rerankResponse, tokenEmbeddingList, tokenEmbedRequest } from './vectors.js';

/** Runs one task at a time, in the order they were queued. */
class RequestQueue {
  private running = false;
  private readonly waiting: (() => void)[] = [];

  get busy(): boolean {
    return this.running || this.waiting.length > 0;
  }

  /** Resolves when it is this caller's turn; false if `signal` aborted first. */
  async acquire(signal?: AbortSignal): Promise<boolean> {
    if (!this.running) {
      this.running = true;
      return true;
    }
    return new Promise<boolean>((resolve) => {
      const go = () => {
        signal?.removeEventListener('abort', cancel);
        resolve(true);
      };
      const cancel = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(false);
      };
      this.waiting.push(go);
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running = false;
  }
}

/** An async iterable fed by a producer: push, then end or fail. */
export class ChunkStream<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private done = false;
  private error: unknown;
  private wake?: () => void;
  /** Called when the consumer stops early (break out of for await). */
  onCancel?: () => void;

  push(v: T): void {
    this.buffer.push(v);
    this.wake?.();
  }

  end(error?: unknown): void {
    this.done = true;
    this.error = error;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let finished = false;
    try {
      for (;;) {
        if (this.buffer.length > 0) {
          yield this.buffer.shift()!;
          continue;
        }
        if (this.done) {
          finished = true;
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      if (!finished) this.onCancel?.();
    }
  }
}

type Listener<K extends keyof EngineEvents> = (e: EngineEvents[K]) => void;

const emptyUsage: Usage = {
  prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cached_tokens: 0, prefill_tokens_per_second: 0, decode_tokens_per_second: 0,
};

let idCounter = 0;

/**
 * Opens the model in a worker that runs engine-api.ts and returns the public
 * engine. `terminate` ends the worker (after unload, or when opening fails);
 * `hooks` report the worker's death and when the engine waits on it.
 */
export async function openEngine(
  remote: Comlink.Remote<EngineWorkerApi>,
  location: ModelLocation,
  opts: Omit<CreateEngineOptions, 'projector'> & { sessionDir?: string; projector?: ModelLocation; imageDecoder?: () => Promise<ImageDecoder> },
  terminate: () => void,
  hooks: WorkerHooks = {},
): Promise<HobEngine> {
  // Every call into the worker goes through `calls`: unload() and the
  // worker's death settle those still waiting.
  const calls = new WorkerCalls(hooks.setBusy);
  hooks.onExit?.((why) => calls.close(new EngineClosedError('engine/closed', `the engine's worker stopped: ${why}`, { why })));
  const listeners: { [K in keyof EngineEvents]: Set<Listener<K>> } = { shift: new Set(), progress: new Set(), session: new Set(), host: new Set() };
  const emit = <K extends keyof EngineEvents>(event: K, e: EngineEvents[K]) => {
    for (const l of listeners[event]) {
      try {
        l(e);
      } catch (err) {
        // A listener's bug must not break the engine.
        console.error(err);
      }
    }
  };
  // Events come on a port of their own, held here for the engine's life (a
  // comlink proxy's port may be collected while the worker still uses it).
  const events = new MessageChannel();
  let loadedSeen: () => void = () => {};
  const loaded = new Promise<void>((resolve) => (loadedSeen = resolve));
  events.port1.onmessage = (ev: MessageEvent<WorkerEvent>) => {
    const m = ev.data;
    if (m.kind === 'loaded') return loadedSeen();
    if (m.kind === 'progress') {
      opts.onProgress?.(m.event);
      emit('progress', m.event);
    } else if (m.kind === 'shift') {
      emit('shift', m.event);
    } else if (m.kind === 'session') {
      emit('session', m.event);
    }
  };
  // Node: the port must not keep a process alive on its own (see
  // WorkerHooks.setBusy); setting onmessage referenced it.
  (events.port1 as { unref?: () => void }).unref?.();

  if (opts.signal?.aborted) {
    events.port1.close();
    terminate();
    throw new AbortError('request/aborted', 'createEngine was cancelled before it started');
  }
  // Where shared memory is allowed (cross-origin isolated pages, Node), a stop
  // is written to memory the worker reads between evaluation and sampling.
  const stopFlag = sharedStopFlag();
  // An abort ends the wait at once, however early: the worker is
  // terminated, which stops whatever part of the load it had reached.
  const aborted = abortion(opts.signal, 'loading the model was cancelled');
  let engineInfo: EngineInfo;
  try {
    const open = calls.call(async () => {
      const info = await remote.open(
        {
          location,
          threads: opts.threads,
          contextSize: opts.contextSize,
          contextShift: opts.contextShift,
          gpuLayers: opts.gpuLayers,
          ...(opts.projector ? { projector: opts.projector } : {}),
          ...(opts.budget?.gpuBytes !== undefined ? { gpuBudgetBytes: opts.budget.gpuBytes } : {}),
          stopFlag,
          ...(opts.sessionDir !== undefined ? { sessionDir: opts.sessionDir } : {}),
        },
        Comlink.transfer(events.port2, [events.port2]),
      );
      // Every progress event is delivered before createEngine resolves.
      await loaded;
      return info;
    });
    open.catch(() => {});
    engineInfo = await Promise.race([open, aborted.promise]);
  } catch (e) {
    events.port1.close();
    terminate();
    calls.close();
    if (opts.signal?.aborted) throw new AbortError('request/aborted', 'loading the model was cancelled');
    throw e;
  } finally {
    aborted.dispose();
  }
  const modelName = engineInfo.model.name || 'hob';

  const queue = new RequestQueue();
  let unloaded = false;
  const closed = () => new EngineClosedError('engine/closed', 'the engine was unloaded');

  /** Runs one request in its turn. onDelta streams; the result comes back whole. */
  async function run(req: GenerateRequest, options: RequestOptions, onDelta?: (delta: ReplyDelta) => void): Promise<GenerateResult> {
    if (unloaded) throw closed();
    calls.check();
    if (options.failIfBusy && queue.busy) throw new BusyError('engine/busy', 'another request is running', { waiting: true });
    const signal = options.signal;
    // Images cross to the worker as RGB pixels, decoded here (in the page,
    // or the caller's thread in Node), their buffers transferred.
    // The decoding code loads on first use.
    let transfer: ArrayBuffer[] = [];
    if (req.messages?.some((m) => Array.isArray(m?.content) && m.content.some((p) => (p as { image_url?: unknown })?.image_url))) {
      if (!engineInfo.images || !opts.imageDecoder) throw new ImageError('image/unsupported', 'this engine has no projector for images');
      const [{ decodeMessageImages }, decoder] = await Promise.all([import('./images.js'), opts.imageDecoder()]);
      const decoded = await decodeMessageImages(req.messages, decoder, signal);
      req = { ...req, messages: decoded.messages };
      transfer = decoded.buffers;
    }
    const sent = transfer.length > 0 ? Comlink.transfer(req, transfer) : req;
    const aborted = (): GenerateResult => ({ text: '', ids: [], finishReason: 'abort', usage: { ...emptyUsage }, nDeltas: 0 });
    if (!(await queue.acquire(signal))) return aborted();
    try {
      if (unloaded) throw closed();
      if (signal?.aborted) return aborted();
      const id = ++idCounter;
      const stop = () => {
        if (stopFlag) Atomics.store(stopFlag, 0, id);
        void remote.stop(id);
      };
      signal?.addEventListener('abort', stop, { once: true });
      try {
        if (!onDelta) return await calls.call(() => remote.generate(id, sent));
        // The deltas come on a port held here until the request ends.
        const deltas = new MessageChannel();
        let received = 0;
        let expected = Infinity;
        let allReceived: (() => void) | undefined;
        deltas.port1.onmessage = (ev: MessageEvent<ReplyDelta>) => {
          onDelta(ev.data);
          if (++received >= expected) allReceived?.();
        };
        try {
          return await calls.call(async () => {
            const r = await remote.generate(id, sent, Comlink.transfer(deltas.port2, [deltas.port2]));
            // The result and the text travel on different ports: wait for all of the text.
            expected = r.nDeltas;
            if (received < expected) await new Promise<void>((resolve) => (allReceived = resolve));
            return r;
          });
        } finally {
          deltas.port1.close();
        }
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    } finally {
      queue.release();
    }
  }

  /** What the worker needs of a request: the sampling fields, without the signal (which cannot cross). */
  function workerRequest(req: (ChatCompletionRequest | CompletionRequest) & { ignore_eos?: boolean }): GenerateRequest {
    const { signal: _s, failIfBusy: _f, stream: _st, ...rest } = req;
    checkRequest(rest);
    return rest;
  }

  /** Starts a streaming request: a chunk for each delta the worker sends, the last with finish_reason and usage. */
  function stream<C>(
    req: ChatCompletionRequest | CompletionRequest,
    delta: (d: ChatCompletionDelta, first: boolean, logprobs: ChoiceLogprobs | undefined) => C,
    final: (finish: FinishReason, usage: Usage, first: boolean) => C,
  ): AsyncIterable<C> {
    const out = new ChunkStream<C>();
    // A consumer that stops reading stops the generation.
    const local = new AbortController();
    const signal = req.signal ? anySignal([req.signal, local.signal]) : local.signal;
    out.onCancel = () => local.abort();
    let first = true;
    run(workerRequest(req), { ...req, signal }, ({ logprobs, ...d }) => {
      out.push(delta(d, first, logprobs && { content: logprobs }));
      first = false;
    }).then(
      (r) => {
        out.push(final(r.finishReason, r.usage, first));
        out.end();
      },
      (e) => out.end(e),
    );
    return out;
  }

  const created = () => Math.floor(Date.now() / 1000);

  async function chatCreate(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  async function chatCreate(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
  async function chatCreate(req: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    if (unloaded) throw closed();
    calls.check();
    if (!req || !Array.isArray(req.messages)) throw new HobError('argument/invalid', 'chat.completions.create needs { messages: [...] }');
    const id = `chatcmpl-${++idCounter}`;
    const base = { id, object: 'chat.completion.chunk' as const, created: created(), model: modelName };
    if (req.stream) {
      if (req.failIfBusy && queue.busy) throw new BusyError('engine/busy', 'another request is running', { waiting: true });
      return stream<ChatCompletionChunk>(
        req,
        (d, first, logprobs) => ({
          ...base,
          choices: [{ index: 0, delta: first ? { role: 'assistant', ...d } : d, finish_reason: null, ...(logprobs ? { logprobs } : {}) }],
        }),
        (finish, usage, first) => ({ ...base, choices: [{ index: 0, delta: first ? { role: 'assistant' } : {}, finish_reason: finish }], usage }),
      );
    }
    const r = await run(workerRequest(req), req);
    return {
      id, object: 'chat.completion', created: created(), model: modelName,
      choices: [{
        index: 0,
        message: r.message ?? { role: 'assistant', content: r.text },
        finish_reason: r.finishReason,
        ...(r.logprobs ? { logprobs: { content: r.logprobs } } : {}),
      }],
      usage: r.usage,
    };
  }

  async function textCreate(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
  async function textCreate(req: CompletionRequest & { stream?: false }): Promise<Completion>;
  async function textCreate(req: CompletionRequest): Promise<AsyncIterable<CompletionChunk> | Completion> {
    if (unloaded) throw closed();
    calls.check();
    if (!req || typeof req.prompt !== 'string') throw new HobError('argument/invalid', 'completions.create needs { prompt: string }');
    const id = `cmpl-${++idCounter}`;
    const base = { id, object: 'text_completion' as const, created: created(), model: modelName };
    if (req.stream) {
      if (req.failIfBusy && queue.busy) throw new BusyError('engine/busy', 'another request is running', { waiting: true });
      return stream<CompletionChunk>(
        req,
        (d, _first, logprobs) => ({ ...base, choices: [{ index: 0, text: d.content ?? '', finish_reason: null, ...(logprobs ? { logprobs } : {}) }] }),
        (finish, usage) => ({ ...base, choices: [{ index: 0, text: '', finish_reason: finish }], usage }),
      );
    }
    const r = await run(workerRequest(req), req);
    return {
      ...base,
      choices: [{ index: 0, text: r.text, finish_reason: r.finishReason, ...(r.logprobs ? { logprobs: { content: r.logprobs } } : {}) }],
      usage: r.usage,
    };
  }

  const chatCompletions: ChatCompletions = { create: chatCreate };
  const completions: Completions = { create: textCreate };

  /** Non-generating calls wait for the running request too, so they see a settled cache. */
  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (unloaded) throw closed();
    calls.check();
    await queue.acquire();
    try {
      if (unloaded) throw closed();
      return await calls.call(fn);
    } finally {
      queue.release();
    }
  }

  /** An embeddings or rerank call in its turn: it uses the session as
   * generation does. An abort stops it between its batches. */
  async function vectorCall<T>(options: VectorRequestOptions, fn: (id: number) => Promise<T>): Promise<T> {
    if (unloaded) throw closed();
    calls.check();
    if (options.failIfBusy && queue.busy) throw new BusyError('engine/busy', 'another request is running', { waiting: true });
    const signal = options.signal;
    const aborted = () => new AbortError('request/aborted', 'the request was cancelled');
    if (signal?.aborted) throw aborted();
    if (!(await queue.acquire(signal))) throw aborted();
    try {
      if (unloaded) throw closed();
      if (signal?.aborted) throw aborted();
      const id = ++idCounter;
      const stop = () => {
        if (stopFlag) Atomics.store(stopFlag, 0, id);
        void remote.stop(id);
      };
      signal?.addEventListener('abort', stop, { once: true });
      try {
        return await calls.call(() => fn(id));
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    } finally {
      queue.release();
    }
  }

  /** Calls that need no turn in the queue (they do not touch the cache). */
  async function direct<T>(fn: () => Promise<T>): Promise<T> {
    if (unloaded) throw closed();
    return calls.call(fn);
  }

  const engine: HobEngine = {
    chat: { completions: chatCompletions },
    completions,
    embeddings: {
      async create(req) {
        const wire = embedRequest(req);
        const r = await vectorCall(req, (id) => remote.embed(id, wire));
        return embeddingList(r, modelName, req.encoding_format);
      },
      async tokens(req) {
        const wire = tokenEmbedRequest(req);
        return tokenEmbeddingList(await vectorCall(req, (id) => remote.embedTokens(id, wire)), modelName);
      },
    },
    async rerank(req) {
      const wire = rerankRequest(req);
      return rerankResponse(req, await vectorCall(req, (id) => remote.rerank(id, wire)), modelName);
    },
    tokenize: (text, o) => direct(() => remote.tokenize(text, o ?? {})),
    detokenize: (ids) => direct(() => remote.detokenize(ids)),
    applyChatTemplate: (messages: ChatMessage[], o) => direct(() => remote.applyChatTemplate(messages, o?.addGenerationPrompt ?? true)),
    info: () => direct(() => remote.info()),
    contextUsed: () => exclusive(() => remote.contextUsed()),
    resetContext: () => exclusive(() => remote.resetContext()),
    saveSession: (name = 'default', o) => exclusive(() => remote.saveSession(name, o?.meta)),
    restoreSession: (name = 'default') => exclusive(() => remote.restoreSession(name)),
    listSessions: () => direct(() => remote.listSessions()),
    deleteSession: (name) => exclusive(() => remote.deleteSession(name)),
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    async unload() {
      if (unloaded) return;
      unloaded = true;
      // Whatever runs stops at its next token; then the worker frees everything.
      void remote.stop();
      await queue.acquire();
      try {
        // A worker that already stopped cannot answer: the call then settles with the close.
        await calls.call(() => remote.unload()).catch((e: unknown) => {
          if (!(e instanceof EngineClosedError)) throw e;
        });
      } finally {
        events.port1.close();
        terminate();
        calls.close(closed());
        queue.release();
      }
    },
  };
  return engine;
}

function sharedStopFlag(): Int32Array | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return undefined;
  const g = globalThis as { crossOriginIsolated?: boolean; process?: { versions?: { node?: string } } };
  if (g.crossOriginIsolated !== true && !g.process?.versions?.node) return undefined;
  return new Int32Array(new SharedArrayBuffer(4));
}

/** An AbortSignal that aborts when any of `signals` does. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}
