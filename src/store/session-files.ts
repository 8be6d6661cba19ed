// Saved sessions as files, for Node (no IndexedDB there): one file per
// session in a folder, named by the session. The file is the session's bytes
// followed by a trailer: a JSON record (the summary, the token ids, the
// SHA-256 of each 8 MiB chunk), its length (u32) and "HOBF". A save writes a
// temporary file and renames it over the old one, so an interrupted save
// leaves the previous one whole. Loading checks every chunk ('store/corrupt').
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { HobError, StoreError } from '../shared/errors.js';
import type { SavedSession } from '../shared/types.js';
import type { SessionInfo, SessionStore } from './sessions.js';

const CHUNK_BYTES = 8 << 20;
const TRAILER_MAGIC = 'HOBF';
const MAX_TRAILER_BYTES = 256 << 20;

interface Trailer extends SavedSession {
  format: 1;
  chunkSizeBytes: number;
  chunkSha256: string[];
  tokens: number[];
}

/** A file name for a session: no separators, not "." or "..". */
function fileName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /[/\\\0]/.test(name) || name === '.' || name === '..') {
    throw new HobError('argument/invalid', `a session name here is a file name (no / or \\, 1 to 255 characters), got ${JSON.stringify(name)}`);
  }
  return name;
}

function summary(t: Trailer): SavedSession {
  return {
    name: t.name, nTokens: t.nTokens, sizeBytes: t.sizeBytes, savedAtMs: t.savedAtMs, model: t.model, contextSize: t.contextSize,
    ...(t.meta !== undefined ? { meta: t.meta } : {}),
  };
}

export class FileSessionStore implements SessionStore {
  constructor(readonly dir: string) {}

  async save(name: string, pieces: readonly Uint8Array[], info: SessionInfo): Promise<SavedSession> {
    const path = join(this.dir, fileName(name));
    await mkdir(this.dir, { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const sizeBytes = pieces.reduce((n, p) => n + p.byteLength, 0);
    const f = await open(tmp, 'w');
    try {
      const hashes: string[] = [];
      let hash = createHash('sha256');
      let inChunk = 0;
      for (const p of pieces) {
        await f.write(p);
        // Hash by chunk: split each piece at the chunk boundaries.
        for (let at = 0; at < p.byteLength; ) {
          const take = Math.min(CHUNK_BYTES - inChunk, p.byteLength - at);
          hash.update(p.subarray(at, at + take));
          at += take;
          inChunk += take;
          if (inChunk === CHUNK_BYTES) {
            hashes.push(hash.digest('hex'));
            hash = createHash('sha256');
            inChunk = 0;
          }
        }
      }
      if (inChunk > 0) hashes.push(hash.digest('hex'));
      const { tokens, ...rest } = info;
      const trailer: Trailer = { format: 1, ...rest, name, sizeBytes, chunkSizeBytes: CHUNK_BYTES, chunkSha256: hashes, tokens: Array.from(tokens) };
      const json = Buffer.from(JSON.stringify(trailer), 'utf8');
      const tail = Buffer.alloc(8);
      tail.writeUInt32LE(json.length, 0);
      tail.write(TRAILER_MAGIC, 4, 'latin1');
      await f.write(json);
      await f.write(tail);
      await f.sync();
    } catch (e) {
      await f.close().catch(() => {});
      await rm(tmp, { force: true });
      throw e;
    }
    await f.close();
    await rename(tmp, path);
    return this.get(name).then((s) => s!);
  }

  async load(name: string): Promise<{ session: SavedSession; pieces: Uint8Array[] }> {
    const path = join(this.dir, fileName(name));
    const t = await this.trailer(path, true);
    const f = await open(path, 'r');
    try {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < t.chunkSha256.length; i++) {
        const at = i * t.chunkSizeBytes;
        const n = Math.min(t.chunkSizeBytes, t.sizeBytes - at);
        const buf = new Uint8Array(n);
        const { bytesRead } = await f.read(buf, 0, n, at);
        if (bytesRead !== n || createHash('sha256').update(buf).digest('hex') !== t.chunkSha256[i]) {
          throw new StoreError('store/corrupt', `chunk ${i} of the saved session ${path} does not match its hash`, { name, chunk: i });
        }
        pieces.push(buf);
      }
      return { session: summary(t), pieces };
    } finally {
      await f.close();
    }
  }

  async get(name: string): Promise<(SavedSession & { tokens: Int32Array }) | undefined> {
    const path = join(this.dir, fileName(name));
    const t = await this.trailer(path, false).catch((e: unknown) => {
      if (e instanceof StoreError && (e.code as string) === 'store/not-found') return undefined;
      throw e;
    });
    return t && { ...summary(t), tokens: Int32Array.from(t.tokens) };
  }

  async list(): Promise<SavedSession[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: SavedSession[] = [];
    for (const n of names) {
      if (n.includes('.tmp-')) continue;
      const t = await this.trailer(join(this.dir, n), false).catch(() => undefined);
      if (t) out.push(summary(t));
    }
    return out.sort((a, b) => b.savedAtMs - a.savedAtMs);
  }

  async delete(name: string): Promise<boolean> {
    const path = join(this.dir, fileName(name));
    if (!(await this.get(name))) return false;
    await rm(path, { force: true });
    return true;
  }

  /** The trailer of a session file; 'store/not-found' for no file, and for
   * a file that is no session when `strict` is false. */
  private async trailer(path: string, strict: boolean): Promise<Trailer> {
    const size = await stat(path).then((s) => (s.isFile() ? s.size : -1), () => -1);
    if (size < 0) throw new StoreError('store/not-found', `no saved session ${path}`, { name: path });
    const corrupt = (why: string) =>
      strict ? new StoreError('store/corrupt', `${path} is not a saved session Hob can read: ${why}`, { name: path }) : new StoreError('store/not-found', `${path} is no saved session: ${why}`, { name: path });
    const f = await open(path, 'r');
    try {
      if (size < 8) throw corrupt('too short');
      const tail = Buffer.alloc(8);
      await f.read(tail, 0, 8, size - 8);
      if (tail.toString('latin1', 4, 8) !== TRAILER_MAGIC) throw corrupt('no trailer');
      const len = tail.readUInt32LE(0);
      if (len > MAX_TRAILER_BYTES || len > size - 8) throw corrupt(`a trailer of ${len} bytes`);
      const json = Buffer.alloc(len);
      await f.read(json, 0, len, size - 8 - len);
      let t: Trailer;
      try {
        t = JSON.parse(json.toString('utf8')) as Trailer;
      } catch {
        throw corrupt('the trailer is not JSON');
      }
      const ok = t && t.format === 1 && Number.isSafeInteger(t.sizeBytes) && t.sizeBytes === size - 8 - len &&
        Number.isSafeInteger(t.chunkSizeBytes) && t.chunkSizeBytes > 0 && Array.isArray(t.chunkSha256) &&
        t.chunkSha256.length === Math.ceil(t.sizeBytes / t.chunkSizeBytes) && Array.isArray(t.tokens);
      if (!ok) throw corrupt('the trailer does not describe the file');
      return t;
    } finally {
      await f.close();
    }
  }
}
