// Context shift with GPU layers in headless Chromium (WebGPU on
// SwiftShader): a greedy generation through a 256-token window shifted 20
// times by varying sizes (49 among them), with every block in wasm, one of
// two on the GPU, and both: the same tokens and shifts on every split, no
// GPU buffer created or replaced, no WebGPU error, no page error. (The
// 2,048-token version runs in Node: test/gpu/shift.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import type { ShiftRun } from './pages/shift.js';
import { launchBrowser, openPage, startServer } from './harness.js';

let browser: Browser;
let server: { server: ViteDevServer; url: string };
before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startServer(false)]);
});
after(async () => {
  await browser?.close();
  await server?.server.close();
});

test('20 shifts during generation give the same tokens on k = 0, 1 and 2, with the same GPU buffers and no WebGPU error', async () => {
  const { page, errors } = await openPage(browser, `${server.url}/test/browser/pages/shift.html`);
  await page.waitForFunction(() => document.title === 'ready');
  const opts = { nCtx: 256, nShifts: 20, discards: [49, 7, 1, 13, 3, 2, 1, 5, 11, 1], ks: [0, 1, 2] };
  const { adapter, runs } = (await page.evaluate((o) => (window as any).shift.run(o), opts)) as { adapter: string; runs: ShiftRun[] };
  await page.close();
  console.log(`  adapter: ${adapter}`);
  for (const r of runs) console.log(`  k=${r.k}: ${r.tokens.length} tokens, ${r.events.length} shifts in ${(r.ms / 1000).toFixed(1)} s`);
  assert.deepEqual(errors, [], 'page errors');
  const [cpu, ...gpuRuns] = runs;
  assert.equal(cpu.events.length, 20);
  assert.deepEqual(cpu.events[0], { kind: 'overflow', position: 1, evicted: 49, nPast: 256 - 49 });
  for (const r of runs) {
    assert.deepEqual(r.uncaptured, [], `k=${r.k}: uncaptured WebGPU errors`);
    assert.equal(r.created, 0, `k=${r.k}: GPU buffers created during generation and shifts`);
    assert.ok(r.buffersKept, `k=${r.k}: the runner's buffers changed`);
  }
  for (const r of gpuRuns) {
    assert.deepEqual(r.events, cpu.events, `k=${r.k}: the shifts differ from k = 0`);
    assert.deepEqual(r.tokens, cpu.tokens, `k=${r.k}: the tokens differ from k = 0`);
  }
});
