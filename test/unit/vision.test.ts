// The vision encoder against llama.cpp (test/fixtures/vision-*.json): a
// random SmolVLM-shaped idefics3 projector and three images (portrait, tiny,
// large), each split into tiles and an overview whose embedding rows must be
// llama.cpp's; and the projector's typed refusals.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { idefics3Layout, Projector } from '../../src/core/vision.js';
import { Engine, HobError, Model } from '../../src/node/index.js';
import { buildVisionProjector, makeVisionSpec, makeVisionTextSpec, testImage } from '../gguf/vision-models.js';
import { checkFixtureSources, fixtures, referenceRows } from './vision-fixtures.js';
import { closeVisionRuntime, openVisionRuntime, visionFiles } from './vision-setup.js';

// Embedding rows are compared as |hob - ref| <= ABS + REL * |ref|: both
// sides compute in f32 but sum in different orders (llama.cpp's matmuls
// run in blocks, its softmax and norms in double in places).
const ABS = 2e-4;
const REL = 2e-4;

describe('vision: idefics3 (SmolVLM) against llama.cpp', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;
  const { textBytes, projectorBytes: projBytes } = visionFiles();

  before(async () => ({ engine, model, projector } = await openVisionRuntime()));
  after(() => closeVisionRuntime({ engine, model, projector }));

  test('the fixtures were made from these files and images', () => {
    checkFixtureSources(fixtures, makeVisionTextSpec(), makeVisionSpec(), textBytes, projBytes);
  });

  test('the projector reads its shape from the file', () => {
    assert.equal(projector.projectorType, 'idefics3');
    assert.equal(projector.bidirectional, false);
    assert.equal(projector.nEmbd, model.info.nEmbd);
    assert.equal(projector.tokensPerImage, (64 / 8 / 2) ** 2);
  });

  for (const f of fixtures) {
    test(`${f.image.name} ${f.image.width}x${f.image.height}: the layout and every embedding row match`, (t) => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const enc = projector.encode(img.rgb, img.width, img.height);
      const images = f.chunks.filter((c) => c.type === 'image');
      assert.equal(images.length, enc.gridX * enc.gridY + 1);
      for (const c of images) assert.equal(c.nTokens, projector.tokensPerImage);
      const { embeddings: _rows, ...layout } = enc;
      assert.deepEqual(projector.layout(img.width, img.height), layout);
      assert.deepEqual(layout.parts, idefics3Layout(enc.gridX, enc.gridY));
      assert.equal(layout.bidirectional, false);
      const ref = referenceRows(f);
      assert.equal(enc.embeddings.length, ref.length);
      let maxAbs = 0;
      let worst = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(enc.embeddings[i] - ref[i]);
        maxAbs = Math.max(maxAbs, d);
        worst = Math.max(worst, d / (ABS + REL * Math.abs(ref[i])));
      }
      t.diagnostic(`grid ${enc.gridX}x${enc.gridY}+overview, ${enc.nRows} rows, max |diff| ${maxAbs.toExponential(2)}`);
      assert.ok(worst <= 1, `max |diff| ${maxAbs} is over the tolerance`);
    });
  }

  test('refuses an unknown projector type and a file that is not a projector, by name', () => {
    const other = buildVisionProjector(makeVisionSpec({ projectorType: 'qwen2vl_merger' })).toBytes();
    assert.throws(() => Projector.load(engine, other), (e: HobError) =>
      e.code === 'model/unsupported-architecture' && /qwen2vl_merger/.test(e.message));
    assert.throws(() => Projector.load(engine, textBytes), (e: HobError) =>
      e.code === 'model/unsupported-architecture' && /'llama'/.test(e.message));
  });

  test('a damaged projector file is a typed error naming what is wrong, never a crash', () => {
    const load = (bytes: Uint8Array): HobError => {
      try {
        Projector.load(engine, bytes).free();
      } catch (e) {
        return e as HobError;
      }
      throw new Error('loaded');
    };
    const damaged = (d: Parameters<typeof buildVisionProjector>[1]): Uint8Array => buildVisionProjector(makeVisionSpec(), d).toBytes();
    const cases: [string, Uint8Array, string, RegExp][] = [
      ['truncated', projBytes.subarray(0, projBytes.length - 100), 'gguf/truncated', /./],
      ['header only', projBytes.subarray(0, 2000), 'gguf/truncated', /./],
      ['no projector', damaged({ omitTensors: ['mm.model.fc.weight'] }), 'model/invalid', /mm\.model\.fc\.weight/],
      ['no block', damaged({ omitTensors: ['v.blk.1.ffn_down.bias'] }), 'model/invalid', /v\.blk\.1\.ffn_down\.bias/],
      ['more blocks than tensors', damaged({ kv: { 'clip.vision.block_count': 3 } }), 'model/invalid', /v\.blk\.2\./],
      ['wrong width', damaged({ kv: { 'clip.vision.embedding_length': 48 } }), 'model/invalid', /shape/],
      ['patch not dividing the tile', damaged({ kv: { 'clip.vision.patch_size': 7 } }), 'model/invalid', /fit together/],
      ['huge longest edge', damaged({ kv: { 'clip.vision.preproc_image_size': 1 << 20 } }), 'model/invalid', /too large/],
      ['no longest edge', damaged({ kv: { 'clip.vision.preproc_image_size': undefined } }), 'model/invalid', /preproc_image_size/],
      ['no heads', damaged({ kv: { 'clip.vision.attention.head_count': 0 } }), 'model/invalid', /head_count/],
    ];
    for (const [name, bytes, code, message] of cases) {
      const e = load(bytes);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.match(e.message, message, name);
    }
  });

  test('slivers and single pixels encode, with the layout they announce', () => {
    for (const [w, h] of [[1, 1], [1, 300], [300, 1], [64, 64], [65, 64]]) {
      const img = testImage(w, h, 9);
      const enc = projector.encode(img.rgb, w, h);
      assert.equal(enc.nRows, (enc.gridX * enc.gridY + 1) * projector.tokensPerImage, `${w}x${h}`);
      assert.equal(enc.embeddings.length, enc.nRows * projector.nEmbd);
      assert.ok(enc.embeddings.every(Number.isFinite), `${w}x${h}`);
    }
  });

  test('bad image sizes and pixel counts are typed errors', () => {
    assert.throws(() => projector.layout(0, 10), (e: HobError) => e.code === 'argument/invalid');
    assert.throws(() => projector.layout(20000, 10), (e: HobError) => e.code === 'argument/invalid');
    assert.throws(() => projector.encode(new Uint8Array(10), 4, 4), (e: HobError) => e.code === 'argument/invalid');
  });

});
