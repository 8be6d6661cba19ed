// In headless Chromium: a model named on a Hub-shaped server (hf:…) resolves,
// is checked against the device before its download, and loads; a budget
// lowered below what it needs turns the download into an early
// ModelTooLargeError, with only the header's bytes sent and nothing stored.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { launchBrowser, openPage, startServer } from './harness.js';
import { TestServer } from './test-server.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

const MiB = 2 ** 20;

describe('models by name and the fit check in Chromium', () => {
  let browser: Browser;
  let vite: { server: ViteDevServer; url: string };
  let files: TestServer;
  let page: Page;
  // 29 MB: 8000 tokens, 6 blocks of width 512, Q8_0 (about 91 MiB of wasm at a context of 4096).
  const model = writeRandomLlama(makeSpec('tiny', { nEmbd: 512, nLayer: 6, nHead: 8, nHeadKv: 8, nFf: 1536, nVocab: 8000, nCtxTrain: 8192, weightType: 'q8_0' }));
  const path = 'test/Mid-GGUF/resolve/main/mid-Q8_0.gguf';

  before(async () => {
    [browser, vite, files] = await Promise.all([launchBrowser(), startServer(false), TestServer.start()]);
    // The Hub's tree listing (one page) and the file it names.
    const listing = [{ type: 'file', oid: 'a', size: 130, path: 'mid-Q8_0.gguf', lfs: { oid: 'b', size: model.byteLength, pointerSize: 130 } }];
    files.serve('api/models/test/Mid-GGUF/tree/main', { bytes: new TextEncoder().encode(JSON.stringify(listing)) });
    files.serve(path, { bytes: model });
    ({ page } = await openPage(browser, `${vite.url}/test/browser/pages/api.html`));
    await page.waitForFunction(() => document.title === 'ready');
  });
  after(async () => {
    await browser?.close();
    await vite?.server.close();
    await files?.close();
  });

  const sentBytes = () => files.log.filter((r) => r.name === path && r.status === 206).reduce((a, r) => a + ((r as { end?: number }).end! - (r as { start?: number }).start! + 1), 0);

  test('a budget below what the model needs is a ModelTooLargeError before the download: header bytes only, nothing stored', async () => {
    files.reset();
    const r = await page.evaluate(async (hub) => {
      const hob = (window as any).hobApi;
      try {
        await hob.createEngine({ model: 'hf:test/Mid-GGUF', hubEndpoint: hub, budget: { memoryBytes: 24 * 2 ** 20 } });
        return { ok: true };
      } catch (e: any) {
        const usage = (await navigator.storage.estimate()).usage ?? 0;
        return { ok: false, name: e.constructor.name, typed: e instanceof hob.ModelTooLargeError, code: e.code, details: e.details, usage };
      }
    }, files.url);
    assert.equal(r.ok, false);
    assert.equal(r.typed, true, `${r.name}`);
    assert.equal(r.code, 'model/too-large');
    assert.equal(r.details.limit, 'memory-budget');
    assert.equal(r.details.limitBytes, 24 * MiB);
    assert.ok(r.details.neededBytes > 24 * MiB);
    const sent = sentBytes();
    assert.ok(sent > 0 && sent <= MiB + 1, `${sent} bytes of ${model.byteLength} sent`);
    assert.ok((r.usage ?? 0) < 2 * MiB, `${r.usage} bytes stored`);
  });

  test('checkFit in the page: the verdict, the limits it read from the device, the context that fits a budget', async () => {
    const r = await page.evaluate(async (hub) => {
      const hob = (window as any).hobApi;
      const roomy = await hob.checkFit('hf:test/Mid-GGUF', { hubEndpoint: hub, budget: { memoryBytes: 2 ** 30 } });
      const tight = await hob.checkFit('hf:test/Mid-GGUF', { hubEndpoint: hub, budget: { memoryBytes: 78 * 2 ** 20 }, contextSize: 4096 });
      return { roomy, tight };
    }, files.url);
    assert.equal(r.roomy.verdict, 'fits');
    assert.deepEqual(r.roomy.settings, { gpuLayers: 0, contextSize: 4096 });
    assert.equal(r.roomy.limits.memoryBudgetSource, 'budget.memoryBytes');
    assert.ok(r.roomy.limits.storageFreeBytes > 0, 'the storage estimate was read');
    assert.equal(r.tight.verdict, 'fits-with-changes');
    assert.deepEqual(r.tight.settings, { gpuLayers: 0, contextSize: 2048 });
    assert.equal(r.tight.problems[0].limit, 'memory-budget');
  });

  test('with room, hf: loads through the store and generates; info() shows the estimate within 10% of the heap used', async () => {
    const r = await page.evaluate(async (hub) => {
      const hob = (window as any).hobApi;
      const engine = await hob.createEngine({ model: 'hf:test/Mid-GGUF', hubEndpoint: hub, contextSize: 1024, threads: 1 });
      try {
        const out = await engine.completions.create({ prompt: 'Hello', max_tokens: 4, temperature: 0 });
        const info = await engine.info();
        return { text: out.choices[0].text, ctx: info.contextSize, est: info.load.estimate.wasm.totalBytes, used: info.load.wasmHeapUsedBytes };
      } finally {
        await engine.unload();
      }
    }, files.url);
    assert.ok(r.text.length > 0);
    assert.equal(r.ctx, 1024);
    assert.ok(Math.abs(r.est / r.used - 1) < 0.1, `estimated ${r.est}, used ${r.used}`);
  });

  test('<hob-chat> loads an hf: model, and Settings lists the repository\'s files with sizes and loads the one picked', async () => {
    const { page: chat, errors } = await openPage(browser, `${vite.url}/test/browser/pages/chat.html?model=hf:test/Mid-GGUF&hub-endpoint=${encodeURIComponent(files.url)}&context-size=512&max-tokens=4`);
    await chat.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
    await chat.locator('hob-chat .settings-button').click();
    await chat.locator('hob-chat input[name="model-hub"]').fill('test/Mid-GGUF');
    await chat.locator('hob-chat button.hub-list').click();
    const select = chat.locator('hob-chat select[name="model-hub-file"]');
    await select.waitFor({ state: 'visible' });
    assert.deepEqual(await select.locator('option').allTextContents(), [`Q8_0: ${(model.byteLength / 1e6).toFixed(1)} MB`]);
    assert.equal(await select.inputValue(), 'hf:test/Mid-GGUF/mid-Q8_0.gguf');
    assert.equal(await chat.locator('hob-chat .hub-status').textContent(), '1 model file');
    await chat.locator('hob-chat button.apply').click();
    await chat.waitForFunction(() => (window as any).events.filter((e: { type: string }) => e.type === 'load').length === 2, null, { timeout: 60_000 });
    assert.equal(await chat.evaluate(() => (window as any).chat.getAttribute('model')), 'hf:test/Mid-GGUF/mid-Q8_0.gguf');
    // A repository that is not there says so in the panel.
    await chat.locator('hob-chat .settings-button').click();
    await chat.locator('hob-chat input[name="model-hub"]').fill('test/Missing');
    await chat.locator('hob-chat button.hub-list').click();
    await chat.waitForFunction(() => /was not found/.test((window as any).chat.shadowRoot.querySelector('.hub-status').textContent));
    assert.deepEqual(errors.filter((e) => !/HTTP 404/.test(e)), []);
    await chat.close();
  });
});
