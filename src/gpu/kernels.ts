// The compute kernels of an offloaded block as recorded Steps: each method
// checks sizes against the buffers it is given, writes the step's static
// parameters into a small uniform buffer, creates its bind groups once, and
// returns a Step the runner encodes every forward. Pipelines are compiled
// on first use and shared by every Kernels of a device. Big buffers
// (activations, caches, weights, scratch) are always the caller's; this
// file creates only small uniforms, and only while steps are made: encoding
// a step (a forward, a context shift) never creates a buffer.
import { HobError } from '../shared/errors.js';
import type { GpuContext } from './device.js';
import type { GpuWeight, GpuWeightType } from './weights.js';
import * as wgsl from './shaders.js';

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
  /** nRot / 2 f32 divisors of the frequencies (Llama 3), or absent. */
  freqFactors?: GPUBuffer;
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
  rope: RopeConfig;
}

/** A layer's context shift, recorded once: encode moves cells [end, end +
 * nMoved) down to start and re-rotates them, rewriting the step's own
 * parameter uniform (queue.writeBuffer) so a shift creates nothing. Encode
 * at most one shift per step into a command buffer before submitting it. */
export interface KvEraseStep {
  readonly label: string;
  encode(enc: GPUCommandEncoder, start: number, end: number, nMoved: number): void;
}

/** What the CPU converts a matmul's activations to for weights of a type
 * (cpp/quants.h vec_dot_type); float weights take f32 rows (their kernels
 * round them to f16 / bf16 themselves). */
export type ActType = 'f32' | 'q8_0' | 'q8_1' | 'q8_k';

/** Activations quantized to Q8_0, Q8_1 or Q8_K (wgsl/q8_store.wgsl,
 * quantize_q8_1.wgsl, quantize_q8_k.wgsl): the input of the integer matmuls
 * over quantized weights. All three are stored per 32-element block: Q8_1
 * adds each block's s (f16 of d * sum of quants), Q8_K repeats its
 * super-block's scale for each block and adds the sums of the block's two
 * 16-element halves. Q8_1 activations serve Q8_0 weights too. */
export interface Q8Acts {
  type: Exclude<ActType, 'f32'>;
  quants: GPUBuffer; // (maxTokens, cols / 4) u32: int8 values
  scales: GPUBuffer; // (maxTokens, cols / 32) f32: block scales
  sums: GPUBuffer | null; // (maxTokens, cols / 32) u32: Q8_1's s (f32 bits) or Q8_K's two i16 sums
  cols: number;
  maxTokens: number;
}

/** Bytes of the Frame uniform the runner writes before each forward. */
export const FRAME_BYTES = 16;

const dequantWgsl: Record<GpuWeightType, string> = {
  f32: wgsl.dequantF32Wgsl,
  f16: wgsl.dequantF16Wgsl,
  bf16: wgsl.dequantBf16Wgsl,
  q8_0: wgsl.dequantQ8_0Wgsl,
  q4_0: wgsl.dequantQ4_0Wgsl,
  q4_1: wgsl.dequantQ4_1Wgsl,
  q5_0: wgsl.dequantQ5_0Wgsl,
  q5_1: wgsl.dequantQ5_1Wgsl,
  iq4_nl: wgsl.dequantIq4NlWgsl,
  q2_k: wgsl.dequantQ2KWgsl,
  q3_k: wgsl.dequantQ3KWgsl,
  q4_k: wgsl.dequantQ4KWgsl,
  q5_k: wgsl.dequantQ5KWgsl,
  q6_k: wgsl.dequantQ6KWgsl,
};

const actTypes: Record<GpuWeightType, ActType> = {
  f32: 'f32',
  f16: 'f32',
  bf16: 'f32',
  q8_0: 'q8_0',
  q4_0: 'q8_0',
  q5_0: 'q8_0',
  iq4_nl: 'q8_0',
  q4_1: 'q8_1',
  q5_1: 'q8_1',
  q2_k: 'q8_k',
  q3_k: 'q8_k',
  q4_k: 'q8_k',
  q5_k: 'q8_k',
  q6_k: 'q8_k',
};

// The activation side of the integer kernels per activation type.
const qactWgsl: Record<Exclude<ActType, 'f32'>, string> = {
  q8_0: wgsl.qactQ8_0Wgsl,
  q8_1: wgsl.qactQ8_1Wgsl,
  q8_k: wgsl.qactQ8KWgsl,
};

/** The activation type of a matmul over weights of this type. */
export function actType(type: GpuWeightType): ActType {
  return actTypes[type];
}

/** True when the CPU (and so the GPU) multiplies weights of this type by
 * quantized activations: the matmul then takes a Q8Acts of actType(type). */
export function needsQ8Acts(type: GpuWeightType): boolean {
  return actTypes[type] !== 'f32';
}

/** True if activations of type `have` serve weights of type `w`. */
function actsServe(have: Q8Acts['type'], w: GpuWeightType): boolean {
  const want = actTypes[w];
  return have === want || (want === 'q8_0' && have === 'q8_1');
}

/** Allocates the buffers of maxTokens rows of cols activations in Q8_0
 * (default), Q8_1 or Q8_K (cols a multiple of 256). */
