// engine.embeddings and engine.rerank through the worker as a page uses them
// (createEngine in Node), and `hob embed` / `hob rerank`: OpenAI's and
// llama.cpp's /rerank shapes, base64 vectors, Matryoshka dimensions,
// packed batches agreeing with single inputs, and the typed refusals. The
// values themselves are checked against llama.cpp in
// test/oracle/embeddings.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { float32Base64, rerankResponse } from '../../src/api/vectors.js';
import { ContextFullError, createEngine, type HobEngine, type HobError, UnsupportedModelError } from '../../src/node/index.js';
import { makeEmbedSpec, writeEmbedModel } from '../gguf/embed-models.js';
import { embedTokenizer } from '../gguf/embed-vocabs.js';

const bert = () => writeEmbedModel(makeEmbedSpec('bert'), embedTokenizer('wordpiece'));
const reranker = () => writeEmbedModel(makeEmbedSpec('bge-reranker'), embedTokenizer('wordpiece'));

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i], 0);
}

test('float32Base64 is the little-endian float32 bytes in base64', () => {
  const v = new Float32Array([1, -2.5, 0.1]);
  const bytes = Buffer.from(float32Base64(v), 'base64');
  assert.equal(bytes.length, 12);
  assert.deepEqual([0, 1, 2].map((i) => bytes.readFloatLE(i * 4)), Array.from(v));
});

test('rerankResponse sorts by score (ties in request order), keeps top_n and the documents when asked', () => {
  const r = rerankResponse({ query: 'q', documents: ['a', 'b', 'c', 'd'], top_n: 3, return_documents: true },
    { scores: [0.1, 0.7, 0.1, -1], promptTokens: 9 }, 'm');
  assert.deepEqual(r.results, [
    { index: 1, relevance_score: 0.7, document: { text: 'b' } },
    { index: 0, relevance_score: 0.1, document: { text: 'a' } },
    { index: 2, relevance_score: 0.1, document: { text: 'c' } },
  ]);
  assert.deepEqual(r.usage, { prompt_tokens: 9, total_tokens: 9 });
});

describe('engine.embeddings through the worker (bert)', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: { bytes: bert() }, contextSize: 64, threads: 2 });
  });
  after(() => engine?.unload());

  test("info says what the model gives; chat and completions are refused with 'model/unsupported-task'", async () => {
    const info = await engine.info();
    assert.equal(info.model.generates, false);
    assert.equal(info.model.pooling, 'cls');
    assert.equal(info.model.nEmbd, 64);
    await assert.rejects(engine.completions.create({ prompt: 'hi', max_tokens: 2 }), (e: HobError) => {
      assert.ok(e instanceof UnsupportedModelError);
      assert.equal(e.code, 'model/unsupported-task');
      return true;
    });
  });

  test("OpenAI's shape: a string or an array, usage, normalized vectors; base64 is the same floats", async () => {
    const one = await engine.embeddings.create({ input: 'The quick brown fox' });
    assert.equal(one.object, 'list');
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].object, 'embedding');
    assert.equal(one.data[0].index, 0);
    const v = one.data[0].embedding as number[];
    assert.equal(v.length, 64);
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
    // [CLS] the quick brown fox [SEP]
    assert.deepEqual(one.usage, { prompt_tokens: 6, total_tokens: 6 });

    const texts = ['The quick brown fox', 'a', 'Semantic search in the page', 'The quick brown fox'];
    const many = await engine.embeddings.create({ input: texts });
    assert.deepEqual(many.data.map((d) => d.index), [0, 1, 2, 3]);
    // Packed together, each input still attends to itself only.
    for (const i of [0, 3]) {
      const w = many.data[i].embedding as number[];
      assert.ok(Math.abs(dot(v, w) - 1) < 1e-5, `input ${i} equals the single input`);
    }
    assert.ok(dot(v, many.data[1].embedding as number[]) < 0.9999);

    const b64 = await engine.embeddings.create({ input: 'The quick brown fox', encoding_format: 'base64' });
    const bytes = Buffer.from(b64.data[0].embedding as string, 'base64');
    assert.equal(bytes.length, 64 * 4);
    for (let i = 0; i < 64; i++) assert.equal(bytes.readFloatLE(i * 4), Math.fround(v[i]));
  });

  test('dimensions truncates and normalizes again; out of range is argument/invalid', async () => {
    const full = (await engine.embeddings.create({ input: 'hello world', normalize: false })).data[0].embedding as number[];
    const cut = (await engine.embeddings.create({ input: 'hello world', dimensions: 8 })).data[0].embedding as number[];
    assert.equal(cut.length, 8);
    const head = full.slice(0, 8);
    const n = Math.sqrt(dot(head, head));
    cut.forEach((x, i) => assert.ok(Math.abs(x - head[i] / n) < 1e-6));
    await assert.rejects(engine.embeddings.create({ input: 'x', dimensions: 65 }), (e: HobError) => e.code === 'argument/invalid');
    await assert.rejects(engine.embeddings.create({ input: [] }), (e: HobError) => e.code === 'argument/invalid');
    await assert.rejects(engine.embeddings.create({ input: 'x', encoding_format: 'hex' as 'float' }), (e: HobError) => e.code === 'argument/invalid');
  });

  test('an input longer than the context is a ContextFullError naming its index', async () => {
    await assert.rejects(engine.embeddings.create({ input: ['short', 'word '.repeat(100)] }), (e: HobError) => {
      assert.ok(e instanceof ContextFullError);
      assert.equal(e.details?.index, 1);
      return true;
    });
    // The engine is still usable.
    assert.equal((await engine.embeddings.create({ input: 'ok' })).data.length, 1);
  });

  test('embeddings.tokens gives each input its ids and one vector per token', async () => {
    const r = await engine.embeddings.tokens({ input: ['hello world', 'a'] });
    assert.equal(r.data.length, 2);
    assert.deepEqual(r.data[0].tokens, [101, 7592, 2088, 102]);
    assert.equal(r.data[0].embeddings.length, 4);
    assert.equal(r.data[0].embeddings[0].length, 64);
    // CLS pooling is the first token's vector.
    const cls = (await engine.embeddings.create({ input: 'hello world', normalize: false })).data[0].embedding as number[];
    r.data[0].embeddings[0].forEach((x, i) => assert.ok(Math.abs(x - cls[i]) < 1e-6));
  });

  test('rerank is refused: no classifier head', async () => {
    await assert.rejects(engine.rerank({ query: 'q', documents: ['d'] }), (e: HobError) => e.code === 'model/unsupported-task');
  });

  test('an aborted call rejects with AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(engine.embeddings.create({ input: 'x', signal: ac.signal }), (e: HobError) => e.code === 'request/aborted');
  });
});

