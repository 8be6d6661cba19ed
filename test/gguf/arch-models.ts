// Random models of every architecture Hob runs (llama, qwen2, qwen3, phi3,
// gemma2, gemma3, smollm3, granite, olmo2), written with the tensor names,
// shapes and metadata keys llama.cpp's converter gives each, over the
// synthetic SentencePiece vocabulary of random-model.ts; and the RoPE
// variants that ride on them (Llama 3's frequency factors, Phi-3.5's
// LongRoPE). The llama-only benchmark presets stay in random-model.ts.
import { addRandomTensor, syntheticVocab, typeForRow, type LlamaSpec, type Vocab } from './random-model';
import { GgufWriter, type TensorType } from './writer';

export type ArchName = 'llama' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma2' | 'gemma3' | 'smollm3' | 'granite' | 'olmo2';
export const ARCHS: readonly ArchName[] = ['llama', 'qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3', 'smollm3', 'granite', 'olmo2'];

/** Llama 3's RoPE scaling as the converter turns it into rope_freqs.weight. */
export interface Llama3Scaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

/** Phi-3.5's LongRoPE: two sets of frequency divisors and an attention factor. */
export interface LongRope {
  /** rope.scaling.original_context_length: longer sessions use the long factors. */
  originalContext: number;
  /** rope.scaling.attn_factor (the converter's sqrt(1 + ln(scale) / ln(original))). */
  attnFactor: number;
  /** Written as short[i] = 1 + shortStep i and long[i] = 1 + longStep i (the real ones grow too). */
  shortStep: number;
  longStep: number;
}

/** Granite's muP multipliers, under the keys its converter writes. */
export interface GraniteScales {
  embedding: number;
  residual: number;
  attention: number;
  logit: number;
}

export interface ArchSpec extends LlamaSpec {
  arch: ArchName;
  /** Width of a head when it is not nEmbd / nHead (written as key_length). */
  headDim?: number;
  /** attention.sliding_window, in tokens. */
  slidingWindow?: number;
  /** attention.sliding_window_pattern (a period), when written. */
  swaPattern?: number;
  /** gemma2: attn_logit_softcapping. */
  attnSoftcap?: number;
  /** gemma2/gemma3: final_logit_softcapping. */
  finalSoftcap?: number;
  /** rope.scaling.type linear with this factor, when set. */
  ropeLinearFactor?: number;
  /** Standard deviation of the q/k/v biases (qwen2). */
  biasStd?: number;
  /** Mean of the gemma post-norm weights (1 when unset). */
  postNormMean?: number;
  /** Mean of output_norm's weights (1 when unset): scales the logits. */
  outputNormMean?: number;
  /** llama: rope_freqs.weight from Llama 3's scaling parameters. */
  llama3Rope?: Llama3Scaling;
  /** phi3: LongRoPE factors and attention factor. */
  longRope?: LongRope;
  /** granite: the multipliers (logit_scale is required by llama.cpp). */
  granite?: GraniteScales;
}

/** llama_ftype of general.file_type, by the blocks' weight type. */
const FILE_TYPE: Partial<Record<TensorType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };

// The tiny preset's shapes and conditioning (std 0.04 at width 64; see
// random-model.ts), per architecture with what sets it apart switched on:
// wide heads (key_length) for qwen3 and the gemmas, small sliding windows
// and soft-caps that bite, so each feature changes the tokens it is tested on.
const BASE: Omit<ArchSpec, 'arch' | 'name'> = {
  nEmbd: 64, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 192, nVocab: 512, nCtxTrain: 2048,
  ropeFreqBase: 10000, rmsEps: 1e-6,
  weightType: 'f32', embdType: 'f32', outputType: 'f32', tiedOutput: false,
  std: 0.04, embdStd: 1, outputStd: 0.5, normStd: 0.1, seed: 1,
};

