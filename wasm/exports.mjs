// Prints the -sEXPORTED_FUNCTIONS list for emcc: every function declared in
// cpp/api.h (the engine's API) plus the allocator; with --ops also those of
// cpp/ops_api.h (single ops, for the test-only build). One source of truth
// for the wasm exports.
import { readFileSync } from 'node:fs';

const files = ['../cpp/api.h', ...(process.argv.includes('--ops') ? ['../cpp/ops_api.h'] : [])];
const names = new Set(['malloc', 'free']);
for (const file of files) {
  const header = readFileSync(new URL(file, import.meta.url), 'utf8');
  for (const m of header.matchAll(/^[\w ]+?[\s*]+(hob_\w+)\s*\(/gm)) names.add(m[1]);
}
process.stdout.write(JSON.stringify([...names].map((n) => `_${n}`)));
