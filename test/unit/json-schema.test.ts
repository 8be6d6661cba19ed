// JSON Schema to GBNF: what is refused and where, what is ignored, the
// bounds an untrusted schema meets, and the speed of a realistic schema.
// Equality with llama.cpp's grammars is test/oracle/json-schema.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import { fromSerializedError, isHobError, toSerializedError, type HobErrorDetails } from '../../src/shared/errors.js';
import type { JsonSchema } from '../../src/shared/types.js';
import { DEFAULT_SCHEMA_LIMITS, jsonSchemaToGbnf, type SchemaGrammarLimits } from '../../src/sampling/grammar/json-schema.js';

/** Asserts that converting `schema` fails with `code` and these details. */
function fails(schema: unknown, code: 'grammar/schema' | 'grammar/limit', details: HobErrorDetails, limits?: Partial<SchemaGrammarLimits>): void {
  assert.throws(
    () => jsonSchemaToGbnf(schema as JsonSchema, { limits }),
    (e: unknown) => {
      assert.ok(isHobError(e), String(e));
      assert.equal(e.code, code, e.message);
      for (const [k, v] of Object.entries(details)) assert.equal(e.details[k], v, `${k} in ${JSON.stringify(e.details)}: ${e.message}`);
      return true;
    },
  );
}

/** A grammar's rules by name. */
function rules(gbnf: string): Map<string, string> {
  return new Map(gbnf.trimEnd().split('\n').map((line) => line.split(' ::= ') as [string, string]));
}

describe('keywords Hob does not enforce', () => {
  test('each is an error naming the keyword and the JSON pointer where it sits', () => {
    const schema = {
      type: 'object',
      properties: { tags: { type: 'array', items: { type: 'string' }, uniqueItems: true }, 'a/b': { type: 'integer', multipleOf: 3 } },
    };
    fails(schema, 'grammar/schema', { keyword: 'uniqueItems', pointer: '/properties/tags/uniqueItems' });
    fails({ $defs: { n: { type: 'number', maximum: 3 } }, $ref: '#/$defs/n' }, 'grammar/schema', { keyword: 'maximum', pointer: '/$defs/n/maximum' });
    fails({ properties: { 'a/b': { type: 'integer', multipleOf: 3 } } }, 'grammar/schema', { keyword: 'multipleOf', pointer: '/properties/a~1b/multipleOf' });
    fails({ anyOf: [{ type: 'string' }, { type: 'string', format: 'email' }] }, 'grammar/schema', { keyword: 'format', pointer: '/anyOf/1/format' });
  });

  test('the error keeps its code and details through a worker boundary', () => {
    try {
      jsonSchemaToGbnf({ type: 'object', propertyNames: { maxLength: 3 }, properties: {} });
      assert.fail('no error');
    } catch (e) {
      assert.ok(isHobError(e));
      const back = fromSerializedError(JSON.parse(JSON.stringify(toSerializedError(e))));
      assert.equal(back.code, 'grammar/schema');
      assert.equal(back.name, 'GrammarError');
      assert.deepEqual(back.details, { keyword: 'propertyNames', pointer: '/propertyNames' });
    }
  });

  test('every assertion llama.cpp drops is refused', () => {
    const cases: [unknown, string][] = [
      [{ type: 'string', not: { const: 'a' } }, 'not'],
      [{ type: 'integer', if: { minimum: 1 }, then: { maximum: 3 } }, 'if'],
      [{ type: 'object', properties: { a: {} }, dependentRequired: { a: ['b'] } }, 'dependentRequired'],
      [{ type: 'object', properties: { a: {} }, dependentSchemas: { a: { required: ['b'] } } }, 'dependentSchemas'],
      [{ type: 'object', properties: { a: {} }, dependencies: { a: ['b'] } }, 'dependencies'],
      [{ type: 'object', additionalProperties: { type: 'string' }, maxProperties: 2 }, 'maxProperties'],
      [{ type: 'object', properties: { a: {} }, additionalProperties: true, unevaluatedProperties: false }, 'unevaluatedProperties'],
      [{ type: 'array', items: {}, contains: { type: 'string' } }, 'contains'],
      [{ type: 'number', exclusiveMinimum: 0 }, 'exclusiveMinimum'],
      [{ type: 'integer', format: 'int32' }, 'format'],
      [{ type: 'string', format: 'uuid4' }, 'format'],
      [{ type: 'string', format: 'date', maxLength: 5 }, 'maxLength'],
      [{ $dynamicRef: '#node' }, '$dynamicRef'],
      [{ type: 'object', required: ['a'] }, 'required'],
      [{ minLength: 2 }, 'minLength'],
      [{ oneOf: [{ type: 'string' }], anyOf: [{ type: 'integer' }] }, 'anyOf'],
      [{ type: 'integer', enum: ['a'] }, 'enum'],
      [{ type: 'string', const: 1 }, 'const'],
      [{ const: 'a', enum: ['b'] }, 'enum'],
      [{ anyOf: [{ type: 'string' }, { type: 'integer' }], type: 'string' }, 'type'],
      [{ allOf: [{ type: 'string', enum: ['a'] }, { type: 'string', enum: ['b'] }] }, 'allOf'],
      [{ allOf: [{ properties: { a: {} } }, { enum: ['x'] }] }, 'allOf'],
      [{ allOf: [{ properties: { a: {} }, additionalProperties: false }, { properties: { b: {} } }] }, 'additionalProperties'],
      [{ allOf: [{ anyOf: [{ properties: { a: {} }, required: ['a'] }] }] }, 'required'],
      [{ allOf: [{ properties: { a: {} } }, { minProperties: 2 }] }, 'minProperties'],
      [{ type: 'array', prefixItems: [{}], minItems: 2 }, 'minItems'],
      [false, ''],
      [{ type: 'kaboom' }, 'type'],
      [{ type: [] }, 'type'],
      [{ anyOf: [] }, 'anyOf'],
      [{ type: 'object', properties: { 'a"b': {} }, additionalProperties: true }, 'additionalProperties'],
      [{ enum: ['\ud800'] }, ''],
    ];
    for (const [schema, keyword] of cases) fails(schema, 'grammar/schema', { keyword });
  });

  test('$refs outside the schema are refused, not fetched', () => {
    for (const ref of ['https://example.com/s.json', 'other.json#/a', '#anchor', '#/$defs/missing']) {
      fails({ $ref: ref, $defs: {} }, 'grammar/schema', { keyword: '$ref', pointer: '/$ref' });
    }
  });
});

