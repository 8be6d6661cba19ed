// The grammar as a stage of the sampling stack (src/sampling/constrained.ts)
// and the mask it applies: the token is the one the chain draws when the
// grammar allows it and otherwise the one it draws from the masked logits;
// the logits are read once per step (twice only after a device pick the
// grammar refused); maskLogits sets exactly the refused tokens to -Infinity,
// whatever the mix of all-allowed, all-refused and mixed 32-token words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { PickedLogits, StepLogits } from '../../src/core/logits.js';
import { SamplerChain } from '../../src/sampling/chain.js';
import { sampleConstrained } from '../../src/sampling/constrained.js';
import { GrammarMatcher, GrammarVocab, parseGrammar } from '../../src/sampling/grammar/index.js';
import { Rng } from '../gguf/random-model.js';

// Token id i is the one character U+4E00 + i, so a character class of the
// grammar is exactly a set of ids; the last token is end of generation.
const N = 200;
const EOG = N - 1;
const vocab = new GrammarVocab({
  nVocab: N,
  pieceBytes: (id) => new TextEncoder().encode(id === EOG ? '<eos>' : String.fromCodePoint(0x4e00 + id)),
  isEog: (id) => id === EOG,
});
const cls = (ranges: [number, number][]): string =>
  '[' + ranges.map(([a, b]) => `\\u${(0x4e00 + a).toString(16)}-\\u${(0x4e00 + b).toString(16)}`).join('') + ']';
/** Word 0 all allowed, word 1 all refused, word 2 mixed, word 3 all allowed, words 4-6 refused (the last one partly past N). */
const MIXED: [number, number][] = [[0, 31], [64, 69], [75, 75], [95, 127]];
const matcher = (ranges: [number, number][]): GrammarMatcher => new GrammarMatcher(parseGrammar(`root ::= ${cls(ranges)}+`), vocab);

function randomLogits(seed: number, length = N): Float32Array {
  const l = new Float32Array(length);
  new Rng(seed, 'logits').fillNormal(l, 0, 3);
  return l;
}

/** A step over fixed logits that counts its readbacks, with an optional device pick. */
function step(logits: Float32Array, picked: PickedLogits | null = null): StepLogits & { reads: number } {
  const s = {
    nVocab: N,
    picked,
    reads: 0,
    all: async () => {
      s.reads++;
      return logits.slice();
    },
  };
  return s;
}

const chainFor = (seed: number) => new SamplerChain({ temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, seed }, { nVocab: N, nCtx: 512 });

describe('sampleConstrained', () => {
  test('a sample the grammar allows is the chain\'s own, from one readback', async () => {
    let checked = 0;
    for (let seed = 0; seed < 40; seed++) {
      const logits = randomLogits(seed);
      const m = matcher([[0, N - 2]]); // every character
      const s = step(logits);
      const r = await sampleConstrained(chainFor(seed), m, s);
      assert.equal(r.resampled, false);
      assert.equal(r.token, chainFor(seed).sampleLogits(logits.slice()));
      assert.equal(s.reads, 1);
      checked++;
    }
    assert.equal(checked, 40);
  });

  test('a refused sample is drawn again from the masked logits, still from one readback', async () => {
    let refused = 0;
    for (let seed = 0; seed < 60; seed++) {
      const logits = randomLogits(seed);
      const m = matcher(MIXED);
      const s = step(logits);
      const r = await sampleConstrained(chainFor(seed), m, s);
      // The reference: the chain's first draw; if refused, a second draw by
      // the same chain (its random stream moved on) over a masked copy.
      const ref = chainFor(seed);
      let want = ref.sampleLogits(logits.slice());
      const allowed = m.allows(want);
      if (!allowed) {
        const masked = logits.slice();
        for (let id = 0; id < N; id++) if (!m.allows(id)) masked[id] = -Infinity;
        want = ref.sampleLogits(masked);
        refused++;
      }
      assert.equal(r.resampled, !allowed, `seed ${seed}`);
      assert.equal(r.token, want, `seed ${seed}`);
      assert.ok(m.allows(r.token), `seed ${seed}: token ${r.token} is allowed`);
      assert.equal(s.reads, 1, `seed ${seed}: one readback`);
    }
    assert.ok(refused > 10, `only ${refused} of 60 samples were refused: the test did not exercise the mask`);
  });

  test('from a device pick, the logits are read only when the grammar refuses', async () => {
    const logits = randomLogits(3);
    const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
    const best = order[0];
    const picked = { ids: Int32Array.of(best), logits: Float32Array.of(logits[best]) };
    const greedy = () => new SamplerChain({ temperature: 0, seed: 1 }, { nVocab: N, nCtx: 512 });
    const passes = step(logits, picked);
    const r1 = await sampleConstrained(greedy(), matcher([[best, best]]), passes);
    assert.deepEqual([r1.token, r1.resampled, passes.reads], [best, false, 0]);
    // Refuse the best: the next best the grammar allows wins, from one readback.
    const others: [number, number][] = order.slice(1, 4).map((id) => [id, id]);
    const refuses = step(logits, picked);
    const r2 = await sampleConstrained(greedy(), matcher(others), refuses);
    assert.deepEqual([r2.token, r2.resampled, refuses.reads], [order[1], true, 1]);
  });

  test('sampleLogits leaves its argument as it was (the refused path masks that same copy)', () => {
    const logits = randomLogits(9);
    const copy = logits.slice();
    const chain = new SamplerChain({ temperature: 0.7, top_k: 10, repeat_penalty: 1.3, seed: 2 }, { nVocab: N, nCtx: 512, logitBias: { 5: 4 } });
    chain.accept(7);
    chain.sampleLogits(logits, [3]);
    assert.deepEqual(logits, copy);
  });
});

describe('maskLogits', () => {
  const reference = (m: GrammarMatcher, logits: Float32Array): Float32Array => {
    const out = logits.slice();
    for (let id = 0; id < Math.min(out.length, N); id++) if (!m.allows(id)) out[id] = -Infinity;
    return out;
  };

  test('sets exactly the refused tokens to -Infinity across whole, empty and mixed words', () => {
    for (const ranges of [MIXED, [[0, N - 2]], [[7, 7]], [[32, 63], [160, 190]], [[1, 30], [33, 62]]] as [number, number][][]) {
      const m = matcher(ranges);
      const logits = randomLogits(ranges.length);
      const want = reference(m, logits);
      m.maskLogits(logits);
      assert.deepEqual(logits, want, JSON.stringify(ranges));
    }
  });

  test('end of generation is allowed once the grammar is complete, and arrays of other lengths are masked up to the vocabulary', () => {
    const m = matcher(MIXED);
    m.accept(0);
    const logits = randomLogits(4);
    m.maskLogits(logits);
    assert.ok(logits[EOG] > -Infinity);
    for (const n of [70, 96, N + 40]) {
      const l = randomLogits(n, n);
      const want = reference(m, l);
      m.maskLogits(l);
      assert.deepEqual(l, want, `length ${n}`);
    }
  });
});
