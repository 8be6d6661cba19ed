// Weight upload: GGUF tensor bytes to GPU buffers in the layout the matmul
// kernels read (wgsl/dequant_<type>.wgsl), split by rows into parts whose
// buffers each fit one storage binding. It owns the per-type repacking and
// nothing else: kernels/matmul.ts binds the parts, the runner decides what to upload.
//
// Adding a weight type is one entry in `layouts` below (buffer sizes and the
// repack from GGUF blocks) plus one wgsl/dequant_<type>.wgsl with load_group
// (float types) or load_block and load_scales (quantized types).
//
// Quantized types are read by the integer kernels one 32-element block at a
// time, so every one is repacked into two arrays indexed by 32-element
// block: a meta array (scales, minimums, high bits: a few u32 a block) and
// a quant array (the low bits: 16 bytes of nibbles, element j in the low
// nibble of byte j and j + 16 in its high one; 8 bytes of 2-bit fields; or
// Q8_0's 32 bytes). K-quant super-blocks (256 elements) are cut into their
// eight 32-element blocks, each carrying its super-block's d and dmin and
// the integer scales of its two 16-element halves. Per type (meta + quant
// bytes per 32 elements): Q8_0 2 + 32, Q4_0 and IQ4_NL 2 + 16, Q4_1 4 + 16,
// Q5_0 and Q5_1 8 + 16, Q2_K 8 + 8, Q3_K 8 + 8, Q4_K 8 + 16, Q5_K 12 + 16,
// Q6_K 12 + 16.
import { GGML_TYPES } from '../format/ggml-types.js';
import { GpuError, HobError } from '../shared/errors.js';
import type { GpuContext } from './device.js';

export type GpuWeightType =
  | 'f32' | 'f16' | 'bf16'
  | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'iq4_nl'
  | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';

/** Rows [rowStart, rowStart + rowCount) of a weight, in the buffers of its
 * type's layout (bindings 4, 5, … of the matmul kernels, in order). */
export interface GpuWeightPart {
  rowStart: number;
  rowCount: number;
  buffers: GPUBuffer[];
}

export interface GpuWeight {
  type: GpuWeightType;
  rows: number;
  cols: number;
  parts: GpuWeightPart[];
  sizeBytes: number;
  /** Rows of the weights this one stacks (Q, K and V, or gate and up,
   * concatenated by rows on upload); absent for a single weight. */
  stack?: number[];
}

interface Layout {
  type: GpuWeightType;
  /** Elements of a GGUF block and its bytes. */
  blockElems: number;
  blockBytes: number;
  /** Bytes of each GPU buffer for `rows` rows (before rounding up to 4). */
  bufferBytes(rows: number, cols: number): number[];
  /** Fills the part's buffers (mapped, zeroed) from its GGUF rows. */
  repack(src: Uint8Array, rows: number, cols: number, dst: Uint8Array[]): void;
}

// F32, F16 and BF16 rows are already what the kernels read (cols % 8 == 0
// keeps every row a whole number of vec4 words): copied as they are.
const plain = (type: GpuWeightType, ggmlType: number, bytesPerElem = GGML_TYPES[ggmlType][2]): Layout => ({
  type,
  blockElems: 8,
  blockBytes: 8 * bytesPerElem,
  bufferBytes: (rows, cols) => [rows * cols * bytesPerElem],
  repack: (src, _rows, _cols, [dst]) => dst.set(src),
});

// Q8_0, Q4_0 and IQ4_NL: {f16 d; qs[]} blocks split into a scale array (halves, two
// to a u32) and a quant array (the blocks' qs bytes back to back), so a
// block's quants are one (Q4_0) or two (Q8_0) aligned 16-byte loads and
// neighbouring invocations read neighbouring blocks.
const scaled = (type: GpuWeightType, ggmlType: number, qsBytes = GGML_TYPES[ggmlType][2] - 2): Layout => ({
  type,
  blockElems: 32,
  blockBytes: 2 + qsBytes,
  bufferBytes: (rows, cols) => [(rows * cols) / 32 * 2, (rows * cols) / 32 * qsBytes],
  repack: (src, rows, cols, [scales, quants]) => {
    const blocks = (rows * cols) / 32;
    const bb = 2 + qsBytes;
    for (let b = 0; b < blocks; b++) {
      const s = b * bb;
      scales[2 * b] = src[s];
      scales[2 * b + 1] = src[s + 1];
      quants.set(src.subarray(s + 2, s + bb), b * qsBytes);
    }
  },
});