describe('keywords that never reject a value are ignored', () => {
  test('annotations, unknown keywords and keywords of other types leave the grammar as it is', () => {
    const plain = jsonSchemaToGbnf({ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] });
    const annotated = jsonSchemaToGbnf({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'https://example.com/x',
      title: 'X',
      description: 'an x',
      examples: [{ a: 1 }],
      'x-vendor': { anything: true },
      type: 'object',
      properties: { a: { type: 'integer', default: 0, deprecated: false, readOnly: true, maxLength: 3, pattern: '^x$', $comment: 'c' } },
      required: ['a'],
      minProperties: 1,
      maxProperties: 1,
      unevaluatedProperties: false,
      uniqueItems: true,
    });
    assert.equal(annotated, plain);
  });

  test('keywords that hold for every value are accepted', () => {
    const plain = jsonSchemaToGbnf({ type: 'array', items: { type: 'integer' } });
    assert.equal(jsonSchemaToGbnf({ type: 'array', items: { type: 'integer' }, uniqueItems: false, minItems: 0, minContains: 2, unevaluatedItems: false }), plain);
    assert.equal(jsonSchemaToGbnf({ type: 'string', minLength: 0 }), jsonSchemaToGbnf({ type: 'string', maxLength: undefined, minLength: 0 }));
  });

  test('a type array checks each keyword against the type it applies to', () => {
    const g = rules(jsonSchemaToGbnf({ type: ['integer', 'string', 'null'], minimum: 10, maxLength: 3 }));
    assert.equal(g.get('root'), 'alternative-0 | alternative-1 | null');
    assert.match(g.get('alternative-1')!, /char\{0,3\}/);
    fails({ type: ['integer', 'number'], minimum: 1 }, 'grammar/schema', { keyword: 'minimum' });
  });
});

