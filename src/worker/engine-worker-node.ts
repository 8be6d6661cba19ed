// The engine's worker thread in Node: the same service.ts as the browser's
// web worker, reading models from disk (a URL is downloaded once into the
// file cache the hob CLI uses, src/store/file-cache.ts) and WebGPU through
// the optional `webgpu` package.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { fileSource, modelFileSource } from '../format/file-source.js';
import { requestNodeGpu } from '../gpu/node-device.js';
import { joinSplitParts } from '../format/gguf-split.js';
import { cachedModel, defaultCacheDir } from '../store/file-cache.js';
import { FileSessionStore } from '../store/session-files.js';
import { splitPartUrls } from '../store/store.js';
import { createEngineService } from './service.js';
import { nodeEndpoint } from './node-endpoint.js';
import { installErrorTransfer } from './transfer.js';

if (!parentPort) throw new Error('engine-worker-node runs as a worker thread');

const api = createEngineService({
  requestGpu: () => requestNodeGpu(),
  openPath: (path) => modelFileSource(path),
  // Streamed to disk, never held in memory: a body without end used to grow
  // the process until it died.
  // A part of a split model (…-00001-of-00003.gguf, as hf: names them)
  // brings its siblings: each is cached, and they are read as one file.
  async openUrl(url, signal, onProgress) {
    const urls = splitPartUrls(url);
    const paths: string[] = [];
    let before = 0;
    for (const u of urls) {
      const r = await cachedModel(u, {
        signal,
        onProgress: onProgress && ((p) => onProgress({ loaded: before + p.loaded, total: before + Math.max(p.total, p.loaded), phase: 'download' })),
      });
      paths.push(r.path);
      before += r.sizeBytes;
    }
    if (paths.length === 1) return fileSource(paths[0]);
    return joinSplitParts(await Promise.all(paths.map((p) => fileSource(p))));
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
