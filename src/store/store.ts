// The model store: download a model once (resumably, in parallel ranged
// requests) or add a picked file, then list, verify, delete and read it back
// offline. Works the same in a window and in a worker; each model is written
// under a Web Lock, so tabs share one download. The byte layout lives in
// manifest.ts and db.ts, the write path in fill.ts.
import { HobError, StoreError } from '../shared/errors.js';
import type { ByteSource } from '../format/source.js';
import { chunkedSource } from './chunk-source.js';
import { chunkBytes, ModelDb, type ChunkRecord } from './db.js';
import { fillModel, type FetchPart } from './fill.js';
import { fetchRange, fetchWhole, probe, throwIfAborted } from './http.js';
import { withModelLock } from './lock.js';
import { bytesOfChunks, chunkSpan, type ModelManifest, type PartSource, type StoredModel } from './manifest.js';
import type { DownloadProgress } from './progress.js';
import { estimateStorage, isPersisted } from './quota.js';
import { Sha256, sha256Hex } from './sha256.js';

export interface ModelStoreOptions {
  /** The IndexedDB database (default 'hob-models'). */
  dbName?: string;
  /** Chunk size of newly stored models (default 32 MiB); a partial model keeps its own. */
  chunkSizeBytes?: number;
}

export interface DownloadOptions {
  /** The model's id in the store (default: the URL of its first part). */
  id?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Ranged requests in flight at once (default 4). */
  parallel?: number;
  /** Further attempts of a chunk after a dropped connection or a 5xx (default 3). */
  retries?: number;
  /** The file's SHA-256 (hex), or one per part of a split model: checked before completion. */
  sha256?: string | string[];
  /** A request that receives nothing for this long fails with 'network/timeout' (and is retried); default 30 s. */
  idleTimeoutMs?: number;
}

export interface FileDownloadOptions {
  /** The file's id in the store (default: its URL). */
  id?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Further attempts of a chunk after a dropped connection or a 5xx (default 3). */
  retries?: number;
  idleTimeoutMs?: number;
  /**
   * The caller's verdict on the file, which throws to refuse it: called with
   * its size as soon as it is known (before a byte is stored, and as a body
   * of unknown length grows), then with its first bytes. A refused file
   * leaves nothing stored.
   */
  check: (sizeBytes: number, head?: Uint8Array) => void;
}

export interface ImportOptions {
  /** The model's id in the store (default: the first file's name). */
  id?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  sha256?: string | string[];
}

export interface VerifyResult {
  /** Every chunk present and matching its hash (and the whole-file hashes, where known). */
  ok: boolean;
  checkedBytes: number;
  /** Chunks whose bytes did not match: deleted, so the next download fetches them again. */
  badChunks: number[];
  missingChunks: number[];
}

export interface StoreUsage {
  models: number;
  completeModels: number;
  /** Bytes of all stored chunks of all models. */
  storedBytes: number;
  /** The origin's quota and use, as the browser estimates them (all storage, not only models). */
  quotaBytes?: number;
  usageBytes?: number;
  freeBytes?: number;
  /** Whether the browser agreed not to evict this origin's storage. */
  persisted: boolean;
}

const DEFAULT_CHUNK_BYTES = 32 << 20;
// A split GGUF's parts: name-00001-of-00003.gguf … name-00003-of-00003.gguf.
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The URLs of all parts when `url` names one part of a split GGUF, else [url]. */
export function splitPartUrls(url: string): string[] {
  const u = new URL(url, globalThis.location?.href);
  const m = SPLIT.exec(u.pathname);
  if (!m || Number(m[2]) < 1) return [u.href];
  return Array.from({ length: Number(m[2]) }, (_, k) => {
    const part = new URL(u.href);
    part.pathname = u.pathname.replace(SPLIT, `-${String(k + 1).padStart(5, '0')}-of-${m[2]}.gguf`);
    return part.href;
  });
}

function expectedHashes(sha256: string | string[] | undefined, nParts: number): (string | undefined)[] {
  const list = sha256 === undefined ? [] : Array.isArray(sha256) ? sha256 : [sha256];
  if (list.length > 0 && list.length !== nParts) {
    throw new HobError('argument/invalid', `${list.length} SHA-256 values for ${nParts} parts`, { given: list.length, nParts });
  }
  return Array.from({ length: nParts }, (_, k) => {
    const h = list[k]?.toLowerCase();
    if (h !== undefined && !/^[0-9a-f]{64}$/.test(h)) throw new HobError('argument/invalid', `"${list[k]}" is not a hex SHA-256`);
    return h;
  });
}

export class ModelStore {
  private readonly db: ModelDb;
  private readonly chunkSizeBytes: number;

