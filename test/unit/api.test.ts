// The public API in Node (createEngine runs the browser's worker code in a
// worker thread): OpenAI-shaped chat and text completions, streaming that
// reassembles to the whole result, stop and banned strings, abort between
// tokens with the cache left usable, the request queue and typed errors.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { AbortError, BusyError, type ChatCompletionChunk, type CompletionChunk, createEngine, Engine, generate, type HobEngine, loadModelFile, type LoadProgressEvent, ModelFormatError, Sequence, Session } from '../../src/node/index.js';
import { BUILTIN_TEMPLATES } from '../../src/chat/template.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';
import { testdataDir as testdata } from '../data.js';

const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');
const prompt = 'Once upon a time, there was a little girl who lived in a house';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** Greedy text from the engine directly (C++ sampler), the reference for the API's TypeScript chain. */
async function directGreedy(nPredict: number): Promise<string> {
  const engine = await Engine.create({ threads: 1 });
  try {
    const model = await loadModelFile(engine, tinyPath);
    const r = await generate(model, new Sequence(Session.create(model, { nCtx: 256 })), {
      temperature: 0, promptIds: model.tokenize(prompt), maxTokens: nPredict, ignoreEos: true,
    });
    return r.text;
  } finally {
    engine.dispose();
  }
}

