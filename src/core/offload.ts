// The interface through which a session runs its last blocks on another
// device, as ggml's backend interface keeps ggml from including a backend:
// the core calls these functions and never imports an implementation
// (src/gpu implements them with WebGPU; src/runtime/load.ts attaches one).
// Everything here is shapes and promises: no GPU type crosses it.
import type { BatchRows } from './batch-rows.js';
import type { KvLayer } from './kv-state.js';

/** The best logits of one evaluation, read back instead of all of them. */
export interface Candidates {
  /** Token ids, best first (equal logits: lower id first); -1 past the vocabulary's end. */
  ids: Int32Array;
  /** Their logits, -inf for ids of -1. */
  logits: Float32Array;
  /** How many of all the logits were NaN. */
  nNan: number;
  /** False when too many logits tied with the best for the device to rank them: ids and logits mean nothing. */
  complete: boolean;
  /** A step run ahead with a device draw: the token it drew (-1: none). */
  drawn?: number;
}

/** What a device needs to draw from a top-k pick on its own, so that steps
 * run ahead can feed each other sampled tokens (src/gpu/decode-ahead.ts):
 * the sampler's stages after its top-k (top-p, min-p, temperature, in its
 * order) and its next uniform numbers. The device's draw imitates the
 * sampler's: the sampler still samples each step from the pick, and a step
 * whose device token differs is taken back, as a greedy one is. */
export interface DeviceDraw {
  stages: readonly { kind: 'top_p' | 'min_p' | 'temperature'; value: number }[];
  /** The sampler's next n uniform numbers in [0, 1), not drawn (the device
   * uses one per draw with more than one candidate left, as the sampler). */
  uniforms(n: number): Float64Array;
}

/** The weights of blocks [firstLayer, nLayer) (and the output head when
 * headOnDevice) on the device, from which sessions get runners. */
export interface OffloadedBlocks {
  readonly firstLayer: number;
  /** True when every block is offloaded: the output norm and head run there too. */
  readonly headOnDevice: boolean;
  /** Bytes of device memory the weights take. */
  readonly sizeBytes: number;
  /** The device side of a session of nCtx cells: its caches and
   * activations (and, for a hybrid's recurrent blocks, their state and
   * `checkpoints` copies of it), allocated here, once. */
  createRunner(nCtx: number, checkpoints?: number): OffloadRunner;
  /** Frees the weights and every runner made from them. */
  destroy(): void;
}

/** What a forward pass reads back: nothing (a prompt chunk before the
 * last), the output (the last token's logits with the head on the device,
 * else its hidden state), or only the best `candidates` logits (head on the
 * device). */
export type ForwardOutput = 'none' | 'output' | { candidates: number };

/** One session's offloaded blocks: their KV cache (every cell allocated at
 * creation) and the forward pass and context shift over it. */
export interface OffloadRunner {
  /** Tokens a forward takes at most. */
  readonly maxBatch: number;
  readonly headOnDevice: boolean;
  /** Candidates a forward may ask for at most. */
  readonly maxCandidates: number;
  /** True when the logits read back are capped (Gemma 2's final soft-cap)
   * after the device ranked them: distinct logits may then tie. */
  readonly candidatesCapped: boolean;
  /** Runs the blocks over T hidden states (T x n_embd floats, the CPU blocks'
   * output) for cells [cell0, cell0 + T). Models with per-layer inputs
   * (Gemma 4: ModelHparams.nEmbdPerLayer) pass the offloaded blocks' too:
   * block by block, each T x nEmbdPerLayer floats. With `rows` (an
   * image's rows attending both ways: BatchRows indexed from cell 0), row
   * t sees the cells rows gives cell0 + t instead of the causal ones. */
  forward(hidden: Float32Array, T: number, cell0: number, output: 'none', perLayer?: Float32Array, rows?: BatchRows): Promise<null>;
  forward(hidden: Float32Array, T: number, cell0: number, output: 'output', perLayer?: Float32Array, rows?: BatchRows): Promise<Float32Array>;
  forward(hidden: Float32Array, T: number, cell0: number, output: { candidates: number }, perLayer?: Float32Array, rows?: BatchRows): Promise<Candidates>;
  /** Every logit of the last forward (head on the device): after candidates
   * a sampler could not use. Valid until the next forward. */
  readLogits(): Promise<Float32Array>;
  /** Steps one decodeAhead takes at most; absent or 0: none (the token's
   * embedding row is not on the device, or a step needs the CPU). */
  readonly maxAhead?: number;
  /** Evaluates `token` at cell0, then n - 1 more tokens, each the best logit
   * of the step before (or, with pick.draw, the device's draw from its best
   * pick.k), at the cells after it, without the tokens leaving the device;
   * returns each step's candidates (as forward with { candidates: k }, with
   * the drawn token). readLogits then gives the last step's logits. */
  decodeAhead?(token: number, cell0: number, n: number, pick?: { k: number; draw?: DeviceDraw }): Promise<Candidates[]>;
  /** Embeddings: runs the blocks over T hidden states of packed sequences
   * at cells [cell0, cell0 + T), row t attending to the cells `rows` gives
   * it (BatchRows, indexed from cell 0: the whole batch's), and reads back
   * every row's hidden state after the last block (T x n_embd floats; no
   * head). A non-causal model's batch must come whole (T <= maxBatch). */
  forwardRows(hidden: Float32Array, T: number, cell0: number, rows: BatchRows): Promise<Float32Array>;
  /** Throws what erase would, changing nothing: the session calls it before
   * its own cache changes, so both sides change or neither does. */
  checkErase(start: number, end: number, nMoved: number): void;
  /** Evicts cells [start, end), moving the nMoved cells after them down and
   * re-rotating their keys, in the same buffers. */
  erase(start: number, end: number, nMoved: number): void;
  /** Hybrids: the offloaded recurrent blocks' state (nothing to do for
   *  attention blocks). Copies it into checkpoint slot `slot`, puts a slot
   *  back, or clears it to the state before any token. The session keeps
   *  the slots of both sides in step. */
  saveState(slot: number): void;
  restoreState(slot: number): void;
  clearState(): void;
  /** Copies the K and V rows of cells [0, nCells) of every offloaded block,
   * in block order (saving a session). */
  readKv(nCells: number): Promise<KvLayer[]>;
  /** Writes the rows of cells [0, nCells) of every offloaded block, in
   * block order (restoring a session); the session then appends the cells.
   * Checks every layer's length first and writes nothing when one is wrong. */
  writeKv(layers: readonly KvLayer[], nCells: number): void;
  destroy(): void;
}
