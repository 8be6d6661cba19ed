// Saved sessions in the model store's IndexedDB database (src/store/db.ts
// keeps models there), next to the models under keys of their own:
//   ['session', name]                         SessionManifest
//   ['session-chunk', name, version, index]   ChunkRecord (bytes and SHA-256)
// A save writes its chunks under a new version, then switches the manifest
// to it and drops the old version's chunks in one transaction: a tab closed
// mid-save leaves the previous save whole (its leftover chunks are removed
// by the next save). Loading checks every chunk against its hash; a bad one
// is 'store/corrupt'. Saves of one name are serialized by a Web Lock.
// The bytes are opaque here (src/runtime/session-file.ts lays them out).
import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval';

import { HobError, StoreError } from '../shared/errors.js';
import type { SavedSession } from '../shared/types.js';
import { chunkBytes, ChunkWriter, type ChunkRecord } from './db.js';
import { withModelLock } from './lock.js';
import { asQuotaError, checkQuota } from './quota.js';
import { sha256Hex } from './sha256.js';

/** What a session store keeps and gives back; IndexedDB here, files in Node
 * (session-files.ts). */
export interface SessionStore {
  /** Stores the pieces (in order) as `name`, replacing an earlier save only
   * once this one is complete. */
  save(name: string, pieces: readonly Uint8Array[], info: SessionInfo): Promise<SavedSession>;
  /** The bytes of a saved session, each chunk checked ('store/corrupt'),
   * or 'store/not-found'. */
  load(name: string): Promise<{ session: SavedSession; pieces: Uint8Array[] }>;
  /** The saved session's summary and token ids (no chunk is read). */
  get(name: string): Promise<(SavedSession & { tokens: Int32Array }) | undefined>;
  list(): Promise<SavedSession[]>;
  delete(name: string): Promise<boolean>;
}

/** What a save records besides its bytes. */
export type SessionInfo = Omit<SavedSession, 'name' | 'sizeBytes'> & { tokens: Int32Array };

interface SessionManifest extends SavedSession {
  format: 1;
  /** The chunks' version: a new save writes the next one. */
  version: number;
  chunkSizeBytes: number;
  chunkSha256: string[];
  tokens: Int32Array;
}

const DEFAULT_CHUNK_BYTES = 8 << 20;
const MAX_NAME = 256;

const manifestKey = (name: string): IDBValidKey => ['session', name];
const chunkKey = (name: string, version: number, i: number): IDBValidKey => ['session-chunk', name, version, i];
// Arrays sort after numbers and strings, so [..., []] bounds every key below it.
const versionRange = (name: string, version: number) => IDBKeyRange.bound(['session-chunk', name, version], ['session-chunk', name, version, []]);
const allManifests = () => IDBKeyRange.bound(['session'], ['session', []]);

