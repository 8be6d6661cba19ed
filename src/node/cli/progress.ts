// Progress on stderr for the CLI: a bar with bytes (or tokens), rate and ETA
// redrawn in place when stderr is a terminal; otherwise nothing while it
// runs and one plain line when it ends, so logs and pipes stay readable.

export interface ProgressBarOptions {
  /** What is counted: bytes print as KiB/MiB/GiB, tokens as numbers. */
  unit: 'bytes' | 'tokens';
  /** The stream (default process.stderr); its isTTY decides the mode. */
  stream?: NodeJS.WriteStream;
  /** Print the final line even when the stream is not a terminal (default true). */
  summary?: boolean;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

const REDRAW_MS = 80;

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly startMs = performance.now();
  private lastDrawMs = -Infinity;
  private loaded = 0;
  private total = 0;
  private rate = 0;
  private done = false;

  constructor(
    private readonly label: string,
    private readonly opts: ProgressBarOptions,
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
  }

  private amount(n: number): string {
    return this.opts.unit === 'bytes' ? formatBytes(n) : `${n}`;
  }

  private rateText(perSecond: number): string {
    return this.opts.unit === 'bytes' ? `${formatBytes(Math.round(perSecond))}/s` : `${perSecond.toFixed(1)} tokens/s`;
  }

  /** `bytesPerSecond` when the caller measures the rate itself (downloads). */
  update(loaded: number, total: number, perSecond?: number): void {
    if (this.done) return;
    this.loaded = loaded;
    this.total = total;
    const elapsed = (performance.now() - this.startMs) / 1000;
    this.rate = perSecond ?? (elapsed > 0 ? loaded / elapsed : 0);
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDrawMs < REDRAW_MS && loaded < total) return;
    this.lastDrawMs = now;
    this.draw();
  }

  private draw(): void {
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 70));
    const frac = this.total > 0 ? Math.min(1, this.loaded / this.total) : 0;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const eta = this.rate > 0 && this.total > 0 ? formatDuration((this.total - this.loaded) / this.rate) : '--:--';
    const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
    const line = `${this.label} ${bar} ${pct} ${this.amount(this.loaded)}/${this.amount(this.total)} ${this.rateText(this.rate)} ETA ${eta}`;
    this.stream.write(`\r\x1b[2K${line}`);
  }

  /** Ends the bar: on a terminal it is replaced by the summary line. */
  finish(note = ''): void {
    if (this.done) return;
    this.done = true;
    const seconds = (performance.now() - this.startMs) / 1000;
    const summary = `${this.label}: ${this.amount(this.loaded)} in ${seconds.toFixed(1)} s${note ? ` ${note}` : ''}`;
    if (this.tty) this.stream.write(`\r\x1b[2K${summary}\n`);
    else if (this.opts.summary !== false) this.stream.write(`${summary}\n`);
  }

  /** Removes the bar without a summary (on error). */
  clear(): void {
    if (this.done) return;
    this.done = true;
    if (this.tty) this.stream.write('\r\x1b[2K');
  }
}
