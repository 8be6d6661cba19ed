// The compute kernels of an offloaded block as recorded Steps: each method
// checks sizes against the buffers it is given, writes the step's static
// parameters into a small uniform buffer, creates its bind groups once, and
// returns a Step the runner encodes every forward. Pipelines are compiled
// on first use and shared by every Kernels of a device. Big buffers
// (activations, caches, weights, scratch) are always the caller's; the
// kernels create only small uniforms, and only while steps are made:
// encoding a step (a forward, a context shift) never creates a buffer.
// This file is the surface; each kernel family lives in a file of its own.
import { HobError } from '../../shared/errors.js';
import type { GpuContext } from '../device.js';
import type { GpuWeight } from '../weights.js';
import { recordAttention } from './attention.js';
import { KernelContext, type Q8SgTile, type Q8Tile } from './context.js';
import { recordElementwise } from './elementwise.js';
import { recordKvErase, recordKvStore } from './kv-cache.js';
import { Q8_SG_TILE_LARGE, Q8_SG_TILE_SMALL, Q8_TILE_LARGE, Q8_TILE_SMALL, recordMatmul, recordQuantize, validSgTile, type FusedNorm } from './matmul.js';
import { recordLayernorm, recordRmsnorm, recordRmsnormHeads } from './norm.js';
import type { Q8Acts } from './q8-acts.js';
import { recordConv, recordDeltaNet, type ConvShape, type DeltaShape, type DeltaWeights } from './recurrent.js';
import { recordRope, recordRopeStore } from './rope.js';
import type { AttentionShape, KvEraseShape, KvEraseStep, RopeConfig, Step } from './types.js';

export { attentionScratchBytes, attentionTiling, attentionTilings, type AttentionTiling } from './attention.js';
export { canFuseNorm, type FusedNorm } from './matmul.js';
export type { ConvShape, DeltaShape, DeltaWeights } from './recurrent.js';
export { actType, createQ8Acts, destroyQ8Acts, needsQ8Acts, type ActType, type Q8Acts } from './q8-acts.js';
export { FRAME_BYTES, type AttentionShape, type KvEraseShape, type KvEraseStep, type RopeConfig, type Step } from './types.js';

export interface KernelOptions {
  /** Lowers the device's limit (tests use it to exercise the (x, y) grids
   * that huge dispatches need). */
  maxWorkgroupsPerDimension?: number;
  /** A power of two up to 64: fixes matvec.wgsl's rows per workgroup
   * (default: chosen from the row length). */
  matvecRowsPerWorkgroup?: number;
  /** The quantized prefill kernel's tile (matmul_q8_tiled.wgsl): rows and
   * tokens an invocation computes (1 to 8, 2 or 4) and 32-column blocks a
   * stage (1, 2 or 4), with 16 rows x blocks and 16 tokens x blocks at most
   * 128. Default: a 64 x 64 tile, two blocks a stage, or 32 x 32, four
   * blocks a stage, where the large one would give fewer than
   * Q8_TILE_MIN_GROUPS (matmul.ts) workgroups. Every tile gives the same bits. */
  q8Tile?: Q8Tile;
  /** Share the quantized prefill kernel's tiles by subgroup shuffles
   * (matmul_q8_sg.wgsl, where the kernels use subgroups) rather than
   * workgroup memory (matmul_q8_tiled.wgsl). Default false: on an H100 the
   * subgroup kernel took 1.6 to 2.3 times as long at every Llama-1B and
   * Qwen2-0.5B shape (docs/speed.md). Both give the same bits. */
  q8Subgroups?: boolean;
  /** The subgroup kernel's tile: rows a row group computes (1 to 16, at
   * most lanes; capped by the adapter's minimum subgroup size), tokens an
   * invocation computes (1 to 4), invocations a row group and a workgroup
   * (powers of two, lanes <= workgroup <= 256). Default: 8 x 4 in groups of
   * 16, workgroups of 64, or 4 x 2 where that gives too few workgroups. */
  q8SgTile?: Q8SgTile;
  /** Fixes the prefill attention tile's rows (default: the largest tile
   * that still gives enough workgroups for the batch, attention.ts). Every
   * tile gives the same bits; tests and benches pick one. */
  attnTileRows?: number;
  /** Let prefill attention store each score in the attention scratch, where
   * it fits, rather than compute it in each of its three passes (default
   * true; false is the slower path, for benches: both give the same bits). */
  attnStoreScores?: boolean;
  /** Use subgroup reductions (default: when the device has 'subgroups');
   * false forces the workgroup-memory fallback. */
  subgroups?: boolean;
  /** Use WGSL's dot4I8Packed (default: when the language feature
   * packed_4x8_integer_dot_product is present); false forces the unpacked
   * fallback. */
  packedDot4?: boolean;
  /** Use the int8 subgroup-matrix prefill matmul (matmul_q8_sgmat.wgsl) for
   * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL weights where the device has
   * GpuCaps.int8Matrix; it gives the same bits as matmul_q8_tiled.wgsl.
   * Default false: on an H100 it took 2.1 to 2.7 times as long as the
   * tiled kernel at every Llama-1B shape (docs/speed.md). */
  int8Matrix?: boolean;
}

