// The weights of a model's offloaded part as the forward pass reads them
// (gpu-model.ts uploads them; forward-graph.ts and runner.ts use them), and
// the tensors they are made from. Types only.
import type { ModelHparams, ModelInfo } from '../shared/model.js';
import type { GpuContext } from './device.js';
import type { Kernels, RopeConfig } from './kernels/index.js';
import type { GpuWeight } from './weights.js';

/** One tensor as the file stores it. dims[0] is the row length. */
export interface TensorBytes {
  typeId: number;
  type: string;
  dims: number[];
  bytes: Uint8Array;
}

/** Reads a tensor of the model file by name; undefined if it is absent. */
export type TensorReader = (name: string) => Promise<TensorBytes | undefined>;

export interface GpuBlockWeights {
  /** (n_embd) f32; absent without pre-norms (OLMo 2: the projections read the residual stream). */
  attnNorm?: GPUBuffer;
  /** Q (n_embd -> n_head * head_dim), K and V (n_embd -> n_head_kv *
   * head_dim): one weight stacking the three when their types match (one
   * dispatch; GpuWeight.stack), else the three. With ModelHparams.attnGate
   * a fourth output follows: the gates (n_embd -> n_head * head_dim), their
   * rows taken from between the query heads of attn_q. Empty for a
   * recurrent block (`mixer`). */
  qkv: GpuWeight[];
  /** (n_head * head_dim -> n_embd); a recurrent block's output projection. */
  wo: GpuWeight;
  ffnNorm?: GPUBuffer; // (n_embd) f32; absent as attnNorm
  /** Gate and up (n_embd -> n_ff), stacked like qkv. */
  gateUp: GpuWeight[];
  down: GpuWeight; // (n_ff -> n_embd)
  // Present where the architecture has them (ModelHparams says which).
  bq?: GPUBuffer; // (n_head * head_dim) f32
  bk?: GPUBuffer; // (kv_dim) f32
  bv?: GPUBuffer; // (kv_dim) f32
  /** The three biases back to back, where the RoPE + cache store adds them
   * (full rotation, no Q/K norm); bq, bk and bv are then absent. */
  bqkv?: GPUBuffer; // (n_head * head_dim + 2 kv_dim) f32
  qNorm?: GPUBuffer; // (head_dim) f32, or (n_head * head_dim) with hparams.qkNorm 'row'
  kNorm?: GPUBuffer; // (head_dim) f32, or (kv_dim) with hparams.qkNorm 'row'
  postAttnNorm?: GPUBuffer; // (n_embd) f32
  postFfnNorm?: GPUBuffer; // (n_embd) f32
  /** Sliding window of this block in positions; 0 for full attention. */
  window: number;
  /** Gemma 4: this block's head width, KV heads and feed-forward width
   * where they differ by block (absent: the hparams'). */
  headDim?: number;
  nHeadKv?: number;
  nFf?: number;
  /** Gemma 4's shared KV: the index in `blocks` of the earlier block whose
   * cache this one attends over; qkv then holds Q alone. Absent: its own. */
  kvFrom?: number;
  /** Gemma 4: V's per-head norm weight (ones: its norm has none). */
  vNorm?: GPUBuffer; // (head_dim) f32
  /** Gemma 4's per-layer input after the FFN: x += post_norm(proj(gelu(gate(x)) * input)). */
  perLayer?: { gate: GpuWeight; proj: GpuWeight; postNorm: GPUBuffer };
  /** Gemma 4's layer_output_scale: the residual stream is multiplied by it after the block (absent: 1). */
  outScale?: number;
  /** A hybrid's recurrent block: its token mixer, in place of attention. */
  mixer?: GpuMixerWeights;
}

/** The token mixer of a recurrent block (hybrids), besides its output
 * projection (GpuBlockWeights.wo). */
export interface GpuMixerWeights {
  kind: 'shortconv' | 'deltanet';
  /** The input projections, stacked like qkv: LFM2's in_proj (n_embd -> 3
   * n_embd: b, c, x); Qwen 3.5's attn_qkv (n_embd -> conv channels),
   * attn_gate (n_embd -> value_dim: z), ssm_beta and ssm_alpha (n_embd ->
   * n_value_heads). */
  inProj: GpuWeight[];
  conv: GPUBuffer; // (channels, kernel) f32
  // DeltaNet only:
  dtBias?: GPUBuffer; // (n_value_heads) f32
  a?: GPUBuffer; // (n_value_heads) f32: -exp(A_log)
  ssmNorm?: GPUBuffer; // (head_dim) f32
}

/** One BERT block (bert, nomic-bert): post-norm LayerNorms with biases,
 * biased projections where the file has them, GELU or SwiGLU. */
export interface GpuEncoderBlockWeights {
  /** Q, K and V (n_embd -> n_embd each), stacked like GpuBlockWeights.qkv. */
  qkv: GpuWeight[];
  bq?: GPUBuffer; // (n_embd) f32
  bk?: GPUBuffer; // (n_embd) f32
  bv?: GPUBuffer; // (n_embd) f32
  wo: GpuWeight; // (n_embd -> n_embd)
  bo?: GPUBuffer; // (n_embd) f32
  attnOutNorm: GPUBuffer; // (n_embd) f32: LayerNorm after the attention's residual
  attnOutNormB: GPUBuffer; // (n_embd) f32
  /** Up (n_embd -> n_ff), or gate and up stacked (nomic-bert's SwiGLU). */
  up: GpuWeight[];
  bUp?: GPUBuffer; // (n_ff) f32
  down: GpuWeight; // (n_ff -> n_embd)
  bDown?: GPUBuffer; // (n_embd) f32
  outNorm: GPUBuffer; // (n_embd) f32: LayerNorm after the FFN's residual
  outNormB: GPUBuffer; // (n_embd) f32
}

export interface GpuModelSpec {
  info: ModelInfo;
  hparams: ModelHparams;
}

/** What a session's forward pass needs of the uploaded model. */
export interface GpuModelWeights {
  readonly ctx: GpuContext;
  readonly spec: GpuModelSpec;
  readonly kernels: Kernels;
  /** Blocks [firstLayer, nLayer), in order (decoders). */
  readonly blocks: readonly GpuBlockWeights[];
  /** The same for BERT's blocks (ModelHparams.block 'bert'); blocks is then empty. */
  readonly encoderBlocks: readonly GpuEncoderBlockWeights[];
  readonly firstLayer: number;
  /** True when every block is offloaded: outputNorm and output are then present. */
  readonly headOnDevice: boolean;
  readonly outputNorm?: GPUBuffer; // (n_embd) f32
  readonly output?: GpuWeight; // (n_embd -> n_vocab)
  /** True when `output` is the token embedding matrix (tied embeddings):
   * a token's embedding row can then be read on the GPU. */
  readonly outputTied?: boolean;
  /** The token embedding matrix on the GPU, where a token's embedding row
   * can be read there (decode-ahead.ts): `output` when tied; for an untied
   * model, its own upload when the load asked for it (gpu/memory.ts's
   * embedBytes); absent otherwise. */
  readonly embed?: GpuWeight;
  /** The RoPE of layer l in a session of nCtx cells (LongRoPE's factors
   * depend on it); undefined for a layer without position encoding. */
  ropeOf(l: number, nCtx: number): RopeConfig | undefined;
}
