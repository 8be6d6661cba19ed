// The engine in headless Chromium: the worker loads a model, generates, and
// agrees token for token with the same engine in Node; errors keep their
// code across the worker boundary.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';

import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { Engine, generate, loadModelFile, Sequence, Session } from '../../src/node/index.js';
import { launchBrowser, openPage, startServer, testdataDir } from './harness.js';

const modelFile = 'llama-2-tiny-random.gguf';
const prompt = 'Once upon a time, in a small village';
const nPredict = 48;

async function nodeReference(): Promise<number[]> {
  const engine = await Engine.create({ threads: 2 });
  const model = await loadModelFile(engine, join(testdataDir, modelFile));
  const session = Session.create(model, { nCtx: 256 });
  const r = await generate(model, new Sequence(session), { temperature: 0, promptIds: model.tokenize(prompt), maxTokens: nPredict, ignoreEos: true });
  engine.dispose();
  return r.ids;
}

type PageResult = { variant: string; simd: string; threads: number; ids: number[] };

async function runInPage(browser: Browser, base: string, threads: number): Promise<PageResult> {
  const { page, errors } = await openPage(browser, `${base}/test/browser/pages/engine.html`);
  await page.waitForFunction(() => document.title === 'ready');
  const result = await page.evaluate(
    async ({ url, prompt, nPredict, threads }) => {
      const hob = (window as any).hob;
      const info = await hob.open({ location: { url }, threads, contextSize: 256 });
      const r = await hob.generate(1, { prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
      return { variant: info.variant, simd: info.simd, threads: info.threads, ids: r.ids };
    },
    { url: `/__testdata/${modelFile}`, prompt, nPredict, threads },
  );
  await page.close();
  assert.deepEqual(errors, []);
  return result;
}

describe('engine in Chromium', () => {
  let browser: Browser;
  let isolated: { server: ViteDevServer; url: string };
  let plain: { server: ViteDevServer; url: string };
  let reference: number[];

  before(async () => {
    [browser, isolated, plain, reference] = await Promise.all([launchBrowser(), startServer(true), startServer(false), nodeReference()]);
  });
  after(async () => {
    await browser?.close();
    await isolated?.server.close();
    await plain?.server.close();
  });

  // Chromium runs the relaxed-SIMD builds; Node 20 the SIMD128 ones: the ids agree.
  test('a threaded worker on a cross-origin isolated page generates the same ids as Node', async () => {
    const r = await runInPage(browser, isolated.url, 2);
    assert.equal(r.variant, 'mt');
    assert.equal(r.simd, 'relaxed');
    assert.equal(r.threads, 2);
    assert.equal(r.ids.length, nPredict);
    assert.deepEqual(r.ids, reference);
  });

  test('without cross-origin isolation the single-thread build runs and generates the same ids', async () => {
    const r = await runInPage(browser, plain.url, 2);
    assert.equal(r.variant, 'st');
    assert.equal(r.simd, 'relaxed');
    assert.equal(r.threads, 1);
    assert.deepEqual(r.ids, reference);
  });

  test('a malformed model fails in the worker with its code and numbers intact', async () => {
    const { page } = await openPage(browser, `${isolated.url}/test/browser/pages/engine.html`);
    await page.waitForFunction(() => document.title === 'ready');
    const err = await page.evaluate(async () => {
      const hob = (window as any).hob;
      try {
        await hob.open({ location: { bytes: new TextEncoder().encode('GGUF\x09\x00\x00\x00 not really') }, threads: 1 });
        return null;
      } catch (e: any) {
        return { code: e.code, name: e.name, message: e.message, details: e.details };
      }
    });
    await page.close();
    assert.ok(err, 'loading must fail');
    assert.equal(err.code, 'gguf/bad-version');
    assert.equal(err.name, 'ModelFormatError');
    assert.match(err.message, /version 9/);
    assert.equal(err.details.status, 4);
  });
});