export const ARCH_PRESETS: Readonly<Record<ArchName, ArchSpec>> = {
  llama: { ...BASE, arch: 'llama', name: 'hob-tiny-llama' },
  qwen2: { ...BASE, arch: 'qwen2', name: 'hob-tiny-qwen2', ropeFreqBase: 1000000, biasStd: 0.2 },
  qwen3: { ...BASE, arch: 'qwen3', name: 'hob-tiny-qwen3', ropeFreqBase: 1000000, headDim: 32 },
  // Phi-3 files carry a sliding window that llama.cpp ignores; ours too.
  // (named without "phi3": llama.cpp then expects Phi-3's special tokens.)
  phi3: { ...BASE, arch: 'phi3', name: 'hob-tiny-phi', rmsEps: 1e-5, slidingWindow: 8 },
  // Gemma ties the head to the embedding (input scaled by √n_embd). When
  // the input embedding dominates the residual stream, a tied head predicts
  // the input token forever; so the embedding is small and the post-norms
  // (which set each sub-block's output scale) are not. Gemma 2's larger
  // post-norms and output_norm give its soft-caps logits to bite on; they
  // also magnify rounding differences (see arch-generation.test.ts).
  gemma2: {
    ...BASE, arch: 'gemma2', name: 'hob-tiny-gemma2', headDim: 32, tiedOutput: true, embdStd: 0.25,
    slidingWindow: 8, attnSoftcap: 2, finalSoftcap: 10, postNormMean: 2, outputNormMean: 3,
  },
  // Six blocks: five local (window 8, RoPE base 10000) and one global
  // (base 1e6, linear scaling 8), Gemma 3's default pattern.
  gemma3: {
    ...BASE, arch: 'gemma3', name: 'hob-tiny-gemma3', nLayer: 6, headDim: 32, tiedOutput: true, embdStd: 0.25,
    ropeFreqBase: 1000000, ropeLinearFactor: 8, slidingWindow: 8, postNormMean: 1,
  },
  // Blocks 0-2 rotate, block 3 is NoPE (every fourth, as SmolLM3). The real
  // ones tie the head to the embedding; tied, these tiny ones would repeat
  // their input token (see gemma2 above), so the head is its own.
  smollm3: { ...BASE, arch: 'smollm3', name: 'hob-tiny-smollm3', ropeFreqBase: 5000000 },
  // Granite 3.x's multipliers (embedding 12, residual 0.22, logits / 8) with a
  // score scale twice the default, so that each one bites; a small
  // embedding, which the multiplier brings back to the tiny preset's scale.
  granite: {
    ...BASE, arch: 'granite', name: 'hob-tiny-granite', embdStd: 1 / 12,
    granite: { embedding: 12, residual: 0.22, attention: 0.5, logit: 8 },
  },
  // No pre-norms: q and k are normed as whole rows, each sub-block's output
  // by its post-norm.
  olmo2: { ...BASE, arch: 'olmo2', name: 'hob-tiny-olmo2', ropeFreqBase: 500000, rmsEps: 1e-6, embdStd: 0.5 },
};

export function makeArchSpec(arch: ArchName, overrides: Partial<ArchSpec> = {}): ArchSpec {
  const base = ARCH_PRESETS[arch];
  if (!base) throw new Error(`unknown architecture ${arch} (${ARCHS.join(', ')})`);
  const t = overrides.weightType;
  return { ...base, ...(t ? { embdType: t, outputType: t } : {}), ...overrides };
}

/** Tensors a test can leave out or reshape, to check the engine's errors. */
export interface Sabotage {
  omit?: string;
  /** Writes this tensor with these dims instead. */
  reshape?: { name: string; dims: number[] };
}

/** A GgufWriter holding a random model of spec.arch (weights generated while
 *  writing), with the synthetic vocabulary of spec.nVocab tokens unless one
 *  is given (a vision test's holds the image marker tokens). */
