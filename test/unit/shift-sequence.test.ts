// The three kinds of reuse through Sequence, the way the high-level API
// uses them: overflow shift while appending (with its events, its options
// and its ContextFullError when off), prompt-edit shift when a prompt drops
// a span of the cached one, and the errors that leave the cache usable.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { ShiftEvent } from '../../src/shared/types.js';
import { describeShift } from '../../src/runtime/sequence.js';
import { ContextFullError, Engine, generate, HobError, Model, Sequence, Session } from '../../src/node/index.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

/** What a prefill reused and evaluated. */
const counts = (r: { reused: number; evaluated: number }) => ({ reused: r.reused, evaluated: r.evaluated });

let engine: Engine;
let model: Model;
before(async () => {
  engine = await Engine.create({ threads: 2 });
  // Attention depends visibly on position at this weight scale.
  model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: 'f32', std: 0.15, seed: 3 })));
});
after(() => {
  model?.free();
  engine?.dispose();
});

const ids = (first: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('appending past the context shifts by half of what follows the BOS, reports it, and matches shift() by hand', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 64 }), { onShift: (e) => events.push(e) });
  const ref = Session.create(model, { nCtx: 64 });
  const prompt = [1, ...ids(5, 60)];
  await seq.prefill(prompt);
  await ref.eval(prompt);
  const more = ids(200, 10);
  for (const t of more) {
    if (ref.nPast === 64) ref.shift(1, 31);
    await seq.append([t]);
    await ref.eval([t]);
  }
  // 61 + 3 = 64 fit; the 4th token finds the context full: keep 1, evict
  // floor(63 / 2) = 31 after it.
  assert.deepEqual(events, [{ kind: 'overflow', position: 1, evicted: 31, nPast: 33 }]);
  assert.equal(describeShift(events[0]), 'evicted 31 tokens at position 1 (overflow, 33 tokens remain)');
  assert.deepEqual(seq.tokens, [...prompt, ...more].filter((_, i) => i < 1 || i >= 32));
  assert.equal(seq.session.nPast, 40);
  assert.deepEqual(seq.session.positions(), Int32Array.from({ length: 40 }, (_, i) => i));
  assert.deepEqual(seq.session.logits(), ref.logits());
  seq.session.free();
  ref.free();
});

test('contextShift options set what is kept and evicted: keep 5, evict 49 (odd) at a time', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 96 }), { contextShift: { nKeep: 5, nDiscard: 49 }, onShift: (e) => events.push(e) });
  await seq.prefill([1, ...ids(9, 90)]);
  for (let i = 0; i < 60; i++) await seq.append([ids(i, 1)[0]]);
  assert.deepEqual(events.map((e) => [e.position, e.evicted]), [[5, 49], [5, 49]]);
  assert.equal(seq.tokens.length, seq.session.nPast);
  assert.equal(seq.session.nPast, 91 + 60 - 98);
  seq.session.free();
});

test('a batch larger than half the context evicts what it needs; one larger than the context is a ContextFullError', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 64 }), { onShift: (e) => events.push(e) });
  await seq.prefill([1, ...ids(1, 59)]);
  await seq.append(ids(100, 40));
  assert.deepEqual(events, [{ kind: 'overflow', position: 1, evicted: 36, nPast: 24 }]);
  const before = seq.session.logits();
  await assert.rejects(seq.append(ids(7, 64)), (e: unknown) =>
    e instanceof ContextFullError && e.code === 'context/overflow' && e.details.nTokens === 64 && e.details.nKeep === 1);
  assert.equal(seq.session.nPast, 64);
  assert.deepEqual(seq.session.logits(), before);
  seq.session.free();
});

test('with contextShift false a full context is a ContextFullError with the numbers, and the cache stays usable', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 48 }), { contextShift: false, onShift: (e) => events.push(e) });
  const prompt = [1, ...ids(3, 47)];
  await seq.prefill(prompt);
  const before = seq.session.logits();
  await assert.rejects(seq.append([42]), (e: unknown) =>
    e instanceof ContextFullError && e.details.nCtx === 48 && e.details.nPast === 48 && e.details.contextShift === false && /context shift is off/.test(e.message));
  assert.deepEqual(seq.tokens, prompt);
  assert.deepEqual(seq.session.logits(), before);
  assert.deepEqual(events, []);
  // Usable afterwards: roll back two tokens and go on.
  await seq.prefill(prompt.slice(0, 46));
  await seq.append([42]);
  assert.equal(seq.session.nPast, 47);
  seq.session.free();
});

test('a prompt longer than the context is a ContextFullError that leaves the cache as it was', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 32 }));
  const p = [1, ...ids(2, 20)];
  await seq.prefill(p);
  const before = seq.session.logits();
  await assert.rejects(seq.prefill([1, ...ids(2, 40)]), (e: unknown) =>
    e instanceof ContextFullError && e.details.promptTokens === 41 && e.details.contextSize === 32);
  assert.deepEqual(seq.tokens, p);
  assert.deepEqual(seq.session.logits(), before);
  seq.session.free();
});

