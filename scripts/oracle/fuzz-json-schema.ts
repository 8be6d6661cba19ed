// Differential fuzzing of JSON Schema to GBNF against llama.cpp's own
// converter (build/json-schema-tool, from build-json-schema-tool.sh): random
// schemas of the supported keywords, nested, with references, recursion and
// allOf, must give llama.cpp's grammar text. The two places where Hob's rule
// differs on purpose in every such schema are mapped back first: the date
// rule (month lengths) and '-' escaped in additional-key rules. Prints each
// other difference and a summary; exits 1 if there was one.
//   bash scripts/oracle/build-json-schema-tool.sh
//   npx tsx scripts/oracle/fuzz-json-schema.ts [seed] [count]      (from the repository root)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isHobError } from '../../src/shared/errors';
import { jsonSchemaToGbnf } from '../../src/sampling/grammar/json-schema';
import { STRING_FORMAT_RULES } from '../../src/sampling/grammar/schema-rules';

type Schema = Record<string, unknown>;

const tool = join(resolve(import.meta.dirname, '../..'), 'build/json-schema-tool/json-schema-to-grammar');
const seed0 = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 500);

// mulberry32: small, seeded, good enough to spread the cases.
let state = seed0;
function rnd(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

// Names that collide with shared rules, with each other once sanitized, or
// with the names the converter derives (-kv, -rest, -item, tuple-N).
const NAMES = ['a', 'aa', 'ab', 'b', 'number', 'root', 'x-y', 'x_y', 'string', 'item', 'value', 'additional', 'kv', 'rest', 'tuple-0', 'id', 'Name'];
// Patterns llama.cpp converts right (no '.', no negated class, no escapes JSON needs).
const PATTERNS = ['^[a-z]+$', '^[A-Z]{2,3}-[0-9]{1,4}$', '^(foo|bar)?baz$', '^x(y|z)*$', '^\\[a\\]$', '^[0-9]{3}$', '^(ab)+c{2}$', '^a|b$', '^(?:x|y)z?$'];
const DEFS = {
  D1: { type: 'object', properties: { z: { type: 'integer', minimum: 1 } } },
  D2: { type: 'string', maxLength: 3 },
  D4: { properties: { o2: { type: 'boolean' } } },
  R: { type: 'object', properties: { v: { type: 'integer' }, next: { anyOf: [{ $ref: '#/$defs/R' }, { type: 'null' }] } }, required: ['v'] },
};

function leaf(): Schema {
  switch (int(0, 10)) {
    case 0:
      return { type: pick(['string', 'number', 'integer', 'boolean', 'null']) };
    case 1: {
      const min = int(0, 5);
      return rnd() < 0.5 ? { type: 'string', minLength: min, maxLength: min + int(0, 5) } : { type: 'string', [pick(['minLength', 'maxLength'])]: int(0, 9) };
    }
    case 2: {
      const s: Schema = { type: 'integer' };
      const lo = pick([-1000000, -123, -5, 0, 1, 9, 10, 25, 99, 100, 12345]);
      if (rnd() < 0.7) s.minimum = lo;
      if (rnd() < 0.7) s.maximum = lo + pick([0, 1, 9, 10, 100, 999, 123456789]);
      if (!('minimum' in s) && !('maximum' in s)) s.exclusiveMinimum = lo;
      return s;
    }
    case 3:
      return { enum: Array.from({ length: int(1, 4) }, () => pick<unknown>(['x', 'y"z', 1, 2.5, null, true, ['q'], { k: 1 }, 'ü'])) };
    case 4:
      return { const: pick<unknown>(['c', 42, { a: [1] }, false]) };
    case 5:
      return { type: 'string', pattern: pick(PATTERNS) };
    case 6:
      return { type: 'string', format: pick(['uuid', 'time', 'date-time', 'date']) };
    case 7:
      return { type: pick([['string', 'null'], ['integer', 'null'], ['number', 'string']]) };
    case 8:
      return { $ref: pick(['#/$defs/D1', '#/$defs/D2', '#/definitions/D3']) };
    case 9:
      return {};
    default:
      return { description: 'x' };
  }
}

function schema(depth: number): Schema {
  if (depth <= 0 || rnd() < 0.35) return leaf();
  switch (int(0, 5)) {
    case 0:
    case 1: {
      const properties: Schema = {};
      for (let i = int(0, 4); i > 0; i--) properties[pick(NAMES)] = schema(depth - 1);
      const s: Schema = { properties, required: Object.keys(properties).filter(() => rnd() < 0.5) };
      if (rnd() < 0.8) s.type = 'object';
      const additional = int(0, 3);
      if (additional > 0) s.additionalProperties = additional === 1 ? false : additional === 2 ? true : schema(depth - 1);
      return s;
    }
    case 2: {
      const s: Schema = { type: 'array', items: schema(depth - 1) };
      if (rnd() < 0.5) s.minItems = int(0, 3);
      if (rnd() < 0.5) s.maxItems = ((s.minItems as number | undefined) ?? 0) + int(0, 3);
      return s;
    }
    case 3:
      return { anyOf: Array.from({ length: int(1, 3) }, () => schema(depth - 1)) };
    case 4: {
      const parts: Schema[] = [{ $ref: '#/$defs/D1' }, { properties: { w: schema(depth - 1), v: leaf() } }];
      if (rnd() < 0.5) parts.push({ anyOf: [{ properties: { o1: leaf() } }, { $ref: '#/$defs/D4' }] });
      return rnd() < 0.7 ? { allOf: parts } : { $ref: '#/$defs/R' };
    }
    default:
      return { prefixItems: Array.from({ length: int(1, 3) }, () => schema(depth - 1)) };
  }
}

const llamaDate = 'date ::= [0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] )';
const hobDate = `date ::= ${STRING_FORMAT_RULES.date.body}`;

if (!existsSync(tool)) throw new Error(`${tool} is missing: run bash scripts/oracle/build-json-schema-tool.sh first`);
let same = 0;
const differences: string[] = [];
for (let n = 0; n < count; n++) {
  const s = { ...schema(4), $defs: DEFS, definitions: { D3: { enum: ['e1', 'e2'] } } };
  const r = spawnSync(tool, { input: JSON.stringify(s), encoding: 'utf8' });
  const llama = r.status === 0 ? r.stdout : `error: ${r.stderr.trim()}`;
  let hob: string;
  try {
    hob = jsonSchemaToGbnf(s).replace(hobDate, llamaDate).replace(/\\x2D/g, '-');
  } catch (e) {
    if (!isHobError(e)) throw e;
    hob = `error: ${e.code} ${e.message}`;
  }
  if (hob === llama) same++;
  else differences.push(`${JSON.stringify(s)}\n--- llama.cpp\n${llama}\n--- Hob\n${hob}`);
}
for (const d of differences) console.log(d);
console.log(`seed ${seed0}: ${count} schemas, ${same} with llama.cpp's grammar text, ${differences.length} different`);
process.exit(differences.length > 0 ? 1 : 0);
