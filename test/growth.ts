// Growth-rate checks for work that untrusted input drives: feeding `factor`
// times the input must cost about `factor` times the time, never its square.
// The machine running the tests may be shared, so each size is timed several
// times and the fastest run counts (the least disturbed one), and a failing
// comparison is measured once more before it fails: a stall on a busy machine
// passes the second time, quadratic work fails both.

/** The fastest of `runs` runs of `fn`, in ms. */
export function fastestMs(fn: () => void, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Times `run(small)` and `run(big)` and returns the pair when `ok(smallMs,
 * bigMs)` holds, else measures once more and returns that pair with the
 * verdict, for the caller's assertion message.
 */
export function measureGrowth<T>(run: (input: T) => void, small: T, big: T, ok: (smallMs: number, bigMs: number) => boolean): { smallMs: number; bigMs: number; ok: boolean } {
  let smallMs = 0;
  let bigMs = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    smallMs = fastestMs(() => run(small));
    bigMs = fastestMs(() => run(big));
    if (ok(smallMs, bigMs)) return { smallMs, bigMs, ok: true };
  }
  return { smallMs, bigMs, ok: false };
}
