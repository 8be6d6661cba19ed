// Hob's GBNF parser and matcher against llama.cpp's verdicts
// (test/fixtures/grammar-verdicts.json, made by
// scripts/oracle/make-grammar-fixtures.ts): which grammars parse, which
// strings each grammar matches whole (llama_grammar_accept per code point),
// and which token sequences it takes (llama_grammar_accept_token).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import { GrammarError } from '../../src/shared/errors.js';
import { GrammarMatcher, GrammarVocab, grammarMatchesText, parseGrammar } from '../../src/sampling/grammar/index.js';

type TokenItem = number | string | { token: number; piece: string; hexPiece?: string };

const fixture = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../fixtures'), 'grammar-verdicts.json'), 'utf8')) as {
  generator: string;
  cases: { name: string; grammar: string; root?: string; verdicts: [string, boolean][] }[];
  parseFailures: { name: string; grammar: string; root?: string; fails: boolean }[];
  tokenCases: { name: string; grammar: string; verdicts: [TokenItem[], boolean][] }[];
};

const show = (s: string): string => JSON.stringify(s.length > 50 ? `${s.slice(0, 50)}…` : s);

describe(`grammar verdicts against llama.cpp (${fixture.generator})`, () => {
  test('the fixture has the cases it should', () => {
    const n = fixture.cases.reduce((a, c) => a + c.verdicts.length, 0) + fixture.parseFailures.length + fixture.tokenCases.reduce((a, c) => a + c.verdicts.length, 0);
    assert.ok(fixture.cases.length >= 40 && n >= 300, `${fixture.cases.length} grammars, ${n} cases`);
  });

  for (const c of fixture.cases) {
    test(`${c.name}: ${c.verdicts.filter((v) => v[1]).length} strings match and ${c.verdicts.filter((v) => !v[1]).length} do not, as in llama.cpp`, () => {
      const g = parseGrammar(c.grammar, { root: c.root });
      const wrong = c.verdicts.filter(([text, want]) => grammarMatchesText(g, text) !== want).map(([t, w]) => `${show(t)} should ${w ? '' : 'not '}match`);
      assert.deepEqual(wrong, []);
    });
  }

  for (const c of fixture.parseFailures) {
    test(`${c.name}: ${c.fails ? 'is a parse error' : 'parses'}, as in llama.cpp`, () => {
      let error: unknown;
      try {
        parseGrammar(c.grammar, { root: c.root });
      } catch (e) {
        error = e;
      }
      if (!c.fails) {
        assert.equal(error, undefined);
        return;
      }
      assert.ok(error instanceof GrammarError, `expected a GrammarError, got ${String(error)}`);
      assert.ok(error.code === 'grammar/parse' || error.code === 'grammar/limit', error.code);
      assert.ok(error.message.length > 10);
    });
  }

  // Token ids up to 31; the pieces come with each input, not from a vocabulary.
  const vocab = new GrammarVocab({ nVocab: 32, pieceBytes: () => new Uint8Array(0), isEog: () => false });
  const pieces = (items: TokenItem[]): [number, Uint8Array][] => {
    const enc = new TextEncoder();
    const out: [number, Uint8Array][] = [];
    for (const it of items) {
      if (typeof it === 'number') out.push([it, enc.encode(`<[${it}]>`)]);
      else if (typeof it === 'string') for (const ch of it) out.push([0, enc.encode(ch)]);
      else out.push([it.token, it.hexPiece ? Uint8Array.from(Buffer.from(it.hexPiece, 'hex')) : enc.encode(it.piece)]);
    }
    return out;
  };
  for (const c of fixture.tokenCases) {
    test(`${c.name}: token sequences are taken or refused as in llama.cpp`, () => {
      const g = parseGrammar(c.grammar);
      const wrong: string[] = [];
      for (const [items, want] of c.verdicts) {
        const m = new GrammarMatcher(g, vocab);
        let ok = true;
        for (const [id, piece] of pieces(items)) {
          try {
            m.acceptPiece(id, piece);
          } catch (e) {
            assert.ok(e instanceof GrammarError && e.code === 'grammar/rejected', String(e));
            ok = false;
            break;
          }
        }
        if ((ok && m.isComplete) !== want) wrong.push(`${JSON.stringify(items)} should be ${want ? 'taken' : 'refused'}`);
      }
      assert.deepEqual(wrong, []);
    });
  }
});
