// Split GGUF models load as one: the joined parts build the same model as
// the single file, and a wrong or missing part is a clear error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, HobError, loadModelFromSource, type Model, Session } from '../../src/node/index.js';
import { joinSplitParts } from '../../src/format/gguf-split.js';
import { bytesSource } from '../../src/format/source.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { splitGguf } from '../gguf/split.js';

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

async function greedy(model: Model, prompt: number[], n: number): Promise<{ ids: number[]; first: Float32Array }> {
  const s = Session.create(model, { nCtx: 64 });
  await s.eval(prompt);
  const first = s.logits();
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = s.logits();
    let best = 0;
    for (let j = 1; j < l.length; j++) if (l[j] > l[best]) best = j;
    ids.push(best);
    await s.eval([best]);
  }
  s.free();
  return { ids, first };
}

const file = writeRandomLlama(makeSpec('tiny', { weightType: 'q8_0' }));

test('a model split in 3 parts loads as one and computes exactly what the single file computes', async () => {
  const parts = await splitGguf(file, 3);
  assert.equal(parts.length, 3);
  const whole = await loadModelFromSource(engine, bytesSource(file));
  const joined = await loadModelFromSource(engine, await joinSplitParts(parts.map(bytesSource)));
  assert.deepEqual(joined.info.nLayer, whole.info.nLayer);
  const a = await greedy(whole, [1, 20, 300, 7], 16);
  const b = await greedy(joined, [1, 20, 300, 7], 16);
  assert.deepEqual(b.ids, a.ids);
  assert.deepEqual(b.first, a.first);
  whole.free();
  joined.free();
});

test('parts out of order or a missing part are refused, naming the parts', async () => {
  const parts = (await splitGguf(file, 3)).map(bytesSource);
  await assert.rejects(joinSplitParts([parts[1], parts[0], parts[2]]), (e: unknown) =>
    e instanceof HobError && e.code === 'gguf/invalid' && /out of order/.test(e.message));
  await assert.rejects(joinSplitParts(parts.slice(0, 2)), (e: unknown) =>
    e instanceof HobError && e.code === 'gguf/invalid' && e.details.splitCount === 3 && e.details.nParts === 2);
});