export function createQ8Acts(device: GPUDevice, label: string, maxTokens: number, cols: number, type: Q8Acts['type'] = 'q8_0'): Q8Acts {
  const block = type === 'q8_k' ? 256 : 32;
  if (!Number.isInteger(cols) || cols <= 0 || cols % block !== 0 || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new HobError('argument/invalid', `${label}: ${type} activations need cols a positive multiple of ${block} and maxTokens >= 1, got ${cols} and ${maxTokens}`, { cols, maxTokens });
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const quants = device.createBuffer({ label: `${label} ${type} quants`, size: maxTokens * cols, usage });
  const blockBytes = Math.max(16, (maxTokens * cols) / 32 * 4);
  const scales = device.createBuffer({ label: `${label} ${type} scales`, size: blockBytes, usage });
  const sums = type === 'q8_0' ? null : device.createBuffer({ label: `${label} ${type} sums`, size: blockBytes, usage });
  return { type, quants, scales, sums, cols, maxTokens };
}

/** Destroys the buffers of quantized activations. */
export function destroyQ8Acts(acts: Q8Acts): void {
  acts.quants.destroy();
  acts.scales.destroy();
  acts.sums?.destroy();
}

// Invocations per row of the matvec kernels (of 256 a workgroup): at most
// MATVEC_TPR (matvec.wgsl, 8 weights an invocation a step) or MATVEC_Q8_TPR
// (matvec_q8.wgsl, a 32-weight block a step), fewer for short rows so no
// invocation idles. Batches up to MATVEC_MAX_TOKENS tokens use them, larger
// ones the tiled kernels, which read each weight tile once per 32 tokens.
const MATVEC_TPR = 64;
const MATVEC_Q8_TPR = 32;
const MATVEC_MAX_TOKENS = 1;
// The float tiled kernel's tile.
const TILE_ROWS = 64;
const TILE_TOKENS = 32;
// The quantized one's (KernelOptions.q8Tile): on an H200, 64 x 64 with two
// blocks a stage is the fastest for Llama-1B's large matrices and 32 x 32
// with four for its K and V projections, whose large tiles leave most of the
// GPU idle (scripts/bench-gpu-matmul.ts).
const Q8_TILE_LARGE = { rows: 4, tokens: 4, blocks: 2 };
const Q8_TILE_SMALL = { rows: 2, tokens: 2, blocks: 4 };
const Q8_TILE_MIN_GROUPS = 128;
// attention.wgsl: decode splits the cells over up to this many workgroups
// per head, one per ATTN_CELLS_PER_SPLIT cells of the context.
const ATTN_MAX_SPLITS = 32;
const ATTN_CELLS_PER_SPLIT = 128;
// attention.wgsl's MIN_SLICE (KernelOptions.attnMinSlice): a decode step
// that sees at most this many cells puts them all in the first slice, which
// the row kernel `attn` sums in the same order in one dispatch instead of
// four. Longer contexts split: on an H200 at 640 cells one workgroup per
// head (1024) took 3.3 ms of a Llama-1B decode step, four passes over
// slices of 256 1.4 ms.
const ATTN_MIN_SLICE = 256;

// attention_tiled.wgsl: prefill attention takes query vectors (rows x heads
// of one KV head) in tiles of at most 2048 / headDim rounded up to a power
// of two (at most 32), and cells in chunks of 32 (16 for heads over 128).
export interface AttentionTiling {
  /** Rows of a tile. */
  rows: number;
  /** Heads of a tile (a divisor of nHead / nHeadKv). */
  heads: number;
  /** Cells staged at a time. */
  cells: number;
}

export function attentionTiling(nHead: number, nHeadKv: number, headDim: number): AttentionTiling {
  const span = Math.max(64, pow2Ceil(headDim));
  const vectors = 2048 / span;
  const group = nHead / nHeadKv;
  let heads = 1;
  for (let d = 1; d <= Math.min(group, vectors); d++) if (group % d === 0) heads = d;
  return { rows: Math.floor(vectors / heads), heads, cells: span <= 128 ? 32 : 16 };
}

function attentionSplits(nCtx: number): number {
  return Math.min(ATTN_MAX_SPLITS, Math.max(1, Math.ceil(nCtx / ATTN_CELLS_PER_SPLIT)));
}

/** Bytes of the scratch buffer attention steps of this shape need (0: none);
 * steps run one after another, so one buffer serves every layer. */
export function attentionScratchBytes(shape: AttentionShape): number {
  const nSplit = attentionSplits(shape.nCtx);
  if (nSplit === 1) return 0;
  return (shape.nHead * shape.nCtx + shape.nHead * nSplit * (4 + shape.headDim)) * 4;
}

function outOfBounds(message: string, details: Record<string, number>): HobError {
  return new HobError('range/out-of-bounds', message, details);
}

function checkInt(label: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new HobError('argument/invalid', `${label}: ${name} must be an integer >= ${min}, got ${v}`, { [name]: v });
}

/** Rows of `rowBytes` a buffer holds; throws if not even one. */
function rowsIn(label: string, what: string, buffer: GPUBuffer, rowBytes: number): number {
  const rows = Math.floor(buffer.size / rowBytes);
  if (rows < 1) {
    throw outOfBounds(`${label}: ${what} holds ${buffer.size} bytes, less than one row of ${rowBytes}`, {
      sizeBytes: buffer.size,
      rowBytes,
    });
  }
  return rows;
}

function needBytes(label: string, what: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) {
    throw outOfBounds(`${label}: ${what} holds ${buffer.size} bytes, needs ${bytes}`, { sizeBytes: buffer.size, needBytes: bytes });
  }
}

function checkTokens(label: string, nTokens: number, maxRows: number): void {
  if (!Number.isInteger(nTokens) || nTokens < 0 || nTokens > maxRows) {
    throw outOfBounds(`${label}: ${nTokens} tokens do not fit the ${maxRows} rows its buffers hold`, { nTokens, maxRows });
  }
}

/** Rows of Q8 activations that `acts` holds for `cols` columns. */
function q8Rows(label: string, acts: Q8Acts, cols: number): number {
  if (acts.cols !== cols) {
    throw new HobError('argument/invalid', `${label}: ${acts.type} activations of ${acts.cols} columns where ${cols} are needed`, { cols, actsCols: acts.cols });
  }
  needBytes(label, 'q8 quants', acts.quants, acts.maxTokens * cols);
  needBytes(label, 'q8 scales', acts.scales, (acts.maxTokens * cols) / 32 * 4);
  if (acts.type !== 'q8_0') {
    if (!acts.sums) throw new HobError('argument/invalid', `${label}: ${acts.type} activations need their sums buffer`, {});
    needBytes(label, 'q8 sums', acts.sums, (acts.maxTokens * cols) / 32 * 4);
  }
  return acts.maxTokens;
}

function isQ8Acts(x: GPUBuffer | Q8Acts): x is Q8Acts {
  return (x as Q8Acts).quants !== undefined;
}

