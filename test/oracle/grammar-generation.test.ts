// Grammar-constrained generation against llama.cpp on a random f32 model
// with Qwen 3's vocabulary (test/oracle/grammar-model.ts; fixture
// test/fixtures/grammar-generation.json from
// scripts/oracle/make-grammar-fixtures.ts):
//   - the candidate set after every token of a text fed through a grammar
//     equals llama.cpp's (llama_grammar_apply_impl over all 151,669 tokens),
//     end of generation, split characters, token references and lazy
//     triggers included;
//   - greedy generation under a grammar gives llama.cpp's tokens: a small
//     loop here (eval, logits, mask, first of the largest, accept).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Engine, generate, Model, Sequence, Session } from '../../src/node/index.js';
import { GrammarMatcher, GrammarVocab, parseGrammar, type GrammarTrigger } from '../../src/sampling/grammar/index.js';
import { writeGrammarModel, type GrammarModelSpec } from './grammar-model.js';

type TriggerSpec = { type: 'word' | 'pattern' | 'pattern_full'; value: string } | { type: 'token'; text: string };
interface MaskStep {
  count: number;
  sha256: string;
  ids?: number[];
  notIds?: number[];
}

const fixture = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../fixtures'), 'grammar-generation.json'), 'utf8')) as {
  generator: string;
  model: { spec: GrammarModelSpec; sha256: string; nVocab: number };
  masks: { name: string; grammar: string; lazy?: TriggerSpec[]; text: string; tokens: number[]; steps: MaskStep[]; error?: string }[];
  greedy: { name: string; grammar: string; lazy?: TriggerSpec[]; prompt: string; promptIds: number[]; nPredict: number; tokens: number[]; minMargin: number }[];
};

describe(`grammar-constrained generation against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  let model: Model;
  let vocab: GrammarVocab;
  const tokenize = (text: string): number[] => model.tokenize(text, { addSpecial: false, parseSpecial: true });
  const triggers = (specs: TriggerSpec[] | undefined): { triggers: GrammarTrigger[] } | undefined =>
    specs && {
      triggers: specs.map((t): GrammarTrigger => {
        if (t.type !== 'token') return t;
        const ids = tokenize(t.text);
        assert.equal(ids.length, 1);
        return { type: 'token', token: ids[0] };
      }),
    };

  before(async () => {
    const { bytes, sha256 } = writeGrammarModel(fixture.model.spec);
    assert.equal(sha256, fixture.model.sha256, 'the writer no longer produces the fixture model');
    engine = await Engine.create({ threads: 2 });
    model = Model.load(engine, bytes);
    assert.equal(model.info.nVocab, fixture.model.nVocab);
    vocab = new GrammarVocab({ nVocab: model.info.nVocab, pieceBytes: (id) => model.tokenBytes(id, true), isEog: (id) => model.isEog(id) });
  });
  after(() => {
    model?.free();
    engine?.dispose();
  });

  for (const c of fixture.masks) {
    test(`${c.name}: the allowed tokens after each of ${c.tokens.length} tokens are llama.cpp's`, () => {
      assert.deepEqual(tokenize(c.text), c.tokens);
      const m = new GrammarMatcher(parseGrammar(c.grammar, { tokenize }), vocab, { lazy: triggers(c.lazy) });
      const mask = new Uint32Array(m.maskWords);
      const bytes = new Uint8Array(mask.buffer, 0, Math.ceil(vocab.nVocab / 8));
      c.steps.forEach((want, i) => {
        m.fillMask(mask);
        const ids: number[] = [];
        for (let id = 0; id < vocab.nVocab; id++) if ((mask[id >>> 5] >>> (id & 31)) & 1) ids.push(id);
        const where = `after ${i} tokens`;
        if (want.ids) assert.deepEqual(ids, want.ids, where);
        if (want.notIds) {
          const set = new Set(ids);
          assert.deepEqual(want.notIds.filter((id) => set.has(id)), [], `${where}: allowed, but not by llama.cpp`);
        }
        assert.equal(ids.length, want.count, `${where}: allowed count`);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), want.sha256, `${where}: allowed set`);
        // The one-token check agrees with the mask.
        for (const id of [...c.tokens.slice(i, i + 1), ...ids.slice(0, 3), 0, vocab.nVocab - 1]) {
          assert.equal(m.allows(id), ((mask[id >>> 5] >>> (id & 31)) & 1) === 1, `${where}: allows(${id})`);
        }
        if (i < c.tokens.length) m.accept(c.tokens[i]);
      });
    });
  }

  for (const c of fixture.greedy) {
    test(`${c.name}: greedy under the grammar, through the generation loop, gives llama.cpp's ${c.tokens.length} tokens`, async () => {
      assert.deepEqual(tokenize(c.prompt), c.promptIds);
      const constraint = { grammar: parseGrammar(c.grammar, { tokenize }), triggers: triggers(c.lazy)?.triggers, source: 'grammar' as const };
      const sequence = new Sequence(Session.create(model, { nCtx: 512 }));
      try {
        const r = await generate(model, sequence, { temperature: 0, promptIds: c.promptIds, maxTokens: c.nPredict, constraint });
        // llama.cpp's run ends with the end-of-generation token it sampled;
        // the loop stops on it without making it part of the reply.
        const endsWithEog = c.tokens.length > 0 && model.isEog(c.tokens[c.tokens.length - 1]);
        assert.deepEqual(r.ids, endsWithEog ? c.tokens.slice(0, -1) : c.tokens, `llama.cpp's smallest margin on this run: ${c.minMargin}`);
        assert.equal(r.finishReason, endsWithEog ? 'stop' : 'length');
        if (!c.lazy) assert.ok(r.resamples > 0, 'the model never needed the grammar');
      } finally {
        sequence.session.free();
      }
    });
  }
});
