// Hob's embeddings and rerank scores against llama.cpp's on a tiny random
// model of every embedding architecture (bert, nomic-bert, Qwen3-Embedding,
// EmbeddingGemma, a bge-style reranker, Qwen3-Reranker), and WordPiece ids
// against llama.cpp's on the tokenizer corpus.
// scripts/oracle/make-embedding-fixtures.ts regenerates the fixture; the
// models are rebuilt here from their recorded spec and must hash to the
// recorded sha256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PoolingType } from '../../src/core/c-api.js';
import { embedTexts, embedTokens, rerankIds, rerankScores } from '../../src/runtime/embeddings.js';
import { ContextFullError, Engine, HobError, Model, Session, UnsupportedModelError } from '../../src/node/index.js';
import { testdataDir } from '../data.js';
import { writeEmbedModel, type EmbedSpec } from '../gguf/embed-models.js';
import { embedTokenizer } from '../gguf/embed-vocabs.js';

// Cosine distance to llama.cpp's vector: F32 weights differ from it only by
// summation order and where f16 rounds (the cache, GELU's table).
const COSINE_TOLERANCE = 1e-4;
// Rerank scores: a BERT reranker's raw logit, Qwen3-Reranker's probability.
const SCORE_TOLERANCE = 1e-3;

interface FixtureModel {
  name: string;
  source: { kind: 'writer'; spec: EmbedSpec; sha256: string };
  contextSize: number;
  embeddings?: { input: string; ids: number[]; embedding: number[] }[];
  rerank?: { query: string; document: string; ids: number[]; score: number }[];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/embeddings.json'), 'utf8')) as {
  generator: string;
  models: FixtureModel[];
  wordpiece: { vocab: string; cases: { i: number; special: boolean; ids: number[] }[] };
};

function modelBytes(m: FixtureModel): Uint8Array {
  const bytes = writeEmbedModel(m.source.spec, embedTokenizer(m.source.spec.vocab));
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.equal(sha, m.source.sha256, `${m.name}: the writer no longer produces the fixture's model`);
  return bytes;
}

function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return 1 - ab / Math.sqrt(aa * bb);
}

