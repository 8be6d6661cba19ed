// Test page for the model store: exposes the store, the engine worker and a
// few hands-on helpers (corrupting a stored chunk, running the store in a
// worker, reading an image through it as the API does) to the browser tests as window.storeTest.
import { createStore, get, keys, set } from 'idb-keyval';

import { openModelStore, readSourceBytes, type ModelStoreOptions } from '../../../src/store/index.js';
import { startEngineWorker } from '../../../src/worker/client.js';
import { browserImageDecoder, IMAGE_STORE_DB } from '../../../src/api/image-decode-browser.js';
import { checkImageFile } from '../../../src/api/images.js';

type Failure = { error: { code?: string; name: string; message: string; details?: Record<string, unknown> } };

const storeTest = {
  openModelStore,
  readSourceBytes,
  engine: () => startEngineWorker().api,
  IMAGE_STORE_DB,
  /** An http(s) image as the API reads it: through the store, judged by the API's check; its size and first bytes. */
  async fetchImage(url: string): Promise<{ sizeBytes: number; head: number[] }> {
    const bytes = await browserImageDecoder.fetch!(url, checkImageFile);
    return { sizeBytes: bytes.byteLength, head: [...bytes.subarray(0, 8)] };
  },

  /** Awaits p; a failure comes back as data, with its code, so the test can assert on it. */
  async attempt<T>(p: Promise<T>): Promise<{ value: T } | Failure> {
    try {
      return { value: await p };
    } catch (e) {
      const err = e as { code?: string; name: string; message: string; details?: Record<string, unknown> };
      return { error: { code: err.code, name: err.name, message: err.message, details: err.details } };
    }
  },

  /** Flips one byte of a stored chunk behind the store's back (its recorded hash stays). */
  async corruptChunk(dbName: string, id: string, index: number, at = 0): Promise<void> {
    const raw = createStore(dbName, 'models');
    const rec = await get<{ data: Blob | ArrayBuffer; sha256: string; sizeBytes: number }>(['chunk', id, index], raw);
    if (!rec) throw new Error(`no chunk ${index} of ${id}`);
    // Stored as a Blob, or as bytes where IndexedDB refuses Blobs (WebKit's ephemeral sessions): corrupt it in kind.
    const bytes = new Uint8Array(rec.data instanceof ArrayBuffer ? rec.data.slice(0) : await rec.data.arrayBuffer());
    bytes[at] ^= 0xff;
    await set(['chunk', id, index], { ...rec, data: rec.data instanceof ArrayBuffer ? bytes.buffer : new Blob([bytes]) }, raw);
  },

  /** Indexes of the chunks stored for a model, read from IndexedDB directly. */
  async storedChunks(dbName: string, id: string): Promise<number[]> {
    const all = await keys<IDBValidKey[]>(createStore(dbName, 'models'));
    return all
      .filter((k) => k[0] === 'chunk' && k[1] === id)
      .map((k) => k[2] as number)
      .sort((a, b) => a - b);
  },

  /** Runs store calls in a dedicated worker: list() and openModelSource() there. */
  async inWorker(options: ModelStoreOptions, id: string): Promise<{ ids: string[]; sizeBytes: number; head: number[]; error?: { code: string; name: string } }> {
    const w = new Worker(new URL('./store-worker.ts', import.meta.url), { type: 'module' });
    try {
      return await new Promise((resolve, reject) => {
        w.onmessage = (e) => resolve(e.data);
        w.onerror = (e) => reject(new Error(e.message));
        w.postMessage({ options, id });
      });
    } finally {
      w.terminate();
    }
  },
};

(window as unknown as { storeTest: typeof storeTest }).storeTest = storeTest;
document.title = 'ready';
