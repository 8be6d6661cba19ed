// The public API in headless Chromium: createEngine starts its own worker
// and loads the model by URL through the store; streamed chunks reassemble
// to the whole result and greedy text equals Node's; an abort from the page
// stops generation within a token and the next request still works; the
// page's main thread keeps drawing frames while the worker generates.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { createEngine } from '../../src/node/index.js';
import { filesDir, launchBrowser, openPage, startServer, testdataDir } from './harness.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

const modelFile = 'llama-2-tiny-random.gguf';
const prompt = 'Once upon a time, there was a little girl who lived in a house';

async function nodeGreedy(maxTokens: number): Promise<string> {
  const engine = await createEngine({ model: join(testdataDir, modelFile), contextSize: 512, threads: 1 });
  try {
    const r = await engine.completions.create({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true });
    return r.choices[0].text;
  } finally {
    await engine.unload();
  }
}

describe('public API in Chromium', () => {
  let browser: Browser;
  let server: { server: ViteDevServer; url: string };
  let page: Page;
  let errors: string[];
  let reference: string;

  before(async () => {
    // A model slow enough (about 10 ms a token on one thread) that a token's
    // time dominates the page-to-worker latency.
    writeFileSync(join(filesDir, 'slow.gguf'), writeRandomLlama(makeSpec('tiny', {
      name: 'slow', nEmbd: 512, nFf: 1536, nLayer: 6, nHead: 8, nHeadKv: 4, nVocab: 2048, weightType: 'q8_0',
    })));
    [browser, server, reference] = await Promise.all([launchBrowser(), startServer(true), nodeGreedy(64)]);
    ({ page, errors } = await openPage(browser, `${server.url}/test/browser/pages/api.html`));
    await page.waitForFunction(() => document.title === 'ready');
    await page.evaluate(async (url) => {
      const w = window as any;
      w.engine = await w.hobApi.createEngine({ model: url, contextSize: 512, threads: 2 });
      w.slow = await w.hobApi.createEngine({ model: { bytes: new Uint8Array(await (await fetch('/__files/slow.gguf')).arrayBuffer()) }, contextSize: 512, threads: 1 });
    }, `/__testdata/${modelFile}`);
  });
  after(async () => {
    await page?.evaluate(async () => {
      await (window as any).engine?.unload();
      await (window as any).slow?.unload();
    });
    await browser?.close();
    await server?.server.close();
  });

  test('the engine loads by URL through the store and reports the load', async () => {
    const info = await page.evaluate(() => (window as any).engine.info());
    assert.equal(info.model.nVocab, 32000);
    assert.equal(info.contextSize, 512);
    assert.equal(info.variant, 'mt');
    assert.equal(info.load.gpuLayers, 0);
  });

  test('greedy text equals Node, and streamed chunks reassemble to the whole result', async () => {
    const r = await page.evaluate(async (prompt) => {
      const engine = (window as any).engine;
      const greedy = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, ignore_eos: true });
      const req = { messages: [{ role: 'user', content: prompt }], max_tokens: 40, temperature: 1, seed: 11, ignore_eos: true };
      const whole = await engine.chat.completions.create(req);
      const parts: string[] = [];
      let last: any;
      for await (const c of await engine.chat.completions.create({ ...req, stream: true })) {
        parts.push(c.choices[0].delta.content ?? '');
        last = c;
      }
      return { greedy: greedy.choices[0].text, whole: whole.choices[0].message.content, parts, last };
    }, prompt);
    assert.equal(r.greedy, reference);
    assert.equal(r.parts.join(''), r.whole);
    assert.ok(r.parts.length > 10);
    assert.equal(r.last.choices[0].finish_reason, 'length');
    assert.equal(r.last.usage.completion_tokens, 40);
  });

  test('abort from the page stops within one token, and the next request works', async () => {
    const r = await page.evaluate(async (prompt) => {
      const engine = (window as any).slow;
      const fresh = await engine.completions.create({ prompt, max_tokens: 24, temperature: 0, ignore_eos: true });
      const controller = new AbortController();
      let chunks = 0;
      let atAbort = 0;
      let abortedAt = 0;
      let last: any;
      const t0 = performance.now();
      for await (const c of await engine.completions.create({ prompt, max_tokens: 400, temperature: 0, ignore_eos: true, stream: true, signal: controller.signal })) {
        last = c;
        if (c.choices[0].finish_reason === null) chunks++;
        if (chunks === 10 && !abortedAt) {
          atAbort = chunks;
          abortedAt = performance.now();
          controller.abort();
        }
      }
      const msPerToken = (abortedAt - t0) / atAbort;
      const stopMs = performance.now() - abortedAt;
      const next = await engine.completions.create({ prompt, max_tokens: 24, temperature: 0, ignore_eos: true });
      return {
        atAbort, finish: last.choices[0].finish_reason, tokens: last.usage.completion_tokens, stopMs, msPerToken,
        fresh: fresh.choices[0].text, next: next.choices[0].text, cached: next.usage.cached_tokens,
      };
    }, prompt);
    console.log(`abort: ${r.tokens - r.atAbort} token(s) after the abort, finished ${r.stopMs.toFixed(1)} ms after it (${r.msPerToken.toFixed(1)} ms a token)`);
    assert.equal(r.finish, 'abort');
    assert.ok(r.tokens - r.atAbort <= 1, `${r.tokens - r.atAbort} tokens generated after the abort`);
    assert.ok(r.stopMs < 2 * r.msPerToken + 20, `stopped ${r.stopMs} ms after the abort`);
    assert.equal(r.next, r.fresh, 'after the abort, the cache gives the same greedy text as before');
    assert.ok(r.cached > 0);
  });

  test('a long generation does not block the main thread (no frame gap over 50 ms)', async () => {
    const r = await page.evaluate(async (prompt) => {
      const w = window as any;
      const probe = w.frameGaps();
      const t0 = performance.now();
      const res = await w.slow.completions.create({ prompt, max_tokens: 150, temperature: 0.8, seed: 1, ignore_eos: true, stream: true });
      let n = 0;
      for await (const _ of res) n++;
      const ms = performance.now() - t0;
      return { ...probe.stop(), ms, n };
    }, prompt);
    console.log(`generation ${r.ms.toFixed(0)} ms, ${r.frames} frames, largest gap ${r.maxGapMs.toFixed(1)} ms`);
    assert.ok(r.frames > 10, `only ${r.frames} frames in ${r.ms} ms`);
    assert.ok(r.maxGapMs < 50, `a frame gap of ${r.maxGapMs} ms`);
  });

  test('errors keep their type and code in the page', async () => {
    const r = await page.evaluate(async () => {
      const w = window as any;
      const out: any = {};
      try {
        await w.hobApi.createEngine({ model: { bytes: new TextEncoder().encode('GGML not a gguf') } });
      } catch (e: any) {
        out.format = { name: e.name, code: e.code, isModelFormat: e instanceof w.hobApi.ModelFormatError };
      }
      const slow = w.engine.completions.create({ prompt: 'a', max_tokens: 50, ignore_eos: true });
      try {
        await w.engine.completions.create({ prompt: 'b', max_tokens: 1, failIfBusy: true });
      } catch (e: any) {
        out.busy = { name: e.name, code: e.code, isBusy: e instanceof w.hobApi.BusyError };
      }
      await slow;
      return out;
    });
    assert.deepEqual(r.format, { name: 'ModelFormatError', code: 'gguf/bad-magic', isModelFormat: true });
    assert.deepEqual(r.busy, { name: 'BusyError', code: 'engine/busy', isBusy: true });
    assert.deepEqual(errors, []);
  });
});
