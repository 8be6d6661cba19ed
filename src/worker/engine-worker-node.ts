// The engine's worker thread in Node: the same service.ts as the browser's
// web worker, reading models from disk (or a URL, into memory: Node has no
// model store) and WebGPU through the optional `webgpu` package.
import { availableParallelism } from 'node:os';
import { parentPort } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { NetworkError } from '../shared/errors.js';
import { bytesSource } from '../format/source.js';
import { fileSource } from '../format/file-source.js';
import { requestNodeGpu } from '../gpu/node-device.js';
import { createEngineService } from './service.js';
import { nodeEndpoint } from './node-endpoint.js';
import { installErrorTransfer } from './transfer.js';

if (!parentPort) throw new Error('engine-worker-node runs as a worker thread');

const api = createEngineService({
  requestGpu: () => requestNodeGpu(),
  openPath: (path) => fileSource(path),
  async openUrl(url, signal, onProgress) {
    let res: Response;
    try {
      res = await fetch(url, { signal });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new NetworkError('network/interrupted', `cannot fetch ${url}: ${(e as Error).message}`, { url });
    }
    if (!res.ok || !res.body) throw new NetworkError('network/http-status', `HTTP ${res.status} for ${url}`, { status: res.status, url });
    const total = Number(res.headers.get('content-length') ?? 0);
    const parts: Uint8Array[] = [];
    let loaded = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parts.push(chunk);
      loaded += chunk.byteLength;
      onProgress?.({ loaded, total: Math.max(total, loaded), phase: 'download' });
    }
    const bytes = new Uint8Array(loaded);
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.byteLength;
    }
    return bytesSource(bytes);
  },
  defaultThreads: () => Math.max(1, Math.min(availableParallelism(), 8)),
  // Node drains a MessagePort's queue, including messages posted while
  // draining, before other ports: a MessageChannel turn would starve the
  // parent's port. setImmediate runs after pending I/O.
  yieldToEvents: () => new Promise<void>((resolve) => setImmediate(resolve)),
});

installErrorTransfer();
Comlink.expose(api, nodeEndpoint(parentPort));
