// A GGUF v3 writer for tests: metadata of every value type, tensor infos with
// alignment padding, and tensor data encoded from float32 by quantize.ts (F32,
// F16, BF16, the 32-element quant blocks and the K-quants). It writes valid
// files only: malformed files for parser tests are built elsewhere. No Node
// APIs, so it also runs in the browser tests.

import { ENCODINGS, type TensorType } from './quantize';

// The encodings live in quantize.ts; re-exported so the writer stays the one
// import for tests that build files.
export {
  bf16ToF32,
  decodeTensor,
  ENCODINGS,
  encodeTensor,
  f16ToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  IQ4_NL_VALUES,
  type TensorType,
} from './quantize';

// ---------------------------------------------------------------------------
// Metadata

/** gguf_type ids of metadata values. */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;
/** A scalar type, or an array of one such as `'int32[]'` or `'string[]'`. */
export type GgufKvType = GgufScalarType | `${GgufScalarType}[]`;
type Scalar = number | bigint | boolean | string;
export type GgufValue = Scalar | ArrayLike<Scalar>;

const INT_RANGE: Partial<Record<GgufScalarType, [bigint, bigint]>> = {
  uint8: [0n, 0xffn],
  int8: [-0x80n, 0x7fn],
  uint16: [0n, 0xffffn],
  int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffffffffn],
  int32: [-0x80000000n, 0x7fffffffn],
  uint64: [0n, 0xffffffffffffffffn],
  int64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

const textEncoder = new TextEncoder();

/** A little-endian byte buffer that grows as it is written. */
class ByteSink {
  bytes = new Uint8Array(1024);
  view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, at + n));
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return at;
  }
  // reserve() may replace the view, so it runs before the view is read.
  u8(v: number): void { const at = this.reserve(1); this.view.setUint8(at, v); }
  i8(v: number): void { const at = this.reserve(1); this.view.setInt8(at, v); }
  u16(v: number): void { const at = this.reserve(2); this.view.setUint16(at, v, true); }
  i16(v: number): void { const at = this.reserve(2); this.view.setInt16(at, v, true); }
  u32(v: number): void { const at = this.reserve(4); this.view.setUint32(at, v, true); }
  i32(v: number): void { const at = this.reserve(4); this.view.setInt32(at, v, true); }
  u64(v: bigint): void { const at = this.reserve(8); this.view.setBigUint64(at, v, true); }
  i64(v: bigint): void { const at = this.reserve(8); this.view.setBigInt64(at, v, true); }
  f32(v: number): void { const at = this.reserve(4); this.view.setFloat32(at, v, true); }
  f64(v: number): void { const at = this.reserve(8); this.view.setFloat64(at, v, true); }
  raw(b: Uint8Array): void { const at = this.reserve(b.length); this.bytes.set(b, at); }
  /** A GGUF string: u64 byte length, then UTF-8 bytes, no terminator. */
  str(s: string): void {
    const b = textEncoder.encode(s);
    this.u64(BigInt(b.length));
    this.raw(b);
  }
  zeros(n: number): void { this.reserve(n); } // new bytes are already zero
}

function checkScalar(key: string, type: GgufScalarType, v: Scalar): void {
  const bad = (why: string): never => {
    throw new Error(`gguf kv ${key}: ${JSON.stringify(typeof v === 'bigint' ? v.toString() : v)} ${why}`);
  };
  if (type === 'string') {
    if (typeof v !== 'string') bad('is not a string');
  } else if (type === 'bool') {
    if (typeof v !== 'boolean') bad('is not a boolean');
  } else if (type === 'float32' || type === 'float64') {
    if (typeof v !== 'number') bad(`is not a number for ${type}`);
  } else {
    if (typeof v !== 'number' && typeof v !== 'bigint') bad(`is not an integer for ${type}`);
    if (typeof v === 'number' && !Number.isSafeInteger(v)) bad(`is not a safe integer for ${type}`);
    const [lo, hi] = INT_RANGE[type]!;
    const b = BigInt(v as number | bigint);
    if (b < lo || b > hi) bad(`is out of range for ${type}`);
  }
}