describe('createEngine in Node on the llama.cpp-written model', () => {
  let engine: HobEngine;
  let greedy64: string;

  before(async () => {
    [engine, greedy64] = await Promise.all([
      createEngine({ model: tinyPath, contextSize: 256, threads: 2 }),
      directGreedy(64),
    ]);
  });
  after(async () => {
    await engine?.unload();
  });

  test('info reports the model, the context and the load', async () => {
    const info = await engine.info();
    assert.equal(info.model.architecture, 'llama');
    assert.equal(info.model.nVocab, 32000);
    assert.equal(info.model.nCtxTrain, 4096);
    assert.equal(info.contextSize, 256);
    assert.equal(info.threads, 2);
    assert.equal(info.variant, 'mt');
    assert.deepEqual(info.shift, { mode: 'rotate', checkpoints: 0 });
    assert.equal(info.load.gpuLayers, 0);
    assert.ok(info.load.cpuBytes > 1_000_000 && info.load.wasmHeapBytes >= info.load.cpuBytes);
  });

  test('tokenize and detokenize round-trip through the worker', async () => {
    assert.deepEqual(await engine.tokenize('Hello world', { addSpecial: false }), [15043, 3186]);
    assert.equal(await engine.detokenize([15043, 3186]), 'Hello world');
    await assert.rejects(engine.detokenize([32000]), { code: 'argument/invalid' });
  });

  test('greedy text completion equals the engine greedy output', async () => {
    const r = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, ignore_eos: true });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].text, greedy64);
    assert.equal(r.usage.completion_tokens, 64);
    assert.equal(r.usage.prompt_tokens, (await engine.tokenize(prompt)).length);
  });

  test('streaming chunks reassemble to the non-streaming result; the last carries finish_reason and usage', async () => {
    const req = { prompt, max_tokens: 48, temperature: 0.9, seed: 42, ignore_eos: true };
    const whole = await engine.completions.create(req);
    const chunks = await collect<CompletionChunk>(await engine.completions.create({ ...req, stream: true }));
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), whole.choices[0].text);
    const last = chunks.at(-1)!;
    assert.equal(last.choices[0].finish_reason, 'length');
    assert.equal(last.usage?.completion_tokens, 48);
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && !c.usage));
    assert.ok(chunks.length > 10, 'text arrives in many chunks');
    // The same seed gives the same text; another seed another.
    assert.equal((await engine.completions.create(req)).choices[0].text, whole.choices[0].text);
    assert.notEqual((await engine.completions.create({ ...req, seed: 43 })).choices[0].text, whole.choices[0].text);
  });

  test('a stop string ends the text before it, and no part of it is streamed', async () => {
    // A stop string from the middle of the greedy output.
    const stop = greedy64.slice(40, 46);
    const expected = greedy64.slice(0, greedy64.indexOf(stop));
    const r = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, stop: [stop, 'never appears'], ignore_eos: true });
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].text, expected);
    const chunks = await collect(await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, stop, ignore_eos: true, stream: true }));
    const streamed = chunks.map((c) => c.choices[0].text);
    assert.equal(streamed.join(''), expected);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'stop');
  });

  test('a banned string never appears: the engine backs off and resamples', async () => {
    const banned = greedy64.slice(20, 25);
    assert.ok(greedy64.includes(banned));
    const req = { prompt, max_tokens: 64, temperature: 0, banned_strings: [banned], ignore_eos: true };
    const r = await engine.completions.create(req);
    assert.ok(!r.choices[0].text.includes(banned), `"${banned}" was generated`);
    assert.equal(r.usage.completion_tokens, 64);
    // Before the banned string the output is the greedy one.
    const head = greedy64.slice(0, greedy64.indexOf(banned));
    assert.ok(r.choices[0].text.length > 0);
    assert.equal(r.choices[0].text.slice(0, Math.max(0, head.length - 12)), head.slice(0, Math.max(0, head.length - 12)));
    const chunks = await collect(await engine.completions.create({ ...req, stream: true }));
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), r.choices[0].text);
  });

  test('abort stops within a token, finishes with "abort", and the next request still matches a fresh run', async () => {
    const controller = new AbortController();
    const stream = await engine.completions.create({ prompt, max_tokens: 200, temperature: 0, ignore_eos: true, stream: true, signal: controller.signal });
    const chunks: CompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 3) controller.abort();
    }
    const last = chunks.at(-1)!;
    assert.equal(last.choices[0].finish_reason, 'abort');
    // This model makes a token in about 2 ms, so chunks made before the abort
    // may still be on their way to this thread; the browser test measures the
    // stop itself on a slower model. Here: it stops long before 200.
    assert.ok(last.usage!.completion_tokens < 40, `${last.usage!.completion_tokens} tokens after abort at 3`);
    const after = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, ignore_eos: true });
    assert.equal(after.choices[0].text, greedy64);
    assert.ok(after.usage.cached_tokens > 0, 'the prompt was reused from the cache');
  });

  test('an aborted signal before the turn gives an empty "abort" result without running', async () => {
    const r = await engine.completions.create({ prompt, max_tokens: 8, signal: AbortSignal.abort() });
    assert.equal(r.choices[0].finish_reason, 'abort');
    assert.equal(r.choices[0].text, '');
  });

  test('leaving a stream early stops its generation; a queued request aborted while waiting never runs', async () => {
    const stream = await engine.completions.create({ prompt, max_tokens: 200, temperature: 0, ignore_eos: true, stream: true });
    const controller = new AbortController();
    const queued = engine.completions.create({ prompt, max_tokens: 8, signal: controller.signal });
    controller.abort();
    let n = 0;
    for await (const _ of stream) if (++n === 2) break;
    // contextUsed waits for the stream's request to end: it ended long before 200 tokens.
    const promptTokens = (await engine.tokenize(prompt)).length;
    const used = await engine.contextUsed();
    assert.ok(used < promptTokens + 20, `${used - promptTokens} tokens generated after leaving the stream at 2`);
    const q = await queued;
    assert.equal(q.choices[0].finish_reason, 'abort');
    assert.equal(q.usage.completion_tokens, 0);
    const next = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, ignore_eos: true });
    assert.equal(next.choices[0].text, greedy64);
    // The cache holds the prompt and the output but its last token.
    assert.equal(await engine.contextUsed(), next.usage.prompt_tokens + 63);
  });

  test('requests queue in order; failIfBusy fails fast with BusyError', async () => {
    const order: number[] = [];
    const a = engine.completions.create({ prompt, max_tokens: 24, temperature: 0, ignore_eos: true }).then((r) => (order.push(1), r));
    const b = engine.completions.create({ prompt: 'The quick brown fox', max_tokens: 8, temperature: 0, ignore_eos: true }).then((r) => (order.push(2), r));
    await assert.rejects(engine.completions.create({ prompt, max_tokens: 4, failIfBusy: true }), (e: unknown) => {
      assert.ok(e instanceof BusyError);
      assert.equal((e as BusyError).code, 'engine/busy');
      return true;
    });
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(order, [1, 2]);
    assert.equal(ra.choices[0].text, greedy64.slice(0, ra.choices[0].text.length));
    assert.equal(rb.usage.completion_tokens, 8);
  });

  test('every sampler runs end to end and a seed reproduces the text', async () => {
    const settings = [
      { mirostat: 2 as const, mirostat_tau: 4, temperature: 1 },
      { mirostat: 1 as const, temperature: 0.9 },
      { dry_multiplier: 0.8, xtc_probability: 0.5, xtc_threshold: 0.1, typical_p: 0.9, tfs_z: 0.95, top_a: 0.1, repeat_penalty: 1.2, repeat_penalty_slope: 0.5 },
      { sampler_order: ['temperature' as const, 'top_k' as const], temperature: 1.2, logit_bias: { '13': 5 }, banned_tokens: [29892] },
    ];
    for (const s of settings) {
      const req = { prompt, max_tokens: 24, seed: 99, ignore_eos: true, ...s };
      const a = await engine.completions.create(req);
      const b = await engine.completions.create(req);
      assert.equal(a.usage.completion_tokens, 24, JSON.stringify(s));
      assert.equal(a.choices[0].text, b.choices[0].text, JSON.stringify(s));
    }
  });

  test('bad sampler values are typed errors', async () => {
    await assert.rejects(engine.completions.create({ prompt, top_p: 2 }), { code: 'argument/invalid', message: /top_p/ });
    await assert.rejects(engine.completions.create({ prompt, logit_bias: { '99999': 1 } }), { code: 'argument/invalid' });
  });
});