describe(`embeddings and rerank scores against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
  });
  after(() => engine?.dispose());

  test('the fixture covers every embedding architecture and both rerankers', () => {
    assert.deepEqual(fixture.models.map((m) => m.name).sort(), [
      'bert', 'bge-reranker', 'gemma-embedding', 'nomic-bert', 'qwen3-embedding', 'qwen3-reranker',
    ]);
  });

  for (const fm of fixture.models) {
    describe(fm.name, () => {
      let model: Model;
      let session: Session;
      before(() => {
        model = Model.load(engine, modelBytes(fm));
        session = Session.create(model, { nCtx: fm.contextSize });
      });
      after(() => {
        session?.free();
        model?.free();
      });

      if (fm.embeddings) {
        const cases = fm.embeddings;
        test(`${cases.length} inputs: ids equal llama.cpp's, each pooled vector within ${COSINE_TOLERANCE} cosine`, async (t) => {
          let worst = 0;
          for (const c of cases) {
            assert.deepEqual(model.tokenize(c.input, { addSpecial: true, parseSpecial: true }), c.ids, `ids of ${JSON.stringify(c.input)}`);
            const { vectors } = await embedTexts(model, session, [c.input], { normalize: false });
            const d = cosineDistance(vectors[0], c.embedding);
            worst = Math.max(worst, d);
            assert.ok(d <= COSINE_TOLERANCE, `${JSON.stringify(c.input.slice(0, 30))}: cosine distance ${d}`);
          }
          t.diagnostic(`${fm.name}: largest cosine distance ${worst.toExponential(2)}`);
        });

        test('all inputs in one call (packed batches) give the vectors each gives alone', async () => {
          const all = await embedTexts(model, session, cases.map((c) => c.input));
          assert.equal(all.vectors.length, cases.length);
          assert.equal(all.promptTokens, cases.reduce((a, c) => a + c.ids.length, 0));
          for (const [i, c] of cases.entries()) {
            const v = all.vectors[i];
            let norm = 0;
            for (const x of v) norm += x * x;
            assert.ok(Math.abs(Math.sqrt(norm) - 1) < 1e-5, `input ${i} is L2-normalized`);
            assert.ok(cosineDistance(v, c.embedding) <= COSINE_TOLERANCE, `input ${i} in a batch`);
          }
        });

        test('dimensions keeps the leading values, normalized again (Matryoshka)', async () => {
          const E = model.info.nEmbd;
          const full = await embedTexts(model, session, [cases[0].input], { normalize: false });
          const cut = await embedTexts(model, session, [cases[0].input], { dimensions: 16 });
          assert.equal(cut.vectors[0].length, 16);
          assert.ok(cosineDistance(cut.vectors[0], full.vectors[0].slice(0, 16)) < 1e-6);
          let norm = 0;
          for (const x of cut.vectors[0]) norm += x * x;
          assert.ok(Math.abs(norm - 1) < 1e-5);
          await assert.rejects(embedTexts(model, session, ['x'], { dimensions: E + 1 }), (e: HobError) => e.code === 'argument/invalid');
        });

        test('per-token vectors (pooling none): one per token, and the pooled vector is their pooling', async () => {
          const c = cases[0];
          const r = await embedTokens(model, session, [c.input]);
          assert.deepEqual(r.tokens[0], c.ids);
          assert.equal(r.vectors[0].length, c.ids.length);
          const pooling = model.hparams.pooling;
          const E = model.info.nEmbd;
          if (pooling === 'cls' || pooling === 'last') {
            const pick = r.vectors[0][pooling === 'cls' ? 0 : c.ids.length - 1];
            assert.ok(cosineDistance(pick, c.embedding) <= COSINE_TOLERANCE);
          } else if (pooling === 'mean' && !fm.source.spec.denseWidth) {
            const mean = new Float64Array(E);
            for (const v of r.vectors[0]) for (let i = 0; i < E; i++) mean[i] += v[i] / c.ids.length;
            assert.ok(cosineDistance(mean, c.embedding) <= COSINE_TOLERANCE);
          }
        });

        test('an input longer than the context is a ContextFullError naming it; an empty list is refused', async () => {
          const long = 'word '.repeat(fm.contextSize * 2);
          await assert.rejects(embedTexts(model, session, ['short', long]), (e: HobError) => {
            assert.ok(e instanceof ContextFullError);
            assert.equal(e.details?.index, 1);
            assert.match(e.message, /input 1 has \d+ tokens/);
            return true;
          });
          await assert.rejects(embedTexts(model, session, []), (e: HobError) => e.code === 'argument/invalid');
        });

        test('rerank is refused: the model has no classifier head', async () => {
          await assert.rejects(rerankScores(model, session, 'q', ['d']), (e: HobError) => {
            assert.ok(e instanceof UnsupportedModelError);
            assert.equal(e.code, 'model/unsupported-task');
            return true;
          });
        });
      }

      if (fm.rerank) {
        const cases = fm.rerank;
        test(`${cases.length} documents: prompt ids equal llama.cpp's, scores within ${SCORE_TOLERANCE}`, async (t) => {
          for (const c of cases) assert.deepEqual(rerankIds(model, c.query, c.document), c.ids, `ids of ${JSON.stringify(c.document)}`);
          const r = await rerankScores(model, session, cases[0].query, cases.map((c) => c.document));
          let worst = 0;
          for (const [i, c] of cases.entries()) {
            const d = Math.abs(r.scores[i] - c.score);
            worst = Math.max(worst, d);
            assert.ok(d <= SCORE_TOLERANCE, `document ${i}: ${r.scores[i]} vs llama.cpp ${c.score}`);
          }
          assert.equal(r.promptTokens, cases.reduce((a, c) => a + c.ids.length, 0));
          t.diagnostic(`${fm.name}: largest score difference ${worst.toExponential(2)}`);
        });

        test('embeddings of a reranker are refused (its output is a score)', async () => {
          await assert.rejects(embedTexts(model, session, ['x']), (e: HobError) => e.code === 'model/unsupported-task');
        });
      }

      test('a session of an embedding model refuses next-token evaluation, or a causal one shares the cache correctly', async () => {
        if (model.hparams.hasHead) return;
        await assert.rejects(session.eval([1, 2]), (e: HobError) => e instanceof HobError);
        // The session still embeds afterwards.
        const out = await session.embed([1, 2, 3], [3], PoolingType.NONE);
        assert.equal(out.length, 3 * model.info.nEmbd);
      });
    });
  }

  test(`WordPiece ids equal llama.cpp's on the tokenizer corpus (${fixture.wordpiece.cases.length} cases)`, () => {
    const corpus: string[] = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/tokenizer-corpus.json'), 'utf8')).strings;
    const bytes = readFileSync(join(testdataDir, 'vocab', fixture.wordpiece.vocab));
    const vocab = Model.loadVocab(engine, bytes, bytes.length);
    try {
      for (const c of fixture.wordpiece.cases) {
        assert.deepEqual(vocab.tokenize(corpus[c.i], { addSpecial: false, parseSpecial: c.special }), c.ids, `string ${c.i} (special ${c.special})`);
      }
    } finally {
      vocab.free();
    }
  });
});
