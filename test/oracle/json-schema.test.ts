// JSON Schema to GBNF against llama.cpp's own converter
// (test/fixtures/json-schema-grammars.json, made by
// scripts/oracle/make-json-schema-fixtures.ts from llama.cpp's source):
// for every schema Hob supports its grammar is llama.cpp's text, or Hob's
// own text recorded with the reason and with llama.cpp's grammar engine's
// verdicts on JSON instances; every schema Hob refuses raises the error the
// corpus names; the JSON grammars are llama.cpp's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import { isHobError } from '../../src/shared/errors.js';
import { buildGrammar } from '../../src/sampling/grammar/builder.js';
import { JSON_GBNF, JSON_OBJECT_GBNF, jsonSchemaToGbnf } from '../../src/sampling/grammar/json-schema.js';

interface Instance {
  text: string;
  valid: boolean;
  llama?: boolean;
  hob?: boolean;
}
interface FixtureCase {
  name: string;
  schema: unknown;
  llama: { grammar?: string; error?: string; warning?: string };
  hob: { same: true } | { grammar: string; why: string } | { error: { code: string; keyword: string; message: string } };
  instances: Instance[];
}
const fixture = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../fixtures'), 'json-schema-grammars.json'), 'utf8')) as {
  generator: string;
  llamaCpp: string;
  cases: FixtureCase[];
  toolSets: { name: string; tools: [string, unknown][]; llama: string; hob: { same: true } | { grammar: string; why: string }; instances: Instance[] }[];
  jsonGrammars: {
    jsonGbnf: { llama: string; texts: string[]; llamaVerdicts: boolean[]; hobVerdicts: boolean[] };
    jsonObject: { llama: string };
  };
};

const same = fixture.cases.filter((c) => 'same' in c.hob);
const own = fixture.cases.filter((c) => 'grammar' in c.hob);
const refused = fixture.cases.filter((c) => 'error' in c.hob);

/** Whether Hob's grammar accepted the instance when the fixture was made. */
const hobAccepts = (c: FixtureCase, i: Instance): boolean | undefined => ('same' in c.hob ? i.llama : i.hob);

describe('JSON schema to GBNF against llama.cpp', () => {
  test(`the corpus covers at least 60 schemas (${fixture.cases.length}: ${same.length} with llama.cpp's text, ${own.length} with Hob's own, ${refused.length} refused)`, () => {
    assert.ok(fixture.cases.length >= 60);
    assert.ok(same.length >= 60, 'most supported schemas convert to llama.cpp\'s very text');
  });

  test("Hob's grammar is llama.cpp's text for every schema where both agree", () => {
    for (const c of same) assert.equal(jsonSchemaToGbnf(c.schema as never), c.llama.grammar, c.name);
  });

  test("where Hob's grammar differs on purpose it is the recorded one, with a reason", () => {
    for (const c of own) {
      const hob = c.hob as { grammar: string; why: string };
      assert.ok(hob.why.length > 20, `${c.name}: a reason is recorded`);
      assert.equal(jsonSchemaToGbnf(c.schema as never), hob.grammar, c.name);
    }
  });

  test("no grammar of Hob's accepted an instance its schema rejects", () => {
    let checked = 0;
    for (const c of [...same, ...own]) {
      for (const i of c.instances) {
        assert.notEqual(hobAccepts(c, i), undefined, `${c.name}: ${i.text} was judged`);
        if (!i.valid) assert.equal(hobAccepts(c, i), false, `${c.name}: ${i.text} is invalid yet accepted`);
        checked++;
      }
    }
    assert.ok(checked > 300);
  });

  test("where Hob's grammar differs, it accepted every valid instance llama.cpp's accepted (bar the ones it narrows on purpose)", () => {
    // Narrowed on purpose: 29 February (leap years need the year's digits)
    // and arrays shorter than prefixItems (tuples are generated whole).
    const narrowed = new Set(['tuple closed with items false|[1]']);
    for (const c of own) {
      for (const i of c.instances) {
        if (i.valid && i.llama && !i.hob) assert.ok(narrowed.has(`${c.name}|${i.text}`), `${c.name}: ${i.text}`);
      }
    }
  });

  test('every schema Hob refuses raises the error that names the keyword or the limit', () => {
    for (const c of refused) {
      const expected = (c.hob as { error: { code: string; keyword: string } }).error;
      assert.throws(
        () => jsonSchemaToGbnf(c.schema as never),
        (e: unknown) => {
          assert.ok(isHobError(e), c.name);
          assert.equal(e.code, expected.code, c.name);
          assert.equal(e.code === 'grammar/limit' ? e.details.limit : e.details.keyword, expected.keyword, c.name);
          assert.equal(typeof e.details.pointer, 'string', c.name);
          return true;
        },
      );
    }
  });

  test("the refused schemas are ones where llama.cpp's grammar lets invalid instances through, fails, or hangs", () => {
    const lets = refused.filter((c) => c.instances.some((i) => i.llama && !i.valid) || c.llama.error !== undefined);
    assert.ok(lets.length >= 15, `${lets.length} of ${refused.length}`);
  });

  test("tool schemas composed through buildGrammar give llama.cpp's build_grammar text (or the recorded one)", () => {
    assert.ok(fixture.toolSets.length >= 5);
    for (const c of fixture.toolSets) {
      const g = buildGrammar((b) => {
        const names = c.tools.map(([name, schema]) => {
          b.resolveRefs(schema as never);
          return b.addSchema(name, schema as never);
        });
        b.addRule('root', names.join(' | '));
      });
      assert.equal(g, 'same' in c.hob ? c.llama : c.hob.grammar, c.name);
      for (const i of c.instances) if (!i.valid) assert.equal('same' in c.hob ? i.llama : i.hob, false, `${c.name}: ${i.text}`);
    }
  });

  test("JSON_OBJECT_GBNF is llama-server's grammar for response_format json_object (its converter's grammar for {})", () => {
    assert.equal(JSON_OBJECT_GBNF, fixture.jsonGrammars.jsonObject.llama);
  });

  test("JSON_GBNF has the rules of llama.cpp's grammars/json.gbnf and judges JSON texts as it does", () => {
    const rules = (gbnf: string): string[] =>
      gbnf
        .replace(/#[^\n"]*$/gm, '')
        .split(/\n(?=[a-z-]+\s*::=)/)
        .map((r) => r.replace(/\s+/g, ' ').trim())
        .filter((r) => r !== '');
    assert.deepEqual(rules(JSON_GBNF), rules(fixture.jsonGrammars.jsonGbnf.llama));
    assert.deepEqual(fixture.jsonGrammars.jsonGbnf.hobVerdicts, fixture.jsonGrammars.jsonGbnf.llamaVerdicts);
  });
});
