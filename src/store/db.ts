// The store's records in IndexedDB, through idb-keyval, in a database of its
// own. One object store holds both kinds, under array keys:
//   ['manifest', id]         ModelManifest
//   ['chunk', id, index]     ChunkRecord (the bytes as a Blob, and their hash)
// so a model's chunks are one key range: deleted, counted or reset in one
// transaction with its manifest. Nothing here knows about HTTP or locks.
import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval';

import { StoreError } from '../shared/errors.js';
import type { ModelManifest } from './manifest.js';

export interface ChunkRecord {
  /** SHA-256 (hex) of `data`, computed before it was written. */
  sha256: string;
  sizeBytes: number;
  /**
   * A Blob: the browser keeps it on disk and reads it back lazily. Where
   * IndexedDB refuses Blobs (WebKit's ephemeral sessions: private windows,
   * automation), the bytes themselves.
   */
  data: Blob | ArrayBuffer;
}

/** A chunk record's bytes, whichever way they were stored. */
export async function chunkBytes(rec: ChunkRecord): Promise<Uint8Array> {
  return new Uint8Array(rec.data instanceof ArrayBuffer ? rec.data : await rec.data.arrayBuffer());
}

/**
 * A failed write must reach the caller as an error with a name: never a null
 * (see putValue), and a StoreError where the browser gave nothing.
 */
function idbFailure(e: unknown, what: string): unknown {
  if (e instanceof Error || (e !== null && typeof e === 'object' && 'name' in e)) return e;
  return new StoreError('store/write-failed', `IndexedDB refused ${what} and gave no reason`, { reason: String(e) });
}

const manifestKey = (id: string): IDBValidKey => ['manifest', id];
const chunkKey = (id: string, index: number): IDBValidKey => ['chunk', id, index];
const chunkRange = (id: string): IDBKeyRange => IDBKeyRange.bound(['chunk', id, 0], ['chunk', id, Infinity]);
// Arrays sort after strings, so ['manifest', []] is above every ['manifest', id].
const manifestRange = (): IDBKeyRange => IDBKeyRange.bound(['manifest'], ['manifest', []]);

/**
 * One put in its own transaction, rejecting with the request's error. (A
 * failed request's error event bubbles to the transaction before it aborts,
 * while the transaction's own `error` is still null: idb-keyval's `set`
 * rejects with that null, so Firefox's QuotaExceededError was lost.)
 */
function putValue(use: UseStore, key: IDBValidKey, value: unknown): Promise<void> {
  return use('readwrite', (s) => {
    const tx = s.transaction;
    const req = s.put(value, key);
    return new Promise<void>((resolve, reject) => {
      req.onerror = () => reject(req.error);
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(tx.error ?? req.error);
    });
  });
}

/**
 * Writes chunk records: as a Blob where IndexedDB takes Blobs, else as the
 * bytes. The first write finds out which, and later ones keep to it.
 */
export class ChunkWriter {
  private blobs: boolean | undefined;

  constructor(private readonly use: UseStore) {}

  async put(key: IDBValidKey, sha256: string, bytes: Uint8Array, what: string): Promise<void> {
    const record = (data: Blob | ArrayBuffer): ChunkRecord => ({ sha256, sizeBytes: bytes.byteLength, data });
    if (this.blobs !== false) {
      try {
        await putValue(this.use, key, record(new Blob([bytes as Uint8Array<ArrayBuffer>])));
        this.blobs = true;
        return;
      } catch (e) {
        // A quota failure is a quota failure whatever the value; and once a Blob was
        // written here, a failure has another cause. Otherwise try the bytes.
        if ((e as { name?: string } | null)?.name === 'QuotaExceededError' || this.blobs === true) throw idbFailure(e, what);
        this.blobs = false;
      }
    }
    await putValue(this.use, key, record(bytes.slice().buffer)).catch((e: unknown) => {
      throw idbFailure(e, what);
    });
  }
}

export class ModelDb {
  private readonly use: UseStore;
  private readonly chunks: ChunkWriter;
  /** Whether this database takes Blobs: unknown until the first chunk is written. */

  constructor(readonly dbName: string) {
    this.use = createStore(dbName, 'models');
    this.chunks = new ChunkWriter(this.use);
  }

  getManifest(id: string): Promise<ModelManifest | undefined> {
    return get<ModelManifest>(manifestKey(id), this.use);
  }

  putManifest(m: ModelManifest): Promise<void> {
    return putValue(this.use, manifestKey(m.id), m);
  }

  listManifests(): Promise<ModelManifest[]> {
    return this.use('readonly', (s) => promisifyRequest(s.getAll(manifestRange()) as IDBRequest<ModelManifest[]>));
  }

  /** Indexes of the chunks stored for a model, ascending. */
  async chunkIndexes(id: string): Promise<number[]> {
    const keys = await this.use('readonly', (s) => promisifyRequest(s.getAllKeys(chunkRange(id))));
    return keys.map((k) => (k as [string, string, number])[2]);
  }

  getChunk(id: string, index: number): Promise<ChunkRecord | undefined> {
    return get<ChunkRecord>(chunkKey(id, index), this.use);
  }

  /** Writes a chunk's bytes and hash. */
  putChunk(id: string, index: number, sha256: string, bytes: Uint8Array): Promise<void> {
    return this.chunks.put(chunkKey(id, index), sha256, bytes, `chunk ${index} of ${id}`);
  }

  /** The stored hashes of a model's chunks, by index (reads no chunk bytes). */
  async chunkHashes(id: string): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    await this.use('readonly', (s) => {
      const req = s.openCursor(chunkRange(id));
      return new Promise<void>((resolve, reject) => {
        req.onsuccess = () => {
          const c = req.result;
          if (!c) return resolve();
          out.set((c.key as [string, string, number])[2], (c.value as ChunkRecord).sha256);
          c.continue();
        };
        req.onerror = () => reject(req.error);
      });
    });
    return out;
  }

  /** Deletes some chunks and writes the manifest, in one transaction. */
  replaceChunks(m: ModelManifest, deleteIndexes: number[]): Promise<void> {
    return this.use('readwrite', (s) => {
      for (const i of deleteIndexes) s.delete(chunkKey(m.id, i));
      s.put(m, manifestKey(m.id));
      return promisifyRequest(s.transaction);
    });
  }

  /** Replaces a model's record by `m` with no chunks (a restart), in one transaction. */
  resetModel(m: ModelManifest): Promise<void> {
    return this.use('readwrite', (s) => {
      s.delete(chunkRange(m.id));
      s.put(m, manifestKey(m.id));
      return promisifyRequest(s.transaction);
    });
  }

  /** Deletes a model's manifest and chunks, in one transaction. */
  deleteModel(id: string): Promise<void> {
    return this.use('readwrite', (s) => {
      s.delete(chunkRange(id));
      s.delete(manifestKey(id));
      return promisifyRequest(s.transaction);
    });
  }
}