describe('chat completions with the model chat template', () => {
  let engine: HobEngine;
  before(async () => {
    const w = buildRandomLlama(makeSpec('tiny', { weightType: 'q8_0', seed: 3 }));
    w.addKv('tokenizer.chat_template', BUILTIN_TEMPLATES.chatml, 'string');
    engine = await createEngine({ model: { bytes: w.toBytes() }, contextSize: 512, threads: 1, onProgress: (p) => progress.push(p) });
  });
  const progress: LoadProgressEvent[] = [];

  test('loading reports progress up to the whole file', async () => {
    const last = progress.at(-1)!;
    assert.ok(progress.length >= 1);
    assert.equal(last.phase, 'load');
    assert.equal(last.loaded, last.total);
    assert.ok(progress.every((p, i) => i === 0 || p.loaded >= progress[i - 1].loaded));
  });
  after(async () => {
    await engine?.unload();
  });

  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Tell me a story.' },
  ];

  test('the prompt is the template rendering, and the reply is OpenAI-shaped', async () => {
    const rendered = await engine.applyChatTemplate(messages);
    assert.equal(rendered, '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n');
    assert.equal((await engine.info()).model.chatTemplate, BUILTIN_TEMPLATES.chatml);
    const r = await engine.chat.completions.create({ messages, max_tokens: 16, temperature: 0, ignore_eos: true });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.prompt_tokens, (await engine.tokenize(rendered)).length);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 16);

    const chunks = await collect<ChatCompletionChunk>(await engine.chat.completions.create({ messages, max_tokens: 16, temperature: 0, ignore_eos: true, stream: true }));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), r.choices[0].message.content);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'length');
  });

  test('the next turn reuses the cached conversation', async () => {
    const first = await engine.chat.completions.create({ messages, max_tokens: 8, temperature: 0, ignore_eos: true });
    const next = await engine.chat.completions.create({
      messages: [...messages, first.choices[0].message, { role: 'user', content: 'Another.' }],
      max_tokens: 8, temperature: 0, ignore_eos: true,
    });
    assert.ok(next.usage.cached_tokens >= first.usage.prompt_tokens, `${next.usage.cached_tokens} cached of ${next.usage.prompt_tokens}`);
    assert.ok((await engine.contextUsed()) > next.usage.prompt_tokens);
    await engine.resetContext();
    assert.equal(await engine.contextUsed(), 0);
  });

  test('malformed messages are argument errors', async () => {
    await assert.rejects(engine.chat.completions.create({ messages: [] }), { code: 'argument/invalid' });
    await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'robot' as 'user', content: 'x' }] }), { code: 'argument/invalid' });
  });
});

