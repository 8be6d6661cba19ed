// The demo PWA in the browser HOB_BROWSER names, built as `npm run demo`
// builds it and served by Vite's preview server: its service worker takes
// control, the chat downloads a model into the store and answers; then both
// servers close (the network is really gone, no emulation) and a reload
// comes back from the service worker's cache with the conversation from
// IndexedDB and the model from the store, and answers again.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { build, preview, type PreviewServer } from 'vite';

import { browserUnderTest, launchTestBrowser, type TestBrowser, type TestPage } from '../browser/drivers/index.js';
import { repoRoot } from '../browser/harness.js';
import { TestServer } from '../browser/test-server.js';
import { TEST_SCRIPT, writeScriptModel } from '../browser/ui/script-model.js';

const name = browserUnderTest();
const configFile = join(repoRoot, 'vite.config.ts');

type Msg = { role: string; content: string; stats?: { completionTokens: number } };

/** Types into the message box and sends, as a user does, then waits for `n` messages with the last one finished. */
async function ask(page: TestPage, text: string, n: number): Promise<Msg[]> {
  await page.evaluate((text) => {
    const root = (document.querySelector('hob-chat') as any).shadowRoot as ShadowRoot;
    const input = root.querySelector('#input') as HTMLTextAreaElement;
    input.value = text;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    (root.querySelector('.send') as HTMLButtonElement).click();
  }, text);
  await page.waitFor(
    (n) => {
      const chat = document.querySelector('hob-chat') as any;
      return !chat.busy && chat.messages.length === n && chat.messages[n - 1].stats;
    },
    n,
    60_000,
  );
  return page.evaluate(() => (document.querySelector('hob-chat') as any).messages);
}

const chatReady = (page: TestPage): Promise<void> => page.waitFor(() => document.querySelector('hob-chat')?.hasAttribute('ready'), undefined, 60_000);

describe(`demo PWA in ${name}`, () => {
  let browser: TestBrowser;
  let site: PreviewServer;
  let models: TestServer;
  let siteUrl: string;

  before(async () => {
    await build({ configFile, logLevel: 'error' });
    [browser, site, models] = await Promise.all([
      launchTestBrowser(),
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

  test('the service worker takes control, the chat answers from a downloaded model, and after the servers are gone a reload keeps the conversation and answers again', async () => {
    const modelBytes = writeScriptModel(TEST_SCRIPT);
    const modelUrl = models.serve('script.gguf', { bytes: modelBytes });
    const page = await browser.open(siteUrl);
    await page.waitFor(() => document.documentElement.hasAttribute('data-ready'));
    await page.waitFor(() => !!navigator.serviceWorker.controller, undefined, 30_000);

    // Pick the model by URL in the settings panel, with short answers.
    await page.evaluate((url) => {
      const root = (document.querySelector('hob-chat') as any).shadowRoot as ShadowRoot;
      (root.querySelector('.settings-button') as HTMLButtonElement).click();
      for (const [field, value] of [['model-url', url], ['max-tokens', '12']]) {
        const input = root.querySelector(`input[name="${field}"]`) as HTMLInputElement;
        input.value = value;
        input.dispatchEvent(new Event('input', { bubbles: true }));
      }
      (root.querySelector('button.apply') as HTMLButtonElement).click();
    }, modelUrl);
    await chatReady(page);
    assert.ok(models.dataGets('script.gguf').length > 0, 'the model was downloaded');
    const first = await ask(page, 'Hello offline world', 2);
    assert.match(first[1].content, /^Here is <img/);
    // The conversation is written to IndexedDB on each change; let the write land.
    await page.waitFor(() => (document.getElementById('conversation') as HTMLSelectElement).selectedOptions[0]?.text === 'Hello offline world');
    const isolated = await page.evaluate(() => crossOriginIsolated);

    await site.close();
    await models.close();
    models.reset();
    await page.reload();
    await page.waitFor(() => document.documentElement.hasAttribute('data-ready'), undefined, 30_000);
    await chatReady(page);
    const restored: Msg[] = await page.evaluate(() => (document.querySelector('hob-chat') as any).messages);
    assert.deepEqual(restored.map((m) => m.content.slice(0, 19)), ['Hello offline world', first[1].content.slice(0, 19)]);
    assert.equal(await page.evaluate(() => crossOriginIsolated), isolated, 'the cached page is as isolated as the served one');
    const after = await ask(page, 'Still there?', 4);
    assert.equal(after[3].stats?.completionTokens, 12);
    assert.match(after[3].content, /^Here is <img/);
    assert.equal(models.log.length, 0, 'no request reached the model server');
    console.log(`${name}: PWA offline reload, crossOriginIsolated ${isolated}`);
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });
});
