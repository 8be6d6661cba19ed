// buildGrammar: composing hand-written rules and schemas into one grammar,
// as tool-call grammars do (llama.cpp's build_grammar; equality with its
// text for tool sets is in test/oracle/json-schema.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isHobError } from '../../src/shared/errors.js';
import type { JsonSchema } from '../../src/shared/types.js';
import { buildGrammar } from '../../src/sampling/grammar/builder.js';
import { jsonSchemaToGbnf } from '../../src/sampling/grammar/json-schema.js';

function rules(gbnf: string): Map<string, string> {
  const lines = gbnf.trimEnd().split('\n');
  const map = new Map(lines.map((line) => line.split(' ::= ') as [string, string]));
  assert.equal(map.size, lines.length, 'every rule once');
  return map;
}

describe('buildGrammar', () => {
  test("addSchema('root', s) alone is jsonSchemaToGbnf(s)", () => {
    const schema = { type: 'object', properties: { a: { $ref: '#/$defs/a' } }, $defs: { a: { type: 'integer', minimum: 3 } } };
    assert.equal(
      buildGrammar((b) => {
        b.resolveRefs(schema);
        assert.equal(b.addSchema('root', schema), 'root');
      }),
      jsonSchemaToGbnf(schema),
    );
  });

  test('schemas under their names share the shared rules, emitted once', () => {
    const g = rules(
      buildGrammar((b) => {
        const a = b.addSchema('get_weather-args', { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] });
        const c = b.addSchema('note-args', { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
        assert.equal(a, 'get-weather-args');
        assert.equal(c, 'note-args');
        b.addRule('root', `"<call>" (${a} | ${c}) "</call>"`);
      }),
    );
    assert.equal(g.get('root'), '"<call>" (get-weather-args | note-args) "</call>"');
    assert.equal(g.get('string'), '"\\"" char* "\\""');
    assert.ok(g.has('space') && g.has('char'));
  });

  test('addRule keeps a name for the same body and suffixes another body', () => {
    rules(
      buildGrammar((b) => {
        assert.equal(b.addRule('tool call', '"x"'), 'tool-call');
        assert.equal(b.addRule('tool call', '"x"'), 'tool-call');
        assert.equal(b.addRule('tool call', '"y"'), 'tool-call0');
        assert.equal(b.addRule('space', '"z"'), 'space0');
        b.addRule('root', 'tool-call | tool-call0 | space0');
      }),
    );
  });

  test("each schema's $refs resolve within that schema, even under the same names", () => {
    const a = { type: 'object', properties: { x: { $ref: '#/$defs/item' } }, required: ['x'], $defs: { item: { type: 'integer', minimum: 0 } } };
    const c = { type: 'object', properties: { y: { $ref: '#/$defs/item' } }, required: ['y'], $defs: { item: { type: 'string', maxLength: 3 } } };
    const g = rules(
      buildGrammar((b) => {
        b.resolveRefs(a);
        b.resolveRefs(c);
        b.addRule('root', `${b.addSchema('a', a)} | ${b.addSchema('c', c)}`);
      }),
    );
    assert.equal(g.get('a-x'), 'ref-defs-item');
    assert.equal(g.get('ref-defs-item'), '([0] | [1-9] [0-9]{0,15})');
    assert.equal(g.get('c-y'), 'ref-defs-item0');
    assert.equal(g.get('ref-defs-item0'), '"\\"" char{0,3} "\\""');
  });

  test('a part of a registered schema resolves its $refs against the whole', () => {
    const doc = { $defs: { id: { type: 'string', format: 'uuid' } }, properties: { ids: { type: 'array', items: { $ref: '#/$defs/id' } } } };
    const g = rules(
      buildGrammar((b) => {
        b.resolveRefs(doc);
        b.addRule('root', b.addSchema('ids', doc.properties.ids));
      }),
    );
    assert.equal(g.get('ids'), '"[" space (ids-item ("," space ids-item)*)? space "]"');
    assert.equal(g.get('ids-item'), 'uuid');
  });

  test('an unsupported schema fails the whole build with the GrammarError', () => {
    assert.throws(
      () =>
        buildGrammar((b) => {
          b.addSchema('ok', { type: 'string' });
          b.addSchema('bad', { type: 'array', items: {}, uniqueItems: true } as JsonSchema);
        }),
      (e: unknown) => isHobError(e) && e.code === 'grammar/schema' && e.details.keyword === 'uniqueItems',
    );
  });

  test('limits apply to the whole build', () => {
    assert.throws(
      () =>
        buildGrammar(
          (b) => {
            for (let i = 0; i < 100; i++) b.addRule(`r${i}`, '"x"');
          },
          { limits: { maxRules: 50 } },
        ),
      (e: unknown) => isHobError(e) && e.code === 'grammar/limit' && e.details.limit === 'maxRules',
    );
    assert.throws(
      () => buildGrammar(() => {}, { limits: { maxDepth: NaN } }),
      (e: unknown) => isHobError(e) && e.code === 'argument/invalid' && e.details.name === 'maxDepth',
    );
  });
});
