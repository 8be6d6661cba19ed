// The relaxed-SIMD builds in headless Chromium (which runs relaxed SIMD):
// every wasm file of the build validates, the runtime picks the relaxed
// build, and the relaxed kernels (repacked weights, 8-bit dot products) give
// matmuls bit-identical to the SIMD128 build's for every weight type, one
// token (decode) and several (the prefill tiles), and logits bit-identical
// to the SIMD128 build's for every architecture (hybrids included), with
// one and two threads (the SHA-256 check of scripts/logits-hash.ts, run in
// the browser), and embeddings of every embedding model too.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { launchBrowser, openPage, repoRoot, startServer } from './harness.js';

const TYPES = ['q4_0', 'q8_0', 'q4_1', 'q5_0', 'iq4_nl', 'q4_k', 'q6_k', 'f16'];
// One token, the relaxed tiles' remainders (4 rows x 4 tokens) and the
// matmul's tiles of 16.
const TOKENS = [1, 2, 3, 4, 5, 7, 16, 17, 33];

describe('relaxed-SIMD builds (Chromium)', () => {
  let browser: Browser;
  let server: { server: ViteDevServer; url: string };
  let page: Page;
  let pageErrors: string[];

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startServer(true)]);
    ({ page, errors: pageErrors } = await openPage(browser, `${server.url}/test/browser/pages/relaxed.html`));
    await page.waitForFunction(() => document.title === 'ready');
  });
  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.server.close();
  });

  test('every built wasm file validates, and the probe picks relaxed SIMD', async () => {
    const files = readdirSync(join(repoRoot, 'wasm/out')).filter((f) => f.endsWith('.wasm'));
    assert.ok(files.includes('hob-mt-relaxed.wasm') && files.includes('hob-st-relaxed.wasm'), files.join(' '));
    const valid = await page.evaluate((names) => (window as any).relaxed.validate(names), files);
    assert.deepEqual(Object.entries(valid).filter(([, ok]) => !ok), []);
    assert.equal(await page.evaluate(() => (window as any).relaxed.relaxedSimdSupported()), true);
  });

  test('logits of every architecture equal the SIMD128 build\'s, 1 and 2 threads', async () => {
    const names: string[] = await page.evaluate(() => (window as any).relaxed.modelNames());
    const diffs: string[] = [];
    for (const name of names) {
      for (const threads of [1, 2]) {
        const [a, b] = await page.evaluate(
          async ([n, t]) => [await (window as any).relaxed.logits(n, 'simd128', t), await (window as any).relaxed.logits(n, 'relaxed', t)],
          [name, threads] as const,
        );
        assert.equal(a.simd, 'simd128');
        assert.equal(b.simd, 'relaxed');
        assert.equal(b.variant, threads > 1 ? 'mt' : 'st');
        if (a.sha256 !== b.sha256) diffs.push(`${name} x${threads}: ${a.sha256.slice(0, 12)} simd128, ${b.sha256.slice(0, 12)} relaxed`);
      }
    }
    assert.deepEqual(diffs, []);
    assert.deepEqual(pageErrors, [], 'page errors');
  });

  test('embeddings of every embedding model (Q4_0 weights and token rows) equal the SIMD128 build\'s', async () => {
    const names: string[] = await page.evaluate(() => (window as any).relaxed.embedModelNames());
    assert.ok(names.length >= 4, names.join(' '));
    const diffs: string[] = [];
    for (const name of names) {
      const [a, b] = await page.evaluate(
        async (n) => [await (window as any).relaxed.embeddings(n, 'simd128', 2), await (window as any).relaxed.embeddings(n, 'relaxed', 2)],
        name,
      );
      assert.equal(a.simd, 'simd128');
      assert.equal(b.simd, 'relaxed');
      if (a.sha256 !== b.sha256) diffs.push(`${name}: ${a.sha256.slice(0, 12)} simd128, ${b.sha256.slice(0, 12)} relaxed`);
    }
    assert.deepEqual(diffs, []);
    assert.deepEqual(pageErrors, [], 'page errors');
  });

  test('every relaxed register tile shape (1-4 rows x 1-4 tokens) gives the SIMD128 matmul bit for bit', async () => {
    const r = await page.evaluate((n) => (window as any).relaxed.compareTiles(n), TOKENS);
    assert.equal(r.compared, 29 * TOKENS.reduce((a, b) => a + b, 0) * 16);
    assert.deepEqual(r.diffs, []);
    assert.match(r.refused, /relaxed tiles are 1 to 4 rows by 1 to 4 tokens, not 5 x 1/);
    assert.deepEqual(pageErrors, [], 'page errors');
  });

  for (const type of TYPES) {
    test(`${type}: relaxed matmuls equal SIMD128 ones bit for bit`, async () => {
      const r = await page.evaluate(([t, n]) => (window as any).relaxed.compare(t, n), [type, TOKENS] as const);
      assert.ok(r.compared > 0);
      assert.deepEqual(r.diffs, []);
      assert.deepEqual(pageErrors, [], 'page errors');
    });
  }
});
