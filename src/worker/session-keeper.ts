// Saved sessions, on the worker's side: explicit saves and restores
// (engine.saveSession / restoreSession), and the sessions requests name
// (`session`), which keep a conversation's cache across reloads and tabs:
// - before such a request, the saved session is restored when it holds more
//   of the prompt than the cache does (after a reload, or when another
//   conversation used the cache meanwhile);
// - after it, the cache belongs to that session and is "dirty": it is saved
//   once the engine has been idle for SAVE_DELAY_MS, or at once when
//   anything else is about to change the cache (another session's request,
//   a plain one, a reset), so the save is always of this conversation;
// - a snapshot (a copy of the used cells) is quick; writing it to storage
//   happens in the background, the latest snapshot of a name replacing one
//   not yet written.
// Every change of the cache runs under the service's lock (`exclusive`), so
// a snapshot never sees a half-evaluated cache.
import type { Model } from '../core/model.js';
import { checkIdentity, decodeSessionFile, encodeSessionFile } from '../runtime/session-file.js';
import type { Sequence } from '../runtime/sequence.js';
import { HobError } from '../shared/errors.js';
import type { RestoredSession, SavedSession, SessionEvent } from '../shared/types.js';
import type { SessionStore } from '../store/sessions.js';

/** Idle time after a request before its session is written. */
export const SAVE_DELAY_MS = 1000;

export interface KeeperHost {
  store(): SessionStore;
  /** The loaded model and its sequence (throws when none is). */
  loaded(): { model: Model; sequence: Sequence };
  /** Runs fn when nothing else changes the cache. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Whether a request runs or waits (a delayed save then waits for the next idle moment). */
  busy(): boolean;
  emit(e: SessionEvent): void;
}

interface Snapshot {
  name: string;
  pieces: Uint8Array[];
  info: Parameters<SessionStore['save']>[2];
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function failure(name: string, e: unknown, nTokens = 0, elapsedMs = 0): SessionEvent {
  const err = e as { code?: string; message?: string };
  return { kind: 'failed', name, nTokens, elapsedMs, code: err?.code ?? 'internal', message: String(err?.message ?? e) };
}

export class SessionKeeper {
  /** The session the cache holds (restored from or saved as), if any. */
  private owner?: string;
  /** The cache changed since the owner was last snapshot. */
  private dirty = false;
  private timer?: ReturnType<typeof setTimeout>;
  /** Snapshots waiting to be written, by name (only the latest of each). */
  private readonly waiting = new Map<string, Snapshot>();
  /** The background writer, while it runs. */
  private writer?: Promise<void>;

  constructor(private readonly host: KeeperHost) {}

  /** Saves the cache as `name` now and waits for the write (engine.saveSession). */
  async save(name: string, meta?: string): Promise<SavedSession> {
    return this.host.exclusive(async () => {
      await this.flushLocked();
      const snap = await this.snapshot(name, meta);
      this.waiting.delete(name);
      await this.writer;
      const saved = await this.host.store().save(name, snap.pieces, snap.info);
      this.owner = name;
      this.dirty = false;
      return saved;
    });
  }

  /** Replaces the cache by the saved session `name` (engine.restoreSession). */
  async restore(name: string): Promise<RestoredSession> {
    return this.host.exclusive(async () => {
      await this.flushLocked();
      return this.restoreLocked(name);
    });
  }

  async list(): Promise<SavedSession[]> {
    await this.writer;
    return this.host.store().list();
  }

  async delete(name: string): Promise<boolean> {
    this.waiting.delete(name);
    if (this.owner === name) {
      this.owner = undefined;
      this.dirty = false;
    }
    await this.writer;
    return this.host.store().delete(name);
  }

  /** Before a request (under the lock): saves another session the cache
   * holds, then, for a request naming `name`, restores that session when it
   * holds more of the prompt than the cache does. A failed restore is an
   * event; the request then evaluates its prompt as usual. */
  async before(name: string | undefined, prompt: readonly number[]): Promise<void> {
    this.cancelTimer();
    if (name === undefined || name !== this.owner) await this.flushLocked();
    if (name === undefined) {
      this.owner = undefined;
      return;
    }
    if (name === this.owner) return;
    const { model, sequence } = this.host.loaded();
    let saved: Awaited<ReturnType<SessionStore['get']>>;
    try {
      saved = await this.host.store().get(name);
      if (saved && commonPrefix(prompt, saved.tokens) > commonPrefix(prompt, sequence.tokens)) {
        checkIdentity({ architecture: model.info.architecture, ...saved.model }, model.identity);
        await this.restoreLocked(name);
      }
    } catch (e) {
      this.host.emit(failure(name, e, saved?.nTokens));
    }
    // Whatever the cache held, it now becomes this conversation.
    this.owner = name;
  }

