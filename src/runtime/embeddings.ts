// Embeddings and reranking, the same way for the worker (the public API) and
// the CLI: inputs tokenized as llama.cpp's server tokenizes them, packed into
// batches that fit the context (each input attends to itself only), run
// through Session.embed, then L2-normalized and truncated as llama.cpp's and
// OpenAI's servers return them; rerank prompts built as llama.cpp's /rerank
// builds them, scored by the model's classifier head.
import { PoolingType } from '../core/c-api.js';
import type { Model } from '../core/model.js';
import type { Session } from '../core/session.js';
import { AbortError, ContextFullError, HobError, UnsupportedModelError } from '../shared/errors.js';
import type { EmbeddingPooling } from '../shared/types.js';

const POOLING_TYPES: Readonly<Record<EmbeddingPooling, PoolingType>> = {
  none: PoolingType.NONE, mean: PoolingType.MEAN, cls: PoolingType.CLS, last: PoolingType.LAST, rank: PoolingType.RANK,
};

export interface EmbedOptions {
  /** Replaces the model's pooling ('mean', 'cls' or 'last'): how a generative model gives embeddings. */
  pooling?: EmbeddingPooling;
  /** Keep the first `dimensions` values (Matryoshka), normalized again. */
  dimensions?: number;
  /** L2-normalize (default true, llama.cpp's server default). */
  normalize?: boolean;
  /** Asked between batches: true stops with an AbortError. */
  shouldStop?: () => boolean;
}

export interface Embedded {
  vectors: Float32Array[];
  /** Tokens evaluated, special tokens included. */
  promptTokens: number;
}

export interface TokenEmbedded {
  /** Each input's token ids. */
  tokens: number[][];
  /** Each input's vectors, one per token. */
  vectors: Float32Array[][];
  promptTokens: number;
}

/** The pooling embeddings.create uses for this model, or why there is none. */
export function resolvePooling(model: Model, override?: EmbeddingPooling): EmbeddingPooling {
  if (override !== undefined && !['mean', 'cls', 'last'].includes(override)) {
    throw new HobError('argument/invalid', `pooling must be 'mean', 'cls' or 'last', got ${JSON.stringify(override)}`);
  }
  const pooling = override ?? model.hparams.pooling;
  if (pooling === 'none') {
    throw new UnsupportedModelError('model/unsupported-task', `${describe(model)} names no pooling (a generative model): ` +
      "pass pooling: 'mean' or 'last' to pool its states, or use embeddings.tokens for one vector per token", { task: 'embeddings' });
  }
  if (pooling === 'rank') {
    throw new UnsupportedModelError('model/unsupported-task', `${describe(model)} is a reranker: its output is a score, use rerank`, {
      task: 'embeddings',
    });
  }
  return pooling;
}

const describe = (model: Model): string => `model "${model.info.name || model.info.architecture}"`;

/** Each input's ids as llama.cpp's server tokenizes /embeddings input: special tokens added and parsed. */
function tokenizeInputs(model: Model, session: Session, inputs: readonly string[]): number[][] {
  if (!Array.isArray(inputs) || inputs.length === 0) throw new HobError('argument/invalid', 'input must be a string or a non-empty array of strings');
  const nCtx = session.nCtx;
  return inputs.map((text, index) => {
    if (typeof text !== 'string') throw new HobError('argument/invalid', `input ${index} is not a string`, { index });
    const ids = model.tokenize(text, { addSpecial: true, parseSpecial: true });
    checkFits(ids.length, index, nCtx);
    return ids;
  });
}

function checkFits(nTokens: number, index: number, nCtx: number): void {
  if (nTokens === 0) throw new HobError('argument/invalid', `input ${index} is empty: it gives no tokens`, { index });
  if (nTokens > nCtx) {
    throw new ContextFullError('context/overflow', `input ${index} has ${nTokens} tokens; the context holds ${nCtx}`, {
      index, nTokens, nCtx,
    });
  }
}

