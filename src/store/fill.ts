// Storing a model's bytes, resumably: whatever the source (ranged HTTP
// fetches or a picked file), the missing chunks are fetched in parallel,
// hashed and written one whole record at a time, and the model is marked
// complete only when every chunk is there and every hash given was checked.
// The caller holds the model's lock; this file owns the order of the steps.
import { HobError, ModelFormatError, NetworkError, StoreError } from '../shared/errors.js';
import { chunkedSource } from './chunk-source.js';
import { chunkBytes, type ModelDb } from './db.js';
import { mergeSummaries, readGgufSummary, type GgufSummary } from './gguf-summary.js';
import { throwIfAborted } from './http.js';
import { bytesOfChunks, chunkSpan, planManifest, sameFile, type PartSource, type StoredModel } from './manifest.js';
import { ProgressMeter, type DownloadProgress } from './progress.js';
import { asQuotaError, checkQuota, requestPersistence } from './quota.js';
import { Sha256, sha256Hex } from './sha256.js';

/** Bytes [offset, offset + length) of part `part`; onBytes reports those received so far. */
export type FetchPart = (part: number, offset: number, length: number, signal: AbortSignal, onBytes: (n: number) => void) => Promise<Uint8Array>;

export interface FillOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Chunks fetched at once. */
  parallel: number;
  /** Further attempts of a chunk after a dropped connection or a server error. */
  retries: number;
  /** Chunk size for a model stored from scratch. */
  chunkSizeBytes: number;
  /** 'file' stores bytes that are not a GGUF (an image): no header is read. Default 'gguf'. */
  kind?: 'gguf' | 'file';
}

