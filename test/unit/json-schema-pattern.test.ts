// `pattern` to GBNF where Hob writes its own rule: characters JSON escapes
// are generated escaped, shorthand classes, quantifiers after escapes, lazy
// quantifiers; and the regexes it refuses. The patterns llama.cpp converts
// right are compared with its text in test/oracle/json-schema.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isHobError } from '../../src/shared/errors.js';
import { jsonSchemaToGbnf } from '../../src/sampling/grammar/json-schema.js';

/** The root rule's body between the JSON string's quotes, and the grammar. */
function convert(pattern: string, extra: Record<string, unknown> = {}): { body: string; gbnf: string } {
  const gbnf = jsonSchemaToGbnf({ type: 'string', pattern, ...extra });
  const root = gbnf.split('\n').find((l) => l.startsWith('root ::= '))!;
  const m = /^root ::= "\\"" \((.*)\) "\\""$/.exec(root);
  assert.ok(m, root);
  return { body: m[1], gbnf };
}

describe('pattern characters that JSON strings escape', () => {
  test('a quote, a backslash and control characters are generated as their JSON escapes', () => {
    assert.equal(convert('^a"b\\\\c$').body, '"a\\\\\\"b\\\\\\\\c"');
    assert.equal(convert('^\\n\\t\\x01$').body, '"\\\\n\\\\t\\\\u0001"');
    assert.equal(convert('^x\\x22\\u005c$').body, '"x\\\\\\"\\\\\\\\"');
  });

  test('. matches any character but a line terminator, quote and backslash escaped, nothing raw that JSON forbids', () => {
    const { body, gbnf } = convert('^.$');
    assert.equal(body, 'dot');
    assert.ok(gbnf.includes('dot ::= [^\\x00-\\x1F"\\\\\\u2028\\u2029] | "\\\\" ["\\\\bft]\n'), gbnf);
  });

  test('a negated class excludes the characters JSON escapes raw, and admits them escaped unless the class excludes them', () => {
    assert.equal(convert('^[^a]$').body, '([^\\x00-\\x1F"\\\\a] | "\\\\" ["\\\\bfnrt])');
    assert.equal(convert('^[^"\\\\\\x00-\\x1f]$').body, '[^"\\\\\\x00-\\x1f]', 'a class that already excludes them stays as written');
  });

  test('a class holding a quote or a backslash generates them escaped', () => {
    assert.equal(convert('^[ -~]$').body, '([ !#-[\\x5D-~] | "\\\\" ["\\\\])');
    assert.equal(convert('^[A-Z]$').body, '[A-Z]', 'other classes stay as written');
    assert.equal(convert('^[\\x41-\\x43]$').body, '[\\x41-\\x43]');
  });
});

describe('pattern syntax beyond llama.cpp', () => {
  test('\\d, \\w, \\s, escaped punctuation and escaped dashes in classes', () => {
    const { body, gbnf } = convert('^\\d{2}\\w$');
    assert.equal(body, 'root-1{2,2} [0-9A-Z_a-z]');
    assert.ok(gbnf.includes('root-1 ::= [0-9]\n'));
    assert.equal(convert('^\\/\\-\\@$').body, '"/-@"');
    assert.equal(convert('^[a\\-z]$').body, '[\\x2Daz]');
    assert.equal(convert('^\\s$').body, '([ \\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF] | "\\\\" [fnrt])');
  });

  test('a quantifier after an escape or a quote repeats that one character', () => {
    assert.equal(convert('^ab\\.*$').body, '"ab" "."*');
    assert.equal(convert('^ab\\x41+$').body, '"ab" "\\x41"+');
    assert.equal(convert('^ab"?$').body, '"ab" "\\\\\\""?');
  });

  test('a lazy quantifier matches what its greedy form matches', () => {
    assert.equal(convert('^a+?b??c{2,3}?$').body, '"a"+ "b"? "c"{2,3}');
  });

  test('a character beyond U+FFFF is one character', () => {
    assert.equal(convert('^😀+$').body, '"😀"+');
    assert.equal(convert('^[😀-😂]$').body, '[😀-😂]');
  });

  test('minLength and maxLength beside a pattern hold when the pattern implies them', () => {
    convert('^[a-z]{2,4}$', { minLength: 1, maxLength: 4 });
    convert('^(ab|c)$', { minLength: 1, maxLength: 2 });
    for (const [pattern, extra, keyword] of [
      ['^[a-z]{2,4}$', { maxLength: 3 }, 'maxLength'],
      ['^[a-z]{2,4}$', { minLength: 3 }, 'minLength'],
      ['^(ab)*$', { maxLength: 100 }, 'maxLength'],
    ] as const) {
      assert.throws(
        () => convert(pattern, extra),
        (e: unknown) => isHobError(e) && e.code === 'grammar/schema' && e.details.keyword === keyword,
      );
    }
  });
});

describe('patterns Hob refuses', () => {
  test('each is a grammar/schema error on the pattern, with the reason and where', () => {
    const refused = [
      '[0-9]+', // not anchored: JSON Schema searches, llama.cpp's rule would match the whole
      '^a$b$',
      '^(?=a)a$',
      '^(?<n>a)$',
      '^(a)\\1$',
      '^\\bword$',
      '^\\p{L}$',
      '^\\U00000041$',
      '^a**$',
      '^*a$',
      '^a|*$',
      '^a{2}{3}$',
      '^(a$',
      '^a)$',
      '^[z-a]$',
      '^[a$',
      '^[]$',
      '^[^]$',
      '^a{3,1}$',
      '^a{$',
      '^a{,3}$',
      '^a{x}$',
      '^a}$',
      '^a\\$',
      '^\\ud800$',
      '^[\\x00]$',
    ];
    for (const pattern of refused) {
      assert.throws(
        () => jsonSchemaToGbnf({ type: 'string', pattern }),
        (e: unknown) => {
          assert.ok(isHobError(e), pattern);
          assert.equal(e.code, 'grammar/schema', `${pattern}: ${e.message}`);
          assert.equal(e.details.keyword, 'pattern', pattern);
          assert.equal(e.details.pointer, '/pattern', pattern);
          assert.equal(typeof e.details.reason, 'string', pattern);
          return true;
        },
        pattern,
      );
    }
  });
});
