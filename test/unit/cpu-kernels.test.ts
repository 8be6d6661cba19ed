// The wasm engine's batched (prefill) kernels against its one-token path:
// a prompt evaluated at once runs the tiled matmuls (several tokens per
// decoded weight block), token by token the one-row dots. Both sum the same
// integer lanes in the same float order, so the logits must agree bit for
// bit, for every weight type with a tile kernel and for one without.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Engine } from '../../src/node/index.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

// 11 tokens: two tiles of four and a remainder of three.
const PROMPT = [1, 17, 230, 5, 99, 411, 3, 3, 250, 42, 7];

describe('tiled prefill kernels', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
  });
  after(() => engine?.dispose());

  for (const type of ['q4_0', 'q5_0', 'q8_0', 'iq4_nl', 'q4_1'] as const) {
    test(`${type}: a prompt at once gives exactly the logits of feeding it token by token`, async () => {
      const model = engine.loadModel(writeRandomLlama(makeSpec('tiny', { weightType: type, seed: 3 })));
      try {
        const batch = model.createSession({ nCtx: 64 });
        await batch.eval(PROMPT);
        const atOnce = batch.logits();
        const single = model.createSession({ nCtx: 64 });
        for (const t of PROMPT) await single.eval([t]);
        const oneByOne = single.logits();
        let differing = 0;
        for (let i = 0; i < atOnce.length; i++) if (atOnce[i] !== oneByOne[i]) differing++;
        assert.equal(differing, 0, `${differing} of ${atOnce.length} logits differ`);
        // Not trivially equal: the logits depend on the prompt.
        assert.ok(atOnce.some((v, i) => i > 0 && v !== atOnce[0]));
        batch.free();
        single.free();
      } finally {
        model.free();
      }
    });
  }
});
