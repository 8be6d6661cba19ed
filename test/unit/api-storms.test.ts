// The request queue under storms, and memory over many requests: hundreds of
// concurrent requests, a seeded half of them aborted at random moments
// (while queued, while prefilling, while streaming), busy refusals mixed
// in. Every request settles, each as its own outcome says (an aborted one
// with finish_reason 'abort', a finished one with the greedy text), the
// engine keeps serving, and 400 requests leave neither the worker's wasm
// heap nor this process's memory growing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, type HobEngine } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');
const SEED = 20260917;

/** mulberry32: a small seeded generator, printed on failure. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROMPTS = ['Once upon a time', 'The capital of France', 'In a hole in the ground', 'It was a dark and stormy night'];

describe(`request storms (seed ${SEED})`, { timeout: 180_000 }, () => {
  let engine: HobEngine;
  const greedy = new Map<string, string>();
  before(async () => {
    engine = await createEngine({ model: tinyPath, contextSize: 256, threads: 2 });
    for (const p of PROMPTS) {
      greedy.set(p, (await engine.completions.create({ prompt: p, max_tokens: 6, temperature: 0, ignore_eos: true })).choices[0].text);
    }
  });
  after(async () => {
    await engine?.unload();
  });

  test('200 concurrent requests, half aborted at random moments: all settle as their outcome says', async () => {
    const random = rng(SEED);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const prompt = PROMPTS[i % PROMPTS.length];
        const ac = new AbortController();
        const abortAt = random() < 0.5 ? random() * 800 : undefined;
        if (abortAt !== undefined) setTimeout(() => ac.abort(), abortAt);
        const stream = random() < 0.5;
        const req = { prompt, max_tokens: 6, temperature: 0, ignore_eos: true, signal: ac.signal };
        try {
          if (stream) {
            let text = '';
            let finish: string | null = null;
            for await (const c of await engine.completions.create({ ...req, stream: true })) {
              text += c.choices[0].text;
              finish = c.choices[0].finish_reason ?? finish;
            }
            return { prompt, text, finish, aborted: ac.signal.aborted };
          }
          const r = await engine.completions.create(req);
          return { prompt, text: r.choices[0].text, finish: r.choices[0].finish_reason as string | null, aborted: ac.signal.aborted };
        } catch (e) {
          return { prompt, error: e as { code?: string }, aborted: ac.signal.aborted };
        }
      }),
    );
    let finished = 0;
    let stopped = 0;
    for (const [i, o] of outcomes.entries()) {
      assert.ok(!('error' in o), `request ${i} failed: ${JSON.stringify(o)}`);
      if (o.finish === 'abort') {
        assert.ok(o.aborted, `request ${i} ended as aborted without an abort`);
        stopped++;
      } else {
        assert.equal(o.finish, 'length', `request ${i}`);
        assert.equal(o.text, greedy.get(o.prompt), `request ${i}: a finished request gives the greedy text`);
        finished++;
      }
    }
    assert.ok(finished > 50 && stopped > 20, `${finished} finished, ${stopped} stopped`);
    const after = await engine.completions.create({ prompt: PROMPTS[0], max_tokens: 6, temperature: 0, ignore_eos: true });
    assert.equal(after.choices[0].text, greedy.get(PROMPTS[0]));
  });

  test('failIfBusy requests among queued ones are refused at once with BusyError; the rest run in order', async () => {
    const order: number[] = [];
    const running = Array.from({ length: 10 }, (_, i) =>
      engine.completions.create({ prompt: PROMPTS[i % 4], max_tokens: 3, temperature: 0 }).then(() => order.push(i)),
    );
    const refused = await Promise.allSettled(Array.from({ length: 20 }, () => engine.completions.create({ prompt: 'x', max_tokens: 1, failIfBusy: true })));
    for (const r of refused) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'engine/busy');
    }
    await Promise.all(running);
    assert.deepEqual(order, [...Array(10).keys()]);
  });

  test('aborting every queued request at once leaves the engine idle and serving', async () => {
    const ac = new AbortController();
    const queued = Array.from({ length: 100 }, (_, i) =>
      engine.completions.create({ prompt: PROMPTS[i % 4], max_tokens: 200, ignore_eos: true, signal: ac.signal }),
    );
    setTimeout(() => ac.abort(), 30);
    const results = await Promise.all(queued);
    assert.ok(results.every((r) => r.choices[0].finish_reason === 'abort' || r.choices[0].finish_reason === 'length'));
    assert.ok(results.filter((r) => r.choices[0].finish_reason === 'abort').length >= 99);
    const r = await engine.completions.create({ prompt: PROMPTS[1], max_tokens: 6, temperature: 0, ignore_eos: true, failIfBusy: true });
    assert.equal(r.choices[0].text, greedy.get(PROMPTS[1]));
  });

  test('400 requests leave the wasm heap as it was and this process within a bounded growth', async () => {
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const stream = i % 2 === 0;
        const req = { prompt: `${PROMPTS[i % 4]} ${i}`, max_tokens: 4, temperature: 0.8, seed: i };
        if (stream) for await (const _ of await engine.completions.create({ ...req, stream: true }));
        else await engine.chat.completions.create({ ...req, messages: [{ role: 'user', content: req.prompt }] });
      }
    };
    await run(50); // warm-up: caches, JIT, the heap's high-water mark
    global.gc?.();
    const heap0 = (await engine.info()).load.wasmHeapBytes;
    const rss0 = process.memoryUsage().rss;
    await run(400);
    global.gc?.();
    const heap1 = (await engine.info()).load.wasmHeapBytes;
    const grewMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.equal(heap1, heap0, 'the wasm heap did not grow');
    assert.ok(grewMb < 64, `this process grew by ${grewMb.toFixed(1)} MiB over 400 requests`);
  });
});
