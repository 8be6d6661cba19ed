// The shapes the kernel families and their callers share: a recorded Step,
// RoPE and attention configurations, the context shift's step, and the
// size of the per-forward Frame uniform. Types only (and one constant).

/** A kernel bound to fixed buffers, recorded once and encoded every forward. */
export interface Step {
  readonly label: string;
  /** nKv: the cells visible after this batch (the frame's cell0 + nTokens),
   * where the caller knows it; steps that can use fewer dispatches over a
   * short context (decode attention) pick them from it. */
  encode(pass: GPUComputePassEncoder, nTokens: number, nKv?: number): void;
}

export interface RopeConfig {
  style: 'normal' | 'neox';
  nRot: number;
  freqBase: number;
  freqScale: number;
  /** nRot / 2 f32 divisors of the frequencies (Llama 3, LongRoPE), or absent. */
  freqFactors?: GPUBuffer;
  /** cos and sin are multiplied by this (LongRoPE's attention factor); default 1. */
  mscale?: number;
}

export interface AttentionShape {
  nHead: number;
  nHeadKv: number;
  headDim: number;
  scale: number;
  nCtx: number;
  /** Sliding window in cells (cell c holds position c); 0 or absent: full causal attention. */
  window?: number;
  /** Scores become softcap * tanh(s / softcap); 0 or absent: off. */
  softcap?: number;
  /** q is multiplied by this before its f16 rounding (Gemma scales q, not the scores); default 1. */
  qScale?: number;
}

/** The fixed shape of one layer's context shift (kvErase). */
export interface KvEraseShape {
  kvDim: number;
  nCtx: number;
  nHeadKv: number;
  headDim: number;
  /** Absent for a layer without position encoding (NoPE): cells move, keys stay. */
  rope?: RopeConfig;
}

/** A layer's context shift, recorded once: encode moves cells [end, end +
 * nMoved) down to start and re-rotates them, rewriting the step's own
 * parameter uniform (queue.writeBuffer) so a shift creates nothing. Encode
 * at most one shift per step into a command buffer before submitting it. */
export interface KvEraseStep {
  readonly label: string;
  encode(enc: GPUCommandEncoder, start: number, end: number, nMoved: number): void;
}

/** Bytes of the Frame uniform the runner writes before each forward. */
export const FRAME_BYTES = 16;
