// Random embedding and reranking models, written with the tensor names,
// shapes and metadata keys llama.cpp's converter gives each: BERT (bge,
// MiniLM, e5) and a bge-style reranker (BERT with a classification head),
// nomic-bert (RoPE, SwiGLU, fused Q/K/V), Qwen3-Embedding and
// Qwen3-Reranker (qwen3 with last-token pooling, and with the yes/no rows
// of its head as cls.output), and EmbeddingGemma (gemma-embedding: Gemma 3's
// block attending both ways, with its dense projections). The tokenizer is
// another file's (test/gguf/embed-vocabs.ts reads bge's WordPiece) or the
// synthetic SentencePiece vocabulary of random-model.ts. No Node APIs.
import type { KvEntry } from './read-kvs';
import { addRandomTensor, syntheticVocab } from './random-model';
import { GgufWriter, type TensorType } from './writer';

export type EmbedModelName = 'bert' | 'nomic-bert' | 'qwen3-embedding' | 'gemma-embedding' | 'bge-reranker' | 'qwen3-reranker';
export const EMBED_MODELS: readonly EmbedModelName[] = [
  'bert', 'nomic-bert', 'qwen3-embedding', 'gemma-embedding', 'bge-reranker', 'qwen3-reranker',
];

/** Which tokenizer a model carries: BERT's WordPiece (bge's vocabulary),
 * or the synthetic SentencePiece one (with ChatML's two control tokens for
 * the Qwen models: a real Qwen vocabulary makes a 150k-row embedding that
 * takes seconds to write, and the tokenizer tests cover it already). */
export type EmbedVocab = 'wordpiece' | 'synthetic';

export interface EmbedSpec {
  name: string;
  model: EmbedModelName;
  arch: 'bert' | 'nomic-bert' | 'qwen3' | 'gemma-embedding';
  vocab: EmbedVocab;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** Written as key_length when set (Qwen 3 and Gemma heads are wider). */
  headDim?: number;
  nFf: number;
  nCtxTrain: number;
  /** llama.cpp's pooling_type: 1 mean, 2 CLS, 3 last, 4 rank. */
  pooling: 1 | 2 | 3 | 4;
  ropeFreqBase: number;
  /** gemma-embedding: the window (n / 2 each side) and its period. */
  slidingWindow?: number;
  swaPattern?: number;
  /** gemma-embedding: dense_2 / dense_3 through this width. */
  denseWidth?: number;
  weightType: TensorType;
  embdType: TensorType;
  std: number;
  embdStd: number;
  normStd: number;
  seed: number;
}

const BERT = { vocab: 'wordpiece', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 128, ropeFreqBase: 10000 } as const;
const DECODER = { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, ropeFreqBase: 1000000 } as const;
const COMMON = { weightType: 'f32', embdType: 'f16', std: 0.1, embdStd: 0.5, normStd: 0.1, seed: 1 } as const;

export const EMBED_PRESETS: Readonly<Record<EmbedModelName, EmbedSpec>> = {
  // bge-small's layout at toy width, CLS pooling; positions for 128 tokens.
  bert: { ...COMMON, ...BERT, name: 'hob-tiny-bert', model: 'bert', arch: 'bert', nCtxTrain: 128, pooling: 2 },
  'bge-reranker': { ...COMMON, ...BERT, name: 'hob-tiny-bge-reranker', model: 'bge-reranker', arch: 'bert', nCtxTrain: 128, pooling: 4 },
  // nomic-embed-text: mean pooling, RoPE (NeoX) instead of positions.
  'nomic-bert': { ...COMMON, ...BERT, name: 'hob-tiny-nomic-bert', model: 'nomic-bert', arch: 'nomic-bert', nCtxTrain: 256, pooling: 1, ropeFreqBase: 1000 },
  'qwen3-embedding': {
    ...COMMON, ...DECODER, std: 0.04, embdStd: 1, name: 'hob-tiny-qwen3-embedding', model: 'qwen3-embedding', arch: 'qwen3',
    vocab: 'synthetic', nCtxTrain: 1024, pooling: 3,
  },
  'qwen3-reranker': {
    ...COMMON, ...DECODER, std: 0.04, embdStd: 1, name: 'hob-tiny-qwen3-reranker', model: 'qwen3-reranker', arch: 'qwen3',
    vocab: 'synthetic', nCtxTrain: 1024, pooling: 4,
  },
  // EmbeddingGemma: six blocks, five sliding (window 8: 4 either side), one
  // global; mean pooling, then 64 -> 96 -> 64.
  'gemma-embedding': {
    ...COMMON, ...DECODER, std: 0.04, embdStd: 0.25, name: 'hob-tiny-gemma-embedding', model: 'gemma-embedding',
    arch: 'gemma-embedding', vocab: 'synthetic', nLayer: 6, nCtxTrain: 512, pooling: 1, slidingWindow: 8, swaPattern: 6,
    denseWidth: 96,
  },
};

