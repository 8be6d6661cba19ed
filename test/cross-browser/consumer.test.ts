// The package as its users get it, in the browser HOB_BROWSER names: the
// packed tarball in a fresh Vite app (test/consumer/setup.ts), built for
// production and served with and without cross-origin isolation. The page
// downloads the model into the store and streams a greedy chat reply and a
// completion, which must equal the installed package's Node entry's text,
// on the build this browser can run. Needs `npm run build:ts` first.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { browserUnderTest, launchTestBrowser, type TestBrowser } from '../browser/drivers/index.js';
import { installPackedApp, nodeRun, root, run, serve, type RunResult } from '../consumer/setup.js';

const name = browserUnderTest();
// WebKitGTK exposes no SharedArrayBuffer even when isolated (docs/browsers.md).
const threadsWhenIsolated = name !== 'webkit';

let appDir = '';
let browser: TestBrowser | undefined;

before(async () => {
  [appDir, browser] = await Promise.all([installPackedApp(), launchTestBrowser()]);
});
after(async () => {
  await browser?.close();
  if (appDir) rmSync(appDir, { recursive: true, force: true });
});

test(`a Vite app built against the packed package streams the same chat reply in ${name} as the Node entry, on the build ${name} can run`, async () => {
  await run('node', [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: appDir });
  const expected = await nodeRun(appDir);
  assert.ok(expected.chunks >= 2 && expected.chat.length > 0, `the chat reply streamed in ${expected.chunks} chunks`);

  for (const isolated of [true, false]) {
    const { server, url } = await serve(join(appDir, 'dist'), isolated);
    try {
      const page = await browser!.open(url);
      const got = await page.evaluate(() => (window as any).hobResult as Promise<RunResult & { isolated: boolean; downloaded: boolean }>);
      console.log(`${name}, ${isolated ? 'isolated' : 'not isolated'}: hob-${got.variant}, ${got.chunks} chunks`);
      assert.equal(got.isolated, isolated);
      assert.equal(got.variant, isolated && threadsWhenIsolated ? 'mt' : 'st');
      assert.ok(got.downloaded, 'the model was downloaded into the store');
      assert.equal(got.chat, expected.chat);
      assert.equal(got.chunks, expected.chunks);
      assert.equal(got.completion, expected.completion);
      assert.deepEqual(await page.errors(), []);
      await page.close();
    } finally {
      server.close();
    }
  }
});