describe('bounds on untrusted schemas', () => {
  test('counted repetitions past maxRepetition are refused, not expanded', () => {
    fails({ type: 'array', items: {}, minItems: 1e9 }, 'grammar/limit', { limit: 'maxRepetition', value: 1e9, pointer: '/minItems' });
    fails({ type: 'string', maxLength: 2001 }, 'grammar/limit', { limit: 'maxRepetition', max: 2000 });
    fails({ type: 'string', pattern: '^(ab){3000}$' }, 'grammar/limit', { limit: 'maxRepetition', pointer: '/pattern' });
    assert.ok(jsonSchemaToGbnf({ type: 'string', maxLength: 2001 }, { limits: { maxRepetition: 5000 } }).includes('char{0,2001}'));
  });

  test('the symbols all repetitions expand to are bounded too', () => {
    const properties = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 2000 }]));
    fails({ type: 'object', properties }, 'grammar/limit', { limit: 'maxRepetitionExpansion' });
    fails({ type: 'string', pattern: '^' + '[a-z]{2000}'.repeat(120) + '$' }, 'grammar/limit', { limit: 'maxRepetitionExpansion', pointer: '/pattern' });
  });

  test('nesting deeper than maxDepth is refused, also for a cyclic object', () => {
    let deep: Record<string, unknown> = { type: 'integer' };
    for (let i = 0; i < 150; i++) deep = { type: 'object', properties: { a: deep } };
    fails(deep, 'grammar/limit', { limit: 'maxDepth' });
    const cyclic: Record<string, unknown> = { type: 'object' };
    cyclic.properties = { self: cyclic };
    fails(cyclic, 'grammar/limit', { limit: 'maxDepth' });
    fails(cyclic, 'grammar/limit', { limit: 'maxDepth' }, { maxDepth: 1e9, maxVisits: 1e9 });
    const constant: unknown[] = [];
    let c = constant;
    for (let i = 0; i < 1000; i++) c.push((c = []));
    fails({ const: constant }, 'grammar/limit', { limit: 'maxDepth' });
  });

  test('a schema that repeats its parts cannot multiply the work without end', () => {
    // Each level's type array visits the level below twice: 2^40 visits
    // (and as many rules, which maxGrammarChars would stop too).
    let s: Record<string, unknown> = { type: 'integer' };
    for (let i = 0; i < 40; i++) s = { type: ['object', 'object'], properties: { a: s } };
    const t0 = performance.now();
    fails(s, 'grammar/limit', { limit: 'maxVisits' }, { maxGrammarChars: 1e9, maxRules: 1e9 });
    fails(s, 'grammar/limit', { limit: 'maxGrammarChars' });
    assert.ok(performance.now() - t0 < 3000);
  });

  test('the grammar size and rule count are bounded', () => {
    fails({ enum: Array.from({ length: 20_000 }, (_, i) => 'x'.repeat(60) + i) }, 'grammar/limit', { limit: 'maxGrammarChars' });
    const properties = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, { type: 'object', properties: { q: { type: 'string' } } }]));
    fails({ type: 'object', properties }, 'grammar/limit', { limit: 'maxRules' }, { maxRules: 500 });
  });

  test('patterns: length and group nesting are bounded', () => {
    fails({ type: 'string', pattern: '^' + 'a'.repeat(20_000) + '$' }, 'grammar/limit', { limit: 'maxPatternLength' });
    fails({ type: 'string', pattern: '^' + '('.repeat(150) + 'a' + ')'.repeat(150) + '$' }, 'grammar/limit', { limit: 'maxPatternDepth' });
  });

  test('huge integer ranges make small rules', () => {
    const g = jsonSchemaToGbnf({ type: 'integer', minimum: -9_007_199_254_740_991, maximum: 9_007_199_254_740_991 });
    assert.ok(g.length < 10_000, `${g.length} characters`);
    fails({ type: 'integer', minimum: 1e300 }, 'grammar/schema', { keyword: 'minimum' });
    fails({ type: 'integer', minimum: 5, maximum: 4 }, 'grammar/schema', { keyword: 'minimum' });
  });

  test('recursive $refs become recursive rules; a reference to itself with nothing between is refused', () => {
    const g = rules(jsonSchemaToGbnf({ $defs: { n: { type: 'array', items: { $ref: '#/$defs/n' } } }, $ref: '#/$defs/n' }));
    assert.equal(g.get('ref-defs-n-item'), 'ref-defs-n');
    assert.equal(g.get('root'), 'ref-defs-n');
    fails({ $ref: '#' }, 'grammar/schema', { keyword: '$ref' });
    fails({ $defs: { a: { $ref: '#/$defs/b' }, b: { anyOf: [{ $ref: '#/$defs/a' }, { type: 'null' }] } }, $ref: '#/$defs/a' }, 'grammar/schema', { keyword: '$ref' });
    fails({ $defs: { a: { $ref: '#/$defs/a' } }, allOf: [{ $ref: '#/$defs/a' }] }, 'grammar/limit', { limit: 'maxDepth' });
    fails({ $defs: { a: { allOf: [{ $ref: '#/$defs/a' }] } }, allOf: [{ $ref: '#/$defs/a' }] }, 'grammar/schema', { keyword: 'allOf' });
  });

  test('many optional properties convert in linear time', () => {
    const properties = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`p${i}`, { type: 'integer' }]));
    const t0 = performance.now();
    const g = jsonSchemaToGbnf({ type: 'object', properties });
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(rules(g).get('p0-rest'), '( "," space p1-kv )? p1-rest');
  });

  test('the defaults are the documented ones', () => {
    assert.equal(DEFAULT_SCHEMA_LIMITS.maxRepetition, 2000);
    assert.equal(DEFAULT_SCHEMA_LIMITS.maxPatternDepth, 100);
  });
});

describe('speed', () => {
  test('a 20-property object schema compiles in under 10 ms', (t) => {
    const fixture = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../fixtures'), 'json-schema-grammars.json'), 'utf8')) as {
      cases: { name: string; schema: JsonSchema }[];
    };
    const schema = fixture.cases.find((c) => c.name === 'twenty properties')!.schema;
    for (let i = 0; i < 20; i++) jsonSchemaToGbnf(schema);
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      jsonSchemaToGbnf(schema);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[100];
    t.diagnostic(`20-property schema: median ${median.toFixed(3)} ms, p95 ${times[190].toFixed(3)} ms over 200 runs`);
    assert.ok(median < 10, `${median} ms`);
  });
});
