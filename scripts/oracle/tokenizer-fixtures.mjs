// Writes test/fixtures/tokenizer-spm.json: the token ids llama.cpp (through
// node-llama-cpp) gives for the corpus below on both SentencePiece vocab
// files, with and without special-token parsing. cpp/tests/test_vocab.cpp
// checks Hob's tokenizer against it.
//
//   node scripts/oracle/tokenizer-fixtures.mjs      (from the repository root)
// Vocab files come from test/data/vocab (HOB_TESTDATA overrides).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama } from 'node-llama-cpp';

const generator = 'node-llama-cpp 3.21.1';
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const testdata = process.env.HOB_TESTDATA ?? resolve(repoRoot, 'test/data');
const outPath = resolve(repoRoot, 'test/fixtures/tokenizer-spm.json');
const vocabs = ['ggml-vocab-llama-spm.gguf', 'ggml-vocab-phi-3.gguf'];

// The ids depend on the llama.cpp inside node-llama-cpp: refuse to label
// them with a version they do not come from.
const installed = JSON.parse(readFileSync(resolve(here, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;
if (`node-llama-cpp ${installed}` !== generator) {
  throw new Error(`expected ${generator} but node-llama-cpp ${installed} is installed`);
}

const corpus = [
  // plain English and punctuation
  '',
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "It's 3:45 p.m. \u2014 time for tea, isn't it?",
  'Numbers: 0 1 12 123 1234 12345 3.14159 -42 1e10 0xFF',
  'ALL CAPS SHOUTING and camelCaseIdentifier snake_case_identifier',
  'https://example.com/path/to?query=1&x=y#frag',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '!!!!!!!!!! ........ ---- ____ ====',
  // leading, trailing and repeated whitespace, tabs and newlines
  ' Hello world',
  'Hello world ',
  '  two leading spaces',
  'two trailing spaces  ',
  ' ',
  '   ',
  '\t',
  '\n',
  '\r',
  '\n\n\n',
  'line one\nline two\r\nline three',
  'tabs\tbetween\twords\t\t',
  'mixed \t \n whitespace     runs\n\n  \t',
  // code
  'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  'for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }',
  'const x = {"key": [1, 2, 3], \'other\': null};',
  '<html><body><p class="x">Hi &amp; bye</p></body></html>',
  '#include <stdio.h>\nint main(void) {\n\tprintf("%d\\n", 42);\n}',
  // CJK and other scripts
  '\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002',
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3001\u3072\u3089\u304c\u306a\u3002',
  '\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.',
  '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5',
  '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd',
  '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01',
  '\u5168\u89d2\u3000\u30b9\u30da\u30fc\u30b9',
  // emoji, ZWJ sequences, modifiers
  'I love \ud83e\udd99 and \ud83d\udc0d!',
  '\ud83d\ude00\ud83d\ude03\ud83d\ude04\ud83d\ude01',
  '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 \ud83c\udff3\ufe0f\u200d\ud83c\udf08 \ud83d\udc4d\ud83c\udffd',
  // combining marks, precomposed and decomposed
  'caf\u00e9 na\u00efve r\u00e9sum\u00e9',
  'cafe\u0301 nai\u0308ve n\u0303',
  'Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035a\u031ao\u0319\u0314\u036e\u0307\u0350\u0307',
  // characters outside the vocabulary: byte fallback
  '\ud834\udd1e \ud80c\udc00 \ua66e \ud835\udd18\ud835\udd2b\ud835\udd26',
  '\u2603\ufe0f snow \u2744',
  'zero\u200bwidth\u200cjoin\u200dchars \ufeffbom non\u00a0breaking',
  'a\u0000b\u0001c\u007f',
  // the escape character itself in the input
  '\u2581already\u2581escaped \u2581',
  // special-token texts of both vocabularies
  '<s>',
  '</s>',
  '<unk>',
  '<s>Hello</s>',
  'Hello <s> world',
  'text</s>more',
  ' <s> ',
  '<s><s></s>',
  '<unk> token <unk>',
  '<<s>>',
  '<s',
  's>',
  '</s>  next',
  '<unk>  next',
  '<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n',
  '<|system|>You are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>',
  '<|endoftext|>',
  '<|endoftext|>  after',
  '<|user|>   spaced   <|end|>   after',
  '<|placeholder1|>x<|placeholder6|> y',
  '[PAD32011] [PAD32063]',
  '<|end|>\n\n',
  'word<|end|>word',
  '<|user|',
  '<|<|end|>|>',
  // a longer paragraph
  'Tokenizers split text into pieces. SentencePiece, used by Llama 2 and Phi-3, treats the input ' +
    'as a raw stream of Unicode characters, writes spaces as \u2581, and merges the pair of adjacent ' +
    'pieces whose union scores best, over and over, until no pair is in the vocabulary. Characters ' +
    'it has never seen fall back to their UTF-8 bytes.',
];

// Seeded random strings glued from pieces that stress the partition and the
// merges: special-token texts and fragments of them, whitespace runs, the
// U+2581 mark, multibyte characters.
const randomSeed = 20240611;
const randomPieces = [
  '<s>', '</s>', '<unk>', '<|user|>', '<|end|>', '<|endoftext|>', '<|placeholder3|>', '[PAD32011]', '<|', '|>', '<', '>',
  '/', '|', 'end', 'user', 's', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', 'a', 'ab', 'the', ' the', 'Hello', 'ing',
  '0', '12', '.', '-', '=', '_', '\u2581', '\u00e9', 'e\u0301', '\u4f60', '\u4e16\u754c', '\ud83e\udd99', '\ua66e', '\ud834\udd1e',
];
const random = (() => {
  let a = randomSeed;  // mulberry32
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
})();
for (let i = 0; i < 60; i++) {
  let text = '';
  for (let n = 1 + Math.floor(random() * 24); n > 0; n--) text += randomPieces[Math.floor(random() * randomPieces.length)];
  corpus.push(text);
}

const llama = await getLlama({ gpu: false, build: 'never' });
const cases = [];
for (const vocab of vocabs) {
  const model = await llama.loadModel({ modelPath: resolve(testdata, 'vocab', vocab), vocabOnly: true });
  for (const text of corpus) {
    for (const parseSpecial of [false, true]) {
      cases.push({ vocab, text, parseSpecial, ids: Array.from(model.tokenize(text, parseSpecial)) });
    }
  }
  await model.dispose();
}
await llama.dispose();

// One case per line keeps the diffs of a regenerated fixture readable.
const lines = cases.map((c) => '    ' + JSON.stringify(c));
writeFileSync(outPath, `{\n  "generator": ${JSON.stringify(generator)},\n  "cases": [\n${lines.join(',\n')}\n  ]\n}\n`);
console.log(`wrote ${cases.length} cases to ${outPath}`);
