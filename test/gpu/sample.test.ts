// Sampling from the GPU's best logits, end to end through the generation
// loop on a tiny model with every block and the head on the GPU (Node, Dawn
// on SwiftShader): greedy and seeded top-k requests give the tokens of the
// full readback (and greedy those of the CPU), read back only the
// candidates each step (counted by the runner), and a request with a
// repetition penalty reads every logit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import type { GpuRunner } from '../../src/gpu/runner.js';
import { generate, type GenerationRequest } from '../../src/runtime/generate.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { Sequence } from '../../src/runtime/sequence.js';
import { SamplerChain } from '../../src/sampling/chain.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

// Not a multiple of the pick's 4096-logit chunks nor of 256.
const N_VOCAB = 5003;
const N_TOKENS = 12;
const PROMPT = [1, 17, 300, 4500, 42, 9];
const FULL_STEP_BYTES = N_VOCAB * 4;
const pickBytes = (m: number) => 8 + 8 * m;

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

  test('a pick holds the best k of the full logits, best first; all() then reads them all', async () => {
    const session = Session.create(gpuModel, { nCtx: 64 });
    try {
      const all = await (await session.eval(PROMPT)).all();
      session.truncate(0);
      const step = await session.eval(PROMPT, { pick: { k: 5, tieFree: true, nanFree: true } });
      const best = Array.from(all.keys()).sort((a, b) => all[b] - all[a] || a - b).slice(0, 5);
      assert.deepEqual(Array.from(step.picked!.ids), best);
      assert.deepEqual(Array.from(step.picked!.logits), best.map((i) => all[i]));
      // Until all() is asked for, only the pick's candidates came back.
      const spread = session.logits();
      for (let i = 0; i < N_VOCAB; i++) assert.equal(spread[i], best.includes(i) ? all[i] : -Infinity, `logit ${i}`);
      assert.deepEqual(await step.all(), all);
      await session.eval([7]);
      await assert.rejects(step.all(), /stale/, 'logits of an earlier step are not read');
    } finally {
      session.free();
    }
  });

  /** generate() on a fresh session; the bytes the GPU read back per
   * evaluation. `full`: a chain that never picks. */
  async function runChain(model: Model, req: Partial<GenerationRequest>, full = false) {
    const session = Session.create(model, { nCtx: 64 });
    const runner = session.offload as GpuRunner | undefined;
    const before = runner ? { ...runner.stats } : undefined;
    const gpuPick = SamplerChain.prototype.gpuPick;
    if (full) SamplerChain.prototype.gpuPick = () => null;
    try {
      const r = await generate(model, new Sequence(session), { promptIds: PROMPT, maxTokens: N_TOKENS, ignoreEos: true, ...req });
      const stats = runner?.stats;
      const evals = r.decodeTokens + 1;
      return { ids: r.ids, perEval: stats && before ? (stats.readbackBytes - before.readbackBytes) / evals : 0, picks: stats && before ? stats.picks - before.picks : 0 };
    } finally {
      SamplerChain.prototype.gpuPick = gpuPick;
      session.free();
    }
  }

  test('sampler chain, greedy: the tokens of the full readback and of the CPU, 16 bytes a step', async () => {
    const picked = await runChain(gpuModel, { temperature: 0 });
    const full = await runChain(gpuModel, { temperature: 0 }, true);
    const cpu = await runChain(cpuModel, { temperature: 0 });
    assert.equal(picked.ids.length, N_TOKENS);
    assert.deepEqual(picked.ids, full.ids);
    assert.deepEqual(picked.ids, cpu.ids);
    assert.equal(picked.perEval, pickBytes(1));
    assert.equal(picked.picks, N_TOKENS);
    assert.equal(full.perEval, FULL_STEP_BYTES);
    assert.equal(full.picks, 0);
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
      // Steps run ahead (a draw the GPU imitates) read the drawn token too.
      assert.ok(picked.perEval >= pickBytes(req.top_k!) && picked.perEval <= pickBytes(req.top_k!) + 8, `${picked.perEval} bytes a step`);
    }
  });

  test('sampler chain with a repetition penalty before top-k reads every logit and gives the CPU tokens', async () => {
    const req = { temperature: 0, repeat_penalty: 1.5, repeat_last_n: 16 };
    const gpuRun = await runChain(gpuModel, req);
    const cpu = await runChain(cpuModel, req);
    assert.deepEqual(gpuRun.ids, cpu.ids);
    assert.equal(gpuRun.perEval, FULL_STEP_BYTES);
    assert.equal(gpuRun.picks, 0);
  });

  test('under a grammar the pick is checked first and all logits read only when refused: the tokens of the CPU', async () => {
    const { parseGrammar } = await import('../../src/sampling/grammar/index.js');
    const text = 'root ::= [a-z ]{8,40} "." ';
    const run = async (model: Model, req: Partial<GenerationRequest>) => {
      const tokenize = (t: string) => model.tokenize(t, { addSpecial: false, parseSpecial: true });
      const constraint = { grammar: parseGrammar(text, { tokenize }), source: 'grammar' as const };
      const session = Session.create(model, { nCtx: 64 });
      const runner = session.offload as GpuRunner | undefined;
      const before = runner ? { ...runner.stats } : undefined;
      try {
        const r = await generate(model, new Sequence(session), { promptIds: PROMPT, maxTokens: 30, constraint, ...req });
        const stats = runner?.stats;
        return { ids: r.ids, text: model.detokenize(r.ids), resamples: r.resamples, picks: stats && before ? stats.picks - before.picks : 0, reads: stats && before ? stats.readbacks - before.readbacks : 0 };
      } finally {
        session.free();
      }
    };
    for (const req of [{ temperature: 0 }, { temperature: 0.9, top_k: 30, seed: 8 }]) {
      const gpuRun = await run(gpuModel, req);
      const cpuRun = await run(cpuModel, req);
      assert.deepEqual(gpuRun.ids, cpuRun.ids, JSON.stringify(req));
      assert.match(gpuRun.text, /^[a-z ]{8,40}\.$/, gpuRun.text);
      assert.ok(gpuRun.picks > 0, 'steps sampled from the pick');
      // A refused sample costs one more readback (every logit), no more.
      assert.equal(gpuRun.reads, gpuRun.picks + gpuRun.resamples, JSON.stringify(gpuRun));
    }
  });
  test('log-probabilities with every block on the GPU: those of the CPU, for the same tokens', async () => {
    const run = async (model: Model, req: Partial<GenerationRequest>) => {
      const session = Session.create(model, { nCtx: 64 });
      try {
        return await generate(model, new Sequence(session), { promptIds: PROMPT, maxTokens: N_TOKENS, ignoreEos: true, logprobs: 5, ...req });
      } finally {
        session.free();
      }
    };
    for (const req of [{ temperature: 0 }, { temperature: 0.9, top_k: 30, seed: 8 }]) {
      const [gpuRun, cpuRun] = [await run(gpuModel, req), await run(cpuModel, req)];
      assert.deepEqual(gpuRun.ids, cpuRun.ids, JSON.stringify(req));
      assert.equal(gpuRun.logprobs?.length, gpuRun.ids.length);
      for (const [i, g] of gpuRun.logprobs!.entries()) {
        const c = cpuRun.logprobs![i];
        assert.equal(g.id, gpuRun.ids[i]);
        assert.ok(Math.abs(g.logprob - c.logprob) < 1e-4, `step ${i}: ${g.logprob} vs CPU ${c.logprob}`);
        assert.deepEqual(g.top_logprobs.map((t) => t.id), c.top_logprobs.map((t) => t.id), `step ${i}`);
        for (const [k, t] of g.top_logprobs.entries()) assert.ok(Math.abs(t.logprob - c.top_logprobs[k].logprob) < 1e-4, `step ${i} rank ${k}`);
      }
    }
  });
});
