// One small interface over the three browser engines the tests drive
// (Chromium through playwright-core, Firefox through WebDriver BiDi with
// puppeteer-core, WebKitGTK through classic WebDriver with
// selenium-webdriver), so a test is written once and runs in each. It has
// only what every engine's protocol can do: open a page in fresh storage,
// navigate, evaluate, wait, real key presses, the page's errors.

export type BrowserName = 'chromium' | 'firefox' | 'webkit';

export interface TestBrowser {
  readonly name: BrowserName;
  /** The browser's own version string. */
  readonly version: string;
  /** Opens `url` in a new page with storage of its own (IndexedDB, caches, service workers). */
  open(url: string): Promise<TestPage>;
  close(): Promise<void>;
}

export interface TestPage {
  goto(url: string): Promise<void>;
  reload(): Promise<void>;
  /**
   * Runs `fn(arg)` in the page and returns its (awaited) result. `fn` is sent
   * as source text: it must not close over anything, and `arg` and the result
   * must be JSON values.
   */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>;
  /** Polls `fn(arg)` in the page until it is truthy; fails after `timeoutMs`. */
  waitFor<A = undefined>(fn: (arg: A) => unknown, arg?: A, timeoutMs?: number): Promise<void>;
  /** A real key press to the focused element: 'Enter', 'Escape', 'Tab', 'Shift+Tab'. */
  press(key: KeyName): Promise<void>;
  /** Types text with real key events into the focused element. */
  type(text: string): Promise<void>;
  /** Uncaught errors, unhandled rejections and console errors seen so far (failed resource loads excepted). */
  errors(): Promise<string[]>;
  close(): Promise<void>;
}

export type KeyName = 'Enter' | 'Escape' | 'Tab' | 'Shift+Tab';

/**
 * The source of `fn(arg)` as one expression, the same for every driver.
 * tsx compiles tests with esbuild's keepNames, which wraps named functions
 * in __name(): the page needs a __name too.
 */
export function callSource(fn: (arg: never) => unknown, arg: unknown): string {
  return `(async () => { const __name = (f) => f; return (${fn.toString()})(${arg === undefined ? '' : JSON.stringify(arg)}); })()`;
}

/** waitFor in terms of evaluate: every driver polls the same way. */
export async function pollUntil(page: Pick<TestPage, 'evaluate'>, fn: (arg: never) => unknown, arg: unknown, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await page.evaluate(fn as (a: unknown) => unknown, arg)) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`waited ${timeoutMs} ms for ${fn.toString().slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a console error is a failed resource load: tests check those through their servers' logs. */
export const isResourceError = (text: string): boolean =>
  text.startsWith('Failed to load resource') || /^(GET|POST|HEAD) .* \d{3}/.test(text);
