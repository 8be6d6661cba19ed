// The Node side's model cache: a model given as a URL is downloaded once into
// a folder (HOB_CACHE_DIR, else $XDG_CACHE_HOME/hob, else ~/.cache/hob) and
// read from there afterwards, as the browser's model store does in
// IndexedDB. The CLI and createEngine in Node share it.
//
// A file is complete only when renamed into place, and it is renamed only
// when its size is the one announced (or, for a response of unknown length,
// the one its GGUF header accounts for), its digest matches where the
// server gives one, and its GGUF header parses with every tensor inside the
// file. Files that are not models (images) go through the same path into
// a `files` folder, judged by the caller's check instead of a GGUF header,
// and never resumed: a failure leaves nothing. One process downloads a URL at a time (cache-lock.ts); the others
// wait and reuse the file. An interrupted download resumes with a Range
// request only when the server gave a validator (a strong ETag or
// Last-Modified, sent back in If-Range); anything else starts over. A
// stall is a 'network/timeout' after the idle timeout.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, extname, join } from 'node:path';

import { HobError, ModelFormatError, NetworkError, StoreError } from '../shared/errors.js';
import { readGgufLayout } from '../format/gguf-layout.js';
import type { ByteSource } from '../format/source.js';
import { readGgufSummary } from './gguf-summary.js';
import { DEFAULT_IDLE_TIMEOUT_MS, fetchWithIdleTimeout } from './net.js';
import { ProgressMeter, type DownloadProgress } from './progress.js';
import { acquireLock, type FileLock } from './file-lock.js';

export type { DownloadProgress } from './progress.js';

export function defaultCacheDir(): string {
  if (process.env.HOB_CACHE_DIR) return process.env.HOB_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hob');
}

export interface CacheOptions {
  /** The cache folder (default: defaultCacheDir()). */
  dir?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Fail with 'network/timeout' after this long without a byte from the server (default 30 s). */
  idleTimeoutMs?: number;
  /** Told when another process is downloading the same URL and this one waits for it. */
  onWait?: (pid: number) => void;
}

/** A cached file that is not a model (an image): its own verdict instead of the GGUF checks. */
export interface FileCacheOptions extends CacheOptions {
  /**
   * Throws to refuse the file: called with its size when the response
   * announces it and as the body grows, then with every byte. A refused or
   * interrupted file leaves nothing behind (not even a part to resume).
   */
  check: (sizeBytes: number, bytes?: Uint8Array) => void;
}

export interface CachedFile {
  path: string;
  sizeBytes: number;
  /** True when nothing had to be downloaded. */
  hit: boolean;
  /** Bytes this call downloaded (a resumed download counts only the rest). */
  downloadedBytes: number;
}

/** Whether --model names a URL rather than a file. */
export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** File names are cut to this many characters (file systems allow 255 bytes). */
const MAX_NAME_CHARS = 96;

/** The file name a URL is cached under: readable, short enough for any file system, and unique per URL. */
export function cacheFileName(url: string): string {
  const u = new URL(url);
  let path = u.pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // %ZZ and the like: the name stays percent-encoded.
  }
  let name = basename(path).replace(/[^\w.-]+/g, '_') || 'model';
  if (name.length > MAX_NAME_CHARS) {
    const ext = extname(name).slice(0, 16);
    name = name.slice(0, MAX_NAME_CHARS - ext.length) + ext;
  }
  // The parts of a split model share the first part's hash, so they lie side
  // by side under names that differ only in the part number (format/file-source.ts
  // finds the siblings of a first part by name).
  u.pathname = u.pathname.replace(/-\d{5}-of-(\d{5})\.gguf$/i, '-00001-of-$1.gguf');
  const hash = createHash('sha256').update(u.href === new URL(url).href ? url : u.href).digest('hex').slice(0, 12);
  return `${hash}-${name}`;
}

/** What a partial download was fetched against: resuming needs the same file. */
interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total: number;
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** The cached copy of `url`, downloading (or resuming) it first if needed. */
export function cachedModel(url: string, opts: CacheOptions = {}): Promise<CachedFile> {
  return cached(url, opts, opts.dir ?? defaultCacheDir());
}

/**
 * The bytes of a file that is not a model (an image), from the cache's
 * `files` folder, downloading it first if needed: the same requests, lock,
 * size and digest checks as a model's, and no second request once stored.
 */
