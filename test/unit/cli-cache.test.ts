// The Node model cache behind `hob --model URL`: one download, then no
// request at all; a cut download resumes with a Range request guarded by
// If-Range; a changed file restarts; HTTP errors are typed. Against a local
// server that can cut a response mid-body.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { HobError } from '../../src/shared/errors.js';
import { cachedModel, cacheFileName } from '../../src/store/file-cache.js';
import { testdataDir as testdata } from '../data.js';

const root = resolve(import.meta.dirname, '../..');
const modelPath = join(testdata, 'llama-2-tiny-random.gguf');
const model = readFileSync(modelPath);

interface Logged {
  range?: string;
  ifRange?: string;
  status: number;
}
const log: Logged[] = [];
let etag = '"v1"';
/** Bytes of the next full or ranged body to send before dropping the socket. */
let cutAfter: number | undefined;
let url = '';
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (req.url === '/models/page.gguf') {
    log.push({ status: 200 });
    return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><p>Sign in to download</p>');
  }
  if (req.url !== '/models/tiny.gguf') {
    log.push({ status: 404 });
    return void res.writeHead(404).end();
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'] as string | undefined;
  const honour = range && (!ifRange || ifRange === etag);
  const start = honour ? Number(range[1]) : 0;
  const status = honour ? 206 : 200;
  log.push({ range: req.headers.range, ifRange, status });
  const headers: Record<string, string | number> = { ETag: etag, 'Content-Length': model.length - start, 'Accept-Ranges': 'bytes' };
  if (honour) headers['Content-Range'] = `bytes ${start}-${model.length - 1}/${model.length}`;
  res.writeHead(status, headers);
  const body = model.subarray(start);
  if (cutAfter !== undefined) {
    const n = cutAfter;
    cutAfter = undefined;
    res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 20));
    return;
  }
  res.end(body);
});

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/tiny.gguf`;
});
after(() => server.close());

test('a URL is downloaded once into the cache and then read without any request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  log.length = 0;
  const progress: number[] = [];
  const a = await cachedModel(url, { dir, onProgress: (p) => progress.push(p.loaded) });
  assert.equal(a.hit, false);
  assert.equal(a.downloadedBytes, model.length);
  assert.ok(readFileSync(a.path).equals(model));
  assert.equal(a.path, join(dir, cacheFileName(url)));
  assert.match(cacheFileName(url), /^[0-9a-f]{12}-tiny\.gguf$/);
  assert.equal(progress.at(-1), model.length);
  assert.ok(progress.every((v, i) => i === 0 || v >= progress[i - 1]), 'progress only grows');
  const b = await cachedModel(url, { dir });
  assert.equal(b.hit, true);
  assert.equal(b.path, a.path);
  assert.equal(log.length, 1, 'the second call made no request');
  assert.equal(existsSync(`${a.path}.part`), false);
});

test('a cut download resumes from where it stopped with Range and If-Range', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  log.length = 0;
  cutAfter = 600_000;
  await assert.rejects(cachedModel(url, { dir }), (e: unknown) => e instanceof HobError && e.code === 'network/interrupted');
  const part = join(dir, `${cacheFileName(url)}.part`);
  const have = statSync(part).size;
  assert.ok(have > 0 && have <= 600_000, `partial file of ${have} bytes`);
  const r = await cachedModel(url, { dir });
  assert.equal(r.hit, false);
  assert.equal(r.downloadedBytes, model.length - have);
  assert.ok(readFileSync(r.path).equals(model));
  assert.deepEqual(log[1], { range: `bytes=${have}-`, ifRange: '"v1"', status: 206 });
});

test('a file changed on the server since the partial download is fetched again from the start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  log.length = 0;
  cutAfter = 300_000;
  await assert.rejects(cachedModel(url, { dir }));
  etag = '"v2"';
  try {
    const r = await cachedModel(url, { dir });
    assert.equal(log[1].status, 200);
    assert.equal(r.downloadedBytes, model.length);
    assert.ok(readFileSync(r.path).equals(model));
  } finally {
    etag = '"v1"';
  }
});

test('an HTTP error is a typed network error with the status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  await assert.rejects(cachedModel(url.replace('tiny', 'missing'), { dir }), (e: unknown) => {
    assert.ok(e instanceof HobError);
    assert.equal(e.code, 'network/http-status');
    assert.equal(e.details.status, 404);
    return true;
  });
});

test('a download that is not a GGUF (an HTML page) is refused and leaves nothing in the cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  await assert.rejects(cachedModel(url.replace('tiny', 'page'), { dir }), (e: unknown) => {
    assert.ok(e instanceof HobError);
    assert.equal(e.code, 'gguf/bad-magic');
    assert.match(e.message, /is not a GGUF file \(text\/html\)/);
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test('hob --model URL downloads through the cache, prints no progress off a terminal, and reuses the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cache-'));
  const run = promisify(execFile);
  const env = { ...process.env, HOB_CACHE_DIR: dir };
  log.length = 0;
  const a = await run('node', [join(root, 'bin/hob.mjs'), 'tokenize', '--model', url, '--text', 'Hello world'], { env });
  assert.deepEqual(JSON.parse(a.stdout), { ids: [1, 15043, 3186] });
  assert.equal(a.stderr, '');
  const b = await run('node', [join(root, 'bin/hob.mjs'), 'tokenize', url, '--text', 'Hello world'], { env });
  assert.equal(b.stdout, a.stdout);
  assert.equal(log.length, 1);
  const bad = await run('node', [join(root, 'bin/hob.mjs'), 'inspect', url.replace('tiny', 'nope')], { env }).catch((e) => e);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^hob: cannot fetch .*nope\.gguf: HTTP 404 \[network\/http-status\]\n$/);
});
