// The model store in headless Chromium, with real IndexedDB, against a model
// server the test controls: progress, offline loading, resume after a cut
// connection or a reload (counting the requests), quota, corruption and
// repair, the errors of bad sources, two tabs, files, split models.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { generate } from '../../src/runtime/generate.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { startServer, testdataDir } from './harness.js';
import {
  CHUNK_BYTES,
  DB_NAME,
  chunksOf,
  download,
  launchStoreBrowser,
  newTab,
  openStorePage,
  paramCount,
  progressProblems,
  reload,
  sha256,
  storeCall,
  storedChunks,
  storedDigest,
  prng,
  tinyModel,
  waitForChunks,
} from './store-helpers.js';
import { TestServer } from './test-server.js';

const model = tinyModel();
const nChunks = Math.ceil(model.bytes.byteLength / CHUNK_BYTES);

describe('model store in Chromium', () => {
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

  test('a download stores every chunk in parallel ranged requests, with monotonic progress ending at the file size', async () => {
    // A little latency per request, so requests in parallel overlap visibly.
    const url = files.serve('model.gguf', { bytes: model.bytes, delayMs: 30 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const { result, events } = await download(page, url, { parallel: 4 });
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    const m = result.value;
    assert.equal(m.state, 'complete');
    assert.equal(m.sizeBytes, model.bytes.byteLength);
    assert.equal(m.nChunks, nChunks);
    assert.equal(m.chunkSha256.length, nChunks);
    assert.equal(m.gguf.architecture, 'llama');
    assert.equal(m.gguf.contextLength, model.spec.nCtxTrain);
    assert.equal(m.gguf.nLayer, model.spec.nLayer);
    assert.equal(m.gguf.nParams, paramCount(model.spec));
    assert.deepEqual(m.gguf.types, { f32: 3 + 9 * model.spec.nLayer });
    assert.deepEqual(progressProblems(events, model.bytes.byteLength), []);
    assert.ok(events.length >= 3, `${events.length} progress events`);
    // One probe, then each chunk exactly once.
    assert.equal(files.probes('model.gguf').length, 1);
    assert.deepEqual(chunksOf(files.dataGets('model.gguf')), [...Array(nChunks).keys()]);
    assert.ok(files.maxInFlight > 1, `at most ${files.maxInFlight} request in flight`);

    const stored = await storedDigest(page, url);
    assert.deepEqual(stored.value, { sha256: sha256(model.bytes), sizeBytes: model.bytes.byteLength });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a stored model loads and generates offline after a reload, the same ids as Node on the same file', async () => {
    const file = 'llama-2-tiny-random.gguf';
    const bytes = new Uint8Array(readFileSync(join(testdataDir, file)));
    const url = files.serve(file, { bytes });
    const prompt = 'Once upon a time';
    const nPredict = 16;
    const reference = await (async () => {
      const engine = await Engine.create({ threads: 1 });
      const m = Model.load(engine, bytes);
      const r = await generate(m, new Sequence(Session.create(m, { nCtx: 128 })), { temperature: 0, promptIds: m.tokenize(prompt), maxTokens: nPredict, ignoreEos: true });
      engine.dispose();
      return r.ids;
    })();

    const { context, page, errors } = await openStorePage(browser, vite.url);
    const first = await download(page, url, { chunkSizeBytes: 256 * 1024 });
    assert.equal(first.result.value?.state, 'complete', JSON.stringify(first.result.error));
    await reload(page);
    // The engine worker and its wasm load while online; then the network goes.
    await page.evaluate(async () => {
      const w = window as any;
      w.api = w.storeTest.engine();
      await w.api.init({ threads: 1 });
    });
    await context.setOffline(true);
    files.reset();
    const r = await page.evaluate(
      async ({ url, prompt, nPredict }) => {
        const w = window as any;
        const t = w.storeTest;
        const offline = await t.attempt(fetch(url, { cache: 'no-store' }));
        const store = t.openModelStore({ chunkSizeBytes: 256 * 1024 });
        const m = await store.download(url);
        // The worker streams the model from the stored chunks.
        const info = await w.api.open({ location: { storeId: m.id }, threads: 1, contextSize: 128 });
        const out = await w.api.generate(1, { prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
        return { fetchFailed: 'error' in offline, state: m.state, arch: info.model.architecture, ids: out.ids };
      },
      { url, prompt, nPredict },
    );
    assert.ok(r.fetchFailed, 'the network is blocked for the page');
    assert.equal(r.state, 'complete');
    assert.equal(r.arch, 'llama');
    assert.equal(files.log.length, 0, 'no request reached the model server');
    assert.deepEqual(r.ids, reference);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('after the server drops the socket mid-download and the page reloads, only the missing chunks are fetched and the bytes equal the source', async () => {
    // The 7th ranged request and all after it die after 1000 body bytes.
    const served = { bytes: model.bytes, cut: ({ n }: { n: number }) => (n >= 6 ? 1000 : undefined) };
    const url = files.serve('cut.gguf', served);
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const cut = await download(page, url, { parallel: 2, retries: 0 });
    assert.equal(cut.result.error?.code, 'network/interrupted', JSON.stringify(cut.result));
    assert.equal(cut.result.error?.name, 'NetworkError');
    assert.ok(files.log.some((r) => r.cut), 'the server cut a response');
    const kept = await storedChunks(page, url);
    assert.ok(kept.length >= 5 && kept.length < nChunks, `${kept.length} chunks kept`);
    const partial = (await storeCall(page, 'get', url)).value;
    assert.equal(partial.state, 'partial');
    assert.equal(partial.storedBytes, kept.length * CHUNK_BYTES);
    assert.equal((await storedDigest(page, url)).error?.code, 'store/incomplete', 'a partial model is never loaded');

    await reload(page);
    served.cut = () => undefined;
    files.reset();
    const resumed = await download(page, url, { parallel: 2, retries: 0 });
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    const missing = [...Array(nChunks).keys()].filter((i) => !kept.includes(i));
    assert.deepEqual(chunksOf(files.dataGets('cut.gguf')), missing);
    console.log(`cut: ${kept.length} of ${nChunks} chunks kept after the drop; the resume sent ${files.probes('cut.gguf').length} probe and ${files.dataGets('cut.gguf').length} chunk requests`);
    assert.equal(resumed.events[0].loaded, kept.length * CHUNK_BYTES, 'progress starts at the stored bytes');
    assert.deepEqual(progressProblems(resumed.events, model.bytes.byteLength), []);
    assert.deepEqual((await storedDigest(page, url)).value, { sha256: sha256(model.bytes), sizeBytes: model.bytes.byteLength });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a tab closed mid-download (a reload) resumes from its stored chunks', async () => {
    const url = files.serve('reload.gguf', { bytes: model.bytes, delayMs: 60 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const running = download(page, url, { parallel: 2 }).catch(() => 'navigated away');
    await waitForChunks(page, url, 4);
    await reload(page);
    assert.equal(await running, 'navigated away');
    const kept = await storedChunks(page, url);
    assert.ok(kept.length < nChunks, `${kept.length} of ${nChunks} chunks stored before the reload`);
    files.reset();
    const resumed = await download(page, url, { parallel: 2 });
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    assert.deepEqual(chunksOf(files.dataGets('reload.gguf')), [...Array(nChunks).keys()].filter((i) => !kept.includes(i)));
    console.log(`reload: ${kept.length} of ${nChunks} chunks kept; the resume fetched ${files.dataGets('reload.gguf').length}`);
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a dropped connection is retried within the same download, and progress stays monotonic', async () => {
    const url = files.serve('retry.gguf', { bytes: model.bytes, cut: ({ n }) => (n === 3 ? 30_000 : undefined) });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const { result, events } = await download(page, url, { parallel: 1 });
    assert.equal(result.value?.state, 'complete', JSON.stringify(result.error));
    const gets = files.dataGets('retry.gguf');
    assert.equal(gets.length, nChunks + 1, 'every chunk once, and the cut one again');
    assert.equal(gets.filter((r) => r.cut).length, 1);
    assert.deepEqual(progressProblems(events, model.bytes.byteLength), []);
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a server that stalls is a network/timeout after the idle timeout, retried, and the download resumes afterwards', async () => {
    const url = files.serve('stall.gguf', { bytes: model.bytes, delayMs: 5_000 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const t0 = Date.now();
    const stalled = await download(page, url, { parallel: 1, retries: 1, idleTimeoutMs: 300 });
    assert.equal(stalled.result.error?.code, 'network/timeout', JSON.stringify(stalled.result));
    assert.match(stalled.result.error?.message ?? '', /sent nothing for 0\.3 s before its headers; giving up$/);
    assert.ok(Date.now() - t0 < 4_000, `failed after ${Date.now() - t0} ms`);
    assert.equal(files.dataGets('stall.gguf').length, 2, 'the stalled chunk was tried again once');
    files.serve('stall.gguf', { bytes: model.bytes });
    const resumed = await download(page, url, { parallel: 2 });
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a changed ETag on resume restarts the download cleanly instead of mixing versions', async () => {
    const v2 = tinyModel({ seed: 2 }).bytes;
    assert.equal(v2.byteLength, model.bytes.byteLength);
    const served = { bytes: model.bytes, cut: ({ n }: { n: number }) => (n >= 5 ? 100 : undefined) } as Parameters<TestServer['serve']>[1];
    const url = files.serve('changing.gguf', served);
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    assert.equal((await download(page, url, { parallel: 1, retries: 0 })).result.error?.code, 'network/interrupted');
    assert.ok((await storedChunks(page, url)).length >= 4);
    // A new file behind the same URL: new bytes, new ETag.
    files.serve('changing.gguf', { bytes: v2 });
    await reload(page);
    files.reset();
    const resumed = await download(page, url, { parallel: 2 });
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    assert.deepEqual(chunksOf(files.dataGets('changing.gguf')), [...Array(nChunks).keys()], 'every chunk fetched again');
    assert.equal(resumed.events[0].loaded, 0, 'progress starts over');
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(v2));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a quota too small gives QuotaExceededError with the numbers, and nothing is marked complete', async () => {
    const url = files.serve('quota.gguf', { bytes: model.bytes, delayMs: 80 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite.url, quotaSize: 300_000 });
    const before = await download(page, url);
    assert.equal(before.result.error?.code, 'store/quota-exceeded', JSON.stringify(before.result));
    assert.equal(before.result.error?.name, 'QuotaExceededError');
    assert.equal(before.result.error?.details?.neededBytes, model.bytes.byteLength);
    assert.ok(before.result.error!.details!.freeBytes <= 300_000, `freeBytes ${before.result.error?.details?.freeBytes}`);
    assert.match(before.result.error!.message, /needs .* more, but this site has only/);
    assert.deepEqual((await storeCall(page, 'list')).value, [], 'nothing stored');
    assert.equal(files.dataGets('quota.gguf').length, 0, 'no chunk was fetched');

    // The quota shrinks while a download runs: the write fails, typed; what
    // is stored stays resumable and is not complete.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite.url });
    const running = download(page, url, { parallel: 1 });
    const early = await waitForChunks(page, url, 3);
    const { usage } = await page.evaluate(() => navigator.storage.estimate());
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite.url, quotaSize: usage! + 20_000 });
    const during = (await running).result;
    console.log(`quota: before ${JSON.stringify(before.result.error?.details)}, during ${JSON.stringify(during.error?.details)}`);
    assert.equal(during.error?.code, 'store/quota-exceeded', JSON.stringify(during));
    assert.ok(during.error!.details!.neededBytes > 0 && during.error!.details!.freeBytes < CHUNK_BYTES, JSON.stringify(during.error?.details));
    const partial = (await storeCall(page, 'get', url)).value;
    assert.equal(partial.state, 'partial');
    assert.ok(partial.storedBytes >= early.length * CHUNK_BYTES && partial.storedBytes < model.bytes.byteLength);
    assert.equal((await storedDigest(page, url)).error?.code, 'store/incomplete');

    await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite.url });
    const kept = await storedChunks(page, url);
    files.reset();
    const resumed = await download(page, url);
    assert.equal(resumed.result.value?.state, 'complete', JSON.stringify(resumed.result.error));
    assert.deepEqual(chunksOf(files.dataGets('quota.gguf')), [...Array(nChunks).keys()].filter((i) => !kept.includes(i)));
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('verify finds a chunk corrupted by hand, and the next download re-fetches only that chunk', async () => {
    const url = files.serve('corrupt.gguf', { bytes: model.bytes });
    const { context, page, errors } = await openStorePage(browser, vite.url);
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    assert.deepEqual((await storeCall(page, 'verify', url)).value, { ok: true, checkedBytes: model.bytes.byteLength, badChunks: [], missingChunks: [] });

    await page.evaluate(({ db, url }) => (window as any).storeTest.corruptChunk(db, url, 3, 1234), { db: DB_NAME, url });
    const v = (await storeCall(page, 'verify', url)).value;
    assert.equal(v.ok, false);
    assert.deepEqual(v.badChunks, [3]);
    assert.equal((await storeCall(page, 'get', url)).value.state, 'partial');
    assert.equal((await storedDigest(page, url)).error?.code, 'store/incomplete');

    await reload(page);
    files.reset();
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    assert.deepEqual(chunksOf(files.dataGets('corrupt.gguf')), [3]);
    assert.equal((await storeCall(page, 'verify', url)).value.ok, true);
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));

    // Loading checks each chunk's hash too: a bad chunk fails the read, typed, and is repaired the same way.
    await page.evaluate(({ db, url }) => (window as any).storeTest.corruptChunk(db, url, 5), { db: DB_NAME, url });
    const load = await storedDigest(page, url);
    assert.equal(load.error?.code, 'store/corrupt');
    assert.equal(load.error?.name, 'StoreError');
    assert.equal(load.error?.details?.chunk, 5);
    files.reset();
    assert.equal((await download(page, url)).result.value?.state, 'complete');
    assert.deepEqual(chunksOf(files.dataGets('corrupt.gguf')), [5]);
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('cancelling through AbortSignal keeps what was stored, and the next download resumes', async () => {
    const url = files.serve('abort.gguf', { bytes: model.bytes, delayMs: 30 });
    files.reset();
    const { context, page, errors } = await openStorePage(browser, vite.url);
    const aborted = await download(page, url, { parallel: 2, abortAfterBytes: 300_000 });
    assert.equal(aborted.result.error?.code, 'request/aborted', JSON.stringify(aborted.result));
    assert.equal(aborted.result.error?.name, 'AbortError');
    const kept = await storedChunks(page, url);
    assert.ok(kept.length >= 3 && kept.length < nChunks, `${kept.length} chunks kept`);
    files.reset();
    const resumed = await download(page, url);
    assert.equal(resumed.result.value?.state, 'complete');
    assert.deepEqual(chunksOf(files.dataGets('abort.gguf')), [...Array(nChunks).keys()].filter((i) => !kept.includes(i)));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('randomized cuts and resumes (seeded) never fetch a stored chunk again and end with the exact bytes', async () => {
    const seed = Number(process.env.HOB_STORE_SEED ?? 20240611);
    console.log(`store resume seed ${seed}`);
    const rand = prng(seed);
    const served: Parameters<TestServer['serve']>[1] = { bytes: model.bytes };
    const url = files.serve('random.gguf', served);
    const { context, page, errors } = await openStorePage(browser, vite.url);
    let rounds = 0;
    for (;;) {
      rounds++;
      assert.ok(rounds <= 30, 'the download finishes');
      const before = await storedChunks(page, url);
      // This round's server fails one request, at a random body byte, after a random count.
      const failAt = Math.floor(rand() * 6);
      const cutBytes = Math.floor(rand() * CHUNK_BYTES);
      served.cut = ({ n }) => (n === failAt ? cutBytes : undefined);
      if (rounds > 1) await reload(page);
      files.reset();
      const r = await download(page, url, { parallel: 1 + Math.floor(rand() * 4), retries: 0 });
      const fetched = chunksOf(files.dataGets('random.gguf'));
      const refetched = fetched.filter((i) => before.includes(i));
      assert.deepEqual(refetched, [], `round ${rounds} (seed ${seed}): stored chunks fetched again`);
      assert.deepEqual(progressProblems(r.events, model.bytes.byteLength).filter((p) => !p.startsWith('last')), []);
      console.log(`round ${rounds}: ${before.length} chunks stored, fetched ${fetched.length}, ${r.result.value ? 'complete' : r.result.error?.code}`);
      if (r.result.value) break;
      assert.equal(r.result.error?.code, 'network/interrupted', `round ${rounds}: ${JSON.stringify(r.result.error)}`);
    }
    assert.ok(rounds > 1, 'at least one round was cut');
    assert.deepEqual((await storedDigest(page, url)).value?.sha256, sha256(model.bytes));
    assert.deepEqual(errors, []);
    await context.close();
  });
});
