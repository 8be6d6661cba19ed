// One engine shared by the tabs of an origin (createEngine's `shared`), in
// headless Chromium with three pages of one context: one model download and
// one engine worker for the three; streaming in every tab, requests of all
// tabs queued; closing the host mid-generation gives the others the typed
// EngineMovedError, another tab takes over (the model from the store, no
// download) and the next request succeeds; <hob-chat> in every tab, each
// with its own conversation. Prints the takeover time.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { launchBrowser, startServer, testdataDir } from './harness.js';
import { TestServer } from './test-server.js';

type Outcome = { text: string; chunks: number; code?: string; name?: string };
type Host = { self: boolean; hostId: string; tabId: string };

const engineWorkers = (pages: Page[]) => pages.reduce((n, p) => n + p.workers().filter((w) => w.url().includes('engine-worker')).length, 0);

describe('a shared engine', () => {
  let browser: Browser;
  let context: BrowserContext;
  let vite: { server: ViteDevServer; url: string };
  let files: TestServer;

  before(async () => {
    [browser, vite, files] = await Promise.all([launchBrowser(), startServer(false), TestServer.start()]);
    context = await browser.newContext();
  });
  after(async () => {
    await browser?.close();
    await vite?.server.close();
    await files?.close();
  });

  async function tab(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${vite.url}/test/browser/pages/shared.html`);
    await page.waitForFunction(() => document.title === 'ready');
    return page;
  }
  const hosts = (p: Page): Promise<Host[]> => p.evaluate(() => (window as any).hosts);

  test('three tabs, one download and one engine worker; the host closes mid-generation and another tab takes over', async () => {
    const url = files.serve('tiny.gguf', { bytes: readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf')) });
    const [a, b, c] = [await tab(), await tab(), await tab()];
    await a.evaluate((u) => (window as any).start(u), url);
    const downloads = files.dataGets('tiny.gguf').length;
    assert.ok(downloads > 0);
    await Promise.all([b, c].map((p) => p.evaluate((u) => (window as any).start(u), url)));
    const [ha, hb, hc] = await Promise.all([a, b, c].map(hosts));
    assert.equal(ha.at(-1)?.self, true);
    assert.deepEqual([hb.at(-1)?.self, hc.at(-1)?.self], [false, false]);
    assert.equal(hb.at(-1)?.hostId, ha.at(-1)?.tabId);
    assert.equal(files.dataGets('tiny.gguf').length, downloads, 'the other tabs downloaded nothing');
    assert.equal(engineWorkers([a, b, c]), 1);

    // Streaming in every tab at once: the requests queue, each gets its whole answer.
    const outs = await Promise.all([a, b, c].map((p) => p.evaluate(() => (window as any).stream('Once upon a time', 12) as Promise<Outcome>)));
    for (const o of outs) assert.deepEqual([o.code, o.chunks], [undefined, 13], JSON.stringify(o));
    assert.ok(outs.every((o) => o.text === outs[0].text && o.text.length > 0));

    // The host closes while b's endless answer streams (c's request waits behind it).
    await b.evaluate(() => (window as any).startLong());
    await b.waitForFunction(() => (window as any).longChunks() > 5);
    const waiting = c.evaluate(() => (window as any).stream('Hello', 4) as Promise<Outcome>);
    const t0 = Date.now();
    await a.close();
    const moved = await b.evaluate(() => (window as any).longResult() as Promise<Outcome>);
    assert.equal(moved.code, 'engine/moved', JSON.stringify(moved));
    assert.equal(moved.name, 'EngineMovedError');
    assert.equal((await waiting).code, 'engine/moved');
    // The next request succeeds, from the new host.
    const again = await b.evaluate(() => (window as any).stream('Once upon a time', 12) as Promise<Outcome>);
    const takeoverMs = Date.now() - t0;
    assert.equal(again.code, undefined, JSON.stringify(again));
    assert.equal(again.text, outs[0].text);
    const [nb, nc] = await Promise.all([b, c].map(hosts));
    const newHost = nb.at(-1)!;
    assert.notEqual(newHost.hostId, ha.at(-1)?.tabId);
    assert.equal(nc.at(-1)?.hostId, newHost.hostId);
    assert.equal(nb.at(-1)!.self !== nc.at(-1)!.self, true, 'one of the two hosts');
    assert.equal(files.dataGets('tiny.gguf').length, downloads, 'the new host loaded the model from the store');
    assert.equal(engineWorkers([b, c]), 1);
    console.log(`takeover: the host closed mid-generation; the next request answered ${takeoverMs} ms later`);

    // A client tab that closes mid-generation: its request is aborted, so the next one runs.
    const client = nb.at(-1)!.self ? c : b;
    const other = client === b ? c : b;
    await client.evaluate(() => (window as any).startLong());
    await client.waitForFunction(() => (window as any).longChunks() > 3);
    await client.close();
    const after = await other.evaluate(() => (window as any).stream('Once upon a time', 12) as Promise<Outcome>);
    assert.equal(after.text, outs[0].text, JSON.stringify(after));
    await other.evaluate(() => (window as any).unload());
    await other.close();
  });

  test('<hob-chat> in every tab, each with its own conversation, on the one engine', async () => {
    const url = files.serve('chat.gguf', { bytes: readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf')) });
    const pages = [await tab(), await tab(), await tab()];
    for (const [i, p] of pages.entries()) {
      await p.evaluate(([u, i]) => ((window as any).chat = (window as any).addChat(u, `tab-${i}`)), [url, i] as const);
      await p.waitForFunction(() => (window as any).chat.hasAttribute('ready') && (window as any).chat.currentEngine, null, { timeout: 60_000 });
    }
    assert.equal(engineWorkers(pages), 1);
    type Msg = { role: string; content: string; stats?: { cachedTokens: number; promptTokens: number } };
    const ask = async (p: Page, text: string): Promise<Msg[]> => {
      const n = await p.evaluate(() => (window as any).chat.messages.length);
      await p.evaluate((t) => (window as any).chat.send(t), text);
      await p.waitForFunction((n) => !(window as any).chat.busy && (window as any).chat.messages.length >= n + 2, n, { timeout: 60_000 });
      return p.evaluate(() => (window as any).chat.messages);
    };
    const first = await Promise.all(pages.map((p, i) => ask(p, `Question ${i} from tab ${i}`)));
    for (const [i, m] of first.entries()) {
      assert.deepEqual(m.map((x) => x.role), ['user', 'assistant']);
      assert.equal(m[0].content, `Question ${i} from tab ${i}`);
      assert.ok(m[1].content.length > 0);
    }
    // Tab 0 goes on after the others used the engine: its session brings its cache back.
    const second = await ask(pages[0], 'And then?');
    assert.deepEqual(second.map((x) => x.role), ['user', 'assistant', 'user', 'assistant']);
    assert.ok(second[3].stats!.cachedTokens > 0, JSON.stringify(second[3].stats));
    assert.equal(engineWorkers(pages), 1);
    await Promise.all(pages.map((p) => p.close()));
  });
});
