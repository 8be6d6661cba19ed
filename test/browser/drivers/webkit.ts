// The TestBrowser of WebKit: WebKitGTK's MiniBrowser driven by its
// WebKitWebDriver (classic W3C WebDriver) through selenium-webdriver.
// MiniBrowser has no headless mode, so without a DISPLAY this starts an
// Xvfb of its own. Every page is a WebDriver session of its own: a fresh,
// ephemeral website data store (IndexedDB, caches, service workers), as a
// private window has.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import { Builder, Key, type WebDriver } from 'selenium-webdriver';

import { callSource, pollUntil, type KeyName, type TestBrowser, type TestPage } from './types.js';

// Debian's multiarch path of the webkit2gtk-4.1 package.
const MULTIARCH = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? `/usr/lib/${MULTIARCH}/webkit2gtk-4.1/MiniBrowser`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts Xvfb on a free display and returns it (":N") with the process. */
async function startXvfb(): Promise<{ display: string; proc: ChildProcess }> {
  const proc = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not start in 10 s')), 10_000);
    proc.once('error', reject);
    proc.stdio[3]!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(`:${out.trim()}`);
      }
    });
  });
  return { display, proc };
}

async function startDriver(env: NodeJS.ProcessEnv): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.env.WEBKIT_WEBDRIVER ?? 'WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], { env, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${proc.exitCode}`);
    if (await fetch(`${url}/status`).then((r) => r.ok, () => false)) return { url, proc };
    if (Date.now() - t0 > 10_000) throw new Error('WebKitWebDriver did not answer in 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function launchWebKit(): Promise<TestBrowser> {
  const xvfb = process.env.DISPLAY ? undefined : await startXvfb();
  const env = { ...process.env, ...(xvfb ? { DISPLAY: xvfb.display } : {}) };
  const driver = await startDriver(env);
  const sessions = new Set<WebDriver>();
  const newSession = async (): Promise<WebDriver> => {
    const d = await new Builder()
      .usingServer(driver.url)
      .withCapabilities({ browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } })
      .build();
    // Tests wait inside evaluate (a download, a generation): their own timeouts apply.
    await d.manage().setTimeouts({ script: 600_000, pageLoad: 60_000 });
    sessions.add(d);
    return d;
  };
  const probe = await newSession();
  const version = String((await probe.getCapabilities()).get('browserVersion'));
  await probe.quit();
  sessions.delete(probe);
  return {
    name: 'webkit',
    version,
    async open(url) {
      const d = await newSession();
      const page = wrap(d, () => {
        sessions.delete(d);
        return d.quit();
      });
      await page.goto(url);
      return page;
    },
    async close() {
      await Promise.all([...sessions].map((d) => d.quit().catch(() => {})));
      driver.proc.kill();
      xvfb?.proc.kill();
    },
  };
}

// Classic WebDriver has no console or error events: the page collects its
// own, from a script installed after each navigation (errors before it ran
// show up as a page that never gets ready).
const COLLECT = `if (!window.__hobErrors) {
  window.__hobErrors = [];
  addEventListener('error', (e) => __hobErrors.push(e.message));
  addEventListener('unhandledrejection', (e) => __hobErrors.push('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
  const error = console.error;
  console.error = (...a) => { __hobErrors.push(a.map(String).join(' ')); error.apply(console, a); };
}`;

const KEYS: Record<KeyName, string[]> = { Enter: [Key.ENTER], Escape: [Key.ESCAPE], Tab: [Key.TAB], 'Shift+Tab': [Key.SHIFT, Key.TAB] };

function wrap(d: WebDriver, close: () => Promise<void>): TestPage {
  const earlier: string[] = [];
  const pageErrors = async (): Promise<string[]> => ((await d.executeScript('return window.__hobErrors || []').catch(() => [])) as string[]);
  const navigated = async (go: () => Promise<unknown>): Promise<void> => {
    earlier.push(...(await pageErrors()));
    await go();
    await d.executeScript(COLLECT);
  };
  const self: TestPage = {
    goto: (url) => navigated(() => d.get(url)),
    reload: () => navigated(() => d.navigate().refresh()),
    async evaluate(fn, arg) {
      const out = (await d.executeAsyncScript(
        `const done = arguments[arguments.length - 1];
         ${callSource(fn, arg)}.then((value) => done({ value }), (e) => done({ error: String(e && e.stack || e) }));`,
      )) as { value: never } | { error: string };
      if ('error' in out) throw new Error(`in the page: ${out.error}`);
      return out.value;
    },
    waitFor: (fn, arg, timeoutMs = 30_000) => pollUntil(self, fn, arg, timeoutMs),
    async press(key) {
      const [first, second] = KEYS[key];
      const a = d.actions({ async: true });
      await (second ? a.keyDown(first).sendKeys(second).keyUp(first) : a.sendKeys(first)).perform();
    },
    type: (text) => d.actions({ async: true }).sendKeys(text).perform(),
    errors: async () => [...earlier, ...(await pageErrors())],
    close,
  };
  return self;
}