// matmul_q8_sgmat.wgsl's workgroup memory per block a stage: the 64 rows'
// and 64 tokens' int8 (2 x 2 KiB), the 64 x 64 i32 dots (16 KiB), and the
// rows' scales (4 + 24 bytes) and tokens' scales and extras (4 + 4 bytes).
const SGMAT_BYTES_PER_BLOCK = 2 * 2048 + 16384 + 64 * 28 + 64 * 8;

export class Kernels {
  readonly device: GPUDevice;
  /** Which fast paths the kernels use (for reports and tests). */
  readonly subgroups: boolean;
  readonly packedDot4: boolean;
  /** Whether quantized prefill matmuls use subgroup matrices (for reports and tests). */
  readonly int8Matrix: boolean;
  /** Whether the quantized prefill matmuls use matmul_q8_sg.wgsl. */
  readonly q8Subgroups: boolean;
  private readonly kc: KernelContext;

  constructor(ctx: GpuContext, opts: KernelOptions = {}) {
    this.device = ctx.device;
    const mr = opts.matvecRowsPerWorkgroup;
    if (mr !== undefined && (!Number.isInteger(mr) || mr < 1 || mr > 64 || (mr & (mr - 1)) !== 0)) {
      throw new HobError('argument/invalid', `matvecRowsPerWorkgroup must be a power of two in [1, 64], got ${mr}`, { matvecRowsPerWorkgroup: mr });
    }
    const qt = opts.q8Tile ?? Q8_TILE_LARGE;
    const okTile = Number.isInteger(qt.rows) && qt.rows >= 1 && qt.rows <= 8 && (qt.tokens === 2 || qt.tokens === 4) &&
      [1, 2, 4].includes(qt.blocks) && 16 * qt.rows * qt.blocks <= 128 && 16 * qt.tokens * qt.blocks <= 128;
    if (!okTile) {
      throw new HobError('argument/invalid', `q8Tile takes 1 to 8 rows, 2 or 4 tokens and 1, 2 or 4 blocks (16 rows x blocks <= 128, 16 tokens x blocks <= 128), got ${qt.rows} x ${qt.tokens} x ${qt.blocks}`, { ...qt });
    }
    if (opts.q8SgTile && !validSgTile(opts.q8SgTile)) {
      const t = opts.q8SgTile;
      throw new HobError('argument/invalid', `q8SgTile takes 1 to 16 rows (at most lanes), 1 to 4 tokens, and lanes and workgroup powers of two with lanes <= workgroup <= 256, got ${t.rows} x ${t.tokens}, ${t.lanes} lanes, ${t.workgroup}`, { ...t });
    }
    this.subgroups = (opts.subgroups ?? true) && ctx.caps.hasSubgroups;
    this.q8Subgroups = (opts.q8Subgroups ?? false) && this.subgroups;
    // A row group's weight blocks come from R invocations of one subgroup:
    // R may not exceed the smallest subgroup (WebGPU's floor is 4).
    const sgMin = (ctx.adapter as { info?: { subgroupMinSize?: number } } | undefined)?.info?.subgroupMinSize ?? 4;
    const sgTiles = (opts.q8SgTile ? [opts.q8SgTile] : [Q8_SG_TILE_LARGE, Q8_SG_TILE_SMALL]).map((t) => ({ ...t, rows: Math.min(t.rows, sgMin) }));
    const features = (ctx.gpu as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
    this.packedDot4 = (opts.packedDot4 ?? true) && !!features?.has('packed_4x8_integer_dot_product');
    const shape = ctx.caps.int8Matrix;
    const sgBlocks = [2, 1].find((b) => b * SGMAT_BYTES_PER_BLOCK <= ctx.device.limits.maxComputeWorkgroupStorageSize);
    const int8Matrix = (opts.int8Matrix ?? false) && shape && sgBlocks ? { ...shape, blocks: sgBlocks } : undefined;
    this.int8Matrix = !!int8Matrix;
    this.kc = new KernelContext(ctx.device, {
      int8Matrix,
      subgroups: this.subgroups,
      packedDot4: this.packedDot4,
      maxGroupsPerDim: Math.min(ctx.device.limits.maxComputeWorkgroupsPerDimension, opts.maxWorkgroupsPerDimension ?? Infinity),
      matvecRows: mr,
      q8Tiles: opts.q8Tile ? [qt] : [Q8_TILE_LARGE, Q8_TILE_SMALL],
      q8SgTiles: this.q8Subgroups ? sgTiles : [],
      attnTileRows: opts.attnTileRows,
      attnStoreScores: opts.attnStoreScores ?? true,
    });
  }

  /** Destroys the uniform and scratch buffers the steps made so far. */
  destroy(): void {
    this.kc.destroy();
  }

  // ---- matmul (matmul.ts) ---------------------------------------------------------

  /** y = W x, or y += W x with opts.accumulate (a residual add folded into
   * the projection); W x is multiplied by opts.outScale first (Granite's
   * residual multiplier; default 1). x is f32 rows for float weights and
   * Q8Acts (made by quantize, rmsnorm or siluMul with opts.q8) for quantized
   * ones. A weight stacked from several (w.stack: Q, K and V, or gate and
   * up) takes one output per stacked weight, y an array in stack order: one
   * dispatch writes them all (wgsl/matmul_out.wgsl). With opts.norm (weights
   * that take Q8_0 activations: canFuseNorm), a one-token forward normalizes
   * and quantizes norm.x in the matvec itself (matvec_q8_norm.wgsl), the
   * same bytes rmsnorm would have written to x; batches still read x. */
  matmul(w: GpuWeight, x: GPUBuffer | Q8Acts, y: GPUBuffer | GPUBuffer[], frame: GPUBuffer, opts: { accumulate?: boolean; outScale?: number; norm?: FusedNorm } = {}): Step {
    return recordMatmul(this.kc, w, x, y, frame, opts);
  }

  /** x (T, cols) f32 -> Q8_0, Q8_1 or Q8_K activations (acts.type),
   * exactly as the CPU converts them. */
  quantize(x: GPUBuffer, acts: Q8Acts, frame: GPUBuffer): Step {
    return recordQuantize(this.kc, x, acts, frame);
  }

  // ---- normalization (norm.ts) ----------------------------------------------------

  /** RMSNorm of x into y (f32), or with opts.q8 into Q8_0 activations (and
   * into y as well unless y is null): the fused norm + quantize that feeds
   * the integer matmuls. With opts.accumulate, y = (y + the normed row) *
   * opts.outScale (a post-norm's residual add; Gemma 4's layer_output_scale
   * after a block's last add; default 1). */
  rmsnorm(x: GPUBuffer, weight: GPUBuffer, y: GPUBuffer | null, n: number, eps: number, frame: GPUBuffer, opts: { lastRowOnly?: boolean; q8?: Q8Acts; accumulate?: boolean; outScale?: number } = {}): Step {
    return recordRmsnorm(this.kc, x, weight, y, n, eps, frame, opts);
  }

  /** RMSNorm of each of the nHeads heads of every row of x, in place, with
   * one weight of headDim (the Q/K norms of Qwen 3 and Gemma 3). */
  rmsnormHeads(x: GPUBuffer, weight: GPUBuffer, nHeads: number, headDim: number, eps: number, frame: GPUBuffer): Step {
    return recordRmsnormHeads(this.kc, x, weight, nHeads, headDim, eps, frame);
  }

  /** LayerNorm of every row of x in place, with weight and bias (BERT's). */
  layernorm(x: GPUBuffer, weight: GPUBuffer, bias: GPUBuffer, n: number, eps: number, frame: GPUBuffer): Step {
    return recordLayernorm(this.kc, x, weight, bias, n, eps, frame);
  }

  // ---- RoPE (rope.ts) -------------------------------------------------------------

  rope(x: GPUBuffer, nHeads: number, headDim: number, rope: RopeConfig, frame: GPUBuffer): Step {
    return recordRope(this.kc, x, nHeads, headDim, rope, frame);
  }

  /** RoPE on q (in place) and k, and k, v into the cache cells of the
   * frame, in one dispatch: rope(q), rope(k) and kvStore fused. With bias
   * (q's, k's and v's back to back; nRot == headDim), the three addBias
   * steps before them are fused too. */
  ropeStore(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, shape: { nHead: number; nHeadKv: number; headDim: number; nCtx: number }, rope: RopeConfig, frame: GPUBuffer, bias?: GPUBuffer): Step {
    return recordRopeStore(this.kc, q, k, v, kCache, vCache, shape, rope, frame, bias);
  }

  // ---- element-wise (elementwise.ts) ----------------------------------------------

  /** a = silu(a) * b, or with opts.q8 the product quantized to Q8_0 for
   * the down projection (a is then left as it was). */
  siluMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer, opts: { q8?: Q8Acts } = {}): Step {
    return recordElementwise(this.kc, opts.q8 ? 'silu_mul_q8' : 'silu_mul', a, b, n, frame, opts.q8);
  }

