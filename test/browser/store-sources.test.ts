// The model store's sources and API in headless Chromium: each bad source has
// its own typed error and leaves nothing behind; two tabs share one download;
// a picked file and a split GGUF are stored as one model; list, get, delete,
// usage, whole-file SHA-256, reads through the ByteSource, and the store in a
// worker.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { GgufWriter } from '../gguf/writer.js';
import { startServer } from './harness.js';
import {
  CHUNK_BYTES,
  DB_NAME,
  chunksOf,
  download,
  launchStoreBrowser,
  newTab,
  openStorePage,
  progressProblems,
  sha256,
  storeCall,
  storedDigest,
  tinyModel,
} from './store-helpers.js';
import { TestServer } from './test-server.js';

const model = tinyModel();
const nChunks = Math.ceil(model.bytes.byteLength / CHUNK_BYTES);

/** The two parts of a split GGUF, llama.cpp's gguf-split layout: metadata in the first, split.* keys in both. */
function splitModel(): { parts: Uint8Array[]; nParams: number } {
  const fill = (out: Float32Array, start: number): void => {
    for (let i = 0; i < out.length; i++) out[i] = Math.sin(start + i);
  };
  const split = (w: GgufWriter, no: number): GgufWriter =>
    w.addKv('split.no', no, 'uint16').addKv('split.count', 2, 'uint16').addKv('split.tensors.count', 4, 'int32');
  const a = split(new GgufWriter().addKv('general.architecture', 'llama', 'string').addKv('llama.context_length', 512, 'uint32'), 0)
    .addTensor('token_embd.weight', [256, 256], 'f32', fill)
    .addTensor('output_norm.weight', [64], 'f32', fill);
  const b = split(new GgufWriter(), 1).addTensor('blk.0.attn_q.weight', [256, 128], 'q8_0', fill).addTensor('output.weight', [256, 64], 'f16', fill);
  return { parts: [a.toBytes(), b.toBytes()], nParams: 256 * 256 + 64 + 256 * 128 + 256 * 64 };
}

