// Hob against llama.cpp on the same GGUF files: greedy continuations must be
// identical token for token, and the top-10 next-token logits (relative to
// the largest) must agree within a stated tolerance at every step. The
// fixtures come from node-llama-cpp; scripts/oracle/make-fixtures.ts
// regenerates them. Writer models are rebuilt here from their recorded spec
// and must hash to the recorded sha256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Engine, Model, SamplerChain, Session } from '../../src/node/index.js';
import { writeRandomLlama, type LlamaSpec } from '../gguf/random-model.js';
import { testdataDir as testdata } from '../data.js';


// Tolerance on each top-10 logit relative to the largest, by weight type.
// Hob rounds at the same points as llama.cpp (f16 KV cache, f16 query and
// probabilities, activations converted to the weights' dot-product type:
// Q8_0, Q8_1 or Q8_K) but sums in another order; where activations are
// rounded to 8 bits (every quant type) or 8-bit mantissas (BF16), one
// rounding that lands the other way moves a later logit by up to a few
// hundredths. A wrong op, a misread bit of a block layout or activations
// converted to the wrong type move logits by far more, and the greedy tokens
// must match exactly in every case.
const LOGIT_TOLERANCE: Record<string, number> = {
  shared: 1e-4, f32: 1e-3, f16: 1e-2, bf16: 5e-2,
  q8_0: 0.1, q4_0: 0.1, q4_1: 0.1, q5_0: 0.1, q5_1: 0.1, iq4_nl: 0.1,
  q2_k: 0.1, q3_k: 0.1, q4_k: 0.1, q5_k: 0.1, q6_k: 0.1,
};

interface Step {
  top: [number, number][];
  gap?: number;
}
interface Run {
  prompt: string;
  promptIds: number[];
  greedy: number[];
  steps: Step[];
}
interface FixtureModel {
  name: string;
  source: { kind: 'shared'; file: string } | { kind: 'writer'; spec: LlamaSpec; sha256: string };
  contextSize: number;
  runs: Run[];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/generation.json'), 'utf8')) as {
  generator: string;
  models: FixtureModel[];
};

function modelBytes(m: FixtureModel): Uint8Array {
  if (m.source.kind === 'shared') return readFileSync(join(testdata, m.source.file));
  const bytes = writeRandomLlama(m.source.spec);
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.equal(sha, m.source.sha256, `${m.name}: the writer no longer produces the fixture's model`);
  return bytes;
}

describe(`greedy generation against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
  });
  after(() => engine?.dispose());

  for (const fm of fixture.models) {
    describe(fm.name, () => {
      let model: Model;
      before(() => {
        model = Model.load(engine, modelBytes(fm));
      });
      after(() => model?.free());

      const tolerance = LOGIT_TOLERANCE[fm.source.kind === 'shared' ? 'shared' : fm.source.spec.weightType];
      assert.ok(tolerance !== undefined, `${fm.name}: no logit tolerance for its weight type`);
      for (const [r, run] of fm.runs.entries()) {
        test(`prompt ${r}: tokens equal llama.cpp's, 128 greedy tokens are identical, top-10 logits agree`, async (t) => {
          assert.deepEqual(model.tokenize(run.prompt), run.promptIds);
          const session = Session.create(model, { nCtx: fm.contextSize });
          const sampler = new SamplerChain({ temperature: 0 }, { nVocab: model.info.nVocab, nCtx: fm.contextSize });
          try {
            await session.eval(run.promptIds);
            const ids: number[] = [];
            let worst = 0;
            for (let i = 0; i < run.greedy.length; i++) {
              const logits = session.logits();
              let max = -Infinity;
              for (const l of logits) max = Math.max(max, l);
              for (const [id, rel] of run.steps[i].top) {
                const err = Math.abs(logits[id] - max - rel);
                worst = Math.max(worst, err);
                assert.ok(err <= tolerance, `step ${i}: token ${id} relative logit ${logits[id] - max} vs llama.cpp ${rel}`);
              }
              const token = sampler.sampleLogits(logits);
              ids.push(token);
              if (i + 1 < run.greedy.length) await session.eval([token]);
            }
            assert.deepEqual(ids, run.greedy);
            t.diagnostic(`${fm.name} prompt ${r}: largest logit difference ${worst.toExponential(2)} (tolerance ${tolerance})`);
          } finally {
            session.free();
          }
        });
      }
    });
  }
});
