// The broker of a shared engine (createEngine's `shared`): a SharedWorker,
// one per model, that only passes MessagePorts between the tabs of an
// origin. It never runs the engine (a SharedWorker cannot use WebGPU or
// threaded wasm): the host tab's own worker does. A tab that becomes the host
// says so; a tab that needs the engine asks to connect and gets one end of a
// new channel whose other end goes to the host. Every tab hears who hosts.
// No imports: the file is served and shipped as it is.

/** What a tab sends the broker. */
export type BrokerRequest = { kind: 'host'; tabId: string } | { kind: 'connect'; tabId: string };

/** What the broker sends a tab. */
export type BrokerMessage =
  | { kind: 'host'; hostId: string }
  /** To a client: its end of the channel to the host. */
  | { kind: 'connected'; hostId: string; port: MessagePort }
  /** To the host: a client's end. */
  | { kind: 'client'; tabId: string; port: MessagePort };

interface SharedScope {
  onconnect: ((e: MessageEvent) => void) | null;
}

const tabs = new Set<MessagePort>();
let host: { port: MessagePort; tabId: string } | undefined;
/** Clients that asked before any tab hosted. */
let waiting: { port: MessagePort; tabId: string }[] = [];

function connect(client: MessagePort, tabId: string): void {
  if (!host) {
    waiting.push({ port: client, tabId });
    return;
  }
  const channel = new MessageChannel();
  host.port.postMessage({ kind: 'client', tabId, port: channel.port1 } satisfies BrokerMessage, [channel.port1]);
  client.postMessage({ kind: 'connected', hostId: host.tabId, port: channel.port2 } satisfies BrokerMessage, [channel.port2]);
}

(globalThis as unknown as SharedScope).onconnect = (e: MessageEvent) => {
  const port = e.ports[0];
  tabs.add(port);
  port.onmessage = (ev: MessageEvent<BrokerRequest>) => {
    const m = ev.data;
    if (m?.kind === 'host' && typeof m.tabId === 'string') {
      // A tab holds the host lock only once the previous host is gone, so the newest claim is the host.
      host = { port, tabId: m.tabId };
      for (const t of tabs) t.postMessage({ kind: 'host', hostId: m.tabId } satisfies BrokerMessage);
      const queued = waiting;
      waiting = [];
      for (const w of queued) connect(w.port, w.tabId);
    } else if (m?.kind === 'connect' && typeof m.tabId === 'string') {
      connect(port, m.tabId);
    }
  };
  if (host) port.postMessage({ kind: 'host', hostId: host.tabId } satisfies BrokerMessage);
};