export async function cachedFileBytes(url: string, opts: FileCacheOptions): Promise<Uint8Array> {
  const r = await cached(url, opts, join(opts.dir ?? defaultCacheDir(), 'files'));
  opts.check(r.sizeBytes);
  const bytes = new Uint8Array(await readFile(r.path));
  // A file left by another process, or changed on disk since: judged again.
  opts.check(bytes.byteLength, bytes);
  return bytes;
}

async function cached(url: string, opts: CacheOptions | FileCacheOptions, dir: string): Promise<CachedFile> {
  if (!isUrl(url)) throw new HobError('argument/invalid', `${url} is not an http(s) URL`, { url });
  const path = join(dir, cacheFileName(url));
  const hit = (size: number): CachedFile => ({ path, sizeBytes: size, hit: true, downloadedBytes: 0 });
  const done = await fileSize(path);
  if (done !== undefined) return hit(done);
  await mkdir(dir, { recursive: true });
  const lock = await acquireLock(`${path}.lock`, {
    signal: opts.signal,
    onWait: opts.onWait,
    isDone: async () => (await fileSize(path)) !== undefined,
  });
  try {
    // Another process may have finished it while this one waited.
    const now = await fileSize(path);
    if (now !== undefined || !lock) return hit(now ?? (await stat(path)).size);
    return await download(url, path, opts, lock);
  } finally {
    await lock?.release();
  }
}

/** bytes START-END/TOTAL of a Content-Range header. */
function contentRange(h: string | null): { start: number; total?: number } | undefined {
  const m = h && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.trim());
  return m ? { start: Number(m[1]), ...(m[3] !== '*' ? { total: Number(m[3]) } : {}) } : undefined;
}

/** The SHA-256 a server announces for the file, hex: Hugging Face's X-Linked-ETag, or a Digest / Repr-Digest header. */
function announcedSha256(res: Response): string | undefined {
  const linked = res.headers.get('x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  if (linked && /^[0-9a-f]{64}$/.test(linked)) return linked;
  const digest = /sha-256=:?([A-Za-z0-9+/=]+):?/i.exec(`${res.headers.get('repr-digest') ?? ''} ${res.headers.get('digest') ?? ''}`)?.[1];
  if (!digest) return undefined;
  const hex = Buffer.from(digest, 'base64').toString('hex');
  return hex.length === 64 ? hex : undefined;
}

async function readMeta(metaPath: string, url: string): Promise<PartMeta | undefined> {
  try {
    const m = JSON.parse(await readFile(metaPath, 'utf8')) as PartMeta;
    return m.url === url && Number.isSafeInteger(m.total) && m.total > 0 && (m.etag || m.lastModified) ? m : undefined;
  } catch {
    return undefined;
  }
}

async function discard(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true })));
}

