// A projector's ViT blocks on the GPU (src/gpu/vit.ts through
// runtime/vision-encoder.ts) against the engine's CPU blocks, with the
// random-weight idefics3 and gemma3 projectors and images of the vision
// fixtures (test/fixtures/vision-*.json): every row within a small
// tolerance of the CPU's (the attention reads K and V rounded to f16 where
// the CPU keeps f32), and the greedy tokens after the image llama.cpp's, as
// the CPU's rows give them. The CPU's steps (patches, blocks, projector)
// give encode's bits; no GPU leaves the blocks on the CPU.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Projector } from '../../src/core/vision.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { openVisionEncoder, type VisionEncoder } from '../../src/runtime/vision-encoder.js';
import { Engine, type HobError, Model, Session } from '../../src/node/index.js';
import {
  buildGemma3TextModel, buildVisionProjector, buildVisionTextModel, makeGemma3TextSpec, makeGemma3VisionSpec, makeVisionSpec,
  makeVisionTextSpec, testImage,
} from '../gguf/vision-models.js';
import { fixtures, gemma3Fixtures, greedyTokens, type Fixture } from '../unit/vision-fixtures.js';
import { requestNodeGpu } from './node-gpu.js';
import { watchUncaptured } from './harness.js';

// The rows are O(1): f16 rounding of K, V and the probabilities moves them
// by a few 1e-4 through two blocks.
const MAX_ABS = 5e-3;

let engine: Engine;
let gpu: GpuContext;
let uncaptured: string[];
before(async () => {
  engine = await Engine.create({ threads: 2 });
  gpu = await requestNodeGpu();
  uncaptured = watchUncaptured(gpu.device);
});
after(() => {
  gpu?.device.destroy();
  engine?.dispose();
});

const cases = [
  { name: 'idefics3', projBytes: () => buildVisionProjector(makeVisionSpec()).toBytes(), text: () => buildVisionTextModel(makeVisionTextSpec()).toBytes(), fixtures },
  { name: 'gemma3', projBytes: () => buildVisionProjector(makeGemma3VisionSpec()).toBytes(), text: () => buildGemma3TextModel(makeGemma3TextSpec()).toBytes(), fixtures: gemma3Fixtures },
];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function evalFixture(model: Model, f: Fixture, rows: Float32Array, perSub: number, bidirectional: boolean): Promise<number[]> {
  const s = Session.create(model, { nCtx: 512 });
  try {
    let image = 0;
    for (const c of f.chunks) {
      if (c.type === 'text') await s.eval(c.tokens);
      else await s.evalEmbeddings(rows.subarray(image * perSub, ++image * perSub), { bidirectional });
    }
    return await greedyTokens(s, model, f.greedy.length);
  } finally {
    s.free();
  }
}

for (const c of cases) {
  describe(`vision encoder on the GPU: ${c.name}`, () => {
    let projector: Projector;
    let model: Model;
    let encoder: VisionEncoder;
    const bytes = c.projBytes();

    before(async () => {
      projector = Projector.load(engine, bytes.slice());
      model = Model.load(engine, c.text());
      encoder = await openVisionEncoder(projector, bytes, gpu);
    });
    after(() => {
      encoder?.destroy();
      model?.free();
      projector?.free();
    });

    test('the steps on the CPU give encode\'s bits', async () => {
      const f = c.fixtures[0];
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const whole = projector.encode(img.rgb, img.width, img.height).embeddings;
      const steps = await projector.encodeWith(img.rgb, img.width, img.height, async (x) => projector.runBlocks(x));
      assert.deepEqual(Array.from(steps.embeddings), Array.from(whole));
    });

    test('the rows are the CPU\'s within rounding, and the greedy tokens after the image llama.cpp\'s', async () => {
      assert.equal(encoder.device, 'gpu');
      const perSub = projector.tokensPerImage * projector.nEmbd;
      let worst = 0;
      // One fixture image each keeps the test quick on SwiftShader (every
      // sub-image is a full pass): idefics3's smallest tiling, gemma3's first.
      const picked = c.name === 'idefics3' ? [c.fixtures.find((f) => f.image.name === 'tiny')!] : c.fixtures.slice(0, 1);
      for (const f of picked) {
        const img = testImage(f.image.width, f.image.height, f.image.seed);
        const cpu = projector.encode(img.rgb, img.width, img.height).embeddings;
        const got = (await encoder.encodeAsync!(img.rgb, img.width, img.height)).embeddings;
        const d = maxAbsDiff(got, cpu);
        worst = Math.max(worst, d);
        assert.ok(d < MAX_ABS, `${f.image.name}: max |GPU - CPU| = ${d}`);
        assert.deepEqual(await evalFixture(model, f, got, perSub, projector.bidirectional), f.greedy, f.image.name);
      }
      process.stdout.write(`# ${c.name}: max |GPU - CPU| over ${picked.length} image(s) = ${worst.toExponential(2)}\n`);
      assert.deepEqual(uncaptured, []);
    });
  });
}

test('without a GPU the blocks run on the CPU; asked for a GPU without one, a typed error', async () => {
  const bytes = buildVisionProjector(makeVisionSpec()).toBytes();
  const projector = Projector.load(engine, bytes.slice());
  try {
    const enc = await openVisionEncoder(projector, bytes, undefined);
    assert.equal(enc.device, 'cpu');
    assert.equal(enc.encodeAsync, undefined);
    const img = testImage(40, 30, 3);
    assert.deepEqual(Array.from(enc.encode(img.rgb, 40, 30).embeddings), Array.from(projector.encode(img.rgb, 40, 30).embeddings));
    assert.equal((await openVisionEncoder(projector, bytes, gpu, { device: 'cpu' })).device, 'cpu');
    await assert.rejects(openVisionEncoder(projector, bytes, undefined, { device: 'gpu' }), (e: HobError) => e.code === 'gpu/unavailable');
  } finally {
    projector.free();
  }
});
