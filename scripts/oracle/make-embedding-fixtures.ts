// Regenerates test/fixtures/embeddings.json: llama.cpp's (node-llama-cpp's)
// token ids, pooled embeddings and rerank scores for tiny random models of
// every embedding architecture Hob runs (test/gguf/embed-models.ts), and the
// WordPiece ids of test/fixtures/tokenizer-corpus.json on bge's vocabulary.
//   npx tsx scripts/oracle/make-embedding-fixtures.ts      (from the repository root)
//
// Inputs are tokenized as llama.cpp's server does for /embeddings (special
// tokens added and parsed) and /rerank (a model's rerank template filled in
// and tokenized with special parsing, else [BOS] query [EOS] [SEP] document
// [EOS] as the vocabulary's flags ask); the fixture keeps those ids, and
// each input is evaluated alone. Embeddings are stored as llama.cpp returns
// them, before any normalization; rerank scores raw (the classifier's
// output, a softmax probability for qwen3), read from the pooled output
// directly rather than through node-llama-cpp's sigmoid.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { embedTokenizer } from '../../test/gguf/embed-vocabs';
import { EMBED_MODELS, makeEmbedSpec, writeEmbedModel, type EmbedModelName, type EmbedSpec } from '../../test/gguf/embed-models';

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/embeddings.json');