test('a prompt that drops old turns evicts them and evaluates only the new tail (prompt-edit shift)', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 256 }), { onShift: (e) => events.push(e) });
  const ref = Session.create(model, { nCtx: 256 });
  const system = [1, ...ids(1, 11)];
  const turn1 = ids(50, 49);
  const turn2 = ids(120, 30);
  const turn3 = ids(170, 6);
  await seq.prefill([...system, ...turn1, ...turn2]);
  const edited = [...system, ...turn2, ...turn3];
  assert.deepEqual(counts(await seq.prefill(edited)), { reused: system.length + turn2.length, evaluated: turn3.length });
  assert.deepEqual(events, [{ kind: 'prompt-edit', position: 12, evicted: 49, nPast: 42 }]);
  assert.deepEqual(seq.tokens, edited);
  // The same operations by hand give the same logits.
  await ref.eval([...system, ...turn1, ...turn2]);
  ref.erase(12, 61);
  await ref.eval(turn3);
  assert.deepEqual(seq.session.logits(), ref.logits());
  // A prompt equal to what is left after the span: the last token is
  // evaluated again for its logits.
  events.length = 0;
  await seq.prefill([...system, ...turn2, ...turn3, ...ids(400, 20)]);
  assert.deepEqual(counts(await seq.prefill([...system, ...ids(400, 20)])), { reused: 31, evaluated: 1 });
  assert.deepEqual(events.map((e) => [e.kind, e.position, e.evicted]), [['prompt-edit', 12, 36]]);
  seq.session.free();
  ref.free();
});

test('without context shift, or with a short matching tail, an edited prompt is re-evaluated from the first difference', async () => {
  const events: ShiftEvent[] = [];
  const off = new Sequence(Session.create(model, { nCtx: 256 }), { contextShift: false, onShift: (e) => events.push(e) });
  const on = new Sequence(Session.create(model, { nCtx: 256 }), { onShift: (e) => events.push(e) });
  const system = [1, ...ids(1, 11)];
  const a = ids(50, 20);
  const b = ids(120, 30);
  await off.prefill([...system, ...a, ...b]);
  assert.deepEqual(counts(await off.prefill([...system, ...b])), { reused: 12, evaluated: 30 });
  // 15 matching tokens are fewer than MIN_SHIFT_REUSE (16): no shift.
  await on.prefill([...system, ...a, ...b.slice(0, 15)]);
  assert.deepEqual(counts(await on.prefill([...system, ...b.slice(0, 15), 7])), { reused: 12, evaluated: 16 });
  assert.deepEqual(events, []);
  off.session.free();
  on.session.free();
});

test('bad ranges are typed errors with the numbers, inside the kept head included, and the cache stays usable', async () => {
  const seq = new Sequence(Session.create(model, { nCtx: 64 }), { contextShift: { nKeep: 4 } });
  const p = [1, ...ids(5, 29)];
  await seq.prefill(p);
  const before = seq.session.logits();
  const bad: [() => unknown, RegExp][] = [
    [() => seq.erase(2, 9), /\[2, 9\): the first 4 tokens are kept/],
    [() => seq.erase(12, 4), /\[12, 4\)/],
    [() => seq.erase(20, 31), /within the 30 tokens/],
    [() => seq.erase(1.5, 3), /\[1.5, 3\)/],
    [() => seq.shift(4, -3), /keep 4 and discard -3 of 30/],
    [() => seq.shift(20, 11), /keep 20 and discard 11 of 30/],
    [() => seq.session.truncate(31), /keep 31 tokens: the cache holds 30/],
    [() => seq.session.truncate(-1), /keep -1 tokens/],
  ];
  for (const [fn, msg] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof HobError && e.code === 'range/out-of-bounds' && msg.test(e.message), String(msg));
    assert.deepEqual(seq.tokens, p);
    assert.equal(seq.session.nPast, 30);
  }
  assert.deepEqual(seq.session.logits(), before);
  assert.throws(() => new Sequence(seq.session, { contextShift: { nDiscard: 0 } }), /nDiscard must be an integer >= 1/);
  assert.throws(() => new Sequence(seq.session, { contextShift: { nKeep: 64 } }), /leaves no room/);
  seq.erase(4, 9);
  await seq.append([42]);
  assert.equal(seq.session.nPast, 26);
  seq.session.free();
});

test('generate() goes on through overflow shifts: 200 greedy tokens in a 64-token context, the tokens of shifting by hand', async () => {
  const events: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(model, { nCtx: 64 }), { contextShift: { nDiscard: 13 }, onShift: (e) => events.push(e) });
  const prompt = [1, ...ids(21, 20)];
  const r = await generate(model, seq, { temperature: 0, promptIds: prompt, maxTokens: 200, ignoreEos: true });
  assert.equal(r.ids.length, 200);
  assert.ok(events.length >= 10, `${events.length} shifts`);
  assert.ok(events.every((e) => e.kind === 'overflow' && e.position === 1 && e.evicted === 13));
  // By hand on the low-level session.
  const s = Session.create(model, { nCtx: 64 });
  await s.eval(prompt);
  const want: number[] = [];
  for (let i = 0; i < 200; i++) {
    const l = s.logits();
    const t = l.indexOf(Math.max(...l));
    want.push(t);
    if (i === 199) break;
    if (s.nPast === 64) s.shift(1, 13);
    await s.eval([t]);
  }
  assert.deepEqual(r.ids, want);
  assert.ok(maxDiff(seq.session.logits(), s.logits()) === 0);
  s.free();
  seq.session.free();
});
