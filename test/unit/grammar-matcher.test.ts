// The grammar matcher on a small vocabulary built to be awkward: characters
// split across tokens, invalid and empty pieces, NUL bytes, special tokens,
// an end-of-generation token. Its masks and states are checked against a
// transcription of llama.cpp's algorithm (grammar-reference.ts) on seeded
// random walks; then partial UTF-8, rejection, save/restore, lazy triggers
// and every matcher bound one by one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { GrammarError, HobError } from '../../src/shared/errors.js';
import { GrammarMatcher, GrammarVocab, grammarMatchesText, parseGrammar, type GrammarMatcherOptions } from '../../src/sampling/grammar/index.js';
import { NO_PARTIAL, type PartialUtf8 } from '../../src/sampling/grammar/utf8.js';
import { initialStacks, referenceAccept, referenceAllowed, type Stack } from './grammar-reference.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

const PIECES: Uint8Array[] = [
  enc('<eos>'), new Uint8Array(0), hex('00'), hex('0061'), enc('<think>'), enc('</think>'),
  hex('616200'.replace('00', '0062')), // "ab\0b": decodes as "ab"
  ...Array.from({ length: 95 }, (_, i) => enc(String.fromCharCode(32 + i))),
  enc('\n'), enc('\t'),
  ...['ab', 'abc', 'the', ' the', '{"', '":', '",', '"}', '}\n', ' {', '12', '3.5', 'true', 'false', 'null', '\\"', '\\u00e9', 'é', 'ë', '世', '界', '🦙', '😀', '世界', 'é世', 'hello', 'a b', ' ', '  ', '\n\n', 'xb', 'ab"'].map(enc),
  // Pieces of é (c3 a9), 世 (e4 b8 96), 🦙 (f0 9f a6 99), alone and glued to neighbours.
  ...['c3', 'a9', 'e4b8', '96', 'e4', 'b896', 'f09f', 'a699', 'f0', '9fa699', '61c3', 'a962', 'c3a9e4', 'b8', 'a6', '99', 'a9e4b896'].map(hex),
  // Invalid without a pending character, or always.
  ...['ff', '80616263', 'c0', 'c1', 'f8', '6180', 'c3c3'].map(hex),
];
const N = PIECES.length;
const piece = (id: number): Uint8Array => PIECES[id];
const isEog = (id: number): boolean => id === 0;
const vocab = new GrammarVocab({ nVocab: N, pieceBytes: piece, isEog });
const idOf = (s: string): number => PIECES.findIndex((p) => Buffer.from(p).equals(Buffer.from(enc(s))));
const idOfHex = (h: string): number => PIECES.findIndex((p) => Buffer.from(p).toString('hex') === h);
const tokenize = (t: string): number[] => ({ '<think>': [4], '</think>': [5], '<eos>': [0] })[t] ?? [-1, -1];

function maskSet(m: GrammarMatcher): Set<number> {
  const mask = new Uint32Array(m.maskWords);
  m.fillMask(mask);
  const out = new Set<number>();
  for (let id = 0; id < N; id++) if ((mask[id >>> 5] >>> (id & 31)) & 1) out.add(id);
  return out;
}

function matcher(grammar: string, opts?: GrammarMatcherOptions): GrammarMatcher {
  return new GrammarMatcher(parseGrammar(grammar, { tokenize }), vocab, opts);
}

const show = (ids: Iterable<number>): string => [...ids].map((id) => `${id}:${JSON.stringify(Buffer.from(PIECES[id]).toString('latin1'))}`).join(' ');

const WALK_GRAMMARS: [string, string][] = [
  ['JSON-like object', String.raw`root ::= "{" ws (kv ("," ws kv)*)? "}" ws
kv ::= str ":" ws val
val ::= str | num | "true" | "false" | "null" | "[" ws (val ("," ws val)*)? "]" ws
str ::= "\"" ([^"\\\x00-\x1F] | "\\" (["\\n] | "u" [0-9a-f]{4}))* "\"" ws
num ::= "-"? [0-9]+ ("." [0-9]+)? ws
ws ::= [ \t\n]{0,3}`],
  ['CJK and accents', String.raw`root ::= ([\u4e00-\u9fff] | "é")+ "!"`],
  ['negated class over partial characters', String.raw`root ::= [^\u4e00-\u9fff"]+ "\""`],
  ['any characters', 'root ::= .{1,6}'],
  ['think tokens', 'root ::= <think> (!</think>)* </think> [a-z ]+'],
  ['shared prefixes', 'root ::= ("a" | "ab" | "abc")* "c"? | "the" " the"*'],
  ['emoji', String.raw`root ::= "🦙"{2} | [\U0001F000-\U0001FFFF] "x"`],
  ['end allowed while a character is pending', 'root ::= "a" | "a" "é"'],
  ['a token element reached inside a piece', 'root ::= "a" !<[7]> "z" | "x" <[20]> "b"'],
  ['bounded words', 'root ::= ([a-z]+ " "?){1,4} "\\n"'],
];

