// Shared setup of the store tests: small models from our GGUF writer, a page
// per browser context (a context is a fresh origin storage), and calls into
// the page's store whose failures come back as { code, details } data.
import { createHash } from 'node:crypto';

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

import { buildRandomLlama, makeSpec, type LlamaSpec } from '../gguf/random-model.js';
import type { TestPage } from './drivers/index.js';

/** A page of any driver: the calls below only evaluate (so the cross-browser store tests use them too). */
type Evaluator = Pick<TestPage, 'evaluate'>;

export const CHUNK_BYTES = 64 * 1024;
export const DB_NAME = 'hob-models';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A ~1 MB random llama model (16 chunks of 64 KiB), and its spec. */
export function tinyModel(overrides: Partial<LlamaSpec> = {}): { bytes: Uint8Array; spec: LlamaSpec } {
  const spec = makeSpec('tiny', overrides);
  return { bytes: buildRandomLlama(spec).toBytes(), spec };
}

/** Elements of all tensors of a random llama model (what the summary calls nParams). */
export function paramCount(s: LlamaSpec): number {
  const kv = s.nHeadKv * (s.nEmbd / s.nHead);
  const block = 2 * s.nEmbd + 2 * s.nEmbd * s.nEmbd + 2 * s.nEmbd * kv + 3 * s.nEmbd * s.nFf;
  return s.nEmbd * s.nVocab * (s.tiedOutput ? 1 : 2) + s.nEmbd + s.nLayer * block;
}

/**
 * Headless Chromium as the harness starts it, but with the real quota in
 * navigator.storage.estimate(): by default Chromium reports usage + 10 GiB
 * whatever the quota (StaticStorageQuota, against fingerprinting), which would
 * hide the quota the tests set through the DevTools protocol.
 */
export function launchStoreBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-features=StaticStorageQuota',
    ],
  });
}

export interface StorePage {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

/** A new browser context (empty storage) with the store test page open. */
export async function openStorePage(browser: Browser, base: string): Promise<StorePage> {
  const context = await browser.newContext();
  // tsx compiles these tests with esbuild's keepNames, which wraps named
  // functions in __name(); functions sent to page.evaluate need it there too.
  await context.addInitScript('globalThis.__name = (f) => f');
  const { page, errors } = await newTab(context, base);
  return { context, page, errors };
}

/** Another tab on the same origin storage. */
export async function newTab(context: BrowserContext, base: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // Dropped sockets and error statuses are what these tests provoke; the
    // store reports them as typed errors, which the tests check.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  await page.goto(`${base}/test/browser/pages/store.html`);
  await page.waitForFunction(() => document.title === 'ready');
  return { page, errors };
}

export async function reload(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => document.title === 'ready');
}

export type Outcome<T> = { value: T; error?: undefined } | { value?: undefined; error: { code?: string; name: string; message: string; details?: Record<string, any> } };

export interface Progress {
  loaded: number;
  total: number;
  bytesPerSecond: number;
  etaMs?: number;
}

/** store.download(url, opts) in the page; returns the outcome and every progress event. */
export async function download(
  page: Evaluator,
  url: string | string[],
  opts: { parallel?: number; retries?: number; sha256?: string; id?: string; abortAfterBytes?: number; chunkSizeBytes?: number; idleTimeoutMs?: number } = {},
): Promise<{ result: Outcome<any>; events: Progress[] }> {
  return page.evaluate(
    async ({ url, opts, chunk, db }) => {
      const t = (window as any).storeTest;
      const store = t.openModelStore({ chunkSizeBytes: opts.chunkSizeBytes ?? chunk, dbName: db });
      const events: any[] = [];
      const ac = new AbortController();
      const { abortAfterBytes, chunkSizeBytes: _c, ...rest } = opts;
      const result = await t.attempt(
        store.download(url, {
          ...rest,
          signal: ac.signal,
          onProgress: (p: any) => {
            events.push(p);
            if (abortAfterBytes !== undefined && p.loaded >= abortAfterBytes) ac.abort();
          },
        }),
      );
      return { result, events };
    },
    { url, opts, chunk: CHUNK_BYTES, db: DB_NAME },
  );
}

/** Calls store[method](...args) in the page. */
export async function storeCall<T = any>(page: Evaluator, method: string, ...args: unknown[]): Promise<Outcome<T>> {
  return page.evaluate(
    async ({ method, args, chunk, db }) => {
      const t = (window as any).storeTest;
      const store = t.openModelStore({ chunkSizeBytes: chunk, dbName: db });
      return t.attempt(store[method](...args));
    },
    { method, args, chunk: CHUNK_BYTES, db: DB_NAME },
  );
}

/** SHA-256 and size of a stored model read back through its ByteSource, or the failure. */
export async function storedDigest(page: Evaluator, id: string): Promise<Outcome<{ sha256: string; sizeBytes: number }>> {
  return page.evaluate(
    async ({ id, chunk, db }) => {
      const t = (window as any).storeTest;
      const store = t.openModelStore({ chunkSizeBytes: chunk, dbName: db });
      return t.attempt(
        (async () => {
          const src = await store.openModelSource(id);
          const bytes: Uint8Array<ArrayBuffer> = await t.readSourceBytes(src);
          const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
          return { sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), sizeBytes: bytes.byteLength };
        })(),
      );
    },
    { id, chunk: CHUNK_BYTES, db: DB_NAME },
  );
}

/** Checks progress events: loaded never decreases, never exceeds total, and the last equals `total`. */
export function progressProblems(events: Progress[], total: number): string[] {
  const problems: string[] = [];
  if (events.length === 0) problems.push('no progress event');
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.total !== total) problems.push(`event ${i}: total ${e.total} != ${total}`);
    if (e.loaded > e.total) problems.push(`event ${i}: loaded ${e.loaded} > total`);
    if (i > 0 && e.loaded < events[i - 1].loaded) problems.push(`event ${i}: loaded went back from ${events[i - 1].loaded} to ${e.loaded}`);
  }
  if (events.at(-1)?.loaded !== total) problems.push(`last event loaded ${events.at(-1)?.loaded}, not ${total}`);
  return problems;
}

/** Chunk indexes a set of ranged requests asked for. */
export const chunksOf = (reqs: { start?: number }[]): number[] => reqs.map((r) => Math.floor((r.start ?? -1) / CHUNK_BYTES)).sort((a, b) => a - b);

export async function storedChunks(page: Evaluator, id: string): Promise<number[]> {
  return page.evaluate(({ id, db }) => (window as any).storeTest.storedChunks(db, id), { id, db: DB_NAME });
}

/** Polls until at least `n` chunks of `id` are stored. */
export async function waitForChunks(page: Evaluator, id: string, n: number, timeoutMs = 20_000): Promise<number[]> {
  const t0 = Date.now();
  for (;;) {
    const have = await storedChunks(page, id);
    if (have.length >= n) return have;
    if (Date.now() - t0 > timeoutMs) throw new Error(`only ${have.length} of ${n} chunks stored after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A seeded PRNG (mulberry32) for the randomized tests; the seed is printed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
