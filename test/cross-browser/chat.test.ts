// <hob-chat> in the browser HOB_BROWSER names, on the real engine and a
// script model whose greedy output is known text with HTML in it: an answer
// streams and renders as sanitized markdown, Stop ends an endless answer,
// and the keyboard alone sends (Enter), stops (Escape) and moves focus (Tab).
// The Chromium suite (test/browser/ui-chat.test.ts) covers the rest.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { ViteDevServer } from 'vite';

import { browserUnderTest, launchTestBrowser, type TestBrowser, type TestPage } from '../browser/drivers/index.js';
import { filesDir, startServer } from '../browser/harness.js';
import { TEST_SCRIPT, writeScriptModel } from '../browser/ui/script-model.js';

const name = browserUnderTest();

type Stats = { completionTokens: number; finishReason: string };
type Msg = { role: string; content: string; stats?: Stats };

async function openChat(browser: TestBrowser, base: string, query: string): Promise<TestPage> {
  const page = await browser.open(`${base}/test/browser/pages/chat.html?model=/__files/xb-script.gguf&${query}`);
  await page.waitFor(() => (window as any).chat?.hasAttribute('ready'), undefined, 60_000);
  return page;
}

/** Waits until `n` answers have finished and returns the last message. */
async function answered(page: TestPage, n: number): Promise<Msg> {
  await page.waitFor((n) => !(window as any).chat.busy && (window as any).events.filter((e: { type: string }) => e.type === 'message').length >= n, n, 60_000);
  return page.evaluate(() => (window as any).chat.messages.at(-1));
}

const tokensSeen = (page: TestPage, n: number): Promise<void> =>
  page.waitFor((n) => (window as any).events.filter((e: { type: string }) => e.type === 'token').length > n, n, 60_000);

/** The focused element inside the component: its id, else its class. */
const focused = (page: TestPage): Promise<string | null> =>
  page.evaluate(() => {
    const inner = (window as any).chat.shadowRoot.activeElement as HTMLElement | null;
    return inner ? inner.id || inner.className : null;
  });

describe(`<hob-chat> in ${name}`, () => {
  let browser: TestBrowser;
  let server: { server: ViteDevServer; url: string };

  before(async () => {
    writeFileSync(join(filesDir, 'xb-script.gguf'), writeScriptModel(TEST_SCRIPT));
    [browser, server] = await Promise.all([launchTestBrowser(), startServer(true)]);
  });
  after(async () => {
    await browser?.close();
    await server?.server.close();
  });

  test('send streams an answer rendered as sanitized markdown; Stop ends an endless one', async () => {
    const page = await openChat(browser, server.url, 'max-tokens=40');
    const userHtml = '<img src=x onerror="window.__xss=3"> **not bold**';
    await page.evaluate((text) => {
      const input = (window as any).chat.shadowRoot.querySelector('#input') as HTMLTextAreaElement;
      input.value = text;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      ((window as any).chat.shadowRoot.querySelector('.send') as HTMLButtonElement).click();
    }, userHtml);
    const answer = await answered(page, 1);
    assert.match(answer.content, /^Here is <img src=x onerror="window.__xss=1"> and <script>window.__xss=2<\/script> as text\./);
    assert.equal(answer.stats?.completionTokens, 40);
    const dom = await page.evaluate(() => {
      const root = (window as any).chat.shadowRoot as ShadowRoot;
      const [user, assistant] = [...root.querySelectorAll('article')];
      return {
        xss: (window as any).__xss ?? null,
        elements: root.querySelectorAll('.messages img, .messages script, .messages [onerror]').length,
        assistantHasPayloadText: (assistant.querySelector('.content')?.textContent ?? '').includes('<img src=x onerror="window.__xss=1">'),
        userText: user.querySelector('.content')?.textContent ?? '',
        code: assistant.querySelector('.code pre')?.textContent ?? '',
        tokens: (window as any).events.filter((e: { type: string }) => e.type === 'token').length,
      };
    });
    assert.deepEqual(dom, { xss: null, elements: 0, assistantHasPayloadText: true, userText: userHtml, code: 'console.log(42);\n', tokens: dom.tokens });
    assert.ok(dom.tokens >= 30, `streamed in ${dom.tokens} token events`);

    // No token limit: the script model never ends, only Stop does.
    await page.evaluate(() => (window as any).chat.removeAttribute('max-tokens'));
    await page.evaluate(() => {
      const input = (window as any).chat.shadowRoot.querySelector('#input') as HTMLTextAreaElement;
      input.value = 'Go on';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      ((window as any).chat.shadowRoot.querySelector('.send') as HTMLButtonElement).click();
    });
    await tokensSeen(page, dom.tokens + 30);
    await page.evaluate(() => ((window as any).chat.shadowRoot.querySelector('.stop') as HTMLButtonElement).click());
    const stopped = await answered(page, 2);
    assert.equal(stopped.stats?.finishReason, 'abort');
    assert.ok(stopped.stats!.completionTokens >= 30, `stopped after ${stopped.stats?.completionTokens} tokens`);
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  test('keyboard only: Tab to the message box, type, send with Enter, stop with Escape, focus returns to the box', async () => {
    const page = await openChat(browser, server.url, '');
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const order: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      await page.press('Tab');
      order.push(await focused(page));
    }
    assert.deepEqual(order, ['settings-button', 'messages', 'input']);
    await page.type('Hello from the keyboard');
    assert.equal(await page.evaluate(() => (window as any).chat.shadowRoot.querySelector('#input').value), 'Hello from the keyboard');
    await page.press('Enter');
    await tokensSeen(page, 10);
    await page.press('Escape');
    const stopped = await answered(page, 1);
    assert.equal(stopped.stats?.finishReason, 'abort');
    const sent = await page.evaluate(() => (window as any).chat.messages[0].content);
    assert.equal(sent, 'Hello from the keyboard');
    assert.equal(await focused(page), 'input');
    await page.press('Shift+Tab');
    assert.equal(await focused(page), 'regenerate');
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });
});
