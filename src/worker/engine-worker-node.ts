// The engine's worker thread in Node: the same service.ts as the browser's
// web worker, reading models from disk (a URL is downloaded once into the
// file cache the hob CLI uses, src/store/file-cache.ts) and WebGPU through
// the optional `webgpu` package.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { fileSource } from '../format/file-source.js';
import { requestNodeGpu } from '../gpu/node-device.js';
import { cachedModel, defaultCacheDir } from '../store/file-cache.js';
import { FileSessionStore } from '../store/session-files.js';
import { createEngineService } from './service.js';
import { nodeEndpoint } from './node-endpoint.js';
import { installErrorTransfer } from './transfer.js';

if (!parentPort) throw new Error('engine-worker-node runs as a worker thread');

const api = createEngineService({
  requestGpu: () => requestNodeGpu(),
  openPath: (path) => fileSource(path),
  // Streamed to disk, never held in memory: a body without end used to grow
  // the process until it died.
  async openUrl(url, signal, onProgress) {
    const r = await cachedModel(url, {
      signal,
      onProgress: onProgress && ((p) => onProgress({ loaded: p.loaded, total: Math.max(p.total, p.loaded), phase: 'download' })),
    });
    return fileSource(r.path);
  },
  openSessionStore: (dir) => new FileSessionStore(dir ?? join(defaultCacheDir(), 'sessions')),
  defaultThreads: () => Math.max(1, Math.min(availableParallelism(), 8)),
  // Node drains a MessagePort's queue, including messages posted while
  // draining, before other ports: a MessageChannel turn would starve the
  // parent's port. setImmediate runs after pending I/O.
  yieldToEvents: () => new Promise<void>((resolve) => setImmediate(resolve)),
});

installErrorTransfer();
Comlink.expose(api, nodeEndpoint(parentPort));
