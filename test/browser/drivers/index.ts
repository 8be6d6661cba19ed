// Which browser engine a cross-browser test runs in: HOB_BROWSER
// (chromium, firefox or webkit; default chromium).
import { launchChromium } from './chromium.js';
import { launchFirefox, type FirefoxOptions } from './firefox.js';
import type { BrowserName, TestBrowser } from './types.js';
import { launchWebKit } from './webkit.js';

export type { BrowserName, KeyName, TestBrowser, TestPage } from './types.js';

export function browserUnderTest(): BrowserName {
  const name = process.env.HOB_BROWSER ?? 'chromium';
  if (name !== 'chromium' && name !== 'firefox' && name !== 'webkit') throw new Error(`HOB_BROWSER=${name}: expected chromium, firefox or webkit`);
  return name;
}

export function launchTestBrowser(name: BrowserName = browserUnderTest(), opts: { firefox?: FirefoxOptions } = {}): Promise<TestBrowser> {
  if (name === 'firefox') return launchFirefox(opts.firefox);
  if (name === 'webkit') return launchWebKit();
  return launchChromium();
}
