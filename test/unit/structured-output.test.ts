// Structured output through the public API, end to end on small random
// models (whose unconstrained choices are almost never valid, so the
// grammar does all the work): GBNF grammars, JSON schemas and JSON objects
// in text and chat completions, streamed and not; OpenAI tool calls in the
// Qwen 3 / Hermes format with every tool_choice; reasoning kept apart from
// the answer and held to a budget; typed errors for bad grammars and
// schemas.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import { createEngine, type ChatCompletionChunk, type HobEngine, type ToolCall, type ToolDefinition } from '../../src/node/index.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';

const templates = resolve(import.meta.dirname, '../fixtures/chat-templates');

/** A tiny random model, with a chat template when one is named. */
function model(template?: string): Uint8Array {
  const w = buildRandomLlama(makeSpec('tiny', { weightType: 'f32', seed: 21 }));
  if (template) w.addKv('tokenizer.chat_template', readFileSync(join(templates, template), 'utf8'), 'string');
  return w.toBytes();
}

const ajv = new Ajv2020({ strict: false });
addFormats(ajv);

const WEATHER: ToolDefinition = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};
const TIME: ToolDefinition = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', maxLength: 8 } }, required: ['zone'] } },
};

describe('structured output (no chat template: the built-in one)', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: { bytes: model() }, contextSize: 512, threads: 1 });
  });
  after(async () => engine?.unload());

  test('a GBNF grammar decides the text of a completion, streamed and not, for every seed', async () => {
    const grammar = 'root ::= ("yes" | "no" | "maybe") "." [ ] [0-9]{2,3}';
    for (let seed = 0; seed < 6; seed++) {
      const r = await engine.completions.create({ prompt: 'Is it?', grammar, seed, temperature: 1.2, max_tokens: 32 });
      assert.match(r.choices[0].text, /^(yes|no|maybe)\. [0-9]{2,3}$/, `seed ${seed}`);
      assert.equal(r.choices[0].finish_reason, 'stop');
      let streamed = '';
      for await (const c of await engine.completions.create({ prompt: 'Is it?', grammar, seed, temperature: 1.2, max_tokens: 32, stream: true })) {
        streamed += c.choices[0].text;
      }
      assert.equal(streamed, r.choices[0].text, `seed ${seed}: the stream gives the same text`);
    }
  });

  test('a grammar holds under every stage of the sampler chain: penalties, DRY, top-k/p, min-p, typical, TFS, top-A, XTC, mirostat', async () => {
    const grammar = 'root ::= [a-z]{3,6} (" " [a-z]{3,6}){2,4} "."';
    const chains = [
      { repeat_penalty: 1.5, repeat_last_n: 32, presence_penalty: 0.5, frequency_penalty: 0.5 },
      { dry_multiplier: 1.2, dry_base: 1.75, dry_allowed_length: 1 },
      { top_k: 5, top_p: 0.6, min_p: 0.2 },
      { typical_p: 0.5, tfs_z: 0.8, top_a: 0.2 },
      { xtc_probability: 1, xtc_threshold: 0.05, top_k: 0, top_p: 1, min_p: 0 },
      { mirostat: 1 as const, mirostat_tau: 3 },
      { mirostat: 2 as const, mirostat_tau: 4, temperature: 1.4 },
    ];
    for (const [i, chain] of chains.entries()) {
      const r = await engine.completions.create({ prompt: 'Words:', grammar, seed: 40 + i, max_tokens: 60, ...chain });
      assert.match(r.choices[0].text, /^[a-z]{3,6}( [a-z]{3,6}){2,4}\.$/, JSON.stringify(chain));
      assert.equal(r.choices[0].finish_reason, 'stop', JSON.stringify(chain));
    }
  });

  test('response_format json_schema: every reply parses and validates, through nesting, enums and patterns', async () => {
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'integer', minimum: 0, maximum: 999 },
        tag: { type: 'string', pattern: '^[a-z]{2,4}-[0-9]$' },
        kind: { enum: ['a', 'b', 'c'] },
        items: { type: 'array', items: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }, maxItems: 2 },
      },
      required: ['id', 'tag', 'kind', 'items'],
      additionalProperties: false,
    };
    const validate = ajv.compile(schema);
    for (let seed = 0; seed < 8; seed++) {
      const r = await engine.chat.completions.create({
        messages: [{ role: 'user', content: 'A record, please.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'record', schema } },
        seed, temperature: 1, max_tokens: 200,
      });
      const text = r.choices[0].message.content ?? '';
      assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seed}: ${text}`);
      const value = JSON.parse(text) as unknown;
      assert.ok(validate(value), `seed ${seed}: ${text} ${JSON.stringify(validate.errors)}`);
    }
  });

  test('response_format json_object: a JSON object (closing characters made likelier, so it ends inside the budget)', async () => {
    const bias: Record<string, number> = {};
    for (const c of ['}', '"', ']', '0']) for (const id of await engine.tokenize(c, { addSpecial: false })) bias[String(id)] = 4;
    for (let seed = 0; seed < 4; seed++) {
      const r = await engine.chat.completions.create({
        messages: [{ role: 'user', content: 'JSON!' }], response_format: { type: 'json_object' }, logit_bias: bias, seed, max_tokens: 300,
      });
      const text = r.choices[0].message.content ?? '';
      assert.equal(r.choices[0].finish_reason, 'stop', text);
      const v = JSON.parse(text) as unknown;
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), text);
    }
  });

  test('bad grammars and schemas are typed errors naming what is wrong, and the engine serves the next request', async () => {
    await assert.rejects(engine.completions.create({ prompt: 'x', grammar: 'root ::= "a" |\n  bogus(' }), (e: unknown) => {
      const err = e as { code?: string; details?: { line?: number; column?: number } };
      return err.code === 'grammar/parse' && err.details?.line === 2 && typeof err.details.column === 'number';
    });
    await assert.rejects(engine.completions.create({ prompt: 'x', grammar: 'root ::= undefined-rule' }), { code: 'grammar/parse' });
    await assert.rejects(
      engine.chat.completions.create({
        messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'array', uniqueItems: true } } },
      }),
      (e: unknown) => (e as { code?: string; details?: { keyword?: string } }).code === 'grammar/schema' && (e as { details: { keyword: string } }).details.keyword === 'uniqueItems',
    );
    await assert.rejects(
      engine.completions.create({ prompt: 'x', grammar: 'root ::= "a"', response_format: { type: 'json_object' } }),
      { code: 'argument/invalid' },
    );
    const ok = await engine.completions.create({ prompt: 'x', grammar: 'root ::= "ok"', max_tokens: 8 });
    assert.equal(ok.choices[0].text, 'ok');
  });
});

describe('tool calls in the Qwen 3 format (a real template)', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: { bytes: model('Qwen-Qwen3-0.6B.jinja') }, contextSize: 1024, threads: 1 });
  });
  after(async () => engine?.unload());

  // A random model takes every whitespace the grammars allow between JSON
  // tokens; fewer tabs and newlines keep its calls inside the budget.
  const quiet: Record<string, number> = {};
  before(async () => {
    for (const c of ['\t', '\n']) for (const id of await engine.tokenize(c, { addSpecial: false })) quiet[String(id)] = -8;
    // End of generation likelier: once a call is whole, the reply may end.
    quiet['2'] = 4;
  });

  const validArgs = (call: ToolCall, tool: ToolDefinition) => {
    const ok = ajv.validate(tool.function.parameters as object, JSON.parse(call.function.arguments));
    assert.ok(ok, `${call.function.arguments}: ${JSON.stringify(ajv.errors)}`);
  };

  test("tool_choice 'required': the reply is a tool call whose arguments validate, finish_reason 'tool_calls'", async () => {
    for (let seed = 0; seed < 4; seed++) {
      const r = await engine.chat.completions.create({
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [WEATHER, TIME], tool_choice: 'required', parallel_tool_calls: false, enable_thinking: false,
        seed, temperature: 0.9, max_tokens: 400, logit_bias: quiet,
      });
      const m = r.choices[0].message;
      assert.equal(r.choices[0].finish_reason, 'tool_calls', `seed ${seed}: ${JSON.stringify(m)}`);
      assert.equal(m.tool_calls?.length, 1);
      assert.equal(m.content, null, 'a reply that only calls has no content');
      const call = m.tool_calls![0];
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_/);
      validArgs(call, call.function.name === 'get_weather' ? WEATHER : TIME);
    }
  });

  test('parallel calls: each call the reply holds is whole and valid', async () => {
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Weather and time in Rome?' }],
      tools: [WEATHER, TIME], tool_choice: 'required', enable_thinking: false, seed: 9, temperature: 0.9, max_tokens: 400, logit_bias: quiet,
    });
    const calls = r.choices[0].message.tool_calls ?? [];
    assert.ok(calls.length >= 1, JSON.stringify(r.choices[0].message));
    for (const call of calls) validArgs(call, call.function.name === 'get_weather' ? WEATHER : TIME);
    assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'every call has its own id');
  });

  test('a named function and parallel_tool_calls false: one call, to that function; the stream carries the same call', async () => {
    const req = {
      messages: [{ role: 'user' as const, content: 'Time in Tokyo?' }],
      tools: [WEATHER, TIME], tool_choice: { type: 'function' as const, function: { name: 'get_time' } },
      parallel_tool_calls: false, enable_thinking: false, seed: 5, temperature: 0.8, max_tokens: 400, logit_bias: quiet,
    };
    const r = await engine.chat.completions.create(req);
    const calls = r.choices[0].message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    assert.equal(calls[0].function.name, 'get_time');
    validArgs(calls[0], TIME);
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await engine.chat.completions.create({ ...req, stream: true })) chunks.push(c);
    const deltas = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    assert.equal(deltas.length, 1, 'a call is emitted once, whole');
    assert.deepEqual({ name: deltas[0].function?.name, arguments: deltas[0].function?.arguments }, { name: 'get_time', arguments: calls[0].function.arguments });
    assert.equal(deltas[0].index, 0);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  });

  test("tool_choice 'auto' leaves a plain answer free, and a call's result goes back through the template", async () => {
    const first = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [WEATHER], tool_choice: 'required', enable_thinking: false, seed: 2, max_tokens: 400, logit_bias: quiet,
    });
    const call = first.choices[0].message.tool_calls![0];
    const follow = await engine.chat.completions.create({
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temp": -3}' },
      ],
      tools: [WEATHER], tool_choice: 'auto', enable_thinking: false, seed: 2, max_tokens: 12,
    });
    const prompt = await engine.applyChatTemplate(
      [{ role: 'user', content: 'Weather in Oslo?' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"temp": -3}' }],
    );
    assert.match(prompt, /<tool_response>\s*\{"temp": -3\}\s*<\/tool_response>/);
    assert.match(prompt, /"name": "get_weather"/);
    // A random model rarely writes "<tool_call>" unprompted: the answer is text.
    assert.equal(typeof follow.choices[0].message.content, 'string');
    assert.notEqual(follow.choices[0].finish_reason, 'abort');
  });
});

describe('reasoning (DeepSeek R1 distill: the prompt opens the thought)', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: { bytes: model('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja') }, contextSize: 1024, threads: 1 });
  });
  after(async () => engine?.unload());

  test('max_reasoning_tokens closes the thought: reasoning_content apart from content, then a JSON answer under its schema', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['answer'], additionalProperties: false };
    const chunks: ChatCompletionChunk[] = [];
    const req = {
      messages: [{ role: 'user' as const, content: 'Pick a digit.' }],
      response_format: { type: 'json_schema' as const, json_schema: { name: 'digit', schema } },
      max_reasoning_tokens: 6, seed: 4, temperature: 0.7, max_tokens: 120,
    };
    for await (const c of await engine.chat.completions.create({ ...req, stream: true })) chunks.push(c);
    const reasoning = chunks.map((c) => c.choices[0].delta.reasoning_content ?? '').join('');
    const content = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    assert.ok(reasoning.length > 0, 'the thought is streamed as reasoning');
    assert.ok(!reasoning.includes('</think>') && !content.includes('</think>'), 'the tags are not text');
    assert.ok(ajv.validate(schema, JSON.parse(content)), content);
    const whole = await engine.chat.completions.create(req);
    assert.equal(whole.choices[0].message.reasoning_content, reasoning);
    assert.equal(whole.choices[0].message.content, content);
    // The budget's tokens count as reasoning, and the forced closing text's
    // until its tag is whole (this vocabulary spells </think> in pieces).
    const forced = (await engine.tokenize('\n</think>\n\n', { addSpecial: false })).length;
    const spent = whole.usage.completion_tokens_details?.reasoning_tokens ?? -1;
    assert.ok(spent >= 6 && spent <= 6 + forced, `${spent} reasoning tokens for a budget of 6 (+ ${forced} forced)`);
    assert.ok(spent < whole.usage.completion_tokens);
  });
});
