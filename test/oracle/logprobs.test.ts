// Log-probabilities against llama.cpp: at every step of a sampled generation
// (llama.cpp's own draws, replayed here), the drawn token's log-probability
// and the 20 most likely tokens with theirs must agree with what
// node-llama-cpp reports. scripts/oracle/make-logprob-fixtures.ts
// regenerates the fixture; its models are rebuilt here from their spec and
// must hash to the recorded sha256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Engine, Model, Session } from '../../src/node/index.js';
import { tokenLogprob } from '../../src/sampling/logprobs.js';
import { writeArchModel, type ArchSpec } from '../gguf/arch-models.js';
import { writeRandomLlama, type LlamaSpec } from '../gguf/random-model.js';

// F32 models differ from llama.cpp only by summation order, and a
// log-softmax moves each value by at most twice the largest logit
// difference. Measured: 1.0e-5 on the llama model; 1.1e-4 on qwen3, whose
// q/k norms magnify the order's rounding (its logits agree to 1e-3 in
// arch-generation.test.ts). A wrong normaliser or a logit taken after a
// sampler changed it is off by far more. The fixture rounds to 1e-7.
const TOLERANCE: Record<string, number> = { 'tiny-f32': 1e-4, 'qwen3-f32': 2e-4 };

interface Step {
  token: number;
  logprob: number;
  top: [number, number][];
}
interface FixtureModel {
  name: string;
  kind: 'llama' | 'arch';
  spec: LlamaSpec | ArchSpec;
  sha256: string;
  runs: { prompt: string; promptIds: number[]; steps: Step[] }[];
}
const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/logprobs.json'), 'utf8')) as {
  generator: string;
  top: number;
  models: FixtureModel[];
};

function modelBytes(m: FixtureModel): Uint8Array {
  const bytes = m.kind === 'llama' ? writeRandomLlama(m.spec as LlamaSpec) : writeArchModel(m.spec as ArchSpec);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256, `${m.name}: the writer no longer produces the fixture's model`);
  return bytes;
}

describe(`log-probabilities against llama.cpp (${fixture.generator})`, () => {
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

      const tolerance = TOLERANCE[fm.name];
      assert.ok(tolerance !== undefined, `${fm.name}: no tolerance`);
      for (const [r, run] of fm.runs.entries()) {
        test(`prompt ${r}: the drawn token's log-probability and the top ${fixture.top} agree at each of ${run.steps.length} steps`, async (t) => {
          assert.deepEqual(model.tokenize(run.prompt, { addSpecial: true }), run.promptIds);
          const session = Session.create(model, { nCtx: 256 });
          try {
            await session.eval(run.promptIds);
            let worst = 0;
            for (const [i, step] of run.steps.entries()) {
              const got = tokenLogprob(session.logits(), step.token, fixture.top, (id) => model.tokenBytes(id));
              worst = Math.max(worst, Math.abs(got.logprob - step.logprob));
              assert.ok(Math.abs(got.logprob - step.logprob) <= tolerance, `step ${i}: token ${step.token} ${got.logprob} vs llama.cpp ${step.logprob}`);
              assert.equal(got.top_logprobs.length, fixture.top);
              for (const [k, [id, lp]] of step.top.entries()) {
                const mine = got.top_logprobs[k];
                worst = Math.max(worst, Math.abs(mine.logprob - lp));
                assert.ok(Math.abs(mine.logprob - lp) <= tolerance, `step ${i} rank ${k}: ${mine.logprob} vs llama.cpp ${lp}`);
                // The same token at each rank, unless two are tied within the tolerance.
                const tied = step.top.some(([other, olp]) => other !== id && Math.abs(olp - lp) <= tolerance);
                if (!tied) assert.equal(mine.id, id, `step ${i} rank ${k}`);
                assert.deepEqual(mine.bytes, [...model.tokenBytes(mine.id)]);
              }
              assert.equal(got.id, step.token);
              assert.deepEqual(got.bytes, [...model.tokenBytes(step.token)]);
              await session.eval([step.token]);
            }
            t.diagnostic(`${fm.name} prompt ${r}: largest log-probability difference ${worst.toExponential(2)} (tolerance ${tolerance})`);
          } finally {
            session.free();
          }
        });
      }
    });
  }
});