  constructor(options: ModelStoreOptions = {}) {
    this.db = new ModelDb(options.dbName ?? 'hob-models');
    this.chunkSizeBytes = options.chunkSizeBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(this.chunkSizeBytes) || this.chunkSizeBytes < 1) {
      throw new HobError('argument/invalid', `chunkSizeBytes ${this.chunkSizeBytes} is not a positive integer`);
    }
  }

  /**
   * Downloads a model (a URL, or the URLs of a split model's parts; one part's
   * URL names them all) unless it is stored already; resumes a partial one.
   */
  async download(source: string | URL | (string | URL)[], opts: DownloadOptions = {}): Promise<StoredModel> {
    const urls = Array.isArray(source) ? source.map((u) => new URL(u, globalThis.location?.href).href) : splitPartUrls(String(source));
    if (urls.length === 0) throw new HobError('argument/invalid', 'download() needs at least one URL');
    const id = opts.id ?? urls[0];
    const hashes = expectedHashes(opts.sha256, urls.length);
    return withModelLock(this.db.dbName, id, opts.signal, async () => {
      // A complete model needs no network: this is what runs offline.
      const m = await this.db.getManifest(id);
      if (m?.state === 'complete' && m.parts.length === urls.length && m.parts.every((p, k) => p.url === urls[k])) {
        opts.onProgress?.({ loaded: m.sizeBytes, total: m.sizeBytes, bytesPerSecond: 0, etaMs: 0 });
        return { ...m, storedBytes: m.sizeBytes };
      }
      const sources = await Promise.all(urls.map((u) => probe(u, opts.signal, opts.idleTimeoutMs)));
      sources.forEach((s, k) => hashes[k] && (s.sha256 = hashes[k]));
      const parts = sources as (PartSource & { url: string })[];
      return fillModel(this.db, id, sources, (part, offset, length, signal, onBytes) => fetchRange(parts[part], offset, length, signal, onBytes, opts.idleTimeoutMs), {
        signal: opts.signal,
        onProgress: opts.onProgress,
        parallel: opts.parallel ?? 4,
        retries: opts.retries ?? 3,
        chunkSizeBytes: this.chunkSizeBytes,
      });
    });
  }

  /**
   * A file that is not a model (an image), through the same path as models:
   * ranged requests, chunk hashes, the validators, read back from the store
   * the next time with no request at all. A server without Range support is
   * read whole and stored the same way. Unlike a model's, a failed download
   * keeps nothing: a small file starts over.
   */
  async downloadFile(url: string | URL, opts: FileDownloadOptions): Promise<Uint8Array> {
    const href = new URL(url, globalThis.location?.href).href;
    const id = opts.id ?? href;
    return withModelLock(this.db.dbName, id, opts.signal, async () => {
      const m = await this.db.getManifest(id);
      if (m?.state === 'complete' && m.parts.length === 1 && m.parts[0].url === href) {
        const bytes = await this.readWhole(m);
        if (bytes) {
          opts.onProgress?.({ loaded: bytes.byteLength, total: bytes.byteLength, bytesPerSecond: 0, etaMs: 0 });
          return bytes;
        }
        // A chunk gone or not matching its hash: the file is fetched again from scratch.
        await this.db.deleteModel(id);
      }
      try {
        let source: PartSource & { url: string };
        let fetchPart: FetchPart;
        try {
          source = { ...(await probe(href, opts.signal, opts.idleTimeoutMs)), url: href };
          opts.check(source.sizeBytes);
          fetchPart = (_part, offset, length, signal, onBytes) => fetchRange(source, offset, length, signal, onBytes, opts.idleTimeoutMs);
        } catch (e) {
          if (!(e instanceof HobError && e.code === 'network/no-range')) throw e;
          const whole = await fetchWhole(href, opts.signal, (n) => opts.check(n), opts.idleTimeoutMs);
          source = { url: href, sizeBytes: whole.byteLength };
          fetchPart = async (_part, offset, length, _signal, onBytes) => {
            onBytes(length);
            return whole.subarray(offset, offset + length);
          };
        }
        const first = fetchPart;
        // The first bytes are judged before the rest is fetched or anything stored.
        fetchPart = async (part, offset, length, signal, onBytes) => {
          const bytes = await first(part, offset, length, signal, onBytes);
          if (offset === 0) opts.check(source.sizeBytes, bytes);
          return bytes;
        };
        await fillModel(this.db, id, [source], fetchPart, {
          signal: opts.signal,
          onProgress: opts.onProgress,
          parallel: 4,
          retries: opts.retries ?? 3,
          chunkSizeBytes: this.chunkSizeBytes,
          kind: 'file',
        });
        const bytes = await this.readWhole((await this.db.getManifest(id))!);
        if (!bytes) throw new StoreError('store/corrupt', `${href} did not read back as it was stored`, { id });
        return bytes;
      } catch (e) {
        await this.db.deleteModel(id).catch(() => {});
        throw e;
      }
    });
  }

  /** Every byte of a complete entry, each chunk checked against its hash; undefined if one is missing or bad.
   *  (The caller holds the entry's lock: openModelParts would take it again to mark a bad chunk.) */
  private async readWhole(m: ModelManifest): Promise<Uint8Array | undefined> {
    if (m.state !== 'complete' || !m.chunkSha256) return undefined;
    const out = new Uint8Array(m.sizeBytes);
    for (let i = 0; i < m.nChunks; i++) {
      const bytes = await this.readChunk(m, i).catch(() => undefined);
      if (!bytes || (await sha256Hex(bytes)) !== m.chunkSha256[i]) return undefined;
      out.set(bytes, i * m.chunkSizeBytes);
    }
    return out;
  }

  /** Stores a file the user picked (or the parts of a split model, in order); resumes a partial import of the same file. */
  async importFile(files: Blob | Blob[], opts: ImportOptions = {}): Promise<StoredModel> {
    const list = Array.isArray(files) ? [...files] : [files];
    if (list.length === 0) throw new HobError('argument/invalid', 'importFile() needs at least one file');
    const name = (b: Blob): string | undefined => (b as File).name;
    if (list.every((f) => SPLIT.test(name(f) ?? ''))) list.sort((a, b) => name(a)!.localeCompare(name(b)!));
    const id = opts.id ?? name(list[0]);
    if (!id) throw new HobError('argument/invalid', 'a Blob has no name: pass opts.id');
    const hashes = expectedHashes(opts.sha256, list.length);
    const sources: PartSource[] = list.map((f, k) => ({
      ...(name(f) ? { fileName: name(f) } : {}),
      sizeBytes: f.size,
      // A file's validator: the same name, size and time is the same file.
      ...((f as File).lastModified !== undefined ? { lastModified: String((f as File).lastModified) } : {}),
      ...(hashes[k] ? { sha256: hashes[k] } : {}),
    }));
    return withModelLock(this.db.dbName, id, opts.signal, () =>
      fillModel(
        this.db,
        id,
        sources,
        async (part, offset, length, signal, onBytes) => {
          throwIfAborted(signal);
          const bytes = new Uint8Array(await list[part].slice(offset, offset + length).arrayBuffer());
          onBytes(bytes.byteLength);
          return bytes;
        },
        { signal: opts.signal, onProgress: opts.onProgress, parallel: 1, retries: 0, chunkSizeBytes: this.chunkSizeBytes },
      ),
    );
  }

  /** Every stored model, complete or partial, oldest first. */
  async list(): Promise<StoredModel[]> {
    const all = await this.db.listManifests();
    const out = await Promise.all(all.map((m) => this.withStoredBytes(m)));
    return out.sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async get(id: string): Promise<StoredModel | undefined> {
    const m = await this.db.getManifest(id);
    return m && this.withStoredBytes(m);
  }

  /** Deletes a model and its chunks; false when there was none. Waits for a download of it to end. */
  async delete(id: string): Promise<boolean> {
    return withModelLock(this.db.dbName, id, undefined, async () => {
      if (!(await this.db.getManifest(id))) return false;
      await this.db.deleteModel(id);
      return true;
    });
  }

  /**
   * Reads every stored chunk and checks it against its hash (and the whole
   * file against its SHA-256 when known). Bad chunks are deleted and the
   * model marked partial, so the next download() fetches just those again.
   */
  async verify(id: string, opts: { signal?: AbortSignal; onProgress?: (p: { loaded: number; total: number }) => void } = {}): Promise<VerifyResult> {
    return withModelLock(this.db.dbName, id, opts.signal, async () => {
      const m = await this.manifestOrThrow(id);
      const present = new Set(await this.db.chunkIndexes(id));
      const bad: number[] = [];
      const missing: number[] = [];
      let checkedBytes = 0;
      for (const p of m.parts) {
        const whole = p.sha256 ? new Sha256() : undefined;
        const partBad: number[] = [];
        for (let i = p.firstChunk; i < p.firstChunk + p.nChunks; i++) {
          throwIfAborted(opts.signal);
          if (!present.has(i)) {
            missing.push(i);
            continue;
          }
          const rec = await this.db.getChunk(id, i);
          const bytes = await this.readChunk(m, i, rec).catch(() => undefined);
          // A complete model's manifest holds the hashes; a partial one has only the records'.
          const expected = m.chunkSha256?.[i] ?? rec?.sha256;
          if (!bytes || (await sha256Hex(bytes)) !== expected) partBad.push(i);
          else whole?.update(bytes);
          checkedBytes += chunkSpan(m, i).sizeBytes;
          opts.onProgress?.({ loaded: checkedBytes, total: m.sizeBytes });
        }
        // Every chunk matching its hash but not the whole file: no chunk can be trusted.
        if (whole && partBad.length === 0 && missing.length === 0 && whole.hex() !== p.sha256) {
          for (let i = p.firstChunk; i < p.firstChunk + p.nChunks; i++) partBad.push(i);
        }
        bad.push(...partBad);
      }
      if (bad.length > 0 || missing.length > 0) {
        m.state = 'partial';
        m.completedAtMs = undefined;
        await this.db.replaceChunks(m, bad);
      }
      return { ok: bad.length === 0 && missing.length === 0, checkedBytes, badChunks: bad, missingChunks: missing };
    });
  }

  /** How much the store holds, and the origin's quota as the browser estimates it. */
  async usage(): Promise<StoreUsage> {
    const [models, estimate, persisted] = await Promise.all([this.list(), estimateStorage(), isPersisted()]);
    return {
      models: models.length,
      completeModels: models.filter((m) => m.state === 'complete').length,
      storedBytes: models.reduce((a, m) => a + m.storedBytes, 0),
      ...estimate,
      persisted,
    };
  }

  /**
   * Random access to a complete single-file model, for the engine's loader.
   * Each chunk is checked against its hash when first read (verifyChunks,
   * default true); a bad one fails the read with 'store/corrupt' and is
   * deleted, so a download() repairs it.
   */
  async openModelSource(id: string, opts: { verifyChunks?: boolean } = {}): Promise<ByteSource> {
    const parts = await this.openModelParts(id, opts);
    if (parts.length !== 1) {
      throw new HobError('argument/invalid', `model ${id} is split in ${parts.length} parts: open them with openModelParts()`, { nParts: parts.length });
    }
    return parts[0];
  }

  /** One ByteSource per part of a complete model (one for a single file). */
  async openModelParts(id: string, opts: { verifyChunks?: boolean } = {}): Promise<ByteSource[]> {
    const m = await this.manifestOrThrow(id);
    if (m.state !== 'complete' || !m.chunkSha256) {
      const stored = (await this.db.chunkIndexes(id)).length;
      throw new StoreError('store/incomplete', `model ${id} is not completely stored (${stored} of ${m.nChunks} chunks): download it again to finish`, {
        id,
        storedChunks: stored,
        nChunks: m.nChunks,
      });
    }
    const verify = opts.verifyChunks ?? true;
    return m.parts.map((p) =>
      chunkedSource(p.sizeBytes, m.chunkSizeBytes, async (k) => {
        const i = p.firstChunk + k;
        const bytes = await this.readChunk(m, i).catch((e: unknown) => {
          if (e instanceof StoreError && (e.code as string) === 'store/not-found') return undefined;
          throw e;
        });
        if (!bytes || (verify && (await sha256Hex(bytes)) !== m.chunkSha256![i])) {
          await this.markBad(id, [i]);
          throw new StoreError('store/corrupt', `chunk ${i} of model ${id} is missing or does not match its hash; download the model again to repair it`, {
            id,
            chunk: i,
          });
        }
        return bytes;
      }),
    );
  }

  private async manifestOrThrow(id: string): Promise<ModelManifest> {
    const m = await this.db.getManifest(id);
    if (!m) throw new StoreError('store/not-found', `no model ${id} in the store`, { id });
    return m;
  }

  /** A chunk's bytes; an unreadable or wrongly sized record reads as not found. */
  private async readChunk(m: ModelManifest, i: number, record?: ChunkRecord): Promise<Uint8Array> {
    const rec = record ?? (await this.db.getChunk(m.id, i));
    const bytes = rec && (await chunkBytes(rec).catch(() => new Uint8Array(0)));
    if (!bytes || bytes.byteLength !== chunkSpan(m, i).sizeBytes) {
      throw new StoreError('store/not-found', `chunk ${i} of model ${m.id} is missing or unreadable`, { id: m.id, chunk: i });
    }
    return bytes;
  }

  private async markBad(id: string, chunks: number[]): Promise<void> {
    await withModelLock(this.db.dbName, id, undefined, async () => {
      const m = await this.db.getManifest(id);
      if (!m) return;
      m.state = 'partial';
      m.completedAtMs = undefined;
      await this.db.replaceChunks(m, chunks);
    });
  }

  private async withStoredBytes(m: ModelManifest): Promise<StoredModel> {
    const storedBytes = m.state === 'complete' ? m.sizeBytes : bytesOfChunks(m, await this.db.chunkIndexes(m.id));
    return { ...m, storedBytes };
  }
}

/** The store in this window or worker (database 'hob-models' unless named). */
export function openModelStore(options: ModelStoreOptions = {}): ModelStore {
  return new ModelStore(options);
}
