// Shared setup of the browser tests: a Vite dev server over the repository
// (so pages import the TypeScript sources directly) and headless Chromium.
// Test data (test/data, see test/data.ts) is served under /__testdata/, and files a
// test writes under /__files/ from a temporary folder.
import { createReadStream, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type Plugin, type ViteDevServer } from 'vite';

import { hobWasmAssets } from '../../scripts/vite-wasm-assets.js';
import { testdataDir } from '../data.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
export { testdataDir };
export const filesDir = mkdtempSync(join(tmpdir(), 'hob-browser-'));

function serveDir(prefix: string, dir: string): Plugin {
  return {
    name: `serve-${prefix}`,
    configureServer(server) {
      server.middlewares.use(prefix, (req, res, next) => {
        const file = join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]));
        if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) return next();
        const size = statSync(file).size;
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        res.setHeader('Accept-Ranges', 'bytes');
        res.setHeader('ETag', `"${size}-${statSync(file).mtimeMs}"`);
        // One byte range, as the model store asks for.
        const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
        if (range) {
          const start = Number(range[1]);
          const end = Math.min(size - 1, range[2] ? Number(range[2]) : size - 1);
          res.statusCode = 206;
          res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
          res.setHeader('Content-Length', end - start + 1);
          createReadStream(file, { start, end }).pipe(res);
          return;
        }
        res.setHeader('Content-Length', size);
        createReadStream(file).pipe(res);
      });
    },
  };
}

/** A dev server; isolated = with COOP/COEP (threads available to pages). */
export async function startServer(isolated: boolean): Promise<{ server: ViteDevServer; url: string }> {
  const server = await createServer({
    configFile: false,
    root: repoRoot,
    logLevel: 'error',
    server: {
      host: '127.0.0.1',
      port: 0,
      headers: isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {},
    },
    optimizeDeps: { noDiscovery: true, include: [] },
    plugins: [hobWasmAssets(), serveDir('/__testdata', testdataDir), serveDir('/__files', filesDir)],
  });
  await server.listen();
  const addr = server.httpServer?.address();
  if (!addr || typeof addr === 'string') throw new Error('dev server has no port');
  return { server, url: `http://127.0.0.1:${addr.port}` };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Opens a page and fails the test on any uncaught page error. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // Failed loads are reported below with their URL, from the response.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  await page.goto(url);
  return { page, errors };
}
