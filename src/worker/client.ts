// The page's side of the engine worker: starts it (bundler-friendly URL) and
// returns a typed comlink proxy. The public API (src/api) builds on this.
import * as Comlink from 'comlink';

import type { EngineWorkerApi } from './service.js';
import { installErrorTransfer } from './transfer.js';

export type { EngineWorkerApi, GenerateRequest, GenerateResult, LoadProgress, ModelSource, OpenOptions, WorkerCompletionRequest } from './service.js';

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
