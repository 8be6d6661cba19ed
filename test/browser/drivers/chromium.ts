// The TestBrowser of Chromium: Debian's chromium through playwright-core,
// WebGPU on SwiftShader, each page in a browser context of its own.
import { chromium, type Browser, type Page } from 'playwright-core';

import { callSource, isResourceError, pollUntil, type KeyName, type TestBrowser, type TestPage } from './types.js';

export async function launchChromium(): Promise<TestBrowser> {
  const browser: Browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return {
    name: 'chromium',
    version: browser.version(),
    async open(url) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error' && !isResourceError(m.text())) errors.push(m.text());
      });
      await page.goto(url);
      return wrap(page, errors, () => context.close());
    },
    close: () => browser.close(),
  };
}

function wrap(page: Page, errors: string[], close: () => Promise<void>): TestPage {
  const self: TestPage = {
    goto: async (url) => void (await page.goto(url)),
    reload: async () => void (await page.reload()),
    evaluate: (fn, arg) => page.evaluate(callSource(fn, arg)),
    waitFor: (fn, arg, timeoutMs = 30_000) => pollUntil(self, fn, arg, timeoutMs),
    press: (key: KeyName) => page.keyboard.press(key),
    type: (text) => page.keyboard.type(text),
    errors: async () => [...errors],
    close,
  };
  return self;
}