export function makeEmbedSpec(model: EmbedModelName, overrides: Partial<EmbedSpec> = {}): EmbedSpec {
  const base = EMBED_PRESETS[model];
  if (!base) throw new Error(`unknown embedding model ${model} (${EMBED_MODELS.join(', ')})`);
  return { ...base, ...overrides };
}

/** Qwen3-Reranker's prompt, as llama.cpp's converter stores it. */
export const QWEN3_RERANK_TEMPLATE =
  '<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. ' +
  'Note that the answer can only be "yes" or "no".<|im_end|>\n' +
  '<|im_start|>user\n<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n' +
  '<Query>: {query}\n<Document>: {document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';

/** The tokenizer metadata of the synthetic SentencePiece vocabulary, its
 * last two tokens ChatML's <|im_start|> and <|im_end|> (control). */
export function syntheticTokenizer(nVocab = 512): KvEntry[] {
  const v = syntheticVocab(nVocab - 2);
  v.tokens.push('<|im_start|>', '<|im_end|>');
  v.scores.push(0, 0);
  v.types.push(3, 3);
  return [
    { key: 'tokenizer.ggml.model', value: 'llama', type: 'string' },
    { key: 'tokenizer.ggml.tokens', value: v.tokens, type: 'string[]' },
    { key: 'tokenizer.ggml.scores', value: v.scores, type: 'float32[]' },
    { key: 'tokenizer.ggml.token_type', value: v.types, type: 'int32[]' },
    { key: 'tokenizer.ggml.bos_token_id', value: 1, type: 'uint32' },
    { key: 'tokenizer.ggml.eos_token_id', value: 2, type: 'uint32' },
    { key: 'tokenizer.ggml.unknown_token_id', value: 0, type: 'uint32' },
    { key: 'tokenizer.ggml.add_bos_token', value: true, type: 'bool' },
    { key: 'tokenizer.ggml.add_eos_token', value: false, type: 'bool' },
  ];
}

/**
 * A GgufWriter holding a random model of spec (weights generated while
 * writing) over the tokenizer given as metadata entries (tokenizer.* keys;
 * others are ignored).
 */
