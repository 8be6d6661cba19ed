// One engine for every tab of an origin that opens the same model
// (createEngine's `shared`). The tab holding the Web Lock of the model hosts
// the engine in its own worker; the others get a proxy (tab-proxy.ts) over a
// port the broker (tab-broker.ts, a SharedWorker that only passes ports)
// hands them. Every tab waits for that lock: when the host closes or
// reloads, the browser grants it to the next tab, which loads the model
// (from the store: no download) and tells the broker; the other tabs then
// fail what they had in flight with EngineMovedError and connect to it.
// Saved sessions live in the origin's storage, so a request that names its
// session is restored on the new host too.
import { EngineClosedError, EngineMovedError, type HobError } from '../shared/errors.js';
import type { EngineEvents, HobEngine } from '../shared/types.js';
import type { BrokerMessage, BrokerRequest } from './tab-broker.js';
import { serveTab, tabLockName } from './tab-host.js';
import { proxyEngine, type TabProxy } from './tab-proxy.js';

type Listener<K extends keyof EngineEvents> = (e: EngineEvents[K]) => void;

/** The engine of `key` (the model and engine options), hosted here or by another tab; `openLocal` loads it in this tab. */
export async function openSharedEngine(key: string, openLocal: () => Promise<HobEngine>): Promise<HobEngine> {
  const tabId = crypto.randomUUID();
  const hostLock = `hob-engine:${key}`;
  const listeners: { [K in keyof EngineEvents]: Set<Listener<K>> } = { shift: new Set(), progress: new Set(), session: new Set(), host: new Set() };
  const emit = <K extends keyof EngineEvents>(event: K, e: EngineEvents[K]) => {
    for (const l of listeners[event]) {
      try {
        l(e);
      } catch (err) {
        console.error(err);
      }
    }
  };
  const life = new AbortController();
  let unloaded = false;
  let local: HobEngine | undefined;
  let proxy: TabProxy | undefined;
  let hostId: string | undefined;
  /** The engine calls go to now, once there is one. */
  let current!: Promise<HobEngine>;
  let settle!: { resolve: (e: HobEngine) => void; reject: (e: unknown) => void };
  const pend = () => {
    current = new Promise<HobEngine>((resolve, reject) => (settle = { resolve, reject }));
    current.catch(() => {});
  };
  pend();

  // Held for this tab's life: the host sees it released when the tab goes.
  await new Promise<void>((held) => {
    void navigator.locks.request(tabLockName(tabId), { signal: life.signal }, () => {
      held();
      return new Promise<void>((release) => life.signal.addEventListener('abort', () => release(), { once: true }));
    }).catch(() => {});
  });

  const broker = new SharedWorker(new URL('./tab-broker.ts', import.meta.url), { type: 'module', name: `hob-engine:${key}` });
  const send = (m: BrokerRequest) => broker.port.postMessage(m);
  const clients: { tabId: string; port: MessagePort }[] = [];

  /** Another tab hosts now: what ran on the old one fails, and this tab connects to the new one. */
  function hostChanged(id: string): void {
    if (id === hostId) return;
    hostId = id;
    emit('host', { self: id === tabId, hostId: id, tabId });
    if (id === tabId) return;
    if (proxy) {
      proxy.fail(new EngineMovedError('engine/moved', 'the tab that hosted the engine closed; send the request again', { retryable: true }));
      proxy = undefined;
      pend();
    }
    send({ kind: 'connect', tabId });
  }

  broker.port.onmessage = (ev: MessageEvent<BrokerMessage>) => {
    const m = ev.data;
    if (unloaded) return;
    if (m.kind === 'host') hostChanged(m.hostId);
    else if (m.kind === 'connected' && m.hostId === hostId && !local) {
      proxy = proxyEngine(m.port, emit);
      settle.resolve(proxy.engine);
    } else if (m.kind === 'client') {
      if (local) serveTab(local, m.port, m.tabId);
      else clients.push({ tabId: m.tabId, port: m.port });
    }
  };
  broker.port.start();

  /** This tab holds the host lock: load the engine here, serve the others, keep it until unload. */
  async function host(): Promise<void> {
    if (unloaded) return;
    send({ kind: 'host', tabId });
    hostChanged(tabId);
    if (proxy) {
      proxy.fail(new EngineMovedError('engine/moved', 'the tab that hosted the engine closed; send the request again', { retryable: true }));
      proxy = undefined;
      pend();
    }
    try {
      local = await openLocal();
    } catch (e) {
      settle.reject(e);
      return;
    }
    for (const l of ['shift', 'session', 'progress'] as const) local.on(l, (e) => emit(l, e as never));
    for (const c of clients.splice(0)) serveTab(local, c.port, c.tabId);
    settle.resolve(local);
    await new Promise<void>((release) => life.signal.addEventListener('abort', () => release(), { once: true }));
  }

  const free = await new Promise<boolean>((resolve) => {
    void navigator.locks.request(hostLock, { ifAvailable: true }, async (lock) => {
      resolve(!!lock);
      if (lock) await host();
    });
  });
  if (!free) void navigator.locks.request(hostLock, { signal: life.signal }, () => host()).catch(() => {});

  try {
    await current;
  } catch (e) {
    life.abort();
    broker.port.close();
    throw e;
  }

  const closed = () => new EngineClosedError('engine/closed', 'the engine was unloaded');
  const use = async <T>(fn: (e: HobEngine) => Promise<T>): Promise<T> => {
    if (unloaded) throw closed();
    return fn(await current);
  };

  const engine: HobEngine = {
    chat: { completions: { create: ((req: never) => use((e) => e.chat.completions.create(req))) as HobEngine['chat']['completions']['create'] } },
    completions: { create: ((req: never) => use((e) => e.completions.create(req))) as HobEngine['completions']['create'] },
    embeddings: {
      create: (req) => use((e) => e.embeddings.create(req)),
      tokens: (req) => use((e) => e.embeddings.tokens(req)),
    },
    rerank: (req) => use((e) => e.rerank(req)),
    tokenize: (...a) => use((e) => e.tokenize(...a)),
    detokenize: (...a) => use((e) => e.detokenize(...a)),
    applyChatTemplate: (...a) => use((e) => e.applyChatTemplate(...a)),
    info: () => use((e) => e.info()),
    contextUsed: () => use((e) => e.contextUsed()),
    resetContext: () => use((e) => e.resetContext()),
    saveSession: (...a) => use((e) => e.saveSession(...a)),
    restoreSession: (...a) => use((e) => e.restoreSession(...a)),
    listSessions: () => use((e) => e.listSessions()),
    deleteSession: (name) => use((e) => e.deleteSession(name)),
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      // The host is known before createEngine resolves: a new listener hears it too.
      const known = hostId;
      if (event === 'host' && known) {
        queueMicrotask(() => set.has(listener) && (listener as Listener<'host'>)({ self: known === tabId, hostId: known, tabId }));
      }
      return () => set.delete(listener);
    },
    async unload() {
      if (unloaded) return;
      unloaded = true;
      const err: HobError = closed();
      proxy?.fail(err);
      try {
        await local?.unload();
      } finally {
        // Releases the host lock (the next tab takes over) and this tab's lock.
        life.abort();
        broker.port.close();
      }
    },
  };
  return engine;
}
