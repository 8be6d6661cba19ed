// One writer per stored model across tabs and workers, through Web Locks: a
// second download of the same model waits, then finds it stored and reuses
// it. The lock is released when its holder's page or worker goes away.
import { AbortError, HobError } from '../shared/errors.js';

/** Runs fn holding the exclusive lock for `id` in database `dbName`. */
export async function withModelLock<T>(dbName: string, id: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks;
  // Without Web Locks (old browsers) two tabs may download twice; the chunk
  // writes are still whole records, so nothing is mixed.
  if (!locks) return fn();
  try {
    return await locks.request(`hob-store:${dbName}:${id}`, signal ? { signal } : {}, fn);
  } catch (e) {
    if (e instanceof HobError) throw e;
    if (signal?.aborted && (e as { name?: string }).name === 'AbortError') throw new AbortError('request/aborted', 'cancelled while waiting for another download of this model');
    throw e;
  }
}
