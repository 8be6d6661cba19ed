// The engine's worker in the browser HOB_BROWSER names (Firefox, WebKitGTK;
// Chromium too): it picks the build the page can run (threads need shared
// memory, which needs cross-origin isolation), agrees token for token with
// Node, keeps error codes across the worker boundary, and without a WebGPU
// adapter runs on the CPU and says why, or fails typed, never hangs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { ViteDevServer } from 'vite';

import { Engine, generate, loadModelFile, Sequence, Session } from '../../src/node/index.js';
import { browserUnderTest, launchTestBrowser, type TestBrowser, type TestPage } from '../browser/drivers/index.js';
import { startServer, testdataDir } from '../browser/harness.js';

const name = browserUnderTest();
const modelFile = 'llama-2-tiny-random.gguf';
const prompt = 'Once upon a time, in a small village';
const nPredict = 24;

// What each engine offers a cross-origin isolated page. WebKitGTK 2.50 sets
// crossOriginIsolated but exposes no SharedArrayBuffer, so Hob stays on one
// thread there; Firefox ESR and WebKitGTK expose no navigator.gpu.
const expected = {
  chromium: { threads: true, webgpu: true },
  firefox: { threads: true, webgpu: false },
  webkit: { threads: false, webgpu: false },
}[name];

async function nodeReference(): Promise<number[]> {
  const engine = await Engine.create({ threads: 1 });
  const model = await loadModelFile(engine, join(testdataDir, modelFile));
  const r = await generate(model, new Sequence(Session.create(model, { nCtx: 256 })), {
    temperature: 0,
    promptIds: model.tokenize(prompt),
    maxTokens: nPredict,
    ignoreEos: true,
  });
  engine.dispose();
  return r.ids;
}

type Run = { coi: boolean; sab: boolean; variant: string; threads: number; ids: number[]; gpuLayers: number; reason?: string };

async function openEnginePage(browser: TestBrowser, base: string): Promise<TestPage> {
  const page = await browser.open(`${base}/test/browser/pages/engine.html`);
  await page.waitFor(() => document.title === 'ready');
  return page;
}

