// Log-probabilities (OpenAI's logprobs / top_logprobs) through the public
// API on a tiny random model: one entry per generated token whose bytes
// make up the text, the most likely tokens in order, the same entries
// streamed and not, the raw model's distribution under a grammar, and typed
// errors for bad arguments. test/oracle/logprobs.test.ts holds the values
// to llama.cpp's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createEngine, type CompletionChunk, type HobEngine, type TokenLogprob } from '../../src/node/index.js';
import { tokenLogprob } from '../../src/sampling/logprobs.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';

const bytesOf = (entries: TokenLogprob[]) => Buffer.from(entries.flatMap((e) => e.bytes)).toString('utf8');

function checkEntries(entries: TokenLogprob[], top: number): void {
  for (const [i, e] of entries.entries()) {
    assert.ok(e.logprob <= 0 && Number.isFinite(e.logprob), `entry ${i}: logprob ${e.logprob}`);
    assert.equal(e.token, Buffer.from(e.bytes).toString('utf8'));
    assert.equal(e.top_logprobs.length, top);
    for (let k = 1; k < e.top_logprobs.length; k++) assert.ok(e.top_logprobs[k - 1].logprob >= e.top_logprobs[k].logprob, `entry ${i}: top out of order`);
    const same = e.top_logprobs.find((t) => t.id === e.id);
    if (same) assert.equal(same.logprob, e.logprob);
    else if (top > 0) assert.ok(e.logprob <= e.top_logprobs[top - 1].logprob, `entry ${i}: a token more likely than the top ${top} is missing from it`);
  }
}

describe('tokenLogprob', () => {
  const bytes = (id: number) => new TextEncoder().encode(`<${id}>`);
  test('is the log-softmax of the logits, with the most likely first and ties by lower id', () => {
    const logits = Float32Array.from([0.5, 2, -1, 2, 7, 3, -Infinity, 0.5]);
    const e = tokenLogprob(logits, 2, 5, bytes);
    const z = Math.log([...logits].reduce((s, l) => s + Math.exp(l), 0));
    assert.ok(Math.abs(e.logprob - (-1 - z)) < 1e-12);
    assert.deepEqual(e.top_logprobs.map((t) => t.id), [4, 5, 1, 3, 0]);
    assert.ok(Math.abs(e.top_logprobs.reduce((s, t) => s + Math.exp(t.logprob), 0) + Math.exp(-1 - z) + Math.exp(0.5 - z) - 1) < 1e-9);
    assert.equal(e.token, '<2>');
    assert.equal(tokenLogprob(logits, 6, 0, bytes).logprob, -Infinity);
    assert.deepEqual(tokenLogprob(logits, 0, 0, bytes).top_logprobs, []);
    assert.equal(tokenLogprob(logits, 0, 20, bytes).top_logprobs.length, logits.length);
  });

  test('finds the same top as a full sort on a large random vocabulary', () => {
    let s = 7;
    const logits = Float32Array.from({ length: 5000 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 20 - 10);
    const sorted = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, 20);
    assert.deepEqual(tokenLogprob(logits, 0, 20, bytes).top_logprobs.map((t) => t.id), sorted);
  });
});

describe('logprobs through the API', () => {
  let engine: HobEngine;
  before(async () => {
    const model = buildRandomLlama(makeSpec('tiny', { weightType: 'f32', seed: 21 })).toBytes();
    engine = await createEngine({ model: { bytes: model }, contextSize: 512, threads: 1 });
  });
  after(async () => engine?.unload());

  test('a completion has one entry per token, whose bytes are its text; streamed entries equal them', async () => {
    const req = { prompt: 'Once upon a time', seed: 3, temperature: 0.9, max_tokens: 24, logprobs: true, top_logprobs: 4 } as const;
    const r = await engine.completions.create(req);
    const entries = r.choices[0].logprobs?.content;
    assert.ok(entries);
    assert.equal(entries.length, r.usage.completion_tokens);
    assert.equal(bytesOf(entries), r.choices[0].text);
    checkEntries(entries, 4);

    const streamed: TokenLogprob[] = [];
    let text = '';
    for await (const c of (await engine.completions.create({ ...req, stream: true })) as AsyncIterable<CompletionChunk>) {
      text += c.choices[0].text;
      streamed.push(...(c.choices[0].logprobs?.content ?? []));
    }
    assert.equal(text, r.choices[0].text);
    assert.deepEqual(streamed, entries);
  });

  test('greedy decoding draws the most likely token at every step; no top_logprobs gives none', async () => {
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 16, logprobs: true,
    });
    const entries = r.choices[0].logprobs!.content;
    assert.equal(entries.length, r.usage.completion_tokens);
    checkEntries(entries, 0);
    const top1 = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 16, logprobs: true, top_logprobs: 1,
    });
    for (const e of top1.choices[0].logprobs!.content) assert.equal(e.id, e.top_logprobs[0].id);
    const none = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 4 });
    assert.equal(none.choices[0].logprobs, undefined);
  });

  test("under a grammar the entries are the model's own distribution, not the grammar's", async () => {
    const r = await engine.completions.create({
      prompt: 'Pick:', grammar: 'root ::= "yes" | "no"', temperature: 0, logprobs: true, top_logprobs: 3, max_tokens: 8,
    });
    assert.match(r.choices[0].text, /^(yes|no)$/);
    const entries = r.choices[0].logprobs!.content;
    assert.equal(bytesOf(entries), r.choices[0].text);
    // The random model prefers other tokens: some drawn ones are not its first choice.
    assert.ok(entries.some((e) => e.id !== e.top_logprobs[0].id));
    checkEntries(entries, 3);
  });

  test('a stop string cuts the entries with the text', async () => {
    const base = await engine.completions.create({ prompt: 'Once upon a time', seed: 5, temperature: 0.9, max_tokens: 24, logprobs: true });
    const text = base.choices[0].text;
    const stop = text.slice(8, 10);
    assert.ok(stop.length === 2 && text.indexOf(stop) === 8);
    const r = await engine.completions.create({ prompt: 'Once upon a time', seed: 5, temperature: 0.9, max_tokens: 24, logprobs: true, stop });
    assert.equal(r.choices[0].text, text.slice(0, 8));
    const entries = r.choices[0].logprobs!.content;
    assert.ok(bytesOf(entries).startsWith(r.choices[0].text) && bytesOf(entries).length < r.choices[0].text.length + 8);
    assert.deepEqual(entries, base.choices[0].logprobs!.content.slice(0, entries.length));
  });

  test('bad arguments are typed errors', async () => {
    await assert.rejects(engine.completions.create({ prompt: 'x', logprobs: true, top_logprobs: 21 }), { code: 'argument/invalid' });
    await assert.rejects(engine.completions.create({ prompt: 'x', logprobs: true, top_logprobs: 1.5 }), { code: 'argument/invalid' });
    await assert.rejects(engine.completions.create({ prompt: 'x', top_logprobs: 2 }), { code: 'argument/invalid' });
  });
});
