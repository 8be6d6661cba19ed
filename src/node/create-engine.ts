// createEngine in Node: the same engine worker as the browser's, in a
// worker_thread, behind the same HobEngine. A model is a file path (or a
// file: URL), an http(s) URL (downloaded once into the hob CLI's file cache,
// HOB_CACHE_DIR or ~/.cache/hob, and read from there), a Hugging Face model
// by name (hf:OWNER/REPO[:QUANT], resolved here to its URL, and with
// projector: true its mmproj), bytes or a Blob.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { HobError } from '../shared/errors.js';
import { openEngine } from '../api/remote-engine.js';
import { checkEngineOptions } from '../api/options.js';
import type { CreateEngineOptions, HobEngine, ModelInput } from '../shared/types.js';
import type { EngineWorkerApi, ModelLocation } from '../worker/protocol.js';
import { nodeEndpoint } from '../worker/node-endpoint.js';
import { installErrorTransfer } from '../worker/transfer.js';
import { hubNameOf, hubProjectorUrl, resolveHubModel } from '../store/hub.js';
import { decideFit, withEstimate } from '../api/fit-settings.js';
import { checkFit } from './check-fit.js';
import { nodeImageDecoder } from './image-decode.js';

export interface NodeCreateEngineOptions extends Omit<CreateEngineOptions, 'model' | 'worker' | 'shared' | 'projector'> {
  model: ModelInput | { path: string };
  /** A vision projector (mmproj GGUF) for the model, given as the model is;
   *  `true` takes the one the Hub lists next to an hf: model. */
  projector?: ModelInput | { path: string } | true;
  /** The folder saved sessions are files in (default: HOB_CACHE_DIR, else
   * ~/.cache/hob, + /sessions); a session's name is its file's name. */
  sessionDir?: string;
}

export function nodeModelLocation(model: NodeCreateEngineOptions['model']): ModelLocation {
  if (typeof model === 'string') {
    if (/^https?:\/\//i.test(model)) return { url: model };
    if (/^file:/i.test(model)) return { path: fileURLToPath(model) };
    return { path: model };
  }
  if (typeof Blob !== 'undefined' && model instanceof Blob) return { blob: model };
  if (model && typeof model === 'object') {
    if ('path' in model && typeof model.path === 'string') return { path: model.path };
    if ('url' in model && typeof model.url === 'string') return nodeModelLocation(model.url);
    if ('bytes' in model && model.bytes instanceof Uint8Array) return { bytes: model.bytes };
    if ('storeId' in model) throw new HobError('argument/invalid', 'Node has no model store: pass a file path or a URL');
  }
  throw new HobError('argument/invalid', 'model must be a file path, a URL, { path }, { url }, { bytes } or a Blob');
}

/** The worker thread: the compiled entry, or under a TypeScript loader
 * (tests, tsx) the source, after registering tsx in the new thread. */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('../worker/engine-worker-node.js', import.meta.url));
  const entry = new URL('../worker/engine-worker-node.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
}

/** Loads a model in a worker thread and returns the engine (the browser's API, in Node). */
export async function createEngine(options: NodeCreateEngineOptions): Promise<HobEngine> {
  if (!options || options.model === undefined) throw new HobError('argument/invalid', 'createEngine needs { model }');
  let opts = checkEngineOptions(options, availableParallelism());
  // hf:OWNER/REPO[:QUANT]: the Hub names the file (its first part when split), downloaded as any URL.
  const hubName = hubNameOf(opts.model);
  const hub = hubName ? await resolveHubModel(hubName, { endpoint: opts.hubEndpoint, signal: opts.signal }) : undefined;
  const model = hub ? hub.parts[0].url : opts.model;
  // projector: true is the Hub's mmproj next to the model, downloaded as any URL.
  const projectorInput = opts.projector === true ? hubProjectorUrl(hubName, hub) : opts.projector;
  // Before a byte of weights is downloaded: does it fit? (a ModelTooLargeError if not)
  const fit = opts.fitCheck === false ? undefined : await decideFit(checkFit, model, { ...opts, projector: undefined });
  if (fit) opts = { ...opts, ...fit.settings };
  const source = nodeModelLocation(model);
  installErrorTransfer();
  const worker = startWorker();
  const remote = Comlink.wrap<EngineWorkerApi>(nodeEndpoint(worker));
  const threads = opts.threads ?? Math.max(1, Math.min(availableParallelism(), 8));
  const projector = projectorInput === undefined ? undefined : nodeModelLocation(projectorInput);
  const engine = await openEngine(remote, source, { ...opts, threads, model: '', projector, imageDecoder: async () => nodeImageDecoder }, () => void worker.terminate(), {
    // A worker that dies settles the calls waiting on it (and its 'error'
    // event, listened to, does not take this process down with it).
    onExit(listener) {
      worker.on('error', (e) => listener(e.message));
      worker.on('exit', (code) => listener(`exit code ${code}`));
    },
    // The worker keeps the process alive only while the engine waits on it:
    // a script that never calls unload() still ends when its work is done.
    setBusy: (busy) => (busy ? worker.ref() : worker.unref()),
  });
  return fit ? withEstimate(engine, fit.report) : engine;
}