export function buildEmbedModel(spec: EmbedSpec, tokenizer: readonly KvEntry[]): GgufWriter {
  const { arch, nEmbd: E, nHead, nHeadKv, nFf: F } = spec;
  const D = spec.headDim ?? E / nHead;
  const Q = nHead * D;
  const KV = nHeadKv * D;
  const bertLike = arch === 'bert' || arch === 'nomic-bert';
  const tokens = tokenizer.find((k) => k.key === 'tokenizer.ggml.tokens')?.value as string[] | undefined;
  if (!tokens) throw new Error(`${spec.name}: the tokenizer has no tokens`);
  const nVocab = tokens.length;
  const w = new GgufWriter();
  const a = `${arch}.`;
  w.addKv('general.architecture', arch, 'string');
  w.addKv('general.name', spec.name, 'string');
  w.addKv('general.file_type', spec.weightType === 'f32' ? 0 : spec.weightType === 'f16' ? 1 : 7, 'uint32');
  w.addKv(a + 'context_length', spec.nCtxTrain, 'uint32');
  w.addKv(a + 'embedding_length', E, 'uint32');
  w.addKv(a + 'block_count', spec.nLayer, 'uint32');
  w.addKv(a + 'feed_forward_length', F, 'uint32');
  w.addKv(a + 'attention.head_count', nHead, 'uint32');
  w.addKv(a + 'attention.head_count_kv', nHeadKv, 'uint32');
  if (spec.headDim !== undefined) {
    w.addKv(a + 'attention.key_length', D, 'uint32');
    w.addKv(a + 'attention.value_length', D, 'uint32');
  }
  w.addKv(a + 'rope.freq_base', spec.ropeFreqBase, 'float32');
  if (bertLike) {
    w.addKv(a + 'attention.layer_norm_epsilon', 1e-12, 'float32');
    w.addKv(a + 'attention.causal', false, 'bool');
  } else {
    w.addKv(a + 'attention.layer_norm_rms_epsilon', 1e-6, 'float32');
  }
  w.addKv(a + 'pooling_type', spec.pooling, 'uint32');
  if (spec.slidingWindow !== undefined) w.addKv(a + 'attention.sliding_window', spec.slidingWindow, 'uint32');
  if (spec.swaPattern !== undefined) w.addKv(a + 'attention.sliding_window_pattern', spec.swaPattern, 'uint32');
  if (spec.denseWidth !== undefined) {
    w.addKv(a + 'dense_2_feat_in', E, 'uint32');
    w.addKv(a + 'dense_2_feat_out', spec.denseWidth, 'uint32');
    w.addKv(a + 'dense_3_feat_in', spec.denseWidth, 'uint32');
    w.addKv(a + 'dense_3_feat_out', E, 'uint32');
  }
  if (spec.model === 'qwen3-reranker') w.addKv(a + 'classifier.output_labels', ['yes', 'no'], 'string[]');
  if (bertLike) w.addKv('tokenizer.ggml.token_type_count', 2, 'uint32');
  for (const k of tokenizer) if (k.key.startsWith('tokenizer.') && k.key !== 'tokenizer.ggml.token_type_count') w.addKv(k.key, k.value, k.type);
  if (spec.model === 'qwen3-reranker') w.addKv('tokenizer.chat_template.rerank', QWEN3_RERANK_TEMPLATE, 'string');

  const random = (name: string, dims: number[], type: TensorType, mean: number, std: number): void =>
    addRandomTensor(w, spec.seed, name, dims, type, mean, std);
  const norm = (name: string, n: number, mean = 1): void => random(name, [n], 'f32', mean, spec.normStd);
  const bias = (name: string, n: number): void => random(name, [n], 'f32', 0, 0.1);
  const t = spec.weightType;

  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out.
  random('token_embd.weight', [E, nVocab], spec.embdType, 0, spec.embdStd); // (vocab, dim)
  if (bertLike) {
    random('token_types.weight', [E, 2], 'f32', 0, spec.embdStd); // (types, dim)
    if (arch === 'bert') random('position_embd.weight', [E, spec.nCtxTrain], 'f32', 0, spec.embdStd); // (positions, dim)
    norm('token_embd_norm.weight', E);
    bias('token_embd_norm.bias', E);
  } else {
    norm('output_norm.weight', E);
  }
  if (spec.model === 'bge-reranker') {
    random('cls.weight', [E, E], t, 0, spec.std * 4); // dim → dim, then tanh
    bias('cls.bias', E);
    random('cls.output.weight', [E, 1], 'f32', 0, 0.5); // dim → score
    bias('cls.output.bias', 1);
  }
  if (spec.model === 'qwen3-reranker') random('cls.output.weight', [E, 2], 'f32', 0, 0.5); // dim → yes, no
  if (spec.denseWidth !== undefined) {
    random('dense_2.weight', [E, spec.denseWidth], t, 0, spec.std * 4); // dim → width
    random('dense_3.weight', [spec.denseWidth, E], t, 0, spec.std * 4); // width → dim
  }

  for (let l = 0; l < spec.nLayer; l++) {
    const blk = `blk.${l}.`;
    if (bertLike) {
      if (arch === 'nomic-bert') {
        random(blk + 'attn_qkv.weight', [E, 3 * E], t, 0, spec.std); // dim → q | k | v
      } else {
        for (const x of ['q', 'k', 'v']) {
          random(blk + `attn_${x}.weight`, [E, E], t, 0, spec.std);
          bias(blk + `attn_${x}.bias`, E);
        }
      }
      random(blk + 'attn_output.weight', [E, E], t, 0, spec.std);
      if (arch === 'bert') bias(blk + 'attn_output.bias', E);
      norm(blk + 'attn_output_norm.weight', E);
      bias(blk + 'attn_output_norm.bias', E);
      random(blk + 'ffn_up.weight', [E, F], t, 0, spec.std); // dim → n_ff
      if (arch === 'nomic-bert') random(blk + 'ffn_gate.weight', [E, F], t, 0, spec.std);
      else bias(blk + 'ffn_up.bias', F);
      random(blk + 'ffn_down.weight', [F, E], t, 0, spec.std); // n_ff → dim
      if (arch === 'bert') bias(blk + 'ffn_down.bias', E);
      norm(blk + 'layer_output_norm.weight', E);
      bias(blk + 'layer_output_norm.bias', E);
      continue;
    }
    const gemma = arch === 'gemma-embedding';
    norm(blk + 'attn_norm.weight', E);
    random(blk + 'attn_q.weight', [E, Q], t, 0, spec.std); // dim → n_head·head_dim
    random(blk + 'attn_k.weight', [E, KV], t, 0, spec.std); // dim → n_head_kv·head_dim
    random(blk + 'attn_v.weight', [E, KV], t, 0, spec.std);
    norm(blk + 'attn_q_norm.weight', D);
    norm(blk + 'attn_k_norm.weight', D);
    random(blk + 'attn_output.weight', [Q, E], t, 0, spec.std);
    if (gemma) norm(blk + 'post_attention_norm.weight', E);
    norm(blk + 'ffn_norm.weight', E);
    random(blk + 'ffn_gate.weight', [E, F], t, 0, spec.std); // dim → n_ff
    random(blk + 'ffn_up.weight', [E, F], t, 0, spec.std);
    random(blk + 'ffn_down.weight', [F, E], t, 0, spec.std); // n_ff → dim
    if (gemma) norm(blk + 'post_ffw_norm.weight', E);
  }
  return w;
}

/** The GGUF bytes of a random model of spec (see buildEmbedModel). */
export function writeEmbedModel(spec: EmbedSpec, tokenizer: readonly KvEntry[]): Uint8Array {
  return buildEmbedModel(spec, tokenizer).toBytes();
}
