// Tokenizing without weights: llama.cpp's vocabulary-only GGUFs load as a
// vocabulary (the Node API's loadVocabFile, hob tokenize and hob inspect),
// tokenize their own test vectors exactly, and refuse to evaluate with a
// typed error; a full model's vocabulary loads from its header alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { Engine, loadModelFile, loadVocabFile, Session } from '../../src/node/index.js';
import { testdataDir } from '../data.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/** llama.cpp's test vectors of a vocab file: texts and the ids it gives (no BOS). */
function vectors(name: string): { text: string; ids: number[] }[] {
  const base = join(testdataDir, 'vocab', name);
  const texts = readFileSync(`${base}.inp`, 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
  const ids = readFileSync(`${base}.out`, 'utf8').split('\n').slice(0, texts.length);
  return texts.map((text, i) => ({ text, ids: ids[i].trim() === '' ? [] : ids[i].trim().split(/\s+/).map(Number) }));
}

describe('vocabulary-only loads', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 1 });
  });
  after(() => engine?.dispose());

  for (const name of ['ggml-vocab-llama-spm.gguf', 'ggml-vocab-gpt-2.gguf', 'ggml-vocab-falcon.gguf', 'ggml-vocab-deepseek-coder.gguf']) {
    test(`${name}: the file has no weights, yet every test vector tokenizes as llama.cpp does`, async () => {
      const model = await loadVocabFile(engine, join(testdataDir, 'vocab', name));
      try {
        assert.equal(model.vocabOnly, true);
        const cases = vectors(name);
        assert.ok(cases.length > 20, `${cases.length} vectors`);
        for (const c of cases) assert.deepEqual(model.tokenize(c.text, { addSpecial: false, parseSpecial: false }), c.ids, JSON.stringify(c.text));
        assert.throws(() => Session.create(model, { nCtx: 32 }), (e: unknown) => (e as { code?: string }).code === 'model/vocab-only');
      } finally {
        model.free();
      }
    });
  }

  test("a full model's vocabulary loads from its header, and tokenizes and detokenizes as the whole model", async () => {
    const path = join(testdataDir, 'llama-2-tiny-random.gguf');
    const vocab = await loadVocabFile(engine, path);
    const full = await loadModelFile(engine, path);
    try {
      assert.equal(vocab.vocabOnly, true);
      assert.equal(full.vocabOnly, false);
      assert.equal(vocab.info.nVocab, full.info.nVocab);
      assert.equal(vocab.info.weightBytes, 0);
      assert.equal(vocab.info.fileBytes, statSync(path).size);
      const text = 'Hello world, 你好 <s> ✓';
      assert.deepEqual(vocab.tokenize(text), full.tokenize(text));
      assert.equal(vocab.detokenize(full.tokenize(text, { addSpecial: false })), full.detokenize(full.tokenize(text, { addSpecial: false })));
    } finally {
      vocab.free();
      full.free();
    }
  });

  test('a WordPiece vocabulary loads alone; a tokenizer the engine does not know is refused by name', async () => {
    const path = join(testdataDir, 'vocab', 'ggml-vocab-bert-bge.gguf');
    const vocab = await loadVocabFile(engine, path);
    try {
      assert.deepEqual(vocab.tokenize('Hello world'), [101, 7592, 2088, 102]);
    } finally {
      vocab.free();
    }
    // The same file naming tokenizer model "rwkv" instead of "bert".
    const bytes = Buffer.from(readFileSync(path));
    const key = Buffer.from('tokenizer.ggml.model');
    const at = bytes.indexOf(key) + key.length + 4 + 8;
    assert.equal(bytes.subarray(at, at + 4).toString(), 'bert');
    bytes.write('rwkv', at);
    const dir = mkdtempSync(join(tmpdir(), 'hob-vocab-'));
    writeFileSync(join(dir, 'rwkv.gguf'), bytes);
    await assert.rejects(loadVocabFile(engine, join(dir, 'rwkv.gguf')), (e: unknown) => {
      const err = e as { code?: string; message?: string };
      return err.code === 'model/unsupported-architecture' && /tokenizer model "rwkv"/.test(err.message ?? '');
    });
  });
});

test('hob tokenize and hob inspect read a vocabulary-only GGUF', async () => {
  const file = join(testdataDir, 'vocab', 'ggml-vocab-gpt-2.gguf');
  const c = vectors('ggml-vocab-gpt-2.gguf').find((v) => v.text === 'Hello world')!;
  const tok = await run('node', [join(root, 'bin/hob.mjs'), 'tokenize', file, '--text', c.text, '--no-special']);
  assert.deepEqual(JSON.parse(tok.stdout), { ids: c.ids });
  const inspect = await run('node', [join(root, 'bin/hob.mjs'), 'inspect', file], { maxBuffer: 16 << 20 });
  const header = JSON.parse(inspect.stdout) as { metadata: Record<string, unknown>; tensors: unknown[] };
  assert.equal(header.metadata['general.architecture'], 'gpt2');
  assert.deepEqual(header.tensors, []);
});