// Compiled pipelines per device, shared by every Kernels made on it (a model
// reload or a second model compiles nothing again).
const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
const layoutCache = new WeakMap<GPUDevice, Map<string, GPUPipelineLayout>>();

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
   * Q8_TILE_MIN_GROUPS workgroups. Every tile gives the same bits. */
  q8Tile?: { rows: number; tokens: number; blocks: number };
  /** Decode attention's smallest slice of cells (default 256): a context
   * that fits one is attended in one dispatch, longer ones split in slices of
   * at least this many cells over four passes. */
  attnMinSlice?: number;
  /** Use subgroup reductions (default: when the device has 'subgroups');
   * false forces the workgroup-memory fallback. */
  subgroups?: boolean;
  /** Use WGSL's dot4I8Packed (default: when the language feature
   * packed_4x8_integer_dot_product is present); false forces the unpacked
   * fallback. */
  packedDot4?: boolean;
}

export class Kernels {
  readonly device: GPUDevice;
  /** Which fast paths the kernels use (for reports and tests). */
  readonly subgroups: boolean;
  readonly packedDot4: boolean;
  private readonly maxGroupsPerDim: number;
  private readonly pipelines: Map<string, GPUComputePipeline>;
  private readonly layouts: Map<string, GPUPipelineLayout>;
  private readonly owned: GPUBuffer[] = [];
  /** Bound where RoPE has no frequency factors (the binding must exist). */
  private readonly noFactors: GPUBuffer;
  /** Bound to an output binding a kernel variant does not write. */
  private readonly dummy: GPUBuffer;
  private readonly dummy2: GPUBuffer;
  private readonly dummy3: GPUBuffer;

  private readonly matvecRows: number | undefined;
  private readonly q8Tiles: { rows: number; tokens: number; blocks: number }[];
  private readonly attnMinSlice: number;

