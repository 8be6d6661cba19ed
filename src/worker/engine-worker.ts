// The engine's web worker: the browser entry of service.ts. The page talks
// to it through comlink (see src/api); nothing heavy runs on the page's
// thread.
import * as Comlink from 'comlink';

import { requestGpu } from '../gpu/device.js';
import { openModelStore } from '../store/index.js';
import { openSessionStore } from '../store/sessions.js';
import { createEngineService } from './service.js';
import { installErrorTransfer } from './transfer.js';

const api = createEngineService({
  requestGpu: () => requestGpu(),
  openStore: () => openModelStore(),
  openSessionStore: () => openSessionStore(),
  defaultThreads: () => Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)),
});

installErrorTransfer();
Comlink.expose(api);
