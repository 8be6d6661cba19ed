// One download of a URL at a time, across processes and threads: a lock
// file created exclusively next to the download. Its holder rewrites its
// time every few seconds while it works; a lock whose process is dead (on
// this host) or that nobody refreshed for a minute is taken over. Two hob
// processes fetching the same URL used to race: the second failed on the
// first's renamed .part, or wrote into a file the first was still writing.
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';

import { AbortError, StoreError } from '../shared/errors.js';

const REFRESH_MS = 2_000;
const STALE_MS = 60_000;
const POLL_MS = 150;

interface Holder {
  pid: number;
  host: string;
  token: string;
}

export interface FileLock {
  /** Throws StoreError 'store/incomplete' if another process took the lock over (this one stalled). */
  check(): Promise<void>;
  release(): Promise<void>;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** Told once when the lock is held by another process, with its pid. */
  onWait?: (pid: number) => void;
  /** Checked while waiting: true when the holder's work made the lock unnecessary. */
  isDone?: () => Promise<boolean>;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Holder;
  } catch {
    return undefined; // gone, or being written
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Whether the lock at `path` belongs to nobody any more. */
async function isStale(path: string): Promise<boolean> {
  const holder = await readHolder(path);
  let ageMs: number;
  try {
    ageMs = Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return false; // released meanwhile: try again
  }
  if (ageMs > STALE_MS) return true;
  return holder !== undefined && holder.host === hostname() && !processAlive(holder.pid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the lock at `path`, waiting while another holder works. Resolves
 * undefined instead when `isDone` says the wait made the lock unnecessary.
 */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<FileLock | undefined> {
  const me: Holder = { pid: process.pid, host: hostname(), token: randomUUID() };
  const body = JSON.stringify(me);
  let told = false;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortError('request/aborted', 'waiting for another download of this model was cancelled');
    try {
      await writeFile(path, body, { flag: 'wx' });
      return holdLock(path, me);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    if (await opts.isDone?.()) return undefined;
    if (await isStale(path)) {
      // Replaced atomically by our own file; whoever's file is there a moment
      // later holds the lock (two takers of one stale lock: the last rename).
      const mine = `${path}.${me.token}`;
      await writeFile(mine, body);
      await rename(mine, path);
      await sleep(50);
      if ((await readHolder(path))?.token === me.token) return holdLock(path, me);
      continue;
    }
    if (!told) {
      told = true;
      const holder = await readHolder(path);
      if (holder) opts.onWait?.(holder.pid);
    }
    await sleep(POLL_MS);
  }
}

function holdLock(path: string, me: Holder): FileLock {
  let lost = false;
  const refresh = setInterval(() => {
    const now = new Date();
    void utimes(path, now, now).catch(() => {});
  }, REFRESH_MS);
  refresh.unref();
  return {
    async check() {
      if (!lost && (await readHolder(path))?.token !== me.token) lost = true;
      if (lost) {
        throw new StoreError('store/incomplete', `another process took over the download lock ${path} (this one stalled); run again`, { path });
      }
    },
    async release() {
      clearInterval(refresh);
      if ((await readHolder(path))?.token === me.token) await rm(path, { force: true });
    },
  };
}
