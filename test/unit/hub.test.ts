// Models by name on Hugging Face (hf:OWNER/REPO[:QUANT]): parsing the
// reference, picking the quant among a repository's files (default Q4_K_M,
// else the nearest one Hob runs), split files and the vision projector, the
// typed errors, and the whole path (Hub API listing, download, load) in
// createEngine and the hob CLI, against a local server that answers as the
// Hub does (paged tree listings, resolve/ URLs with ranges, 404s).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { createEngine, HobError, HubError } from '../../src/node/index.js';
import { chooseProjector, chooseQuant, groupChoices, quantOf } from '../../src/store/hub-quants.js';
import { cacheFileName } from '../../src/store/file-cache.js';
import { parseHubRef, pickHubModel, resolveHubModel } from '../../src/store/hub.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { splitGguf } from '../gguf/split.js';
import { buildVisionProjector, buildVisionTextModel, makeVisionSpec, makeVisionTextSpec, testImage, toPpm } from '../gguf/vision-models.js';

const root = resolve(import.meta.dirname, '../..');
const f = (path: string, sizeBytes = 1000) => ({ path, sizeBytes });

test('a reference names a repository, a revision, a quant or a file; anything else is argument/invalid', () => {
  assert.deepEqual(parseHubRef('hf:bartowski/Llama-3.2-1B-Instruct-GGUF'), { repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF', revision: 'main' });
  assert.deepEqual(parseHubRef('hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'), { repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF', revision: 'main', quant: 'Q4_K_M' });
  assert.deepEqual(parseHubRef('hf:a/b@v1.0:q8_0'), { repo: 'a/b', revision: 'v1.0', quant: 'q8_0' });
  assert.deepEqual(parseHubRef('hf:a/b/sub/m-Q6_K.gguf'), { repo: 'a/b', revision: 'main', file: 'sub/m-Q6_K.gguf' });
  for (const bad of ['hf:', 'hf:a', 'hf:a/b/c', 'hf:a/b/../x.gguf', 'hf:../b', 'hf:a/b:Q4 K']) {
    assert.throws(() => parseHubRef(bad), (e: unknown) => e instanceof HobError && e.code === 'argument/invalid', bad);
  }
});

test('quant names are read from file names, split parts included', () => {
  assert.equal(quantOf('Llama-3.2-1B-Instruct-Q4_K_M.gguf'), 'Q4_K_M');
  assert.equal(quantOf('qwen2.5-0.5b-instruct-q8_0-00001-of-00002.gguf'), 'Q8_0');
  assert.equal(quantOf('dir/model.IQ4_XS.gguf'), 'IQ4_XS');
  assert.equal(quantOf('model-fp16.gguf'), 'F16');
  assert.equal(quantOf('model-Q4_K_L.gguf'), 'Q4_K_L');
  assert.equal(quantOf('model.gguf'), undefined);
});

test('the default pick is Q4_K_M, else the nearest quant Hob runs; an asked quant matches case-insensitively', () => {
  const files = [f('m-Q2_K.gguf', 100), f('m-Q4_K_M.gguf', 200), f('m-Q8_0.gguf', 400), f('m-IQ4_XS.gguf', 180), f('README.md')];
  const choices = groupChoices(files);
  assert.deepEqual(choices.map((c) => c.quant), ['Q2_K', 'IQ4_XS', 'Q4_K_M', 'Q8_0']);
  assert.equal(chooseQuant(choices)?.quant, 'Q4_K_M');
  assert.equal(chooseQuant(choices, 'q8_0')?.quant, 'Q8_0');
  assert.equal(chooseQuant(choices, 'Q4_K')?.quant, 'Q4_K_M', 'Q4_K is Q4_K_M');
  assert.equal(chooseQuant(choices, 'Q5_K_M'), undefined);
  // No Q4_K_M: IQ4_XS (4.25 bits) is nearer but Hob lacks its kernels; Q4_0 (4.34) and Q5_K_M (5.33) run.
  const noDefault = groupChoices([f('m-IQ4_XS.gguf', 180), f('m-Q4_0.gguf', 190), f('m-Q5_K_M.gguf', 250), f('m-Q3_K_M.gguf', 150)]);
  assert.equal(chooseQuant(noDefault)?.quant, 'Q4_0');
  assert.equal(chooseQuant(groupChoices([f('m-Q6_K.gguf', 300), f('m-Q3_K_S.gguf', 120)]))?.quant, 'Q3_K_S', '3.41 bits is nearer 4.58 than 6.14');
});

test('split parts are one choice when all are listed; a vision projector is found next to the model', () => {
  const files = [
    f('m-Q8_0-00001-of-00003.gguf', 10), f('m-Q8_0-00002-of-00003.gguf', 10), f('m-Q8_0-00003-of-00003.gguf', 5),
    f('m-Q4_K_M-00001-of-00002.gguf', 10), // its second part is missing
    f('mmproj-m-f16.gguf', 3), f('mmproj-m-Q8_0.gguf', 2), f('imatrix.gguf', 1),
  ];
  const choices = groupChoices(files);
  assert.equal(choices.length, 1);
  assert.deepEqual(choices[0].paths, ['m-Q8_0-00001-of-00003.gguf', 'm-Q8_0-00002-of-00003.gguf', 'm-Q8_0-00003-of-00003.gguf']);
  assert.equal(choices[0].sizeBytes, 25);
  assert.equal(chooseProjector(files, 'm-Q8_0-00001-of-00003.gguf')?.path, 'mmproj-m-Q8_0.gguf', 'the projector nearest the model in bits');
  assert.equal(chooseProjector(files, 'sub/m-F16.gguf')?.path, 'mmproj-m-f16.gguf', 'a projector above the model folder');
  assert.equal(chooseProjector([f('a.gguf')], 'a.gguf'), undefined);
});

test('a missing quant, a repository without GGUF and a missing file are typed HubErrors listing what exists', () => {
  const ref = parseHubRef('hf:o/r:Q5_K_M');
  const files = [f('m-Q4_K_M.gguf'), f('m-Q8_0.gguf')];
  assert.throws(() => pickHubModel(ref, files, 'http://hub.test'), (e: unknown) =>
    e instanceof HubError && e.code === 'hub/quant-not-found' && e.details.available === 'Q4_K_M, Q8_0' && /has no Q5_K_M file; it has Q4_K_M, Q8_0/.test(e.message));
  assert.throws(() => pickHubModel(parseHubRef('hf:o/r'), [f('README.md'), f('model.safetensors')], 'http://hub.test'), (e: unknown) =>
    e instanceof HubError && e.code === 'hub/no-gguf' && e.details.nFiles === 2);
  assert.throws(() => pickHubModel(parseHubRef('hf:o/r/x.gguf'), files, 'http://hub.test'), (e: unknown) =>
    e instanceof HubError && e.code === 'hub/file-not-found' && String(e.details.available).includes('m-Q8_0.gguf'));
  assert.throws(() => pickHubModel(parseHubRef('hf:o/r/mmproj-f16.gguf'), [...files, f('mmproj-f16.gguf')], 'http://hub.test'), (e: unknown) =>
    e instanceof HubError && e.code === 'hub/file-not-found' && /not a model's weights/.test(e.message));
  const m = pickHubModel(parseHubRef('hf:o/r@dev/m-Q8_0.gguf'), files, 'http://hub.test/');
  assert.equal(m.parts[0].url, 'http://hub.test/o/r/resolve/dev/m-Q8_0.gguf');
  assert.equal(m.ref, 'hf:o/r@dev/m-Q8_0.gguf');
});

// ---- a Hub-shaped server -------------------------------------------------------

const single = writeRandomLlama(makeSpec('tiny', { weightType: 'q8_0' }));
let parts: Uint8Array[] = [];
/** Repository files: path → bytes (a listed size without bytes is a file never downloaded). */
const repos = new Map<string, Map<string, Uint8Array | number>>();
const requests: string[] = [];
let base = '';
/** Entries per page of the tree listing (the Hub sends 1000; small here to page). */
const PAGE = 3;

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const u = new URL(req.url ?? '/', base);
  requests.push(`${req.method} ${u.pathname}${u.search}`);
  const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(u.pathname);
  if (tree) {
    const files = repos.get(decodeURIComponent(tree[1]));
    if (!files || tree[2] !== 'main') return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Repository not found"}');
    const all = [...files].map(([path, v]) => {
      const size = typeof v === 'number' ? v : v.byteLength;
      // Large files are in LFS: the Hub reports their size under lfs.
      return { type: 'file', oid: 'x', size: path.endsWith('.gguf') ? 130 : size, path, ...(path.endsWith('.gguf') ? { lfs: { oid: 'y', size, pointerSize: 130 } } : {}) };
    });
    const start = Number(u.searchParams.get('cursor') ?? 0);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (start + PAGE < all.length) headers.Link = `<${base}${u.pathname}?recursive=true&cursor=${start + PAGE}>; rel="next"`;
    return void res.writeHead(200, headers).end(JSON.stringify([{ type: 'directory', path: 'sub', oid: 'z', size: 0 }, ...all.slice(start, start + PAGE)]));
  }
  const file = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(u.pathname);
  const body = file && repos.get(decodeURIComponent(file[1]))?.get(decodeURIComponent(file[2]));
  if (!body || typeof body === 'number') return void res.writeHead(404).end();
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Number(range[2]) + 1 : body.byteLength;
  const headers: Record<string, string | number> = { 'Content-Length': end - start, 'Accept-Ranges': 'bytes', ETag: '"e"' };
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${body.byteLength}`;
  res.writeHead(range ? 206 : 200, headers).end(body.subarray(start, end));
});

before(async () => {
  parts = await splitGguf(single, 2);
  repos.set('test/Tiny-GGUF', new Map<string, Uint8Array | number>([
    ['README.md', new TextEncoder().encode('# tiny')],
    ['tiny-Q8_0.gguf', 9_000_000_000],
    ['tiny-Q4_K_M.gguf', single],
    ['tiny-IQ2_XS.gguf', 500],
    ['mmproj-tiny-f16.gguf', 600_000_000],
  ]));
  repos.set('test/Split-GGUF', new Map<string, Uint8Array | number>([
    ['Q6_K/split-Q6_K-00001-of-00002.gguf', parts[0]],
    ['Q6_K/split-Q6_K-00002-of-00002.gguf', parts[1]],
  ]));
  repos.set('test/No-GGUF', new Map([['model.safetensors', 5]]));
  repos.set('test/Vision-GGUF', new Map<string, Uint8Array | number>([
    ['vis-Q8_0.gguf', buildVisionTextModel(makeVisionTextSpec()).toBytes()],
    ['mmproj-vis-f16.gguf', buildVisionProjector(makeVisionSpec()).toBytes()],
  ]));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

test('the repository is listed through the Hub API, page by page, with LFS sizes', async () => {
  requests.length = 0;
  const m = await resolveHubModel('hf:test/Tiny-GGUF', { endpoint: base });
  assert.equal(m.quant, 'Q4_K_M');
  assert.equal(m.ref, 'hf:test/Tiny-GGUF/tiny-Q4_K_M.gguf');
  assert.deepEqual(m.parts, [{ path: 'tiny-Q4_K_M.gguf', sizeBytes: single.byteLength, url: `${base}/test/Tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf` }]);
  assert.equal(m.projector?.path, 'mmproj-tiny-f16.gguf');
  assert.equal(m.projector?.sizeBytes, 600_000_000);
  assert.deepEqual(m.choices.map((c) => [c.quant, c.sizeBytes, c.runs]), [['IQ2_XS', 500, false], ['Q4_K_M', single.byteLength, true], ['Q8_0', 9_000_000_000, true]]);
  assert.equal(requests.length, 2, 'five files in pages of three');
  assert.ok(requests.every((r) => r.startsWith('GET /api/models/test/Tiny-GGUF/tree/main?recursive=true')));
});

test('an unknown repository or revision is hub/repo-not-found; no GGUF is hub/no-gguf', async () => {
  await assert.rejects(resolveHubModel('hf:test/Missing', { endpoint: base }), (e: unknown) => e instanceof HubError && e.code === 'hub/repo-not-found' && e.details.status === 404);
  await assert.rejects(resolveHubModel('hf:test/Tiny-GGUF@v9', { endpoint: base }), (e: unknown) => e instanceof HubError && e.code === 'hub/repo-not-found');
  await assert.rejects(resolveHubModel('hf:test/No-GGUF', { endpoint: base }), (e: unknown) => e instanceof HubError && e.code === 'hub/no-gguf');
  await assert.rejects(resolveHubModel('hf:test/Tiny-GGUF:Q5_K_M', { endpoint: base }), (e: unknown) =>
    e instanceof HubError && e.code === 'hub/quant-not-found' && e.details.available === 'IQ2_XS, Q4_K_M, Q8_0');
});

test('HF_ENDPOINT names the Hub when no endpoint is given', async () => {
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = `${base}/`;
  try {
    const m = await resolveHubModel('hf:test/Split-GGUF');
    assert.equal(m.parts.length, 2);
    assert.equal(m.parts[1].url, `${base}/test/Split-GGUF/resolve/main/Q6_K/split-Q6_K-00002-of-00002.gguf`);
  } finally {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
  }
});

test('createEngine loads hf: models, single and split, the same as the file itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-hub-'));
  const saved = process.env.HOB_CACHE_DIR;
  process.env.HOB_CACHE_DIR = dir;
  try {
    const req = { prompt: 'Hello', max_tokens: 8, temperature: 0 };
    const a = await createEngine({ model: 'hf:test/Tiny-GGUF', hubEndpoint: base, contextSize: 64, threads: 1 });
    const b = await createEngine({ model: { url: 'hf:test/Split-GGUF:q6_k' }, hubEndpoint: base, contextSize: 64, threads: 1 });
    try {
      const [ta, tb] = [(await a.completions.create(req)).choices[0].text, (await b.completions.create(req)).choices[0].text];
      assert.ok(ta.length > 0);
      assert.equal(tb, ta, 'the split model generates what the single file does');
      assert.equal((await b.info()).model.nLayer, (await a.info()).model.nLayer);
    } finally {
      await a.unload();
      await b.unload();
    }
    const names = readdirSync(dir).filter((n) => n.endsWith('.gguf')).sort();
    assert.equal(names.length, 3);
    const prefix = (n: string) => n.slice(0, 12);
    const split = names.filter((n) => n.includes('split'));
    assert.equal(prefix(split[0]), prefix(split[1]), 'split parts are cached side by side under one hash');
    assert.equal(split[0], cacheFileName(`${base}/test/Split-GGUF/resolve/main/Q6_K/split-Q6_K-00001-of-00002.gguf`));
  } finally {
    if (saved === undefined) delete process.env.HOB_CACHE_DIR;
    else process.env.HOB_CACHE_DIR = saved;
  }
});

test("projector: true and --mmproj auto load the mmproj the Hub lists next to an hf: model; none there is hub/file-not-found", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-hub-'));
  const saved = process.env.HOB_CACHE_DIR;
  process.env.HOB_CACHE_DIR = dir;
  try {
    const e = await createEngine({ model: 'hf:test/Vision-GGUF', projector: true, hubEndpoint: base, contextSize: 256, threads: 1, fitCheck: false });
    try {
      const info = await e.info();
      assert.equal(info.images, true);
      assert.equal(info.projector, 'idefics3');
    } finally {
      await e.unload();
    }
    await assert.rejects(createEngine({ model: 'hf:test/Split-GGUF', projector: true, hubEndpoint: base, threads: 1 }), (err: unknown) =>
      err instanceof HubError && err.code === 'hub/file-not-found' && err.details.repo === 'test/Split-GGUF');
    await assert.rejects(createEngine({ model: { bytes: new Uint8Array(8) }, projector: true }), (err: unknown) =>
      err instanceof HobError && err.code === 'argument/invalid' && /hf: model/.test(err.message));

    const run = promisify(execFile);
    const env = { ...process.env, HF_ENDPOINT: base, HOB_CACHE_DIR: dir };
    const cli = ['--import', 'tsx', join(root, 'src/node/cli.ts')];
    const image = join(dir, 'a.ppm');
    writeFileSync(image, toPpm(testImage(24, 24, 3)));
    const { stdout } = await run(process.execPath, [...cli, 'complete', 'hf:test/Vision-GGUF', '--mmproj', 'auto', '--image', image, '-p', 'What?', '-n', '2', '--threads', '1', '--json'], { env, cwd: root });
    assert.ok((JSON.parse(stdout) as { promptIds: number[] }).promptIds.some((id) => id < 0), 'the image is in the prompt');
    await assert.rejects(run(process.execPath, [...cli, 'complete', 'hf:test/Split-GGUF', '--mmproj', 'auto', '-p', 'x', '-n', '1'], { env, cwd: root }), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? '', /test\/Split-GGUF has no vision projector .*\[hub\/file-not-found\]/);
      return true;
    });
  } finally {
    if (saved === undefined) delete process.env.HOB_CACHE_DIR;
    else process.env.HOB_CACHE_DIR = saved;
  }
});

test('hob complete hf:… resolves through HF_ENDPOINT; a missing quant fails with its code and what exists', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-hub-'));
  const run = promisify(execFile);
  const env = { ...process.env, HF_ENDPOINT: base, HOB_CACHE_DIR: dir };
  const cli = ['--import', 'tsx', join(root, 'src/node/cli.ts')];
  const { stdout } = await run(process.execPath, [...cli, 'complete', 'hf:test/Split-GGUF', '-p', 'Hello', '-n', '4', '--temp', '0', '--threads', '1'], { env, cwd: root });
  assert.ok(stdout.length > 0);
  await assert.rejects(run(process.execPath, [...cli, 'complete', 'hf:test/Tiny-GGUF:Q5_K_M', '-p', 'x', '-n', '1'], { env, cwd: root }), (e: { stderr?: string }) => {
    assert.match(e.stderr ?? '', /has no Q5_K_M file; it has IQ2_XS, Q4_K_M, Q8_0 \[hub\/quant-not-found\]/);
    return true;
  });
});
