// Random models of the hybrid architectures Hob runs: LFM2 (short
// convolutions and attention) and Qwen 3.5 (Gated DeltaNet recurrent blocks
// and gated attention), written with the tensor names, shapes and metadata
// keys llama.cpp's converter gives each, over the synthetic SentencePiece
// vocabulary of random-model.ts. Attention-only architectures are
// arch-models.ts's.
import { addRandomTensor, syntheticVocab, typeForRow, type LlamaSpec } from './random-model';
import { GgufWriter, type TensorType } from './writer';

export type HybridArch = 'lfm2' | 'qwen35';
export const HYBRID_ARCHS: readonly HybridArch[] = ['lfm2', 'qwen35'];

export interface HybridSpec extends LlamaSpec {
  arch: HybridArch;
  /** Head width of the attention blocks (written as key_length). */
  headDim: number;
  /** Rotated dimensions per attention head (qwen35 rotates part of each). */
  nRot?: number;
  /** Blocks that attend; every other block is recurrent. */
  attentionLayers: number[];
  /** Taps of the causal convolution (lfm2 shortconv.l_cache, qwen35 ssm.conv_kernel). */
  convKernel: number;
  /** qwen35: the DeltaNet head width (ssm.state_size), key heads (ssm.group_count)
   *  and value heads (ssm.time_step_rank, a multiple of the key heads). */
  ssmHeadDim?: number;
  ssmKeyHeads?: number;
  ssmValueHeads?: number;
  /** qwen35: rope.dimension_sections (interleaved M-RoPE; text uses the first three). */
  ropeSections?: [number, number, number, number];
  /** Standard deviation of the convolution taps. */
  convStd: number;
}

/** llama_ftype of general.file_type, by the blocks' weight type. */
const FILE_TYPE: Partial<Record<TensorType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };

// The tiny preset's shapes with a handful of blocks, so that both kinds of
// block appear more than once. Weights are twice the tiny preset's std
// (0.04 at width 64; see random-model.ts): at 0.04 the embedding dominates
// the residual stream and the same greedy tokens come out with the
// convolutions zeroed; at 0.08 they differ from the second token on.
const BASE = {
  nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 192, nVocab: 512, nCtxTrain: 2048,
  ropeFreqBase: 1000000, rmsEps: 1e-5,
  weightType: 'f32', embdType: 'f32', outputType: 'f32', tiedOutput: false,
  std: 0.08, embdStd: 1, outputStd: 0.5, normStd: 0.1, seed: 1,
} as const;

export const HYBRID_PRESETS: Readonly<Record<HybridArch, HybridSpec>> = {
  // Six blocks, attention at 2 and 5 (LFM2-350M attends at 2, 5, 8, 10, 12,
  // 14 of 16); LFM2's three-tap convolution.
  lfm2: {
    ...BASE, arch: 'lfm2', name: 'hob-tiny-lfm2', nLayer: 6, headDim: 16,
    attentionLayers: [2, 5], convKernel: 3, convStd: 0.5,
  },
  // Six blocks, attention at 2 and 5 (full_attention_interval 3; Qwen 3.5
  // uses 4). Attention heads of 32 rotate 16 dimensions (Qwen 3.5: 64 of
  // 256) under sections that cover every rotated pair; DeltaNet heads of
  // 16, two key heads shared by four value heads (as the larger models do).
  qwen35: {
    ...BASE, arch: 'qwen35', name: 'hob-tiny-qwen35', nLayer: 6, headDim: 32, nRot: 16,
    attentionLayers: [2, 5], convKernel: 4, convStd: 0.5,
    ssmHeadDim: 16, ssmKeyHeads: 2, ssmValueHeads: 4, ropeSections: [3, 3, 2, 0],
  },
};

