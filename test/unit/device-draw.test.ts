// Which chains a device may imitate to decode top-k sampling ahead
// (sampling/pick.ts deviceDrawStages, SamplerChain.gpuPick's draw): top-k
// first, then only top-p, min-p and a temperature, in the chain's order;
// and the uniform numbers the draw gets are the chain's next ones, peeked
// without being drawn.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SamplerChain } from '../../src/sampling/chain.js';
import { Mt19937 } from '../../src/sampling/mt19937.js';
import { resolveSampling } from '../../src/sampling/params.js';
import { deviceDrawStages } from '../../src/sampling/pick.js';

test('the stages after top-k a device draws with, in order, or none', () => {
  assert.deepEqual(deviceDrawStages(resolveSampling({ seed: 1 })), [
    { kind: 'top_p', value: 0.95 },
    { kind: 'min_p', value: 0.05 },
    { kind: 'temperature', value: 0.8 },
  ]);
  assert.deepEqual(deviceDrawStages(resolveSampling({ temperature: 1.2, top_p: 1, min_p: 0, sampler_order: ['top_k', 'temperature', 'min_p'] })), [
    { kind: 'temperature', value: 1.2 },
  ]);
  // Temperature 1 and top-p 1 do nothing: only min-p is left.
  assert.deepEqual(deviceDrawStages(resolveSampling({ temperature: 1, top_p: 1, min_p: 0.1 })), [{ kind: 'min_p', value: 0.1 }]);
  for (const p of [{ typical_p: 0.9 }, { tfs_z: 0.9 }, { top_a: 0.1 }, { xtc_probability: 0.5, xtc_threshold: 0.1 }, { mirostat: 2 as const }, { temperature: 0 }]) {
    assert.equal(deviceDrawStages(resolveSampling(p)), null, JSON.stringify(p));
  }
});

test('a top-k pick carries the draw; greedy and unimitable chains do not', () => {
  const chain = (p: object) => new SamplerChain({ seed: 42, ...p }, { nVocab: 1000, nCtx: 64 });
  assert.ok(chain({}).gpuPick()?.draw);
  assert.equal(chain({ temperature: 0 }).gpuPick()?.draw, undefined);
  assert.equal(chain({ typical_p: 0.5 }).gpuPick()?.draw, undefined);
  assert.equal(chain({ top_k: 0 }).gpuPick(), null);
});

test("the draw's uniforms are the chain's next numbers, and peeking draws nothing", () => {
  const c = new SamplerChain({ seed: 9, top_k: 5 }, { nVocab: 100, nCtx: 64 });
  const ref = new Mt19937(9);
  const want = [ref.nextDouble(), ref.nextDouble(), ref.nextDouble()];
  const draw = c.gpuPick()!.draw!;
  assert.deepEqual(Array.from(draw.uniforms(3)), want);
  assert.deepEqual(Array.from(draw.uniforms(2)), want.slice(0, 2), 'peeking twice gives the same numbers');
  // One sample with more than one candidate left draws one number: the next peek starts after it.
  const logits = new Float32Array(100).map((_, i) => (i < 5 ? 1 : -5));
  c.sampleLogits(logits);
  assert.deepEqual(Array.from(c.gpuPick()!.draw!.uniforms(2)), want.slice(1, 3));
  const m = new Mt19937(3);
  m.nextU32();
  const k = m.clone();
  assert.equal(k.nextU32(), m.nextU32());
});
