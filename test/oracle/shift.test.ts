// Context shift against llama.cpp: evaluate a prompt, evict a span from the
// middle (llama.cpp: eraseContextTokenRanges, which shifts the later
// positions and re-rotates their keys), evaluate more tokens; the top-10
// logits after each must agree with llama.cpp's. Fixture and script:
// test/fixtures/shift.json, scripts/oracle/make-shift-fixtures.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Engine } from '../../src/node/index.js';
import { writeRandomLlama, type LlamaSpec } from '../gguf/random-model.js';

interface ShiftCase {
  name: string;
  spec: LlamaSpec;
  sha256: string;
  contextSize: number;
  prompt: number[];
  erase: { start: number; end: number };
  continuation: number[];
  steps: [number, number][][];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/shift.json'), 'utf8')) as {
  generator: string;
  cases: ShiftCase[];
};

// As in generation.test.ts: f16 rounding points shared, summation order not.
const TOLERANCE: Record<string, number> = { f32: 5e-3, q8_0: 0.1 };

describe(`context shift against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
  });
  after(() => engine?.dispose());

  for (const c of fixture.cases) {
    test(`${c.name}: logits after the shift agree with llama.cpp's at every step`, async (t) => {
      const bytes = writeRandomLlama(c.spec);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), c.sha256);
      const model = engine.loadModel(bytes);
      const s = model.createSession({ nCtx: c.contextSize });
      try {
        await s.eval(c.prompt);
        s.erase(c.erase.start, c.erase.end);
        assert.equal(s.nPast, c.prompt.length - (c.erase.end - c.erase.start));
        let worst = 0;
        for (const [i, token] of c.continuation.entries()) {
          await s.eval([token]);
          const logits = s.logits();
          let max = -Infinity;
          for (const l of logits) max = Math.max(max, l);
          assert.equal(logits.indexOf(max), c.steps[i][0][0], `step ${i}: the top token differs`);
          for (const [id, rel] of c.steps[i]) worst = Math.max(worst, Math.abs(logits[id] - max - rel));
        }
        t.diagnostic(`largest logit difference ${worst.toExponential(2)}`);
        assert.ok(worst <= TOLERANCE[c.spec.weightType], `largest difference ${worst}`);
      } finally {
        s.free();
        model.free();
      }
    });
  }
});
