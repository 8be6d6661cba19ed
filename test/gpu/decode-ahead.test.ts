// Greedy decode steps run ahead on the GPU (src/gpu/decode-ahead.ts through
// Sequence.appendAhead and the generation loop), in Node (Dawn on
// SwiftShader), against the one-step path (the same request with
// appendAhead switched off): the same tokens and text on every architecture
// whose head the GPU picks from, fewer readbacks, and a cache that ends
// exactly as the one-step path leaves it (cells, positions and K/V values
// bit for bit, equal to evaluating the kept tokens afresh) after a stop
// string, end of generation, max_tokens, an abort in the middle of a ring
// and a banned string's backtrack.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import type { GpuRunner } from '../../src/gpu/runner.js';
import { DECODE_AHEAD_STEPS, generate, type GenerationRequest, type GenerationResult } from '../../src/runtime/generate.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { makeArchSpec, writeArchModel, type ArchName } from '../gguf/arch-models.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const PROMPT = [1, 17, 300, 45, 42, 9];
const GREEDY = { temperature: 0 };

interface Run {
  result: GenerationResult;
  /** The cache afterwards: token ids, positions and every block's K/V. */
  tokens: number[];
  positions: number[];
  kv: { k: Uint16Array; v: Uint16Array }[];
  readbacks: number;
}