export function makeHybridSpec(arch: HybridArch, overrides: Partial<HybridSpec> = {}): HybridSpec {
  const base = HYBRID_PRESETS[arch];
  if (!base) throw new Error(`unknown hybrid architecture ${arch} (${HYBRID_ARCHS.join(', ')})`);
  const t = overrides.weightType;
  return { ...base, ...(t ? { embdType: t, outputType: t } : {}), ...overrides };
}

/** A GgufWriter holding a random model of spec.arch (weights generated while writing). */
export function buildHybridModel(spec: HybridSpec): GgufWriter {
  const { arch, nEmbd, nHead, nHeadKv, nFf, nVocab, nLayer, headDim } = spec;
  const qDim = nHead * headDim;
  const kvDim = nHeadKv * headDim;
  if (nHead % nHeadKv !== 0) throw new Error(`${spec.name}: nHead ${nHead} is not a multiple of nHeadKv ${nHeadKv}`);
  if (arch === 'lfm2' && qDim !== nEmbd) throw new Error(`${spec.name}: lfm2 needs n_head·head_dim = n_embd`);
  const fileType = FILE_TYPE[spec.weightType];
  if (fileType === undefined) throw new Error(`${spec.name}: no file type for ${spec.weightType}`);
  const attends = (l: number) => spec.attentionLayers.includes(l);
  const vocab = syntheticVocab(nVocab);
  const w = new GgufWriter();
  const a = `${arch}.`;

  w.addKv('general.architecture', arch, 'string');
  w.addKv('general.name', spec.name, 'string');
  w.addKv('general.file_type', fileType, 'uint32');
  w.addKv('general.quantization_version', 2, 'uint32');
  w.addKv(a + 'context_length', spec.nCtxTrain, 'uint32');
  w.addKv(a + 'embedding_length', nEmbd, 'uint32');
  w.addKv(a + 'block_count', nLayer, 'uint32');
  w.addKv(a + 'feed_forward_length', nFf, 'uint32');
  w.addKv(a + 'attention.head_count', nHead, 'uint32');
  w.addKv(a + 'rope.freq_base', spec.ropeFreqBase, 'float32');
  w.addKv(a + 'attention.layer_norm_rms_epsilon', spec.rmsEps, 'float32');
  if (arch === 'lfm2') {
    // LFM2's converter writes head_count_kv per block, 0 for a convolution block.
    const kv = Array.from({ length: nLayer }, (_, l) => (attends(l) ? nHeadKv : 0));
    w.addKv(a + 'attention.head_count_kv', kv, 'uint32[]');
    w.addKv(a + 'shortconv.l_cache', spec.convKernel, 'uint32');
    w.addKv(a + 'vocab_size', nVocab, 'uint32');
  } else {
    const { ssmHeadDim: sd, ssmKeyHeads: hk, ssmValueHeads: hv, ropeSections } = spec;
    if (!sd || !hk || !hv || !ropeSections || hv % hk !== 0) throw new Error(`${spec.name}: incomplete DeltaNet shape`);
    w.addKv(a + 'attention.head_count_kv', nHeadKv, 'uint32');
    w.addKv(a + 'attention.key_length', headDim, 'uint32');
    w.addKv(a + 'attention.value_length', headDim, 'uint32');
    w.addKv(a + 'rope.dimension_count', spec.nRot ?? headDim, 'uint32');
    w.addKv(a + 'rope.dimension_sections', ropeSections, 'int32[]');
    w.addKv(a + 'ssm.conv_kernel', spec.convKernel, 'uint32');
    w.addKv(a + 'ssm.state_size', sd, 'uint32');
    w.addKv(a + 'ssm.group_count', hk, 'uint32');
    w.addKv(a + 'ssm.time_step_rank', hv, 'uint32');
    w.addKv(a + 'ssm.inner_size', sd * hv, 'uint32');
    // llama.cpp reads the recurrent blocks from an interval (every n-th attends).
    const interval = spec.attentionLayers[0] + 1;
    const regular = Array.from({ length: nLayer }, (_, l) => (l + 1) % interval === 0).every((x, l) => x === attends(l));
    if (!regular) throw new Error(`${spec.name}: qwen35 attention blocks must be every ${interval}-th`);
    w.addKv(a + 'full_attention_interval', interval, 'uint32');
  }
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
  const t = spec.weightType;

  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out.
  random('token_embd.weight', [nEmbd, nVocab], spec.embdType, 0, spec.embdStd); // (vocab, dim)
  // llama.cpp reads LFM2's output norm under the name token_embd_norm.
  norm(arch === 'lfm2' ? 'token_embd_norm.weight' : 'output_norm.weight', nEmbd);
  if (!spec.tiedOutput) random('output.weight', [nEmbd, nVocab], spec.outputType, 0, spec.outputStd);
  for (let l = 0; l < nLayer; l++) {
    const blk = `blk.${l}.`;
    norm(blk + 'attn_norm.weight', nEmbd);
    if (attends(l)) {
      // qwen35: one projection gives each head's query then its output gate.
      random(blk + 'attn_q.weight', [nEmbd, arch === 'qwen35' ? 2 * qDim : qDim], t, 0, spec.std);
      random(blk + 'attn_k.weight', [nEmbd, kvDim], t, 0, spec.std);
      random(blk + 'attn_v.weight', [nEmbd, kvDim], t, 0, spec.std);
      norm(blk + 'attn_q_norm.weight', headDim);
      norm(blk + 'attn_k_norm.weight', headDim);
      random(blk + 'attn_output.weight', [qDim, nEmbd], t, 0, spec.std);
    } else if (arch === 'lfm2') {
      random(blk + 'shortconv.in_proj.weight', [nEmbd, 3 * nEmbd], t, 0, spec.std); // dim → b | c | x
      random(blk + 'shortconv.conv.weight', [spec.convKernel, nEmbd], 'f32', 0, spec.convStd); // (dim, taps)
      random(blk + 'shortconv.out_proj.weight', [nEmbd, nEmbd], t, 0, spec.std);
    } else {
      const sd = spec.ssmHeadDim!, hk = spec.ssmKeyHeads!, hv = spec.ssmValueHeads!;
      const keyDim = sd * hk, valueDim = sd * hv;
      random(blk + 'attn_qkv.weight', [nEmbd, 2 * keyDim + valueDim], t, 0, spec.std); // dim → q | k | v
      random(blk + 'attn_gate.weight', [nEmbd, valueDim], t, 0, spec.std); // dim → z
      random(blk + 'ssm_conv1d.weight', [spec.convKernel, 2 * keyDim + valueDim], 'f32', 0, spec.convStd);
      random(blk + 'ssm_dt.bias', [hv], 'f32', 0, 0.5);
      random(blk + 'ssm_a', [hv], 'f32', -1, 0.2); // -exp(A_log): the decay rate, negative
      random(blk + 'ssm_beta.weight', [nEmbd, hv], t, 0, spec.std * 4);
      random(blk + 'ssm_alpha.weight', [nEmbd, hv], t, 0, spec.std * 4);
      norm(blk + 'ssm_norm.weight', sd);
      random(blk + 'ssm_out.weight', [valueDim, nEmbd], t, 0, spec.std);
    }
    // Qwen 3.5 names its feed-forward norm post_attention_norm.
    norm(blk + (arch === 'qwen35' ? 'post_attention_norm.weight' : 'ffn_norm.weight'), nEmbd);
    random(blk + 'ffn_gate.weight', [nEmbd, nFf], t, 0, spec.std); // dim → n_ff
    random(blk + 'ffn_up.weight', [nEmbd, nFf], t, 0, spec.std);
    random(blk + 'ffn_down.weight', [nFf, nEmbd], t, 0, spec.std); // n_ff → dim
  }
  return w;
}

/** The GGUF bytes of a random model of spec.arch (see buildHybridModel). */
export function writeHybridModel(spec: HybridSpec): Uint8Array {
  return buildHybridModel(spec).toBytes();
}
