// A model server the store tests control: ranged GETs with ETags, and on
// demand no Range support, a socket dropped mid-body, a delay, a 404. It logs
// every request (method, range, status, whether it was cut) so a test can
// count exactly what a download fetched. Served cross-origin, with CORS.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  bytes: Uint8Array;
  /** The ETag header; default a hash of the bytes, null for none. */
  etag?: string | null;
  /** Honour Range requests (default true); false answers every GET with 200 and the whole file. */
  ranges?: boolean;
  /** For the n-th ranged data request (from 0): how many body bytes to send before dropping the socket; undefined sends all. */
  cut?: (req: { n: number; start: number; end: number }) => number | undefined;
  /** Waits this long before answering a data request. */
  delayMs?: number;
  /** Sent as X-Linked-ETag (how Hugging Face names the SHA-256). */
  linkedEtag?: string;
}

export interface LoggedRequest {
  method: string;
  name: string;
  range?: string;
  start?: number;
  end?: number;
  status: number;
  cut: boolean;
}

const PROBE_RANGE = 'bytes=0-0';

export class TestServer {
  readonly files = new Map<string, ServedFile>();
  readonly log: LoggedRequest[] = [];
  private readonly dataRequests = new Map<string, number>();
  private inFlight = 0;
  /** The most data requests in flight at once since the last reset(). */
  maxInFlight = 0;
  url = '';
  private server!: Server;

  static async start(): Promise<TestServer> {
    const t = new TestServer();
    t.server = createServer((req, res) => void t.handle(req, res));
    await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve));
    t.url = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    return t;
  }

  serve(name: string, file: ServedFile): string {
    this.files.set(name, file);
    return `${this.url}/${name}`;
  }

  /** Clears the log and the counters (the files stay). */
  reset(): void {
    this.log.length = 0;
    this.dataRequests.clear();
    this.maxInFlight = 0;
  }

  /** GETs of `name` that asked for data (not the one-byte probe). */
  dataGets(name: string): LoggedRequest[] {
    return this.log.filter((r) => r.name === name && r.method === 'GET' && r.range !== PROBE_RANGE);
  }

  probes(name: string): LoggedRequest[] {
    return this.log.filter((r) => r.name === name && r.method === 'GET' && r.range === PROBE_RANGE);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0].slice(1));
    const range = req.headers.range;
    const entry: LoggedRequest = { method: req.method ?? '', name, ...(range ? { range } : {}), status: 0, cut: false };
    this.log.push(entry);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag, Last-Modified, Accept-Ranges, X-Linked-ETag');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Headers', 'Range');
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
      entry.status = 204;
      res.writeHead(204).end();
      return;
    }
    const file = this.files.get(name);
    if (!file) {
      entry.status = 404;
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const size = file.bytes.byteLength;
    const etag = file.etag === undefined ? `"${createHash('sha256').update(file.bytes).digest('hex').slice(0, 16)}"` : file.etag;
    if (etag) res.setHeader('ETag', etag);
    if (file.linkedEtag) res.setHeader('X-Linked-ETag', file.linkedEtag);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Cache-Control', 'no-store');

    const m = range && file.ranges !== false ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    if (!m) {
      entry.status = 200;
      res.setHeader('Content-Length', size);
      res.writeHead(200);
      if (req.method === 'HEAD') return void res.end();
      return void res.end(file.bytes);
    }
    const start = Number(m[1]);
    const end = Math.min(m[2] ? Number(m[2]) : size - 1, size - 1);
    if (start > end) {
      entry.status = 416;
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    Object.assign(entry, { start, end, status: 206 });
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.setHeader('Content-Length', end - start + 1);
    if (req.method === 'HEAD') return void res.writeHead(206).end();

    const isData = range !== PROBE_RANGE;
    const n = isData ? (this.dataRequests.get(name) ?? 0) : -1;
    if (isData) this.dataRequests.set(name, n + 1);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (isData && file.delayMs) await new Promise((r) => setTimeout(r, file.delayMs));
      const body = file.bytes.subarray(start, end + 1);
      const cutAt = isData ? file.cut?.({ n, start, end }) : undefined;
      res.writeHead(206);
      if (cutAt === undefined || cutAt >= body.byteLength) {
        await new Promise<void>((resolve) => res.end(body, resolve));
        return;
      }
      // Half a body, then a dead socket: what a dropped connection looks like to fetch().
      entry.cut = true;
      await new Promise<void>((resolve) => res.write(body.subarray(0, cutAt), () => resolve()));
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
    } finally {
      this.inFlight--;
    }
  }
}