// The 32 values of one block's low four bits as 16 bytes: element j in the
// low nibble of byte j, element j + 16 in the high one.
function packNibbles(v: ArrayLike<number>, dst: Uint8Array, at: number): void {
  for (let j = 0; j < 16; j++) dst[at + j] = (v[j] & 15) | ((v[j + 16] & 15) << 4);
}

// 32 two-bit values as 8 bytes: element 4j + k at bits 2k of byte j.
function pack2Bits(v: ArrayLike<number>, dst: Uint8Array, at: number): void {
  for (let j = 0; j < 8; j++) dst[at + j] = (v[4 * j] & 3) | ((v[4 * j + 1] & 3) << 2) | ((v[4 * j + 2] & 3) << 4) | ((v[4 * j + 3] & 3) << 6);
}

// 32 one-bit values as a u32: element l at bit l.
function pack1Bits(v: ArrayLike<number>): number {
  let w = 0;
  for (let l = 0; l < 32; l++) w |= (v[l] & 1) << l;
  return w >>> 0;
}

/** A quantized type repacked per 32-element block (see the top of the
 * file): `fill` writes block `sub` (0 .. blockElems / 32 - 1) of the GGUF
 * block at src[o ..] as metaWords u32 and quantBytes bytes. */
function perBlock(
  type: GpuWeightType,
  ggmlType: number,
  metaWords: number,
  quantBytes: number,
  fill: (src: Uint8Array, o: number, sub: number, meta: Uint32Array, m: number, quants: Uint8Array, q: number) => void,
): Layout {
  const [, blockElems, blockBytes] = GGML_TYPES[ggmlType];
  return {
    type,
    blockElems,
    blockBytes,
    bufferBytes: (rows, cols) => [(rows * cols) / 32 * metaWords * 4, (rows * cols) / 32 * quantBytes],
    repack: (src, rows, cols, [metaBytes, quants]) => {
      const meta = new Uint32Array(metaBytes.buffer, metaBytes.byteOffset, metaBytes.byteLength >> 2);
      const per = blockElems / 32;
      const blocks = (rows * cols) / blockElems;
      for (let b = 0; b < blocks; b++) {
        for (let s = 0; s < per; s++) {
          const i = b * per + s;
          fill(src, b * blockBytes, s, meta, i * metaWords, quants, i * quantBytes);
        }
      }
    },
  };
}

const u16 = (src: Uint8Array, o: number) => src[o] | (src[o + 1] << 8);
const halves = (lo: number, hi: number) => (lo | (hi << 16)) >>> 0;
const signedByte = (v: number) => v & 0xff;

// Q4_1 and Q5_1: {f16 d, f16 m, [u32 qh,] qs[16]}; Q5_0: {f16 d, u32 qh, qs[16]}.
const q4_1 = perBlock('q4_1', 3, 1, 16, (src, o, _s, meta, m, quants, q) => {
  meta[m] = halves(u16(src, o), u16(src, o + 2));
  quants.set(src.subarray(o + 4, o + 20), q);
});
const q5_0 = perBlock('q5_0', 6, 2, 16, (src, o, _s, meta, m, quants, q) => {
  meta[m] = u16(src, o);
  meta[m + 1] = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0;
  quants.set(src.subarray(o + 6, o + 22), q);
});
const q5_1 = perBlock('q5_1', 7, 2, 16, (src, o, _s, meta, m, quants, q) => {
  meta[m] = halves(u16(src, o), u16(src, o + 2));
  meta[m + 1] = (src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24)) >>> 0;
  quants.set(src.subarray(o + 8, o + 24), q);
});

