// What the layers say to each other about a model: its identity and size
// (ModelInfo), what a forward pass needs beyond that (ModelHparams), a GGUF
// header as read from the file (GgufHeader), and how a load split the model
// between the CPU and the GPU (LoadReport). Types only.
import type { EmbeddingPooling } from './types.js';

export interface ModelInfo {
  architecture: string;
  name: string;
  nVocab: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  bos: number;
  eos: number;
  weightBytes: number;
  fileBytes: number;
}

/** Which model file a model was loaded from, as precisely as a saved
 * session must know it: a different file is a different model even under
 * the same name (src/runtime/identity.ts computes it). */
export interface ModelIdentity {
  name: string;
  architecture: string;
  sizeBytes: number;
  /** SHA-256 (hex) of the GGUF header and of samples of the tensor data. */
  fingerprint: string;
}

/** What a forward pass needs to know beyond ModelInfo (and what the GPU
 * blocks are built from). */
export interface ModelHparams {
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  rmsEps: number;
  ropeStyle: 'normal' | 'neox';
  nRot: number;
  freqBase: number;
  freqScale: number;
  /** Blocks [0, nCpuLayers) run in wasm; the rest are offloaded. */
  nCpuLayers: number;
  /** False only when every block is offloaded: the head then runs on the GPU. */
  headOnCpu: boolean;
  /** Biases on the Q, K and V projections (Qwen 2). */
  qkvBias: boolean;
  /** Q, K and V in one attn_qkv tensor (Phi 3). */
  fusedQkv: boolean;
  /** Gate and up in one ffn_up tensor of 2 n_ff rows, gate first (Phi 3). */
  fusedFfn: boolean;
  /** RMSNorm of q and k before RoPE: of every head (Qwen 3, Gemma 3), of
   * each token's whole q and k rows (OLMo 2), or none. */
  qkNorm: 'none' | 'head' | 'row';
  /** RMSNorm of each sub-block's input (attn_norm, ffn_norm); false: the
   * sub-block reads the residual stream as it is (OLMo 2). */
  preNorms: boolean;
  /** RMSNorm of each sub-block's output before the residual add (Gemma 2/3, OLMo 2). */
  postNorms: boolean;
  /** Token embeddings are multiplied by this (Gemma: sqrt(n_embd); Granite: embedding_scale). */
  embdScale: number;
  /** Each sub-block's output is multiplied by this before the residual add (Granite; else 1). */
  residualScale: number;
  /** Logits are multiplied by this (Granite: 1 / logit_scale; else 1). */
  logitScale: number;
  /** The attention scale: on q.k, or on q itself when attnScaleOnQ. */
  attnScale: number;
  attnScaleOnQ: boolean;
  /** Scores become c tanh(s / c); 0: off (Gemma 2). */
  attnSoftcap: number;
  /** Logits become c tanh(l / c); 0: off (Gemma 2). */
  finalSoftcap: number;
  /** The gated activation of the feed-forward block. */
  ffnAct: 'silu' | 'gelu';
  /** Sliding window in positions (0: none) and the layers that use it. */
  nSwa: number;
  swaLayers: boolean[];
  /** RoPE of the sliding-window layers (Gemma 3 uses another base). */
  freqBaseSwa: number;
  freqScaleSwa: number;
  /** RoPE's cos and sin are multiplied by this (LongRoPE's attention factor; 1 elsewhere). */
  ropeAttnFactor: number;
  ropeAttnFactorSwa: number;
  /** LongRoPE: a session of more cells rotates with rope_factors_long, others with _short. */
  nCtxOrig: number;
  /** Per layer: false where it has no position encoding (SmolLM3's NoPE layers). */
  ropeLayers: boolean[];
  /** Hybrids: each block's token mixer. Attention everywhere for the
   *  other architectures; LFM2 has short convolutions, Qwen 3.5 Gated
   *  DeltaNet blocks, both with a recurrent state instead of a KV cache. */
  mixers: TokenMixer[];
  /** Taps of the recurrent blocks' causal convolution (0: none) and its
   *  channels (LFM2: nEmbd; Qwen 3.5: the convolved q, k and v). */
  convKernel: number;
  convChannels: number;
  /** Gated DeltaNet: head width, key heads, value heads (value head h reads
   *  key head h % ssmKeyHeads). 0 without DeltaNet blocks. */
  ssmHeadDim: number;
  ssmKeyHeads: number;
  ssmValueHeads: number;
  /** The q projection gives each head's query then a gate, interleaved per
   *  head; attention output is multiplied by sigmoid(gate) (Qwen 3.5). */
  attnGate: boolean;
  /** Causal attention; false: every token sees its whole sequence (encoders, EmbeddingGemma). */
  causal: boolean;
  /** The pooling the file asks for ('none' when it names none: a generative model). */
  pooling: EmbeddingPooling;
  /** Scores of the classifier head (rerankers). */
  nClsOut: number;
  /** The classifier's weights: cls.weight (dense + tanh) and cls.output.weight (the scores). */
  clsDense: boolean;
  clsOut: boolean;
  /** An output head gives next-token logits; false for embedding models. */
  hasHead: boolean;
  /** The block: the decoder's, or BERT's post-norm LayerNorm block (bert, nomic-bert). */
  block: 'decoder' | 'bert';
  /** LayerNorm epsilon of BERT blocks. */
  normEps: number;
  /** The sliding window spans nSwa / 2 positions on each side (EmbeddingGemma). */
  swaSymmetric: boolean;
  /** Gemma 4: per-layer input values of each block and token (0: none),
   *  computed on the CPU and handed to offloaded blocks with their hidden states. */
  nEmbdPerLayer: number;
  /** Gemma 4: head width and RoPE dimensions of the sliding blocks (which
   *  rotate without rope_freqs); 0 where they are headDim's and nRot's. */
  headDimSwa: number;
  nRotSwa: number;
  /** Per layer: KV heads, the layer whose cache it attends over (itself, or
   *  an earlier one: Gemma 4's shared KV), and the feed-forward width. */
  headKvLayers: number[];
  kvSourceLayers: number[];
  ffLayers: number[];
}

/** What mixes tokens in a block: attention over the KV cache, LFM2's gated
 *  short convolution, or Qwen 3.5's Gated DeltaNet. */
export type TokenMixer = 'attention' | 'shortconv' | 'deltanet';

export type GgufScalar = number | bigint | string | boolean;
export type GgufMetadataValue = GgufScalar | GgufScalar[];

export interface GgufTensor {
  name: string;
  type: string;
  typeId: number;
  dims: number[];
  offset: number;
  sizeBytes: number;
}

export interface GgufHeader {
  version: number;
  dataOffset: number;
  metadata: Record<string, GgufMetadataValue>;
  tensors: GgufTensor[];
}

/** What the loader decided and why, for the user and the logs. */
export interface LoadReport {
  gpuLayers: number;
  nLayer: number;
  headOnGpu: boolean;
  /** Bytes of weights in the wasm heap and in GPU buffers. */
  cpuWeightBytes: number;
  gpuWeightBytes: number;
  /** Why gpuLayers has its value (for 'auto'). */
  reason: string;
}