describe('engine.rerank through the worker (bge-reranker)', () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: { bytes: reranker() }, contextSize: 128, threads: 2 });
  });
  after(() => engine?.unload());

  test("llama.cpp's /rerank shape: results sorted, top_n, documents on request; embeddings refused", async () => {
    const documents = ['The quick brown fox', 'A slow green turtle', 'Brown foxes are quick.'];
    const all = await engine.rerank({ query: 'Which animal is quick?', documents });
    assert.equal(all.object, 'list');
    assert.deepEqual(all.results.map((r) => r.index).sort(), [0, 1, 2]);
    for (let i = 1; i < all.results.length; i++) assert.ok(all.results[i - 1].relevance_score >= all.results[i].relevance_score);
    assert.ok(all.usage.prompt_tokens > 0);
    const top = await engine.rerank({ query: 'Which animal is quick?', documents, top_n: 1, return_documents: true });
    assert.equal(top.results.length, 1);
    assert.deepEqual(top.results[0], { ...all.results[0], document: { text: documents[all.results[0].index] } });
    await assert.rejects(engine.embeddings.create({ input: 'x' }), (e: HobError) => e.code === 'model/unsupported-task');
    await assert.rejects(engine.rerank({ query: 'q', documents: [] }), (e: HobError) => e.code === 'argument/invalid');
  });
});

describe('hob embed and hob rerank', () => {
  const run = promisify(execFile);
  const root = resolve(import.meta.dirname, '../..');
  const dir = mkdtempSync(join(tmpdir(), 'hob-embed-cli-'));
  const bertPath = join(dir, 'bert.gguf');
  const rerankPath = join(dir, 'reranker.gguf');
  before(() => {
    writeFileSync(bertPath, bert());
    writeFileSync(rerankPath, reranker());
  });
  const hob = (...args: string[]) => run('node', ['--import', 'tsx', join(root, 'src/node/cli.ts'), ...args], { cwd: root, maxBuffer: 16 << 20 });

  test('hob embed prints the API response for repeated --text and -f lines', async () => {
    const inputs = join(dir, 'inputs.txt');
    writeFileSync(inputs, 'second text\n\nthird\n');
    const { stdout } = await hob('embed', bertPath, '--text', 'first text', '-f', inputs, '--dimensions', '16', '-t', '1');
    const r = JSON.parse(stdout);
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 3);
    for (const d of r.data) {
      assert.equal(d.embedding.length, 16);
      assert.ok(Math.abs(dot(d.embedding, d.embedding) - 1) < 1e-5);
    }
  });

  test('hob rerank prints sorted results; a missing --query is a usage error', async () => {
    const { stdout } = await hob('rerank', rerankPath, '--query', 'quick animal', '--document', 'a fox', '--document', 'a turtle', '--top-n', '1', '-t', '1');
    const r = JSON.parse(stdout);
    assert.equal(r.results.length, 1);
    assert.ok([0, 1].includes(r.results[0].index));
    await assert.rejects(hob('rerank', rerankPath, '--document', 'x'), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /--query is required/);
      return true;
    });
  });
});
