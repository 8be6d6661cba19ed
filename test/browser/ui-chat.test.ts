// <hob-chat> in headless Chromium on the real engine and a real GGUF (a
// script model: its greedy output is known text, with an <img onerror> and a
// <script> in it). Streaming, markdown and code copy, the XSS guarantees,
// stop, regenerate, edit with prefix reuse, keyboard-only use, shadow-root
// hosting, theming and CSS isolation. With a Qwen 3 template and a script
// that thinks and calls a tool: the reasoning block, the tool loop, a tool
// that throws, Stop while a tool runs, and a restored conversation with
// reasoning and tool entries.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { filesDir, launchBrowser, startServer } from './harness.js';
import { TEST_SCRIPT, TOOL_SCRIPT, writeScriptModel } from './ui/script-model.js';

type Msg = {
  role: string;
  content: string;
  reasoning?: string;
  reasoningMs?: number;
  toolCall?: { id: string; function: { name: string; arguments: string } };
  error?: string;
  stats?: { completionTokens: number; promptTokens: number; cachedTokens: number; finishReason: string };
};
type Sent = { role: string; content: string | null; reasoning_content?: string; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string };
type Request = { messages: Sent[]; tools?: { function: { name: string } }[]; tool_choice?: string };

async function openChat(context: BrowserContext, base: string, query: string, model = '/__files/script.gguf'): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  await page.goto(`${base}/test/browser/pages/chat.html?model=${model}&${query}`);
  await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 60_000 });
  return { page, errors };
}

const messages = (page: Page): Promise<Msg[]> => page.evaluate(() => (window as any).chat.messages);
const requests = (page: Page): Promise<Request[]> => page.evaluate(() => (window as any).requests);
const countEvents = (page: Page, type: string): Promise<number> =>
  page.evaluate((t) => (window as any).events.filter((e: { type: string }) => e.type === t).length, type);

/** Waits until `n` answers have finished (each reply of a tool loop is one). */
async function answered(page: Page, n: number): Promise<Msg> {
  await page.waitForFunction(
    (n) => !(window as any).chat.busy && (window as any).events.filter((e: { type: string }) => e.type === 'message').length >= n,
    n,
    { timeout: 60_000 },
  );
  return (await messages(page)).at(-1) as Msg;
}

/** Gives the chat the test page's get_weather tool (see pages/chat.ts). */
const setWeatherTool = (page: Page, behaviour: 'answer' | 'throw' | 'hang'): Promise<void> =>
  page.evaluate((b) => (window as any).setWeatherTool(b), behaviour);