  /** a = gelu(a) * b (GeGLU, with the CPU's f16 roundings), or with
   * opts.q8 the product quantized to Q8_0 (a is then left as it was). */
  geluMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer, opts: { q8?: Q8Acts } = {}): Step {
    return recordElementwise(this.kc, opts.q8 ? 'gelu_mul_q8' : 'gelu_mul', a, b, n, frame, opts.q8);
  }

  /** a = sigmoid(a) * b: a gate (a) on b, written over the gate. */
  sigmoidMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return recordElementwise(this.kc, 'sigmoid_mul', a, b, n, frame);
  }

  /** a = gelu(a) (tanh form, the CPU's f16 roundings): BERT's ungated FFN. */
  gelu(a: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return recordElementwise(this.kc, 'gelu', a, null, n, frame);
  }

  add(x: GPUBuffer, y: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return recordElementwise(this.kc, 'add', x, y, n, frame);
  }

  /** a[t] += bias for every row t (bias: n f32). */
  addBias(a: GPUBuffer, bias: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return recordElementwise(this.kc, 'add_bias', a, bias, n, frame);
  }

  // ---- recurrent blocks of hybrids (recurrent.ts) ---------------------------------

  /** The causal convolution over the batch, from and into `state` (the
   * last kernel - 1 inputs per channel): LFM2's gated form or Qwen 3.5's
   * SiLU form (ConvShape.mode). */
  conv(x: GPUBuffer, w: GPUBuffer, state: GPUBuffer, y: GPUBuffer, shape: ConvShape, frame: GPUBuffer): Step {
    return recordConv(this.kc, x, w, state, y, shape, frame);
  }

  /** The Gated DeltaNet recurrence over the batch, from and into `state`
   * ((n_value_heads, dim, dim) f32), q and k L2-normalized inside. */
  deltaNet(qkv: GPUBuffer, alpha: GPUBuffer, beta: GPUBuffer, weights: DeltaWeights, state: GPUBuffer, out: GPUBuffer, shape: DeltaShape, frame: GPUBuffer): Step {
    return recordDeltaNet(this.kc, qkv, alpha, beta, weights, state, out, shape, frame);
  }

  // ---- KV cache and attention (kv-cache.ts, attention.ts) -------------------------

  kvStore(k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, kvDim: number, nCtx: number, frame: GPUBuffer): Step {
    return recordKvStore(this.kc, k, v, kCache, vCache, kvDim, nCtx, frame);
  }

  /** Attention of q over the cache: causal, or (in forwards that set the
   * frame's `ranged`) over the cells `rows` gives each row, two u32 a row
   * (packed sequences; embeddings). A decode step (one row) runs the
   * split-K kernels (attention_decode.wgsl): with nCtx over 128 cells they
   * need `scratch` of attentionScratchBytes(shape) (one for all layers);
   * encoded with nKv, a step that sees at most 128 cells is one dispatch,
   * a longer one three. With q8 (Q8_0, headDim a
   * multiple of 32), a decode step also writes its output quantized for the
   * output projection: quantize(out, q8) fused, for one token only (a batch
   * still needs its own quantize step). More than one row goes to the
   * query-tiled kernel (attention_tiled.wgsl), or with `prefill: 'rows'` to
   * the one-workgroup-per-row kernel (`attn`), which computes the same bits. */
  attention(q: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, out: GPUBuffer, shape: AttentionShape, frame: GPUBuffer, scratch: GPUBuffer | null = null, q8?: Q8Acts, prefill: 'tiled' | 'rows' = 'tiled', rows: GPUBuffer | null = null): Step {
    return recordAttention(this.kc, q, kCache, vCache, out, shape, frame, scratch, q8, prefill, rows);
  }

  /** Records the context shift of one layer's cache, with its uniforms,
   * once: each encode moves cells [end, end + nMoved) down to start
   * (through `scratch`: a copy may not overlap within one buffer), then
   * re-rotates the moved K rows by -(end - start) positions (a pure
   * rotation: rope.mscale is not applied again; without shape.rope, a NoPE
   * layer's, the rows only move). */
  kvErase(kCache: GPUBuffer, vCache: GPUBuffer, scratch: GPUBuffer, shape: KvEraseShape): KvEraseStep {
    return recordKvErase(this.kc, kCache, vCache, scratch, shape);
  }
}
