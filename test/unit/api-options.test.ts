// The API's numbers and fields are checked by their real range and type
// before anything reaches the worker: a value past int32 is refused (it used
// to wrap in the wasm call), threads are capped at the hardware's, and a
// field of the wrong type is an 'argument/invalid' naming it, not a raw
// TypeError from inside generation.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, type HobEngine } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');

/** Asserts an 'argument/invalid' whose message names `field`. */
function invalid(field: string | RegExp) {
  return (e: unknown) => {
    const err = e as { code?: string; message?: string; name?: string };
    assert.equal(err.code, 'argument/invalid', String(e));
    assert.equal(err.name, 'HobError');
    assert.match(err.message ?? '', typeof field === 'string' ? new RegExp(`^${field.replace(/[()]/g, '\\$&')} `) : field);
    return true;
  };
}

describe('createEngine options', () => {
  test('a context size past int32 is refused with its range, not wrapped to a small one', async () => {
    for (const contextSize of [2 ** 32 + 5, 2 ** 31, 1e300, 0, -1, 1.5, Number.NaN]) {
      await assert.rejects(createEngine({ model: tinyPath, contextSize, threads: 1 }), (e: unknown) => {
        invalid('contextSize')(e);
        assert.match((e as Error).message, /from 1 to 2147483647/);
        return true;
      }, `contextSize ${contextSize}`);
    }
    await assert.rejects(createEngine({ model: tinyPath, contextSize: '512' as unknown as number }), invalid('contextSize'));
  });

  test('threads beyond the hardware are capped at its count; zero, negative or fractional threads are refused', async () => {
    const hardware = availableParallelism();
    const engine = await createEngine({ model: tinyPath, contextSize: 64, threads: hardware * 4 + 3 });
    try {
      assert.equal((await engine.info()).threads, hardware);
    } finally {
      await engine.unload();
    }
    for (const threads of [0, -2, 1.5, 2 ** 40]) {
      await assert.rejects(createEngine({ model: tinyPath, threads }), invalid('threads'), `threads ${threads}`);
    }
  });

  test('gpuLayers -1 is an invalid option, not a missing GPU adapter', async () => {
    for (const gpuLayers of [-1, 1.5, 'all' as unknown as number]) {
      await assert.rejects(createEngine({ model: tinyPath, gpuLayers, threads: 1 }), invalid("gpuLayers (or 'auto')"), `gpuLayers ${gpuLayers}`);
    }
  });

  test('contextShift counts are checked before loading', async () => {
    await assert.rejects(createEngine({ model: tinyPath, contextShift: { nKeep: -1 } }), invalid('contextShift.nKeep'));
    await assert.rejects(createEngine({ model: tinyPath, contextShift: { nDiscard: 2 ** 33 } }), invalid('contextShift.nDiscard'));
  });
});

describe('request fields', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: tinyPath, contextSize: 128, threads: 1 });
  });
  after(async () => {
    await engine?.unload();
  });

  test('stop, banned_strings and the other lists must have the right type', async () => {
    const prompt = 'Hello';
    await assert.rejects(engine.completions.create({ prompt, stop: 5 as unknown as string }), invalid('stop'));
    await assert.rejects(engine.completions.create({ prompt, stop: [1] as unknown as string[] }), invalid('stop'));
    await assert.rejects(engine.completions.create({ prompt, stream: true, stop: 5 as unknown as string }), invalid('stop'));
    await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'user', content: prompt }], stop: {} as unknown as string }), invalid('stop'));
    await assert.rejects(engine.completions.create({ prompt, banned_strings: 'no' as unknown as string[] }), invalid('banned_strings'));
    await assert.rejects(engine.completions.create({ prompt, dry_sequence_breakers: [1] as unknown as string[] }), invalid('dry_sequence_breakers'));
    await assert.rejects(engine.completions.create({ prompt, banned_tokens: 7 as unknown as number[] }), invalid('banned_tokens'));
    await assert.rejects(engine.completions.create({ prompt, logit_bias: [1] as unknown as Record<string, number> }), invalid('logit_bias'));
    await assert.rejects(engine.completions.create({ prompt, sampler_order: 'top_k' as unknown as [] }), invalid('sampler_order'));
  });

  test('integer fields are refused outside their range instead of wrapping', async () => {
    const prompt = 'Hello';
    await assert.rejects(engine.completions.create({ prompt, seed: 2 ** 32 + 5 }), invalid('seed (or -1)'));
    await assert.rejects(engine.completions.create({ prompt, max_tokens: 2 ** 31 }), invalid('max_tokens'));
    await assert.rejects(engine.completions.create({ prompt, max_tokens: -1 }), invalid('max_tokens'));
    await assert.rejects(engine.completions.create({ prompt, top_k: 1.5 }), invalid('top_k'));
    await assert.rejects(engine.completions.create({ prompt, repeat_last_n: -2 }), invalid('repeat_last_n'));
    // The engine still serves, and the edges of the ranges are accepted.
    const r = await engine.completions.create({ prompt, seed: 2 ** 32 - 1, max_tokens: 2, top_k: 0, repeat_last_n: -1, stop: ['\n\n'] });
    assert.equal(r.usage.completion_tokens, 2);
  });
});
