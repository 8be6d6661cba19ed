// Prints what the package costs a page: raw and gzip sizes of the wasm
// builds, their glue, the engine worker and the entries (each bundled with
// its dependencies and minified, as an app's bundler would ship it), and
// fails when a gzip size passes its limit in size-limits.json. Run after
// `npm run build:ts`.
//
//   node scripts/size.mjs [--json]
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const limits = JSON.parse(readFileSync(join(root, 'size-limits.json'), 'utf8'));

const options = (entry, platform) => ({
  entryPoints: [join(root, entry)],
  bundle: true,
  minify: true,
  format: 'esm',
  platform,
  target: 'es2022',
  write: false,
  external: ['webgpu'],
  logLevel: 'silent',
});

/** Bundles an entry with its dependencies, minified, in memory. */
async function bundled(entry, platform) {
  const r = await build(options(entry, platform));
  return r.outputFiles[0].contents;
}

/** Bundles a page's entry as an app's bundler would, dynamic imports split
 * into chunks of their own: what importing it loads (the entry and the chunks
 * it imports statically), and what loads on first use (the rest). Sizes are
 * of each file gzipped alone, as each is fetched alone. */
const split = {};
async function splitBundle(entry) {
  split[entry] ??= (async () => {
    const r = await build({ ...options(entry, 'browser'), splitting: true, outdir: join(root, '.size-out'), metafile: true });
    const byPath = new Map(r.outputFiles.map((f) => [f.path, f.contents]));
    const outputs = r.metafile.outputs;
    const abs = (p) => resolve(root, p);
    const entryOut = Object.keys(outputs).find((k) => outputs[k].entryPoint);
    const eager = new Set();
    const visit = (k) => {
      if (eager.has(k)) return;
      eager.add(k);
      for (const i of outputs[k].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
    };
    visit(entryOut);
    const files = (keys) => keys.filter((k) => k.endsWith('.js')).map((k) => byPath.get(abs(k)));
    return { eager: files([...eager]), deferred: files(Object.keys(outputs).filter((k) => !eager.has(k))) };
  })();
  return split[entry];
}

const file = (path) => () => readFileSync(join(root, path));
// The browser entry is the public API once it exists, the worker client before.
const browserEntry = existsSync(join(root, 'dist/api/index.js')) ? 'dist/api/index.js' : 'dist/worker/client.js';
const items = [
  ['wasm (SIMD + threads)', 'wasm/out/hob-mt.wasm', file('wasm/out/hob-mt.wasm')],
  ['wasm (SIMD, one thread)', 'wasm/out/hob-st.wasm', file('wasm/out/hob-st.wasm')],
  // A page loads one build of each pair: the relaxed one where the browser has relaxed SIMD.
  ['wasm relaxed (threads)', 'wasm/out/hob-mt-relaxed.wasm', file('wasm/out/hob-mt-relaxed.wasm')],
  ['wasm relaxed (one thread)', 'wasm/out/hob-st-relaxed.wasm', file('wasm/out/hob-st-relaxed.wasm')],
  ['wasm glue (threads)', 'wasm/out/hob-mt.mjs + hob-mt.worker.js', () => Buffer.concat([file('wasm/out/hob-mt.mjs')(), file('wasm/out/hob-mt.worker.js')()])],
  ['wasm glue (one thread)', 'wasm/out/hob-st.mjs', file('wasm/out/hob-st.mjs')],
  ['engine worker', 'dist/worker/engine-worker.js, bundled', () => bundled('dist/worker/engine-worker.js', 'browser')],
  ['browser entry', `${browserEntry}, bundled, what importing it loads`, async () => (await splitBundle(browserEntry)).eager],
  ['browser entry, deferred', 'its chunks loaded on first createEngine/checkFit', async () => (await splitBundle(browserEntry)).deferred],
  ['node entry', 'dist/node/index.js, bundled', () => bundled('dist/node/index.js', 'node')],
];

const rows = [];
let failed = false;
for (const [name, what, read] of items) {
  const got = await read();
  const parts = Array.isArray(got) ? got : [got];
  const bytes = { length: parts.reduce((n, p) => n + p.length, 0) };
  const gzip = parts.reduce((n, p) => n + gzipSync(p, { level: 9 }).length, 0);
  const limit = limits[name];
  const over = limit === undefined || gzip > limit;
  failed ||= over;
  rows.push({ name, what, bytes: bytes.length, gzip, limit: limit ?? null, ok: !over });
}

if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
} else {
  const kb = (n) => (n / 1024).toFixed(1).padStart(8) + ' KiB';
  process.stdout.write(`${'size'.padEnd(26)}${'raw'.padStart(12)}${'gzip'.padStart(12)}${'limit'.padStart(12)}\n`);
  for (const r of rows) {
    const limit = r.limit === null ? '   (none)' : kb(r.limit);
    process.stdout.write(`${r.name.padEnd(26)}${kb(r.bytes)}${kb(r.gzip)}${limit}${r.ok ? '' : '  OVER'}   ${r.what}\n`);
  }
}
for (const r of rows.filter((r) => !r.ok)) {
  process.stderr.write(
    r.limit === null ? `size: "${r.name}" has no limit in size-limits.json\n` : `size: ${r.name} is ${r.gzip} bytes gzipped, over its limit of ${r.limit}\n`,
  );
}
process.exit(failed ? 1 : 0);
