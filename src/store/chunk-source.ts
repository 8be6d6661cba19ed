// Random access over a model stored in chunks: the ByteSource the engine's
// loader reads. A read loads only the chunks it touches (the last two stay
// cached, for the loader's sequential reads), so memory stays near one chunk
// plus what the caller asked for, and no read needs one buffer of the model.
import { AbortError, HobError } from '../shared/errors.js';
import type { ByteSource } from '../format/source.js';

const CACHED_CHUNKS = 2;

/**
 * A ByteSource over `sizeBytes` bytes cut into chunks of `chunkSizeBytes`;
 * loadChunk(k) gives the k-th chunk of this file (counted from 0).
 */
export function chunkedSource(sizeBytes: number, chunkSizeBytes: number, loadChunk: (k: number) => Promise<Uint8Array>): ByteSource {
  const cache = new Map<number, Promise<Uint8Array>>();
  const chunk = (k: number): Promise<Uint8Array> => {
    let p = cache.get(k);
    if (p) {
      cache.delete(k); // re-insert: the map's order is the recency order
    } else {
      p = loadChunk(k);
      // A failed load is not cached: the next read tries again.
      p.catch(() => cache.get(k) === p && cache.delete(k));
    }
    cache.set(k, p);
    while (cache.size > CACHED_CHUNKS) cache.delete(cache.keys().next().value as number);
    return p;
  };

  return {
    sizeBytes,
    async read(offset, length) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > sizeBytes) {
        throw new HobError('range/out-of-bounds', `read of ${length} bytes at ${offset} is outside the model's ${sizeBytes} bytes`, {
          offset,
          length,
          sizeBytes,
        });
      }
      if (length === 0) return new Uint8Array(0);
      const first = Math.floor(offset / chunkSizeBytes);
      const last = Math.floor((offset + length - 1) / chunkSizeBytes);
      if (first === last) {
        const at = offset - first * chunkSizeBytes;
        return (await chunk(first)).subarray(at, at + length);
      }
      const out = new Uint8Array(length);
      for (let k = first; k <= last; k++) {
        const bytes = await chunk(k);
        const start = Math.max(offset, k * chunkSizeBytes);
        const end = Math.min(offset + length, k * chunkSizeBytes + bytes.byteLength);
        out.set(bytes.subarray(start - k * chunkSizeBytes, end - k * chunkSizeBytes), start - offset);
      }
      return out;
    },
  };
}

/**
 * Reads a whole source into one buffer, in steps of `stepBytes`.
 * For the engine worker's `{ bytes }` loading until it streams from a
 * ByteSource; the streaming loader never needs this.
 */
export async function readSourceBytes(
  src: ByteSource,
  opts: { onProgress?: (p: { loaded: number; total: number }) => void; signal?: AbortSignal; stepBytes?: number } = {},
): Promise<Uint8Array> {
  const step = opts.stepBytes ?? 16 << 20;
  const out = new Uint8Array(src.sizeBytes);
  for (let at = 0; at < src.sizeBytes; at += step) {
    if (opts.signal?.aborted) throw new AbortError('request/aborted', 'reading the model was cancelled');
    const n = Math.min(step, src.sizeBytes - at);
    out.set(await src.read(at, n), at);
    opts.onProgress?.({ loaded: at + n, total: src.sizeBytes });
  }
  return out;
}
