// The demo PWA, built as `npm run demo` builds it and served by Vite's
// preview server: it installs its service worker, loads a model from a
// (cross-origin) server into the store, chats, and after a reload with the
// network gone and both servers closed it comes back from the cache with the
// conversation from IndexedDB and the model from the store, and chats again.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';

import { launchBrowser, repoRoot } from './harness.js';
import { formatBytes } from '../../src/ui/catalog.js';
import { TestServer } from './test-server.js';
import { TEST_SCRIPT, writeScriptModel } from './ui/script-model.js';

const configFile = join(repoRoot, 'vite.config.ts');
const built = join(repoRoot, 'dist/web-demo');
const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json',
};

/** A static host that sends no COOP/COEP headers (as many cannot). */
async function staticHost(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = join(built, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(built) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

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

  test('on a host without COOP/COEP the service worker makes the page cross-origin isolated after one reload', async () => {
    const host = await staticHost();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const response = await page.goto(host.url);
      assert.equal(response?.headers()['cross-origin-opener-policy'], undefined);
      let isolated = false;
      for (let i = 0; i < 100 && !isolated; i++) {
        await new Promise((r) => setTimeout(r, 100));
        isolated = await page.evaluate(() => crossOriginIsolated && !!navigator.serviceWorker.controller).catch(() => false);
      }
      assert.equal(isolated, true);
      // The page reloaded once to get there (main.ts marks it), and only once.
      assert.equal(await page.evaluate(() => sessionStorage.getItem('hob-coi-reload')), '1');
      await page.waitForSelector('html[data-ready]');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      host.server.close();
    }
  });

  test('precaches every built file, chats with a downloaded model, and after an offline reload keeps the conversation and chats again', async () => {
    const sw = readFileSync(join(repoRoot, 'dist/web-demo/sw.js'), 'utf8');
    for (const pattern of [/hob-mt-[\w-]+\.wasm/, /hob-st-[\w-]+\.wasm/, /hob-mt-[\w-]+\.worker\.js|hob-mt\.worker-[\w-]+\.js/, /engine-worker-[\w-]+\.js/, /manifest\.webmanifest/, /icon-512\.png/]) {
      assert.match(sw, pattern, `sw.js precaches ${pattern}`);
    }
    const modelBytes = writeScriptModel(TEST_SCRIPT);
    const modelUrl = models.serve('script.gguf', { bytes: modelBytes });
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(siteUrl);
    await page.waitForSelector('html[data-ready]');
    await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 30_000 });
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: { errorId: string }[] };
    // Manifest, icons, service worker: nothing missing. ('in-incognito' is the test's browser context, not the app.)
    assert.deepEqual(installabilityErrors.filter((e) => e.errorId !== 'in-incognito'), [], 'Chromium finds the app installable');
    await cdp.detach();
    const manifest = await page.evaluate(async () => (await fetch('./manifest.webmanifest')).json());
    assert.equal(manifest.display, 'standalone');
    assert.deepEqual(manifest.icons.map((i: { sizes: string }) => i.sizes).slice(0, 2), ['192x192', '512x512']);

    await page.evaluate(() => {
      const seen: unknown[] = ((window as any).progress = []);
      document.querySelector('hob-chat')!.addEventListener('progress', (e) => seen.push((e as unknown as CustomEvent).detail));
    });
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
    const progress: { phase: string; loaded: number; total: number }[] = await page.evaluate(() => (window as any).progress);
    const download = progress.filter((p) => p.phase === 'download');
    assert.ok(download.length > 0, JSON.stringify(progress));
    assert.deepEqual(download.at(-1), { ...download.at(-1), loaded: modelBytes.length, total: modelBytes.length });

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
    await page.waitForFunction(() => document.getElementById('offline')?.textContent === 'Offline: stored models only');

    await page.locator('hob-chat #input').fill('Still there?');
    await page.locator('hob-chat #input').press('Enter');
    await done(4);
    const after = await page.evaluate(() => (document.querySelector('hob-chat') as any).messages);
    assert.equal(after[3].stats.completionTokens, 12);
    assert.match(after[3].content, /^Here is <img/);
    assert.equal(models.log.length, 0, 'no request reached the model server');

    // Settings lists the stored model with its size, and deletes it.
    await page.locator('hob-chat .settings-button').click();
    const row = page.locator('hob-chat .stored .row');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('span').textContent(), `hob-script-test (${formatBytes(modelBytes.length)})`);
    await row.locator('button.danger').click();
    await page.waitForFunction(() => (document.querySelector('hob-chat') as any).shadowRoot.querySelector('.stored').textContent === 'No models stored yet.');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
