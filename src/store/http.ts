// The store's HTTP: a probe that learns a file's size and validators and
// whether the server honours Range, and ranged fetches that check what comes
// back (status, Content-Range, ETag, length) before a byte is stored. Every
// failure is a typed NetworkError or StoreError; no retry logic lives here.
// A server that sends nothing for 30 s is a 'network/timeout' (net.ts).
import { AbortError, HobError, NetworkError, StoreError } from '../shared/errors.js';
import type { PartSource } from './manifest.js';
import { DEFAULT_IDLE_TIMEOUT_MS, fetchWithIdleTimeout, type IdleFetch } from './net.js';

// Range requests bypass the HTTP cache: a cached partial or stale response
// would hide a changed file and make a resume fetch bytes it already has.
const init = (signal: AbortSignal | undefined, range: string): RequestInit => ({ headers: { Range: range }, cache: 'no-store', signal });

/** Throws the request's AbortError when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('request/aborted', 'the download was cancelled');
}

async function send(url: string, range: string, signal: AbortSignal | undefined, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS): Promise<IdleFetch> {
  try {
    return await fetchWithIdleTimeout(url, init(signal, range), idleTimeoutMs);
  } catch (e) {
    throwIfAborted(signal);
    throw e;
  }
}

function checkStatus({ response: res, cancel }: IdleFetch, url: string): void {
  if (res.ok) return;
  cancel();
  throw new NetworkError('network/http-status', `GET ${url} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, {
    url,
    status: res.status,
  });
}

function noRange(url: string, why: string): NetworkError {
  return new NetworkError(
    'network/no-range',
    `${url} cannot be downloaded resumably: ${why}. Download the file and add it with store.importFile(file).`,
    { url },
  );
}

/** bytes START-END/TOTAL of a Content-Range header. */
function parseContentRange(h: string | null): { start: number; end: number; total?: number } | undefined {
  const m = h && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), ...(m[3] !== '*' ? { total: Number(m[3]) } : {}) };
}

// Hugging Face (and other LFS hosts) name the content's SHA-256 in X-Linked-ETag.
function sha256Header(res: Response): string | undefined {
  const v = res.headers.get('x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return v && /^[0-9a-f]{64}$/.test(v) ? v : undefined;
}

/**
 * Learns a remote file's size and validators with a one-byte ranged GET:
 * a 206 proves Range support; a 200 means the server ignores Range.
 */
export async function probe(url: string, signal?: AbortSignal, idleTimeoutMs?: number): Promise<PartSource> {
  const sent = await send(url, 'bytes=0-0', signal, idleTimeoutMs);
  checkStatus(sent, url);
  // Whatever the answer, its body is not needed (a 200 may be the whole file).
  sent.cancel();
  const res = sent.response;
  if (res.status !== 206) throw noRange(url, `the server answered a Range request with HTTP ${res.status} and the whole file`);
  const cr = parseContentRange(res.headers.get('content-range'));
  if (!cr || cr.total === undefined) {
    throw noRange(url, 'the response has no readable Content-Range total (a cross-origin server must list it in Access-Control-Expose-Headers)');
  }
  const etag = res.headers.get('etag') ?? undefined;
  const lastModified = res.headers.get('last-modified') ?? undefined;
  const sha256 = sha256Header(res);
  return { url, sizeBytes: cr.total, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}), ...(sha256 ? { sha256 } : {}) };
}

/**
 * Fetches bytes [offset, offset + length) of `file`, reporting the bytes
 * received so far through onBytes. Throws StoreError 'store/changed-upstream'
 * when the response belongs to another version of the file.
 */
export async function fetchRange(
  file: PartSource & { url: string },
  offset: number,
  length: number,
  signal: AbortSignal | undefined,
  onBytes: (receivedBytes: number) => void,
  idleTimeoutMs?: number,
): Promise<Uint8Array> {
  const { url } = file;
  const sent = await send(url, `bytes=${offset}-${offset + length - 1}`, signal, idleTimeoutMs);
  checkStatus(sent, url);
  const res = sent.response;
  const etag = res.headers.get('etag');
  const changed = (why: string): StoreError =>
    new StoreError('store/changed-upstream', `${url} changed while it was being stored (${why}); download it again to start over`, { url });
  if (etag && file.etag && etag !== file.etag) {
    sent.cancel();
    throw changed(`ETag ${file.etag} became ${etag}`);
  }
  if (res.status !== 206) {
    sent.cancel();
    throw noRange(url, `a Range request was answered with HTTP ${res.status}`);
  }
  const cr = parseContentRange(res.headers.get('content-range'));
  if (cr && cr.total !== undefined && cr.total !== file.sizeBytes) {
    sent.cancel();
    throw changed(`its size went from ${file.sizeBytes} to ${cr.total} bytes`);
  }
  if (cr && (cr.start !== offset || cr.end !== offset + length - 1)) {
    sent.cancel();
    throw new NetworkError('network/http-status', `${url} sent bytes ${cr.start}-${cr.end} for a request of ${offset}-${offset + length - 1}`, {
      url,
      status: res.status,
    });
  }
  if (!res.body) throw new NetworkError('network/interrupted', `${url} sent no body`, { url });

  const out = new Uint8Array(length);
  let received = 0;
  try {
    for await (const value of sent.body) {
      if (received + value.byteLength > length) {
        throw new NetworkError('network/http-status', `${url} sent more than the ${length} bytes asked for`, { url, status: res.status });
      }
      out.set(value, received);
      received += value.byteLength;
      onBytes(received);
    }
  } catch (e) {
    sent.cancel();
    if (e instanceof HobError && e.code !== 'network/interrupted') throw e;
    throwIfAborted(signal);
    throw interrupted(url, received, length);
  }
  if (received !== length) throw interrupted(url, received, length);
  return out;
}

function interrupted(url: string, receivedBytes: number, expectedBytes: number): NetworkError {
  return new NetworkError(
    'network/interrupted',
    `the connection to ${url} ended after ${receivedBytes} of ${expectedBytes} bytes; the stored chunks are kept, download again to resume`,
    { url, receivedBytes, expectedBytes },
  );
}

/**
 * The whole body of `url`, for a server that ignores Range (a small file):
 * `checkSize` sees the announced length and then the bytes received so far,
 * and throws to stop a body that grows past the caller's cap.
 */
export async function fetchWhole(url: string, signal: AbortSignal | undefined, checkSize: (sizeBytes: number) => void, idleTimeoutMs?: number): Promise<Uint8Array> {
  let sent: IdleFetch;
  try {
    sent = await fetchWithIdleTimeout(url, { cache: 'no-store', signal }, idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  } catch (e) {
    throwIfAborted(signal);
    throw e;
  }
  checkStatus(sent, url);
  const declared = Number(sent.response.headers.get('content-length') ?? NaN);
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    if (Number.isSafeInteger(declared)) checkSize(declared);
    for await (const value of sent.body) {
      n += value.byteLength;
      checkSize(n);
      parts.push(value);
    }
  } catch (e) {
    sent.cancel();
    throwIfAborted(signal);
    throw e;
  }
  // A compressed body's Content-Length is not the length of what the runtime hands back.
  const identity = (sent.response.headers.get('content-encoding') ?? 'identity').toLowerCase() === 'identity';
  if (identity && Number.isSafeInteger(declared) && n !== declared) throw interrupted(url, n, declared);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
