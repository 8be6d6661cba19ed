// Image embedding rows in a session, against llama.cpp
// (test/fixtures/vision-*.json): where they sit among the prompt's tokens
// (the idefics3 markers), and the greedy tokens after them, evaluating the
// rows Hob's own encoder makes where llama.cpp evaluated its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { idefics3Layout, Projector } from '../../src/core/vision.js';
import { Engine, type HobError, Model, Session } from '../../src/node/index.js';
import { testImage } from '../gguf/vision-models.js';
import { fixtures, greedyTokens } from './vision-fixtures.js';
import { closeVisionRuntime, openVisionRuntime } from './vision-setup.js';

describe('vision: image rows in a session, against llama.cpp', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;

  before(async () => ({ engine, model, projector } = await openVisionRuntime()));
  after(() => closeVisionRuntime({ engine, model, projector }));

  test('idefics3Layout puts the markers where mtmd does', () => {
    // Pieces are looked up as mtmd does: the first token whose text is it.
    const byPiece = new Map<string, number>();
    for (let id = model.info.nVocab - 1; id >= 0; id--) byPiece.set(model.detokenize([id], true), id);
    for (const f of fixtures) {
      const { gridX, gridY } = projector.layout(f.image.width, f.image.height);
      const [before, afterText] = f.prompt.split('<__media__>');
      const expected: (number | string)[] = [];
      for (const c of f.chunks) {
        if (c.type === 'text') expected.push(...c.tokens);
        else expected.push(`image ${expected.filter((e) => typeof e === 'string').length}`);
      }
      const got: (number | string)[] = [...model.tokenize(before, { addSpecial: true, parseSpecial: true })];
      for (const p of idefics3Layout(gridX, gridY)) {
        if (p.kind === 'text') got.push(...model.tokenize(p.text, { addSpecial: false, parseSpecial: true }));
        else if (p.kind === 'piece') got.push(byPiece.get(p.piece) ?? -1);
        else got.push(`image ${p.index}`);
      }
      got.push(...model.tokenize(afterText, { addSpecial: false, parseSpecial: true }));
      assert.deepEqual(got, expected, f.image.name);
    }
  });

  for (const f of fixtures) {
    test(`${f.image.name}: the logits and greedy tokens after the image are llama.cpp's`, async () => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const enc = projector.encode(img.rgb, img.width, img.height);
      const rowsPer = projector.tokensPerImage * projector.nEmbd;
      const s = Session.create(model, { nCtx: 512 });
      try {
        let image = 0;
        for (const c of f.chunks) {
          if (c.type === 'text') await s.eval(c.tokens);
          else await s.evalEmbeddings(enc.embeddings.subarray(image * rowsPer, ++image * rowsPer));
        }
        assert.equal(s.nPast, f.chunks.reduce((n, c) => n + (c.type === 'text' ? c.tokens.length : c.nTokens), 0));
        // The image rows move these logits by up to 0.2 from one image to
        // another: the tolerance tells a wrong row or position from rounding.
        const first = s.logits();
        for (const [id, logit] of f.top) assert.ok(Math.abs(first[id] - logit) < 2e-3, `logit of ${id}: ${first[id]} vs ${logit}`);
        assert.deepEqual(await greedyTokens(s, model, f.greedy.length), f.greedy);
      } finally {
        s.free();
      }
    });
  }

  test('text models refuse nothing but wrong-width rows', async () => {
    const s = Session.create(model, { nCtx: 64 });
    try {
      await assert.rejects(() => s.evalEmbeddings(new Float32Array(model.info.nEmbd + 1)), (e: HobError) => e.code === 'argument/invalid');
      await assert.rejects(() => s.evalEmbeddings(new Float32Array(model.info.nEmbd * 65)), (e: HobError) => e.code === 'context/overflow');
      assert.equal(s.nPast, 0);
    } finally {
      s.free();
    }
  });
});
