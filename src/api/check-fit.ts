// checkFit in the browser: whether a model fits this device, before a byte
// of its weights is downloaded. Only the GGUF header is read (Range requests
// for a URL or an hf: model, every part of a split one; a slice of a Blob; the
// store's copy of a stored model), and judged against the wasm ceiling, the
// memory budget (the option, else from the user agent and
// navigator.deviceMemory), the storage left (navigator.storage.estimate) and,
// when GPU layers are asked for, the adapter's buffer limits. createEngine
// runs it first (api/index.ts).
import { blobSource, bytesSource, type ByteSource } from '../format/source.js';
import { HobError, StoreError } from '../shared/errors.js';
import type { CheckFitOptions, FitReport, ModelInput } from '../shared/types.js';
import { deviceLimits, type DeviceFacts } from '../runtime/device-limits.js';
import { checkPartsFit } from '../runtime/fit.js';
import { isHubRef, resolveHubModel } from '../store/hub.js';
import { openModelStore, splitPartUrls } from '../store/index.js';
import { rangeSource } from '../store/range-source.js';

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

interface Opened {
  parts: ByteSource[];
  /** Bytes a download would still store (0: stored already, or not a download). */
  downloadBytes: number;
}

interface NavigatorFacts {
  userAgent?: string;
  deviceMemory?: number;
  hardwareConcurrency?: number;
  storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> };
  gpu?: { requestAdapter(): Promise<{ limits: { maxBufferSize: number; maxStorageBufferBindingSize: number }; info?: { description?: string; vendor?: string } } | null> };
}

async function storedParts(id: string): Promise<ByteSource[] | undefined> {
  if (typeof indexedDB === 'undefined') return undefined;
  const store = openModelStore();
  if ((await store.get(id))?.state !== 'complete') return undefined;
  return store.openModelParts(id);
}

/** The first complete stored model downloaded from these URLs, if any. */
async function storedCopy(urls: string[]): Promise<ByteSource[] | undefined> {
  if (typeof indexedDB === 'undefined') return undefined;
  const store = openModelStore();
  const m = (await store.list()).find((s) => s.state === 'complete' && s.parts.length === urls.length && s.parts.every((p, k) => p.url === urls[k]));
  return m ? store.openModelParts(m.id) : undefined;
}

async function open(model: ModelInput, opts: CheckFitOptions): Promise<Opened> {
  if (typeof Blob !== 'undefined' && model instanceof Blob) return { parts: [blobSource(model)], downloadBytes: 0 };
  if (model && typeof model === 'object' && 'bytes' in model && model.bytes instanceof Uint8Array) return { parts: [bytesSource(model.bytes)], downloadBytes: 0 };
  if (model && typeof model === 'object' && 'storeId' in model) {
    const parts = await storedParts(model.storeId);
    if (!parts) throw new StoreError('store/not-found', `no complete stored model ${model.storeId}`, { id: model.storeId });
    return { parts, downloadBytes: 0 };
  }
  let urls: string[];
  const text = typeof model === 'string' ? model : model && typeof model === 'object' && 'url' in model ? model.url : undefined;
  if (text === undefined) throw new HobError('argument/invalid', 'model must be a URL, an hf: name, a stored model id, a File/Blob, { url }, { storeId } or { bytes }');
  if (isHubRef(text)) {
    urls = (await resolveHubModel(text, { endpoint: opts.hubEndpoint, signal: opts.signal })).parts.map((p) => p.url);
  } else {
    if (typeof model === 'string' && !SCHEME.test(text) && !/^\.{0,2}\//.test(text)) {
      // A bare name: a stored model's id when the store has it, else a relative URL.
      const parts = await storedParts(text);
      if (parts) return { parts, downloadBytes: 0 };
    }
    urls = splitPartUrls(new URL(text, globalThis.location?.href).href);
  }
  const stored = await storedCopy(urls).catch(() => undefined);
  if (stored) return { parts: stored, downloadBytes: 0 };
  const parts = await Promise.all(urls.map((u) => rangeSource(u, { signal: opts.signal })));
  return { parts, downloadBytes: parts.reduce((a, p) => a + p.sizeBytes, 0) };
}

/** What this browser offers (the GPU's limits only when GPU layers are asked for). */
async function browserFacts(opts: CheckFitOptions, needStorage: boolean): Promise<DeviceFacts> {
  const nav = (globalThis.navigator ?? {}) as NavigatorFacts;
  const facts: DeviceFacts = {
    userAgent: nav.userAgent,
    deviceMemoryGiB: nav.deviceMemory,
    threads: opts.threads ?? Math.max(1, Math.min(nav.hardwareConcurrency || 1, 8)),
  };
  if (needStorage && nav.storage?.estimate) {
    const e = await nav.storage.estimate().catch(() => undefined);
    if (e?.quota !== undefined) facts.storageFreeBytes = Math.max(0, e.quota - (e.usage ?? 0));
  }
  if ((opts.gpuLayers ?? 0) !== 0) {
    // The worker requests the same adapter; without one, the verdict says why.
    const adapter = nav.gpu ? await nav.gpu.requestAdapter().catch(() => null) : null;
    if (adapter) {
      facts.gpu = { maxBufferBytes: adapter.limits.maxBufferSize, maxBindingBytes: adapter.limits.maxStorageBufferBindingSize, name: adapter.info?.description || adapter.info?.vendor };
    } else {
      facts.noGpu = nav.gpu ? 'no WebGPU adapter was found' : 'WebGPU is not available here (no navigator.gpu)';
    }
  }
  return facts;
}

/**
 * Whether `model` fits this device with these settings, from its header
 * alone: 'fits' (with the settings to use), 'fits-with-changes' (the asked
 * settings do not; `settings` do), 'does-not-fit' (`problems` say why, in
 * bytes). See FitReport and docs/models.md#will-it-fit.
 */
export async function checkFit(model: ModelInput, opts: CheckFitOptions = {}): Promise<FitReport> {
  const { parts, downloadBytes } = await open(model, opts);
  try {
    const limits = deviceLimits(await browserFacts(opts, downloadBytes > 0), opts.budget);
    return await checkPartsFit(parts, { contextSize: opts.contextSize, gpuLayers: opts.gpuLayers, downloadBytes }, limits);
  } finally {
    for (const p of parts) await p.close?.();
  }
}
