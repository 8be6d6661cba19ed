// The model store in the browser HOB_BROWSER names, with that browser's
// IndexedDB, fetch and Web Locks, against a model server the test controls:
// a parallel ranged download and a load from the store with no network, a
// resume after a dropped socket and a reload, verification and repair of a
// corrupted chunk, and the quota error where the browser lets a test set
// the quota (Firefox: a fixed storage limit; Chromium: its own suite sets
// it through the DevTools protocol; WebKitGTK: no way, see docs/browsers.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { ViteDevServer } from 'vite';

import { Engine, generate, Model, Sequence, Session } from '../../src/node/index.js';
import { browserUnderTest, launchTestBrowser, type TestBrowser, type TestPage } from '../browser/drivers/index.js';
import { startServer, testdataDir } from '../browser/harness.js';
import { CHUNK_BYTES, DB_NAME, chunksOf, download, progressProblems, sha256, storeCall, storedChunks, storedDigest, tinyModel } from '../browser/store-helpers.js';
import { TestServer } from '../browser/test-server.js';

const name = browserUnderTest();
const model = tinyModel();
const nChunks = Math.ceil(model.bytes.byteLength / CHUNK_BYTES);

async function openStore(browser: TestBrowser, base: string): Promise<TestPage> {
  const page = await browser.open(`${base}/test/browser/pages/store.html`);
  await page.waitFor(() => document.title === 'ready');
  return page;
}

async function reload(page: TestPage): Promise<void> {
  await page.reload();
  await page.waitFor(() => document.title === 'ready');
}

