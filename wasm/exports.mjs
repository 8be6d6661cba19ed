// Prints the -sEXPORTED_FUNCTIONS list for emcc: every function declared in
// cpp/api.h (the engine's API) and cpp/ops_api.h (single ops, for tests and
// diagnostics), plus the allocator. One source of truth for the wasm exports.
import { readFileSync } from 'node:fs';

const headers = ['../cpp/api.h', '../cpp/ops_api.h'].map((h) => readFileSync(new URL(h, import.meta.url), 'utf8'));
const names = new Set(['malloc', 'free']);
for (const header of headers) {
  for (const m of header.matchAll(/^[\w ]+?[\s*]+(hob_\w+)\s*\(/gm)) names.add(m[1]);
}
process.stdout.write(JSON.stringify([...names].map((n) => `_${n}`)));
