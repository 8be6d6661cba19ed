// Finishes the TypeScript build into a publishable package.
// - tsc keeps the module specifiers it is given, so a worker started with
//   `new URL('./engine-worker.ts', import.meta.url)` (what Vite serves from
//   the sources) is pointed at the compiled .js in dist/.
// - The worker is bundled into one self-contained module, its dependencies
//   and dynamic imports inlined: bundlers build workers as classic IIFE
//   scripts by default, which cannot be split into chunks, and a page built
//   without a bundler that follows new URL() (esbuild) can serve the file as
//   it is. It runs in its own context, so sharing modules with the page
//   would save nothing.
// - The engine's wasm build ships as wasm/out/ beside dist/; this checks it
//   is there. dist/worker/ and dist/core/ are equally deep, so the relative
//   asset URLs of the wasm loader hold in the bundled worker too.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const wasmFiles = [
  'hob-mt.mjs', 'hob-mt.wasm', 'hob-mt.worker.js', 'hob-st.mjs', 'hob-st.wasm',
  'hob-mt-relaxed.mjs', 'hob-mt-relaxed.wasm', 'hob-st-relaxed.mjs', 'hob-st-relaxed.wasm', 'package.json',
];

function* jsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'web-demo') yield* jsFiles(path);
    } else if (name.endsWith('.js')) yield path;
  }
}

const urlOfTs = /new URL\((['"])(\.{1,2}\/[^'"]+)\.ts\1, import\.meta\.url\)/g;
let rewritten = 0;
for (const file of jsFiles(dist)) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(urlOfTs, (_m, q, path) => {
    rewritten++;
    return `new URL(${q}${path}.js${q}, import.meta.url)`;
  });
  if (out !== text) writeFileSync(file, out);
}

const workerFile = join(dist, 'worker/engine-worker.js');
await build({
  entryPoints: [workerFile],
  outfile: workerFile,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  external: ['webgpu'],
  logLevel: 'warning',
});

const missing = wasmFiles.filter((f) => !existsSync(join(root, 'wasm/out', f)));
if (missing.length) {
  console.error(`package: wasm/out is missing ${missing.join(', ')}; run npm run build:wasm`);
  process.exit(1);
}
console.log(`package: ${rewritten} worker URL(s) pointed at .js; wasm/out complete`);
