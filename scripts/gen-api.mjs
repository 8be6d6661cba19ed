// Generates src/core/c-api.ts from the enums of cpp/api.h, so the
// numbers TypeScript uses can never drift from the engine's. With --check it
// exits non-zero if the committed file is stale instead of writing it.
import { readFileSync, writeFileSync } from 'node:fs';

const header = readFileSync(new URL('../cpp/api.h', import.meta.url), 'utf8');
const target = new URL('../src/core/c-api.ts', import.meta.url);

// enum C name -> [TS name, member prefix to strip]
const enums = {
  hob_status: ['Status', 'HOB_'],
  hob_gguf_type: ['GgufValueType', 'HOB_GGUF_'],
  hob_hparam: ['Hparam', 'HOB_HPARAM_'],
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

if (process.argv.includes('--check')) {
  const current = readFileSync(target, 'utf8');
  if (current !== out) {
    console.error('src/core/c-api.ts is stale: run node scripts/gen-api.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, out);
}
