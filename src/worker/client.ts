// The page's side of the engine worker, bare: starts it (bundler-friendly
// URL) and returns the typed comlink proxy of its protocol. The public API
// (src/api/index.ts) starts its worker the same way; tests that drive the
// protocol directly use this.
import * as Comlink from 'comlink';

import type { EngineWorkerApi } from './protocol.js';
import { installErrorTransfer } from './transfer.js';

export type { EngineWorkerApi, GenerateRequest, GenerateResult, ModelLocation, OpenOptions } from './protocol.js';

export interface EngineWorkerHandle {
  api: Comlink.Remote<EngineWorkerApi>;
  worker: Worker;
  terminate(): void;
}

/** Starts the engine worker, or wraps one the caller created. */
export function startEngineWorker(worker?: Worker): EngineWorkerHandle {
  installErrorTransfer();
  const w = worker ?? new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<EngineWorkerApi>(w);
  return { api, worker: w, terminate: () => w.terminate() };
}

export { Comlink };
