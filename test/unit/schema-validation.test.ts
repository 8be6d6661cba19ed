// Every output generated under a JSON schema is valid JSON that a real
// validator (ajv, draft 2020-12 with formats) accepts: each schema Hob
// supports in the corpus of test/fixtures/json-schema-grammars.json (flat,
// nested, recursive through $defs, enums, tuples, bounds, patterns, formats)
// times several seeds, generated through the generation loop on a small
// random model, whose own choices are almost never valid JSON, so the
// grammar decides every structural token.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import { Engine, generate, Model, Sequence, Session, type JsonSchema } from '../../src/node/index.js';
import { prepareRequest } from '../../src/runtime/request.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

interface CorpusCase {
  name: string;
  schema: JsonSchema;
  hob: { same?: boolean; error?: { code: string } } & Record<string, unknown>;
  /** Written in draft-07 (items as a tuple): validated as draft-07. */
  draft7?: boolean;
}
const corpus = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../fixtures'), 'json-schema-grammars.json'), 'utf8')) as { cases: CorpusCase[] };
const SEEDS = [1, 2, 3];
// Long enough for every schema of the corpus to close with the biases below.
const MAX_TOKENS = 1000;

let engine: Engine;
let model: Model;
let sequence: Sequence;
before(async () => {
  engine = await Engine.create({ threads: 1 });
  model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: 'f32', seed: 33 })));
  sequence = new Sequence(Session.create(model, { nCtx: 512 }));
});
after(() => {
  sequence?.session.free();
  model?.free();
  engine?.dispose();
});

test(`every output under a supported schema of the corpus validates (${SEEDS.length} seeds each, at least 300 cases)`, async (t) => {
  const ajv2020 = new Ajv2020({ strict: false });
  const ajv7 = new Ajv({ strict: false });
  addFormats(ajv2020 as unknown as Ajv);
  addFormats(ajv7);
  // A random model rarely picks the characters that close strings, arrays
  // and objects, or the end of generation once the value is whole: make
  // them likelier so documents end inside the budget. The grammar alone
  // decides what is allowed; the bias only changes which allowed token wins.
  const bias: Record<string, number> = { [String(model.info.eos)]: 6 };
  for (const c of ['"', '}', ']', ',', '0', '1']) for (const id of model.tokenize(c, { addSpecial: false })) bias[String(id)] = 3;
  let cases = 0;
  const unfinished: string[] = [];
  for (const c of corpus.cases) {
    if (c.hob.error) continue;
    const validate = (c.draft7 ? ajv7 : ajv2020).compile(c.schema as object);
    for (const seed of SEEDS) {
      const prepared = prepareRequest(model, {
        prompt: 'JSON:',
        response_format: { type: 'json_schema', json_schema: { name: 'case', schema: c.schema } },
        seed, temperature: 0.9, top_k: 0, top_p: 1, min_p: 0, logit_bias: bias,
      });
      const r = await generate(model, sequence, { ...prepared.generation, promptIds: prepared.promptIds, maxTokens: MAX_TOKENS });
      if (r.finishReason !== 'stop') {
        unfinished.push(`${c.name} seed ${seed}`);
        continue;
      }
      let value: unknown;
      assert.doesNotThrow(() => (value = JSON.parse(r.text)), `${c.name} seed ${seed}: not JSON: ${r.text}`);
      assert.ok(validate(value), `${c.name} seed ${seed}: ${r.text} fails ${JSON.stringify(validate.errors)}`);
      cases++;
    }
  }
  t.diagnostic(`${cases} generated outputs validated; ${unfinished.length} ran out of tokens`);
  assert.ok(cases >= 300, `${cases} cases ended and validated; unfinished: ${unfinished.join(', ')}`);
  // Unfinished ones ran out of tokens; none may be many.
  assert.ok(unfinished.length <= cases / 20, `${unfinished.length} unfinished: ${unfinished.join(', ')}`);
});