describe('<hob-chat>', () => {
  let browser: Browser;
  let context: BrowserContext;
  let server: { server: ViteDevServer; url: string };

  before(async () => {
    writeFileSync(join(filesDir, 'script.gguf'), writeScriptModel(TEST_SCRIPT));
    writeFileSync(join(filesDir, 'tools.gguf'), writeScriptModel(TOOL_SCRIPT));
    const endless = '{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}';
    writeFileSync(join(filesDir, 'endless-template.gguf'), writeScriptModel({ ...TEST_SCRIPT, chatTemplate: endless }));
    [browser, server] = await Promise.all([launchBrowser(), startServer(true)]);
    context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  });
  after(async () => {
    await browser?.close();
    await server?.server.close();
  });

  test('streams an answer as sanitized markdown: model and user HTML show as text, code blocks copy', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=40');
    assert.equal(await page.locator('hob-chat .title').textContent(), 'hob-script-test');
    assert.match((await page.locator('hob-chat .status').textContent()) ?? '', /2 threads|\d+ threads/);

    const userHtml = '<img src=x onerror="window.__xss=3"> <script>window.__xss=4</script> **not bold**';
    await page.locator('hob-chat #input').fill(userHtml);
    await page.locator('hob-chat #input').press('Enter');
    const answer = await answered(page, 1);

    // The model really emitted the payload, 40 tokens of it, streamed token by token.
    assert.match(answer.content, /^Here is <img src=x onerror="window.__xss=1"> and <script>window.__xss=2<\/script> as text\./);
    assert.equal(answer.stats?.completionTokens, 40);
    assert.equal(answer.stats?.finishReason, 'length');
    const tokens = await countEvents(page, 'token');
    assert.ok(tokens >= 30, `streamed in ${tokens} token events`);

    // Neither the model's nor the user's HTML became elements, and nothing ran.
    const dom = await page.evaluate(() => {
      const root = (window as any).chat.shadowRoot as ShadowRoot;
      const [user, assistant] = [...root.querySelectorAll('article')];
      return {
        xss: (window as any).__xss ?? null,
        elements: root.querySelectorAll('.messages img, .messages script, .messages [onerror]').length,
        assistantText: assistant.querySelector('.content')?.textContent ?? '',
        userText: user.querySelector('.content')?.textContent ?? '',
        userStrong: user.querySelectorAll('strong').length,
        code: assistant.querySelector('.code pre')?.textContent ?? '',
        copyButtons: assistant.querySelectorAll('.code button.copy').length,
      };
    });
    assert.equal(dom.xss, null);
    assert.equal(dom.elements, 0);
    assert.ok(dom.assistantText.includes('<img src=x onerror="window.__xss=1">'), dom.assistantText);
    assert.ok(dom.assistantText.includes('<script>window.__xss=2</script>'), dom.assistantText);
    assert.equal(dom.userText, userHtml);
    assert.equal(dom.userStrong, 0);
    assert.equal(dom.code, 'console.log(42);\n');
    assert.equal(dom.copyButtons, 1);

    // Markdown cannot smuggle script or resources in either: links lose javascript:, images become links.
    const md = await page.evaluate(() =>
      (window as any).renderMarkdownHtml('[a](javascript:alert(1)) ![b](https://example.com/t.png) <a href="#" onclick="x()">c</a>'),
    );
    assert.doesNotMatch(md, /javascript:|<img|<[^>]*\sonclick=/);
    assert.match(md, /<a href="https:\/\/example\.com\/t\.png"[^>]*>b<\/a>/);
    assert.match(md, /&lt;a href="#" onclick="x\(\)"&gt;c&lt;\/a&gt;/);

    await page.locator('hob-chat .code button.copy').click();
    await page.waitForFunction(() => (window as any).chat.shadowRoot.querySelector('.copy').textContent === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'console.log(42);\n');
    assert.match((await page.locator('hob-chat .context').textContent()) ?? '', /^Context \d+ \/ 4096 tokens/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('stop ends an endless answer; regenerate answers again and an edit re-evaluates only from the edited message', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=24');
    await page.locator('hob-chat #input').fill('First question');
    await page.locator('hob-chat .send').click();
    const first = await answered(page, 1);
    assert.equal(first.stats?.completionTokens, 24);

    // No token limit: the script model never ends, only Stop does.
    await page.evaluate(() => (window as any).chat.removeAttribute('max-tokens'));
    await page.locator('hob-chat #input').fill('Second question');
    await page.locator('hob-chat #input').press('Enter');
    await page.waitForFunction(() => (window as any).events.filter((e: { type: string }) => e.type === 'token').length > 24 + 30);
    assert.equal(await page.locator('hob-chat .stop').isVisible(), true);
    await page.locator('hob-chat .stop').click();
    const stopped = await answered(page, 2);
    assert.equal(stopped.stats?.finishReason, 'abort');
    assert.ok(stopped.stats!.completionTokens >= 30, `stopped after ${stopped.stats?.completionTokens} tokens`);
    assert.equal(await page.locator('hob-chat .send').isVisible(), true);

    await page.evaluate(() => (window as any).chat.setAttribute('max-tokens', '16'));
    await page.locator('hob-chat button.regenerate').click();
    const again = await answered(page, 3);
    const afterRegenerate = await messages(page);
    assert.equal(afterRegenerate.length, 4);
    assert.equal(again.stats?.completionTokens, 16);
    assert.equal(again.stats?.finishReason, 'length');
    // The prompt (both questions and the first answer) was reused from the cache up to the last answer.
    assert.ok(again.stats!.cachedTokens >= first.stats!.promptTokens + 20, JSON.stringify(again.stats));

    // Edit the second question: everything before it comes from the cache.
    await page.locator('hob-chat article[data-index="2"] button.edit').click();
    const editor = page.locator('hob-chat article[data-index="2"] textarea');
    await editor.fill('Second question, edited');
    await editor.press('Enter');
    const edited = await answered(page, 4);
    const afterEdit = await messages(page);
    assert.deepEqual(afterEdit.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
    assert.equal(afterEdit[2].content, 'Second question, edited');
    assert.equal(afterEdit[0].content, 'First question');
    const s = edited.stats!;
    const editTokens = await page.evaluate(() => (window as any).chat.currentEngine.tokenize('Second question, edited', { addSpecial: false }));
    assert.ok(s.cachedTokens > first.stats!.promptTokens + 20, `cached ${s.cachedTokens} of ${s.promptTokens}`);
    // Re-evaluated: the edited text and the few template tokens around it (the turn's end, the assistant header).
    const fresh = s.promptTokens - s.cachedTokens;
    assert.ok(fresh >= editTokens.length && fresh <= editTokens.length + 8, `re-evaluated ${fresh} tokens for an edit of ${editTokens.length}`);

    await page.locator('hob-chat .clear').click();
    assert.deepEqual(await messages(page), []);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a long answer in a small context shifts it and the context line shows the shifts', async () => {
    const { page, errors } = await openChat(context, server.url, 'context-size=96&max-tokens=150');
    await page.locator('hob-chat #input').fill('Go on');
    await page.locator('hob-chat #input').press('Enter');
    const answer = await answered(page, 1);
    // 150 tokens after the prompt cannot fit in 96 cells without evicting.
    assert.equal(answer.stats?.completionTokens, 150);
    assert.equal(answer.stats?.finishReason, 'length');
    const ctx = page.locator('hob-chat .context');
    await page.waitForFunction(() => Number((window as any).chat.shadowRoot.querySelector('.context').dataset.shifts) > 0);
    const shifts = Number(await ctx.getAttribute('data-shifts'));
    const used = Number(await ctx.getAttribute('data-used'));
    assert.ok(shifts >= 2, `${shifts} shifts`);
    assert.ok(used > 0 && used <= 96, `${used} tokens in a context of 96`);
    assert.match((await ctx.textContent()) ?? '', new RegExp(`Context ${used} / 96 tokens · ${shifts} shifts \\(last evicted \\d+ tokens\\)`));
    assert.equal(await countEvents(page, 'error'), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('keyboard only: focus the input, send with Enter, stop with Escape, open and close the settings', async () => {
    const { page, errors } = await openChat(context, server.url, '');
    const focused = () => page.evaluate(() => {
      const inner = (window as any).chat.shadowRoot.activeElement as HTMLElement | null;
      return inner ? inner.id || inner.className : null;
    });
    // Tab from the top of the page: the settings button, the conversation log, then the message box.
    const order: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused());
    }
    assert.deepEqual(order, ['settings-button', 'messages', 'input']);
    await page.keyboard.type('Hello from the keyboard');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (window as any).events.filter((e: { type: string }) => e.type === 'token').length > 10);
    await page.keyboard.press('Escape');
    const stopped = await answered(page, 1);
    assert.equal(stopped.stats?.finishReason, 'abort');

    // ARIA: the conversation is a live log, statuses are announced, buttons are named.
    const aria = await page.evaluate(() => {
      const root = (window as any).chat.shadowRoot as ShadowRoot;
      return {
        log: root.querySelector('.messages')?.getAttribute('role'),
        status: root.querySelector('.status')?.getAttribute('role'),
        input: root.querySelector('label[for="input"]')?.textContent,
        unnamed: [...root.querySelectorAll('button')].filter((b) => !(b.textContent?.trim() || b.getAttribute('aria-label'))).length,
      };
    });
    assert.deepEqual(aria, { log: 'log', status: 'status', input: 'Message', unnamed: 0 });

    // Stopping returned the focus to the message box; back up through the answer's buttons to Settings.
    assert.equal(await focused(), 'input');
    const back: (string | null)[] = [];
    while (back.at(-1) !== 'settings-button' && back.length < 8) {
      await page.keyboard.press('Shift+Tab');
      back.push(await focused());
    }
    assert.deepEqual(back, ['regenerate', 'copy', 'edit', 'messages', 'settings-button']);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (window as any).chat.shadowRoot.querySelector('dialog').open);
    assert.equal(await page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.tagName), 'SELECT');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !(window as any).chat.shadowRoot.querySelector('dialog').open);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a bad URL fires an error event; Settings loads a local file and applies a sampler preset', async () => {
    const { page, errors } = await openChat(context, server.url, '');
    const failed = await page.evaluate(async () => {
      const chat = (window as any).chat;
      await chat.load('/__files/missing.gguf').catch(() => {});
      return (window as any).events.filter((e: { type: string }) => e.type === 'error').map((e: { detail: unknown }) => e.detail);
    });
    assert.equal(failed.length, 1);
    assert.equal(typeof failed[0].code, 'string');
    assert.match(await page.locator('hob-chat .status').textContent() ?? '', /^Could not load missing\.gguf/);

    await page.locator('hob-chat .settings-button').click();
    await page.locator('hob-chat input[name="model-file"]').setInputFiles({ name: 'picked.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(writeScriptModel({ ...TEST_SCRIPT, name: 'picked-file' })) });
    await page.locator('hob-chat select[name="preset"]').selectOption('Greedy');
    assert.equal(await page.locator('hob-chat input[name="temperature"]').inputValue(), '0');
    await page.locator('hob-chat button.apply').click();
    await page.waitForFunction(() => (window as any).events.filter((e: { type: string }) => e.type === 'load').length === 2, null, { timeout: 60_000 });
    assert.equal(await page.locator('hob-chat .title').textContent(), 'picked-file');
    assert.equal(await page.evaluate(() => (window as any).chat.sampling.temperature), 0);
    assert.equal(await page.evaluate(() => (window as any).chat.getAttribute('preset')), 'Greedy');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a chat template that never ends shows its template/limit error in the answer and leaves the chat usable', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=8', '/__files/endless-template.gguf');
    await page.locator('hob-chat #input').fill('Hello');
    await page.locator('hob-chat #input').press('Enter');
    const t0 = Date.now();
    await answered(page, 1);
    assert.ok(Date.now() - t0 < 20_000, `answered after ${Date.now() - t0} ms`);
    const reported = await page.evaluate(() => (window as any).events.filter((e: { type: string }) => e.type === 'error').map((e: { detail: unknown }) => e.detail));
    assert.equal(reported.length, 1);
    assert.equal(reported[0].code, 'template/limit');
    assert.match(await page.locator('hob-chat .messages .error').textContent() ?? '', /chat template ran past its budget .*\(template\/limit\)$/);
    assert.equal(await page.locator('hob-chat .send').isVisible(), true);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('inside another shadow root: page CSS does not reach in, the chat CSS does not leak out, custom properties and parts theme it', async () => {
    const { page, errors } = await openChat(context, server.url, 'shadow&max-tokens=8');
    const styles = await page.evaluate(() => {
      const chat = document.getElementById('host')!.shadowRoot!.querySelector('hob-chat')!;
      // The host's own shadow root themes the chat, as a component that embeds it would.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync('hob-chat { --hob-accent: rgb(1, 2, 3); } hob-chat::part(input) { border-color: rgb(4, 5, 6); }');
      document.getElementById('host')!.shadowRoot!.adoptedStyleSheets = [sheet];
      const root = chat.shadowRoot!;
      const outside = document.createElement('button');
      outside.textContent = 'page button';
      document.body.append(outside);
      const p = document.createElement('p');
      document.body.append(p);
      return {
        send: getComputedStyle(root.querySelector('.send')!).backgroundColor,
        input: getComputedStyle(root.querySelector('#input')!).borderTopColor,
        clear: getComputedStyle(root.querySelector('.clear')!).backgroundColor,
        outsideButton: getComputedStyle(outside).backgroundColor,
        outsideP: getComputedStyle(p).color,
        bodyFont: getComputedStyle(document.body).fontFamily,
      };
    });
    assert.equal(styles.send, 'rgb(1, 2, 3)');
    assert.equal(styles.input, 'rgb(4, 5, 6)');
    assert.notEqual(styles.clear, 'rgb(255, 0, 0)');
    assert.equal(styles.outsideButton, 'rgb(255, 0, 0)');
    assert.equal(styles.outsideP, 'rgb(0, 128, 0)');
    assert.equal(styles.bodyFont, 'serif');
    await page.locator('hob-chat #input').fill('From a nested shadow root');
    await page.locator('hob-chat #input').press('Enter');
    const answer = await answered(page, 1);
    assert.ok(answer.content.startsWith('Here is <img'), answer.content);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('reasoning streams into its own block, open while the model thinks and collapsed once it answers; a tool call runs and the model answers with its result', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=80', '/__files/tools.gguf');
    await setWeatherTool(page, 'answer');
    // Hold the stream at the reply's tool call, to look at the thought while it is the last thing streamed.
    await page.evaluate(() => {
      const w = window as any;
      w.held = new Promise((r) => (w.release = r));
      w.gate = (c: any) => (c.choices[0].delta.tool_calls ? ((w.gate = undefined), (w.paused = true), w.held) : undefined);
    });
    await page.locator('hob-chat #input').fill('What is the weather in Paris?');
    await page.locator('hob-chat #input').press('Enter');
    await page.waitForFunction(() => (window as any).paused, null, { timeout: 60_000 });
    const thinking = page.locator('hob-chat article.assistant details.reasoning');
    await page.waitForFunction(() => (window as any).chat.shadowRoot.querySelector('.reasoning-text')?.textContent.endsWith('the tool.'));
    assert.equal(await thinking.evaluate((d: HTMLDetailsElement) => d.open), true);
    assert.equal(await thinking.locator('summary').textContent(), 'Thinking…');
    assert.equal(await page.locator('hob-chat .stop').isVisible(), true);
    await page.evaluate(() => (window as any).release());

    const final = await answered(page, 2);
    assert.equal(final.content, 'The tool has answered: see above.');
    const all = await messages(page);
    assert.deepEqual(all.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    const [, thought, tool] = all;
    // The thought is apart from the answer, as text: its <b> is not an element.
    assert.equal(thought.reasoning, 'The user wants the weather in Paris: <b>ask</b> the tool.');
    assert.equal(thought.content, '');
    assert.ok(typeof thought.reasoningMs === 'number' && thought.reasoningMs >= 0, JSON.stringify(thought));
    assert.equal(thought.stats?.finishReason, 'tool_calls');
    assert.equal(await thinking.evaluate((d: HTMLDetailsElement) => d.open), false);
    assert.match((await thinking.locator('summary').textContent()) ?? '', /^Thought for (under 0\.1|\d+(\.\d)?) seconds$/);
    assert.equal(await thinking.locator('.reasoning-text').textContent(), thought.reasoning);
    assert.equal(await page.locator('hob-chat .reasoning b').count(), 0);

    // The call ran with the model's arguments; call and result show as text, in their own entry.
    assert.deepEqual(await page.evaluate(() => (window as any).toolRuns), [{ city: 'Paris' }]);
    assert.equal(tool.toolCall?.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(tool.content), { sky: 'clear', note: '<img src=x onerror="window.__xss=5">' });
    const toolView = page.locator('hob-chat article.tool');
    assert.equal(await toolView.locator('.call .name').textContent(), 'get_weather');
    assert.equal(await toolView.locator('.call .arguments').textContent(), '{"city": "Paris"}');
    assert.equal(await toolView.locator('.result').textContent(), tool.content);
    assert.equal(await page.evaluate(() => (window as any).__xss ?? null), null);
    assert.equal(await page.locator('hob-chat .messages img').count(), 0);

    // Both requests offered the tool; the second carried the call, its result and the thought (as reasoning_content).
    const [first, second] = await requests(page);
    assert.deepEqual(first.tools?.map((t) => t.function.name), ['get_weather']);
    assert.equal(first.tool_choice, 'auto');
    const sent = second.messages;
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.equal(sent[1].reasoning_content, thought.reasoning);
    assert.equal(sent[1].content, null);
    assert.deepEqual(sent[1].tool_calls?.map((c) => c.function), [{ name: 'get_weather', arguments: '{"city": "Paris"}' }]);
    assert.equal(sent[2].tool_call_id, sent[1].tool_calls?.[0].id);
    assert.equal(sent[2].content, tool.content);
    assert.equal(await countEvents(page, 'message'), 2);
    // Regenerate asks the question again: the answer and its tool call are replaced.
    await page.locator('hob-chat button.regenerate').click();
    await answered(page, 4);
    assert.deepEqual((await messages(page)).map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.equal((await requests(page)).length, 4);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a tool that throws: its error goes back to the model as the result, and the chat answers and stays usable', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=80', '/__files/tools.gguf');
    await setWeatherTool(page, 'throw');
    await page.locator('hob-chat #input').fill('Weather in Paris?');
    await page.locator('hob-chat .send').click();
    const final = await answered(page, 2);
    assert.equal(final.content, 'The tool has answered: see above.');
    const tool = (await messages(page))[2];
    assert.equal(tool.error, 'weather service down');
    assert.deepEqual(JSON.parse(tool.content), { error: 'weather service down' });
    assert.equal(await page.locator('hob-chat article.tool .error').textContent(), 'weather service down');
    const [, second] = await requests(page);
    assert.deepEqual(JSON.parse(second.messages.find((m) => m.role === 'tool')?.content ?? ''), { error: 'weather service down' });
    assert.equal(await countEvents(page, 'error'), 0);
    assert.equal(await page.locator('hob-chat .send').isVisible(), true);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('Stop while a tool runs ends the loop: the tool sees its signal abort, nothing more is asked, and the next question carries the stopped result', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=80', '/__files/tools.gguf');
    await setWeatherTool(page, 'hang');
    await page.locator('hob-chat #input').fill('Weather in Paris?');
    await page.locator('hob-chat #input').press('Enter');
    const running = page.locator('hob-chat article.tool .result.running');
    await running.waitFor({ timeout: 60_000 });
    assert.equal(await running.textContent(), 'Running…');
    assert.equal(await page.evaluate(() => (window as any).chat.busy), true);
    // The keyboard followed the answer to Stop.
    assert.equal(await page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.className), 'stop');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !(window as any).chat.busy);
    assert.equal(await page.evaluate(() => (window as any).toolSignal.aborted), true);
    assert.equal((await requests(page)).length, 1);
    const tool = (await messages(page)).at(-1)!;
    assert.equal(tool.role, 'tool');
    assert.equal(tool.error, 'stopped');
    assert.equal(await page.locator('hob-chat article.tool .error').textContent(), 'stopped');
    assert.equal(await page.locator('hob-chat .send').isVisible(), true);
    assert.equal(await page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.id), 'input');

    await setWeatherTool(page, 'answer');
    await page.keyboard.type('Try again');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !(window as any).chat.busy && (window as any).chat.messages.length === 7, null, { timeout: 60_000 });
    const next = (await requests(page))[1].messages;
    assert.deepEqual(next.map((m) => m.role), ['user', 'assistant', 'tool', 'user']);
    assert.deepEqual(JSON.parse(next[2].content ?? ''), { error: 'stopped' });
    assert.equal((await messages(page)).at(-1)?.content, 'The tool has answered: see above.');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a restored conversation (older entries too) shows its reasoning and tool entries; the keyboard opens the thought; the next request sends the thought apart', async () => {
    const { page, errors } = await openChat(context, server.url, 'max-tokens=80', '/__files/tools.gguf');
    const call = { id: 'call_restored', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: '<img src=x onerror="window.__xss=6">' }) } };
    const saved = [
      // As the demo saved them before reasoning and tools existed.
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!', stats: { completionTokens: 2, promptTokens: 9, cachedTokens: 0, tokensPerSecond: 30, finishReason: 'stop' } },
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', reasoning: 'Restored thought: call the tool.', reasoningMs: 2300 },
      { role: 'tool', content: '{"sky":"<script>window.__xss=7</script>"}', toolCall: call },
      { role: 'assistant', content: 'It is clear.' },
    ];
    await page.evaluate((saved) => ((window as any).chat.messages = saved), saved);
    assert.deepEqual(await messages(page), saved);
    const block = page.locator('hob-chat details.reasoning');
    assert.equal(await block.count(), 1);
    assert.equal(await block.evaluate((d: HTMLDetailsElement) => d.open), false);
    assert.equal(await block.locator('summary').textContent(), 'Thought for 2.3 seconds');
    assert.equal(await page.locator('hob-chat article.tool .arguments').textContent(), call.function.arguments);
    assert.equal(await page.locator('hob-chat article.tool .result').textContent(), saved[4].content);
    assert.equal(await page.locator('hob-chat .messages img, hob-chat .messages script').count(), 0);
    assert.equal(await page.evaluate(() => (window as any).__xss ?? null), null);

    // Tab to the thought's summary; Enter opens it and closes it again.
    await page.locator('hob-chat .settings-button').focus();
    const focused = () => page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.tagName);
    for (let i = 0; i < 12 && (await focused()) !== 'SUMMARY'; i++) await page.keyboard.press('Tab');
    assert.equal(await focused(), 'SUMMARY');
    await page.keyboard.press('Enter');
    assert.equal(await block.evaluate((d: HTMLDetailsElement) => d.open), true);
    assert.equal(await block.locator('.reasoning-text').isVisible(), true);
    await page.keyboard.press('Enter');
    assert.equal(await block.evaluate((d: HTMLDetailsElement) => d.open), false);

    await setWeatherTool(page, 'answer');
    await page.locator('hob-chat #input').focus();
    await page.keyboard.type('And tomorrow?');
    await page.keyboard.press('Enter');
    await answered(page, 2);
    const sent = (await requests(page))[0].messages;
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user']);
    // The thought goes back as reasoning_content, never inside the content.
    assert.equal(sent[3].reasoning_content, 'Restored thought: call the tool.');
    assert.equal(sent[3].content, null);
    assert.deepEqual(sent[3].tool_calls, [call]);
    assert.equal(sent[4].tool_call_id, 'call_restored');
    assert.ok(sent.every((m) => !String(m.content ?? '').includes('Restored thought')));
    assert.equal(sent[1].reasoning_content, undefined);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
