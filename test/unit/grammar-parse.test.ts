// The GBNF parser's errors and bounds: every malformed grammar is a
// GrammarError with the line, column and what was expected; left recursion,
// undefined rules and a missing root are errors; every bound an adversarial
// grammar could blow up is a 'grammar/limit' error that names it, reached
// quickly. (Which grammars parse at all is checked against llama.cpp in
// test/oracle/grammar-verdicts.test.ts.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { GrammarError } from '../../src/shared/errors.js';
import { DEFAULT_GRAMMAR_LIMITS, grammarMatchesText, parseGrammar, printGrammar, type ParseGrammarOptions } from '../../src/sampling/grammar/index.js';

function parseError(text: string, opts?: ParseGrammarOptions): GrammarError {
  try {
    parseGrammar(text, opts);
  } catch (e) {
    assert.ok(e instanceof GrammarError, `not a GrammarError: ${String(e)}`);
    return e;
  }
  assert.fail(`parsed: ${JSON.stringify(text)}`);
}

describe('grammar parse errors', () => {
  const cases: [string, string, number, number, RegExp][] = [
    // grammar, what, line, column, expected
    ['root ::= "a"\nnext = "b"', 'no ::=', 2, 6, /'::='/],
    ['root ::= "abc', 'unterminated literal', 1, 14, /closing '"'/],
    ['root ::= [abc', 'unterminated class', 1, 14, /closing '\]'/],
    ['root ::= "a\\qb"', 'unknown escape', 1, 12, /escape/],
    ['root ::= "\\x4g"', 'short hex escape', 1, 14, /2 hex digits/],
    ['root ::= [\\u12]', 'short unicode escape', 1, 15, /4 hex digits/],
    ['root ::= * "a"', 'repetition of nothing', 1, 10, /item before/],
    ['root ::= "a"{,2}', 'brace without a count', 1, 14, /integer/],
    ['root ::= "a"{1,2', 'unclosed brace', 1, 17, /'\}'/],
    ['root ::= "a"{1 x}', 'brace with a word', 1, 16, /',' or '\}'/],
    ['root ::= (\n  "a" |\n  "b"', 'unclosed group', 3, 6, /'\)' to close the group opened at line 1, column 10/],
    ['root ::= "a" )', 'junk after a sequence', 1, 14, /line break or the end/],
    ['root ::= "a"\n  | "b"', 'a line starting with |', 2, 3, /rule name/],
    ['root ::= !"a"', 'bang without a token', 1, 11, /'<'/],
    ['root ::= <[12', 'unterminated token id', 1, 14, /'\]'/],
    ['root ::= <[12]', 'token id without >', 1, 15, /'>'/],
    ['root ::= <think', 'unterminated token text', 1, 16, /'>'/],
    ['root ::= "a"{3,2}', 'maximum below minimum', 1, 13, /maximum no smaller than the minimum/],
    ['root ::= "a"{1,99999999999999999999999}', 'integer past 64 bits', 1, 16, /below 2\^64/],
  ];
  for (const [text, what, line, column, expected] of cases) {
    test(`${what}: line ${line}, column ${column}, names what was expected and what was found`, () => {
      const e = parseError(text);
      assert.equal(e.code, 'grammar/parse');
      assert.equal(e.details.line, line, e.message);
      assert.equal(e.details.column, column, e.message);
      assert.match(String(e.details.expected), expected);
      assert.equal(typeof e.details.found, 'string');
      assert.match(e.message, new RegExp(`line ${line}, column ${column}`));
    });
  }

  test('columns count characters, not bytes', () => {
    const e = parseError('root ::= "世界🦙" [');
    assert.equal(e.details.column, 17);
  });

  test('the found text is quoted from the grammar', () => {
    const e = parseError('root ::= "a"\nnext = "b"');
    assert.equal(e.details.found, '"= \\"b\\""');
    assert.match(e.message, /expected '::=' but found "= \\"b\\"" at line 2, column 6/);
  });

  test('an undefined rule is named, at its first use', () => {
    const e = parseError('root ::= expr\nexpr ::= term ("+" term)*\nterm ::= numero\nnumber ::= [0-9]+');
    assert.equal(e.code, 'grammar/parse');
    assert.match(e.message, /rule "numero" is used but never defined/);
    assert.deepEqual([e.details.line, e.details.column], [3, 10]);
  });

  test('a missing root is an error, and another root can be asked for', () => {
    const e = parseError('rot ::= [0-9]+');
    assert.match(e.message, /no rule "root"/);
    assert.match(String(e.details.expected), /a rule named "root"/);
    assert.ok(grammarMatchesText(parseGrammar('rot ::= [0-9]+', { root: 'rot' }), '42'));
    assert.match(parseError('root ::= "x"', { root: 'start' }).message, /no rule "start"/);
  });

  test('an empty grammar is an error', () => {
    assert.match(parseError('# only a comment\n\n').message, /no rules/);
    assert.match(parseError('').message, /no rules/);
  });

  const leftRecursive: [string, string, number][] = [
    ['root ::= "a" | root "a"', 'root', 1],
    ['root ::= x\nx ::= "a" | x "a"', 'x', 2],
    ['root ::= x\nx ::= "a" | y "b"\ny ::= "c" | x "d"', 'x', 2],
    ['root ::= x\nx ::= "a" | y "b"\ny ::= "c" | e x "d"\ne ::= "blah" | ', 'x', 2],
    ['root ::= "a" ()*', 'root_2', 1],
  ];
  for (const [text, rule, line] of leftRecursive) {
    test(`left recursion through ${rule} is an error naming the rule (${JSON.stringify(text.slice(0, 30))})`, () => {
      const e = parseError(text);
      assert.equal(e.code, 'grammar/parse');
      assert.match(e.message, /left-recursive/);
      assert.ok(String(e.details.rule).length > 0);
      assert.equal(e.details.line, line);
    });
  }

  test('recursion after a terminal, or behind a rule that cannot be empty, is fine', () => {
    const g = parseGrammar('root ::= "(" root ")" | x root | ""\nx ::= "x"');
    assert.ok(grammarMatchesText(g, '(x(()))'));
  });

  test('a NUL ends the grammar, as the C string does in llama.cpp', () => {
    const g = parseGrammar('root ::= "a"\0 this is ignored ::=');
    assert.ok(grammarMatchesText(g, 'a'));
  });

  test('token text needs a tokenizer, resolves to exactly one token, and ids wrap to 32 bits', () => {
    assert.match(parseError('root ::= <think>').message, /no vocabulary/);
    const tokenize = (t: string): number[] => (t === '<think>' ? [7] : [1, 2]);
    const g = parseGrammar('root ::= <think> !<[4294967303]> <[5]>', { tokenize });
    assert.deepEqual(g.tokenRefs, [5, 7]);
    assert.equal(printGrammar(g), 'root ::= <[7]> !<[7]> <[5]>');
    const e = parseError('root ::= <nope>', { tokenize });
    assert.match(e.message, /<nope> is 2 tokens, not one/);
  });

  test('printGrammar shows the rules llama.cpp would build, generated ones included', () => {
    const g = parseGrammar('root ::= [a-c] "x"{2,3} ("y" | [^z])* .');
    assert.equal(printGrammar(g), [
      'root ::= [a-c] [x] [x] root_1 root_3 .',
      'root_1 ::= [x] |',
      'root_2 ::= [y] | [^z]',
      'root_3 ::= root_2 root_3 |',
    ].join('\n'));
  });
});

