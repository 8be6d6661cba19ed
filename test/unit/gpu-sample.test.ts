// Which requests may sample from the GPU's best k logits (src/sampling/pick.ts),
// whether what came back can stand for all of them (src/core/logits.ts), and
// that a chain sampling from the pick gives the tokens of the full logits: a
// host model of the pick (the best k by logit, ties by lower id, NaN never)
// fed to a second chain with the same seed, step after step, on logits with
// ties, -inf and NaN.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { SamplingParams } from '../../src/shared/types.js';
import { checkPick, pickSize, spreadPick, type PickedLogits, type SamplePick } from '../../src/core/logits.js';
import type { Candidates } from '../../src/core/offload.js';
import { SamplerChain } from '../../src/sampling/chain.js';
import { resolveSampling } from '../../src/sampling/params.js';
import { chainPick, GPU_TOP_K_MAX } from '../../src/sampling/pick.js';

const N_VOCAB = 300;

/** What the GPU pick returns for these logits (wgsl/sample.wgsl's order). */
function hostPick(logits: Float32Array, m: number): Candidates {
  const ids = Array.from(logits.keys());
  const key = (i: number) => (Number.isNaN(logits[i]) ? -Infinity : logits[i]);
  const nan = (i: number) => Number.isNaN(logits[i]);
  ids.sort((a, b) => Number(nan(a)) - Number(nan(b)) || (key(a) === key(b) ? a - b : key(b) > key(a) ? 1 : -1));
  const top = ids.slice(0, m);
  return {
    ids: Int32Array.from(top),
    logits: Float32Array.from(top, (i) => logits[i]),
    nNan: logits.filter(Number.isNaN).length,
    complete: true,
  };
}

/** Seeded logits: normal values rounded to a coarse grid (ties), a few -inf and NaN. */
function randomLogits(seed: number, nanToo: boolean): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length: N_VOCAB }, () => {
    const u = next();
    if (u < 0.03) return -Infinity;
    if (nanToo && u < 0.04) return NaN;
    return Math.round((next() - 0.5) * 24) / 4;
  });
}

const pickOf = (p: SamplingParams, opts = { biased: false, bannedNow: 0 }) => chainPick(resolveSampling({ seed: 1, ...p }), N_VOCAB, opts);

describe('which sampler chains may sample from the GPU pick', () => {
  test('greedy (temperature 0, or top_k 1) after stages that keep the best: the best logit', () => {
    assert.deepEqual(pickOf({ temperature: 0 }), { k: 1, tieFree: false, nanFree: false });
    assert.deepEqual(pickOf({ top_k: 1, temperature: 0.7 }), { k: 1, tieFree: false, nanFree: false });
    assert.deepEqual(pickOf({ temperature: 0, top_k: 500, top_p: 0.5, min_p: 0.2 }), { k: 1, tieFree: false, nanFree: false });
  });
  test('top_k first (the default order, penalties off): the best k', () => {
    assert.deepEqual(pickOf({}), { k: 40, tieFree: false, nanFree: false });
    assert.deepEqual(pickOf({ top_k: GPU_TOP_K_MAX, temperature: 1.5 }), { k: GPU_TOP_K_MAX, tieFree: false, nanFree: false });
    assert.deepEqual(pickOf({ top_k: 8, sampler_order: ['top_k', 'penalties', 'dry', 'temperature'], repeat_penalty: 1.3, dry_multiplier: 0.8 }), {
      k: 8, tieFree: false, nanFree: false,
    });
  });
  test('a stage before the truncation that changes logits, or no truncation, reads every logit', () => {
    assert.equal(pickOf({ repeat_penalty: 1.1 }), null);
    assert.equal(pickOf({ presence_penalty: 0.5 }), null);
    assert.equal(pickOf({ dry_multiplier: 0.8 }), null);
    assert.equal(pickOf({ temperature: 0, repeat_penalty: 1.1 }), null);
    assert.equal(pickOf({ temperature: 0.7, sampler_order: ['temperature', 'top_k'] }), null);
    assert.equal(pickOf({ temperature: 0, typical_p: 0.5, sampler_order: ['typical_p', 'temperature'] }), null);
    assert.equal(pickOf({ temperature: 0, xtc_probability: 0.5, sampler_order: ['xtc', 'temperature'] }), null);
    assert.equal(pickOf({ top_k: GPU_TOP_K_MAX + 1 }), null);
    assert.equal(pickOf({ top_k: N_VOCAB }), null);
    assert.equal(pickOf({ top_k: 0 }), null);
    assert.equal(pickOf({ mirostat: 2 }), null);
    assert.equal(pickOf({ temperature: 0 }, { biased: true, bannedNow: 0 }), null);
    assert.equal(pickOf({ temperature: 0 }, { biased: false, bannedNow: 1 }), null);
    assert.equal(new SamplerChain({ temperature: 0 }, { nVocab: N_VOCAB, nCtx: 64, logitBias: { 3: 1 } }).gpuPick(), null);
    assert.deepEqual(new SamplerChain({ temperature: 0 }, { nVocab: N_VOCAB, nCtx: 64 }).gpuPick(), { k: 1, tieFree: false, nanFree: false });
  });
});

