// The Node side's model cache: a model given as a URL is downloaded once into
// a folder (HOB_CACHE_DIR, else $XDG_CACHE_HOME/hob, else ~/.cache/hob) and
// read from there afterwards, as the browser's model store does in IndexedDB.
// An interrupted download resumes with an HTTP Range request (guarded by the
// ETag through If-Range); a file is complete only when renamed into place,
// after its first bytes are checked to be a GGUF's.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

import { HobError, ModelFormatError, NetworkError } from '../shared/errors.js';
import { ProgressMeter, type DownloadProgress } from '../store/progress.js';

export type { DownloadProgress } from '../store/progress.js';

export function defaultCacheDir(): string {
  if (process.env.HOB_CACHE_DIR) return process.env.HOB_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hob');
}

export interface CacheOptions {
  /** The cache folder (default: defaultCacheDir()). */
  dir?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
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

/** The file name a URL is cached under: readable, and unique per URL. */
export function cacheFileName(url: string): string {
  const u = new URL(url);
  const name = basename(decodeURIComponent(u.pathname)).replace(/[^\w.-]+/g, '_') || 'model';
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 12);
  return `${hash}-${name}`;
}

interface PartMeta {
  url: string;
  etag: string | null;
  total: number;
}

/** The cached copy of `url`, downloading (or resuming) it first if needed. */
export async function cachedModel(url: string, opts: CacheOptions = {}): Promise<CachedFile> {
  const dir = opts.dir ?? defaultCacheDir();
  const path = join(dir, cacheFileName(url));
  if (existsSync(path)) return { path, sizeBytes: (await stat(path)).size, hit: true, downloadedBytes: 0 };
  await mkdir(dir, { recursive: true });
  const part = `${path}.part`;
  const metaPath = `${part}.json`;

  let meta: PartMeta | undefined;
  let have = 0;
  if (existsSync(part) && existsSync(metaPath)) {
    try {
      meta = JSON.parse(await readFile(metaPath, 'utf8')) as PartMeta;
      have = (await stat(part)).size;
    } catch {
      meta = undefined;
    }
  }
  const headers: Record<string, string> = {};
  if (meta && have > 0 && have < meta.total) {
    headers.Range = `bytes=${have}-`;
    if (meta.etag) headers['If-Range'] = meta.etag;
  }

  let res: Response;
  try {
    res = await fetch(url, { headers, signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new NetworkError('network/interrupted', `cannot fetch ${url}: ${(e as Error).message}`, { url });
  }
  if (res.status !== 200 && res.status !== 206) {
    throw new NetworkError('network/http-status', `cannot fetch ${url}: HTTP ${res.status}`, { url, status: res.status });
  }
  const etag = res.headers.get('etag');
  let total: number;
  if (res.status === 206) {
    // Resuming: the server sends the rest of the same file.
    total = Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
    if (!meta || total !== meta.total) throw new NetworkError('network/no-range', `${url}: the server's range does not continue the partial file`, { url });
  } else {
    have = 0;
    total = Number(res.headers.get('content-length') ?? NaN);
  }
  if (!Number.isFinite(total)) total = 0;
  await writeFile(metaPath, JSON.stringify({ url, etag, total } satisfies PartMeta));

  const meter = new ProgressMeter(total, have, opts.onProgress);
  const out = createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
  let received = 0;
  try {
    if (!res.body) throw new NetworkError('network/interrupted', `${url}: empty response`, { url });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      received += chunk.length;
      meter.chunkBytes(0, received);
    }
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    if (e instanceof HobError) throw e;
    throw new NetworkError('network/interrupted', `download of ${url} was cut after ${have + received} bytes: ${(e as Error).message}`, {
      url,
      loaded: have + received,
      total,
    });
  } finally {
    await new Promise<void>((r) => out.end(r));
  }
  meter.flush();
  const size = (await stat(part)).size;
  if (total > 0 && size !== total) {
    throw new NetworkError('network/interrupted', `download of ${url} ended at ${size} of ${total} bytes; run again to resume`, { url, loaded: size, total });
  }
  // A login page or an error page served with 200 must not become a cached
  // "model" that fails to load forever after.
  const magic = new Uint8Array(4);
  const fh = await open(part, 'r');
  await fh.read(magic, 0, 4, 0);
  await fh.close();
  if (new TextDecoder().decode(magic) !== 'GGUF') {
    await rm(part, { force: true });
    await rm(metaPath, { force: true });
    throw new ModelFormatError('gguf/bad-magic', `${url} is not a GGUF file (${res.headers.get('content-type') ?? 'no content type'})`, { url });
  }
  await rename(part, path);
  await rm(metaPath, { force: true });
  return { path, sizeBytes: size, hit: false, downloadedBytes: received };
}

/** The models in the cache, and partial downloads. */
export async function listCache(dir = defaultCacheDir()): Promise<{ name: string; sizeBytes: number; complete: boolean }[]> {
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((n) => !n.endsWith('.part.json'));
  return Promise.all(
    names.map(async (n) => ({ name: n.replace(/\.part$/, ''), sizeBytes: (await stat(join(dir, n))).size, complete: !n.endsWith('.part') })),
  );
}
