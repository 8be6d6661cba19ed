// Weight upload: GGUF tensor bytes to GPU buffers in the layout the matmul
// kernels read (wgsl/dequant_<type>.wgsl), split by rows into parts whose
// buffers each fit one storage binding. It owns the per-type repacking and
// nothing else: kernels.ts binds the parts, the runner decides what to upload.
//
// Adding a weight type is one entry in `layouts` below (buffer sizes and the
// repack from GGUF blocks) plus one wgsl/dequant_<type>.wgsl with load_group.
import { GpuError, HobError } from '../api/errors.js';
import type { GpuContext } from './device.js';

export type GpuWeightType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

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
const plain = (type: GpuWeightType, bytesPerElem: number): Layout => ({
  type,
  blockElems: 8,
  blockBytes: 8 * bytesPerElem,
  bufferBytes: (rows, cols) => [rows * cols * bytesPerElem],
  repack: (src, _rows, _cols, [dst]) => dst.set(src),
});

// Q8_0 and Q4_0: {f16 d; qs[]} blocks split into a scale array (halves, two
// to a u32) and a quant array (the blocks' qs bytes back to back), so a
// block's quants are one (Q4_0) or two (Q8_0) aligned 16-byte loads and
// neighbouring invocations read neighbouring blocks.
const scaled = (type: GpuWeightType, qsBytes: number): Layout => ({
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

// GGUF type ids (the numbering of cpp/types.h).
const layouts = new Map<number, Layout>([
  [0, plain('f32', 4)],
  [1, plain('f16', 2)],
  [30, plain('bf16', 2)],
  [8, scaled('q8_0', 32)],
  [2, scaled('q4_0', 16)],
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
  return createFilledBuffer(ctx.device, name, n * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, (dst) =>
    dst.set(new Uint8Array(values.buffer)),
  );
}