  constructor(ctx: GpuContext, opts: KernelOptions = {}) {
    this.device = ctx.device;
    const mr = opts.matvecRowsPerWorkgroup;
    if (mr !== undefined && (!Number.isInteger(mr) || mr < 1 || mr > 64 || (mr & (mr - 1)) !== 0)) {
      throw new HobError('argument/invalid', `matvecRowsPerWorkgroup must be a power of two in [1, 64], got ${mr}`, { matvecRowsPerWorkgroup: mr });
    }
    this.matvecRows = mr;
    const qt = opts.q8Tile ?? Q8_TILE_LARGE;
    const okTile = Number.isInteger(qt.rows) && qt.rows >= 1 && qt.rows <= 8 && (qt.tokens === 2 || qt.tokens === 4) &&
      [1, 2, 4].includes(qt.blocks) && 16 * qt.rows * qt.blocks <= 128 && 16 * qt.tokens * qt.blocks <= 128;
    if (!okTile) {
      throw new HobError('argument/invalid', `q8Tile takes 1 to 8 rows, 2 or 4 tokens and 1, 2 or 4 blocks (16 rows x blocks <= 128, 16 tokens x blocks <= 128), got ${qt.rows} x ${qt.tokens} x ${qt.blocks}`, { ...qt });
    }
    this.q8Tiles = opts.q8Tile ? [qt] : [Q8_TILE_LARGE, Q8_TILE_SMALL];
    const ms = opts.attnMinSlice ?? ATTN_MIN_SLICE;
    if (!Number.isInteger(ms) || ms < 64) {
      throw new HobError('argument/invalid', `attnMinSlice must be a whole number of cells >= 64, got ${ms}`, { attnMinSlice: ms });
    }
    this.attnMinSlice = ms;
    this.subgroups = (opts.subgroups ?? true) && ctx.caps.hasSubgroups;
    const features = (ctx.gpu as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
    this.packedDot4 = (opts.packedDot4 ?? true) && !!features?.has('packed_4x8_integer_dot_product');
    this.maxGroupsPerDim = Math.min(ctx.device.limits.maxComputeWorkgroupsPerDimension, opts.maxWorkgroupsPerDimension ?? Infinity);
    let cache = pipelineCache.get(ctx.device);
    if (!cache) pipelineCache.set(ctx.device, (cache = new Map()));
    this.pipelines = cache;
    let layouts = layoutCache.get(ctx.device);
    if (!layouts) layoutCache.set(ctx.device, (layouts = new Map()));
    this.layouts = layouts;
    this.noFactors = this.createOwnedBuffer('rope/no-factors', 16, GPUBufferUsage.STORAGE, new Float32Array([1, 1, 1, 1]));
    this.dummy = this.createOwnedBuffer('unused output', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
    this.dummy2 = this.createOwnedBuffer('unused output 2', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
    this.dummy3 = this.createOwnedBuffer('unused output 3', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
  }

  /** Destroys the uniform and scratch buffers the steps made so far. */
  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }

  // ---- matmul ---------------------------------------------------------------

  /** y = W x, or y += W x with opts.accumulate (a residual add folded into
   * the projection). x is f32 rows for float weights and Q8Acts (made by
   * quantize, rmsnorm or siluMul with opts.q8) for quantized ones. A weight
   * stacked from several (w.stack: Q, K and V, or gate and up) takes one
   * output per stacked weight, y an array in stack order: one dispatch
   * writes them all (wgsl/matmul_out.wgsl). */
  matmul(w: GpuWeight, x: GPUBuffer | Q8Acts, y: GPUBuffer | GPUBuffer[], frame: GPUBuffer, opts: { accumulate?: boolean } = {}): Step {
    const label = `matmul ${w.type} ${w.rows}x${w.cols}${w.stack ? ` (${w.stack.join('+')})` : ''}${opts.accumulate ? ' (+=)' : ''}`;
    const stack = w.stack ?? [w.rows];
    const ys = Array.isArray(y) ? y : [y];
    if (ys.length !== stack.length || stack.length > 3 || stack.reduce((a, b) => a + b, 0) !== w.rows) {
      throw new HobError('argument/invalid', `${label}: a weight stacked from ${stack.length} takes as many outputs (at most 3), got ${ys.length}`, { outputs: ys.length, stacked: stack.length });
    }
    const q8 = needsQ8Acts(w.type);
    const act = actTypes[w.type];
    if (q8 !== isQ8Acts(x)) {
      throw new HobError('argument/invalid', `${label}: ${q8 ? `${w.type} weights take ${act} activations (quantize the input first)` : 'float weights take f32 activations'}`, {});
    }
    if (isQ8Acts(x) && !actsServe(x.type, w.type)) {
      throw new HobError('argument/invalid', `${label}: ${w.type} weights take ${act} activations, not ${x.type}`, { actType: x.type });
    }
    const xRows = isQ8Acts(x) ? q8Rows(label, x, w.cols) : rowsIn(label, 'x', x, w.cols * 4);
    const maxTokens = Math.min(xRows, ...ys.map((b, i) => rowsIn(label, `y${i > 0 ? i + 1 : ''}`, b, stack[i] * 4)));
    // Rows where the second and third stacked weights start (w.rows: none).
    const seg1 = stack.length > 1 ? stack[0] : w.rows;
    const seg2 = stack.length > 2 ? stack[0] + stack[1] : w.rows;
    const base = [wgsl.commonWgsl, wgsl.matmulOutWgsl, dequantWgsl[w.type]];
    let matvec: GPUComputePipeline;
    let tiled: { pipeline: GPUComputePipeline; rows: number; tokens: number }[];
    let rowsPerGroup: number;
    if (q8) {
      base.splice(1, 0, qactWgsl[act as Q8Acts['type']]);
      const dot4 = this.packedDot4 ? wgsl.dot4PackedWgsl : wgsl.dot4UnpackedWgsl;
      const tpr = Math.min(MATVEC_Q8_TPR, pow2Ceil(w.cols / 32));
      matvec = this.pipeline(`matvec_q8/${w.type}`, [...base, dot4, this.reduceWgsl(), wgsl.matvecQ8Wgsl], 'matvec_q8', { TPR: tpr });
      tiled = this.q8Tiles.map((t) => ({
        pipeline: this.pipeline(`tiled_q8/${w.type}`, [...base, dot4, wgsl.matmulQ8TiledWgsl], 'matmul_q8_tiled', { RM: t.rows, TN: t.tokens, KB: t.blocks }),
        rows: 16 * t.rows,
        tokens: 16 * t.tokens,
      }));
      rowsPerGroup = 256 / tpr;
    } else {
      rowsPerGroup = this.matvecRows ?? 256 / Math.min(MATVEC_TPR, pow2Ceil(w.cols / 8));
      matvec = this.pipeline(`matvec/${w.type}`, [...base, this.reduceWgsl(), wgsl.matvecWgsl], 'matvec', { ROWS_PER_WG: rowsPerGroup });
      tiled = [{ pipeline: this.pipeline(`tiled/${w.type}`, [...base, wgsl.matmulTiledWgsl], 'matmul_tiled'), rows: TILE_ROWS, tokens: TILE_TOKENS }];
    }
    const parts = w.parts.map((part, i) => {
      const params = this.createUniform(`${label} part ${i}`, [
        part.rowCount, w.cols, w.cols / 8, part.rowStart, seg1, maxTokens, opts.accumulate ? 1 : 0, 0, seg1, seg2, w.rows, 0,
      ]);
      // Bindings 0..3, the weight's two buffers (4, 5), then the activations'
      // scales (6) and, where the weights read them, sums (7); the outputs of
      // the second and third stacked weights (8, 9).
      const buffers = isQ8Acts(x)
        ? [frame, params, x.quants, ys[0], ...part.buffers, x.scales, act === 'q8_0' ? null : x.sums]
        : [frame, params, x, ys[0], ...part.buffers];
      while (buffers.length < 8) buffers.push(null);
      buffers.push(ys[1] ?? this.dummy, ys[2] ?? this.dummy2);
      return {
        rows: part.rowCount,
        matvec: this.bindGroup(matvec, label, buffers),
        tiled: tiled.map((t) => this.bindGroup(t.pipeline, label, buffers)),
      };
    });
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxTokens);
        if (nTokens === 0) return;
        if (nTokens <= MATVEC_MAX_TOKENS) {
          pass.setPipeline(matvec);
          for (const p of parts) {
            const [gx, gy] = this.grid(label, Math.ceil(p.rows / rowsPerGroup));
            pass.setBindGroup(0, p.matvec);
            pass.dispatchWorkgroups(gx, gy, nTokens);
          }
        } else {
          // The first tile that still gives enough workgroups, else the last.
          const found = tiled.findIndex((t) => Math.ceil(w.rows / t.rows) * Math.ceil(nTokens / t.tokens) >= Q8_TILE_MIN_GROUPS);
          const k = found === -1 ? tiled.length - 1 : found;
          const t = tiled[k];
          pass.setPipeline(t.pipeline);
          for (const p of parts) {
            pass.setBindGroup(0, p.tiled[k]);
            pass.dispatchWorkgroups(this.dim(label, Math.ceil(p.rows / t.rows)), this.dim(label, Math.ceil(nTokens / t.tokens)));
          }
        }
      },
    };
  }