export function buildArchModel(spec: ArchSpec, sabotage: Sabotage = {}, vocab: Vocab = syntheticVocab(spec.nVocab)): GgufWriter {
  const { arch, nEmbd, nHead, nHeadKv, nFf, nVocab } = spec;
  const headDim = spec.headDim ?? nEmbd / nHead;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`${spec.name}: head dim ${headDim} is not even`);
  if (nHead % nHeadKv !== 0) throw new Error(`${spec.name}: nHead ${nHead} is not a multiple of nHeadKv ${nHeadKv}`);
  const qDim = nHead * headDim;
  const kvDim = nHeadKv * headDim;
  if (arch === 'phi3' && qDim !== nEmbd) throw new Error(`${spec.name}: phi3 needs n_head·head_dim = n_embd`);
  const gemma = arch === 'gemma2' || arch === 'gemma3';
  const fileType = FILE_TYPE[spec.weightType];
  if (fileType === undefined) throw new Error(`${spec.name}: no file type for ${spec.weightType}`);
  if (vocab.tokens.length !== nVocab) throw new Error(`${spec.name}: a vocabulary of ${vocab.tokens.length} tokens for nVocab ${nVocab}`);
  const w = new GgufWriter();
  const a = `${arch}.`;

  w.addKv('general.architecture', arch, 'string');
  w.addKv('general.name', spec.name, 'string');
  w.addKv('general.file_type', fileType, 'uint32');
  w.addKv('general.quantization_version', 2, 'uint32');
  w.addKv(a + 'context_length', spec.nCtxTrain, 'uint32');
  w.addKv(a + 'embedding_length', nEmbd, 'uint32');
  w.addKv(a + 'block_count', spec.nLayer, 'uint32');
  w.addKv(a + 'feed_forward_length', nFf, 'uint32');
  w.addKv(a + 'attention.head_count', nHead, 'uint32');
  w.addKv(a + 'attention.head_count_kv', nHeadKv, 'uint32');
  if (spec.headDim !== undefined) {
    w.addKv(a + 'attention.key_length', headDim, 'uint32');
    w.addKv(a + 'attention.value_length', headDim, 'uint32');
  }
  w.addKv(a + 'rope.freq_base', spec.ropeFreqBase, 'float32');
  if (['llama', 'phi3', 'smollm3', 'granite'].includes(arch)) w.addKv(a + 'rope.dimension_count', headDim, 'uint32');
  if (spec.ropeLinearFactor !== undefined) {
    w.addKv(a + 'rope.scaling.type', 'linear', 'string');
    w.addKv(a + 'rope.scaling.factor', spec.ropeLinearFactor, 'float32');
  }
  // Phi-3.5's converter writes no scaling type: the factors and these keys say it.
  if (spec.longRope) {
    w.addKv(a + 'rope.scaling.attn_factor', spec.longRope.attnFactor, 'float32');
    w.addKv(a + 'rope.scaling.original_context_length', spec.longRope.originalContext, 'uint32');
  }
  if (spec.granite) {
    w.addKv(a + 'attention.scale', spec.granite.attention, 'float32');
    w.addKv(a + 'embedding_scale', spec.granite.embedding, 'float32');
    w.addKv(a + 'residual_scale', spec.granite.residual, 'float32');
    w.addKv(a + 'logit_scale', spec.granite.logit, 'float32');
  }
  w.addKv(a + 'attention.layer_norm_rms_epsilon', spec.rmsEps, 'float32');
  if (spec.slidingWindow !== undefined) w.addKv(a + 'attention.sliding_window', spec.slidingWindow, 'uint32');
  if (spec.swaPattern !== undefined) w.addKv(a + 'attention.sliding_window_pattern', spec.swaPattern, 'uint32');
  if (spec.attnSoftcap !== undefined) w.addKv(a + 'attn_logit_softcapping', spec.attnSoftcap, 'float32');
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

  const random = (name: string, dims: number[], type: TensorType, mean: number, std: number): void => {
    if (sabotage.omit === name) return;
    if (sabotage.reshape?.name === name) dims = sabotage.reshape.dims;
    addRandomTensor(w, spec.seed, name, dims, typeForRow(type, dims[0]), mean, std);
  };
  const norm = (name: string, n: number, mean = 1): void => random(name, [n], 'f32', mean, spec.normStd);
  const postNorm = spec.postNormMean ?? 1;

  const fixed = (name: string, values: number[]): void => {
    if (sabotage.omit === name) return;
    const dims = sabotage.reshape?.name === name ? sabotage.reshape.dims : [values.length];
    w.addTensor(name, dims, 'f32', (out, start) => out.set(values.slice(start, start + out.length)));
  };

  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out.
  random('token_embd.weight', [nEmbd, nVocab], spec.embdType, 0, spec.embdStd); // (vocab, dim)
  norm('output_norm.weight', nEmbd, spec.outputNormMean ?? 1);
  if (!spec.tiedOutput) random('output.weight', [nEmbd, nVocab], spec.outputType, 0, spec.outputStd);
  if (spec.llama3Rope) fixed('rope_freqs.weight', llama3RopeFactors(spec.ropeFreqBase, headDim, spec.llama3Rope)); // (n_rot / 2)
  if (spec.longRope) {
    const half = Array.from({ length: headDim / 2 }, (_, i) => i);
    fixed('rope_factors_long.weight', half.map((i) => 1 + spec.longRope!.longStep * i)); // (n_rot / 2)
    fixed('rope_factors_short.weight', half.map((i) => 1 + spec.longRope!.shortStep * i));
  }
  const t = spec.weightType;
  for (let l = 0; l < spec.nLayer; l++) {
    const blk = `blk.${l}.`;
    if (arch !== 'olmo2') norm(blk + 'attn_norm.weight', nEmbd);
    if (arch === 'phi3') {
      random(blk + 'attn_qkv.weight', [nEmbd, qDim + 2 * kvDim], t, 0, spec.std); // dim → q | k | v
    } else {
      random(blk + 'attn_q.weight', [nEmbd, qDim], t, 0, spec.std); // dim → n_head·head_dim
      random(blk + 'attn_k.weight', [nEmbd, kvDim], t, 0, spec.std); // dim → n_head_kv·head_dim
      random(blk + 'attn_v.weight', [nEmbd, kvDim], t, 0, spec.std);
    }
    if (arch === 'qwen2') {
      const b = spec.biasStd ?? 0.1;
      random(blk + 'attn_q.bias', [qDim], 'f32', 0, b);
      random(blk + 'attn_k.bias', [kvDim], 'f32', 0, b);
      random(blk + 'attn_v.bias', [kvDim], 'f32', 0, b);
    }
    if (arch === 'qwen3' || arch === 'gemma3') {
      norm(blk + 'attn_q_norm.weight', headDim);
      norm(blk + 'attn_k_norm.weight', headDim);
    }
    if (arch === 'olmo2') {
      norm(blk + 'attn_q_norm.weight', qDim); // whole rows, not heads
      norm(blk + 'attn_k_norm.weight', kvDim);
    }
    random(blk + 'attn_output.weight', [qDim, nEmbd], t, 0, spec.std);
    if (gemma || arch === 'olmo2') norm(blk + 'post_attention_norm.weight', nEmbd, postNorm);
    if (arch !== 'olmo2') norm(blk + 'ffn_norm.weight', nEmbd);
    if (arch === 'phi3') {
      random(blk + 'ffn_up.weight', [nEmbd, 2 * nFf], t, 0, spec.std); // dim → gate | up
    } else {
      random(blk + 'ffn_gate.weight', [nEmbd, nFf], t, 0, spec.std); // dim → n_ff
      random(blk + 'ffn_up.weight', [nEmbd, nFf], t, 0, spec.std);
    }
    random(blk + 'ffn_down.weight', [nFf, nEmbd], t, 0, spec.std); // n_ff → dim
    if (gemma || arch === 'olmo2') norm(blk + 'post_ffw_norm.weight', nEmbd, postNorm);
  }
  return w;
}

/** rope_freqs.weight for Llama 3's scaling, as llama.cpp's converter
 * computes it (in double, stored as f32): divisor 1 for short wavelengths,
 * `factor` for long ones, a smooth mix between. */
export function llama3RopeFactors(base: number, nRot: number, s: Llama3Scaling): number[] {
  const lowWavelen = s.originalContext / s.lowFreqFactor;
  const highWavelen = s.originalContext / s.highFreqFactor;
  const out: number[] = [];
  for (let i = 0; i < nRot; i += 2) {
    const wavelen = (2 * Math.PI) / (1 / base ** (i / nRot));
    if (wavelen < highWavelen) out.push(1);
    else if (wavelen > lowWavelen) out.push(s.factor);
    else {
      const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out.push(1 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return out;
}

/** The GGUF bytes of a random model of spec.arch (see buildArchModel). */
export function writeArchModel(spec: ArchSpec, sabotage: Sabotage = {}): Uint8Array {
  return buildArchModel(spec, sabotage).toBytes();
}