/** A session's name: any text of 1 to 256 characters. */
export function checkSessionName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) {
    throw new HobError('argument/invalid', `a session name is a string of 1 to ${MAX_NAME} characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

function summary(m: SessionManifest): SavedSession {
  return {
    name: m.name, nTokens: m.nTokens, sizeBytes: m.sizeBytes, savedAtMs: m.savedAtMs, model: m.model, contextSize: m.contextSize,
    ...(m.meta !== undefined ? { meta: m.meta } : {}),
  };
}

/** Cuts the pieces into chunks of `size` bytes (the last one shorter). */
function* chunksOf(pieces: readonly Uint8Array[], total: number, size: number): Generator<Uint8Array> {
  let piece = 0;
  let at = 0;
  for (let start = 0; start < total; start += size) {
    const chunk = new Uint8Array(Math.min(size, total - start));
    for (let filled = 0; filled < chunk.length; ) {
      const p = pieces[piece];
      const take = Math.min(chunk.length - filled, p.byteLength - at);
      chunk.set(p.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (at === p.byteLength) {
        piece++;
        at = 0;
      }
    }
    yield chunk;
  }
}

export class IdbSessionStore implements SessionStore {
  private readonly use: UseStore;
  private readonly chunks: ChunkWriter;

  constructor(
    readonly dbName = 'hob-models',
    private readonly chunkSizeBytes = DEFAULT_CHUNK_BYTES,
  ) {
    // The model store's database and object store: one place for the origin's Hob data.
    this.use = createStore(dbName, 'models');
    this.chunks = new ChunkWriter(this.use);
  }

  async save(name: string, pieces: readonly Uint8Array[], info: SessionInfo): Promise<SavedSession> {
    checkSessionName(name);
    const sizeBytes = pieces.reduce((n, p) => n + p.byteLength, 0);
    return withModelLock(this.dbName, `session:${name}`, undefined, async () => {
      const old = await get<SessionManifest>(manifestKey(name), this.use);
      const version = (old?.version ?? 0) + 1;
      await this.dropVersionsBut(name, old?.version);
      await checkQuota(`the session ${name}`, sizeBytes);
      const hashes: string[] = [];
      try {
        let i = 0;
        for (const chunk of chunksOf(pieces, sizeBytes, this.chunkSizeBytes)) {
          const sha256 = await sha256Hex(chunk);
          await this.chunks.put(chunkKey(name, version, i), sha256, chunk, `chunk ${i} of the session ${name}`);
          hashes.push(sha256);
          i++;
        }
      } catch (e) {
        await this.dropVersion(name, version).catch(() => {});
        throw await asQuotaError(e, `the session ${name}`, sizeBytes);
      }
      const { tokens, ...rest } = info;
      const m: SessionManifest = {
        format: 1, ...rest, name, sizeBytes, version, chunkSizeBytes: this.chunkSizeBytes, chunkSha256: hashes, tokens: Int32Array.from(tokens),
      };
      // The switch: the new manifest and the old chunks' removal commit together.
      await this.use('readwrite', (s) => {
        s.put(m, manifestKey(name));
        if (old) s.delete(versionRange(name, old.version));
        return promisifyRequest(s.transaction);
      });
      return summary(m);
    });
  }

  async load(name: string): Promise<{ session: SavedSession; pieces: Uint8Array[] }> {
    const m = await this.manifest(name);
    if (!m) throw new StoreError('store/not-found', `no saved session ${name}`, { name });
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < m.chunkSha256.length; i++) {
      const rec = await get<ChunkRecord>(chunkKey(name, m.version, i), this.use);
      const bytes = rec && (await chunkBytes(rec).catch(() => new Uint8Array(0)));
      if (!bytes || (await sha256Hex(bytes)) !== m.chunkSha256[i]) {
        throw new StoreError('store/corrupt', `chunk ${i} of the saved session ${name} is missing or does not match its hash`, { name, chunk: i });
      }
      pieces.push(bytes);
    }
    const stored = pieces.reduce((n, p) => n + p.byteLength, 0);
    if (stored !== m.sizeBytes) {
      throw new StoreError('store/corrupt', `the saved session ${name} holds ${stored} bytes, its manifest ${m.sizeBytes}`, { name, storedBytes: stored });
    }
    return { session: summary(m), pieces };
  }

  async get(name: string): Promise<(SavedSession & { tokens: Int32Array }) | undefined> {
    const m = await this.manifest(name);
    return m && { ...summary(m), tokens: m.tokens };
  }

  async list(): Promise<SavedSession[]> {
    const all = await this.use('readonly', (s) => promisifyRequest(s.getAll(allManifests()) as IDBRequest<SessionManifest[]>));
    return all.filter((m) => m?.format === 1).map(summary).sort((a, b) => b.savedAtMs - a.savedAtMs);
  }

  async delete(name: string): Promise<boolean> {
    checkSessionName(name);
    return withModelLock(this.dbName, `session:${name}`, undefined, async () => {
      const m = await this.manifest(name);
      await this.use('readwrite', (s) => {
        s.delete(manifestKey(name));
        s.delete(IDBKeyRange.bound(['session-chunk', name], ['session-chunk', name, []]));
        return promisifyRequest(s.transaction);
      });
      return m !== undefined;
    });
  }

  private async manifest(name: string): Promise<SessionManifest | undefined> {
    checkSessionName(name);
    const m = await get<SessionManifest>(manifestKey(name), this.use);
    return m?.format === 1 ? m : undefined;
  }

  private dropVersion(name: string, version: number): Promise<void> {
    return this.use('readwrite', (s) => {
      s.delete(versionRange(name, version));
      return promisifyRequest(s.transaction);
    });
  }

  /** Removes every version's chunks but `keep`'s: leftovers of saves that never switched. */
  private dropVersionsBut(name: string, keep: number | undefined): Promise<void> {
    return this.use('readwrite', (s) => {
      if (keep === undefined) {
        s.delete(IDBKeyRange.bound(['session-chunk', name], ['session-chunk', name, []]));
      } else {
        s.delete(IDBKeyRange.bound(['session-chunk', name], ['session-chunk', name, keep], false, true));
        s.delete(IDBKeyRange.bound(['session-chunk', name, keep, []], ['session-chunk', name, []], true, false));
      }
      return promisifyRequest(s.transaction);
    });
  }
}

/** The saved sessions of this origin (database 'hob-models' unless named). */
export function openSessionStore(options: { dbName?: string; chunkSizeBytes?: number } = {}): IdbSessionStore {
  return new IdbSessionStore(options.dbName ?? 'hob-models', options.chunkSizeBytes ?? DEFAULT_CHUNK_BYTES);
}