/** A ByteSource over the first `sizeBytes` bytes of a file. */
async function fileBytes(path: string, sizeBytes: number): Promise<ByteSource & { close(): Promise<void> }> {
  const fh = await open(path, 'r');
  return {
    sizeBytes,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, sizeBytes - offset));
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
        if (bytesRead <= 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** Where the last tensor of a GGUF ends, from its header; undefined while the header is incomplete. */
async function ggufEnd(part: string, haveBytes: number, url: string, contentType: string | null): Promise<number | undefined> {
  const src = await fileBytes(part, haveBytes);
  try {
    const layout = await readGgufLayout(src);
    let end = layout.dataOffsetBytes;
    for (const t of layout.tensors) {
      if (t.sizeBytes === undefined) return Infinity; // a type this reader does not size: no bound from the header
      end = Math.max(end, layout.dataOffsetBytes + t.offset + t.sizeBytes);
    }
    return end;
  } catch (e) {
    if (e instanceof HobError && e.code === 'gguf/truncated') return undefined;
    if (e instanceof HobError && e.code === 'gguf/bad-magic') {
      // A login or error page served with 200 must not become a cached "model".
      throw new ModelFormatError('gguf/bad-magic', `${url} is not a GGUF file (${contentType ?? 'no content type'})`, { url });
    }
    throw e;
  } finally {
    await src.close();
  }
}

async function sha256Of(path: string, hash = createHash('sha256')): Promise<ReturnType<typeof createHash>> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

/** Bytes past the end a GGUF header accounts for that a response of unknown length may still send (padding). */
const TRAILING_SLACK_BYTES = 64 << 10;

async function download(url: string, path: string, opts: CacheOptions | FileCacheOptions, lock: FileLock): Promise<CachedFile> {
  const part = `${path}.part`;
  const metaPath = `${part}.json`;
  let meta = await readMeta(metaPath, url);
  let have = meta ? (await fileSize(part)) ?? 0 : 0;
  if (!meta || have === 0 || have >= meta.total) {
    // Nothing that can be resumed safely: no validator, or a part that is already past the end.
    await discard(part, metaPath);
    meta = undefined;
    have = 0;
  }

  for (let attempt = 0; ; attempt++) {
    // Identity: a compressed body's Content-Length is not the file's, and its ranges are not the file's ranges.
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
    if (meta && have > 0) {
      headers.Range = `bytes=${have}-`;
      headers['If-Range'] = meta.etag ?? meta.lastModified!;
    }
    const { response: res, body, cancel } = await fetchWithIdleTimeout(url, { headers, signal: opts.signal }, opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    const restart = async (why: string): Promise<void> => {
      cancel();
      await discard(part, metaPath);
      if (attempt > 0) throw new NetworkError('network/no-range', `${url}: ${why}, again after starting over`, { url, status: res.status });
      meta = undefined;
      have = 0;
    };
    if (res.status === 416 && meta) {
      await restart('the server cannot serve the rest of the partial file');
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      cancel();
      throw new NetworkError('network/http-status', `cannot fetch ${url}: HTTP ${res.status}`, { url, status: res.status });
    }
    const etag = res.headers.get('etag') ?? undefined;
    const lastModified = res.headers.get('last-modified') ?? undefined;
    const encoding = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
    // The runtime decodes a compressed body: its length and ranges are unknown then.
    const encoded = encoding !== 'identity';
    let total: number | undefined;
    if (res.status === 206) {
      const cr = contentRange(res.headers.get('content-range'));
      const same = meta && cr && cr.start === have && cr.total === meta.total && !encoded &&
        (!etag || !meta.etag || etag === meta.etag) && (!lastModified || !meta.lastModified || lastModified === meta.lastModified);
      if (!same) {
        // A 206 that does not continue the partial file: the partial file goes too.
        await restart(`the server's partial response (${res.headers.get('content-range') ?? 'no Content-Range'}) does not continue the download`);
        continue;
      }
      total = meta!.total;
    } else {
      have = 0;
      const length = Number(res.headers.get('content-length') ?? NaN);
      total = !encoded && Number.isSafeInteger(length) && length > 0 ? length : undefined;
    }
    // A weak ETag cannot guard a Range request (If-Range needs a strong one).
    const strongEtag = etag && !etag.startsWith('W/') ? etag : undefined;
    const resumable = total !== undefined && (strongEtag !== undefined || lastModified !== undefined);
    if (resumable) {
      meta = { url, total: total!, ...(strongEtag ? { etag: strongEtag } : {}), ...(lastModified ? { lastModified } : {}) };
      await writeFile(metaPath, JSON.stringify(meta));
    } else {
      meta = undefined;
      await discard(metaPath);
    }
    const sha256 = announcedSha256(res);
    return await receive(url, path, { res, body, have, total, resumable, sha256 }, opts, lock);
  }
}

interface Incoming {
  res: Response;
  body: AsyncIterable<Uint8Array>;
  /** Bytes of the partial file this response continues. */
  have: number;
  /** The file's size, when the response says it and it can be trusted. */
  total?: number;
  resumable: boolean;
  sha256?: string;
}

async function receive(url: string, path: string, r: Incoming, opts: CacheOptions | FileCacheOptions, lock: FileLock): Promise<CachedFile> {
  const part = `${path}.part`;
  const metaPath = `${part}.json`;
  const hash = r.sha256 ? (r.have > 0 ? await sha256Of(part) : createHash('sha256')) : undefined;
  const meter = new ProgressMeter(r.total ?? 0, r.have, opts.onProgress);
  const out = await open(part, r.have > 0 ? 'a' : 'w');
  let size = r.have;
  let received = 0;
  // The header bounds what a response of unknown length may send: parsed
  // as soon as it has arrived, then every byte past the end is refused.
  let end: number | undefined;
  let nextParse = 1 << 20;
  const parse = async () => {
    end = await ggufEnd(part, size, url, r.res.headers.get('content-type'));
    if (end !== undefined && r.total !== undefined && end > r.total) {
      throw new ModelFormatError('gguf/truncated', `${url} is ${r.total} bytes, but its GGUF header says its tensors end at byte ${end}`, { url, offset: end });
    }
  };
  // A file that is not a model is judged by the caller instead of by a GGUF header.
  const check = 'check' in opts ? opts.check : undefined;
  try {
    try {
      if (check && r.total !== undefined) check(r.total);
      for await (const chunk of r.body) {
        await out.write(chunk);
        hash?.update(chunk);
        size += chunk.byteLength;
        received += chunk.byteLength;
        meter.chunkBytes(0, received);
        if (check) {
          check(size);
          continue;
        }
        if (end === undefined && size >= nextParse) {
          nextParse *= 4;
          await parse();
        }
        if (end !== undefined && size > end + TRAILING_SLACK_BYTES) {
          throw new ModelFormatError('gguf/invalid', `${url} sent more than the ${end} bytes its GGUF header accounts for`, { url, offset: end });
        }
        if (received % (64 << 20) < chunk.byteLength) await lock.check();
      }
    } finally {
      await out.close();
    }
    meter.flush();
    if (r.total !== undefined && size !== r.total) {
      throw new NetworkError('network/interrupted', `the download of ${url} ended at ${size} of ${r.total} bytes`, { url, loaded: size, total: r.total });
    }
    if (check) {
      checkDigest(url, r.sha256, hash);
      check(size, new Uint8Array(await readFile(part)));
    } else {
      if (end === undefined) await parse();
      if (end === undefined) throw new ModelFormatError('gguf/truncated', `${url} ended inside its GGUF header, after ${size} bytes`, { url, fileBytes: size });
      await verify(url, part, size, r.sha256, hash);
    }
    await lock.check();
  } catch (e) {
    // Keep what can be resumed (an interruption of a file with a validator); drop the rest.
    const keep = !check && r.resumable && size > 0 && e instanceof NetworkError;
    if (!keep) await discard(part, metaPath);
    if (keep && e instanceof NetworkError) {
      throw new NetworkError(e.code, `${e.message}; run again to resume`, e.details);
    }
    throw e;
  }
  await rename(part, path);
  await discard(metaPath);
  return { path, sizeBytes: size, hit: false, downloadedBytes: received };
}

/** The server's announced SHA-256 against the bytes received. */
function checkDigest(url: string, sha256: string | undefined, hash: ReturnType<typeof createHash> | undefined): void {
  if (!sha256 || !hash) return;
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    throw new StoreError('store/corrupt', `${url} has SHA-256 ${actual}, not the ${sha256} its server announced`, { url, expected: sha256, actual });
  }
}

/** The last checks before a download becomes the cached model: its digest and a whole GGUF. */
async function verify(url: string, part: string, size: number, sha256: string | undefined, hash: ReturnType<typeof createHash> | undefined): Promise<void> {
  checkDigest(url, sha256, hash);
  const src = await fileBytes(part, size);
  try {
    await readGgufSummary(src);
  } catch (e) {
    if (e instanceof HobError) throw new ModelFormatError(e.code as 'gguf/invalid', `${url}: ${e.message}`, { ...e.details, url });
    throw e;
  } finally {
    await src.close();
  }
}

/**
 * A model file from the cache that fails to load: the error, named after
 * the cached file and the URL it came from (so that it can be deleted).
 */
export function explainCachedFailure(e: unknown, url: string, path: string): unknown {
  if (!(e instanceof HobError) || !(e.code.startsWith('gguf/') || e.code === 'model/invalid')) return e;
  return new ModelFormatError(e.code as 'gguf/invalid', `${e.message} (in ${path}, the cached download of ${url}; delete it to download again)`, {
    ...e.details,
    url,
    path,
  });
}

/** The models in the cache, and partial downloads. */
export async function listCache(dir = defaultCacheDir()): Promise<{ name: string; sizeBytes: number; complete: boolean }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.endsWith('.part.json') && !n.includes('.lock'));
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (n) => ({ name: n.replace(/\.part$/, ''), sizeBytes: (await stat(join(dir, n))).size, complete: !n.endsWith('.part') })),
  );
}