async function run(page: TestPage, opts: { threads: number; gpuLayers?: number | 'auto' }): Promise<Run> {
  return page.evaluate(
    async ({ url, prompt, nPredict, threads, gpuLayers }) => {
      const hob = (window as any).hob;
      const info = await hob.open({ location: { url }, threads, contextSize: 256, ...(gpuLayers !== undefined ? { gpuLayers } : {}) });
      const r = await hob.generate(1, { prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
      return {
        coi: crossOriginIsolated,
        sab: typeof SharedArrayBuffer !== 'undefined',
        variant: info.variant,
        threads: info.threads,
        ids: r.ids,
        gpuLayers: info.load.gpuLayers,
        reason: info.load.reason,
      };
    },
    { url: `/__testdata/${modelFile}`, prompt, nPredict, threads: opts.threads, gpuLayers: opts.gpuLayers },
  );
}

describe(`engine in ${name}`, () => {
  let browser: TestBrowser;
  let isolated: { server: ViteDevServer; url: string };
  let plain: { server: ViteDevServer; url: string };
  let reference: number[];

  before(async () => {
    [browser, isolated, plain, reference] = await Promise.all([launchTestBrowser(), startServer(true), startServer(false), nodeReference()]);
    console.log(`${name} ${browser.version}`);
  });
  after(async () => {
    await browser?.close();
    await isolated?.server.close();
    await plain?.server.close();
  });

  test('on a cross-origin isolated page the worker picks the build this browser can run and generates the same ids as Node', async () => {
    const page = await openEnginePage(browser, isolated.url);
    const r = await run(page, { threads: 2 });
    console.log(`${name}, isolated: crossOriginIsolated ${r.coi}, SharedArrayBuffer ${r.sab}, build hob-${r.variant} with ${r.threads} threads`);
    assert.equal(r.coi, true);
    assert.equal(r.sab, expected.threads);
    assert.equal(r.variant, expected.threads ? 'mt' : 'st');
    assert.equal(r.threads, expected.threads ? 2 : 1);
    assert.deepEqual(r.ids, reference);
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  test('without cross-origin isolation the single-thread build runs and generates the same ids', async () => {
    const page = await openEnginePage(browser, plain.url);
    const r = await run(page, { threads: 2 });
    assert.equal(r.coi, false);
    assert.equal(r.variant, 'st');
    assert.equal(r.threads, 1);
    assert.deepEqual(r.ids, reference);
    assert.deepEqual(await page.errors(), []);
    await page.close();
  });

  test('a malformed model fails in the worker with its code and numbers intact', async () => {
    const page = await openEnginePage(browser, isolated.url);
    const err = await page.evaluate(async () => {
      try {
        await (window as any).hob.open({ location: { bytes: new TextEncoder().encode('GGUF\x09\x00\x00\x00 not really') }, threads: 1 });
        return null;
      } catch (e: any) {
        return { code: e.code, name: e.name, message: e.message, status: e.details?.status };
      }
    });
    assert.deepEqual(err && { ...err, message: /version 9/.test(err.message) }, { code: 'gguf/bad-version', name: 'ModelFormatError', message: true, status: 4 });
    await page.close();
  });

  test(`gpuLayers 'auto' ${expected.webgpu ? 'offloads to the WebGPU adapter' : 'runs on the CPU and engine.info() says why'}; the same ids either way`, async () => {
    const page = await openEnginePage(browser, isolated.url);
    const r = await run(page, { threads: 1, gpuLayers: 'auto' });
    console.log(`${name}, gpuLayers auto: ${r.gpuLayers} blocks on the GPU (${r.reason})`);
    if (expected.webgpu) {
      assert.ok(r.gpuLayers > 0, r.reason);
      assert.match(r.reason ?? '', /^auto: /);
    } else {
      assert.equal(r.gpuLayers, 0);
      assert.equal(r.reason, 'no GPU: WebGPU is not available here (no navigator.gpu)');
    }
    assert.deepEqual(r.ids, reference);
    await page.close();
  });

  test('Firefox with WebGPU switched on (a software Vulkan adapter): gpuLayers auto offloads to the GPU and generates the same ids', { skip: name !== 'firefox' && 'Firefox only' }, async () => {
    const gpuBrowser = await launchTestBrowser(name, { firefox: { webgpu: true } });
    try {
      const page = await openEnginePage(gpuBrowser, isolated.url);
      const r = await run(page, { threads: 1, gpuLayers: 'auto' });
      console.log(`${name} with WebGPU on, gpuLayers auto: ${r.gpuLayers} blocks on the GPU (${r.reason})`);
      assert.ok(r.gpuLayers > 0, r.reason);
      assert.match(r.reason ?? '', /^auto: /);
      assert.deepEqual(r.ids, reference);
      assert.deepEqual(await page.errors(), []);
      await page.close();
    } finally {
      await gpuBrowser.close();
    }
  });

  test('asking for GPU layers where there is no adapter fails at once with gpu/unavailable', { skip: expected.webgpu && 'this browser has an adapter' }, async () => {
    const page = await openEnginePage(browser, isolated.url);
    const t0 = Date.now();
    const err = await page.evaluate(async (url) => {
      try {
        await (window as any).hob.open({ location: { url }, threads: 1, gpuLayers: 2 });
        return null;
      } catch (e: any) {
        return { code: e.code, name: e.name, message: e.message };
      }
    }, `/__testdata/${modelFile}`);
    assert.equal(err?.code, 'gpu/unavailable', JSON.stringify(err));
    assert.equal(err?.name, 'GpuError');
    assert.ok(Date.now() - t0 < 20_000, `failed after ${Date.now() - t0} ms`);
    await page.close();
  });
});
