// Builds and serves the demo PWA (web-demo/). The dev and preview servers
// send COOP/COEP so the page is cross-origin isolated and the threaded wasm
// build can run; on hosts that cannot, the service worker adds them. The
// build writes sw.js with the list of every file it produced (precached, so
// the app works offline after the first visit).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { defineConfig, type Plugin } from 'vite';

import { hobWasmAssets } from './scripts/vite-wasm-assets.js';

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
const outDir = resolve(import.meta.dirname, 'dist/web-demo');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Writes sw.js: web-demo/sw.js after PRECACHE (every built file) and VERSION (their hash). */
function serviceWorker(): Plugin {
  return {
    name: 'hob-service-worker',
    apply: 'build',
    closeBundle() {
      const files = filesUnder(outDir)
        .map((f) => relative(outDir, f).split('\\').join('/'))
        .filter((f) => f !== 'sw.js' && !f.endsWith('.map'))
        .sort();
      const hash = createHash('sha256');
      for (const f of files) hash.update(f).update(readFileSync(join(outDir, f)));
      const list = ['./', ...files];
      const head = `const PRECACHE = ${JSON.stringify(list, null, 1)};\nconst VERSION = '${hash.digest('hex').slice(0, 16)}';\n`;
      writeFileSync(join(outDir, 'sw.js'), head + readFileSync(resolve(import.meta.dirname, 'web-demo/sw.js'), 'utf8'));
    },
  };
}

export default defineConfig({
  root: 'web-demo',
  base: './',
  server: { headers: isolation, fs: { allow: ['..'] } },
  preview: { headers: isolation },
  plugins: [hobWasmAssets(), serviceWorker()],
  worker: { format: 'es' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    // The engine's files must stay files: a pthread worker from a data: URL
    // would have an opaque origin and could not share the wasm memory.
    assetsInlineLimit: 0,
  },
});
