// comlink over Node's worker_threads: a MessagePort-like endpoint (comlink
// speaks addEventListener/postMessage; worker_threads speaks on/off with the
// message itself as the argument).
import type { Endpoint } from 'comlink';

export interface NodePort {
  postMessage(message: unknown, transfer?: readonly Transferable[]): void;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  off(event: 'message', listener: (data: unknown) => void): unknown;
}

export function nodeEndpoint(port: NodePort): Endpoint {
  const listeners = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer),
    addEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const wrapped = (data: unknown) => {
        const event = { data } as MessageEvent;
        if ('handleEvent' in listener) listener.handleEvent(event);
        else listener(event);
      };
      listeners.set(listener, wrapped);
      port.on('message', wrapped);
    },
    removeEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const wrapped = listeners.get(listener);
      if (!wrapped) return;
      port.off('message', wrapped);
      listeners.delete(listener);
    },
  };
}