  /** After a request (under the lock): the cache holds `name`'s conversation, to be saved when idle. */
  after(name: string | undefined): void {
    if (name === undefined) return;
    this.owner = name;
    this.dirty = true;
    this.cancelTimer();
    this.timer = setTimeout(() => void this.idleSave(), SAVE_DELAY_MS);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Before the cache changes outside a session (a reset, a new model): saves what it holds. */
  async detach(): Promise<void> {
    this.cancelTimer();
    await this.flushLocked();
    this.owner = undefined;
  }

  /** Saves what is dirty and waits for every write (before unloading). */
  async close(): Promise<void> {
    this.cancelTimer();
    await this.flushLocked().catch(() => {});
    await this.writer;
    this.owner = undefined;
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async idleSave(): Promise<void> {
    this.timer = undefined;
    if (!this.dirty) return;
    // A request is coming: it saves first if it is another conversation's.
    if (this.host.busy()) return;
    await this.host.exclusive(() => this.flushLocked()).catch(() => {});
  }

  /** Snapshots the dirty owner and queues its write. */
  private async flushLocked(): Promise<void> {
    if (!this.owner || !this.dirty) return;
    const name = this.owner;
    this.dirty = false;
    try {
      this.waiting.set(name, await this.snapshot(name));
    } catch (e) {
      this.host.emit(failure(name, e));
      return;
    }
    this.writer ??= this.writeAll().finally(() => (this.writer = undefined));
  }

  private async writeAll(): Promise<void> {
    for (let next = this.waiting.values().next(); !next.done; next = this.waiting.values().next()) {
      const snap = next.value;
      this.waiting.delete(snap.name);
      const t0 = performance.now();
      try {
        const saved = await this.host.store().save(snap.name, snap.pieces, snap.info);
        this.host.emit({ kind: 'saved', name: snap.name, nTokens: saved.nTokens, sizeBytes: saved.sizeBytes, elapsedMs: performance.now() - t0 });
      } catch (e) {
        this.host.emit(failure(snap.name, e, snap.info.nTokens, performance.now() - t0));
      }
    }
  }

  private async snapshot(name: string, meta?: string): Promise<Snapshot> {
    const { model, sequence } = this.host.loaded();
    if (!model.identity) throw new HobError('argument/invalid', 'this model was not loaded from a file Hob can identify: its sessions cannot be saved');
    const state = await sequence.save();
    const savedAtMs = Date.now();
    const { pieces } = encodeSessionFile({ identity: model.identity, kv: state.kv, tokens: state.tokens, savedAtMs, ...(meta !== undefined ? { meta } : {}) });
    const { name: modelName, sizeBytes, fingerprint } = model.identity;
    return {
      name,
      pieces,
      info: {
        nTokens: state.tokens.length, savedAtMs, model: { name: modelName, sizeBytes, fingerprint }, contextSize: state.kv.nCtx,
        tokens: state.tokens, ...(meta !== undefined ? { meta } : {}),
      },
    };
  }

  private async restoreLocked(name: string): Promise<RestoredSession> {
    const t0 = performance.now();
    const { model, sequence } = this.host.loaded();
    // A write of this name still waiting is newer than what is stored.
    if (this.waiting.has(name) || this.writer) await this.writer;
    const { session, pieces } = await this.host.store().load(name);
    const file = decodeSessionFile(pieces);
    checkIdentity(file.identity, model.identity);
    await sequence.restore({ kv: file.kv, tokens: file.tokens });
    this.owner = name;
    this.dirty = false;
    const elapsedMs = performance.now() - t0;
    this.host.emit({ kind: 'restored', name, nTokens: file.tokens.length, sizeBytes: session.sizeBytes, elapsedMs });
    return { ...session, elapsedMs };
  }
}
