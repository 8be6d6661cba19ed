// The package as its users get it: `npm pack`, the tarball installed into a
// fresh app in a temporary folder, then (1) a Vite production build of a page
// that imports it, served with and without cross-origin isolation and run in
// headless Chromium, and (2) a Node script that imports the Node entry. Both
// must produce the same greedy tokens. Needs `npm run build:ts` first.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { chromium, type Browser } from 'playwright-core';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const testdata = process.env.HOB_TESTDATA ?? resolve(root, '../shared/testdata');
const modelPath = join(testdata, 'llama-2-tiny-random.gguf');
const appDir = mkdtempSync(join(tmpdir(), 'hob-consumer-'));

let browser: Browser | undefined;

before(async () => {
  assert.ok(existsSync(join(root, 'dist/node/index.js')), 'run npm run build:ts first');
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', appDir, root], { cwd: root });
  const tarball = stdout.trim().split('\n').pop() as string;
  for (const f of ['index.html', 'main.js', 'node.mjs']) copyFileSync(join(import.meta.dirname, 'app', f), join(appDir, f));
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ name: 'hob-consumer', private: true, type: 'module' }));
  // The package's dependencies come from the npm cache when they are in it.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', `./${tarball}`], { cwd: appDir });
});

after(async () => {
  await browser?.close();
});

/** The same greedy run as the page's, through the Node entry of the installed package. */
async function nodeRun(): Promise<{ ids: number[]; text: string; variant: string }> {
  const { stdout } = await run('node', ['node.mjs', modelPath], { cwd: appDir });
  return JSON.parse(stdout);
}

const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

/** A static host for the built app (what any web server does), plus the model. */
async function serve(dir: string, isolated: boolean): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path === '/model.gguf' ? modelPath : join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) && file !== modelPath) return void res.writeHead(403).end();
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    const headers: Record<string, string> = { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' };
    if (isolated) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    res.writeHead(200, headers);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

test('a Vite app built against the packed package runs a completion in Chromium, threaded when isolated, and matches Node', async () => {
  const vite = join(root, 'node_modules/vite/bin/vite.js');
  await run('node', [vite, 'build', '--logLevel', 'warn'], { cwd: appDir });
  const built = join(appDir, 'dist');
  const assets = readdirSync(join(built, 'assets'));
  // The engine's builds are copied by the bundler from the package, not fetched elsewhere.
  assert.ok(assets.some((f) => /^hob-mt-.*\.wasm$/.test(f)) && assets.some((f) => /^hob-st-.*\.wasm$/.test(f)), assets.join(' '));

  const expected = await nodeRun();
  assert.equal(expected.ids.length, 8);
  assert.equal(expected.variant, 'mt');

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  for (const isolated of [true, false]) {
    const { server, url } = await serve(built, isolated);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const foreign: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
      });
      await page.goto(url);
      const got = (await page.evaluate('window.hobResult')) as { ids: number[]; text: string; variant: string; isolated: boolean };
      assert.deepEqual(errors, []);
      assert.deepEqual(foreign, [], 'the page fetched nothing from another origin');
      assert.equal(got.isolated, isolated);
      assert.equal(got.variant, isolated ? 'mt' : 'st');
      assert.deepEqual(got.ids, expected.ids);
      assert.equal(got.text, expected.text);
      await page.close();
    } finally {
      server.close();
    }
  }
});
