// The engine's lifetime on the caller's side of the worker. Every call into
// the worker goes through a WorkerCalls, so that unload() or the worker's
// death settles the calls still waiting (EngineClosedError) instead of
// leaving their promises pending forever (a terminated worker answers
// nothing), and so that the host knows when the engine waits on the worker
// (Node keeps the process alive only then).
import { AbortError, EngineClosedError, type HobError } from '../shared/errors.js';

/** What the entry that started the worker can tell or do besides terminate it. */
export interface WorkerHooks {
  /** Registers a listener for the worker stopping on its own (crash, out of memory). */
  onExit?(listener: (why: string) => void): void;
  /** Told when the engine starts (true) and stops (false) waiting on the worker. */
  setBusy?(busy: boolean): void;
}

export class WorkerCalls {
  private pending = 0;
  private closedBy?: HobError;
  private readonly rejecters = new Set<(e: HobError) => void>();

  constructor(private readonly setBusy?: (busy: boolean) => void) {}

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Throws the reason the engine closed, if it has. */
  check(): void {
    if (this.closedBy) throw this.closedBy;
  }

  /** Runs a call into the worker; it rejects with the close reason if the engine closes first. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    this.check();
    if (this.pending++ === 0) this.setBusy?.(true);
    let reject!: (e: HobError) => void;
    const closed = new Promise<never>((_, r) => (reject = r));
    this.rejecters.add(reject);
    try {
      return await Promise.race([fn(), closed]);
    } finally {
      this.rejecters.delete(reject);
      if (--this.pending === 0) this.setBusy?.(false);
    }
  }

  /** Settles every waiting call with `reason`; later calls throw it at once. */
  close(reason: HobError = new EngineClosedError('engine/closed', 'the engine was unloaded')): void {
    if (this.closedBy) return;
    this.closedBy = reason;
    for (const r of this.rejecters) r(reason);
    this.rejecters.clear();
  }
}

/** A promise that rejects with AbortError when `signal` aborts (never, without one), and a function that stops listening. */
export function abortion(signal: AbortSignal | undefined, message: string): { promise: Promise<never>; dispose(): void } {
  let dispose = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    if (!signal) return;
    const onAbort = () => reject(new AbortError('request/aborted', message));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  promise.catch(() => {});
  return { promise, dispose: () => dispose() };
}