describe('model store sources and API in Chromium', () => {
  let browser: Browser;
  let vite: { server: ViteDevServer; url: string };
  let files: TestServer;

  before(async () => {
    [browser, vite, files] = await Promise.all([launchStoreBrowser(), startServer(false), TestServer.start()]);
  });
  after(async () => {
    await browser?.close();
    await vite?.server.close();
    await files?.close();
  });

  test('no Range support, a 404, a non-GGUF file and a truncated GGUF each fail with their own code, and nothing is stored', async () => {
    const { context, page, errors } = await openStorePage(browser, vite.url);
    files.reset();

    const noRange = await download(page, files.serve('norange.gguf', { bytes: model.bytes, ranges: false }));
    assert.equal(noRange.result.error?.code, 'network/no-range', JSON.stringify(noRange.result));
    assert.equal(noRange.result.error?.name, 'NetworkError');
    assert.match(noRange.result.error!.message, /cannot be downloaded resumably.*importFile/);

    const missing = await download(page, `${files.url}/missing.gguf`);
    assert.equal(missing.result.error?.code, 'network/http-status', JSON.stringify(missing.result));
    assert.equal(missing.result.error?.details?.status, 404);
    assert.match(missing.result.error!.message, /HTTP 404/);

    const random = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
    const notGguf = await download(page, files.serve('notgguf.gguf', { bytes: random }));
    assert.equal(notGguf.result.error?.code, 'gguf/bad-magic', JSON.stringify(notGguf.result));
    assert.equal(notGguf.result.error?.name, 'ModelFormatError');
    assert.equal(files.dataGets('notgguf.gguf').length, 1, 'only the first chunk was fetched');

    const cutAt = Math.floor(model.bytes.byteLength * 0.7);
    const truncated = await download(page, files.serve('truncated.gguf', { bytes: model.bytes.subarray(0, cutAt) }));
    assert.equal(truncated.result.error?.code, 'gguf/truncated', JSON.stringify(truncated.result));
    assert.match(truncated.result.error!.message, /tensor blk\.\d\.\w+\.weight ends at byte \d+, but the file has only \d+ bytes/);
    assert.equal(truncated.result.error?.details?.fileBytes, cutAt);
    assert.equal(files.dataGets('truncated.gguf').length, 1, 'the header told before the rest was fetched');

    assert.deepEqual((await storeCall(page, 'list')).value, [], 'no failed source left a record');
    assert.deepEqual((await storeCall(page, 'usage')).value.storedBytes, 0);
    const nf = await storeCall(page, 'openModelSource', 'never-stored');
    assert.equal(nf.error?.code, 'store/not-found');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('two tabs downloading the same model: one fetches every chunk once, the other waits and reuses it', async () => {
    const url = files.serve('shared.gguf', { bytes: model.bytes, delayMs: 20 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const other = await newTab(context, vite.url);
    const [a, b] = await Promise.all([download(page, url, { parallel: 2 }), download(other.page, url, { parallel: 2 })]);
    assert.equal(a.result.value?.state, 'complete', JSON.stringify(a.result.error));
    assert.equal(b.result.value?.state, 'complete', JSON.stringify(b.result.error));
    assert.deepEqual(chunksOf(files.dataGets('shared.gguf')), [...Array(nChunks).keys()], 'each chunk fetched once in all');
    assert.equal(files.probes('shared.gguf').length, 1, 'the waiting tab found the model stored and asked nothing');
    assert.deepEqual(progressProblems(a.events, model.bytes.byteLength), []);
    assert.deepEqual(progressProblems(b.events, model.bytes.byteLength), []);
    assert.deepEqual((await storedDigest(other.page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual([...errors, ...other.errors], []);
    await context.close();
  });

  test('a file the user picked is stored in chunks, read back byte for byte, and not stored twice', async () => {
    const { context, page, errors } = await openStorePage(browser, vite.url);
    await page.setInputFiles('#file', { name: 'picked.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(model.bytes) });
    files.reset();
    const run = (): Promise<any> =>
      page.evaluate(
        async ({ chunk, db }) => {
          const t = (window as any).storeTest;
          const store = t.openModelStore({ chunkSizeBytes: chunk, dbName: db });
          const events: any[] = [];
          const file = (document.getElementById('file') as HTMLInputElement).files![0];
          const result = await t.attempt(store.importFile(file, { onProgress: (p: any) => events.push(p) }));
          return { result, events };
        },
        { chunk: CHUNK_BYTES, db: DB_NAME },
      );
    const first = await run();
    assert.equal(first.result.value?.id, 'picked.gguf', JSON.stringify(first.result.error));
    assert.equal(first.result.value.state, 'complete');
    assert.equal(first.result.value.parts[0].fileName, 'picked.gguf');
    assert.equal(first.result.value.gguf.architecture, 'llama');
    assert.deepEqual(progressProblems(first.events, model.bytes.byteLength), []);
    assert.deepEqual((await storedDigest(page, 'picked.gguf')).value, { sha256: sha256(model.bytes), sizeBytes: model.bytes.byteLength });
    const again = await run();
    assert.equal(again.result.value?.state, 'complete');
    assert.equal(again.result.value.createdAtMs, first.result.value.createdAtMs, 'the stored copy was reused');
    assert.equal(files.log.length, 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a split GGUF named by one part is stored as one model with a summary over all parts', async () => {
    const { parts, nParams } = splitModel();
    const urls = parts.map((bytes, k) => files.serve(`split-0000${k + 1}-of-00002.gguf`, { bytes }));
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const { result, events } = await download(page, urls[1]);
    const m = result.value;
    assert.equal(m?.state, 'complete', JSON.stringify(result.error));
    assert.equal(m.id, urls[0], 'the id is the first part');
    assert.deepEqual(
      m.parts.map((p: any) => [p.url, p.sizeBytes]),
      urls.map((u, k) => [u, parts[k].byteLength]),
    );
    assert.equal(m.sizeBytes, parts[0].byteLength + parts[1].byteLength);
    assert.equal(m.gguf.splitCount, 2);
    assert.equal(m.gguf.nParams, nParams);
    assert.deepEqual(m.gguf.types, { f32: 2, q8_0: 1, f16: 1 });
    assert.equal(m.gguf.contextLength, 512);
    assert.deepEqual(progressProblems(events, m.sizeBytes), []);
    const digests = await page.evaluate(
      async ({ id, chunk, db }) => {
        const t = (window as any).storeTest;
        const store = t.openModelStore({ chunkSizeBytes: chunk, dbName: db });
        const out: string[] = [];
        for (const src of await store.openModelParts(id)) {
          const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await t.readSourceBytes(src)));
          out.push([...d].map((b) => b.toString(16).padStart(2, '0')).join(''));
        }
        return out;
      },
      { id: m.id, chunk: CHUNK_BYTES, db: DB_NAME },
    );
    assert.deepEqual(digests, parts.map(sha256));
    const single = await storeCall(page, 'openModelSource', m.id);
    assert.equal(single.error?.code, 'argument/invalid');
    assert.match(single.error!.message, /split in 2 parts/);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('list, get, usage and delete describe and remove what is stored', async () => {
    const other = tinyModel({ nLayer: 2 }).bytes;
    const urlA = files.serve('a.gguf', { bytes: model.bytes });
    const urlB = files.serve('b.gguf', { bytes: other });
    const { context, page, errors } = await openStorePage(browser, vite.url);
    assert.equal((await download(page, urlA)).result.value?.state, 'complete');
    assert.equal((await download(page, urlB, { id: 'model-b' })).result.value?.state, 'complete');
    const list = (await storeCall(page, 'list')).value;
    assert.deepEqual(
      list.map((m: any) => [m.id, m.state, m.storedBytes]),
      [
        [urlA, 'complete', model.bytes.byteLength],
        ['model-b', 'complete', other.byteLength],
      ],
    );
    assert.equal((await storeCall(page, 'get', 'model-b')).value.parts[0].url, urlB);
    const usage = (await storeCall(page, 'usage')).value;
    assert.equal(usage.models, 2);
    assert.equal(usage.completeModels, 2);
    assert.equal(usage.storedBytes, model.bytes.byteLength + other.byteLength);
    assert.ok(usage.quotaBytes > 0 && usage.usageBytes >= usage.storedBytes, JSON.stringify(usage));
    assert.equal(typeof usage.persisted, 'boolean');

    assert.equal((await storeCall(page, 'delete', urlA)).value, true);
    assert.equal((await storeCall(page, 'delete', urlA)).value, false);
    assert.equal((await storeCall(page, 'get', urlA)).value, undefined);
    assert.deepEqual((await storeCall(page, 'list')).value.map((m: any) => m.id), ['model-b']);
    assert.equal((await storeCall(page, 'usage')).value.storedBytes, other.byteLength);
    const chunksLeft = await page.evaluate(({ db, id }) => (window as any).storeTest.storedChunks(db, id), { db: DB_NAME, id: urlA });
    assert.deepEqual(chunksLeft, [], 'delete removed the chunks too');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a whole-file SHA-256 is checked before completion: from the caller, from X-Linked-ETag, and a wrong one fails', async () => {
    const digest = sha256(model.bytes);
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const url = files.serve('hashed.gguf', { bytes: model.bytes });
    const wrong = await download(page, url, { sha256: 'ab'.repeat(32) });
    assert.equal(wrong.result.error?.code, 'store/corrupt', JSON.stringify(wrong.result));
    assert.equal(wrong.result.error?.details?.actual, digest);
    assert.equal((await storeCall(page, 'get', url)).value, undefined, 'a file that fails its hash is not kept');

    const right = await download(page, url, { sha256: digest.toUpperCase() });
    assert.equal(right.result.value?.parts[0].sha256, digest, JSON.stringify(right.result.error));
    const linked = files.serve('linked.gguf', { bytes: model.bytes, linkedEtag: `"${digest}"` });
    assert.equal((await download(page, linked)).result.value?.parts[0].sha256, digest);
    assert.equal((await storeCall(page, 'verify', linked)).value.ok, true);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the ByteSource reads ranges across chunks exactly, and refuses reads outside the model', async () => {
    const url = files.serve('ranges.gguf', { bytes: model.bytes });
    const { context, page, errors } = await openStorePage(browser, vite.url);
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    const size = model.bytes.byteLength;
    const ranges: [number, number][] = [
      [0, 8],
      [CHUNK_BYTES - 10, 20],
      [CHUNK_BYTES * 2 - 1, CHUNK_BYTES * 3 + 2],
      [size - 5, 5],
      [100, 0],
    ];
    const r = await page.evaluate(
      async ({ url, ranges, chunk, db, size }) => {
        const t = (window as any).storeTest;
        const store = t.openModelStore({ chunkSizeBytes: chunk, dbName: db });
        const src = await store.openModelSource(url);
        const reads: number[][] = [];
        for (const [o, n] of ranges) reads.push([...(await src.read(o, n))]);
        const outside = await t.attempt(src.read(size - 4, 8));
        return { sizeBytes: src.sizeBytes, reads, outside };
      },
      { url, ranges, chunk: CHUNK_BYTES, db: DB_NAME, size },
    );
    assert.equal(r.sizeBytes, size);
    ranges.forEach(([o, n], k) => assert.deepEqual(r.reads[k], [...model.bytes.subarray(o, o + n)], `read ${o}+${n}`));
    assert.equal(r.outside.error?.code, 'range/out-of-bounds');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("http(s) images (the API's fetch): stored once and read again with no request; a cut download stores nothing and a retry succeeds; no Range, no image", async () => {
    // A PNG signature then noise: the store's check sniffs the format, no decoder runs here.
    const png = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    let cutting = true;
    const url = files.serve('photo.png', { bytes: png, cut: () => (cutting ? 1000 : undefined) });
    const whole = files.serve('whole.png', { bytes: png, ranges: false });
    const html = files.serve('login.png', { bytes: new TextEncoder().encode('<html>sign in</html>') });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const fetchImage = (u: string) => page.evaluate((u) => (window as any).storeTest.attempt((window as any).storeTest.fetchImage(u)), u);
    const stored = (id: string) => page.evaluate((id) => (window as any).storeTest.storedChunks((window as any).storeTest.IMAGE_STORE_DB, id), id);

    const cut = await fetchImage(url);
    assert.equal(cut.error?.code, 'network/interrupted', JSON.stringify(cut));
    assert.equal(files.dataGets('photo.png').length, 4, 'the first try and its 3 retries');
    assert.deepEqual(await stored(url), [], 'nothing half-stored');
    cutting = false;
    const first = await fetchImage(url);
    assert.deepEqual(first.value, { sizeBytes: png.byteLength, head: [...png.subarray(0, 8)] }, JSON.stringify(first.error));
    assert.deepEqual(await stored(url), [0]);
    files.reset();
    assert.deepEqual((await fetchImage(url)).value, first.value);
    assert.equal(files.log.length, 0, 'read from the store with no request');

    assert.deepEqual((await fetchImage(whole)).value, first.value);
    files.reset();
    assert.deepEqual((await fetchImage(whole)).value, first.value);
    assert.equal(files.log.length, 0, 'a server without Range support is stored too');

    const notImage = await fetchImage(html);
    assert.equal(notImage.error?.code, 'image/invalid', JSON.stringify(notImage));
    assert.deepEqual(await stored(html), []);
    assert.deepEqual((await storeCall(page, 'list')).value, [], 'images are not in the models database');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the store works in a worker: it lists and reads what the page stored, and its errors keep their code', async () => {
    const url = files.serve('worker.gguf', { bytes: model.bytes });
    const { context, page, errors } = await openStorePage(browser, vite.url);
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    const r = await page.evaluate(({ chunk, db, url }) => (window as any).storeTest.inWorker({ chunkSizeBytes: chunk, dbName: db }, url), {
      chunk: CHUNK_BYTES,
      db: DB_NAME,
      url,
    });
    assert.deepEqual(r.ids, [url]);
    assert.equal(r.sizeBytes, model.bytes.byteLength);
    assert.deepEqual(r.head, [...model.bytes.subarray(0, 8)]);
    assert.deepEqual(r.error, { code: 'store/not-found', name: 'StoreError' });
    assert.deepEqual(errors, []);
    await context.close();
  });
});
