// Sampling from the GPU's best logits, end to end on a tiny model with every
// block and the head on the GPU (Node, Dawn on SwiftShader): greedy and
// seeded top-k requests give the tokens of the full readback (and greedy
// those of the CPU), read back only the candidates each step (counted by the
// runner), and a request with a repetition penalty reads every logit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Engine, Sampler, type Model, type Session } from '../../src/core/wasm-engine.js';
import { complete, type TokenSampler } from '../../src/runtime/generate.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { SamplerChain } from '../../src/sampling/chain.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { generate, type GenerationRequest } from '../../src/worker/generation.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

// Not a multiple of the pick's 4096-logit chunks nor of 256.
const N_VOCAB = 5003;
const N_TOKENS = 12;
const PROMPT = [1, 17, 300, 4500, 42, 9];
const FULL_STEP_BYTES = N_VOCAB * 4;
const pickBytes = (m: number) => 8 + 8 * m;

/** The sampler without its pick: every evaluation reads every logit. */
const fullReadback = (s: TokenSampler): TokenSampler => ({ sample: (session) => s.sample(session), accept: (t) => s.accept(t) });

describe('sampling from the GPU pick (every block and the head on the GPU)', () => {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];
  let cpuModel: Model;
  let gpuModel: Model;
  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 1 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
    const bytes = writeRandomLlama(makeSpec('tiny', { nVocab: N_VOCAB, nEmbd: 32, nHead: 2, nHeadKv: 1, nFf: 64, nLayer: 1, seed: 3 }));
    cpuModel = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 0 });
    gpuModel = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: Number.MAX_SAFE_INTEGER, gpu });
    assert.equal(gpuModel.loadReport?.headOnGpu ?? true, true);
  });
  after(async () => {
    cpuModel?.free();
    gpuModel?.free();
    await gpu?.device.queue.onSubmittedWorkDone();
    assert.deepEqual(uncaptured, [], 'uncaptured WebGPU errors');
    engine?.dispose();
    gpu?.device.destroy();
  });

  /** complete() on a fresh session; the bytes the GPU read back per evaluation. */
  async function run(model: Model, sampler: TokenSampler) {
    const session: Session = model.createSession({ nCtx: 64 });
    const before = session.gpu ? { ...session.gpu.stats } : undefined;
    const r = await complete(model, new Sequence(session), sampler, PROMPT, { nPredict: N_TOKENS, ignoreEos: true });
    const stats = session.gpu?.stats;
    const evals = r.timings.decodeTokens + 1;
    const perEval = stats && before ? (stats.readbackBytes - before.readbackBytes) / evals : 0;
    assert.equal(session.readout, null, 'complete() leaves the readout as it found it');
    session.free();
    return { ids: r.ids, perEval, picks: stats && before ? stats.picks - before.picks : 0 };
  }

  test('C++ sampler, greedy: the tokens of the full readback and of the CPU, 16 bytes read back a step', async () => {
    const picked = await run(gpuModel, new Sampler(engine, { temperature: 0 }));
    const full = await run(gpuModel, fullReadback(new Sampler(engine, { temperature: 0 })));
    const cpu = await run(cpuModel, new Sampler(engine, { temperature: 0 }));
    assert.equal(picked.ids.length, N_TOKENS);
    assert.deepEqual(picked.ids, full.ids);
    assert.deepEqual(picked.ids, cpu.ids);
    assert.equal(picked.perEval, pickBytes(1));
    assert.equal(picked.picks, N_TOKENS);
    assert.equal(full.perEval, FULL_STEP_BYTES);
    assert.equal(full.picks, 0);
  });

  test('C++ sampler, seeded top-k 40 then top-p, min-p, temperature: the tokens of the full readback, k + 1 pairs a step', async () => {
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.02, seed: 1234 };
    const picked = await run(gpuModel, new Sampler(engine, opts));
    const full = await run(gpuModel, fullReadback(new Sampler(engine, opts)));
    assert.deepEqual(picked.ids, full.ids);
    assert.ok(new Set(picked.ids).size > 3, `a seeded draw, not greedy: ${picked.ids.join(' ')}`);
    assert.equal(picked.perEval, pickBytes(41));
    assert.equal(full.perEval, FULL_STEP_BYTES);
  });

  test('C++ sampler with a repetition penalty reads every logit and gives the CPU tokens', async () => {
    const opts = { temperature: 0, repeatPenalty: 1.5, repeatLastN: 16 };
    const gpuRun = await run(gpuModel, new Sampler(engine, opts));
    const cpu = await run(cpuModel, new Sampler(engine, opts));
    assert.deepEqual(gpuRun.ids, cpu.ids);
    assert.equal(gpuRun.perEval, FULL_STEP_BYTES);
    assert.equal(gpuRun.picks, 0);
  });

  test('a pick holds the best k of the full logits at their ids, -inf elsewhere; readLogits() then reads them all', async () => {
    const session = gpuModel.createSession({ nCtx: 64 });
    try {
      await session.eval(PROMPT);
      const all = session.logits();
      session.truncate(0);
      session.readout = { k: 5, tieFree: true, nanFree: true };
      await session.eval(PROMPT);
      const picked = session.logits();
      const best = Array.from(all.keys()).sort((a, b) => all[b] - all[a] || a - b).slice(0, 5);
      for (let i = 0; i < N_VOCAB; i++) assert.equal(picked[i], best.includes(i) ? all[i] : -Infinity, `logit ${i}`);
      assert.deepEqual(await session.gpu!.readLogits(), all);
    } finally {
      session.free();
    }
  });

  /** The worker's generate() (SamplerChain); `full`: a chain that never picks. */
  async function runChain(model: Model, req: Partial<GenerationRequest>, full = false) {
    const session = model.createSession({ nCtx: 64 });
    const before = session.gpu ? { ...session.gpu.stats } : undefined;
    const gpuPick = SamplerChain.prototype.gpuPick;
    if (full) SamplerChain.prototype.gpuPick = () => null;
    try {
      const r = await generate(model, new Sequence(session), { promptIds: PROMPT, maxTokens: N_TOKENS, ignoreEos: true, ...req });
      const stats = session.gpu?.stats;
      const evals = r.decodeTokens + 1;
      assert.equal(session.readout, null);
      return { ids: r.ids, perEval: stats && before ? (stats.readbackBytes - before.readbackBytes) / evals : 0 };
    } finally {
      SamplerChain.prototype.gpuPick = gpuPick;
      session.free();
    }
  }

  test('sampler chain, greedy: the tokens of the full readback and of the CPU, 16 bytes a step', async () => {
    const picked = await runChain(gpuModel, { temperature: 0 });
    const full = await runChain(gpuModel, { temperature: 0 }, true);
    const cpu = await runChain(cpuModel, { temperature: 0 });
    assert.deepEqual(picked.ids, full.ids);
    assert.deepEqual(picked.ids, cpu.ids);
    assert.equal(picked.perEval, pickBytes(1));
    assert.equal(full.perEval, FULL_STEP_BYTES);
  });

  test('sampler chain, seeded top-k 20 then top-p and temperature (and penalties after top-k): the tokens of the full readback, k pairs a step', async () => {
    const reqs: Partial<GenerationRequest>[] = [
      { temperature: 0.8, top_k: 20, top_p: 0.9, min_p: 0, seed: 99 },
      { temperature: 1.3, top_k: 64, top_p: 0.97, seed: 5, repeat_penalty: 1.2, sampler_order: ['top_k', 'penalties', 'top_p', 'temperature'] },
    ];
    for (const req of reqs) {
      const picked = await runChain(gpuModel, req);
      const full = await runChain(gpuModel, req, true);
      assert.deepEqual(picked.ids, full.ids, JSON.stringify(req));
      assert.ok(new Set(picked.ids).size > 3, `a seeded draw: ${picked.ids.join(' ')}`);
      assert.equal(picked.perEval, pickBytes(req.top_k!));
    }
  });

  test('sampler chain with a repetition penalty before top-k reads every logit and gives the CPU tokens', async () => {
    const req = { temperature: 0, repeat_penalty: 1.5, repeat_last_n: 16 };
    const gpuRun = await runChain(gpuModel, req);
    const cpu = await runChain(cpuModel, req);
    assert.deepEqual(gpuRun.ids, cpu.ids);
    assert.equal(gpuRun.perEval, FULL_STEP_BYTES);
  });
});
