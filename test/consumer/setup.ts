// The fresh app the consumer tests share: the packed package installed into
// a temporary folder with the app's files, a static host for a build of it,
// and the same greedy runs through the installed package's Node entry.
// Needs `npm run build:ts` first.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { testdataDir as testdata } from '../data.js';

export const run = promisify(execFile);
export const root = resolve(import.meta.dirname, '../..');
export const modelPath = join(testdata, 'llama-2-tiny-random.gguf');

/** What the app's page (app/main.js) and its Node twin (app/node.mjs) compute. */
export interface RunResult {
  chat: string;
  chunks: number;
  completion: string;
  completionTokens: number;
  variant: string;
}

/** `npm pack`, then a fresh app folder with the tarball installed; returns the folder. */
export async function installPackedApp(): Promise<string> {
  assert.ok(existsSync(join(root, 'dist/node/index.js')), 'run npm run build:ts first');
  const appDir = mkdtempSync(join(tmpdir(), 'hob-consumer-'));
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', appDir, root], { cwd: root });
  const tarball = stdout.trim().split('\n').pop() as string;
  for (const f of ['index.html', 'main.js', 'node.mjs']) copyFileSync(join(import.meta.dirname, 'app', f), join(appDir, f));
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ name: 'hob-consumer', private: true, type: 'module' }));
  // The package's dependencies come from the npm cache when they are in it.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', `./${tarball}`], { cwd: appDir });
  return appDir;
}

/** The same greedy runs as the page's, through the Node entry of the package installed in `appDir`. */
export async function nodeRun(appDir: string): Promise<RunResult> {
  const { stdout } = await run('node', ['node.mjs', modelPath], { cwd: appDir });
  return JSON.parse(stdout) as RunResult;
}

const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

/** A static host for the built app (what any web server does), plus the model. */
export async function serve(dir: string, isolated: boolean): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path === '/model.gguf' ? modelPath : join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) && file !== modelPath) return void res.writeHead(403).end();
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    const size = statSync(file).size;
    const headers: Record<string, string | number> = { 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Accept-Ranges': 'bytes' };
    if (isolated) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    // One byte range, as the model store asks for.
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(size - 1, range[2] ? Number(range[2]) : size - 1);
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}