describe('createEngine errors', () => {
  test('a malformed model is a ModelFormatError with its code, across the worker thread', async () => {
    await assert.rejects(createEngine({ model: { bytes: new TextEncoder().encode('GGUF\x09\x00\x00\x00 not really') } }), (e: unknown) => {
      assert.ok(e instanceof ModelFormatError);
      assert.equal((e as ModelFormatError).code, 'gguf/bad-version');
      return true;
    });
  });

  test('an aborted signal is an AbortError', async () => {
    await assert.rejects(createEngine({ model: tinyPath, signal: AbortSignal.abort() }), (e: unknown) => e instanceof AbortError && e.code === 'request/aborted');
  });

  test('a missing file names the path', async () => {
    await assert.rejects(createEngine({ model: join(testdata, 'no-such-model.gguf') }), { code: 'argument/invalid', message: /no-such-model/ });
  });
});

describe('context shift through the public API', () => {
  test('a generation past the context shifts it, reports every shift, and gives the tokens of shifting by hand', async () => {
    const contextShift = { nKeep: 4, nDiscard: 20 };
    const engine = await createEngine({ model: tinyPath, contextSize: 64, threads: 1, contextShift });
    const shifts: { kind: string; position: number; evicted: number; nPast: number }[] = [];
    const off = engine.on('shift', (e) => shifts.push(e));
    try {
      const r = await engine.completions.create({ prompt, max_tokens: 150, temperature: 0, ignore_eos: true });
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.equal(r.usage.completion_tokens, 150);
      // The same generation on the engine directly, through a Sequence with the same options.
      const direct = await Engine.create({ threads: 1 });
      try {
        const model = await loadModelFile(direct, tinyPath);
        const seq = new Sequence(Session.create(model, { nCtx: 64 }), { contextShift });
        const want = await generate(model, seq, { temperature: 0, promptIds: model.tokenize(prompt), maxTokens: 150, ignoreEos: true });
        assert.equal(r.choices[0].text, want.text);
      } finally {
        direct.dispose();
      }
      assert.ok(shifts.length >= 5, `${shifts.length} shifts`);
      for (const s of shifts) assert.deepEqual({ kind: s.kind, position: s.position, evicted: s.evicted }, { kind: 'overflow', position: 4, evicted: 20 });
      assert.ok(shifts.every((s) => s.nPast === 44), JSON.stringify(shifts));
      assert.ok((await engine.contextUsed()) <= 64);
    } finally {
      off();
      await engine.unload();
    }
  });

  test('with contextShift false a full context is a ContextFullError, and the engine stays usable', async () => {
    const engine = await createEngine({ model: tinyPath, contextSize: 32, threads: 1, contextShift: false });
    try {
      await assert.rejects(engine.completions.create({ prompt, max_tokens: 100, temperature: 0, ignore_eos: true }), {
        name: 'ContextFullError', code: 'context/overflow',
      });
      const r = await engine.completions.create({ prompt, max_tokens: 4, temperature: 0, ignore_eos: true });
      assert.equal(r.usage.completion_tokens, 4);
    } finally {
      await engine.unload();
    }
  });
});
