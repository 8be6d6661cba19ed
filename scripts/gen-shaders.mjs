// Generates src/gpu/shaders.ts from wgsl/*.wgsl: each file's text as a string
// constant, so kernels load the same way under Node (tsx) and Vite without a
// bundler-specific `?raw` import. With --check it exits non-zero if the
// committed file is stale instead of writing it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('../wgsl/', import.meta.url);
const target = new URL('../src/gpu/shaders.ts', import.meta.url);

// matvec.wgsl -> matvecWgsl, dequant_q4_0.wgsl -> dequantQ4_0Wgsl
const constName = (file) =>
  file.replace(/\.wgsl$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase()) + 'Wgsl';

let out = '// Generated from wgsl/*.wgsl by scripts/gen-shaders.mjs; do not edit.\n';
for (const file of readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort()) {
  const text = readFileSync(new URL(file, dir), 'utf8');
  out += `\n/** wgsl/${file} */\nexport const ${constName(file)} = ${JSON.stringify(text)};\n`;
}

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== out) {
    console.error('src/gpu/shaders.ts is stale: run node scripts/gen-shaders.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, out);
}
