// The randomized state machine of shift-machine.ts on the CPU engine:
// hundreds of seeded steps of appends, generations, overflow shifts, prompt
// edits, truncations, regenerations and resets, each checked against the
// expected tokens and shifts, a mirror session doing the same operations,
// and a fresh evaluation while no shift has touched the cache. A failing
// seed repeats with HOB_SHIFT_SEED=<seed>.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, Model } from '../../src/node/index.js';
import { makeArchSpec, writeArchModel } from '../gguf/arch-models.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { runShiftMachine } from './shift-machine.js';

let engine: Engine;
let model: Model;
before(async () => {
  engine = await Engine.create({ threads: 2 });
  // Position-sensitive weights: a key left unrotated would show.
  model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: 'f32', std: 0.15, seed: 3 })));
});
after(() => {
  model?.free();
  engine?.dispose();
});

const seeds = process.env.HOB_SHIFT_SEED ? [Number(process.env.HOB_SHIFT_SEED)] : [1, 2];
const configs = [undefined, { nKeep: 4, nDiscard: 9 }] as const;

for (const seed of seeds) {
  for (const contextShift of configs) {
    test(`seed ${seed}, contextShift ${JSON.stringify(contextShift ?? 'default')}: 200 random steps keep the cache right`, async (t) => {
      const r = await runShiftMachine({
        model, reference: model, seed, steps: 200, nCtx: 96, contextShift: contextShift && { ...contextShift },
        tolerance: 0, freshTolerance: 1e-4,
      });
      t.diagnostic(JSON.stringify(r));
      // The walk exercised what it is meant to.
      assert.ok(r.shifts.overflow >= 5, `${r.shifts.overflow} overflow shifts`);
      assert.ok(r.shifts['prompt-edit'] >= 5, `${r.shifts['prompt-edit']} prompt-edit shifts`);
      assert.ok(r.freshChecks >= 20, `${r.freshChecks} fresh checks`);
    });
  }
}

test('sliding windows (gemma3: five local blocks of window 8, one global): 120 random steps keep the cache right', async (t) => {
  const gemma = Model.load(engine, writeArchModel(makeArchSpec('gemma3', { seed: 2 })));
  try {
    const r = await runShiftMachine({ model: gemma, reference: gemma, seed: 3, steps: 120, nCtx: 80, tolerance: 0, freshTolerance: 1e-4 });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.shifts.overflow >= 3 && r.shifts['prompt-edit'] >= 3, JSON.stringify(r.shifts));
  } finally {
    gemma.free();
  }
});