describe(`model store in ${name}`, () => {
  let browser: TestBrowser;
  let vite: { server: ViteDevServer; url: string };
  let files: TestServer;

  before(async () => {
    [browser, vite, files] = await Promise.all([launchTestBrowser(), startServer(false), TestServer.start()]);
  });
  after(async () => {
    await browser?.close();
    await vite?.server.close();
    await files?.close();
  });

  test('a download stores every chunk once in parallel ranged requests, and the worker generates from the stored model with no request, as Node does', async () => {
    const file = 'llama-2-tiny-random.gguf';
    const bytes = new Uint8Array(readFileSync(join(testdataDir, file)));
    // Each response waits long enough that the parallel requests overlap even on a loaded machine.
    const url = files.serve(file, { bytes, delayMs: 250 });
    const chunk = 256 * 1024;
    const prompt = 'Once upon a time';
    const engine = await Engine.create({ threads: 1 });
    const m = Model.load(engine, bytes);
    const reference = (await generate(m, new Sequence(Session.create(m, { nCtx: 128 })), { temperature: 0, promptIds: m.tokenize(prompt), maxTokens: 12, ignoreEos: true })).ids;
    engine.dispose();

    files.reset();
    const page = await openStore(browser, vite.url);
    const { result, events } = await download(page, url, { parallel: 4, chunkSizeBytes: chunk });
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal(result.value.state, 'complete');
    assert.equal(result.value.gguf.architecture, 'llama');
    assert.deepEqual(progressProblems(events, bytes.byteLength), []);
    const n = Math.ceil(bytes.byteLength / chunk);
    assert.equal(files.probes(file).length, 1);
    assert.deepEqual(files.dataGets(file).map((r) => Math.floor((r.start ?? -1) / chunk)).sort((a, b) => a - b), [...Array(n).keys()], 'each chunk once');
    assert.ok(files.maxInFlight > 1, `at most ${files.maxInFlight} request in flight`);

    await reload(page);
    files.reset();
    const r = await page.evaluate(
      async ({ url, prompt, chunk }) => {
        const t = (window as any).storeTest;
        const api = t.engine();
        const m = await t.openModelStore({ chunkSizeBytes: chunk }).download(url);
        const info = await api.open({ location: { storeId: m.id }, threads: 1, contextSize: 128 });
        const out = await api.generate(1, { prompt, max_tokens: 12, temperature: 0, ignore_eos: true });
        return { arch: info.model.architecture, ids: out.ids };
      },
      { url, prompt, chunk },
    );
    assert.equal(r.arch, 'llama');
    assert.equal(files.log.length, 0, 'no request reached the model server');
    assert.deepEqual(r.ids, reference);
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  test('after the server drops the socket mid-download and the page reloads, only the missing chunks are fetched and the bytes equal the source', async () => {
    const served = { bytes: model.bytes, cut: ({ n }: { n: number }) => (n >= 6 ? 1000 : undefined) };
    const url = files.serve('cut.gguf', served);
    files.reset();
    const page = await openStore(browser, vite.url);
    const cut = await download(page, url, { parallel: 2, retries: 0 });
    assert.equal(cut.result.error?.code, 'network/interrupted', JSON.stringify(cut.result));
    assert.equal(cut.result.error?.name, 'NetworkError');
    const kept = await storedChunks(page, url);
    assert.ok(kept.length >= 5 && kept.length < nChunks, `${kept.length} chunks kept`);
    assert.equal((await storeCall(page, 'get', url)).value.state, 'partial');
    assert.equal((await storedDigest(page, url)).error?.code, 'store/incomplete', 'a partial model is never loaded');

    await reload(page);
    served.cut = () => undefined;
    files.reset();
    const resumed = await download(page, url, { parallel: 2, retries: 0 });
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    assert.deepEqual(chunksOf(files.dataGets('cut.gguf')), [...Array(nChunks).keys()].filter((i) => !kept.includes(i)));
    assert.equal(resumed.events[0].loaded, kept.length * CHUNK_BYTES, 'progress starts at the stored bytes');
    assert.deepEqual((await storedDigest(page, url)).value, { sha256: sha256(model.bytes), sizeBytes: model.bytes.byteLength });
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  test('verify finds a chunk corrupted by hand, loading fails typed, and the next download re-fetches only that chunk', async () => {
    const url = files.serve('corrupt.gguf', { bytes: model.bytes });
    const page = await openStore(browser, vite.url);
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    await page.evaluate(({ db, url }) => (window as any).storeTest.corruptChunk(db, url, 5), { db: DB_NAME, url });
    const load = await storedDigest(page, url);
    assert.equal(load.error?.code, 'store/corrupt');
    assert.equal(load.error?.details?.chunk, 5);
    files.reset();
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    assert.deepEqual(chunksOf(files.dataGets('corrupt.gguf')), [5]);

    await page.evaluate(({ db, url }) => (window as any).storeTest.corruptChunk(db, url, 3, 1234), { db: DB_NAME, url });
    const v = (await storeCall(page, 'verify', url)).value;
    assert.deepEqual({ ok: v.ok, badChunks: v.badChunks }, { ok: false, badChunks: [3] });
    files.reset();
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    assert.deepEqual(chunksOf(files.dataGets('corrupt.gguf')), [3]);
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  const quotaSkip = name === 'chromium' ? 'test/browser/store.test.ts sets the quota through the DevTools protocol' : name === 'webkit' ? 'WebKitGTK lets no test lower an origin quota (docs/browsers.md)' : false;
  test('a quota too small is a QuotaExceededError with the numbers before any chunk is fetched, and a write past the quota fails typed and stays resumable', { skip: quotaSkip }, async () => {
    // An 8 MiB storage limit for everything, in a browser of its own.
    const small = await launchTestBrowser(name, { firefox: { prefs: { 'dom.quotaManager.temporaryStorage.fixedLimit': 8192 } } });
    try {
      const big = new Uint8Array(12 << 20);
      big.set(model.bytes);
      const url = files.serve('big.gguf', { bytes: big });
      files.reset();
      const page = await openStore(small, vite.url);
      const before = await download(page, url);
      assert.equal(before.result.error?.code, 'store/quota-exceeded', JSON.stringify(before.result));
      assert.equal(before.result.error?.name, 'QuotaExceededError');
      assert.equal(before.result.error?.details?.neededBytes, big.byteLength);
      assert.ok(before.result.error!.details!.freeBytes <= 8 << 20, JSON.stringify(before.result.error?.details));
      assert.deepEqual((await storeCall(page, 'list')).value, [], 'nothing stored');
      assert.equal(files.dataGets('big.gguf').length, 0, 'no chunk was fetched');

      // The estimate lets a 1 MB model in; other data then fills the origin while it downloads.
      const slow = files.serve('slow.gguf', { bytes: model.bytes, delayMs: 150 });
      const running = download(page, slow, { parallel: 1 });
      await page.waitFor(({ db, url }) => (window as any).storeTest.storedChunks(db, url).then((c: number[]) => c.length >= 2), { db: DB_NAME, url: slow });
      const filled = await page.evaluate(async () => {
        const { quota, usage } = await navigator.storage.estimate();
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const r = indexedDB.open('filler', 1);
          r.onupgradeneeded = () => r.result.createObjectStore('s');
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        // Up to 200 KB short of the quota, in 256 KiB records.
        let left = quota! - usage! - 200_000;
        let written = 0;
        for (let i = 0; left > 0 && i < 64; i++) {
          const n = Math.min(left, 256 * 1024);
          const ok = await new Promise<boolean>((resolve) => {
            const tx = db.transaction('s', 'readwrite');
            // Random bytes: Firefox compresses IndexedDB values, so a constant fill would take no room.
            const bytes = new Uint8Array(n);
            for (let at = 0; at < n; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(n, at + 65536)));
            tx.objectStore('s').put(bytes, i);
            tx.oncomplete = () => resolve(true);
            tx.onabort = () => resolve(false);
          });
          if (!ok) break;
          left -= n;
          written += n;
        }
        db.close();
        return written;
      });
      const during = (await running).result;
      console.log(`quota: before ${JSON.stringify(before.result.error?.details)}; filled ${filled} bytes; during ${JSON.stringify(during.error?.details)}`);
      assert.equal(during.error?.code, 'store/quota-exceeded', JSON.stringify(during));
      assert.equal((await storeCall(page, 'get', slow)).value.state, 'partial');
      assert.deepEqual(await page.errors(), []);
      await page.close();
    } finally {
      await small.close();
    }
  });
});
