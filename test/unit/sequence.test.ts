// Prefix reuse: a prompt that starts with cached tokens evaluates only the
// rest, and the logits are those of evaluating the whole prompt afresh.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, generate, Model, Sequence, Session } from '../../src/node/index.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

/** What a prefill reused and evaluated. */
const counts = (r: { reused: number; evaluated: number }) => ({ reused: r.reused, evaluated: r.evaluated });

let engine: Engine;
let model: Model;
before(async () => {
  engine = await Engine.create({ threads: 2 });
  model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: 'q8_0', seed: 5 })));
});
after(() => {
  model?.free();
  engine?.dispose();
});

const ids = (first: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

async function freshLogits(prompt: number[]): Promise<Float32Array> {
  const s = Session.create(model, { nCtx: 256 });
  await s.eval(prompt);
  const l = s.logits();
  s.free();
  return l;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('a prompt extending the cached one evaluates only the new tokens, with the same logits', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 256 }));
  const a = [1, ...ids(3, 40)];
  const b = ids(90, 12);
  assert.deepEqual(counts(await seq.prefill(a)), { reused: 0, evaluated: a.length });
  assert.deepEqual(counts(await seq.prefill([...a, ...b])), { reused: a.length, evaluated: b.length });
  assert.ok(maxDiff(seq.session.logits(), await freshLogits([...a, ...b])) < 1e-5);
  assert.deepEqual(seq.tokens, [...a, ...b]);
  seq.session.free();
});

test('an edited prompt re-evaluates from the first differing token', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 256 }));
  const head = [1, ...ids(5, 20)];
  await seq.prefill([...head, ...ids(100, 10), ...ids(200, 5)]);
  const edited = [...head, ...ids(300, 7), ...ids(200, 5)];
  assert.deepEqual(counts(await seq.prefill(edited)), { reused: head.length, evaluated: 12 });
  assert.equal(seq.session.nPast, edited.length);
  assert.ok(maxDiff(seq.session.logits(), await freshLogits(edited)) < 1e-5);
  seq.session.free();
});

test('the same prompt again evaluates only its last token, to get its logits back', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 256 }));
  const p = [1, ...ids(9, 30)];
  await seq.prefill(p);
  assert.deepEqual(counts(await seq.prefill(p)), { reused: p.length - 1, evaluated: 1 });
  assert.ok(maxDiff(seq.session.logits(), await freshLogits(p)) < 1e-5);
  seq.session.free();
});

test('regenerating a reply reuses the prompt, and the greedy reply repeats', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 256 }));
  const prompt = [1, ...ids(17, 50)];
  const run = async () => {
    return generate(model, seq, { temperature: 0, promptIds: prompt, maxTokens: 16, ignoreEos: true });
  };
  const first = await run();
  const again = await run();
  assert.equal(first.cachedTokens, 0);
  assert.equal(again.cachedTokens, prompt.length - 1);
  assert.equal(again.promptTokens - again.cachedTokens, 1);
  assert.deepEqual(again.ids, first.ids);
  seq.session.free();
});

test('erasing and shifting through the sequence keep its ids in step with the cache', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 256 }));
  const p = [1, ...ids(2, 30)];
  await seq.prefill(p);
  seq.erase(4, 14);
  const afterErase = [...p.slice(0, 4), ...p.slice(14)];
  assert.deepEqual(seq.tokens, afterErase);
  assert.equal(seq.session.nPast, seq.tokens.length);
  assert.throws(() => seq.erase(10, 5));
  assert.equal(seq.tokens.length, 21);
  seq.shift(2, 5);
  assert.deepEqual(seq.tokens, [...afterErase.slice(0, 2), ...afterErase.slice(7)]);
  assert.equal(seq.session.nPast, seq.tokens.length);
  seq.session.free();
});
