// Generates TypeScript from the engine's C++ so the numbers TypeScript uses
// can never drift from the engine's: src/core/c-api.ts from the enums of
// cpp/api.h, and src/format/ggml-types.ts (every tensor type's name and block
// geometry) from cpp/types.cpp. With --check it exits non-zero if a committed
// file is stale instead of writing it.
import { readFileSync, writeFileSync } from 'node:fs';

const header = readFileSync(new URL('../cpp/api.h', import.meta.url), 'utf8');
const target = new URL('../src/core/c-api.ts', import.meta.url);

// enum C name -> [TS name, member prefix to strip]
const enums = {
  hob_status: ['Status', 'HOB_'],
  hob_gguf_type: ['GgufValueType', 'HOB_GGUF_'],
  hob_hparam: ['Hparam', 'HOB_HPARAM_'],
  hob_pooling: ['PoolingType', 'HOB_POOLING_'],
};

let out = '// Generated from cpp/api.h by scripts/gen-api.mjs; do not edit.\n';
for (const [cName, [tsName, prefix]] of Object.entries(enums)) {
  const body = header.match(new RegExp(`typedef enum ${cName} \\{([\\s\\S]*?)\\} ${cName};`));
  if (!body) throw new Error(`enum ${cName} not found in cpp/api.h`);
  const members = [...body[1].matchAll(/(\w+)\s*=\s*(\d+)/g)].map(([, n, v]) => [n.slice(prefix.length), Number(v)]);
  out += `\nexport const ${tsName} = {\n`;
  for (const [n, v] of members) out += `  ${n}: ${v},\n`;
  out += `} as const;\nexport type ${tsName} = (typeof ${tsName})[keyof typeof ${tsName}];\n`;
}

// cpp/types.cpp: `/* id */ {"NAME", elements per block, bytes per block},`.
// TypeScript names them as ggml does: lower case, the K-quants' K upper.
const types = readFileSync(new URL('../cpp/types.cpp', import.meta.url), 'utf8');
const rows = [...types.matchAll(/\/\* (\d+) \*\/ \{"(\w+)", (\d+), (\d+)\}/g)];
if (rows.length < 20) throw new Error('cpp/types.cpp: the type table was not found');
let typesOut = '// Generated from cpp/types.cpp by scripts/gen-api.mjs; do not edit.\n\n';
typesOut += '/** Every GGUF tensor type by id: its name (as ggml writes it), elements per block and bytes per block. */\n';
typesOut += 'export const GGML_TYPES: Readonly<Record<number, readonly [name: string, blockElems: number, blockBytes: number]>> = {\n';
for (const [, id, name, elems, bytes] of rows) {
  typesOut += `  ${id}: ['${name.toLowerCase().replace(/_k$/, '_K')}', ${elems}, ${bytes}],\n`;
}
typesOut += '};\n';
const typesTarget = new URL('../src/format/ggml-types.ts', import.meta.url);

const outputs = [
  [target, out, 'src/core/c-api.ts'],
  [typesTarget, typesOut, 'src/format/ggml-types.ts'],
];
if (process.argv.includes('--check')) {
  for (const [file, text, name] of outputs) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {}
    if (current !== text) {
      console.error(`${name} is stale: run node scripts/gen-api.mjs`);
      process.exit(1);
    }
  }
} else {
  for (const [file, text] of outputs) writeFileSync(file, text);
}
