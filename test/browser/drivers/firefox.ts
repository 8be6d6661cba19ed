// The TestBrowser of Firefox: Debian's firefox-esr, headless, driven over
// WebDriver BiDi by puppeteer-core (Firefox's own remote agent: no
// geckodriver). Each page opens in a BiDi user context of its own, which
// has its own cookies, IndexedDB, caches and service workers.
import { existsSync } from 'node:fs';

import puppeteer, { type Browser, type KeyInput, type Page } from 'puppeteer-core';

import { callSource, isResourceError, pollUntil, type KeyName, type TestBrowser, type TestPage } from './types.js';

export interface FirefoxOptions {
  /** Extra about:config preferences (e.g. a fixed storage limit). */
  prefs?: Record<string, string | number | boolean>;
  /**
   * WebGPU switched on (Firefox ESR on Linux ships it off) on a software
   * Vulkan driver: SwiftShader's, as Chromium's tests use, else Mesa's
   * lavapipe; FIREFOX_VK_ICD names another.
   */
  webgpu?: boolean;
}

const VULKAN_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json'];

export async function launchFirefox(opts: FirefoxOptions = {}): Promise<TestBrowser> {
  const icd = process.env.FIREFOX_VK_ICD ?? VULKAN_ICDS.find((f) => existsSync(f));
  const webgpu = opts.webgpu ? { 'dom.webgpu.enabled': true, 'dom.webgpu.workers.enabled': true, 'gfx.webgpu.force-enabled': true, 'gfx.webgpu.ignore-blocklist': true } : {};
  const browser: Browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: { ...webgpu, ...opts.prefs },
    ...(opts.webgpu && icd ? { env: { ...process.env, VK_ICD_FILENAMES: icd } } : {}),
  });
  return {
    name: 'firefox',
    version: await browser.version(),
    async open(url) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
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
    evaluate: (fn, arg) => page.evaluate(callSource(fn, arg)) as Promise<never>,
    waitFor: (fn, arg, timeoutMs = 30_000) => pollUntil(self, fn, arg, timeoutMs),
    async press(key: KeyName) {
      if (key === 'Shift+Tab') {
        await page.keyboard.down('Shift');
        await page.keyboard.press('Tab');
        await page.keyboard.up('Shift');
      } else {
        await page.keyboard.press(key as KeyInput);
      }
    },
    type: (text) => page.keyboard.type(text),
    errors: async () => [...errors],
    close,
  };
  return self;
}
