// Gemma 3's projector: a random Gemma-3-shaped pair of files (a tiny gemma3
// text model with sliding windows, a SigLIP ViT pooled 2 x 2 into 16 rows):
// its type, layout and markers, rows read attending both ways, and its typed
// refusals.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { gemma3Layout, Projector } from '../../src/core/vision.js';
import { Engine, type HobError, Model, Session } from '../../src/node/index.js';
import {
  buildGemma3TextModel, buildVisionProjector, makeGemma3TextSpec, makeGemma3VisionSpec, testImage,
} from '../gguf/vision-models.js';

describe('vision: gemma3', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;
  const textBytes = buildGemma3TextModel(makeGemma3TextSpec()).toBytes();
  const projBytes = buildVisionProjector(makeGemma3VisionSpec()).toBytes();

  before(async () => {
    engine = await Engine.create({ threads: 2 });
    model = Model.load(engine, textBytes);
    projector = Projector.load(engine, projBytes);
  });
  after(() => {
    projector?.free();
    model?.free();
    engine?.dispose();
  });

  test('the projector reads its type, pool and width from the file; one image of 16 rows, read both ways', () => {
    assert.equal(projector.projectorType, 'gemma3');
    assert.equal(projector.bidirectional, true);
    assert.equal(projector.nEmbd, model.info.nEmbd);
    assert.equal(projector.tokensPerImage, (112 / 14 / 2) ** 2);
    for (const [w, h] of [[40, 96], [5, 3], [4000, 10]]) {
      assert.deepEqual(projector.layout(w, h), { gridX: 0, gridY: 0, nRows: 16, parts: gemma3Layout(), bidirectional: true });
    }
  });

  test('image rows attend both ways when asked: the logits after them change', async () => {
    const img = testImage(40, 96, 1);
    const rows = projector.encode(img.rgb, img.width, img.height).embeddings;
    const logitsAfter = async (bidirectional: boolean): Promise<Float32Array> => {
      const s = Session.create(model, { nCtx: 64 });
      try {
        await s.eval([1, 5, 6]);
        s.evalEmbeddings(rows, { bidirectional });
        return s.logits();
      } finally {
        s.free();
      }
    };
    const causal = await logitsAfter(false);
    const both = await logitsAfter(true);
    // The last row sees every row either way; the earlier rows it reads
    // through saw later ones only when attending both ways.
    assert.ok(causal.some((v, i) => Math.abs(v - both[i]) > 1e-2));
  });

  test('rows read both ways must fit one pass; the cache is unchanged when they do not', async () => {
    const s = Session.create(model, { nCtx: 512 });
    try {
      await s.eval([1, 5, 6]);
      const E = model.info.nEmbd;
      assert.throws(() => s.evalEmbeddings(new Float32Array(257 * E), { bidirectional: true }), (e: HobError) =>
        e.code === 'argument/invalid' && /257 rows/.test(e.message));
      assert.equal(s.nPast, 3);
      s.evalEmbeddings(new Float32Array(256 * E).fill(0.01), { bidirectional: true });
      assert.equal(s.nPast, 259);
      assert.ok(s.logits().every(Number.isFinite));
    } finally {
      s.free();
    }
  });

  test('a damaged gemma3 projector is a typed error naming what is wrong', () => {
    const load = (bytes: Uint8Array): HobError => {
      try {
        Projector.load(engine, bytes).free();
      } catch (e) {
        return e as HobError;
      }
      throw new Error('loaded');
    };
    const damaged = (d: Parameters<typeof buildVisionProjector>[1]): Uint8Array => buildVisionProjector(makeGemma3VisionSpec(), d).toBytes();
    const cases: [string, Uint8Array, string, RegExp][] = [
      ['no projection', damaged({ omitTensors: ['mm.input_projection.weight'] }), 'model/invalid', /mm\.input_projection\.weight/],
      ['no soft norm', damaged({ omitTensors: ['mm.soft_emb_norm.weight'] }), 'model/invalid', /mm\.soft_emb_norm\.weight/],
      ['pool not dividing the grid', damaged({ kv: { 'clip.vision.projector.scale_factor': 3 } }), 'model/invalid', /fit together/],
    ];
    for (const [name, bytes, code, message] of cases) {
      const e = load(bytes);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.match(e.message, message, name);
    }
    // Without the key, the pool is Gemma 3's 4 x 4: the 8 x 8 grid gives 4 rows.
    const p = Projector.load(engine, damaged({ kv: { 'clip.vision.projector.scale_factor': undefined } }));
    try {
      assert.equal(p.tokensPerImage, 4);
    } finally {
      p.free();
    }
  });
});
