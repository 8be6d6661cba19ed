// Gemma 4's projector (gemma4v) against llama.cpp (test/fixtures/vision-gemma4-*.json):
// a random Gemma-4-shaped pair of files (a tiny dense gemma4 text model with
// sliding windows, a ViT of RMS-norm blocks with 2-D RoPE, a gated quick-GELU
// MLP and clamped linears, pooled 3 x 3) and three images, each resized to
// its own multiple of 24 pixels a side (portrait, scaled up to 144 x 312;
// tiny, scaled up to 264 x 168; large, fitted into 264 x 264): every
// embedding row, where the markers go, and the logits and greedy tokens
// after the image when the text model reads its rows attending both ways,
// as llama.cpp does for this width; read causally they are not llama.cpp's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { imageRows as layoutRows } from '../../src/core/batch-rows.js';
import { gemma4Layout, Projector } from '../../src/core/vision.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { openVisionEncoder } from '../../src/runtime/vision-encoder.js';
import { Engine, type HobError, Model } from '../../src/node/index.js';
import { buildVisionProjector, GEMMA4V_CLAMPS, makeGemma4TextSpec, makeGemma4VisionSpec, testImage } from '../gguf/vision-models.js';
import { closeVisionRuntime, openVisionRuntime, visionFiles } from './vision-setup.js';
import { checkBothWaysAfterImage, checkFixtureSources, checkMarkerLayout, compareRows, type Fixture, gemma4Fixtures as fixtures, referenceRows } from './vision-fixtures.js';

// f32 on both sides, other summation orders; the quick GELU goes through
// f16 on both sides, so a rounding step can move a value by one f16 ulp.
const ABS = 2e-4;
const REL = 2e-4;
const LOGIT_TOL = 2e-3;

