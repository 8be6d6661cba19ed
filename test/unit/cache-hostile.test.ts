// The Node model cache against servers that misbehave: a body cut short
// without Content-Length, two processes fetching one URL, a file changed
// under a resume without validators, gzip, a wrong 206, stalls, redirect
// loops, refused connections, wrong digests and bodies without end. A file
// enters the cache only when it is whole; every failure is typed, names its
// cause and leaves nothing that fails later.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { cachedModel, cacheFileName } from '../../src/store/file-cache.js';
import { createEngine, HobError } from '../../src/node/index.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';
import { testdataDir as testdata } from '../data.js';

const root = resolve(import.meta.dirname, '../..');
const hobBin = join(root, 'bin/hob.mjs');
const model = readFileSync(join(testdata, 'llama-2-tiny-random.gguf'));
/** Two models of the same size that differ in their weights. */
const v1 = buildRandomLlama(makeSpec('tiny', { seed: 1 })).toBytes();
const v2 = buildRandomLlama(makeSpec('tiny', { seed: 2 })).toBytes();

interface Hit {
  path: string;
  range?: string;
  ifRange?: string;
}
const log: Hit[] = [];
/** Per-path behaviour, set by each test. */
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
let base = '';
const server = createServer((req, res) => {
  const path = (req.url ?? '').split('?')[0];
  log.push({ path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
  const route = routes.get(path);
  if (route) return route(req, res);
  res.writeHead(404).end();
});

/** Serves `bytes` honouring Range; `cut` sends only that many bytes of a full response, then drops the socket. */
function serveFile(bytes: () => Uint8Array, opts: { etag?: string; length?: boolean; cut?: () => number | undefined; delayMs?: number; chunk?: number } = {}) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const data = bytes();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const honour = range && (!ifRange || ifRange === opts.etag);
    const start = honour ? Number(range[1]) : 0;
    const headers: Record<string, string | number> = {};
    if (opts.etag) headers.ETag = opts.etag;
    if (opts.length !== false) headers['Content-Length'] = data.length - start;
    if (honour) headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(honour ? 206 : 200, headers);
    const body = data.subarray(start);
    const cut = honour ? undefined : opts.cut?.();
    const end = cut ?? body.length;
    const step = opts.chunk ?? 64 << 10;
    let at = 0;
    const next = () => {
      if (at >= end) {
        if (cut !== undefined) setTimeout(() => res.destroy(), 20);
        else res.end();
        return;
      }
      const n = Math.min(step, end - at);
      res.write(body.subarray(at, at + n));
      at += n;
      if (opts.delayMs) setTimeout(next, opts.delayMs);
      else setImmediate(next);
    };
    next();
  };
}

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const freshDir = () => mkdtempSync(join(tmpdir(), 'hob-cache-'));

