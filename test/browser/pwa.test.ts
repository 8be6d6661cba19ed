// The demo PWA, built as `npm run demo` builds it and served by Vite's
// preview server: it installs its service worker, loads a model from a
// (cross-origin) server into the store, chats, and after a reload with the
// network gone and both servers closed it comes back from the cache with the
// conversation from IndexedDB and the model from the store, and chats again.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';

import { launchBrowser, repoRoot } from './harness.js';
import { TestServer } from './test-server.js';
import { TEST_SCRIPT, writeScriptModel } from './ui/script-model.js';

const configFile = join(repoRoot, 'vite.config.ts');

describe('demo PWA', () => {
  let browser: Browser;
  let site: PreviewServer;
  let models: TestServer;
  let siteUrl: string;

  before(async () => {
    await build({ configFile, logLevel: 'error' });
    [browser, site, models] = await Promise.all([
      launchBrowser(),
      preview({ configFile, logLevel: 'error', preview: { host: '127.0.0.1', port: 0, strictPort: false } }),
      TestServer.start(),
    ]);
    siteUrl = `http://127.0.0.1:${(site.httpServer.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await browser?.close();
    await site?.close().catch(() => {});
    await models?.close().catch(() => {});
  });

  test('precaches every built file, chats with a downloaded model, and after an offline reload keeps the conversation and chats again', async () => {
    const sw = readFileSync(join(repoRoot, 'dist/web-demo/sw.js'), 'utf8');
    for (const pattern of [/hob-mt-[\w-]+\.wasm/, /hob-st-[\w-]+\.wasm/, /hob-mt-[\w-]+\.worker\.js|hob-mt\.worker-[\w-]+\.js/, /engine-worker-[\w-]+\.js/, /manifest\.webmanifest/, /icon-512\.png/]) {
      assert.match(sw, pattern, `sw.js precaches ${pattern}`);
    }
    const modelUrl = models.serve('script.gguf', { bytes: writeScriptModel(TEST_SCRIPT) });
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(siteUrl);
    await page.waitForSelector('html[data-ready]');
    await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 30_000 });
    const manifest = await page.evaluate(async () => (await fetch('./manifest.webmanifest')).json());
    assert.equal(manifest.display, 'standalone');
    assert.deepEqual(manifest.icons.map((i: { sizes: string }) => i.sizes).slice(0, 2), ['192x192', '512x512']);

    // Pick the model by URL in the settings panel, with short answers.
    await page.locator('hob-chat .settings-button').click();
    await page.locator('hob-chat input[name="model-url"]').fill(modelUrl);
    await page.locator('hob-chat input[name="max-tokens"]').fill('12');
    await page.locator('hob-chat button.apply').click();
    await page.waitForFunction(() => document.querySelector('hob-chat')?.hasAttribute('ready'), null, { timeout: 60_000 });
    assert.equal(await page.locator('hob-chat .title').textContent(), 'hob-script-test');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.match((await page.locator('hob-chat .status').textContent()) ?? '', /\d+ threads/);
    assert.ok(models.dataGets('script.gguf').length > 0, 'the model was downloaded');

    await page.locator('hob-chat #input').fill('Hello offline world');
    await page.locator('hob-chat #input').press('Enter');
    const done = (n: number) =>
      page.waitForFunction((n) => {
        const chat = document.querySelector('hob-chat') as any;
        return !chat.busy && chat.messages.length === n && chat.messages[n - 1].stats;
      }, n, { timeout: 60_000 });
    await done(2);
    // The conversation is written to IndexedDB on each change; let the write land.
    await page.waitForFunction(() => (document.getElementById('conversation') as HTMLSelectElement).selectedOptions[0]?.text === 'Hello offline world');

    // Offline, and nothing left to answer even if it were not.
    await context.setOffline(true);
    await site.close();
    await models.close();
    models.reset();
    await page.reload();
    await page.waitForSelector('html[data-ready]');
    await page.waitForFunction(() => document.querySelector('hob-chat')?.hasAttribute('ready'), null, { timeout: 60_000 });
    const restored = await page.evaluate(() => (document.querySelector('hob-chat') as any).messages);
    assert.equal(restored.length, 2);
    assert.equal(restored[0].content, 'Hello offline world');
    assert.match(restored[1].content, /^Here is <img/);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.equal((await page.locator('#offline').textContent()) ?? '', 'Offline: stored models only');

    await page.locator('hob-chat #input').fill('Still there?');
    await page.locator('hob-chat #input').press('Enter');
    await done(4);
    const after = await page.evaluate(() => (document.querySelector('hob-chat') as any).messages);
    assert.equal(after[3].stats.completionTokens, 12);
    assert.match(after[3].content, /^Here is <img/);
    assert.equal(models.log.length, 0, 'no request reached the model server');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
