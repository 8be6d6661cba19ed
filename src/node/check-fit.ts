// checkFit in Node: the same verdict as the browser's (api/check-fit.ts),
// from a file's header on disk, a URL's (Range requests, or the cached copy
// when the file cache has every part) or an hf: model's. The memory budget
// defaults to half of this machine's memory (at most the 4 GiB wasm32 can
// address); when GPU layers are asked for, the GPU side is judged against
// the limits of the adapter the optional `webgpu` package offers (read
// without creating a device), and without one the verdict says why.
import { availableParallelism, totalmem } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { modelFileSource } from '../format/file-source.js';
import { blobSource, bytesSource, type ByteSource } from '../format/source.js';
import { nodeAdapterLimits } from '../gpu/node-device.js';
import { deviceLimits, type DeviceFacts } from '../runtime/device-limits.js';
import { checkPartsFit } from '../runtime/fit.js';
import { GpuError, HobError } from '../shared/errors.js';
import type { CheckFitOptions, FitReport, ModelInput } from '../shared/types.js';
import { cacheFileName, defaultCacheDir } from '../store/file-cache.js';
import { isHubRef, resolveHubModel } from '../store/hub.js';
import { rangeSource } from '../store/range-source.js';
import { splitPartUrls } from '../store/store.js';

async function open(model: ModelInput | { path: string }, opts: CheckFitOptions): Promise<ByteSource[]> {
  if (typeof Blob !== 'undefined' && model instanceof Blob) return [blobSource(model)];
  if (model && typeof model === 'object' && 'bytes' in model && model.bytes instanceof Uint8Array) return [bytesSource(model.bytes)];
  if (model && typeof model === 'object' && 'path' in model) return [await modelFileSource(model.path)];
  const text = typeof model === 'string' ? model : model && typeof model === 'object' && 'url' in model ? model.url : undefined;
  if (text === undefined) throw new HobError('argument/invalid', 'model must be a file path, a URL, an hf: name, { path }, { url }, { bytes } or a Blob');
  let urls: string[];
  if (isHubRef(text)) urls = (await resolveHubModel(text, { endpoint: opts.hubEndpoint, signal: opts.signal })).parts.map((p) => p.url);
  else if (/^https?:\/\//i.test(text)) urls = splitPartUrls(text);
  else return [await modelFileSource(/^file:/i.test(text) ? fileURLToPath(text) : text)];
  // Downloaded already: the cached files' headers.
  const cached = urls.map((u) => join(defaultCacheDir(), cacheFileName(u)));
  if (cached.every((p) => existsSync(p))) return [await modelFileSource(cached[0])];
  return Promise.all(urls.map((u) => rangeSource(u, { signal: opts.signal })));
}

/** The GPU createEngine's worker would offload to (the same adapter), or why there is none. */
async function gpuFacts(): Promise<Pick<DeviceFacts, 'gpu' | 'noGpu'>> {
  try {
    return { gpu: await nodeAdapterLimits() };
  } catch (e) {
    if (e instanceof GpuError && e.code === 'gpu/unavailable') return { noGpu: e.message };
    throw e;
  }
}

/** Whether `model` fits this machine with these settings (see the browser's checkFit and FitReport). */
export async function checkFit(model: ModelInput | { path: string }, opts: CheckFitOptions = {}): Promise<FitReport> {
  const parts = await open(model, opts);
  try {
    const facts: DeviceFacts = { totalMemoryBytes: totalmem(), threads: opts.threads ?? Math.max(1, Math.min(availableParallelism(), 8)) };
    if ((opts.gpuLayers ?? 0) !== 0) Object.assign(facts, await gpuFacts());
    const limits = deviceLimits(facts, opts.budget);
    return await checkPartsFit(parts, { contextSize: opts.contextSize, gpuLayers: opts.gpuLayers }, limits);
  } finally {
    for (const p of parts) await p.close?.();
  }
}