function retryable(e: unknown): boolean {
  if (!(e instanceof NetworkError)) return false;
  if ((e.code as string) === 'network/interrupted' || (e.code as string) === 'network/timeout') return true;
  const status = Number(e.details.status);
  return (e.code as string) === 'network/http-status' && (status >= 500 || status === 429 || status === 408);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Runs task over `items`, `parallel` at a time; the first failure aborts the rest and is thrown. */
async function runParallel(items: number[], parallel: number, signal: AbortSignal, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure && next < items.length && !signal.aborted) {
      const i = items[next++];
      try {
        await task(i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, lane));
  if (failure) throw failure.e;
}

/**
 * Stores the model `id` from `sources` through fetchPart, resuming from the
 * chunks already stored when the sources are still the same files, starting
 * over cleanly when they are not.
 */
export async function fillModel(db: ModelDb, id: string, sources: PartSource[], fetchPart: FetchPart, opts: FillOptions): Promise<StoredModel> {
  const outer = opts.signal;
  throwIfAborted(outer);
  let m = await db.getManifest(id);
  const fresh = !m || m.parts.length !== sources.length || m.parts.some((p, k) => !sameFile(p, sources[k]));
  if (fresh) {
    m = planManifest(id, sources, opts.chunkSizeBytes);
    // One transaction drops another version's chunks with its manifest: versions never mix.
    await db.resetModel(m);
  } else {
    m = { ...m!, parts: m!.parts.map((p, k) => ({ ...p, ...sources[k], firstChunk: p.firstChunk, nChunks: p.nChunks })) };
  }
  const model = m;
  const present = new Set(fresh ? [] : await db.chunkIndexes(id));
  if (model.state === 'complete' && present.size === model.nChunks) {
    opts.onProgress?.({ loaded: model.sizeBytes, total: model.sizeBytes, bytesPerSecond: 0, etaMs: 0 });
    return { ...model, storedBytes: model.sizeBytes };
  }

  const remainingBytes = (): number => model.sizeBytes - bytesOfChunks(model, present);
  try {
    await checkQuota(`model ${id}`, remainingBytes());
  } catch (e) {
    // Nothing of this model is stored: leave no record behind.
    if (present.size === 0) await db.deleteModel(id);
    throw e;
  }
  void requestPersistence();
  if (!fresh) await db.putManifest(model);

  const ac = new AbortController();
  const abort = (): void => ac.abort();
  outer?.addEventListener('abort', abort);
  const signal = ac.signal;
  const meter = new ProgressMeter(model.sizeBytes, bytesOfChunks(model, present), opts.onProgress);
  meter.flush();

  const fetchAndStore = async (i: number): Promise<Uint8Array> => {
    const span = chunkSpan(model, i);
    let bytes: Uint8Array | undefined;
    for (let attempt = 0; !bytes; attempt++) {
      try {
        bytes = await fetchPart(span.part, span.offsetBytes, span.sizeBytes, signal, (n) => meter.chunkBytes(i, n));
      } catch (e) {
        if (attempt >= opts.retries || !retryable(e) || signal.aborted) throw e;
        await sleep(250 * 2 ** attempt, signal);
        throwIfAborted(signal);
      }
    }
    const sha256 = await sha256Hex(bytes);
    const known = model.chunkSha256?.[i];
    if (known && known !== sha256) {
      // The model was complete with other bytes here: the file changed under the same validators.
      throw new StoreError('store/changed-upstream', `chunk ${i} of ${id} came back different from the copy stored before; the source changed`, {
        id,
        chunk: i,
      });
    }
    try {
      await db.putChunk(id, i, sha256, bytes);
    } catch (e) {
      throw await asQuotaError(e, `model ${id}`, remainingBytes());
    }
    present.add(i);
    meter.chunkBytes(i, span.sizeBytes);
    return bytes;
  };
  const readStored = async (i: number): Promise<Uint8Array> => {
    const rec = await db.getChunk(id, i);
    return rec ? chunkBytes(rec) : fetchAndStore(i);
  };

  try {
    if (!model.gguf && opts.kind !== 'file') {
      // The header first, chunk by chunk: a file that is not a GGUF, or whose
      // tensors run past its end, fails after its first chunks, not its last.
      const summaries: GgufSummary[] = [];
      for (const p of model.parts) {
        const src = chunkedSource(p.sizeBytes, model.chunkSizeBytes, (k) =>
          present.has(p.firstChunk + k) ? readStored(p.firstChunk + k) : fetchAndStore(p.firstChunk + k),
        );
        summaries.push(await readGgufSummary(src));
      }
      if (!summaries[0].architecture) {
        throw new ModelFormatError('gguf/invalid', `${id} has no general.architecture: it is not a model file (or not its first part)`, { field: 'general.architecture' });
      }
      model.gguf = mergeSummaries(summaries);
      await db.putManifest(model);
    }

    const missing = [...Array(model.nChunks).keys()].filter((i) => !present.has(i));
    await runParallel(missing, opts.parallel, signal, fetchAndStore);
    throwIfAborted(signal);

    for (const [k, p] of model.parts.entries()) {
      if (!p.sha256) continue;
      const h = new Sha256();
      for (let i = p.firstChunk; i < p.firstChunk + p.nChunks; i++) {
        throwIfAborted(signal);
        h.update(await readStored(i));
      }
      const actual = h.hex();
      if (actual !== p.sha256) {
        throw new StoreError('store/corrupt', `${p.url ?? p.fileName ?? id} has SHA-256 ${actual}, not the expected ${p.sha256}`, {
          id,
          part: k,
          expected: p.sha256,
          actual,
        });
      }
    }

    const hashes = await db.chunkHashes(id);
    if (hashes.size !== model.nChunks) {
      throw new StoreError('store/incomplete', `${id}: ${hashes.size} of ${model.nChunks} chunks are stored after the download`, {
        id,
        storedChunks: hashes.size,
        nChunks: model.nChunks,
      });
    }
    model.chunkSha256 = [...Array(model.nChunks).keys()].map((i) => hashes.get(i)!);
    model.state = 'complete';
    model.completedAtMs = Date.now();
    await db.putManifest(model);
    meter.flush();
    return { ...model, storedBytes: model.sizeBytes };
  } catch (e) {
    await keepOnlyWhatResumes(db, id, e, present.size);
    throw e;
  } finally {
    outer?.removeEventListener('abort', abort);
  }
}

/**
 * After a failure, keeps the stored chunks only where resuming makes sense:
 * not for a file that is not a model, a changed source or a failed whole-file
 * hash, and not when nothing was stored.
 */
async function keepOnlyWhatResumes(db: ModelDb, id: string, e: unknown, storedChunks: number): Promise<void> {
  const code = e instanceof HobError ? (e.code as string) : '';
  const useless = e instanceof ModelFormatError || code === 'store/changed-upstream' || code === 'store/corrupt' || storedChunks === 0;
  if (useless) await db.deleteModel(id).catch(() => {});
}