describe('checkPick', () => {
  const logits = Float32Array.from([1, 5, 3, 5, 2, -Infinity]);
  test('the best k, best first; spread, at their ids with -inf elsewhere', () => {
    const got = checkPick(hostPick(logits, 3), { k: 2, tieFree: false, nanFree: false });
    assert.deepEqual([Array.from(got!.ids), Array.from(got!.logits)], [[1, 3], [5, 5]]);
    assert.deepEqual(Array.from(spreadPick(got!, 6)), [-Infinity, 5, -Infinity, 5, -Infinity, -Infinity]);
  });
  test('refused: ties within the best k + 1 when tieFree, NaN when nanFree, an incomplete pick', () => {
    assert.equal(checkPick(hostPick(logits, 2), { k: 1, tieFree: true, nanFree: false }), null);
    assert.notEqual(checkPick(hostPick(logits, 4), { k: 3, tieFree: false, nanFree: false }), null);
    assert.equal(checkPick(hostPick(logits, 4), { k: 3, tieFree: true, nanFree: false }), null);
    const distinct = Float32Array.from([1, 6, 3, 5, 2, NaN]);
    assert.notEqual(checkPick(hostPick(distinct, 4), { k: 3, tieFree: true, nanFree: false }), null);
    assert.equal(checkPick(hostPick(distinct, 4), { k: 3, tieFree: true, nanFree: true }), null);
    assert.equal(checkPick({ ...hostPick(logits, 1), complete: false }, { k: 1, tieFree: false, nanFree: false }), null);
  });
});

describe('a chain sampling from the pick gives the tokens of the full logits', () => {
  const requests: SamplingParams[] = [
    { temperature: 0 },
    { top_k: 1, temperature: 1.2 },
    { temperature: 0, top_p: 0.6, min_p: 0.1, tfs_z: 0.9, top_a: 0.1 },
    {},
    { top_k: 5, temperature: 1.5, top_p: 1, min_p: 0 },
    { top_k: 30, temperature: 0.9, typical_p: 0.8, xtc_probability: 0.5, xtc_threshold: 0.05 },
    { top_k: 60, sampler_order: ['top_k', 'penalties', 'dry', 'min_p', 'temperature'], repeat_penalty: 1.4, frequency_penalty: 0.3, dry_multiplier: 0.8, dry_allowed_length: 1 },
    { top_k: 12, temperature: 0, typical_p: 0.5 },
  ];
  for (const [r, req] of requests.entries()) {
    test(`request ${r}: ${JSON.stringify(req)}`, () => {
      const params = { ...req, seed: 1000 + r };
      const full = new SamplerChain(params, { nVocab: N_VOCAB, nCtx: 64, tokenText: (t) => (t % 17 === 0 ? '\n' : `t${t}`) });
      const picked = new SamplerChain(params, { nVocab: N_VOCAB, nCtx: 64, tokenText: (t) => (t % 17 === 0 ? '\n' : `t${t}`) });
      const spreaded = new SamplerChain(params, { nVocab: N_VOCAB, nCtx: 64, tokenText: (t) => (t % 17 === 0 ? '\n' : `t${t}`) });
      const pick: SamplePick | null = picked.gpuPick();
      assert.ok(pick, 'this request samples from the pick');
      const drawn = new Set<number>();
      for (let step = 0; step < 60; step++) {
        const logits = randomLogits(step * 7919 + r, step % 3 === 0);
        const want = full.sampleLogits(logits);
        const candidates: PickedLogits = checkPick(hostPick(logits, pickSize(pick)), pick)!;
        const got = picked.samplePicked(candidates);
        // The same token as sampling the whole vocabulary spread from the pick.
        assert.equal(spreaded.sampleLogits(spreadPick(candidates, N_VOCAB)), want, `step ${step}: spread`);
        spreaded.accept(want);
        assert.equal(got, want, `step ${step}`);
        full.accept(want);
        picked.accept(got);
        drawn.add(want);
      }
      if (pick.k > 1 && (req.temperature ?? 0.8) > 0) assert.ok(drawn.size > 5, 'seeded draws, not one token');
    });
  }
});
