// Which wasm build Node gets. Every SIMD128 build validates in any Node the
// package supports; the relaxed-SIMD builds run only where the final
// relaxed semantics are (Node 22+, Chromium: test/browser/relaxed.test.ts).
// Node 20's V8 has an older draft behind --experimental-wasm-relaxed-simd
// whose 8-bit dot product gives other results, so Node 20 gets the SIMD128
// build even with that flag, and its results are those of every other build.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

import { Engine } from '../../src/node/index.js';
import { relaxedSimdSupported } from '../../src/core/wasm.js';

const out = resolve(import.meta.dirname, '../../wasm/out');
const nodeMajor = Number(process.versions.node.split('.')[0]);

test('every SIMD128 build validates in this Node, and each has a relaxed twin', () => {
  const files = readdirSync(out).filter((f) => f.endsWith('.wasm'));
  for (const base of ['hob-mt', 'hob-st', 'hob-ops']) {
    assert.ok(files.includes(`${base}.wasm`) && files.includes(`${base}-relaxed.wasm`), files.join(' '));
    assert.equal(WebAssembly.validate(readFileSync(join(out, `${base}.wasm`))), true, base);
  }
});

test('the engine picks the relaxed build exactly where the runtime has final relaxed SIMD', async () => {
  assert.equal(relaxedSimdSupported(), nodeMajor >= 22);
  const engine = await Engine.create({ threads: 1 });
  try {
    assert.equal(engine.simd, nodeMajor >= 22 ? 'relaxed' : 'simd128');
  } finally {
    engine.dispose();
  }
});

test('Node 20 with --experimental-wasm-relaxed-simd validates the relaxed build but still gets SIMD128', { skip: nodeMajor !== 20 }, () => {
  const script = [
    "import { readFileSync } from 'node:fs';",
    "import { relaxedSimdSupported } from './src/core/wasm.ts';",
    "console.log(JSON.stringify({ valid: WebAssembly.validate(readFileSync('wasm/out/hob-st-relaxed.wasm')), picked: relaxedSimdSupported() }));",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: resolve(import.meta.dirname, '../..'),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { valid: true, picked: false });
});
