// The engine's web worker: the browser entry of engine-api.ts. The page
// talks to it through comlink (see client.ts and src/api); nothing heavy runs
// on the page's thread.
import * as Comlink from 'comlink';

import { requestGpu } from '../gpu/device.js';
import { openModelStore } from '../store/index.js';
import { createWorkerApi } from './service.js';
import { installErrorTransfer } from './transfer.js';

export type { EngineWorkerApi, GenerateRequest, GenerateResult, LoadProgress, ModelSource, OpenOptions, WorkerCompletionRequest, WorkerLoadOptions } from './service.js';

const api = createWorkerApi({
  requestGpu: () => requestGpu(),
  openStore: () => openModelStore(),
  defaultThreads: () => Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)),
});

installErrorTransfer();
Comlink.expose(api);