/** Mulberry32, so a failing walk can be replayed from its printed seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('grammar matcher against a transcription of llama.cpp', () => {
  for (const [name, text] of WALK_GRAMMARS) {
    for (const seed of [1, 2, 3]) {
      test(`${name}: masks, one-token checks and states agree on a random walk (seed ${seed})`, () => {
        const g = parseGrammar(text, { tokenize });
        const m = new GrammarMatcher(g, vocab);
        let stacks: Stack[] = initialStacks(g);
        let partial: PartialUtf8 = NO_PARTIAL;
        const random = rng(seed * 7919 + name.length);
        const saved: { snap: ReturnType<GrammarMatcher['save']>; mask: Set<number> }[] = [];
        for (let step = 0; step < 30; step++) {
          const want = referenceAllowed(g, stacks, partial, N, piece, isEog);
          const got = maskSet(m);
          const extra = [...got].filter((id) => !want.has(id));
          const missing = [...want].filter((id) => !got.has(id));
          assert.deepEqual([show(extra), show(missing)], ['', ''], `step ${step}: allowed but not by llama.cpp / allowed by llama.cpp only`);
          for (let id = 0; id < N; id++) assert.equal(m.allows(id), want.has(id), `step ${step}: allows(${id})`);
          assert.equal(m.isComplete, stacks.some((s) => s.length === 0));
          if (random() < 0.2) saved.push({ snap: m.save(), mask: got });
          // Draw an allowed token (not the end); one llama.cpp would refuse
          // to accept is refused here too and left out.
          const choices = [...want].filter((id) => !isEog(id));
          let next: ReturnType<typeof referenceAccept> = null;
          while (choices.length && !next) {
            const id = choices.splice(Math.floor(random() * choices.length), 1)[0];
            next = referenceAccept(g, stacks, partial, id, piece(id));
            if (next) {
              m.accept(id);
            } else {
              const before = m.save();
              assert.throws(() => m.accept(id), (e: unknown) => e instanceof GrammarError && e.code === 'grammar/rejected');
              assert.deepEqual(m.save(), before);
            }
          }
          if (!next) break;
          stacks = next.stacks;
          partial = next.partial;
        }
        for (const { snap, mask } of saved) {
          m.restore(snap);
          assert.deepEqual(maskSet(m), mask);
        }
      });
    }
  }
});

describe('grammar matcher behaviour', () => {
  test('a character split across tokens: only its continuations follow, then the grammar goes on', () => {
    const m = matcher('root ::= "é" "世" | "ë"');
    m.accept(idOfHex('c3'));
    // c3 a9 is é, then 世 must follow: "a9" and "a9 e4 b8 96" pass, "a9 b" does not.
    assert.deepEqual(show(maskSet(m)), show([idOfHex('a9'), idOfHex('a9e4b896')].sort((a, b) => a - b)));
    assert.equal(m.allows(idOf('é')), false, 'a whole character cannot follow a pending one');
    assert.equal(m.allows(0), false);
    m.accept(idOfHex('a9e4b896'));
    assert.ok(m.isComplete);
    assert.deepEqual([...maskSet(m)], [0]);
  });

  test('end of generation is allowed while a character is pending if a stack is already empty (as in llama.cpp)', () => {
    const m = matcher('root ::= "a" | "a" "é"');
    m.accept(idOfHex('61c3'));
    assert.ok(m.isComplete && m.allows(0));
    m.accept(0);
    m.accept(idOfHex('a9'));
    assert.deepEqual([...maskSet(m)], [0]);
  });

  test('empty, NUL-led and invalid pieces are never allowed; a NUL inside a piece ends it', () => {
    const m = matcher('root ::= .*');
    const mask = maskSet(m);
    // 80 cannot start a character; c0 and c1 would start overlong ones.
    for (const id of [1, 2, 3, idOfHex('80616263'), idOfHex('6180'), idOfHex('c0'), idOfHex('c1')]) assert.ok(!mask.has(id), show([id]));
    // ff and f8 read as 4-byte leads, and continuation bytes after a lead go unchecked (llama.cpp's decoder).
    for (const id of [idOfHex('ff'), idOfHex('f8'), idOfHex('c3c3'), 6, 0]) assert.ok(mask.has(id), show([id]));
    const ab = matcher('root ::= "ab"');
    assert.ok(ab.allows(6));
    ab.accept(6);
    assert.ok(ab.isComplete);
  });

  test('a refused token is a grammar/rejected error naming it, and changes nothing', () => {
    const m = matcher('root ::= "ab" "c"');
    m.accept(idOf('a'));
    const before = m.save();
    assert.throws(() => m.accept(idOf('x')), (e: unknown) => e instanceof GrammarError && e.code === 'grammar/rejected' && e.details.token === idOf('x') && e.details.piece === 'x');
    assert.equal(m.save().state, before.state);
    assert.throws(() => m.accept(0), (e: unknown) => e instanceof GrammarError && e.code === 'grammar/rejected');
    m.accept(idOf('b'));
    m.accept(idOf('c'));
    m.accept(0); // allowed end of generation: no change
    assert.ok(m.isComplete);
    assert.throws(() => m.accept(N), (e: unknown) => e instanceof HobError && e.code === 'argument/invalid');
  });

  test('save and restore are O(1) values; clones are independent; snapshots stay with their matcher', () => {
    const m = matcher('root ::= [a-c]+ "!"');
    const start = m.save();
    assert.ok(Object.isFrozen(start));
    m.accept(idOf('a'));
    const afterA = m.save();
    const c = m.clone();
    c.accept(idOf('!'));
    assert.ok(c.isComplete && !m.isComplete);
    m.restore(start);
    assert.equal(m.allows(idOf('!')), false);
    m.restore(afterA);
    assert.equal(m.allows(idOf('!')), true);
    c.restore(start); // a clone shares the snapshot's owner
    assert.throws(() => matcher('root ::= "a"').restore(start), (e: unknown) => e instanceof HobError && e.code === 'argument/invalid');
  });

  test('filter and maskLogits agree with the mask', () => {
    const m = matcher('root ::= [0-9]+');
    const ids = Int32Array.from({ length: N }, (_, i) => i);
    const kept = m.filter(ids);
    assert.deepEqual([...ids.subarray(0, kept)], [...maskSet(m)]);
    const few = [idOf('1'), idOf('x'), idOf('12'), idOf('3.5')];
    assert.equal(m.filter(few, 4), 2);
    assert.deepEqual(few.slice(0, 2), [idOf('1'), idOf('12')]);
    const logits = new Float32Array(N).fill(1);
    m.maskLogits(logits);
    for (let id = 0; id < N; id++) assert.equal(logits[id] === 1, m.allows(id));
    assert.throws(() => m.fillMask(new Uint32Array(1)), (e: unknown) => e instanceof HobError && e.code === 'argument/invalid');
  });

  test('grammarMatchesText reads a lone surrogate as U+FFFD', () => {
    const g = parseGrammar('root ::= "a" [\\uFFFD]');
    assert.ok(grammarMatchesText(g, 'a\ud800'));
    assert.ok(!grammarMatchesText(g, 'a'));
  });
});

describe('lazy grammars', () => {
  const CALL = 'root ::= "he" "llo"? " {\\"" [a-z]* "\\"}"';

  test('before the trigger every token is allowed; a trigger word inside a token replays from the word on', () => {
    const m = matcher(CALL, { lazy: { triggers: [{ type: 'word', value: 'hello' }] } });
    assert.ok(m.awaitingTrigger && m.eogAllowed);
    assert.equal(maskSet(m).size, N);
    for (const t of ['the', ' ', 'x', 'hello']) m.accept(idOf(t));
    assert.ok(!m.awaitingTrigger);
    const spaceOrBrace = PIECES.flatMap((p, id) => (['20', '207b'].includes(Buffer.from(p).toString('hex')) ? [id] : []));
    assert.deepEqual(show(maskSet(m)), show(spaceOrBrace));
    for (const t of [' {', '"', 'ab', '"}']) m.accept(idOf(t));
    assert.ok(m.isComplete);
  });

  test('a word completed across tokens replays each token from where the word starts', () => {
    const m = matcher('root ::= "llo" [0-9]', { lazy: { triggers: [{ type: 'word', value: 'llo' }] } });
    for (const t of ['hello'.slice(0, 1), 'e', 'l', 'l']) m.accept(idOf(t));
    assert.ok(m.awaitingTrigger);
    m.accept(idOf('o'));
    assert.ok(!m.awaitingTrigger);
    assert.deepEqual(show(maskSet(m)), show('0123456789'.split('').map(idOf)));
  });

  test('a pattern starts the grammar at its first non-empty group; a full pattern must match everything', () => {
    const m = matcher('root ::= "{" [a-z]* "}"', { lazy: { triggers: [{ type: 'pattern', value: '[\\s\\S]*?(\\{)' }] } });
    m.accept(idOf('the'));
    m.accept(idOf(' {'));
    assert.ok(!m.awaitingTrigger);
    assert.ok(m.allows(idOf('a')) && !m.allows(idOf('{')));
    const full = matcher('root ::= "ab" [0-9]', { lazy: { triggers: [{ type: 'pattern_full', value: '(ab)' }] } });
    full.accept(idOf('x'));
    full.accept(idOf('ab'));
    assert.ok(full.awaitingTrigger, '"xab" is not all "ab"');
    const full2 = matcher('root ::= "ab" [0-9]', { lazy: { triggers: [{ type: 'pattern_full', value: 'ab' }] } });
    full2.accept(idOf('ab'));
    assert.ok(!full2.awaitingTrigger);
  });

  test('a trigger token is fed to the grammar itself', () => {
    const m = matcher('root ::= <think> [a-z]+', { lazy: { triggers: [{ type: 'token', token: 4 }] } });
    m.accept(idOf('x'));
    m.accept(4);
    assert.ok(!m.awaitingTrigger && m.allows(idOf('a')) && !m.allows(4));
  });

  test('patterns see bytes: \\s does not take the 0xA0 continuation byte', () => {
    // "à" is c3 a0; JS's \s would take a0 as a no-break space.
    const lazyVocab = new GrammarVocab({ nVocab: 3, pieceBytes: (id) => [hex('c3a0'), enc('x'), enc(' ')][id], isEog: () => false });
    const lm = new GrammarMatcher(parseGrammar('root ::= "x"'), lazyVocab, { lazy: { triggers: [{ type: 'pattern', value: '\\s(x)' }] } });
    lm.accept(0);
    lm.accept(1);
    assert.ok(lm.awaitingTrigger);
    lm.accept(2);
    lm.accept(1);
    assert.ok(!lm.awaitingTrigger && lm.isComplete);
  });

  test('text after the trigger that the grammar refuses is a grammar/rejected error, and the matcher stays waiting', () => {
    const m = matcher('root ::= "hi"', { lazy: { triggers: [{ type: 'word', value: 'h' }] } });
    m.accept(idOf('x'));
    const before = m.save();
    assert.throws(() => m.accept(idOf('the')), (e: unknown) => e instanceof GrammarError && e.code === 'grammar/rejected');
    assert.deepEqual(m.save(), before);
    assert.ok(m.awaitingTrigger);
  });

  test('an invalid trigger pattern is a parse error', () => {
    assert.throws(() => matcher('root ::= "a"', { lazy: { triggers: [{ type: 'pattern', value: '(' }] } }), (e: unknown) => e instanceof GrammarError && e.code === 'grammar/parse');
  });
});

describe('grammar matcher bounds', () => {
  const limit = (fn: () => void, bound: string): void => {
    const t0 = performance.now();
    assert.throws(fn, (e: unknown) => e instanceof GrammarError && e.code === 'grammar/limit' && e.details.bound === bound && e.message.includes(bound));
    assert.ok(performance.now() - t0 < 3000, `reaching ${bound} took too long`);
  };

  test('stacks after one code point', () => {
    limit(() => matcher(`root ::= ${'"x"? '.repeat(5000)}"y"`), 'maxStacks');
    limit(() => matcher(`root ::= ${'"x"? '.repeat(50)}"y"`, { limits: { maxStacks: 20 } }), 'maxStacks');
  });

  test('stack depth', () => {
    const m = matcher('root ::= "(" root ")" | "x"', { limits: { maxStackDepth: 64 } });
    limit(() => {
      for (let i = 0; i < 200; i++) m.accept(idOf('('));
    }, 'maxStackDepth');
  });

  test('expansion steps after one code point', () => {
    limit(() => matcher(`root ::= ${'"x"? '.repeat(300)}"y"`, { limits: { maxExpansionSteps: 100 } }), 'maxExpansionSteps');
  });

  test('interned frames and states over a long run', () => {
    const frames = matcher('root ::= "(" root ")" | "x"', { limits: { maxStackFrames: 50 } });
    limit(() => {
      for (let i = 0; i < 200; i++) frames.accept(idOf('('));
    }, 'maxStackFrames');
    const states = matcher('root ::= "(" root ")" | "x"', { limits: { maxStates: 30 } });
    limit(() => {
      for (let i = 0; i < 200; i++) states.accept(idOf('('));
    }, 'maxStates');
  });

  test('text buffered before a trigger', () => {
    const m = matcher('root ::= "a"', { lazy: { triggers: [{ type: 'word', value: 'never' }] }, limits: { maxTriggerBufferBytes: 100 } });
    limit(() => {
      for (let i = 0; i < 200; i++) m.accept(idOf('x'));
    }, 'maxTriggerBufferBytes');
  });

  test('an ambiguous grammar stays within its stack budget', () => {
    // Every way to split a run of a's: the stacks are a set, so they stay few.
    const m = matcher('root ::= ("a" | "a" "a" | "a" "a" "a")* "!"');
    for (let i = 0; i < 500; i++) m.accept(idOf('a'));
    m.accept(idOf('!'));
    assert.ok(m.isComplete);
  });
});

describe('whole-subtree decisions on a larger vocabulary', () => {
  // 4000 random pieces over an alphabet with quotes, escapes, digits,
  // letters, multi-byte characters and their fragments: deep enough subtrees
  // and wide enough nodes (the root gets a fan) for the mask to take and drop
  // whole subtrees, which the small vocabulary above rarely lets it do.
  const random = rng(20261206);
  const alphabet = ['a', 'b', 'c', 'x', 'z', ' ', '"', '\\', '0', '7', '.', '\n', 'é', '世', '🦙', 'ß'].map(enc);
  const fragments = ['c3', 'a9', 'e4', 'b896', 'f09f', 'a699', 'e4b8'].map(hex);
  const seen = new Set<string>();
  const pieces: Uint8Array[] = [enc('<eos>')];
  for (let cp = 0x4e00; cp < 0x4e00 + 150; cp++) pieces.push(enc(String.fromCodePoint(cp)));
  while (pieces.length < 4000) {
    const parts: Uint8Array[] = [];
    const len = 1 + Math.floor(random() * random() * 14);
    for (let i = 0; i < len; i++) parts.push(random() < 0.06 ? fragments[Math.floor(random() * fragments.length)] : alphabet[Math.floor(random() * alphabet.length)]);
    const bytes = Uint8Array.from(parts.flatMap((p) => [...p]));
    const k = Buffer.from(bytes).toString('hex');
    if (!seen.has(k)) {
      seen.add(k);
      pieces.push(bytes);
    }
  }
  const big = new GrammarVocab({ nVocab: pieces.length, pieceBytes: (id) => pieces[id], isEog: (id) => id === 0 });
  const grammars = [
    String.raw`root ::= "\"" [^"\\]{0,20} "\"" [a-z]*`,
    String.raw`root ::= [a-z .]{0,15} "\n"`,
    'root ::= (. .){0,8}',
    'root ::= .{2,30}',
    String.raw`root ::= [^\u4e00-\u9fff]{0,12} [\u4e00-\u9fff]+`,
    String.raw`root ::= ("\"" ([^"\\] | "\\" ["\\])* "\"" " "?)+`,
  ];
  for (const text of grammars) {
    test(`${text.slice(9, 50)}: the mask equals the one-token check and llama.cpp's algorithm at every step`, () => {
      assert.ok(big.fanOf[0] >= 0, 'the root has a fan');
      const g = parseGrammar(text);
      const m = new GrammarMatcher(g, big);
      let stacks: Stack[] = initialStacks(g);
      let partial: PartialUtf8 = NO_PARTIAL;
      const walk = rng(text.length);
      const mask = new Uint32Array(m.maskWords);
      for (let step = 0; step < 25; step++) {
        m.fillMask(mask);
        const want = referenceAllowed(g, stacks, partial, big.nVocab, (id) => pieces[id], (id) => id === 0);
        const wrong: number[] = [];
        for (let id = 0; id < big.nVocab; id++) {
          const bit = ((mask[id >>> 5] >>> (id & 31)) & 1) === 1;
          if (bit !== want.has(id) || bit !== m.allows(id)) wrong.push(id);
        }
        assert.deepEqual(wrong.slice(0, 5).map((id) => Buffer.from(pieces[id]).toString('hex')), [], `step ${step}`);
        // Prefer long tokens, so counters run down.
        const choices = [...want].filter((id) => id !== 0).sort((x, y) => pieces[y].length - pieces[x].length).slice(0, 40);
        let next: ReturnType<typeof referenceAccept> = null;
        while (choices.length && !next) {
          const id = choices.splice(Math.floor(walk() * choices.length), 1)[0];
          next = referenceAccept(g, stacks, partial, id, pieces[id]);
          if (next) m.accept(id);
        }
        if (!next) break;
        stacks = next.stacks;
        partial = next.partial;
      }
    });
  }
});