describe('greedy decode steps run ahead on the GPU (Dawn in Node)', () => {
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

  async function load(bytes: Uint8Array): Promise<Model> {
    const m = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: Number.MAX_SAFE_INTEGER, gpu });
    models.push(m);
    return m;
  }

  /** generate() on a fresh session, with steps run ahead or (oneStep) not. */
  async function run(model: Model, req: Partial<GenerationRequest>, oneStep: boolean, shouldStopAfter?: number): Promise<Run> {
    const session = Session.create(model, { nCtx: 128 });
    const seq = new Sequence(session);
    const runner = session.offload as GpuRunner;
    const saved = Sequence.prototype.appendAhead;
    if (oneStep) Sequence.prototype.appendAhead = async () => null;
    let texts = 0;
    try {
      const before = runner.stats.readbacks;
      const result = await generate(model, seq, { promptIds: PROMPT, maxTokens: 24, ignoreEos: true, ...GREEDY, ...req }, {
        onText: () => texts++,
        shouldStop: shouldStopAfter === undefined ? undefined : () => texts >= shouldStopAfter,
      });
      const readbacks = runner.stats.readbacks - before;
      assert.equal(session.nPast, seq.tokens.length, 'the sequence and the session agree on the cache');
      return {
        result,
        tokens: [...seq.tokens],
        positions: Array.from(session.positions()),
        kv: await runner.readKv(session.nPast),
        readbacks,
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

  function sameRun(label: string, ahead: Run, one: Run): void {
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

  const tinyBytes = (weightType: 'q8_0' | 'q4_0') =>
    writeRandomLlama(makeSpec('tiny', { nVocab: 1003, nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nLayer: 2, weightType, tiedOutput: true, seed: 5, embdStd: 0.25, std: 0.2 }));

  for (const type of ['q8_0', 'q4_0'] as const) {
    test(`${type}: the tokens and cache of the one-step path, one readback per ring`, async () => {
      const model = await load(tinyBytes(type));
      const ahead = await run(model, {}, false);
      const one = await run(model, {}, true);
      sameRun(type, ahead, one);
      assert.equal(ahead.result.ids.length, 24);
      assert.ok(new Set(ahead.result.ids).size > 8, `the model must not repeat a few tokens: ${ahead.result.ids}`);
      // 24 tokens: the prompt's pick, then rings of DECODE_AHEAD_STEPS.
      assert.equal(one.readbacks, 24);
      assert.equal(ahead.readbacks, 1 + Math.ceil(23 / DECODE_AHEAD_STEPS));
      // The cache equals the kept tokens evaluated afresh.
      const f = await fresh(model, ahead.tokens);
      assert.deepEqual(f.positions, ahead.positions);
      f.kv.forEach((l, i) => assert.deepEqual([l.k, l.v], [ahead.kv[i].k, ahead.kv[i].v], `block ${i}`));
    });
  }

  test('a stop string, end of generation, max_tokens and an abort mid-ring take back the steps run past them', async () => {
    const model = await load(tinyBytes('q8_0'));
    const base = await run(model, {}, true);
    // A stop string made of the text of tokens 9 and 10: found mid-ring.
    const stop = new TextDecoder().decode(new Uint8Array([...model.tokenBytes(base.result.ids[9]), ...model.tokenBytes(base.result.ids[10])]));
    assert.ok(!new TextDecoder().decode(new Uint8Array(base.result.ids.slice(0, 9).flatMap((t) => [...model.tokenBytes(t)]))).includes(stop), 'the stop string comes first at token 9');
    assert.ok(stop.length > 0);
    const cases: [string, Partial<GenerationRequest>, number?][] = [
      ['stop string', { stop: [stop] }],
      ['max_tokens 19', { maxTokens: 19 }],
      ['abort after 7 pieces of text', {}, 7],
      ['banned string', { banned_strings: [stop] }],
    ];
    for (const [label, req, stopAfter] of cases) {
      const ahead = await run(model, req, false, stopAfter);
      const one = await run(model, req, true, stopAfter);
      sameRun(label, ahead, one);
      assert.ok(ahead.result.ids.length < 24 || label === 'banned string', `${label}: stopped early (${ahead.result.ids.length})`);
      const f = await fresh(model, ahead.tokens);
      assert.deepEqual(f.positions, ahead.positions, `${label}: positions`);
      f.kv.forEach((l, i) => assert.deepEqual([l.k, l.v], [ahead.kv[i].k, ahead.kv[i].v], `${label}: block ${i}`));
    }
    // End of generation: a token of the output made the model's end of
    // generation (isEog patched on this model), met mid-ring.
    const eog = base.result.ids[12];
    const isEog = model.isEog.bind(model);
    model.isEog = (id: number) => id === eog || isEog(id);
    try {
      const ahead = await run(model, { ignoreEos: false }, false);
      const one = await run(model, { ignoreEos: false }, true);
      sameRun('end of generation', ahead, one);
      assert.equal(ahead.result.finishReason, 'stop');
      assert.ok(ahead.result.ids.length <= 12);
      const f = await fresh(model, ahead.tokens);
      f.kv.forEach((l, i) => assert.deepEqual([l.k, l.v], [ahead.kv[i].k, ahead.kv[i].v], `end of generation: block ${i}`));
    } finally {
      model.isEog = isEog;
    }
  });

  test('every architecture whose greedy token the GPU picks: the tokens and cache of the one-step path', async () => {
    // Gemma 2 (soft-capped logits) and Granite (scaled logits) need the
    // runner-up to check ties after the cap: they evaluate one token at a time.
    const archs: ArchName[] = ['llama', 'qwen2', 'qwen3', 'phi3', 'gemma3', 'smollm3', 'olmo2', 'gemma2', 'granite'];
    for (const arch of archs) {
      const capped = arch === 'gemma2' || arch === 'granite';
      // Granite's small embedding is what its multiplier expects.
      const model = await load(writeArchModel(makeArchSpec(arch, { weightType: 'q8_0', tiedOutput: true, std: 0.2, ...(arch === 'granite' ? {} : { embdStd: 0.25 }) })));
      const ahead = await run(model, { maxTokens: 20 }, false);
      const one = await run(model, { maxTokens: 20 }, true);
      sameRun(arch, ahead, one);
      if (!capped) assert.ok(new Set(ahead.result.ids).size > 1, `${arch}: the model must not repeat one token: ${ahead.result.ids}`);
      assert.equal(ahead.readbacks < one.readbacks, !capped, `${arch}: ${ahead.readbacks} readbacks ahead, ${one.readbacks} one step at a time`);
    }
  });
});
