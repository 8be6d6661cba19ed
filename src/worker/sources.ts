// Opening a ModelLocation as a ByteSource inside the worker: bytes and Blobs
// as they are, files through the host (Node), URLs through the model store
// (downloaded once, verified, resumable) or, where there is no store, through
// the host; a split model's parts joined into one virtual file.
import type { ByteSource } from '../format/source.js';
import { blobSource, bytesSource } from '../format/source.js';
import { joinSplitParts } from '../format/gguf-split.js';
import type { GpuContext } from '../gpu/device.js';
import { HobError } from '../shared/errors.js';
import type { LoadProgressEvent } from '../shared/types.js';
import type { ModelStore } from '../store/index.js';
import type { SessionStore } from '../store/sessions.js';
import type { ModelLocation } from './protocol.js';

/** What differs between a browser worker and a Node worker thread. */
export interface WorkerHost {
  requestGpu(): Promise<GpuContext>;
  /** Reads a model file from disk (Node only). */
  openPath?(path: string): Promise<ByteSource>;
  /** Reads a URL without the model store (Node: no IndexedDB). */
  openUrl?(url: string, signal: AbortSignal, onProgress?: (p: LoadProgressEvent) => void): Promise<ByteSource>;
  /** The model store (the browser worker's; loaded with the worker, so a
   * page that went offline still reaches it). */
  openStore?(): ModelStore;
  /** Where saved sessions live (IndexedDB in a browser, a folder in Node:
   * `dir` when the caller named one). */
  openSessionStore?(dir?: string): SessionStore;
  defaultThreads(): number;
  /** A macrotask turn that lets queued messages (a stop) in between two tokens; default a MessageChannel round trip. */
  yieldToEvents?(): Promise<void>;
}

export async function openLocation(
  host: WorkerHost,
  location: ModelLocation,
  signal: AbortSignal,
  onProgress?: (p: LoadProgressEvent) => void,
): Promise<ByteSource> {
  if ('bytes' in location) return bytesSource(location.bytes);
  if ('blob' in location) return blobSource(location.blob);
  if ('path' in location) {
    if (!host.openPath) throw new HobError('argument/invalid', `a file path (${location.path}) can only be loaded in Node`, { path: location.path });
    return host.openPath(location.path);
  }
  const url = 'url' in location ? location.url : undefined;
  if (host.openUrl) {
    if (!url) throw new HobError('argument/invalid', `no model store here: ${JSON.stringify(location)} names no URL`);
    return host.openUrl(url, signal, onProgress);
  }
  if (!host.openStore) throw new HobError('argument/invalid', `no model store here: ${JSON.stringify(location)} cannot be loaded`);
  const store = host.openStore();
  if ('ref' in location && (await store.get(location.ref))?.state === 'complete') {
    return joinSplitParts(await store.openModelParts(location.ref));
  }
  // A split model's parts are joined into one virtual file.
  if ('storeId' in location) return joinSplitParts(await store.openModelParts(location.storeId));
  try {
    const stored = await store.download(url!, {
      signal,
      onProgress: onProgress && ((p) => onProgress({ loaded: p.loaded, total: p.total, phase: 'download', ...rate(p) })),
    });
    return await joinSplitParts(await store.openModelParts(stored.id));
  } catch (e) {
    // A server that cannot serve ranges cannot be stored resumably: read it
    // once as a Blob (which the browser may keep on disk), uncached.
    if (!(e instanceof HobError && e.code === 'network/no-range')) throw e;
    const res = await fetch(url!, { signal });
    if (!res.ok) throw e;
    return blobSource(await res.blob());
  }
}

function rate(p: { bytesPerSecond?: number; etaMs?: number }): { bytesPerSecond?: number; etaSeconds?: number } {
  return {
    ...(p.bytesPerSecond !== undefined ? { bytesPerSecond: p.bytesPerSecond } : {}),
    ...(p.etaMs !== undefined && Number.isFinite(p.etaMs) ? { etaSeconds: p.etaMs / 1000 } : {}),
  };
}
