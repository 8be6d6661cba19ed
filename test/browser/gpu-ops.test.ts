// The GPU op cases of test/gpu/cases.ts in headless Chromium's WebGPU
// (SwiftShader), each against the engine's CPU op in the same page. A page
// without a WebGPU adapter fails the suite; it is not skipped.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { gpuCases } from '../gpu/cases.js';
import { launchBrowser, openPage, startServer } from './harness.js';

type CaseResult = { error: string | null; reports: string[]; uncaptured: string[] };

describe('GPU kernels against the CPU ops (Chromium WebGPU)', () => {
  let browser: Browser;
  let server: { server: ViteDevServer; url: string };
  let page: Page;
  let pageErrors: string[];

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startServer(false)]);
    ({ page, errors: pageErrors } = await openPage(browser, `${server.url}/test/browser/pages/gpu-ops.html`));
    await page.waitForFunction(() => document.title === 'ready');
    const info = await page.evaluate(() => (window as any).gpuOps.init());
    console.log(`  adapter: ${info.adapter}; subgroups ${info.subgroups}, f16 ${info.f16}`);
  });
  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.server.close();
  });

  for (const c of gpuCases) {
    test(c.name, async () => {
      const r: CaseResult = await page.evaluate((name) => (window as any).gpuOps.run(name), c.name);
      for (const line of r.reports) console.log(`  ${line}`);
      assert.equal(r.error, null);
      assert.deepEqual(r.uncaptured, [], 'uncaptured WebGPU errors');
      assert.deepEqual(pageErrors, [], 'page errors');
    });
  }
});
