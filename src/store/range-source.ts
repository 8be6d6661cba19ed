// A remote file read with HTTP Range requests, for what is read before a
// download: a GGUF header, to judge whether the model fits the device. The
// header reader asks for small blocks; each request here fetches a window
// that grows (1 MiB, then four times more each miss, at most 64 MiB), so a
// header of many megabytes (a 150k-token vocabulary) costs a few requests,
// not hundreds. `fetchedBytes` says what it cost.
import type { ByteSource } from '../format/source.js';
import { fetchRange, probe } from './http.js';

const FIRST_WINDOW = 1 << 20;
const MAX_WINDOW = 64 << 20;

export interface RangeSource extends ByteSource {
  /** Bytes received so far. */
  readonly fetchedBytes: number;
}

/** A ByteSource over `url` (one probe for its size, then ranged reads). */
export async function rangeSource(url: string, opts: { signal?: AbortSignal; idleTimeoutMs?: number } = {}): Promise<RangeSource> {
  const file = { ...(await probe(url, opts.signal, opts.idleTimeoutMs)), url };
  let window = FIRST_WINDOW;
  let cached: { offset: number; bytes: Uint8Array } | undefined;
  let fetched = 1;
  return {
    sizeBytes: file.sizeBytes,
    get fetchedBytes() {
      return fetched;
    },
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      if (cached && offset >= cached.offset && offset + length <= cached.offset + cached.bytes.byteLength) {
        return cached.bytes.subarray(offset - cached.offset, offset - cached.offset + length);
      }
      const n = Math.min(file.sizeBytes - offset, Math.max(length, window));
      window = Math.min(MAX_WINDOW, window * 4);
      const bytes = await fetchRange(file, offset, n, opts.signal, () => {}, opts.idleTimeoutMs);
      fetched += n;
      cached = { offset, bytes };
      return bytes.subarray(0, length);
    },
  };
}
