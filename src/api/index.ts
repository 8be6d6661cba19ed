// The public API in the browser: createEngine starts the engine's worker
// (a module worker the bundler finds through new URL(..., import.meta.url)),
// loads the model there and returns the engine. Node has the same function in
// src/node (worker_threads running the same worker code).
import * as Comlink from 'comlink';

import { HobError } from '../shared/errors.js';
import type { CheckFitOptions, CreateEngineOptions, FitReport, HobEngine, ModelInput } from '../shared/types.js';
import { checkEngineOptions } from './options.js';
import { openEngine } from './remote-engine.js';
import { openSharedEngine } from './shared-engine.js';
import type { EngineWorkerApi, ModelLocation } from '../worker/protocol.js';
import { installErrorTransfer } from '../worker/transfer.js';
import type * as Deferred from './deferred.js';
import { hubNameOf } from '../store/hub-ref.js';

export * from '../shared/types.js';
export type { ModelLocation } from '../worker/protocol.js';
export * from '../shared/errors.js';
export { DEFAULT_SAMPLER_ORDER, SAMPLING_DEFAULTS } from '../sampling/params.js';
export type { QuantChoice, RepoFile } from '../store/hub-quants.js';
export { isHubRef, parseHubRef, type HubRef } from '../store/hub-ref.js';
export type { HubChoice, HubFile, HubModel, HubOptions } from '../store/hub.js';

// The fit check and the Hub's code load on first use (deferred.ts).
let deferred: Promise<typeof Deferred> | undefined;
const later = () => (deferred ??= import('./deferred.js'));

/**
 * Whether `model` fits this device with these settings, from its header
 * alone: 'fits' (with the settings to use), 'fits-with-changes' (the asked
 * settings do not; `settings` do), 'does-not-fit' (`problems` say why, in
 * bytes). See FitReport and docs/models.md#will-it-fit.
 */
export async function checkFit(model: ModelInput, opts?: CheckFitOptions): Promise<FitReport> {
  return (await later()).checkFit(model, opts);
}

/** The GGUF files of a Hugging Face repository, with their sizes (see store/hub.ts). */
export async function listHubFiles(...args: Parameters<typeof Deferred.listHubFiles>): ReturnType<typeof Deferred.listHubFiles> {
  return (await later()).listHubFiles(...args);
}

/** An hf: name resolved to its files: the quant picked, split parts gathered, the projector named (see store/hub.ts). */
export async function resolveHubModel(...args: Parameters<typeof Deferred.resolveHubModel>): ReturnType<typeof Deferred.resolveHubModel> {
  return (await later()).resolveHubModel(...args);
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** Where the worker finds the model: URLs are made absolute against the
 * page (the worker's own location differs); a bare name is a stored model's
 * id when the store has it, else a URL relative to the page. */
export function browserModelLocation(model: ModelInput, base = globalThis.location?.href): ModelLocation {
  if (typeof Blob !== 'undefined' && model instanceof Blob) return { blob: model };
  if (typeof model === 'string') {
    const url = new URL(model, base).href;
    if (SCHEME.test(model) || /^\.{0,2}\//.test(model)) return { url };
    return { ref: model, url };
  }
  if (model && typeof model === 'object') {
    if ('url' in model && typeof model.url === 'string') return { url: new URL(model.url, base).href };
    if ('storeId' in model && typeof model.storeId === 'string') return { storeId: model.storeId };
    if ('bytes' in model && model.bytes instanceof Uint8Array) return { bytes: model.bytes };
  }
  throw new HobError('argument/invalid', 'model must be a URL, a stored model id, a File/Blob, { url }, { storeId } or { bytes }');
}

/** The browser's image decoder, loaded on first use. */
const browserImageDecoder = () => import('./image-decode-browser.js').then((m) => m.browserImageDecoder);

/** Loads a model in a new worker (or `opts.worker`) and returns the engine;
 * with `shared`, the engine of the tab that hosts it (see shared-engine.ts). */
export async function createEngine(options: CreateEngineOptions): Promise<HobEngine> {
  if (!options || options.model === undefined) throw new HobError('argument/invalid', 'createEngine needs { model }');
  let opts = checkEngineOptions(options, globalThis.navigator?.hardwareConcurrency || 1);
  // hf:OWNER/REPO[:QUANT]: the Hub names the file (its first part when split), then stored as any URL.
  const hubName = hubNameOf(opts.model);
  const hub = hubName ? await (await later()).resolveHubModel(hubName, { endpoint: opts.hubEndpoint, signal: opts.signal }) : undefined;
  const model = hub ? hub.parts[0].url : opts.model;
  // projector: true is the Hub's mmproj next to the model.
  const projectorInput = opts.projector === true ? (await later()).hubProjectorUrl(hubName, hub) : opts.projector;
  const source = browserModelLocation(model);
  if (opts.shared) {
    // Another tab loads it again from the store when it takes over: it needs a name, not bytes.
    const name = 'storeId' in source ? source.storeId : 'url' in source ? source.url : undefined;
    if (name === undefined) throw new HobError('argument/invalid', 'a shared engine needs a model URL or a stored model id');
    if (typeof SharedWorker === 'undefined' || !globalThis.navigator?.locks) {
      throw new HobError('argument/invalid', 'a shared engine needs SharedWorker and Web Locks, which this browser lacks');
    }
    const key = JSON.stringify([name, opts.contextSize ?? 0, opts.gpuLayers ?? 0, opts.threads ?? 0, typeof projectorInput === 'string' ? projectorInput : '']);
    return openSharedEngine(key, () => createEngine({ ...options, shared: false }));
  }
  // Before a byte of weights is downloaded: does it fit? (a ModelTooLargeError if not)
  const d = opts.fitCheck === false ? undefined : await later();
  const fit = d ? await d.decideFit(d.checkFit, model, opts) : undefined;
  if (fit) opts = { ...opts, ...fit.settings };
  installErrorTransfer();
  const worker = opts.worker ?? new Worker(new URL('../worker/engine-worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<EngineWorkerApi>(worker);
  const projector = projectorInput === undefined ? undefined : browserModelLocation(projectorInput);
  const engine = await openEngine(remote, source, { ...opts, projector, imageDecoder: browserImageDecoder }, () => worker.terminate());
  return fit && d ? d.withEstimate(engine, fit.report) : engine;
}