function writeScalar(sink: ByteSink, type: GgufScalarType, v: Scalar): void {
  switch (type) {
    case 'uint8': return sink.u8(Number(v));
    case 'int8': return sink.i8(Number(v));
    case 'uint16': return sink.u16(Number(v));
    case 'int16': return sink.i16(Number(v));
    case 'uint32': return sink.u32(Number(v));
    case 'int32': return sink.i32(Number(v));
    case 'uint64': return sink.u64(BigInt(v as number | bigint));
    case 'int64': return sink.i64(BigInt(v as number | bigint));
    case 'float32': return sink.f32(v as number);
    case 'float64': return sink.f64(v as number);
    case 'bool': return sink.u8(v ? 1 : 0);
    case 'string': return sink.str(v as string);
  }
}

// ---------------------------------------------------------------------------
// The writer

/**
 * Fills `out` with the tensor's elements `start … start + out.length − 1`
 * (row-major, innermost dimension first). Lets a 400 MB model be written
 * without ever holding its float32 weights.
 */
export type TensorFill = (out: Float32Array, start: number) => void;

interface TensorEntry {
  name: string;
  dims: number[];
  type: TensorType;
  nElements: number;
  sizeBytes: number;
  offset: number; // from the start of the data section
  data: Float32Array | TensorFill;
}

export interface GgufWriterOptions {
  /** Data alignment in bytes, a power of two (default 32, GGUF's default).
   *  Any other value is recorded as `general.alignment`. */
  alignment?: number;
}

/** Elements encoded at a time when streaming: a multiple of every block size. */
const CHUNK_ELEMENTS = 1 << 16;

const padTo = (n: number, align: number): number => Math.ceil(n / align) * align;

export class GgufWriter {
  readonly alignment: number;
  private readonly kvs = new Map<string, { type: GgufKvType; value: GgufValue }>();
  private readonly tensors: TensorEntry[] = [];
  private dataBytes = 0;

