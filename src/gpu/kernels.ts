// The compute kernels of an offloaded block as recorded Steps: each method
// checks sizes against the buffers it is given, writes the step's static
// parameters into a small uniform buffer, creates its bind groups once, and
// returns a Step the runner encodes every forward. Pipelines are compiled
// on first use and shared. Big buffers (activations, caches, weights) are
// always the caller's; this file never allocates one.
import { HobError } from '../api/errors.js';
import type { GpuContext } from './device.js';
import type { GpuWeight, GpuWeightType } from './weights.js';
import * as wgsl from './shaders.js';

/** A kernel bound to fixed buffers, recorded once and encoded every forward. */
export interface Step {
  readonly label: string;
  encode(pass: GPUComputePassEncoder, nTokens: number): void;
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
}

export interface KvEraseArgs {
  start: number;
  end: number;
  nMoved: number;
  kvDim: number;
  nCtx: number;
  nHeadKv: number;
  headDim: number;
  rope: RopeConfig;
}

/** Bytes of the Frame uniform the runner writes before each forward. */
export const FRAME_BYTES = 16;

const dequantWgsl: Record<GpuWeightType, string> = {
  f32: wgsl.dequantF32Wgsl,
  f16: wgsl.dequantF16Wgsl,
  bf16: wgsl.dequantBf16Wgsl,
  q8_0: wgsl.dequantQ8_0Wgsl,
  q4_0: wgsl.dequantQ4_0Wgsl,
};

// matvec.wgsl: rows per 256-invocation workgroup (a power of two; 64
// invocations share a row). Batches up to MATVEC_MAX_TOKENS tokens use it,
// larger ones the tiled kernel, which reads each weight tile once per 32 tokens.
const MATVEC_ROWS_PER_WG = 4;
const MATVEC_MAX_TOKENS = 1;
// matmul_tiled.wgsl's tile.
const TILE_ROWS = 64;
const TILE_TOKENS = 32;
// attention.wgsl: decode splits the cells over up to this many workgroups
// per head, one per ATTN_CELLS_PER_SPLIT cells of the context.
const ATTN_MAX_SPLITS = 32;
const ATTN_CELLS_PER_SPLIT = 128;

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

export class Kernels {
  readonly device: GPUDevice;
  private readonly maxGroupsPerDim: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly owned: GPUBuffer[] = [];
  /** Bound where RoPE has no frequency factors (the binding must exist). */
  private readonly noFactors: GPUBuffer;
  /** Split-attention partial results, shared by every attention step (they
   * run one after another); replaced by a larger one when a step needs it. */
  private partials: GPUBuffer | null = null;

  private readonly matvecRows: number;

  /** opts.maxWorkgroupsPerDimension lowers the device's limit (tests use it
   * to exercise the (x, y) grids that huge dispatches need);
   * opts.matvecRowsPerWorkgroup (a power of two up to 64) tunes matvec.wgsl. */
  constructor(ctx: GpuContext, opts: { maxWorkgroupsPerDimension?: number; matvecRowsPerWorkgroup?: number } = {}) {
    this.device = ctx.device;
    const mr = opts.matvecRowsPerWorkgroup ?? MATVEC_ROWS_PER_WG;
    if (!Number.isInteger(mr) || mr < 1 || mr > 64 || (mr & (mr - 1)) !== 0) {
      throw new HobError('argument/invalid', `matvecRowsPerWorkgroup must be a power of two in [1, 64], got ${mr}`, { matvecRowsPerWorkgroup: mr });
    }
    this.matvecRows = mr;
    this.maxGroupsPerDim = Math.min(ctx.device.limits.maxComputeWorkgroupsPerDimension, opts.maxWorkgroupsPerDimension ?? Infinity);
    this.noFactors = this.createOwnedBuffer('rope/no-factors', 16, GPUBufferUsage.STORAGE, new Float32Array([1, 1, 1, 1]));
  }

