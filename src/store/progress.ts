// Honest download progress: bytes stored or arriving, never counted twice, so
// `loaded` only grows (a retried chunk counts again only past the bytes it had
// reached) and ends at `total`; the rate and ETA cover the last few seconds.

export interface DownloadProgress {
  /** Bytes stored or received, including those stored by an earlier attempt. */
  loaded: number;
  total: number;
  /** Over the last few seconds; 0 until bytes arrive. */
  bytesPerSecond: number;
  /** Remaining time at that rate; undefined while the rate is unknown. */
  etaMs: number | undefined;
}

const EMIT_EVERY_MS = 50;
const RATE_WINDOW_MS = 3000;

export class ProgressMeter {
  private loaded: number;
  private readonly perChunk = new Map<number, number>();
  private readonly samples: { atMs: number; loaded: number }[] = [];
  private lastEmitMs = -Infinity;

  constructor(
    private readonly total: number,
    storedBytes: number,
    private readonly onProgress?: (p: DownloadProgress) => void,
  ) {
    this.loaded = storedBytes;
    this.samples.push({ atMs: performance.now(), loaded: storedBytes });
  }

  /** Chunk `index` has `receivedBytes` of its bytes in hand. */
  chunkBytes(index: number, receivedBytes: number): void {
    const before = this.perChunk.get(index) ?? 0;
    if (receivedBytes <= before) return;
    this.perChunk.set(index, receivedBytes);
    this.loaded += receivedBytes - before;
    this.emit(false);
  }

  /** Reports the current state now, whatever the last report's time. */
  flush(): void {
    this.emit(true);
  }

  private emit(force: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.lastEmitMs < EMIT_EVERY_MS) return;
    this.lastEmitMs = now;
    this.samples.push({ atMs: now, loaded: this.loaded });
    while (this.samples.length > 2 && now - this.samples[1].atMs > RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const elapsedMs = now - first.atMs;
    const bytesPerSecond = elapsedMs > 0 ? ((this.loaded - first.loaded) * 1000) / elapsedMs : 0;
    const left = this.total - this.loaded;
    const etaMs = left === 0 ? 0 : bytesPerSecond > 0 ? (left / bytesPerSecond) * 1000 : undefined;
    this.onProgress({ loaded: this.loaded, total: this.total, bytesPerSecond, etaMs });
  }
}
