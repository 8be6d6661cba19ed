// What the decode-ahead tests share: an engine and a Dawn device for a
// describe block, models loaded with every block on the GPU, generate() on
// a fresh session with steps run ahead or (one step) not, the cache it
// leaves (token ids, positions, every block's K/V), the same tokens
// evaluated afresh one at a time, and the comparison of two runs.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import type { Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import type { GpuRunner } from '../../src/gpu/runner.js';
import { generate, type GenerationRequest, type GenerationResult } from '../../src/runtime/generate.js';
import { loadModelFromSource, type LoadOptions } from '../../src/runtime/load.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

export const PROMPT = [1, 17, 300, 45, 42, 9];

export interface AheadRun {
  result: GenerationResult;
  /** The cache afterwards: token ids, positions and every block's K/V. */
  tokens: number[];
  positions: number[];
  kv: { k: Uint16Array; v: Uint16Array }[];
  readbacks: number;
  aheadSteps: number;
}

/** Registers the block's before/after hooks; call inside describe(). */
export function aheadHarness() {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];
  const models: Model[] = [];
  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 1 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(async () => {
    for (const m of models) m.free();
    await gpu?.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured, [], 'uncaptured WebGPU errors');
    engine?.dispose();
    gpu?.device.destroy();
  });

  async function load(bytes: Uint8Array, opts: LoadOptions = {}): Promise<Model> {
    const m = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: Number.MAX_SAFE_INTEGER, gpu, ...opts });
    models.push(m);
    return m;
  }

  /** generate() on a fresh session (greedy, 24 tokens past EOS unless req
   * says otherwise), with steps run ahead or (oneStep) not; an abort once
   * `shouldStopAfter` pieces of text went out. */
  async function run(model: Model, req: Partial<GenerationRequest>, oneStep: boolean, shouldStopAfter?: number): Promise<AheadRun> {
    const session = Session.create(model, { nCtx: 128 });
    const seq = new Sequence(session);
    const runner = session.offload as GpuRunner;
    const saved = Sequence.prototype.appendAhead;
    if (oneStep) Sequence.prototype.appendAhead = async () => null;
    let texts = 0;
    try {
      const before = { ...runner.stats };
      const result = await generate(model, seq, { promptIds: PROMPT, maxTokens: 24, ignoreEos: true, temperature: 0, ...req }, {
        onText: () => texts++,
        shouldStop: shouldStopAfter === undefined ? undefined : () => texts >= shouldStopAfter,
      });
      assert.equal(session.nPast, seq.tokens.length, 'the sequence and the session agree on the cache');
      return {
        result,
        tokens: [...seq.tokens],
        positions: Array.from(session.positions()),
        kv: await runner.readKv(session.nPast),
        readbacks: runner.stats.readbacks - before.readbacks,
        aheadSteps: runner.stats.aheadSteps - before.aheadSteps,
      };
    } finally {
      Sequence.prototype.appendAhead = saved;
      session.free();
    }
  }

  /** Every block's K/V of `tokens` evaluated afresh, one at a time (the one-step path). */
  async function fresh(model: Model, tokens: number[]) {
    const session = Session.create(model, { nCtx: 128 });
    try {
      await session.eval(tokens.slice(0, PROMPT.length));
      for (const t of tokens.slice(PROMPT.length)) await session.eval([t]);
      return { positions: Array.from(session.positions()), kv: await (session.offload as GpuRunner).readKv(session.nPast) };
    } finally {
      session.free();
    }
  }

  /** The same tokens, text, finish and cache (K/V bit for bit). */
  function sameRun(label: string, ahead: AheadRun, one: AheadRun): void {
    assert.deepEqual(ahead.result.ids, one.result.ids, `${label}: tokens`);
    assert.equal(ahead.result.text, one.result.text, `${label}: text`);
    assert.equal(ahead.result.finishReason, one.result.finishReason, `${label}: finish reason`);
    assert.deepEqual(ahead.tokens, one.tokens, `${label}: cached tokens`);
    assert.deepEqual(ahead.positions, one.positions, `${label}: positions`);
    assert.equal(ahead.kv.length, one.kv.length);
    ahead.kv.forEach((l, i) => {
      assert.deepEqual(l.k, one.kv[i].k, `${label}: block ${i} K`);
      assert.deepEqual(l.v, one.kv[i].v, `${label}: block ${i} V`);
    });
  }

  /** The cache of a run equals its kept tokens evaluated afresh. */
  async function sameAsFresh(label: string, model: Model, r: AheadRun): Promise<void> {
    const f = await fresh(model, r.tokens);
    assert.deepEqual(f.positions, r.positions, `${label}: positions`);
    f.kv.forEach((l, i) => assert.deepEqual([l.k, l.v], [r.kv[i].k, r.kv[i].v], `${label}: block ${i}`));
  }

  return { load, run, fresh, sameRun, sameAsFresh };
}