/** Consecutive inputs grouped into batches of at most `capacity` tokens. */
export function packBatches(lengths: readonly number[], capacity: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let used = 0;
  lengths.forEach((len, i) => {
    if (current.length > 0 && used + len > capacity) {
      batches.push(current);
      current = [];
      used = 0;
    }
    current.push(i);
    used += len;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Runs inputs (token ids) batch by batch; out(i, batchOutput, offset) takes each input's slice. */
async function runBatches(
  session: Session, ids: number[][], pooling: PoolingType, shouldStop: (() => boolean) | undefined,
  each: (input: number, pooled: Float32Array, seq: number, tokenOffset: number) => void,
): Promise<void> {
  for (const batch of packBatches(ids.map((x) => x.length), session.nCtx)) {
    if (shouldStop?.()) throw new AbortError('request/aborted', 'the request was stopped');
    const lens = batch.map((i) => ids[i].length);
    const out = await session.embed(batch.flatMap((i) => ids[i]), lens, pooling);
    let offset = 0;
    batch.forEach((input, seq) => {
      each(input, out, seq, offset);
      offset += lens[seq];
    });
  }
}

/** v divided by its Euclidean norm (summed in double), as llama.cpp's common_embd_normalize(…, 2); a zero vector stays zero. */
export function normalizeL2(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * norm;
  return out;
}

/** Pooled, normalized embeddings of each input. */
export async function embedTexts(model: Model, session: Session, inputs: readonly string[], opts: EmbedOptions = {}): Promise<Embedded> {
  const pooling = resolvePooling(model, opts.pooling);
  const E = model.info.nEmbd;
  const dims = opts.dimensions;
  if (dims !== undefined && (!Number.isInteger(dims) || dims < 1 || dims > E)) {
    throw new HobError('argument/invalid', `dimensions must be an integer in [1, ${E}], got ${dims}`, { dimensions: String(dims), nEmbd: E });
  }
  const ids = tokenizeInputs(model, session, inputs);
  const vectors: Float32Array[] = new Array(ids.length);
  await runBatches(session, ids, POOLING_TYPES[pooling], opts.shouldStop, (input, pooled, seq) => {
    let v: Float32Array = pooled.slice(seq * E, (seq + 1) * E);
    if (opts.normalize !== false) v = normalizeL2(v);
    // Matryoshka: the leading values of a normalized vector, normalized again
    // (what OpenAI's `dimensions` returns); without normalization, just cut.
    if (dims !== undefined && dims < E) {
      v = v.slice(0, dims);
      if (opts.normalize !== false) v = normalizeL2(v);
    }
    vectors[input] = v;
  });
  return { vectors, promptTokens: ids.reduce((a, x) => a + x.length, 0) };
}

/** One vector per token of each input (pooling none): the last blocks' states after the final norm. */
export async function embedTokens(
  model: Model, session: Session, inputs: readonly string[], opts: Pick<EmbedOptions, 'normalize' | 'shouldStop'> = {},
): Promise<TokenEmbedded> {
  const E = model.info.nEmbd;
  const ids = tokenizeInputs(model, session, inputs);
  const vectors: Float32Array[][] = new Array(ids.length);
  await runBatches(session, ids, PoolingType.NONE, opts.shouldStop, (input, states, _seq, offset) => {
    vectors[input] = ids[input].map((_, t) => {
      const v = states.slice((offset + t) * E, (offset + t + 1) * E);
      // llama.cpp's server leaves per-token vectors as they are.
      return opts.normalize ? normalizeL2(v) : v;
    });
  });
  return { tokens: ids, vectors, promptTokens: ids.reduce((a, x) => a + x.length, 0) };
}

/** The ids llama.cpp's /rerank evaluates for (query, document): the model's
 * rerank template filled in and tokenized with special tokens parsed, else
 * [BOS] query [EOS] [SEP] document [EOS] as the vocabulary's flags ask. */
export function rerankIds(model: Model, query: string, document: string): number[] {
  const template = model.metaString('tokenizer.chat_template.rerank');
  if (template !== undefined) {
    // One pass over the template: text inside the query or the document is
    // never taken for a placeholder.
    const prompt = template.replace(/\{query\}|\{document\}/g, (m) => (m === '{query}' ? query : document));
    return model.tokenize(prompt, { addSpecial: false, parseSpecial: true });
  }
  const s = model.specialTokens;
  const eos = s.eos >= 0 ? s.eos : s.sep;
  const q = model.tokenize(query, { addSpecial: false, parseSpecial: false });
  const d = model.tokenize(document, { addSpecial: false, parseSpecial: false });
  return [
    ...(s.addBos && s.bos >= 0 ? [s.bos] : []),
    ...q,
    ...(s.addEos && eos >= 0 ? [eos] : []),
    ...(s.addSep && s.sep >= 0 ? [s.sep] : []),
    ...d,
    ...(s.addEos && eos >= 0 ? [eos] : []),
  ];
}

/** Each document's relevance to the query: the classifier's first output
 * (a logit for BERT rerankers, the probability of "yes" for Qwen3-Reranker),
 * as llama.cpp's server reports it. */
export async function rerankScores(
  model: Model, session: Session, query: string, documents: readonly string[], shouldStop?: () => boolean,
): Promise<{ scores: number[]; promptTokens: number }> {
  const hp = model.hparams;
  if (hp.pooling !== 'rank' || !(hp.clsOut || hp.clsDense)) {
    throw new UnsupportedModelError('model/unsupported-task', `${describe(model)} is not a reranker (no classifier head with rank pooling)`, {
      task: 'rerank',
    });
  }
  if (typeof query !== 'string') throw new HobError('argument/invalid', 'query must be a string');
  if (!Array.isArray(documents) || documents.length === 0) throw new HobError('argument/invalid', 'documents must be a non-empty array of strings');
  const nCtx = session.nCtx;
  const ids = documents.map((doc, index) => {
    if (typeof doc !== 'string') throw new HobError('argument/invalid', `document ${index} is not a string`, { index });
    const x = rerankIds(model, query, doc);
    checkFits(x.length, index, nCtx);
    return x;
  });
  const width = hp.clsOut ? hp.nClsOut : model.info.nEmbd;
  const scores: number[] = new Array(ids.length);
  await runBatches(session, ids, PoolingType.RANK, shouldStop, (input, out, seq) => {
    scores[input] = out[seq * width];
  });
  return { scores, promptTokens: ids.reduce((a, x) => a + x.length, 0) };
}
