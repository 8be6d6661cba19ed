// Random Gemma 4 models, written with the tensor names, shapes and metadata
// keys llama.cpp's converter gives Gemma 4 (conversion/gemma.py), over the
// synthetic SentencePiece vocabulary of random-model.ts: sliding blocks with
// narrower heads and more KV heads than the full ones, proportional RoPE
// (rope_freqs.weight) on the full blocks, and optionally per-layer
// embeddings (E2B/E4B), blocks sharing an earlier block's KV cache, wider
// FFNs on those (use_double_wide_mlp), full blocks without attn_v (V = K)
// and layer_output_scale. Other architectures are arch-models.ts's.
import { addRandomTensor, syntheticVocab, typeForRow, type LlamaSpec, type Vocab } from './random-model';
import { GgufWriter, type TensorType } from './writer';

export interface Gemma4Spec extends LlamaSpec {
  arch: 'gemma4';
  /** One flag per block: true where it attends through the window. */
  swaLayers: boolean[];
  slidingWindow: number;
  /** Head width of full blocks (key_length) and of sliding ones (key_length_swa). */
  headDim: number;
  headDimSwa: number;
  /** KV heads of the full blocks (sliding ones have nHeadKv); written as a per-block array when they differ. */
  nHeadKvFull: number;
  /** rope_freqs.weight of the full blocks: 1 for the first ropeFull pairs, 1e30 (no rotation) after. */
  ropeFullPairs: number;
  ropeFreqBaseSwa: number;
  /** attention.shared_kv_layers: the last this many blocks read an earlier block's cache. */
  sharedKvLayers: number;
  /** embedding_length_per_layer_input (0: none). */
  nEmbdPerLayer: number;
  /** FFN width of the shared-KV blocks (use_double_wide_mlp doubles it); nFf when unset. */
  nFfShared?: number;
  /** Full blocks without attn_v (V is K's projection). */
  fullWithoutV: boolean;
  /** Writes blk.N.layer_output_scale.weight (a value around 1) when true. */
  outputScale: boolean;
  /** final_logit_softcapping, when written (llama.cpp's default is 30). */
  finalSoftcap?: number;
  /** Mean of the post-norm weights. */
  postNormMean: number;
  /** expert_count, when written (a mixture-of-experts header, for refusals; no expert tensors). */
  expertCount?: number;
}

/** llama_ftype of general.file_type, by the blocks' weight type. */
const FILE_TYPE: Partial<Record<TensorType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };

// Six blocks as Gemma 4 lays them out (sliding, then a full one; here
// 0-2 sliding, 3 full, 4 sliding, 5 full), so that with two shared-KV
// blocks 4 reads block 2's cache and 5 block 3's (llama.cpp's mapping:
// n_layer_kv - 2 for sliding, n_layer_kv - 1 for full). Sliding heads of
// 16 (one KV head), full ones of 32 (two KV heads: cache rows of 16 and 64)
// rotating a quarter of
// their pairs, as the real full blocks do.
const BASE: Omit<Gemma4Spec, 'name'> = {
  arch: 'gemma4',
  nEmbd: 64, nLayer: 6, nHead: 4, nHeadKv: 1, nFf: 128, nVocab: 512, nCtxTrain: 2048,
  ropeFreqBase: 1000000, rmsEps: 1e-6,
  weightType: 'f32', embdType: 'f32', outputType: 'f32', tiedOutput: false,
  std: 0.06, embdStd: 0.25, outputStd: 0.3, normStd: 0.1, seed: 1,
  swaLayers: [true, true, true, false, true, false], slidingWindow: 8,
  headDim: 32, headDimSwa: 16, nHeadKvFull: 2, ropeFullPairs: 4, ropeFreqBaseSwa: 10000,
  sharedKvLayers: 0, nEmbdPerLayer: 0, fullWithoutV: false, outputScale: false, postNormMean: 1,
};

export type Gemma4Variant = 'e2b' | 'dense';
export const GEMMA4_PRESETS: Readonly<Record<Gemma4Variant, Gemma4Spec>> = {
  // E2B/E4B-like: per-layer embeddings of 32, the last two blocks sharing
  // KV (their FFN twice as wide), no soft-cap key (llama.cpp's 30 applies).
  e2b: {
    ...BASE, name: 'hob-tiny-gemma4-e2b', sharedKvLayers: 2, nEmbdPerLayer: 32, nFfShared: 256, outputScale: true,
  },
  // 31B-like: no per-layer embeddings, no shared KV, full blocks without
  // attn_v, a soft-cap that bites.
  dense: { ...BASE, name: 'hob-tiny-gemma4-dense', fullWithoutV: true, finalSoftcap: 10, outputScale: true },
};

