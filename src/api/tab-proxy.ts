// A client tab's engine of a shared engine: the HobEngine interface over the
// port to the host tab (tab-host.ts serves the other end). Streams arrive on
// a port per request. The host may vanish (its tab closed or reloaded) with
// calls unanswered: fail() settles every one of them, and every later call,
// with the error given (EngineMovedError, from shared-engine.ts).
import * as Comlink from 'comlink';

import { EngineClosedError, fromSerializedError, HobError, type SerializedError } from '../shared/errors.js';
import type { ChatCompletionRequest, CompletionRequest, EngineEvents, HobEngine } from '../shared/types.js';
import { ChunkStream } from './remote-engine.js';
import type { ForwardedCall, StreamMessage, TabHostApi, VectorCall } from './tab-host.js';

export interface TabProxy {
  engine: HobEngine;
  /** Settles every call in flight, and every later one, with `error`. */
  fail(error: HobError): void;
}

type Emit = <K extends keyof EngineEvents>(event: K, e: EngineEvents[K]) => void;

function rebuild(e: SerializedError | { name: string; message: string }): Error {
  return 'hob' in e ? fromSerializedError(e) : Object.assign(new Error(e.message), { name: e.name });
}

let ids = 0;

/** The engine served by the host tab on `port`; its events go to `emit`. */
export function proxyEngine(port: MessagePort, emit: Emit): TabProxy {
  const remote = Comlink.wrap<TabHostApi>(port);
  let failed: HobError | undefined;
  const pending = new Set<(e: HobError) => void>();
  const events = new MessageChannel();
  events.port1.onmessage = (ev: MessageEvent<[keyof EngineEvents, never]>) => emit(ev.data[0], ev.data[1]);
  void remote.events(Comlink.transfer(events.port2, [events.port2])).catch(() => {});

  /** `p`, or the failure if the host goes first. */
  function track<T>(p: Promise<T>): Promise<T> {
    if (failed) return Promise.reject(failed);
    return new Promise<T>((resolve, reject) => {
      const onFail = (e: HobError) => reject(e);
      pending.add(onFail);
      p.then(resolve, reject).finally(() => pending.delete(onFail));
    });
  }

  const call = (method: ForwardedCall) => (...args: unknown[]) => track(remote.call(method, args));

  function generate(kind: 'chat' | 'text', req: ChatCompletionRequest | CompletionRequest): Promise<unknown> {
    if (failed) return Promise.reject(failed);
    const { signal, ...rest } = req;
    const id = ++ids;
    const stop = () => void remote.stop(id).catch(() => {});
    if (!req.stream) {
      signal?.addEventListener('abort', stop, { once: true });
      return track(remote.generate(id, kind, rest)).finally(() => signal?.removeEventListener('abort', stop));
    }
    const out = new ChunkStream<unknown>();
    const channel = new MessageChannel();
    const end = (e?: unknown) => {
      out.end(e);
      channel.port1.close();
      signal?.removeEventListener('abort', stop);
    };
    channel.port1.onmessage = (ev: MessageEvent<StreamMessage>) => {
      const m = ev.data;
      if ('chunk' in m) out.push(m.chunk);
      else if ('end' in m) end();
      else end(rebuild(m.error));
    };
    out.onCancel = stop;
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    track(remote.generate(id, kind, rest, Comlink.transfer(channel.port2, [channel.port2]))).catch((e: unknown) => end(e));
    return Promise.resolve(out);
  }

  /** An embeddings or rerank call run by the host; an abort stops it there. */
  function vectors(kind: VectorCall, req: { signal?: AbortSignal }): Promise<unknown> {
    if (failed) return Promise.reject(failed);
    const { signal, ...rest } = req ?? {};
    const id = ++ids;
    const stop = () => void remote.stop(id).catch(() => {});
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    return track(remote.vectors(id, kind, rest)).finally(() => signal?.removeEventListener('abort', stop));
  }

  const engine = {
    chat: { completions: { create: (req: ChatCompletionRequest) => generate('chat', req) } },
    embeddings: {
      create: (req: { signal?: AbortSignal }) => vectors('embed', req),
      tokens: (req: { signal?: AbortSignal }) => vectors('tokens', req),
    },
    rerank: (req: { signal?: AbortSignal }) => vectors('rerank', req),
    completions: { create: (req: CompletionRequest) => generate('text', req) },
    tokenize: call('tokenize'),
    detokenize: call('detokenize'),
    applyChatTemplate: call('applyChatTemplate'),
    info: call('info'),
    contextUsed: call('contextUsed'),
    resetContext: call('resetContext'),
    saveSession: call('saveSession'),
    restoreSession: call('restoreSession'),
    listSessions: call('listSessions'),
    deleteSession: call('deleteSession'),
    on: () => () => {},
    async unload() {
      proxy.fail(new EngineClosedError('engine/closed', 'the engine was unloaded'));
    },
  } as unknown as HobEngine;

  const proxy: TabProxy = {
    engine,
    fail(error) {
      if (failed) return;
      failed = error;
      for (const reject of pending) reject(error);
      pending.clear();
      events.port1.close();
      port.close();
    },
  };
  return proxy;
}
