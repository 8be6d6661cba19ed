// Prints the -sEXPORTED_FUNCTIONS list for emcc: every function declared in
// cpp/api.h, plus the allocator. One source of truth for the wasm exports.
import { readFileSync } from 'node:fs';

const header = readFileSync(new URL('../cpp/api.h', import.meta.url), 'utf8');
const names = new Set(['malloc', 'free']);
for (const m of header.matchAll(/^[\w ]+?[\s*]+(hob_\w+)\s*\(/gm)) names.add(m[1]);
process.stdout.write(JSON.stringify([...names].map((n) => `_${n}`)));