  /** x (T, cols) f32 -> Q8_0, Q8_1 or Q8_K activations (acts.type),
   * exactly as the CPU converts them. */
  quantize(x: GPUBuffer, acts: Q8Acts, frame: GPUBuffer): Step {
    const cols = acts.cols;
    const label = `quantize ${acts.type} ${cols}`;
    const maxRows = Math.min(rowsIn(label, 'x', x, cols * 4), q8Rows(label, acts, cols));
    let pipeline: GPUComputePipeline;
    let group: GPUBindGroup;
    const params = this.createUniform(label, [cols, maxRows, 0, 0]);
    if (acts.type === 'q8_0') {
      pipeline = this.pipeline('quantize_q8', [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.quantizeWgsl], 'quantize_q8');
      group = this.bindGroup(pipeline, label, [frame, params, x, null, null, null, acts.quants, acts.scales]);
    } else {
      const [code, entry] = acts.type === 'q8_1' ? [wgsl.quantizeQ8_1Wgsl, 'quantize_q8_1'] : [wgsl.quantizeQ8KWgsl, 'quantize_q8_k'];
      pipeline = this.pipeline(entry, [wgsl.commonWgsl, code], entry);
      group = this.bindGroup(pipeline, label, [frame, params, x, null, null, null, acts.quants, acts.scales, acts.sums]);
    }
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nTokens * cols) / 32 / 64));
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  // ---- normalization, RoPE, element-wise --------------------------------------

  /** RMSNorm of x into y (f32), or with opts.q8 into Q8_0 activations (and
   * into y as well unless y is null): the fused norm + quantize that feeds
   * the integer matmuls. */
  rmsnorm(x: GPUBuffer, weight: GPUBuffer, y: GPUBuffer | null, n: number, eps: number, frame: GPUBuffer, opts: { lastRowOnly?: boolean; q8?: Q8Acts; accumulate?: boolean } = {}): Step {
    const label = `rmsnorm ${n}${opts.q8 ? ' -> q8_0' : ''}${opts.accumulate ? ' (+=)' : ''}${opts.lastRowOnly ? ' (last row)' : ''}`;
    checkInt(label, 'n', n, 1);
    needBytes(label, 'weight', weight, n * 4);
    if (!y && !opts.q8) throw new HobError('argument/invalid', `${label}: needs an output (y or q8)`, {});
    if (opts.accumulate && (!y || opts.q8 || opts.lastRowOnly)) {
      throw new HobError('argument/invalid', `${label}: accumulating takes an f32 output y of every row, and no q8 output`, {});
    }
    let outRows = Infinity;
    if (y) outRows = rowsIn(label, 'y', y, n * 4);
    if (opts.q8) outRows = Math.min(outRows, q8Rows(label, opts.q8, n));
    if (opts.q8 && opts.q8.type !== 'q8_0') throw new HobError('argument/invalid', `${label}: the fused norm writes Q8_0 activations only, not ${opts.q8.type}`, {});
    const xRows = rowsIn(label, 'x', x, n * 4);
    const maxRows = opts.lastRowOnly ? xRows : Math.min(xRows, outRows);
    const code = [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.rmsnormWgsl];
    const entry = opts.q8 ? 'rmsnorm_q8' : opts.accumulate ? 'rmsnorm_add' : 'rmsnorm';
    const pipeline = this.pipeline(entry, code, entry);
    const params = this.createUniform(label, [n, f32Bits(eps), maxRows, opts.lastRowOnly ? 1 : 0, y ? 1 : 0, 0, 0, 0]);
    const group = this.bindGroup(pipeline, label, [frame, params, x, weight, y ?? this.dummy, null, opts.q8?.quants ?? null, opts.q8?.scales ?? null]);
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, opts.lastRowOnly ? 1 : nTokens);
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  /** RMSNorm of each of the nHeads heads of every row of x, in place, with
   * one weight of headDim (the Q/K norms of Qwen 3 and Gemma 3). */
  rmsnormHeads(x: GPUBuffer, weight: GPUBuffer, nHeads: number, headDim: number, eps: number, frame: GPUBuffer): Step {
    const label = `rmsnorm_heads ${nHeads}x${headDim}`;
    checkInt(label, 'nHeads', nHeads, 1);
    checkInt(label, 'headDim', headDim, 1);
    needBytes(label, 'weight', weight, headDim * 4);
    const maxRows = rowsIn(label, 'x', x, nHeads * headDim * 4);
    const pipeline = this.pipeline('rmsnorm_heads', [wgsl.commonWgsl, wgsl.rmsnormHeadsWgsl], 'rmsnorm_heads');
    const params = this.createUniform(label, [headDim, f32Bits(eps), maxRows, nHeads]);
    const group = this.bindGroup(pipeline, label, [frame, params, x, weight]);
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, nTokens * nHeads);
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  rope(x: GPUBuffer, nHeads: number, headDim: number, rope: RopeConfig, frame: GPUBuffer): Step {
    const label = `rope ${rope.style} ${nHeads}x${headDim}`;
    this.checkRope(label, nHeads, headDim, rope);
    const maxRows = rowsIn(label, 'x', x, nHeads * headDim * 4);
    const pipeline = this.pipeline('rope', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.ropeWgsl], 'rope');
    const params = this.createUniform(label, ropeUniform(rope, nHeads, headDim, maxRows));
    const group = this.bindGroup(pipeline, label, [frame, params, x, rope.freqFactors ?? this.noFactors]);
    const perRow = nHeads * (rope.nRot / 2);
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nTokens * perRow) / 64));
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  /** a = silu(a) * b, or with opts.q8 the product quantized to Q8_0 for
   * the down projection (a is then left as it was). */
  siluMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer, opts: { q8?: Q8Acts } = {}): Step {
    return this.elementwise(opts.q8 ? 'silu_mul_q8' : 'silu_mul', a, b, n, frame, opts.q8);
  }

  /** a = gelu(a) * b (GeGLU, with the CPU's f16 roundings), or with
   * opts.q8 the product quantized to Q8_0 (a is then left as it was). */
  geluMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer, opts: { q8?: Q8Acts } = {}): Step {
    return this.elementwise(opts.q8 ? 'gelu_mul_q8' : 'gelu_mul', a, b, n, frame, opts.q8);
  }

  add(x: GPUBuffer, y: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return this.elementwise('add', x, y, n, frame);
  }

  /** a[t] += bias for every row t (bias: n f32). */
  addBias(a: GPUBuffer, bias: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return this.elementwise('add_bias', a, bias, n, frame);
  }

  private elementwise(entry: 'silu_mul' | 'silu_mul_q8' | 'gelu_mul' | 'gelu_mul_q8' | 'add' | 'add_bias', a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer, q8?: Q8Acts): Step {
    const label = `${entry} ${n}`;
    checkInt(label, 'n', n, 1);
    let maxRows = rowsIn(label, 'a', a, n * 4);
    if (entry === 'add_bias') needBytes(label, 'bias', b, n * 4);
    else maxRows = Math.min(maxRows, rowsIn(label, 'b', b, n * 4));
    if (q8) maxRows = Math.min(maxRows, q8Rows(label, q8, n));
    if (q8 && q8.type !== 'q8_0') throw new HobError('argument/invalid', `${label}: the fused product writes Q8_0 activations only, not ${q8.type}`, {});
    const pipeline = this.pipeline(entry, [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.elementwiseWgsl], entry);
    const params = this.createUniform(label, [n, maxRows, 0, 0]);
    const group = this.bindGroup(pipeline, label, [frame, params, a, b, null, null, q8?.quants ?? null, q8?.scales ?? null]);
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nTokens * n) / 256));
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  // ---- KV cache -------------------------------------------------------------------

  kvStore(k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, kvDim: number, nCtx: number, frame: GPUBuffer): Step {
    const label = `kv_store ${kvDim}`;
    checkInt(label, 'kvDim', kvDim, 2);
    checkInt(label, 'nCtx', nCtx, 1);
    if (kvDim % 2 !== 0) throw new HobError('argument/invalid', `${label}: kvDim must be even (halves are stored in pairs)`, { kvDim });
    needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
    needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
    const maxRows = Math.min(rowsIn(label, 'k', k, kvDim * 4), rowsIn(label, 'v', v, kvDim * 4));
    const pipeline = this.pipeline('kv_store', [wgsl.commonWgsl, wgsl.kvStoreWgsl], 'kv_store');
    const params = this.createUniform(label, [kvDim, nCtx, maxRows, 0]);
    const group = this.bindGroup(pipeline, label, [frame, params, k, v, kCache, vCache]);
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nTokens * kvDim) / 2 / 64));
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  /** RoPE on q (in place) and k, and k, v into the cache cells of the
   * frame, in one dispatch: rope(q), rope(k) and kvStore fused. With bias
   * (q's, k's and v's back to back; nRot == headDim), the three addBias
   * steps before them are fused too. */
  ropeStore(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, shape: { nHead: number; nHeadKv: number; headDim: number; nCtx: number }, rope: RopeConfig, frame: GPUBuffer, bias?: GPUBuffer): Step {
    const { nHead, nHeadKv, headDim, nCtx } = shape;
    const label = `rope_store ${nHead}/${nHeadKv}x${headDim}`;
    this.checkRope(label, nHead, headDim, rope);
    checkInt(label, 'nHeadKv', nHeadKv, 1);
    checkInt(label, 'nCtx', nCtx, 1);
    const kvDim = nHeadKv * headDim;
    needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
    needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
    const maxRows = Math.min(rowsIn(label, 'q', q, nHead * headDim * 4), rowsIn(label, 'k', k, kvDim * 4), rowsIn(label, 'v', v, kvDim * 4));
    const pipeline = this.pipeline('rope_store', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.ropeStoreWgsl], 'rope_store');
    const ropeParams = this.createUniform(label, ropeUniform(rope, nHead, headDim, maxRows));
    if (bias) {
      if (rope.nRot !== headDim) throw new HobError('argument/invalid', `${label}: the fused bias add needs every element rotated (nRot ${rope.nRot} of ${headDim})`, { nRot: rope.nRot, headDim });
      needBytes(label, 'bias', bias, (nHead * headDim + 2 * kvDim) * 4);
    }
    const storeParams = this.createUniform(label, [kvDim, nCtx, bias ? 1 : 0, 0]);
    const group = this.bindGroup(pipeline, label, [frame, ropeParams, q, k, v, kCache, vCache, rope.freqFactors ?? this.noFactors, storeParams, bias ?? this.noFactors]);
    const perRow = nHead * (rope.nRot / 2) + kvDim;
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nTokens * perRow) / 64));
        pass.dispatchWorkgroups(gx, gy);
      },
    };
  }

  /** Causal attention of q over the cache. Decode over a context of more
   * than ATTN_CELLS_PER_SPLIT cells splits the cells over workgroups and
   * needs `scratch` of attentionScratchBytes(shape) (one for all layers);
   * encoded with nKv, a decode step that sees at most attnMinSlice cells
   * (one slice: the same result) runs the row kernel, one dispatch. With
   * q8 (Q8_0, headDim a multiple of 32), a decode step also writes its
   * output quantized for the output projection: quantize(out, q8) fused,
   * for one token only (a batch still needs its own quantize step). More
   * than one row goes to the query-tiled kernel (attention_tiled.wgsl), or
   * with `prefill: 'rows'` to the one-workgroup-per-row kernel (`attn`),
   * which computes the same bits. */
  attention(q: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, out: GPUBuffer, shape: AttentionShape, frame: GPUBuffer, scratch: GPUBuffer | null = null, q8?: Q8Acts, prefill: 'tiled' | 'rows' = 'tiled'): Step {
    const { nHead, nHeadKv, headDim, scale, nCtx } = shape;
    const label = `attention ${nHead}/${nHeadKv}x${headDim}`;
    checkInt(label, 'nHead', nHead, 1);
    checkInt(label, 'nHeadKv', nHeadKv, 1);
    checkInt(label, 'nCtx', nCtx, 1);
    if (nHead % nHeadKv !== 0) throw new HobError('argument/invalid', `${label}: nHead must be a multiple of nHeadKv`, { nHead, nHeadKv });
    if (!Number.isInteger(headDim) || headDim % 2 !== 0 || headDim < 2 || headDim > 256) {
      throw new HobError('argument/invalid', `${label}: headDim must be even and in [2, 256], got ${headDim}`, { headDim });
    }
    if (nHead > this.maxGroupsPerDim) throw outOfBounds(`${label}: too many heads for one dispatch`, { nHead });
    const kvDim = nHeadKv * headDim;
    needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
    needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
    const maxRows = Math.min(rowsIn(label, 'q', q, nHead * headDim * 4), rowsIn(label, 'out', out, nHead * headDim * 4));
    if (q8) {
      if (q8.type !== 'q8_0' || headDim % 32 !== 0) {
        throw new HobError('argument/invalid', `${label}: the fused quantization writes Q8_0 blocks within a head (headDim a multiple of 32), not ${q8.type} of ${headDim}`, { headDim });
      }
      q8Rows(label, q8, nHead * headDim);
    }
    const nSplit = attentionSplits(nCtx);
    const code = [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.attentionWgsl];
    // Every entry point of attention.wgsl takes the same nine bindings.
    const layout = this.explicitLayout('attention', [
      'uniform', 'uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'storage',
    ]);
    if (nSplit > 1) {
      if (!scratch) throw new HobError('argument/invalid', `${label}: decode over ${nCtx} cells needs an attention scratch buffer`, { nCtx });
      needBytes(label, 'scratch', scratch, attentionScratchBytes(shape));
    }
    const window = shape.window ?? 0;
    const softcap = shape.softcap ?? 0;
    const qScale = shape.qScale ?? 1;
    if (!Number.isInteger(window) || window < 0) throw new HobError('argument/invalid', `${label}: window must be a whole number of cells, got ${window}`, { window });
    if (!(softcap >= 0) || !Number.isFinite(qScale)) throw new HobError('argument/invalid', `${label}: softcap must be >= 0 and qScale finite`, { softcap, qScale });
    const params = this.createUniform(label, [nHead, nHeadKv, headDim, kvDim, f32Bits(scale), nCtx, maxRows, nSplit, window, f32Bits(softcap), f32Bits(qScale), q8 ? 1 : 0]);
    const buffers = [frame, params, q, kCache, vCache, out, q8?.quants ?? this.dummy, q8?.scales ?? this.dummy2, scratch ?? this.dummy3];
    const constants = { HD8: Math.floor(headDim / 8) };
    const rows = this.pipeline('attn', code, 'attn', constants, layout);
    const rowsGroup = this.bindGroup(rows, label, buffers);
    const tiling = attentionTiling(nHead, nHeadKv, headDim);
    const tiled = this.pipeline('attn_tiled', [...code, wgsl.attentionTiledWgsl], 'attn_tiled', { ...constants, TR: tiling.rows, HG: tiling.heads, CK: tiling.cells }, layout);
    const tiledGroup = this.bindGroup(tiled, `${label} tiled`, buffers);
    const split: { pipe: GPUComputePipeline; group: GPUBindGroup; grid: [number, number] }[] = [];
    if (nSplit > 1) {
      for (const entry of ['attn_scores', 'attn_exp', 'attn_pv', 'attn_combine']) {
        const pipe = this.pipeline(entry, code, entry, { ...constants, MIN_SLICE: this.attnMinSlice }, layout);
        split.push({ pipe, group: this.bindGroup(pipe, `${label} ${entry}`, buffers), grid: [entry === 'attn_combine' ? 1 : nSplit, nHead] });
      }
    }
    return {
      label,
      encode: (pass, nTokens, nKv) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        if (nTokens === 1 && split.length > 0 && !(nKv !== undefined && visibleCells(nKv, nCtx, window) <= this.attnMinSlice)) {
          for (const s of split) {
            pass.setPipeline(s.pipe);
            pass.setBindGroup(0, s.group);
            pass.dispatchWorkgroups(s.grid[0], s.grid[1]);
          }
        } else if (nTokens > 1 && prefill === 'tiled') {
          pass.setPipeline(tiled);
          pass.setBindGroup(0, tiledGroup);
          pass.dispatchWorkgroups(this.dim(label, Math.ceil(nTokens / tiling.rows)), nHead / tiling.heads);
        } else {
          pass.setPipeline(rows);
          pass.setBindGroup(0, rowsGroup);
          pass.dispatchWorkgroups(this.dim(label, nTokens), nHead);
        }
      },
    };
  }

  /** Records the context shift of one layer's cache, with its uniforms,
   * once: each encode moves cells [end, end + nMoved) down to start
   * (through `scratch`: a copy may not overlap within one buffer), then
   * re-rotates the moved K rows by -(end - start) positions. */
  kvErase(kCache: GPUBuffer, vCache: GPUBuffer, scratch: GPUBuffer, shape: KvEraseShape): KvEraseStep {
    const { kvDim, nCtx, nHeadKv, headDim, rope } = shape;
    const label = 'kv_erase';
    for (const [name, v] of Object.entries({ kvDim, nCtx, nHeadKv, headDim })) checkInt(label, name, v, 1);
    this.checkRope(label, nHeadKv, headDim, rope);
    if (kvDim % 2 !== 0 || nHeadKv * headDim > kvDim) {
      throw new HobError('argument/invalid', `${label}: kvDim ${kvDim} must be even and hold ${nHeadKv} heads of ${headDim}`, { kvDim, nHeadKv, headDim });
    }
    const rowBytes = kvDim * 2;
    needBytes(label, 'kCache', kCache, nCtx * rowBytes);
    needBytes(label, 'vCache', vCache, nCtx * rowBytes);
    const pipeline = this.pipeline('kv_shift', [wgsl.commonWgsl, wgsl.ropeMathWgsl, wgsl.kvShiftWgsl], 'kv_shift');
    const ropeParams = this.createUniform(`${label} rope`, ropeUniform(rope, nHeadKv, headDim, nCtx));
    const shiftParams = this.createUniform(label, [0, 0, 0, kvDim]);
    const group = this.bindGroup(pipeline, label, [null, ropeParams, shiftParams, kCache, rope.freqFactors ?? this.noFactors]);
    const words = new Uint32Array(4);
    return {
      label,
      encode: (enc, start, end, nMoved) => {
        for (const [name, v] of Object.entries({ start, end, nMoved })) {
          if (!Number.isInteger(v)) throw new HobError('argument/invalid', `${label}: ${name} must be an integer, got ${v}`, { [name]: v });
        }
        // A reversed or oversized range must never reach the copies below (the
        // heap overflow of llama.cpp's CVE-2026-21869 came from one).
        if (start < 0 || end < start || nMoved < 0 || end + nMoved > nCtx) {
          throw outOfBounds(`${label}: cannot move cells [${end}, ${end + nMoved}) to ${start} in a cache of ${nCtx} cells (need 0 <= start <= end, end + nMoved <= nCtx)`, {
            start,
            end,
            nMoved,
            nCtx,
          });
        }
        needBytes(label, 'scratch', scratch, nMoved * rowBytes);
        if (start === end || nMoved === 0) return;
        const bytes = nMoved * rowBytes;
        for (const cache of [kCache, vCache]) {
          enc.copyBufferToBuffer(cache, end * rowBytes, scratch, 0, bytes);
          enc.copyBufferToBuffer(scratch, 0, cache, start * rowBytes, bytes);
        }
        words.set([start, nMoved, (start - end) >>> 0, kvDim]);
        this.device.queue.writeBuffer(shiftParams, 0, words);
        const pass = enc.beginComputePass({ label });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        const [gx, gy] = this.grid(label, Math.ceil((nMoved * nHeadKv) / 64));
        pass.dispatchWorkgroups(gx, gy);
        pass.end();
      },
    };
  }

  // ---- plumbing ---------------------------------------------------------------------

  private reduceWgsl(): string {
    return this.subgroups ? wgsl.reduceSgWgsl : wgsl.reduceWgWgsl;
  }

  private checkRope(label: string, nHeads: number, headDim: number, rope: RopeConfig): void {
    checkInt(label, 'nHeads', nHeads, 1);
    checkInt(label, 'headDim', headDim, 2);
    if (!Number.isInteger(rope.nRot) || rope.nRot <= 0 || rope.nRot % 2 !== 0 || rope.nRot > headDim) {
      throw new HobError('argument/invalid', `${label}: nRot must be a positive even number up to headDim ${headDim}, got ${rope.nRot}`, {
        nRot: rope.nRot,
        headDim,
      });
    }
    if (headDim % 2 !== 0) throw new HobError('argument/invalid', `${label}: headDim must be even`, { headDim });
    if (rope.freqFactors) needBytes(label, 'freqFactors', rope.freqFactors, (rope.nRot / 2) * 4);
  }

  /** A pipeline of the WGSL files `parts` joined, with the directives the
   * fast paths need in front. */
  private pipeline(key: string, parts: string[], entryPoint: string, constants?: Record<string, number>, layout?: GPUPipelineLayout): GPUComputePipeline {
    let code = parts.join('\n');
    let directives = '';
    if (code.includes('subgroupShuffleXor')) directives += 'enable subgroups;\n';
    if (code.includes('dot4I8Packed')) directives += 'requires packed_4x8_integer_dot_product;\n';
    code = directives + code;
    const fullKey = `${key}|${directives}|${entryPoint}|${JSON.stringify(constants ?? {})}`;
    let p = this.pipelines.get(fullKey);
    if (!p) {
      const module = this.device.createShaderModule({ label: key, code });
      p = this.device.createComputePipeline({ label: key, layout: layout ?? 'auto', compute: { module, entryPoint, constants } });
      this.pipelines.set(fullKey, p);
    }
    return p;
  }

  /** A pipeline layout of bindings 0, 1, … of the given kinds, shared by
   * every entry point of a file whose entry points use different subsets
   * (created once per device; a layout is not a buffer). */
  private explicitLayout(key: string, kinds: GPUBufferBindingType[]): GPUPipelineLayout {
    let layout = this.layouts.get(key);
    if (!layout) {
      const bgl = this.device.createBindGroupLayout({
        label: key,
        entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
      });
      layout = this.device.createPipelineLayout({ label: key, bindGroupLayouts: [bgl] });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** Binds buffers to bindings 0, 1, …; null skips a binding the entry point
   * does not use. */
  private bindGroup(pipeline: GPUComputePipeline, label: string, buffers: (GPUBuffer | null)[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [];
    buffers.forEach((buffer, binding) => {
      if (buffer) entries.push({ binding, resource: { buffer } });
    });
    return this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
  }

  private createOwnedBuffer(label: string, size: number, usage: number, data: ArrayBufferView): GPUBuffer {
    const buffer = this.device.createBuffer({ label, size, usage: usage | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.owned.push(buffer);
    return buffer;
  }

  /** A step's static parameters: 32-bit words (f32 values as their bits). */
  private createUniform(label: string, words: number[]): GPUBuffer {
    const data = new Uint32Array(Math.ceil(words.length / 4) * 4);
    data.set(words.map((w) => w >>> 0));
    return this.createOwnedBuffer(`${label} params`, data.byteLength, GPUBufferUsage.UNIFORM, data);
  }

  private dim(label: string, n: number): number {
    if (n > this.maxGroupsPerDim) throw outOfBounds(`${label}: ${n} workgroups exceed the ${this.maxGroupsPerDim} a dimension allows`, { workgroups: n });
    return n;
  }

  /** A 1D count of workgroups as an (x, y) grid within the per-dimension
   * limit; kernels flatten it back with flat_workgroup and bound-check. */
  private grid(label: string, n: number): [number, number] {
    if (n <= this.maxGroupsPerDim) return [n, 1];
    const y = Math.ceil(n / this.maxGroupsPerDim);
    return [Math.ceil(n / y), this.dim(label, y)];
  }
}

/** Cells a decode step at nKv attends to (attention.wgsl's visible_begin,
 * visible_end of row 0). */
function visibleCells(nKv: number, nCtx: number, window: number): number {
  const end = Math.min(nKv, nCtx);
  return window > 0 && end > window ? window : end;
}

function pow2Ceil(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

/** The Rope uniform of rope_math.wgsl. theta_scale = base^(-2/nRot) in f32,
 * as the CPU computes it. */
function ropeUniform(rope: RopeConfig, nHeads: number, headDim: number, maxRows: number): number[] {
  const thetaScale = Math.fround(Math.pow(Math.fround(rope.freqBase), Math.fround(-2 / rope.nRot)));
  return [
    nHeads,
    headDim,
    rope.nRot,
    rope.style === 'neox' ? 1 : 0,
    f32Bits(thetaScale),
    f32Bits(rope.freqScale),
    rope.freqFactors ? 1 : 0,
    maxRows,
  ];
}