function hob(args: string[], env: Record<string, string>): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill(): void } {
  const child = spawn('node', [hobBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return {
    done: new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr }))),
    kill: () => child.kill('SIGKILL'),
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<HobError> {
  let caught: unknown;
  await p.catch((e: unknown) => (caught = e));
  assert.ok(caught instanceof HobError, `expected a HobError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

test('a response without Content-Length that closes early is never kept as complete', async () => {
  const dir = freshDir();
  let cut: number | undefined = 700_000;
  // HTTP/1.0 style: no length, no chunks, the end of the body is the end of
  // the connection, so a cut looks exactly like a complete response.
  routes.set('/nolength.gguf', (req) => {
    req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n');
    req.socket.end(model.subarray(0, cut ?? model.length));
  });
  const url = `${base}/nolength.gguf`;
  await rejectsWith(cachedModel(url, { dir }), 'gguf/truncated');
  assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), [], 'nothing stays in the cache');
  cut = undefined;
  const r = await cachedModel(url, { dir });
  assert.ok(readFileSync(r.path).equals(model));
});

test('two processes downloading one URL: one downloads, the other waits and reuses the file', async () => {
  const dir = freshDir();
  routes.set('/shared.gguf', serveFile(() => model, { etag: '"s1"', delayMs: 15, chunk: 32 << 10 }));
  const url = `${base}/shared.gguf`;
  log.length = 0;
  const a = hob(['tokenize', url, '--text', 'Hello world'], { HOB_CACHE_DIR: dir });
  await new Promise((r) => setTimeout(r, 300));
  const b = hob(['tokenize', url, '--text', 'Hello world'], { HOB_CACHE_DIR: dir });
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  assert.deepEqual(JSON.parse(rb.stdout), JSON.parse(ra.stdout));
  assert.match(rb.stderr, /another process \(pid \d+\) is downloading .*; waiting for it/);
  assert.equal(log.filter((h) => h.path === '/shared.gguf').length, 1, 'one download');
  assert.ok(readFileSync(join(dir, cacheFileName(url))).equals(model));
});

test('a downloader killed mid-way leaves a lock that the next process takes over, and the file comes out whole', async () => {
  const dir = freshDir();
  routes.set('/killed.gguf', serveFile(() => model, { etag: '"k1"', delayMs: 20, chunk: 16 << 10 }));
  const url = `${base}/killed.gguf`;
  const a = hob(['tokenize', url, '--text', 'x'], { HOB_CACHE_DIR: dir });
  const lock = join(dir, `${cacheFileName(url)}.lock`);
  while (!existsSync(`${join(dir, cacheFileName(url))}.part`)) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  a.kill();
  await a.done;
  assert.ok(existsSync(lock), 'the killed process left its lock');
  const r = await cachedModel(url, { dir });
  assert.ok(readFileSync(r.path).equals(model));
  assert.ok(r.downloadedBytes < model.length, 'the new process resumed the partial file');
  assert.equal(existsSync(lock), false);
});

test('a resume without ETag or Last-Modified starts over instead of mixing two versions of a changed file', async () => {
  const dir = freshDir();
  let current = v1;
  let cut: number | undefined = 300_000;
  routes.set('/novalidator.gguf', serveFile(() => current, { cut: () => cut }));
  const url = `${base}/novalidator.gguf`;
  await rejectsWith(cachedModel(url, { dir }), 'network/interrupted');
  current = v2;
  cut = undefined;
  log.length = 0;
  const r = await cachedModel(url, { dir });
  assert.equal(log[0].range, undefined, 'no Range request without a validator');
  assert.ok(readFileSync(r.path).equals(v2), 'the cached file is the new version, whole');
});

test('a gzip-encoded response is decoded and verified, not refused forever', async () => {
  const dir = freshDir();
  const gz = gzipSync(model);
  routes.set('/gzip.gguf', (_req, res) => res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': gz.length, ETag: '"g1"' }).end(gz));
  const url = `${base}/gzip.gguf`;
  const r = await cachedModel(url, { dir });
  assert.ok(readFileSync(r.path).equals(model));
});

test('a 206 that does not continue the partial file discards it and starts over; no .part is left behind', async () => {
  const dir = freshDir();
  let cut: number | undefined = 400_000;
  routes.set('/bad206.gguf', (req, res) => {
    if (req.headers.range) {
      // The wrong bytes: always from 0, whatever was asked.
      return void res.writeHead(206, { ETag: '"b1"', 'Content-Range': `bytes 0-${model.length - 1}/${model.length}`, 'Content-Length': model.length }).end(model);
    }
    serveFile(() => model, { etag: '"b1"', cut: () => cut })(req, res);
  });
  const url = `${base}/bad206.gguf`;
  await rejectsWith(cachedModel(url, { dir }), 'network/interrupted', /run again to resume$/);
  cut = undefined;
  log.length = 0;
  const r = await cachedModel(url, { dir });
  assert.ok(readFileSync(r.path).equals(model));
  assert.equal(log.length, 2);
  assert.match(log[0].range ?? '', /^bytes=\d+-$/, 'a resume was asked for');
  assert.equal(log[1].range, undefined, 'then the whole file, from the start');
  assert.deepEqual(readdirSync(dir).sort(), [cacheFileName(url)]);
});

test('a server announcing a SHA-256 that the bytes do not have: store/corrupt, nothing cached', async () => {
  const dir = freshDir();
  const wrong = createHash('sha256').update('something else').digest('hex');
  const right = createHash('sha256').update(model).digest('hex');
  routes.set('/digest-bad.gguf', (_req, res) => res.writeHead(200, { 'Content-Length': model.length, 'X-Linked-ETag': `"${wrong}"` }).end(model));
  routes.set('/digest-ok.gguf', (_req, res) => res.writeHead(200, { 'Content-Length': model.length, 'X-Linked-ETag': `"${right}"` }).end(model));
  await rejectsWith(cachedModel(`${base}/digest-bad.gguf`, { dir }), 'store/corrupt', /announced/);
  assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), []);
  const r = await cachedModel(`${base}/digest-ok.gguf`, { dir });
  assert.ok(readFileSync(r.path).equals(model));
});

test('stalls before the headers and in the middle of the body are network/timeout after the idle timeout', async () => {
  const dir = freshDir();
  routes.set('/stall-headers.gguf', () => {});
  routes.set('/stall-body.gguf', (_req, res) => {
    res.writeHead(200, { 'Content-Length': model.length });
    res.write(model.subarray(0, 100_000));
  });
  const t0 = performance.now();
  await rejectsWith(cachedModel(`${base}/stall-headers.gguf`, { dir, idleTimeoutMs: 300 }), 'network/timeout', /sent nothing for 0\.3 s before its headers/);
  await rejectsWith(cachedModel(`${base}/stall-body.gguf`, { dir, idleTimeoutMs: 300 }), 'network/timeout', /sent nothing for 0\.3 s after 100000 bytes of its body/);
  assert.ok(performance.now() - t0 < 5000);
  const cli = await hob(['inspect', `${base}/stall-headers.gguf`, '--net-timeout', '0.5'], { HOB_CACHE_DIR: dir }).done;
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^hob: .*stall-headers\.gguf sent nothing for 0\.5 s before its headers; giving up \[network\/timeout\]\n$/);
});

test('redirect loops, refused connections and unknown hosts name their cause', async () => {
  const dir = freshDir();
  routes.set('/loop.gguf', (_req, res) => res.writeHead(302, { Location: '/loop.gguf' }).end());
  await rejectsWith(cachedModel(`${base}/loop.gguf`, { dir }), 'network/interrupted', /too many redirects \(a redirect loop\?\)/);
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await rejectsWith(cachedModel(`http://127.0.0.1:${port}/m.gguf`, { dir }), 'network/interrupted', /the connection was refused/);
  await rejectsWith(cachedModel('http://no-such-host.invalid/m.gguf', { dir }), 'network/interrupted', /the host is unknown/);
});

