// Builds and serves the demo (web-demo/). The dev and preview servers send
// COOP/COEP so the page is cross-origin isolated and the threaded wasm build
// can run; the engine falls back to one thread where a host cannot.
import { defineConfig } from 'vite';

import { hobWasmAssets } from './scripts/vite-wasm-assets.js';

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: 'web-demo',
  base: './',
  server: { headers: isolation, fs: { allow: ['..'] } },
  preview: { headers: isolation },
  plugins: [hobWasmAssets()],
  worker: { format: 'es' },
  build: { outDir: '../dist/web-demo', emptyOutDir: true, target: 'es2022' },
});