export function makeGemma4Spec(variant: Gemma4Variant, overrides: Partial<Gemma4Spec> = {}): Gemma4Spec {
  const base = GEMMA4_PRESETS[variant];
  if (!base) throw new Error(`unknown Gemma 4 variant ${variant}`);
  const t = overrides.weightType;
  return { ...base, ...(t ? { embdType: t, outputType: t } : {}), ...overrides };
}

/** A GgufWriter holding a random Gemma 4 model (weights generated while
 *  writing), over the synthetic vocabulary unless one is given. */
export function buildGemma4Model(spec: Gemma4Spec, vocab: Vocab = syntheticVocab(spec.nVocab)): GgufWriter {
  const { nEmbd, nHead, nVocab, nLayer } = spec;
  if (spec.swaLayers.length !== nLayer) throw new Error(`${spec.name}: ${spec.swaLayers.length} window flags for ${nLayer} blocks`);
  const fileType = FILE_TYPE[spec.weightType];
  if (fileType === undefined) throw new Error(`${spec.name}: no file type for ${spec.weightType}`);
  const firstShared = nLayer - spec.sharedKvLayers;
  const headDim = (l: number) => (spec.swaLayers[l] ? spec.headDimSwa : spec.headDim);
  const nKv = (l: number) => (spec.swaLayers[l] ? spec.nHeadKv : spec.nHeadKvFull);
  const nFf = (l: number) => (l >= firstShared ? spec.nFfShared ?? spec.nFf : spec.nFf);
  if (vocab.tokens.length !== nVocab) throw new Error(`${spec.name}: ${vocab.tokens.length} tokens for a vocabulary of ${nVocab}`);
  const w = new GgufWriter();
  const a = 'gemma4.';
  const P = spec.nEmbdPerLayer;

  w.addKv('general.architecture', 'gemma4', 'string');
  w.addKv('general.name', spec.name, 'string');
  w.addKv('general.file_type', fileType, 'uint32');
  w.addKv('general.quantization_version', 2, 'uint32');
  w.addKv(a + 'context_length', spec.nCtxTrain, 'uint32');
  w.addKv(a + 'embedding_length', nEmbd, 'uint32');
  w.addKv(a + 'block_count', nLayer, 'uint32');
  const ffs = Array.from({ length: nLayer }, (_, l) => nFf(l));
  if (ffs.every((f) => f === spec.nFf)) w.addKv(a + 'feed_forward_length', spec.nFf, 'uint32');
  else w.addKv(a + 'feed_forward_length', ffs, 'uint32[]');
  w.addKv(a + 'attention.head_count', nHead, 'uint32');
  if (spec.nHeadKvFull === spec.nHeadKv) w.addKv(a + 'attention.head_count_kv', spec.nHeadKv, 'uint32');
  else w.addKv(a + 'attention.head_count_kv', Array.from({ length: nLayer }, (_, l) => nKv(l)), 'uint32[]');
  w.addKv(a + 'attention.key_length', spec.headDim, 'uint32');
  w.addKv(a + 'attention.value_length', spec.headDim, 'uint32');
  w.addKv(a + 'attention.key_length_swa', spec.headDimSwa, 'uint32');
  w.addKv(a + 'attention.value_length_swa', spec.headDimSwa, 'uint32');
  w.addKv(a + 'rope.freq_base', spec.ropeFreqBase, 'float32');
  w.addKv(a + 'rope.freq_base_swa', spec.ropeFreqBaseSwa, 'float32');
  w.addKv(a + 'rope.dimension_count', spec.headDim, 'uint32');
  w.addKv(a + 'rope.dimension_count_swa', spec.headDimSwa, 'uint32');
  w.addKv(a + 'attention.layer_norm_rms_epsilon', spec.rmsEps, 'float32');
  w.addKv(a + 'attention.sliding_window', spec.slidingWindow, 'uint32');
  w.addKv(a + 'attention.sliding_window_pattern', spec.swaLayers, 'bool[]');
  w.addKv(a + 'attention.shared_kv_layers', spec.sharedKvLayers, 'uint32');
  w.addKv(a + 'embedding_length_per_layer_input', P, 'uint32');
  if (spec.expertCount !== undefined) w.addKv(a + 'expert_count', spec.expertCount, 'uint32');
  if (spec.finalSoftcap !== undefined) w.addKv(a + 'final_logit_softcapping', spec.finalSoftcap, 'float32');
  w.addKv('tokenizer.ggml.model', 'llama', 'string');
  w.addKv('tokenizer.ggml.tokens', vocab.tokens, 'string[]');
  w.addKv('tokenizer.ggml.scores', vocab.scores, 'float32[]');
  w.addKv('tokenizer.ggml.token_type', vocab.types, 'int32[]');
  w.addKv('tokenizer.ggml.bos_token_id', 1, 'uint32');
  w.addKv('tokenizer.ggml.eos_token_id', 2, 'uint32');
  w.addKv('tokenizer.ggml.unknown_token_id', 0, 'uint32');
  w.addKv('tokenizer.ggml.add_bos_token', true, 'bool');
  w.addKv('tokenizer.ggml.add_eos_token', false, 'bool');

  const random = (name: string, dims: number[], type: TensorType, mean: number, std: number): void =>
    addRandomTensor(w, spec.seed, name, dims, typeForRow(type, dims[0]), mean, std);
  const norm = (name: string, n: number, mean = 1): void => random(name, [n], 'f32', mean, spec.normStd);
  const fixed = (name: string, values: number[]): void => {
    w.addTensor(name, [values.length], 'f32', (out, start) => out.set(values.slice(start, start + out.length)));
  };

  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out.
  random('token_embd.weight', [nEmbd, nVocab], spec.embdType, 0, spec.embdStd);
  norm('output_norm.weight', nEmbd);
  if (!spec.tiedOutput) random('output.weight', [nEmbd, nVocab], spec.outputType, 0, spec.outputStd);
  // Proportional RoPE: the full blocks rotate their first pairs only (a
  // divisor of 1e30 leaves a pair in place), as the converter writes it.
  fixed('rope_freqs.weight', Array.from({ length: spec.headDim / 2 }, (_, i) => (i < spec.ropeFullPairs ? 1 : 1e30)));
  if (P > 0) {
    random('per_layer_token_embd.weight', [P * nLayer, nVocab], spec.embdType, 0, 1);
    random('per_layer_model_proj.weight', [nEmbd, P * nLayer], spec.weightType, 0, spec.std);
    norm('per_layer_proj_norm.weight', P);
  }
  const t = spec.weightType;
  for (let l = 0; l < nLayer; l++) {
    const blk = `blk.${l}.`;
    const D = headDim(l);
    const kvDim = nKv(l) * D;
    const ownKv = l < firstShared;
    norm(blk + 'attn_norm.weight', nEmbd);
    random(blk + 'attn_q.weight', [nEmbd, nHead * D], t, 0, spec.std);
    if (ownKv) {
      random(blk + 'attn_k.weight', [nEmbd, kvDim], t, 0, spec.std);
      if (!(spec.fullWithoutV && !spec.swaLayers[l])) random(blk + 'attn_v.weight', [nEmbd, kvDim], t, 0, spec.std);
    }
    norm(blk + 'attn_q_norm.weight', D);
    if (ownKv) norm(blk + 'attn_k_norm.weight', D);
    random(blk + 'attn_output.weight', [nHead * D, nEmbd], t, 0, spec.std);
    norm(blk + 'post_attention_norm.weight', nEmbd, spec.postNormMean);
    norm(blk + 'ffn_norm.weight', nEmbd);
    random(blk + 'ffn_gate.weight', [nEmbd, nFf(l)], t, 0, spec.std);
    random(blk + 'ffn_up.weight', [nEmbd, nFf(l)], t, 0, spec.std);
    random(blk + 'ffn_down.weight', [nFf(l), nEmbd], t, 0, spec.std);
    norm(blk + 'post_ffw_norm.weight', nEmbd, spec.postNormMean);
    if (spec.outputScale) random(blk + 'layer_output_scale.weight', [1], 'f32', 1, 0.2);
    if (P > 0) {
      random(blk + 'inp_gate.weight', [nEmbd, P], t, 0, spec.std * 2);
      random(blk + 'proj.weight', [P, nEmbd], t, 0, spec.std * 2);
      norm(blk + 'post_norm.weight', nEmbd);
    }
  }
  return w;
}

/** The GGUF bytes of a random Gemma 4 model (see buildGemma4Model). */
export function writeGemma4Model(spec: Gemma4Spec): Uint8Array {
  return buildGemma4Model(spec).toBytes();
}