  /** Destroys the uniform and scratch buffers the steps made so far. */
  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }

  // ---- matmul ---------------------------------------------------------------

  matmul(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, frame: GPUBuffer): Step {
    const label = `matmul ${w.type} ${w.rows}x${w.cols}`;
    const maxTokens = Math.min(rowsIn(label, 'x', x, w.cols * 4), rowsIn(label, 'y', y, w.rows * 4));
    const code = wgsl.commonWgsl + dequantWgsl[w.type];
    const matvec = this.pipeline(`matvec/${w.type}`, code + wgsl.matvecWgsl, 'matvec', { ROWS_PER_WG: this.matvecRows });
    const tiled = this.pipeline(`tiled/${w.type}`, code + wgsl.matmulTiledWgsl, 'matmul_tiled');
    const parts = w.parts.map((part, i) => {
      const params = this.createUniform(`${label} part ${i}`, [part.rowCount, w.cols, w.cols / 8, part.rowStart, w.rows, maxTokens, 0, 0]);
      const buffers = [frame, params, x, y, ...part.buffers];
      return {
        rows: part.rowCount,
        matvec: this.bindGroup(matvec, label, buffers),
        tiled: this.bindGroup(tiled, label, buffers),
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
            const [gx, gy] = this.grid(label, Math.ceil(p.rows / this.matvecRows));
            pass.setBindGroup(0, p.matvec);
            pass.dispatchWorkgroups(gx, gy, nTokens);
          }
        } else {
          pass.setPipeline(tiled);
          for (const p of parts) {
            pass.setBindGroup(0, p.tiled);
            pass.dispatchWorkgroups(this.dim(label, Math.ceil(p.rows / TILE_ROWS)), this.dim(label, Math.ceil(nTokens / TILE_TOKENS)));
          }
        }
      },
    };
  }

  // ---- normalization, RoPE, element-wise --------------------------------------

  rmsnorm(x: GPUBuffer, weight: GPUBuffer, y: GPUBuffer, n: number, eps: number, frame: GPUBuffer, opts: { lastRowOnly?: boolean } = {}): Step {
    const label = `rmsnorm ${n}${opts.lastRowOnly ? ' (last row)' : ''}`;
    checkInt(label, 'n', n, 1);
    needBytes(label, 'weight', weight, n * 4);
    const yRows = rowsIn(label, 'y', y, n * 4);
    const maxRows = opts.lastRowOnly ? rowsIn(label, 'x', x, n * 4) : Math.min(rowsIn(label, 'x', x, n * 4), yRows);
    const pipeline = this.pipeline('rmsnorm', wgsl.commonWgsl + wgsl.rmsnormWgsl, 'rmsnorm');
    const params = this.createUniform(label, [n, f32Bits(eps), maxRows, opts.lastRowOnly ? 1 : 0]);
    const group = this.bindGroup(pipeline, label, [frame, params, x, weight, y]);
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

  rope(x: GPUBuffer, nHeads: number, headDim: number, rope: RopeConfig, frame: GPUBuffer): Step {
    const label = `rope ${rope.style} ${nHeads}x${headDim}`;
    this.checkRope(label, nHeads, headDim, rope, 2);
    const maxRows = rowsIn(label, 'x', x, nHeads * headDim * 4);
    const pipeline = this.pipeline('rope', wgsl.commonWgsl + wgsl.ropeMathWgsl + wgsl.ropeWgsl, 'rope');
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

  siluMul(a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return this.elementwise('silu_mul', a, b, n, frame);
  }

  add(x: GPUBuffer, y: GPUBuffer, n: number, frame: GPUBuffer): Step {
    return this.elementwise('add', x, y, n, frame);
  }

  private elementwise(entry: 'silu_mul' | 'add', a: GPUBuffer, b: GPUBuffer, n: number, frame: GPUBuffer): Step {
    const label = `${entry} ${n}`;
    checkInt(label, 'n', n, 1);
    const maxRows = Math.min(rowsIn(label, 'a', a, n * 4), rowsIn(label, 'b', b, n * 4));
    const pipeline = this.pipeline(entry, wgsl.commonWgsl + wgsl.elementwiseWgsl, entry);
    const params = this.createUniform(label, [n, maxRows, 0, 0]);
    const group = this.bindGroup(pipeline, label, [frame, params, a, b]);
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
    const pipeline = this.pipeline('kv_store', wgsl.commonWgsl + wgsl.kvStoreWgsl, 'kv_store');
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

  attention(q: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, out: GPUBuffer, shape: AttentionShape, frame: GPUBuffer): Step {
    const { nHead, nHeadKv, headDim, scale, nCtx } = shape;
    const label = `attention ${nHead}/${nHeadKv}x${headDim}`;
    checkInt(label, 'nHead', nHead, 1);
    checkInt(label, 'nHeadKv', nHeadKv, 1);
    checkInt(label, 'nCtx', nCtx, 1);
    if (nHead % nHeadKv !== 0) throw new HobError('argument/invalid', `${label}: nHead must be a multiple of nHeadKv`, { nHead, nHeadKv });
    if (!Number.isInteger(headDim) || headDim % 8 !== 0 || headDim < 8 || headDim > 256) {
      throw new HobError('argument/invalid', `${label}: headDim must be a multiple of 8 in [8, 256], got ${headDim}`, { headDim });
    }
    if (nHead > this.maxGroupsPerDim) throw outOfBounds(`${label}: too many heads for one dispatch`, { nHead });
    const kvDim = nHeadKv * headDim;
    needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
    needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
    const maxRows = Math.min(rowsIn(label, 'q', q, nHead * headDim * 4), rowsIn(label, 'out', out, nHead * headDim * 4));
    const nSplit = Math.min(ATTN_MAX_SPLITS, Math.max(1, Math.ceil(nCtx / ATTN_CELLS_PER_SPLIT)));
    const code = wgsl.commonWgsl + wgsl.attentionWgsl;
    const rows = this.pipeline('attn', code, 'attn');
    const params = this.createUniform(label, [nHead, nHeadKv, headDim, kvDim, f32Bits(scale), nCtx, maxRows, nSplit]);
    const rowsGroup = this.bindGroup(rows, label, [frame, params, q, kCache, vCache, out]);

    let split: { pipe: GPUComputePipeline; group: GPUBindGroup; combine: GPUComputePipeline; combineGroup: GPUBindGroup } | null = null;
    if (nSplit > 1) {
      const partials = this.partialsBuffer(nHead * nSplit * (2 + headDim) * 4);
      const pipe = this.pipeline('attn_split', code, 'attn_split');
      const combine = this.pipeline('attn_combine', code, 'attn_combine');
      split = {
        pipe,
        group: this.bindGroup(pipe, label, [frame, params, q, kCache, vCache, null, partials]),
        combine,
        combineGroup: this.bindGroup(combine, label, [frame, params, null, null, null, out, partials]),
      };
    }
    return {
      label,
      encode: (pass, nTokens) => {
        checkTokens(label, nTokens, maxRows);
        if (nTokens === 0) return;
        if (nTokens === 1 && split) {
          pass.setPipeline(split.pipe);
          pass.setBindGroup(0, split.group);
          pass.dispatchWorkgroups(nSplit, nHead);
          pass.setPipeline(split.combine);
          pass.setBindGroup(0, split.combineGroup);
          pass.dispatchWorkgroups(1, nHead);
        } else {
          pass.setPipeline(rows);
          pass.setBindGroup(0, rowsGroup);
          pass.dispatchWorkgroups(this.dim(label, nTokens), nHead);
        }
      },
    };
  }

  /** Encodes the context shift of one layer's cache: cells [end, end +
   * nMoved) move down to start (through `scratch`: a copy may not overlap
   * within one buffer), then the moved K rows are re-rotated by -(end -
   * start) positions. Each call creates two small uniform buffers (the
   * shift's parameters), released with the Kernels. */
  encodeKvErase(enc: GPUCommandEncoder, kCache: GPUBuffer, vCache: GPUBuffer, scratch: GPUBuffer, args: KvEraseArgs): void {
    const { start, end, nMoved, kvDim, nCtx, nHeadKv, headDim, rope } = args;
    const label = 'kv_erase';
    for (const [name, v] of Object.entries({ start, end, nMoved, kvDim, nCtx, nHeadKv, headDim })) {
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
    this.checkRope(label, nHeadKv, headDim, rope, 4);
    if (kvDim % 2 !== 0 || nHeadKv * headDim > kvDim) {
      throw new HobError('argument/invalid', `${label}: kvDim ${kvDim} must be even and hold ${nHeadKv} heads of ${headDim}`, { kvDim, nHeadKv, headDim });
    }
    const rowBytes = kvDim * 2;
    needBytes(label, 'kCache', kCache, nCtx * rowBytes);
    needBytes(label, 'vCache', vCache, nCtx * rowBytes);
    needBytes(label, 'scratch', scratch, nMoved * rowBytes);
    if (start === end || nMoved === 0) return;

    const bytes = nMoved * rowBytes;
    for (const cache of [kCache, vCache]) {
      enc.copyBufferToBuffer(cache, end * rowBytes, scratch, 0, bytes);
      enc.copyBufferToBuffer(scratch, 0, cache, start * rowBytes, bytes);
    }
    const pipeline = this.pipeline('kv_shift', wgsl.commonWgsl + wgsl.ropeMathWgsl + wgsl.kvShiftWgsl, 'kv_shift');
    const ropeParams = this.createUniform(`${label} rope`, ropeUniform(rope, nHeadKv, headDim, nCtx));
    const shiftParams = this.createUniform(label, [start, nMoved, (start - end) >>> 0, kvDim]);
    const group = this.bindGroup(pipeline, label, [null, ropeParams, shiftParams, kCache, rope.freqFactors ?? this.noFactors]);
    const pass = enc.beginComputePass({ label });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const [gx, gy] = this.grid(label, Math.ceil((nMoved * nHeadKv * (rope.nRot / 4)) / 64));
    pass.dispatchWorkgroups(gx, gy);
    pass.end();
  }

  // ---- plumbing ---------------------------------------------------------------------

  private checkRope(label: string, nHeads: number, headDim: number, rope: RopeConfig, nRotMultiple: number): void {
    checkInt(label, 'nHeads', nHeads, 1);
    checkInt(label, 'headDim', headDim, 2);
    if (!Number.isInteger(rope.nRot) || rope.nRot <= 0 || rope.nRot % nRotMultiple !== 0 || rope.nRot > headDim) {
      throw new HobError('argument/invalid', `${label}: nRot must be a positive multiple of ${nRotMultiple} up to headDim ${headDim}, got ${rope.nRot}`, {
        nRot: rope.nRot,
        headDim,
      });
    }
    if (headDim % 2 !== 0) throw new HobError('argument/invalid', `${label}: headDim must be even`, { headDim });
    if (rope.freqFactors) needBytes(label, 'freqFactors', rope.freqFactors, (rope.nRot / 2) * 4);
  }

  private pipeline(key: string, code: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: key, code });
      p = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint, constants } });
      this.pipelines.set(key, p);
    }
    return p;
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

  private partialsBuffer(sizeBytes: number): GPUBuffer {
    if (!this.partials || this.partials.size < sizeBytes) {
      this.partials = this.device.createBuffer({ label: 'attention partials', size: sizeBytes, usage: GPUBufferUsage.STORAGE });
      this.owned.push(this.partials);
    }
    return this.partials;
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
