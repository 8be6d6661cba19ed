// Gemma 3's projector against llama.cpp (test/fixtures/vision-gemma3-*.json):
// a random Gemma-3-shaped pair of files (a tiny gemma3 text model with
// sliding windows, a SigLIP ViT pooled 2 x 2 into 16 rows) and three images
// (portrait, fitted and padded; tiny, upscaled; large, downscaled): every
// embedding row, where the markers go, and the logits and greedy tokens
// after the image when the text model reads its rows attending both ways,
// as llama.cpp does; read causally they are not llama.cpp's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { gemma3Layout, Projector } from '../../src/core/vision.js';
import { Engine, type HobError, Model, Session } from '../../src/node/index.js';
import { buildVisionProjector, makeGemma3TextSpec, makeGemma3VisionSpec, testImage } from '../gguf/vision-models.js';
import { closeVisionRuntime, openVisionRuntime, visionFiles } from './vision-setup.js';
import { checkBothWaysAfterImage, checkFixtureSources, checkMarkerLayout, compareRows, gemma3Fixtures as fixtures, referenceRows } from './vision-fixtures.js';

// As for idefics3 (vision.test.ts): f32 on both sides, other summation orders.
const ABS = 2e-4;
const REL = 2e-4;
// The image rows move the first logits by 0.3 to 0.5 when read causally:
// the tolerance tells the attention mask apart from rounding.
const LOGIT_TOL = 2e-3;

describe('vision: gemma3 against llama.cpp', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;
  const { textBytes, projectorBytes: projBytes } = visionFiles('gemma3');

  before(async () => ({ engine, model, projector } = await openVisionRuntime('gemma3')));
  after(() => closeVisionRuntime({ engine, model, projector }));

  test('the fixtures were made from these files and images', () => {
    checkFixtureSources(fixtures, makeGemma3TextSpec(), makeGemma3VisionSpec(), textBytes, projBytes);
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

  test('the layout puts the markers where mtmd does', () => {
    for (const f of fixtures) checkMarkerLayout(model, projector, f);
  });

  for (const f of fixtures) {
    test(`${f.image.name} ${f.image.width}x${f.image.height}: every embedding row matches`, (t) => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const enc = projector.encode(img.rgb, img.width, img.height);
      const ref = referenceRows(f);
      assert.equal(enc.nRows, 16);
      assert.equal(enc.embeddings.length, ref.length);
      const { maxAbs, worst } = compareRows(enc.embeddings, ref, ABS, REL);
      t.diagnostic(`max |diff| ${maxAbs.toExponential(2)}`);
      assert.ok(worst <= 1, `max |diff| ${maxAbs} is over the tolerance`);
    });

    test(`${f.image.name}: read both ways, the logits and greedy tokens after the image are llama.cpp's; causally they are not`, async () => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const rows = projector.encode(img.rgb, img.width, img.height).embeddings;
      await checkBothWaysAfterImage(model, f, rows, LOGIT_TOL);
    });
  }

  test('image rows attend both ways when asked: the logits after them change', async () => {
    const img = testImage(40, 96, 1);
    const rows = projector.encode(img.rgb, img.width, img.height).embeddings;
    const logitsAfter = async (bidirectional: boolean): Promise<Float32Array> => {
      const s = Session.create(model, { nCtx: 64 });
      try {
        await s.eval([1, 5, 6]);
        await s.evalEmbeddings(rows, { bidirectional });
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
      await assert.rejects(() => s.evalEmbeddings(new Float32Array(257 * E), { bidirectional: true }), (e: HobError) =>
        e.code === 'argument/invalid' && /257 rows/.test(e.message));
      assert.equal(s.nPast, 3);
      await s.evalEmbeddings(new Float32Array(256 * E).fill(0.01), { bidirectional: true });
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
