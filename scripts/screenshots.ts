// Regenerates the review images of the demo chat (docs/screenshots/): the PWA
// from Vite's dev server, a real GGUF from a local server (a script model
// whose answer is a short markdown text), the real engine, headless Chromium.
//   npm run screenshots
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { chromium } from 'playwright-core';
import { createServer } from 'vite';

import { TestServer } from '../test/browser/test-server.js';
import { DEMO_SCRIPT, writeScriptModel } from '../test/browser/ui/script-model.js';

const root = resolve(import.meta.dirname, '..');
const outDir = resolve(root, 'docs/screenshots');

const models = await TestServer.start();
const modelUrl = models.serve('hob-demo.gguf', { bytes: writeScriptModel(DEMO_SCRIPT) });
const site = await createServer({ configFile: resolve(root, 'vite.config.ts'), logLevel: 'error', server: { host: '127.0.0.1', port: 0 } });
await site.listen();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`http://127.0.0.1:${(site.httpServer?.address() as AddressInfo).port}/`);
  await page.waitForSelector('html[data-ready]');
  await page.evaluate((url) => {
    const chat = document.querySelector('hob-chat')!;
    chat.settings = { ...chat.settings, model: url, systemPrompt: 'You are a helpful assistant.' };
  }, modelUrl);
  await page.waitForFunction(() => document.querySelector('hob-chat')?.hasAttribute('ready'), null, { timeout: 60_000 });
  await page.locator('hob-chat #input').fill('What is Hob, in a few lines?');
  await page.locator('hob-chat #input').press('Enter');
  await page.waitForFunction(() => {
    const chat = document.querySelector('hob-chat')!;
    return !chat.busy && chat.messages.at(-1)?.stats;
  }, null, { timeout: 60_000 });
  await page.locator('hob-chat #input').fill('Can it run offline?');
  await page.locator('hob-chat').evaluate((el) => (el.shadowRoot!.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: resolve(outDir, 'chat-desktop.png') });
  await page.setViewportSize({ width: 390, height: 800 });
  await page.screenshot({ path: resolve(outDir, 'chat-narrow.png') });
  console.log(`wrote ${outDir}/chat-desktop.png and chat-narrow.png`);
} finally {
  await browser.close();
  await site.close();
  await models.close();
}