describe('grammar parse bounds', () => {
  const limitError = (text: string, opts?: ParseGrammarOptions): GrammarError => {
    const t0 = performance.now();
    const e = parseError(text, opts);
    assert.equal(e.code, 'grammar/limit', e.message);
    assert.ok(performance.now() - t0 < 2000, 'the bound was reached slowly');
    return e;
  };

  test('source size', () => {
    const e = limitError(`root ::= "${'a'.repeat(2000)}"`, { limits: { maxSourceBytes: 1000 } });
    assert.equal(e.details.bound, 'maxSourceBytes');
  });

  test('group nesting (llama.cpp recurses without a bound)', () => {
    const deep = `root ::= ${'('.repeat(100_000)}"a"${')'.repeat(100_000)}`;
    const e = limitError(deep);
    assert.equal(e.details.bound, 'maxNesting');
    assert.equal(e.details.line, 1);
    assert.ok(grammarMatchesText(parseGrammar(`root ::= ${'('.repeat(200)}"a"${')'.repeat(200)}`), 'a'));
  });

  test("repetition counts: llama.cpp's threshold of 2000, alone and multiplied", () => {
    assert.equal(limitError('root ::= "a"{2001}').details.bound, 'repetitions');
    assert.equal(limitError('root ::= "a"{2000}').details.bound, 'repetitions');
    assert.equal(limitError('root ::= ("a"{0,100}){100}').details.bound, 'repetitions');
    assert.equal(limitError('root ::= (x (y z)* "c"{1,4}){600}\nx ::= "x"\ny ::= "y"\nz ::= "z"').details.bound, 'repetitions');
    // Copies without new rules do not multiply: llama.cpp parses this.
    assert.ok(grammarMatchesText(parseGrammar('root ::= ("a"{100}){100}'), 'a'.repeat(10_000)));
  });

  test('elements written by repetitions of long literals', () => {
    const e = limitError(`root ::= "${'x'.repeat(20_000)}"{1999}`);
    assert.equal(e.details.bound, 'maxElements');
    assert.equal(limitError('root ::= "abcdefgh"{100}', { limits: { maxElements: 500 } }).details.bound, 'maxElements');
  });

  test('limits must be positive integers', () => {
    assert.equal(limitError('root ::= "a"', { limits: { maxStacks: 0 } }).details.bound, 'maxStacks');
    assert.equal(limitError('root ::= "a"', { limits: { maxNesting: 1.5 } }).details.bound, 'maxNesting');
    assert.ok(Object.isFrozen(DEFAULT_GRAMMAR_LIMITS));
  });

  test('a grammar that is large but within bounds parses fast', () => {
    const rules = Array.from({ length: 3000 }, (_, i) => `r${i} ::= "k${i}" [0-9]{1,5} (" " | "\\n")*`);
    const t0 = performance.now();
    const g = parseGrammar(`root ::= ${Array.from({ length: 3000 }, (_, i) => `r${i}`).join(' | ')}\n${rules.join('\n')}`);
    assert.ok(performance.now() - t0 < 2000);
    assert.ok(grammarMatchesText(g, 'k2999123  \n'));
  });
});