const installed = JSON.parse(readFileSync(resolve(import.meta.dirname, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;
if (`node-llama-cpp ${installed}` !== GENERATOR) throw new Error(`expected ${GENERATOR} but node-llama-cpp ${installed} is installed`);

const long = 'Semantic search in the page embeds every paragraph of a document once and compares each question with all of them. ';
const INPUTS = [
  'The quick brown fox jumps over the lazy dog',
  'Once upon a time, there was a little girl who lived in a house',
  'In 2024, 3 of the 10 tests failed (30%): "why?" she asked.',
  'Führer, naïve café: ÜNÏCÖDÉ 你好世界 🦙',
  'a',
  long + long.toLowerCase(),
];
const QUERY = 'Which animal is quick and brown?';
const DOCUMENTS = [
  'The quick brown fox jumps over the lazy dog',
  'A slow green turtle sleeps under the old tree',
  'In 2024, 3 of the 10 tests failed (30%)',
  'Brown foxes are quick.',
];

/** Ids as llama.cpp's tokenizer with add_special (BOS / [CLS] first, EOS or [SEP] last as the vocabulary asks). */
function withSpecials(m: LlamaModel, ids: Token[]): Token[] {
  const out = [...ids];
  const wpm = m.vocabularyType === 'wpm';
  if ((wpm || m.tokens.shouldPrependBosToken) && m.tokens.bos != null) out.unshift(m.tokens.bos);
  if (wpm && m.tokens.sep != null) out.push(m.tokens.sep);
  else if (!wpm && m.tokens.shouldAppendEosToken && m.tokens.eos != null) out.push(m.tokens.eos);
  return out;
}

/** The server's /rerank prompt for (query, document). */
function rerankIds(m: LlamaModel, template: string | undefined, query: string, doc: string): Token[] {
  if (template) return m.tokenize(template.replaceAll('{query}', query).replaceAll('{document}', doc), true);
  const wpm = m.vocabularyType === 'wpm';
  const eos = m.tokens.eos ?? m.tokens.sep;
  const addBos = wpm || m.tokens.shouldPrependBosToken;
  const addEos = !wpm && m.tokens.shouldAppendEosToken;
  const addSep = wpm;
  return [
    ...(addBos && m.tokens.bos != null ? [m.tokens.bos] : []),
    ...m.tokenize(query, false),
    ...(addEos && eos != null ? [eos] : []),
    ...(addSep && m.tokens.sep != null ? [m.tokens.sep] : []),
    ...m.tokenize(doc, false),
    ...(addEos && eos != null ? [eos] : []),
  ];
}

const round = (x: number): number => Math.fround(x);

interface FixtureModel {
  name: EmbedModelName;
  source: { kind: 'writer'; spec: EmbedSpec; sha256: string };
  contextSize: number;
  /** Embedding models: per input, llama.cpp's ids and pooled embedding. */
  embeddings?: { input: string; ids: number[]; embedding: number[] }[];
  /** Rerankers: per document, the ids of the rerank prompt and the raw score. */
  rerank?: { query: string; document: string; ids: number[]; score: number }[];
}

async function run(llama: Llama, dir: string, name: EmbedModelName): Promise<FixtureModel> {
  const spec = makeEmbedSpec(name);
  const bytes = writeEmbedModel(spec, embedTokenizer(spec.vocab));
  const path = join(dir, `${spec.name}.gguf`);
  writeFileSync(path, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // Room for Qwen3-Reranker's whole prompt template (about 300 tokens with
  // the synthetic vocabulary): past the context, node-llama-cpp would shift
  // the sequence and score what is left of it.
  const contextSize = Math.min(spec.nCtxTrain, 512);
  const m = await llama.loadModel({ modelPath: path, gpuLayers: 0, defaultContextFlashAttention: false });
  const out: FixtureModel = { name, source: { kind: 'writer', spec, sha256 }, contextSize };
  try {
    if (spec.pooling === 4) {
      const ctx = await m.createRankingContext({ contextSize, batchSize: contextSize, threads: 2 });
      // The raw pooled output, as the server reads it (node-llama-cpp's
      // rank() would put a BERT score through a sigmoid).
      const internal = ctx as unknown as {
        _sequence: { nextTokenIndex: number; eraseContextTokenRanges(r: { start: number; end: number }[]): Promise<void>; evaluate(t: Token[], o: object): AsyncIterable<Token> };
        _llamaContext: { _ctx: { getEmbedding(n: number, max?: number): Float64Array } };
      };
      const template = spec.model === 'qwen3-reranker' ? (m.fileInfo.metadata.tokenizer as Record<string, unknown>)['chat_template.rerank'] as string : undefined;
      out.rerank = [];
      for (const document of DOCUMENTS) {
        const ids = rerankIds(m, template, QUERY, document);
        const seq = internal._sequence;
        await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
        for await (const _ of seq.evaluate(ids, { _noSampling: true })) break;
        const score = internal._llamaContext._ctx.getEmbedding(ids.length, 1)[0];
        out.rerank.push({ query: QUERY, document, ids: [...ids], score: round(score) });
      }
      await ctx.dispose();
    } else {
      const ctx = await m.createEmbeddingContext({ contextSize, batchSize: contextSize, threads: 2 });
      out.embeddings = [];
      for (const input of INPUTS) {
        const ids = withSpecials(m, m.tokenize(input, true));
        const e = await ctx.getEmbeddingFor(ids);
        out.embeddings.push({ input, ids: [...ids], embedding: e.vector.map(round) });
      }
      await ctx.dispose();
    }
  } finally {
    await m.dispose();
  }
  return out;
}

/** WordPiece ids (no special tokens added, special text parsed or not) of the tokenizer corpus on bge's vocabulary. */
async function wordpieceCorpus(llama: Llama): Promise<{ i: number; special: boolean; ids: number[] }[]> {
  const corpus: string[] = JSON.parse(readFileSync(join(root, 'test/fixtures/tokenizer-corpus.json'), 'utf8')).strings;
  const m = await llama.loadModel({ modelPath: join(root, 'test/data/vocab/ggml-vocab-bert-bge.gguf'), vocabOnly: true });
  try {
    const cases = [];
    for (let i = 0; i < corpus.length; i++) {
      for (const special of [false, true]) cases.push({ i, special, ids: [...m.tokenize(corpus[i], special)] });
    }
    return cases;
  } finally {
    await m.dispose();
  }
}

/** JSON with one line per leaf array (an embedding, an id list), so diffs stay readable. */
function format(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + format(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${format(x, inner)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-embed-fixtures-'));
  const models: FixtureModel[] = [];
  let wordpiece: { i: number; special: boolean; ids: number[] }[] = [];
  try {
    for (const name of EMBED_MODELS) {
      const t = performance.now();
      models.push(await run(llama, tmp, name));
      process.stdout.write(`${name.padEnd(16)} ${Math.round(performance.now() - t)} ms\n`);
    }
    wordpiece = await wordpieceCorpus(llama);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  const json = format({ generator: GENERATOR, models, wordpiece: { vocab: 'ggml-vocab-bert-bge.gguf', cases: wordpiece } }) + '\n';
  writeFileSync(outPath, json);
  process.stdout.write(`wrote ${outPath} (${json.length} bytes) in ${Math.round(performance.now() - t0)} ms\n`);
}

await main();
