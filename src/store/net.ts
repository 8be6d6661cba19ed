// Fetching with an idle timeout, and failures that say what happened. A
// server that stalls before its headers or in the middle of a body used to
// leave a download silent for five minutes (the runtime's own limits) and
// then fail with "terminated"; a refused connection, an unknown host and a
// redirect loop all read "fetch failed". Here a stall is a NetworkError
// 'network/timeout' after `idleTimeoutMs` without a byte, and every other
// failure names its cause. Used by the browser store and the Node cache.
import { AbortError, NetworkError } from '../shared/errors.js';

/** How long a download may go without receiving a byte (headers included), by default. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export interface IdleFetch {
  response: Response;
  /** The body, chunk by chunk; a stall longer than the idle timeout throws 'network/timeout'. */
  body: AsyncIterable<Uint8Array>;
  /** Drops the body unread (an error status, a response not wanted). */
  cancel(): void;
}

/** Thrown into the fetch to tell our timeout from the caller's abort. */
class IdleTimeout extends Error {}

/**
 * fetch(url, init) with an idle timeout over the wait for the headers and
 * each wait for the next body chunk. The caller's signal aborts it (an
 * AbortError 'request/aborted'); a timeout is 'network/timeout'; any other
 * failure is 'network/interrupted' naming the cause (see describeFetchFailure).
 */
export async function fetchWithIdleTimeout(
  url: string,
  init: RequestInit,
  idleTimeoutMs: number = DEFAULT_IDLE_TIMEOUT_MS,
): Promise<IdleFetch> {
  const outer = init.signal ?? undefined;
  const ac = new AbortController();
  const onOuterAbort = () => ac.abort(outer?.reason);
  if (outer?.aborted) throw new AbortError('request/aborted', `the download of ${url} was cancelled`);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let received = 0;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(new IdleTimeout()), idleTimeoutMs);
    // The connection keeps a Node process alive while it waits; the timer need not.
    (timer as { unref?: () => void }).unref?.();
  };
  const stop = () => {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  };
  const fail = (e: unknown, phase: string): Error => {
    stop();
    if (outer?.aborted) return new AbortError('request/aborted', `the download of ${url} was cancelled`);
    if (ac.signal.reason instanceof IdleTimeout) {
      return new NetworkError('network/timeout', `${url} sent nothing for ${formatSeconds(idleTimeoutMs)} ${phase}; giving up`, {
        url,
        idleTimeoutMs,
        receivedBytes: received,
      });
    }
    if (e instanceof NetworkError) return e;
    return new NetworkError('network/interrupted', `${phase === 'before its headers' ? 'cannot fetch' : 'lost the connection to'} ${url}: ${describeFetchFailure(e)}`, {
      url,
      receivedBytes: received,
    });
  };

  arm();
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: ac.signal });
  } catch (e) {
    throw fail(e, 'before its headers');
  }
  async function* body(): AsyncGenerator<Uint8Array> {
    if (!response.body) {
      stop();
      return;
    }
    const reader = response.body.getReader();
    try {
      for (;;) {
        arm();
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (e) {
          throw fail(e, `after ${received} bytes of its body`);
        }
        if (next.done) break;
        received += next.value.byteLength;
        yield next.value;
      }
    } finally {
      stop();
      reader.releaseLock();
      // A body left unread (the caller stopped early) must not hold the connection.
      void response.body.cancel().catch(() => {});
    }
  }
  // Until the body is read, the timer keeps running: a caller that only
  // looks at the headers cancels the body (or reads it) itself.
  return {
    response,
    body: body(),
    cancel() {
      stop();
      void response.body?.cancel().catch(() => {});
    },
  };
}

/** What went wrong in a fetch, in words: the runtime's cause when it gives one. */
export function describeFetchFailure(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } } | undefined;
  const cause = err?.cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host is unknown (${cause.message})`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the server closed the connection';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connecting timed out';
    case 'CERT_HAS_EXPIRED':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `the server's TLS certificate was refused (${cause.code})`;
  }
  if (cause?.message && /redirect count exceeded/i.test(cause.message)) return 'too many redirects (a redirect loop?)';
  if (cause?.message) return cause.message;
  return err?.message ?? String(e);
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
