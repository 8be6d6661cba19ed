// The hob CLI samples through the API's one sampling stack and generation
// loop: the same settings give the same text as the API; and it constrains
// output the way the API does (--grammar, --grammar-file, -j/--json-schema,
// --tools with tool calls in its --json output).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';

import { createEngine, type HobEngine } from '../../src/node/index.js';
import { testdataDir } from '../data.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';

const root = resolve(import.meta.dirname, '../..');
const tiny = join(testdataDir, 'llama-2-tiny-random.gguf');
const dir = mkdtempSync(join(tmpdir(), 'hob-cli-structured-'));

function hob(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('node', [join(root, 'bin/hob.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A small random model with the Qwen 3 chat template (its <tool_call> format). */
const qwenModel = join(dir, 'qwen-template.gguf');
before(() => {
  const w = buildRandomLlama(makeSpec('tiny', { weightType: 'f32', seed: 21 }));
  w.addKv('tokenizer.chat_template', readFileSync(join(root, 'test/fixtures/chat-templates/Qwen-Qwen3-0.6B.jinja'), 'utf8'), 'string');
  writeFileSync(qwenModel, w.toBytes());
});

let engine: HobEngine;
after(async () => engine?.unload());

test('hob complete gives the text the API gives for the same settings (seeded sampling, not greedy)', async () => {
  engine = await createEngine({ model: tiny, threads: 1 });
  const settings = [
    { flags: ['--temp', '0.9', '--seed', '7', '--top-k', '20'], api: { temperature: 0.9, seed: 7, top_k: 20 } },
    { flags: ['--temp', '1.3', '--seed', '11', '--top-p', '0.7', '--min-p', '0'], api: { temperature: 1.3, seed: 11, top_p: 0.7, min_p: 0 } },
    { flags: ['--temp', '0.7', '--seed', '3', '--repeat-penalty', '1.3', '--repeat-last-n', '16'], api: { temperature: 0.7, seed: 3, repeat_penalty: 1.3, repeat_last_n: 16 } },
  ];
  for (const s of settings) {
    const cli = await hob(['complete', tiny, '-p', 'Once upon a time', '-n', '24', '--ignore-eos', '--threads', '1', '--json', ...s.flags]);
    assert.equal(cli.code, 0, cli.stderr);
    const out = JSON.parse(cli.stdout) as { text: string; ids: number[] };
    const api = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 24, ignore_eos: true, ...s.api });
    assert.equal(out.text, api.choices[0].text, s.flags.join(' '));
    assert.equal(out.ids.length, api.usage.completion_tokens);
    assert.ok(new Set(out.ids).size > 4, 'a sampled continuation, not one repeated token');
  }
});

test('hob complete --grammar and --grammar-file constrain the text', async () => {
  const r = await hob(['complete', tiny, '-p', 'Code:', '-n', '16', '--json', '--grammar', 'root ::= "id-" [0-9]{4}']);
  assert.equal(r.code, 0, r.stderr);
  assert.match((JSON.parse(r.stdout) as { text: string }).text, /^id-[0-9]{4}$/);
  const file = join(dir, 'answer.gbnf');
  writeFileSync(file, '# yes or no\nroot ::= ("yes" | "no") "!"\n');
  const f = await hob(['complete', tiny, '-p', 'Well?', '-n', '8', '--grammar-file', file]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout.trim(), /^(yes|no)!$/);
  const bad = await hob(['complete', tiny, '-p', 'x', '--grammar', 'root ::= (']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /grammar\/parse/);
});

test('hob complete -j (--json-schema) writes JSON valid under the schema', async () => {
  const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 99 }, ok: { type: 'boolean' } }, required: ['n', 'ok'], additionalProperties: false };
  const r = await hob(['complete', tiny, '-p', 'Data:', '-n', '60', '--json', '-j', JSON.stringify(schema), '--seed', '4']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { text: string; finishReason: string };
  assert.equal(out.finishReason, 'stop', out.text);
  assert.ok(new Ajv2020().validate(schema, JSON.parse(out.text)), out.text);
});

test('hob complete --tools: the prompt goes through the chat template and --json carries the tool calls', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 10 } }, required: ['q'] } } }];
  const file = join(dir, 'tools.json');
  writeFileSync(file, JSON.stringify(tools));
  const r = await hob(['complete', qwenModel, '-p', 'Find cats', '-n', '200', '--json', '--tools', file, '--tool-choice', 'required', '--reasoning-budget', '0', '--temp', '0.5']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { tool_calls: { id: string; function: { name: string; arguments: string } }[]; finishReason: string; promptIds: number[] };
  // A random model keeps calling while parallel calls are allowed: the
  // budget may end it ('length'), after whole calls.
  assert.ok(['tool_calls', 'length'].includes(out.finishReason), r.stdout);
  assert.ok(out.tool_calls.length >= 1, r.stdout);
  for (const c of out.tool_calls) {
    assert.equal(c.function.name, 'lookup');
    assert.ok(new Ajv2020().validate(tools[0].function.parameters, JSON.parse(c.function.arguments)), c.function.arguments);
  }
  const plain = await hob(['complete', qwenModel, '-p', 'Find cats', '-n', '4', '--json']);
  assert.ok((JSON.parse(plain.stdout) as { promptIds: number[] }).promptIds.length < out.promptIds.length, 'the tools are in the prompt');
  const none = await hob(['complete', tiny, '-p', 'x', '--tool-choice', 'none']);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /--tool-choice needs --tools/);
});

test('hob run -j: each reply of a piped chat is JSON under the schema', async () => {
  const schema = { type: 'object', properties: { word: { enum: ['alpha', 'beta', 'gamma'] } }, required: ['word'], additionalProperties: false };
  const r = await hob(['run', tiny, '-j', JSON.stringify(schema), '-n', '40', '--threads', '1'], 'Pick one\nAnd again\n');
  assert.equal(r.code, 0, r.stderr);
  const replies = r.stdout.trim().split('\n').filter((l) => l.trim());
  assert.equal(replies.length, 2, r.stdout);
  for (const line of replies) assert.ok(['alpha', 'beta', 'gamma'].includes((JSON.parse(line) as { word: string }).word), line);
});

test('hob complete --json --logprobs N prints the entries the API gives', async () => {
  engine ??= await createEngine({ model: tiny, threads: 1 });
  const cli = await hob(['complete', tiny, '-p', 'Once upon a time', '-n', '12', '--temp', '0.9', '--seed', '5', '--threads', '1', '--json', '--logprobs', '3']);
  assert.equal(cli.code, 0, cli.stderr);
  const out = JSON.parse(cli.stdout) as { text: string; ids: number[]; logprobs: { id: number; logprob: number; top_logprobs: { id: number }[] }[] };
  const api = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0.9, seed: 5, logprobs: true, top_logprobs: 3 });
  assert.equal(out.text, api.choices[0].text);
  assert.deepEqual(out.logprobs.map((e) => e.id), out.ids.slice(0, out.logprobs.length));
  assert.deepEqual(out.logprobs, api.choices[0].logprobs!.content);
  assert.ok(out.logprobs.every((e) => e.top_logprobs.length === 3));
  const bad = await hob(['complete', tiny, '-p', 'x', '--logprobs', '21', '--json']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--logprobs must be a whole number from 0 to 20/);
  const plain = await hob(['complete', tiny, '-p', 'x', '--logprobs', '2']);
  assert.match(plain.stderr, /--logprobs needs --json/);
});