// K-quants: the values of the 32 elements of block s of a super-block, in
// the element order of cpp/quants.h's layouts.
const lows = new Uint8Array(32);
const highs = new Uint8Array(32);

// Q2_K {scales[16], qs[64], f16 d, f16 dmin}: element 128h + 32t + l is
// bits 2t.. of qs[32h + l]; 16-element group g has scale scales[g] & 15, min scales[g] >> 4.
const q2_k = perBlock('q2_k', 10, 2, 8, (src, o, s, meta, m, quants, q) => {
  const h = s >> 2;
  const t = s & 3;
  for (let l = 0; l < 32; l++) lows[l] = (src[o + 16 + 32 * h + l] >> (2 * t)) & 3;
  pack2Bits(lows, quants, q);
  const g0 = src[o + 2 * s];
  const g1 = src[o + 2 * s + 1];
  meta[m] = halves(u16(src, o + 80), u16(src, o + 82));
  meta[m + 1] = ((g0 & 15) | ((g0 >> 4) << 8) | ((g1 & 15) << 16) | ((g1 >> 4) << 24)) >>> 0;
});

// Q3_K {hmask[32], qs[64], scales[12], f16 d}: low bits as Q2_K, high bit of
// element 128h + 32t + l at bit 4h + t of hmask[l]; 6-bit scales minus 32.
function scaleQ3K(src: Uint8Array, o: number, i: number): number {
  const low = i < 8 ? src[o + i] & 15 : src[o + i - 8] >> 4;
  const high = (src[o + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
  return (low | (high << 4)) - 32;
}
const q3_k = perBlock('q3_k', 11, 2, 8, (src, o, s, meta, m, quants, q) => {
  const h = s >> 2;
  const t = s & 3;
  for (let l = 0; l < 32; l++) {
    lows[l] = (src[o + 32 + 32 * h + l] >> (2 * t)) & 3;
    highs[l] = (src[o + l] >> (4 * h + t)) & 1;
  }
  pack2Bits(lows, quants, q);
  const sc0 = scaleQ3K(src, o + 96, 2 * s);
  const sc1 = scaleQ3K(src, o + 96, 2 * s + 1);
  meta[m] = (u16(src, o + 108) | (signedByte(sc0) << 16) | (signedByte(sc1) << 24)) >>> 0;
  meta[m + 1] = pack1Bits(highs);
});

// Scale and minimum j of Q4_K / Q5_K's 12 packed bytes at src[o ..].
function scaleMinK4(src: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [src[o + j] & 63, src[o + j + 4] & 63];
  return [(src[o + j + 4] & 15) | ((src[o + j - 4] >> 6) << 4), (src[o + j + 4] >> 4) | ((src[o + j] >> 6) << 4)];
}

// Q4_K {f16 d, f16 dmin, scales[12], qs[128]} and Q5_K (qh[32] before qs):
// element 64j + l of block 2j is the low nibble of qs[32j + l], of block
// 2j + 1 the high one; Q5_K's fifth bit of block s's element l is bit s of qh[l].
const q45_k = (five: boolean) =>
  perBlock(five ? 'q5_k' : 'q4_k', five ? 13 : 12, five ? 3 : 2, 16, (src, o, s, meta, m, quants, q) => {
    const qs = o + (five ? 48 : 16);
    const shift = 4 * (s & 1);
    for (let l = 0; l < 32; l++) {
      lows[l] = (src[qs + 32 * (s >> 1) + l] >> shift) & 15;
      if (five) highs[l] = (src[o + 16 + l] >> s) & 1;
    }
    packNibbles(lows, quants, q);
    const [sc, mn] = scaleMinK4(src, o + 4, s);
    meta[m] = halves(u16(src, o), u16(src, o + 2));
    meta[m + 1] = sc | (mn << 8);
    if (five) meta[m + 2] = pack1Bits(highs);
  });

// Q6_K {ql[128], qh[64], scales[16] int8, f16 d}: element 128h + 32k + l
// has low bits (ql[64h + l + 32(k & 1)] >> 4(k >> 1)) & 15 and top bits
// (qh[32h + l] >> 2k) & 3.
const q6_k = perBlock('q6_k', 14, 3, 16, (src, o, s, meta, m, quants, q) => {
  const h = s >> 2;
  const k = s & 3;
  for (let l = 0; l < 32; l++) {
    lows[l] = (src[o + 64 * h + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
    highs[l] = (src[o + 128 + 32 * h + l] >> (2 * k)) & 3;
  }
  packNibbles(lows, quants, q);
  const top = new Uint8Array(8);
  pack2Bits(highs, top, 0);
  meta[m] = (u16(src, o + 208) | (src[o + 192 + 2 * s] << 16) | (src[o + 192 + 2 * s + 1] << 24)) >>> 0;
  meta[m + 1] = (top[0] | (top[1] << 8) | (top[2] << 16) | (top[3] << 24)) >>> 0;
  meta[m + 2] = (top[4] | (top[5] << 8) | (top[6] << 16) | (top[7] << 24)) >>> 0;
});

// GGUF type ids (the numbering of cpp/types.h; geometry from src/format/ggml-types.ts).
const layouts = new Map<number, Layout>([
  [0, plain('f32', 0)],
  [1, plain('f16', 1)],
  [30, plain('bf16', 30)],
  [8, scaled('q8_0', 8)],
  [2, scaled('q4_0', 2)],
  [20, scaled('iq4_nl', 20)],
  [3, q4_1],
  [6, q5_0],
  [7, q5_1],
  [10, q2_k],
  [11, q3_k],
  [12, q45_k(false)],
  [13, q45_k(true)],
  [14, q6_k],
]);

/** True if the GPU kernels can multiply by weights of this GGUF type. */
export function isGpuWeightType(ggmlType: number): boolean {
  return layouts.has(ggmlType);
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;

function usableBindingBytes(ctx: GpuContext, override?: number): number {
  const limit = Math.min(ctx.caps.maxBindingBytes, ctx.caps.maxBufferBytes);
  return override === undefined ? limit : Math.min(limit, override);
}

/** Creates a buffer whose initial contents (zeroed) `fill` writes while it
 * is mapped. */
function createFilledBuffer(device: GPUDevice, label: string, sizeBytes: number, usage: number, fill: (dst: Uint8Array) => void): GPUBuffer {
  const buffer = device.createBuffer({ label, size: align4(Math.max(4, sizeBytes)), usage, mappedAtCreation: true });
  fill(new Uint8Array(buffer.getMappedRange()));
  buffer.unmap();
  return buffer;
}

/** Uploads one weight matrix (rows x cols, row-major, GGUF blocks) into GPU
 * buffers, repacked for the kernels and split by rows into parts whose
 * buffers each fit a storage binding (or opts.maxBindingBytes). */
export function createWeightBuffers(
  ctx: GpuContext,
  name: string,
  ggmlType: number,
  rows: number,
  cols: number,
  bytes: Uint8Array,
  opts: { maxBindingBytes?: number } = {},
): GpuWeight {
  const layout = layouts.get(ggmlType);
  if (!layout) {
    throw new GpuError('gpu/unsupported-type', `${name}: the GPU kernels have no matmul for GGUF type ${ggmlType}`, {
      lost: false,
      ggmlType,
    });
  }
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || cols % layout.blockElems !== 0) {
    throw new HobError('argument/invalid', `${name}: a ${layout.type} weight needs rows > 0 and cols a positive multiple of ${layout.blockElems}, got ${rows} x ${cols}`, {
      rows,
      cols,
    });
  }
  const rowBytes = (cols / layout.blockElems) * layout.blockBytes;
  if (bytes.byteLength < rows * rowBytes) {
    throw new HobError('range/out-of-bounds', `${name}: ${rows} x ${cols} ${layout.type} needs ${rows * rowBytes} bytes, got ${bytes.byteLength}`, {
      rows,
      cols,
      needBytes: rows * rowBytes,
      haveBytes: bytes.byteLength,
    });
  }

  // Rows a part may hold: its largest buffer (rounded up to whole words)
  // must fit a binding.
  const maxBytes = usableBindingBytes(ctx, opts.maxBindingBytes);
  const perRow = Math.max(...layout.bufferBytes(1, cols));
  let rowsPerPart = Math.floor(maxBytes / perRow);
  while (rowsPerPart > 0 && Math.max(...layout.bufferBytes(rowsPerPart, cols).map(align4)) > maxBytes) rowsPerPart--;
  if (rowsPerPart < 1) {
    throw new HobError('range/out-of-bounds', `${name}: one row of ${perRow} bytes exceeds the ${maxBytes}-byte storage binding limit`, {
      rowBytes: perRow,
      maxBindingBytes: maxBytes,
    });
  }

  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const parts: GpuWeightPart[] = [];
  let sizeBytes = 0;
  for (let r0 = 0; r0 < rows; r0 += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r0);
    const src = bytes.subarray(r0 * rowBytes, (r0 + n) * rowBytes);
    // Repacked straight into the mapped buffers: no staging copy of the weight.
    const buffers = layout.bufferBytes(n, cols).map((size, i) =>
      ctx.device.createBuffer({ label: `${name}[${r0}:${r0 + n}]#${i}`, size: align4(Math.max(4, size)), usage, mappedAtCreation: true }),
    );
    layout.repack(src, n, cols, buffers.map((b) => new Uint8Array(b.getMappedRange())));
    for (const b of buffers) b.unmap();
    for (const b of buffers) sizeBytes += b.size;
    parts.push({ rowStart: r0, rowCount: n, buffers });
  }
  return { type: layout.type, rows, cols, parts, sizeBytes };
}

/** Destroys the buffers of a weight. */
export function destroyWeight(w: GpuWeight): void {
  for (const p of w.parts) for (const b of p.buffers) b.destroy();
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Uploads a vector (norm weight, bias) of n elements of GGUF type F32, F16
 * or BF16 as n f32 values. */
export function createVectorBuffer(ctx: GpuContext, name: string, ggmlType: number, n: number, bytes: Uint8Array): GPUBuffer {
  return createF32Buffer(ctx, name, vectorValues(name, ggmlType, n, bytes));
}

/** Uploads f32 values (vectorValues of one or more vectors) as a storage buffer. */
export function createF32Buffer(ctx: GpuContext, name: string, values: Float32Array): GPUBuffer {
  return createFilledBuffer(ctx.device, name, values.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, (dst) =>
    dst.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)),
  );
}

/** The n f32 values of a vector of GGUF type F32, F16 or BF16. */
export function vectorValues(name: string, ggmlType: number, n: number, bytes: Uint8Array): Float32Array {
  const elemBytes = ggmlType === 0 ? 4 : ggmlType === 1 || ggmlType === 30 ? 2 : 0;
  if (!elemBytes) {
    throw new GpuError('gpu/unsupported-type', `${name}: a GPU vector must be F32, F16 or BF16, not GGUF type ${ggmlType}`, { lost: false, ggmlType });
  }
  if (!Number.isInteger(n) || n <= 0 || bytes.byteLength < n * elemBytes) {
    throw new HobError('range/out-of-bounds', `${name}: ${n} elements need ${n * elemBytes} bytes, got ${bytes.byteLength}`, {
      n,
      haveBytes: bytes.byteLength,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * elemBytes);
  const values = new Float32Array(n);
  const bits = new Uint32Array(values.buffer);
  for (let i = 0; i < n; i++) {
    if (ggmlType === 0) values[i] = view.getFloat32(4 * i, true);
    else if (ggmlType === 1) values[i] = halfToFloat(view.getUint16(2 * i, true));
    else bits[i] = view.getUint16(2 * i, true) << 16;  // a bfloat16 is the high half of an f32
  }
  return values;
}
