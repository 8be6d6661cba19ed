// The host tab's side of a shared engine: serves another tab, on the port the
// broker gave (comlink), with the host's own engine. The other tab's
// requests join the host's queue like the host's own, so requests from all
// tabs run in the order they came. Streamed chunks go back on a port per
// request. When the other tab closes (its tab lock is released), whatever
// it asked for is aborted.
import * as Comlink from 'comlink';

import { isHobError, toSerializedError, type SerializedError } from '../shared/errors.js';
import type { ChatCompletionRequest, CompletionRequest, EngineEvents, HobEngine } from '../shared/types.js';

/** The engine calls a client tab makes that are neither generation nor events. */
export const FORWARDED = [
  'tokenize', 'detokenize', 'applyChatTemplate', 'info', 'contextUsed', 'resetContext', 'saveSession', 'restoreSession', 'listSessions', 'deleteSession',
] as const;
export type ForwardedCall = (typeof FORWARDED)[number];
export type VectorCall = 'embed' | 'tokens' | 'rerank';

/** What a stream port carries: a chunk, then the end or a failure. */
export type StreamMessage = { chunk: unknown } | { end: true } | { error: SerializedError | { name: string; message: string } };

export interface TabHostApi {
  call(method: ForwardedCall, args: unknown[]): Promise<unknown>;
  /** engine.embeddings.create, embeddings.tokens or rerank (the request without its signal; stop(id) aborts it). */
  vectors(id: number, kind: VectorCall, req: object): Promise<unknown>;
  /** A chat ('chat') or text ('text') completion; with a port, it streams there and resolves undefined. */
  generate(id: number, kind: 'chat' | 'text', req: ChatCompletionRequest | CompletionRequest, stream?: MessagePort): Promise<unknown>;
  stop(id: number): void;
  /** The engine's events, posted on `port` ([name, event]). */
  events(port: MessagePort): void;
}

/** The lock a tab holds for its whole life (the host sees it released when the tab goes). */
export const tabLockName = (tabId: string): string => `hob-tab:${tabId}`;

/** Serves the client tab `tabId` on `port` until it closes. */
export function serveTab(engine: HobEngine, port: MessagePort, tabId: string): void {
  const running = new Map<number, AbortController>();
  const offs: (() => void)[] = [];
  let gone = false;
  const api: TabHostApi = {
    call: (method, args) => {
      if (!FORWARDED.includes(method)) throw new TypeError(`no engine call ${String(method)}`);
      return (engine[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    },
    async generate(id, kind, req, stream) {
      const ctrl = new AbortController();
      running.set(id, ctrl);
      if (gone) ctrl.abort();
      const create = (kind === 'chat' ? engine.chat.completions.create : engine.completions.create) as (r: unknown) => Promise<unknown>;
      try {
        if (!stream) return await create({ ...req, stream: false, signal: ctrl.signal });
        try {
          const chunks = (await create({ ...req, stream: true, signal: ctrl.signal })) as AsyncIterable<unknown>;
          for await (const chunk of chunks) stream.postMessage({ chunk } satisfies StreamMessage);
          stream.postMessage({ end: true } satisfies StreamMessage);
        } catch (e) {
          const error = isHobError(e) ? toSerializedError(e) : { name: (e as Error)?.name ?? 'Error', message: String((e as Error)?.message ?? e) };
          stream.postMessage({ error } satisfies StreamMessage);
        } finally {
          stream.close();
        }
        return undefined;
      } finally {
        running.delete(id);
      }
    },
    async vectors(id, kind, req) {
      const ctrl = new AbortController();
      running.set(id, ctrl);
      if (gone) ctrl.abort();
      const r = { ...req, signal: ctrl.signal } as never;
      try {
        if (kind === 'embed') return await engine.embeddings.create(r);
        if (kind === 'tokens') return await engine.embeddings.tokens(r);
        return await engine.rerank(r);
      } finally {
        running.delete(id);
      }
    },
    stop(id) {
      running.get(id)?.abort();
    },
    events(out) {
      for (const name of ['shift', 'session'] as (keyof EngineEvents)[]) offs.push(engine.on(name, (e) => out.postMessage([name, e])));
    },
  };
  Comlink.expose(api, port);
  // Granted once the client tab no longer holds its lock: it closed.
  void navigator.locks.request(tabLockName(tabId), () => {
    gone = true;
    for (const c of running.values()) c.abort();
    for (const off of offs) off();
    port.close();
  });
}
