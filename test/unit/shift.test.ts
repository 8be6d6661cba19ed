// Context shifting through the public session API on a 4-block model:
// evicting tokens gives the logits of a fresh evaluation without them, bad
// ranges are typed errors that change nothing, and a generation runs many
// times past its context by shifting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, HobError, Model, Session } from '../../src/node/index.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

let engine: Engine;
let model: Model;
before(async () => {
  engine = await Engine.create({ threads: 2 });
  // Larger weights than the oracle models: attention depends visibly on
  // position, so keys left unrotated after a shift would show.
  model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: 'f32', std: 0.15, seed: 3 })));
});
after(() => {
  model?.free();
  engine?.dispose();
});

const seq = (first: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('evicting the last 49 tokens, from an odd position, gives the logits of never having seen them', async () => {
  // (Evicting from the middle cannot equal a fresh evaluation: the tokens
  // after the span attended to it. That case is checked on the keys
  // themselves in the native tests and against llama.cpp's shift.)
  const a = [1, ...seq(7, 30)];
  const b = seq(90, 49);
  const shifted = Session.create(model, { nCtx: 256 });
  const fresh = Session.create(model, { nCtx: 256 });
  await shifted.eval([...a, ...b]);
  shifted.erase(a.length, a.length + b.length);
  assert.equal(shifted.nPast, a.length);
  const next = seq(400, 9);
  await shifted.eval(next);
  await fresh.eval([...a, ...next]);
  assert.ok(maxDiff(shifted.logits(), fresh.logits()) < 1e-4, `difference ${maxDiff(shifted.logits(), fresh.logits())}`);
  shifted.free();
  fresh.free();
});

test('shift(nKeep, nDiscard) is erase(nKeep, nKeep + nDiscard)', async () => {
  const s1 = Session.create(model, { nCtx: 128 });
  const s2 = Session.create(model, { nCtx: 128 });
  const ids = [1, ...seq(11, 60)];
  await s1.eval(ids);
  await s2.eval(ids);
  s1.shift(4, 28);
  s2.erase(4, 32);
  await s1.eval([42]);
  await s2.eval([42]);
  assert.deepEqual(s1.logits(), s2.logits());
  s1.free();
  s2.free();
});

test('reversed, oversized and negative ranges are typed errors with the numbers, and nothing changes', async () => {
  const s = Session.create(model, { nCtx: 64 });
  await s.eval([1, ...seq(5, 19)]);
  const before = s.logits();
  const cases: [() => void, RegExp][] = [
    [() => s.erase(12, 4), /\[12, 4\)/],
    [() => s.erase(3, 21), /the 20 tokens/],
    [() => s.erase(-2, 3), /\[-2, 3\)/],
    [() => s.shift(10, 11), /keep 10 and discard 11 of 20/],
    [() => s.shift(-1, 2), /keep -1/],
  ];
  for (const [fn, msg] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof HobError && e.code === 'range/out-of-bounds' && msg.test(e.message));
    assert.equal(s.nPast, 20);
  }
  assert.deepEqual(s.logits(), before);
  s.free();
});

test('a greedy generation runs ten times past a 64-token context by shifting', async () => {
  const s = Session.create(model, { nCtx: 64 });
  let token = 1;
  let shifts = 0;
  for (let step = 0; step < 640; step++) {
    if (s.nPast === s.nCtx) {
      s.shift(4, (s.nPast - 4) >> 1);
      shifts++;
    }
    await s.eval([token]);
    const l = s.logits();
    token = l.indexOf(Math.max(...l));
  }
  assert.ok(shifts >= 20, `${shifts} shifts`);
  assert.ok(s.nPast <= 64);
  s.free();
});