test('odd URLs: %ZZ and a 300-character file name are cached under a valid, bounded name', async () => {
  const dir = freshDir();
  const long = `${'m'.repeat(300)}.gguf`;
  routes.set(`/${long}`, serveFile(() => model, { etag: '"l1"' }));
  routes.set('/bad%ZZname.gguf', serveFile(() => model, { etag: '"z1"' }));
  assert.match(cacheFileName(`${base}/bad%ZZname.gguf`), /^[0-9a-f]{12}-bad_ZZname\.gguf$/);
  const name = cacheFileName(`${base}/${long}`);
  assert.ok(name.length <= 120 && name.endsWith('.gguf'), name);
  for (const u of [`${base}/${long}`, `${base}/bad%ZZname.gguf`]) {
    const r = await cachedModel(u, { dir });
    assert.ok(readFileSync(r.path).equals(model));
  }
});

test('a body without end is refused once it passes what its GGUF header accounts for, with bounded memory', async () => {
  const dir = freshDir();
  const endless = (prefix: Uint8Array) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.write(prefix);
    const zeros = new Uint8Array(1 << 20);
    const more = () => {
      if (res.destroyed) return;
      if (res.write(zeros)) setImmediate(more);
      else res.once('drain', more);
    };
    more();
  };
  routes.set('/endless.gguf', endless(model));
  routes.set('/garbage.gguf', endless(new Uint8Array(4096).fill(7)));
  await rejectsWith(cachedModel(`${base}/endless.gguf`, { dir }), 'gguf/invalid', /sent more than the \d+ bytes its GGUF header accounts for/);
  await rejectsWith(cachedModel(`${base}/garbage.gguf`, { dir }), 'gguf/bad-magic', /is not a GGUF file/);
  assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), []);

  // The Node API streams a URL to the cache: the same refusal, without growing the process.
  const rss0 = process.memoryUsage().rss;
  process.env.HOB_CACHE_DIR = dir;
  try {
    await assert.rejects(createEngine({ model: `${base}/endless.gguf`, threads: 1 }), { code: 'gguf/invalid' });
  } finally {
    delete process.env.HOB_CACHE_DIR;
  }
  assert.ok(process.memoryUsage().rss - rss0 < 200 << 20, 'the process did not grow with the body');
});

test('a damaged file already in the cache is named in the error, with how to get rid of it', async () => {
  const dir = freshDir();
  const url = `${base}/damaged.gguf`;
  writeFileSync(join(dir, cacheFileName(url)), model.subarray(0, 600_000));
  const r = await hob(['tokenize', url, '--text', 'x'], { HOB_CACHE_DIR: dir }).done;
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`(in ${join(dir, cacheFileName(url))}, the cached download of ${url}; delete it to download again)`), r.stderr);
});
