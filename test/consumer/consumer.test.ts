// The package as its users get it: `npm pack`, the tarball installed into a
// fresh app in a temporary folder, then (1) a Vite production build of a page
// that calls createEngine, served with and without cross-origin isolation and
// run in headless Chromium, and (2) a Node script that calls the Node entry's
// createEngine. Both must stream the same greedy chat reply and completion.
// Also: the installed `hob` command, the Vite dev server, and webpack 5 and
// esbuild builds of the same app.
// Needs `npm run build:ts` first.
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium, type Browser } from 'playwright-core';

import { installPackedApp, modelPath, nodeRun as nodeRunIn, root, run, serve, type RunResult } from './setup.js';

let appDir = '';
let browser: Browser | undefined;

before(async () => {
  appDir = await installPackedApp();
});

/** Opens the app in a new page and returns what it computed, failing on page errors or foreign requests. */
async function runPage(url: string): Promise<RunResult & { isolated: boolean; downloaded: boolean }> {
  browser ??= await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  try {
    await page.goto(url);
    const got = (await page.evaluate('window.hobResult')) as RunResult & { isolated: boolean; downloaded: boolean };
    assert.deepEqual(errors, []);
    assert.deepEqual(foreign, [], 'the page fetched nothing from another origin');
    return got;
  } finally {
    await page.close();
  }
}

after(async () => {
  await browser?.close();
  if (appDir) rmSync(appDir, { recursive: true, force: true });
});

/** The same greedy runs as the page's, through the Node entry of the installed package (once). */
let nodeResult: Promise<RunResult> | undefined;
function nodeRun(): Promise<RunResult> {
  nodeResult ??= nodeRunIn(appDir);
  return nodeResult;
}

test('the hob command of the installed package runs the Node engine', async () => {
  const { stdout } = await run(join(appDir, 'node_modules/.bin/hob'), ['tokenize', modelPath, '--text', 'Hello world'], { cwd: appDir });
  assert.deepEqual(JSON.parse(stdout), { ids: [1, 15043, 3186] });
});

test('a Vite app built against the packed package streams a chat reply in Chromium, threaded when isolated, as the Node entry does', async () => {
  const vite = join(root, 'node_modules/vite/bin/vite.js');
  await run('node', [vite, 'build', '--logLevel', 'warn'], { cwd: appDir });
  const built = join(appDir, 'dist');
  const assets = readdirSync(join(built, 'assets'));
  // The engine's builds are copied by the bundler from the package, not fetched elsewhere.
  assert.ok(assets.some((f) => /^hob-mt-.*\.wasm$/.test(f)) && assets.some((f) => /^hob-st-.*\.wasm$/.test(f)), assets.join(' '));

  const expected = await nodeRun();
  assert.equal(expected.variant, 'mt');
  assert.ok(expected.chunks >= 2 && expected.chat.length > 0, `the chat reply streamed in ${expected.chunks} chunks`);
  assert.ok(expected.completionTokens > 0 && expected.completion.length > 0);

  for (const isolated of [true, false]) {
    const { server, url } = await serve(built, isolated);
    try {
      const got = await runPage(url);
      assert.equal(got.isolated, isolated);
      assert.equal(got.variant, isolated ? 'mt' : 'st');
      assert.ok(got.downloaded, 'the model was downloaded into the store');
      // The same engine and greedy sampling: the same text as in Node.
      assert.equal(got.chat, expected.chat);
      assert.equal(got.chunks, expected.chunks);
      assert.equal(got.completion, expected.completion);
    } finally {
      server.close();
    }
  }
});

test('the Vite dev server runs the same app when the package is left out of dependency pre-bundling', async () => {
  const { createServer: createViteServer } = await import('vite');
  mkdirSync(join(appDir, 'public'), { recursive: true });
  copyFileSync(modelPath, join(appDir, 'public/model.gguf'));
  const vite = await createViteServer({
    root: appDir,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0 },
    // Pre-bundling moves the package's code away from its worker and wasm files.
    optimizeDeps: { exclude: ['hob-llm'] },
  });
  await vite.listen();
  try {
    const addr = vite.httpServer?.address() as AddressInfo;
    const got = await runPage(`http://127.0.0.1:${addr.port}/`);
    const expected = await nodeRun();
    assert.equal(got.chat, expected.chat);
    assert.equal(got.completion, expected.completion);
  } finally {
    await vite.close();
  }
});

test('webpack 5 with no configuration builds the same app, which runs threaded in Chromium', async () => {
  const { default: webpack } = await import('webpack');
  const out = join(appDir, 'dist-webpack');
  // webpack's defaults: src/index.js in, dist/main.js out; only the folder is ours.
  mkdirSync(join(appDir, 'src'), { recursive: true });
  copyFileSync(join(appDir, 'main.js'), join(appDir, 'src/index.js'));
  const stats = await new Promise<import('webpack').Stats>((done, fail) => {
    const compiler = webpack({ mode: 'production', context: appDir, output: { path: out } });
    compiler.run((err, result) => (err || !result ? fail(err) : compiler.close(() => done(result))));
  });
  assert.deepEqual(stats.compilation.errors.map((e) => e.message), []);
  writeFileSync(join(out, 'index.html'), '<!doctype html><pre id="out"></pre><script src="main.js"></script>');
  const { server, url } = await serve(out, true);
  try {
    const got = await runPage(url);
    const expected = await nodeRun();
    assert.equal(got.variant, 'mt');
    assert.equal(got.chat, expected.chat);
    assert.equal(got.completion, expected.completion);
  } finally {
    server.close();
  }
});

test('an esbuild bundle of the same app runs threaded with the worker file of the package served as it is', async () => {
  const { build } = await import('esbuild');
  const out = join(appDir, 'dist-esbuild');
  await build({ entryPoints: [join(appDir, 'main.js')], bundle: true, format: 'esm', outfile: join(out, 'app.js'), logLevel: 'warning' });
  // The worker bundles its dependencies; it finds the wasm files at ../../wasm/out/.
  for (const dir of ['dist/worker', 'wasm/out']) cpSync(join(appDir, 'node_modules/hob-llm', dir), join(out, 'hob-llm', dir), { recursive: true });
  writeFileSync(
    join(out, 'index.html'),
    '<!doctype html><pre id="out"></pre><script>window.hobWorkerUrl = "/hob-llm/dist/worker/engine-worker.js"</script><script type="module" src="app.js"></script>',
  );
  const { server, url } = await serve(out, true);
  try {
    const got = await runPage(url);
    const expected = await nodeRun();
    assert.equal(got.variant, 'mt');
    assert.equal(got.chat, expected.chat);
    assert.equal(got.completion, expected.completion);
  } finally {
    server.close();
  }
});