describe('vision: gemma4v against llama.cpp', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;
  const { textBytes, projectorBytes: projBytes } = visionFiles('gemma4v');

  before(async () => ({ engine, model, projector } = await openVisionRuntime('gemma4v')));
  after(() => closeVisionRuntime({ engine, model, projector }));

  const imageRows = (f: Fixture): number => f.chunks.reduce((n, c) => n + (c.type === 'image' ? c.nTokens : 0), 0);

  test('the fixtures were made from these files and images', () => {
    checkFixtureSources(fixtures, makeGemma4TextSpec(), makeGemma4VisionSpec(), textBytes, projBytes);
  });

  test('the projector reads its type and width from the file; one image whose rows follow its size, read both ways', () => {
    assert.equal(projector.projectorType, 'gemma4v');
    assert.equal(projector.bidirectional, true);
    assert.equal(projector.nEmbd, model.info.nEmbd);
    assert.equal(projector.tokensPerImage, 0);
    for (const f of fixtures) {
      assert.deepEqual(projector.layout(f.image.width, f.image.height), {
        gridX: 0, gridY: 0, nRows: imageRows(f), parts: gemma4Layout(), bidirectional: true,
      }, f.image.name);
    }
    // 300 x 300 rounds to 312 (13 rows of 24 pixels a side).
    assert.equal(projector.layout(300, 300).nRows, 13 * 13);
    // At least 70 rows, however small the image.
    assert.ok(projector.layout(1, 1).nRows >= 70);
  });

  test('an image whose patch grid outruns the position tables is a typed error', () => {
    // 4000 x 10 becomes 4008 x 24 pixels: 501 patches across, over the 48 the tables hold.
    assert.throws(() => projector.layout(4000, 10), (e: HobError) => e.code === 'argument/invalid' && /501x3 patch grid/.test(e.message));
    const img = testImage(4000, 10, 5);
    assert.throws(() => projector.encode(img.rgb, img.width, img.height), (e: HobError) => e.code === 'argument/invalid');
  });

  test('the layout puts the markers where mtmd does', () => {
    for (const f of fixtures) checkMarkerLayout(model, projector, f);
  });

  for (const f of fixtures) {
    test(`${f.image.name} ${f.image.width}x${f.image.height}: every embedding row matches`, (t) => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const enc = projector.encode(img.rgb, img.width, img.height);
      const ref = referenceRows(f);
      assert.equal(enc.nRows, imageRows(f));
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

  test('the clamps of the linears bite: without them the rows are not llama.cpp\'s', () => {
    const scalars = Object.entries(GEMMA4V_CLAMPS).flatMap(([name, c]) => [
      ...(c.input ? [`${name}.input_min`, `${name}.input_max`] : []),
      ...(c.output ? [`${name}.output_min`, `${name}.output_max`] : []),
    ]);
    assert.ok(scalars.length >= 8);
    const p = Projector.load(engine, buildVisionProjector(makeGemma4VisionSpec(), { omitTensors: scalars }).toBytes());
    try {
      const f = fixtures[0];
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const { maxAbs } = compareRows(p.encode(img.rgb, img.width, img.height).embeddings, referenceRows(f), ABS, REL);
      assert.ok(maxAbs > 1e-2, `rows without the clamps are within ${maxAbs} of llama.cpp's: the clamps are not exercised`);
    } finally {
      p.free();
    }
  });

  test('the stepwise encoder is for fixed-size projectors: a typed error, and the GPU leaves the blocks on the CPU saying why', async () => {
    const img = testImage(40, 96, 1);
    assert.throws(() => projector.preprocess(img.rgb, 40, 96), (e: HobError) => e.code === 'argument/invalid' && /whole images/.test(e.message));
    await assert.rejects(() => projector.encodeWith(img.rgb, 40, 96, async (x) => x), (e: HobError) => e.code === 'argument/invalid');
    // No GPU is touched before the projector type is checked.
    const gpu = {} as GpuContext;
    const enc = await openVisionEncoder(projector, projBytes, gpu);
    try {
      assert.equal(enc.device, 'cpu');
      assert.match(enc.cpuReason ?? '', /gemma4v ViT blocks have no WebGPU kernels/);
      assert.deepEqual(enc.encode(img.rgb, 40, 96).embeddings, projector.encode(img.rgb, 40, 96).embeddings);
    } finally {
      enc.destroy();
    }
    await assert.rejects(() => openVisionEncoder(projector, projBytes, gpu, { device: 'gpu' }), (e: HobError) => e.code === 'gpu/unsupported-type');
  });

  test('a damaged gemma4v projector is a typed error naming what is wrong', () => {
    const load = (bytes: Uint8Array): HobError => {
      try {
        Projector.load(engine, bytes).free();
      } catch (e) {
        return e as HobError;
      }
      throw new Error('loaded');
    };
    const damaged = (d: Parameters<typeof buildVisionProjector>[1], spec = makeGemma4VisionSpec()): Uint8Array => buildVisionProjector(spec, d).toBytes();
    const cases: [string, Uint8Array, string, RegExp][] = [
      ['no projection', damaged({ omitTensors: ['mm.input_projection.weight'] }), 'model/invalid', /mm\.input_projection\.weight/],
      ['no position tables', damaged({ omitTensors: ['v.position_embd.weight'] }), 'model/invalid', /v\.position_embd\.weight/],
      ['no pre-MLP norm', damaged({ omitTensors: ['v.blk.1.ln2.weight'] }), 'model/invalid', /v\.blk\.1\.ln2\.weight/],
      // A width of 36 over 2 heads: heads of 18, which do not split into two rotated halves of pairs.
      ['heads not in quarters', damaged({ kv: { 'clip.vision.embedding_length': 36 } }), 'model/invalid', /do not fit together/],
      // The tensors are 32 wide: a width of 48 in the metadata disagrees with them.
      ['width unlike the tensors', damaged({ kv: { 'clip.vision.embedding_length': 48 } }), 'model/invalid', /v\.patch_embd\.weight has shape/],
      ['a patch size of 0', damaged({ kv: { 'clip.vision.patch_size': 0 } }), 'model/invalid', /patch_size/],
      ['an absurd pool', damaged({ kv: { 'clip.vision.projector.scale_factor': 100000 } }), 'model/invalid', /do not fit together/],
    ];
    for (const [name, bytes, code, message] of cases) {
      const e = load(bytes);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.match(e.message, message, name);
    }
  });

  test('on offloaded blocks, Gemma 4\'s image rows see the whole image in the sliding blocks only', () => {
    // Two causal cells, then three image rows; a window of 8.
    const both = layoutRows({ nSwa: 8, swaSymmetric: false }, 2, 3);
    const g4 = layoutRows({ nSwa: 8, swaSymmetric: false }, 2, 3, true);
    assert.deepEqual([...both.swa], [...g4.swa]);
    assert.deepEqual([...g4.swa], [0, 1, 0, 2, 0, 5, 0, 5, 0, 5]);
    assert.deepEqual([...both.full], [0, 1, 0, 2, 0, 5, 0, 5, 0, 5]);
    assert.deepEqual([...g4.full], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5]);
  });

  test('an unknown projector type is still the typed unsupported error', () => {
    const bytes = buildVisionProjector(makeGemma4VisionSpec({ projectorType: 'gemma4uv' })).toBytes();
    assert.throws(() => Projector.load(engine, bytes).free(),
      (e: HobError) => e.code === 'model/unsupported-architecture' && /gemma4uv/.test(e.message) && /gemma4v/.test(e.message));
  });
});
