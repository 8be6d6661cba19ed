// The wasm engine in Node on the real llama.cpp-written test model: loading,
// metadata, tokenizing, evaluation invariants and typed errors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ContextFullError, Engine, generate, HobError, loadModelFile, Model, ModelFormatError, readGgufHeaderFile, Sequence, Session } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('wasm engine in Node', () => {
  let engine: Engine;
  let model: Model;

  before(async () => {
    engine = await Engine.create({ threads: 2 });
    model = await loadModelFile(engine, tinyPath);
  });
  after(() => {
    model?.free();
    engine?.dispose();
  });

  test('loads the llama.cpp-written model with its metadata', async () => {
    assert.equal(engine.variant, 'mt');
    assert.equal(model.info.architecture, 'llama');
    assert.equal(model.info.nVocab, 32000);
    assert.equal(model.info.nEmbd, 8);
    assert.equal(model.info.nLayer, 1);
    assert.equal(model.info.nCtxTrain, 4096);
    assert.equal(model.info.bos, 1);
    assert.equal(model.info.eos, 2);
    assert.ok(model.info.weightBytes > 1_000_000 && model.info.weightBytes < model.info.fileBytes);
  });

  test('reads the GGUF header: metadata values and the tensor table', async () => {
    const h = await readGgufHeaderFile(engine, tinyPath, { maxArray: 4 });
    assert.equal(h.version, 3);
    assert.equal(h.metadata['general.architecture'], 'llama');
    assert.equal(h.metadata['llama.embedding_length'], 8);
    assert.deepEqual(h.metadata['tokenizer.ggml.tokens'], ['<unk>', '<s>', '</s>', '<0x00>']);
    const q = h.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
    assert.ok(q);
    assert.equal(q.type, 'F16');
    assert.deepEqual(q.dims, [8, 8]);
    assert.equal(q.sizeBytes, 128);
    assert.equal(h.tensors.find((t) => t.name === 'token_embd.weight')?.sizeBytes, 8 * 32000 * 2);
    assert.ok(q.offset >= h.dataOffset && q.offset % 32 === 0);
  });

  test('tokenizes with BOS and detokenizes back to the text', async () => {
    const text = 'Hello world, héllo wörld!';
    const ids = model.tokenize(text);
    assert.equal(ids[0], 1);
    assert.deepEqual(model.tokenize('Hello world', { addSpecial: false }), [15043, 3186]);
    assert.equal(model.detokenize(ids.slice(1)), text);
  });

  test('a streaming decoder holds back a character split across byte tokens', async () => {
    // A character outside the vocabulary falls back to one token per UTF-8 byte.
    const ids = model.tokenize('𝄞', { addSpecial: false });
    assert.ok(ids.length >= 4, `expected byte fallback, got ${ids}`);
    const d = model.decoder();
    const pieces = ids.map((t) => d.push(t));
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')), 'no half character is emitted');
    assert.equal((pieces.join('') + d.flush()).trim(), '𝄞');
    assert.equal(pieces.at(-1)?.trim(), '𝄞', 'the character appears with its last byte');
  });

  test('evaluating a prompt at once gives the logits of evaluating it token by token', async () => {
    const ids = model.tokenize('The quick brown fox jumps over the lazy dog');
    const a = Session.create(model, { nCtx: 64 });
    const b = Session.create(model, { nCtx: 64, nThreads: 1 });
    await a.eval(ids);
    for (const t of ids) await b.eval([t]);
    assert.equal(a.nPast, ids.length);
    assert.equal(b.nPast, ids.length);
    assert.ok(maxAbsDiff(a.logits(), b.logits()) < 1e-4);
    a.free();
    b.free();
  });

  test('truncating and re-evaluating reproduces the same logits exactly', async () => {
    const ids = model.tokenize('Context windows are reused, not reallocated');
    const s = Session.create(model, { nCtx: 64 });
    await s.eval(ids);
    const first = s.logits();
    s.truncate(3);
    assert.equal(s.nPast, 3);
    await s.eval(ids.slice(3));
    assert.deepEqual(s.logits(), first);
    s.free();
  });

  test('a prompt longer than the context is a ContextFullError with the numbers, and the session stays usable', async () => {
    const s = Session.create(model, { nCtx: 8 });
    await s.eval([1, 15043, 3186]);
    const before = s.logits();
    await assert.rejects(
      () => s.eval(Array.from({ length: 6 }, () => 3186)),
      (e: unknown) =>
        e instanceof ContextFullError && e.code === 'context/overflow' && e.details.nCtx === 8 && e.details.nPast === 3 && e.details.nTokens === 6,
    );
    assert.equal(s.nPast, 3);
    assert.deepEqual(s.logits(), before);
    await s.eval([15043]);
    assert.equal(s.nPast, 4);
    s.free();
  });

  test('an out-of-range token id is refused with its value and the session stays usable', async () => {
    const s = Session.create(model, { nCtx: 16 });
    await assert.rejects(() => s.eval([1, 32000]), (e: unknown) => e instanceof HobError && e.code === 'range/out-of-bounds' && /32000/.test(e.message));
    assert.equal(s.nPast, 0);
    await s.eval([1]);
    assert.equal(s.nPast, 1);
    s.free();
  });

  test('the same seed gives the same sampled tokens, another seed differs', async () => {
    const run = async (seed: number) => {
      const s = Session.create(model, { nCtx: 128 });
      const r = await generate(model, new Sequence(s), {
        temperature: 1.0, top_k: 0, top_p: 1, min_p: 0, seed, promptIds: model.tokenize('Seeded'), maxTokens: 24, ignoreEos: true,
      });
      s.free();
      return r.ids;
    };
    const a = await run(42);
    assert.deepEqual(await run(42), a);
    assert.notDeepEqual(await run(43), a);
  });

  test('malformed and truncated files are ModelFormatErrors naming what is wrong', async () => {
    const bytes = readFileSync(tinyPath);
    const cases: [Uint8Array, string, RegExp][] = [
      [new TextEncoder().encode('not a model at all'), 'gguf/bad-magic', /magic/],
      [bytes.subarray(0, 20), 'gguf/truncated', /truncated: metadata_kv_count needs 8 bytes/],
      [bytes.subarray(0, 1000), 'gguf/invalid', /tokenizer.ggml.tokens claims 32000 elements, more than the file can hold/],
      [bytes.subarray(0, bytes.length - 10), 'gguf/truncated', /ends past the end of the file/],
    ];
    for (const [b, code, msg] of cases) {
      assert.throws(() => Model.load(engine, b), (e: unknown) => e instanceof ModelFormatError && e.code === code && msg.test(e.message));
    }
  });
});