  constructor(options: GgufWriterOptions = {}) {
    const alignment = options.alignment ?? 32;
    if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
      throw new Error(`gguf alignment ${alignment} is not a power of two`);
    }
    this.alignment = alignment;
    if (alignment !== 32) this.addKv('general.alignment', alignment, 'uint32');
  }

  /** Adds a metadata entry. Keys are written in the order they are added. */
  addKv(key: string, value: GgufValue, type: GgufKvType): this {
    if (this.kvs.has(key)) throw new Error(`gguf kv ${key}: duplicate key`);
    if (key === 'general.alignment' && this.kvs.size > 0) {
      throw new Error('gguf: set general.alignment through the GgufWriter constructor');
    }
    if (type.endsWith('[]')) {
      const elem = type.slice(0, -2) as GgufScalarType;
      if (typeof value !== 'object' || value === null || typeof value.length !== 'number') {
        throw new Error(`gguf kv ${key}: ${type} needs an array value`);
      }
      for (let i = 0; i < value.length; i++) checkScalar(`${key}[${i}]`, elem, value[i]);
    } else {
      checkScalar(key, type as GgufScalarType, value as Scalar);
    }
    this.kvs.set(key, { type, value });
    return this;
  }

  /**
   * Adds a tensor. `dims` are GGUF order, innermost first (`[nEmbd, nVocab]`
   * for token_embd); the innermost must be a multiple of the type's block
   * size. `data` holds the float32 values, or fills them on demand.
   */
  addTensor(name: string, dims: readonly number[], type: TensorType, data: Float32Array | TensorFill): this {
    if (this.tensors.some((t) => t.name === name)) throw new Error(`gguf tensor ${name}: duplicate name`);
    if (dims.length < 1 || dims.length > 4) throw new Error(`gguf tensor ${name}: ${dims.length} dims (1 to 4 allowed)`);
    if (dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new Error(`gguf tensor ${name}: bad dims [${dims.join(', ')}]`);
    }
    const enc = ENCODINGS[type];
    if (!enc) throw new Error(`gguf tensor ${name}: unknown type ${type}`);
    if (dims[0] % enc.blockSize !== 0) {
      throw new Error(`gguf tensor ${name}: row length ${dims[0]} is not a multiple of the ${type} block size ${enc.blockSize}`);
    }
    const nElements = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(nElements)) throw new Error(`gguf tensor ${name}: too many elements`);
    if (data instanceof Float32Array && data.length !== nElements) {
      throw new Error(`gguf tensor ${name}: ${data.length} values for dims [${dims.join(', ')}] (${nElements})`);
    }
    const sizeBytes = (nElements / enc.blockSize) * enc.blockBytes;
    this.tensors.push({ name, dims: [...dims], type, nElements, sizeBytes, offset: this.dataBytes, data });
    this.dataBytes += padTo(sizeBytes, this.alignment);
    return this;
  }

  /** Header, metadata and tensor infos, padded to the alignment. */
  headerBytes(): Uint8Array {
    const s = new ByteSink();
    s.raw(textEncoder.encode('GGUF'));
    s.u32(3);
    s.u64(BigInt(this.tensors.length));
    s.u64(BigInt(this.kvs.size));
    for (const [key, { type, value }] of this.kvs) {
      s.str(key);
      if (type.endsWith('[]')) {
        const elem = type.slice(0, -2) as GgufScalarType;
        const arr = value as ArrayLike<Scalar>;
        s.u32(GGUF_VALUE_TYPE.array);
        s.u32(GGUF_VALUE_TYPE[elem]);
        s.u64(BigInt(arr.length));
        for (let i = 0; i < arr.length; i++) writeScalar(s, elem, arr[i]);
      } else {
        s.u32(GGUF_VALUE_TYPE[type as GgufScalarType]);
        writeScalar(s, type as GgufScalarType, value as Scalar);
      }
    }
    for (const t of this.tensors) {
      s.str(t.name);
      s.u32(t.dims.length);
      for (const d of t.dims) s.u64(BigInt(d));
      s.u32(ENCODINGS[t.type].ggmlType);
      s.u64(BigInt(t.offset));
    }
    s.zeros(padTo(s.length, this.alignment) - s.length);
    return s.bytes.slice(0, s.length);
  }

  /** Size of the whole file in bytes. */
  sizeBytes(): number {
    return this.headerBytes().length + this.dataBytes;
  }

  /**
   * The file as a sequence of chunks (header, then each tensor's data in
   * pieces of at most 64 Ki elements, with padding). Concatenated they are the
   * file; streaming them keeps memory flat however large the model.
   */
  *chunks(): Generator<Uint8Array> {
    yield this.headerBytes();
    for (const t of this.tensors) {
      const enc = ENCODINGS[t.type];
      const scratch = new Float32Array(Math.min(CHUNK_ELEMENTS, t.nElements));
      for (let start = 0; start < t.nElements; start += CHUNK_ELEMENTS) {
        const n = Math.min(CHUNK_ELEMENTS, t.nElements - start);
        const src = t.data instanceof Float32Array ? t.data.subarray(start, start + n) : scratch.subarray(0, n);
        if (!(t.data instanceof Float32Array)) t.data(src, start);
        const out = new Uint8Array((n / enc.blockSize) * enc.blockBytes);
        enc.encode(src, new DataView(out.buffer));
        yield out;
      }
      const pad = padTo(t.sizeBytes, this.alignment) - t.sizeBytes;
      if (pad > 0) yield new Uint8Array(pad);
    }
  }

  /** The whole file in one buffer (one copy of the encoded bytes). */
  toBytes(): Uint8Array {
    const header = this.headerBytes();
    const out = new Uint8Array(header.length + this.dataBytes);
    let at = 0;
    for (const chunk of this.chunks()) {
      out.set(chunk, at);
      at += chunk.length;
    }
    if (at !== out.length) throw new Error(`gguf writer: wrote ${at} bytes, expected ${out.length}`);
    return out;
  }
}
