// Saved sessions in headless Chromium, through <hob-chat>'s `session`
// attribute and the model store's IndexedDB: a reply is saved in the
// background; after a reload the next question evaluates only its own tokens
// (and gets the answer a page that never reloaded gets); a save interrupted
// before its switch leaves the previous one whole; a chunk corrupted by hand
// is 'store/corrupt' and the chat falls back to evaluating the conversation,
// its text intact; Settings lists the saved sessions with their size and
// deletes them. Time to first token after a reload, restored vs evaluated
// again, is printed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { filesDir, launchBrowser, startServer } from './harness.js';
import { TEST_SCRIPT, writeScriptModel } from './ui/script-model.js';

type Msg = { role: string; content: string; stats?: { completionTokens: number; promptTokens: number; cachedTokens: number } };
type SessionEvent = { kind: string; name: string; nTokens: number; code?: string };

async function openChat(context: BrowserContext, base: string, query: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/test/browser/pages/chat.html?model=/__files/sessions.gguf&max-tokens=8&${query}`);
  await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
  return page;
}

const messages = (page: Page): Promise<Msg[]> => page.evaluate(() => (window as any).chat.messages);
const sessionEvents = (page: Page): Promise<SessionEvent[]> =>
  page.evaluate(() => (window as any).events.filter((e: { type: string }) => e.type === 'session').map((e: { detail: unknown }) => e.detail));

/** Asks a question and waits for the answer; returns it and the time to its first token (ms). */
async function ask(page: Page, text: string): Promise<{ answer: Msg; ttftMs: number }> {
  const n = await page.evaluate(() => (window as any).events.filter((e: { type: string }) => e.type === 'message').length);
  await page.locator('hob-chat #input').fill(text);
  const t0 = await page.evaluate(() => performance.now());
  await page.locator('hob-chat .send').click();
  await page.waitForFunction((n) => !(window as any).chat.busy && (window as any).events.filter((e: { type: string }) => e.type === 'message').length > n, n, {
    timeout: 60_000,
  });
  const firstToken = await page.evaluate((t0) => (window as any).events.find((e: { type: string; at: number }) => e.type === 'token' && e.at > t0)?.at as number, t0);
  return { answer: (await messages(page)).at(-1) as Msg, ttftMs: firstToken - t0 };
}

/** Waits for the engine's background save of the session (or its failure). */
async function saved(page: Page, count: number): Promise<SessionEvent> {
  await page.waitForFunction(
    (count) => (window as any).events.filter((e: { type: string; detail: { kind: string } }) => e.type === 'session' && e.detail.kind !== 'restored').length >= count,
    count,
    { timeout: 30_000 },
  );
  return (await sessionEvents(page)).filter((e) => e.kind !== 'restored').at(-1) as SessionEvent;
}

/** The session's keys in the store's database, read from IndexedDB directly. */
function sessionKeys(page: Page, name: string): Promise<unknown[][]> {
  return page.evaluate(
    (name) =>
      new Promise<unknown[][]>((resolve, reject) => {
        const open = indexedDB.open('hob-models');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const req = open.result.transaction('models').objectStore('models').getAllKeys();
          req.onsuccess = () => {
            open.result.close();
            resolve((req.result as unknown[][]).filter((k) => Array.isArray(k) && String(k[0]).startsWith('session') && k[1] === name));
          };
        };
      }),
    name,
  );
}

/** Changes one stored record behind the store's back: a chunk's byte flipped, or a stray chunk added. */
function tamper(page: Page, key: unknown[], how: 'flip' | 'copy-to', to?: unknown[]): Promise<void> {
  return page.evaluate(
    ({ key, how, to }) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('hob-models');
        open.onerror = () => reject(open.error);
        open.onsuccess = async () => {
          const db = open.result;
          const rec = await new Promise<{ data: Blob; sha256: string; sizeBytes: number }>((res) => {
            const r = db.transaction('models').objectStore('models').get(key as IDBValidKey);
            r.onsuccess = () => res(r.result);
          });
          const bytes = new Uint8Array(await rec.data.arrayBuffer());
          if (how === 'flip') bytes[bytes.length >> 1] ^= 0xff;
          const tx = db.transaction('models', 'readwrite');
          tx.objectStore('models').put({ ...rec, data: new Blob([bytes]) }, (how === 'flip' ? key : to) as IDBValidKey);
          tx.oncomplete = () => (db.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    { key, how, to },
  );
}

describe('<hob-chat> saved sessions', () => {
  let browser: Browser;
  let context: BrowserContext;
  let server: { server: ViteDevServer; url: string };

  before(async () => {
    writeFileSync(join(filesDir, 'sessions.gguf'), writeScriptModel(TEST_SCRIPT));
    [browser, server] = await Promise.all([launchBrowser(), startServer(true)]);
    context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  });
  after(async () => {
    await browser?.close();
    await server?.server.close();
  });

  test('after a reload the next question evaluates only its own tokens; an interrupted save, a corrupt chunk, Settings', async () => {
    const questions = ['Tell me a story about a lighthouse keeper and the storm that came in the night', 'And what happened the next morning?', 'Why?'];
    // The reference: one page that never reloads.
    const ref = await openChat(context, server.url, 'session=ref');
    for (const q of questions) await ask(ref, q);
    const refAnswers = (await messages(ref)).filter((m) => m.role === 'assistant').map((m) => m.content);
    await ref.close();

    const page = await openChat(context, server.url, 'session=conv1');
    await ask(page, questions[0]);
    const first = await saved(page, 1);
    assert.equal(first.kind, 'saved', JSON.stringify(first));
    assert.equal(first.name, 'conv1');
    const conversation = await messages(page);

    // Reload: the host puts the text back; the engine restores the cache.
    await page.reload();
    await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
    await page.evaluate((m) => ((window as any).chat.messages = m), conversation);
    const restored = await ask(page, questions[1]);
    const events = await sessionEvents(page);
    assert.equal(events[0]?.kind, 'restored', JSON.stringify(events));
    assert.equal(events[0].nTokens, first.nTokens);
    const s = restored.answer.stats!;
    assert.ok(s.cachedTokens >= first.nTokens - 1, `reused ${s.cachedTokens} of ${s.promptTokens}, ${first.nTokens} saved`);
    assert.equal(restored.answer.content, refAnswers[1]);
    await saved(page, 1);

    // A save cut off before its switch (a tab closed mid-save) leaves chunks of
    // a newer version behind: the manifest still names the previous one.
    const keys = await sessionKeys(page, 'conv1');
    const chunk = keys.find((k) => k[0] === 'session-chunk')!;
    // (Index 7: more chunks than the next save writes, so it would stay if left alone.)
    const stray = ['session-chunk', 'conv1', (chunk[2] as number) + 1, 7];
    await tamper(page, chunk, 'copy-to', stray);
    await page.reload();
    await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
    const previous = (await page.evaluate(async () => (window as any).chat.currentEngine.restoreSession('conv1'))) as { nTokens: number };
    assert.ok(previous.nTokens > first.nTokens);
    await page.evaluate(() => (window as any).chat.currentEngine.resetContext());

    // The same reload without a session evaluates the conversation again (for the time to first token).
    const plain = await openChat(context, server.url, '');
    await plain.evaluate((m) => ((window as any).chat.messages = m), conversation);
    const evaluated = await ask(plain, questions[1]);
    assert.equal(evaluated.answer.stats!.cachedTokens, 0);
    assert.equal(evaluated.answer.content, refAnswers[1]);
    console.log(
      `time to first token after a reload, ${s.promptTokens}-token prompt: restored ${restored.ttftMs.toFixed(0)} ms,` +
        ` evaluated again ${evaluated.ttftMs.toFixed(0)} ms`,
    );
    await plain.close();

    // The next save removes the interrupted one's leftovers.
    const twoTurnConversation = [...conversation, { role: 'user', content: questions[1] }, { role: 'assistant', content: refAnswers[1] }];
    await page.evaluate((m) => ((window as any).chat.messages = m), twoTurnConversation);
    await ask(page, questions[2]);
    const third = await saved(page, 1);
    assert.equal(third.kind, 'saved', JSON.stringify(third));
    const after = await sessionKeys(page, 'conv1');
    assert.deepEqual(after, [['session', 'conv1'], ['session-chunk', 'conv1', (chunk[2] as number) + 1, 0]]);
    assert.equal((await messages(page)).at(-1)?.content, refAnswers[2]);

    // A chunk corrupted by hand: 'store/corrupt', and the chat evaluates the conversation, its text intact.
    const latest = (await sessionKeys(page, 'conv1')).find((k) => k[0] === 'session-chunk')!;
    await tamper(page, latest, 'flip');
    const full = await messages(page);
    await page.reload();
    await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
    await page.evaluate((m) => ((window as any).chat.messages = m.slice(0, 4)), full);
    const fallback = await ask(page, questions[2]);
    const failed = (await sessionEvents(page))[0];
    assert.equal(failed?.kind, 'failed', JSON.stringify(failed));
    assert.equal(failed.code, 'store/corrupt');
    assert.equal(fallback.answer.stats!.cachedTokens, 0);
    assert.equal(fallback.answer.content, refAnswers[2]);
    assert.deepEqual(
      (await messages(page)).map((m) => m.content),
      full.map((m) => m.content),
    );

    // Settings: the saved sessions with their size, and a delete button each.
    await saved(page, 2);
    await page.locator('hob-chat .settings-button').click();
    const row = page.locator('hob-chat .sessions .row[data-session="conv1"]');
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /conv1 \(\d+ tokens, [\d.]+ \w*B,/);
    assert.match((await page.locator('hob-chat .sessions-total').textContent()) ?? '', /Saved sessions \([\d.]+ \w*B in all\)/);
    await row.locator('button').click();
    await page.locator('hob-chat .sessions .row[data-session="conv1"]').waitFor({ state: 'detached' });
    const names = await page.evaluate(async () => (await (window as any).chat.currentEngine.listSessions()).map((x: { name: string }) => x.name));
    assert.deepEqual(names.filter((n: string) => n === 'conv1'), []);
    assert.deepEqual(await sessionKeys(page, 'conv1'), []);
    await page.close();
  });
});
