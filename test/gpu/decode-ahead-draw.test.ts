// Seeded top-k sampling run ahead on the GPU (wgsl/draw.wgsl through
// src/gpu/decode-ahead.ts): the GPU draws each step's token from its best k
// with the chain's next uniform numbers and feeds it to the next step; the
// chain samples every step again from the same candidates and takes back
// the steps after a token the GPU drew otherwise. Against the one-step path
// (appendAhead switched off): the same tokens, text and cache (positions,
// K/V bit for bit, equal to the kept tokens evaluated afresh) for two
// seeds, top-p, min-p and temperature in two orders, a stop string in the
// middle of a ring; far fewer readbacks; a chain the GPU cannot imitate
// (typical-p after top-k) decodes one step at a time with the same tokens;
// and GPU draws made to disagree with the chain's are all taken back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DECODE_AHEAD_STEPS, type GenerationRequest } from '../../src/runtime/generate.js';
import { SamplerChain } from '../../src/sampling/chain.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { aheadHarness } from './ahead-harness.js';

const tiny = () =>
  writeRandomLlama(makeSpec('tiny', { nVocab: 1003, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nLayer: 2, weightType: 'q8_0', tiedOutput: true, seed: 5, embdStd: 0.25, std: 0.2 }));

describe('seeded top-k sampling run ahead on the GPU (Dawn in Node)', () => {
  const { load, run, sameRun, sameAsFresh } = aheadHarness();

  const requests: [string, Partial<GenerationRequest>][] = [
    ['top-k 40, top-p 0.95, min-p 0.05, temperature 0.8 (the defaults), seed 7', { temperature: 0.8, top_k: 40, seed: 7 }],
    ['the same, seed 1234', { temperature: 0.8, top_k: 40, seed: 1234 }],
    ['top-k 100, temperature 1.5 before min-p 0.02 and top-p 0.9, seed 3', {
      temperature: 1.5, top_k: 100, top_p: 0.9, min_p: 0.02, seed: 3, sampler_order: ['top_k', 'temperature', 'min_p', 'top_p'],
    }],
  ];

  test('the tokens and cache of the one-step path, a readback per ring', async () => {
    const model = await load(tiny());
    for (const [label, req] of requests) {
      const ahead = await run(model, req, false);
      const one = await run(model, req, true);
      sameRun(label, ahead, one);
      assert.equal(ahead.result.ids.length, 24);
      assert.ok(new Set(ahead.result.ids).size > 8, `${label}: a seeded draw, not a few tokens: ${ahead.result.ids}`);
      assert.ok(ahead.aheadSteps > 0, `${label}: decoded ahead`);
      assert.equal(one.readbacks, 24);
      // The GPU's draw agrees with the chain's but within an f32 rounding of
      // a boundary: a disagreement would cost a ring more.
      assert.ok(ahead.readbacks <= 1 + Math.ceil(23 / DECODE_AHEAD_STEPS) + 1, `${label}: ${ahead.readbacks} readbacks`);
      await sameAsFresh(label, model, ahead);
    }
    // Another seed draws other tokens.
    const a = await run(model, requests[0][1], false);
    const b = await run(model, requests[1][1], false);
    assert.notDeepEqual(a.result.ids, b.result.ids);
  });

  test('a stop string in the middle of a ring, and a chain the GPU cannot imitate', async () => {
    const model = await load(tiny());
    const req = requests[1][1];
    const base = await run(model, req, true);
    // The text of tokens 9 and 10: first found at token 9, in the first ring.
    const stop = new TextDecoder().decode(new Uint8Array([...model.tokenBytes(base.result.ids[9]), ...model.tokenBytes(base.result.ids[10])]));
    assert.ok(stop.length > 0);
    const before = new TextDecoder().decode(new Uint8Array(base.result.ids.slice(0, 9).flatMap((t) => [...model.tokenBytes(t)])));
    assert.ok(!before.includes(stop), 'the stop string comes first at token 9');
    const ahead = await run(model, { ...req, stop: [stop] }, false);
    const one = await run(model, { ...req, stop: [stop] }, true);
    sameRun('stop string', ahead, one);
    assert.equal(ahead.result.finishReason, 'stop');
    assert.ok(ahead.result.ids.length <= 11, `${ahead.result.ids.length} tokens`);
    assert.ok(ahead.aheadSteps > ahead.result.ids.length, 'steps were run past the stop and taken back');
    await sameAsFresh('stop string', model, ahead);

    // Typical-p after top-k: the chain samples from the pick, one step at a time.
    const typical = { ...req, typical_p: 0.9 };
    const t1 = await run(model, typical, false);
    const t2 = await run(model, typical, true);
    sameRun('typical-p', t1, t2);
    assert.equal(t1.aheadSteps, 0);
  });

  test('GPU draws that disagree with the chain are taken back: the tokens and cache of the one-step path', async () => {
    const model = await load(tiny());
    const req = requests[0][1];
    const gpuPick = SamplerChain.prototype.gpuPick;
    // The GPU gets other numbers than the chain draws: its tokens mostly differ.
    SamplerChain.prototype.gpuPick = function (this: SamplerChain, n?: number) {
      const pick = gpuPick.call(this, n);
      if (!pick?.draw) return pick;
      const { uniforms } = pick.draw;
      return { ...pick, draw: { ...pick.draw, uniforms: (k: number) => uniforms(k).map((u) => 1 - u - 2 ** -53) } };
    };
    try {
      const ahead = await run(model, req, false);
      const one = await run(model, req, true);
      sameRun('disagreeing draws', ahead, one);
      assert.ok(ahead.readbacks > 1 + Math.ceil(23 / DECODE_AHEAD_STEPS) + 2, `${ahead.readbacks} readbacks: rings were cut short`);
      assert.ok(ahead.aheadSteps > ahead.result.ids.length, 'steps were taken back');
      await sameAsFresh('disagreeing draws', model, ahead);
    } finally {
      SamplerChain.prototype.gpuPick = gpuPick;
    }
  });
});
