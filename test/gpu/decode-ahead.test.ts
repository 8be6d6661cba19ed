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
import { describe, test } from 'node:test';

import { DECODE_AHEAD_STEPS, type GenerationRequest } from '../../src/runtime/generate.js';
import { makeArchSpec, writeArchModel, type ArchName } from '../gguf/arch-models.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { aheadHarness } from './ahead-harness.js';

describe('greedy decode steps run ahead on the GPU (Dawn in Node)', () => {
  const { load, run, sameRun, sameAsFresh } = aheadHarness();

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
      await sameAsFresh(type, model, ahead);
    });
  }

  // K-quants need rows of 256. Llama's Q4_K_M ties a Q6_K embedding to its
  // head; an untied file keeps its own embedding matrix, which goes up to
  // the GPU beside the head when the budget has room, and not otherwise.
  const kquant = (o: Parameters<typeof makeSpec>[1]) =>
    writeRandomLlama(makeSpec('tiny', { nVocab: 1003, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nLayer: 2, weightType: 'q4_k', seed: 5, embdStd: 0.25, outputStd: 0.25, std: 0.1, ...o }));
  const kquantCases: [string, Uint8Array, { gpuBudgetBytes?: number }, boolean][] = [
    ['Q4_K blocks, tied Q6_K embeddings', kquant({ embdType: 'q6_k', tiedOutput: true }), {}, true],
    ['Q4_K blocks, untied Q5_K embeddings and Q6_K head', kquant({ embdType: 'q5_k', outputType: 'q6_k', tiedOutput: false }), {}, true],
    ['the same, a GPU budget with no room for the embeddings', kquant({ embdType: 'q5_k', outputType: 'q6_k', tiedOutput: false }), { gpuBudgetBytes: 1 }, false],
  ];
  for (const [label, bytes, opts, ahead] of kquantCases) {
    test(`${label}: ${ahead ? 'decodes ahead with' : 'one step at a time, with'} the tokens and cache of the one-step path`, async () => {
      const model = await load(bytes, opts);
      const a = await run(model, {}, false);
      const one = await run(model, {}, true);
      sameRun(label, a, one);
      assert.ok(new Set(a.result.ids).size > 8, `the model must not repeat a few tokens: ${a.result.ids}`);
      assert.equal(a.aheadSteps > 0, ahead, `${a.aheadSteps} steps ahead`);
      assert.equal(a.readbacks, ahead ? 1 + Math.ceil(23 / DECODE_AHEAD_STEPS) : 24);
      if (ahead) await sameAsFresh(label, model, a);
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
      await sameAsFresh(label, model, ahead);
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
      await sameAsFresh('end of generation', model, ahead);
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
