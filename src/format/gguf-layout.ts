// A GGUF header read in TypeScript, without the wasm engine: metadata
// scalars, where each section starts and ends, and the tensor table. Every
// length and count is checked against the bytes that remain. The store
// summarizes models with it and split models are joined with it; the
// engine's own parser stays the one that decides whether a model can run.
import { ModelFormatError } from '../shared/errors.js';
import { GGML_TYPES } from './ggml-types.js';
import type { ByteSource } from './source.js';

// GGUF metadata value types and the size of the fixed-size ones.
const T_STRING = 8;
const T_ARRAY = 9;
const FIXED_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
// A key or tensor name longer than this is a corrupt length, not a name.
const MAX_NAME_BYTES = 1 << 16;

const decoder = new TextDecoder();

/** A bounds-checked little-endian cursor that reads the source in blocks. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private bufStart = 0;

  constructor(
    private readonly src: ByteSource,
    private readonly blockBytes = 1 << 16,
  ) {}

  get remaining(): number {
    return this.src.sizeBytes - this.pos;
  }

  fail(code: 'gguf/truncated' | 'gguf/invalid', field: string, why: string): never {
    throw new ModelFormatError(code, `GGUF ${field} at byte ${this.pos}: ${why}`, { offset: this.pos, field, fileBytes: this.src.sizeBytes });
  }

  /** Makes bytes [pos, pos + n) readable from the buffer; returns their index in it. */
  private async need(n: number, field: string): Promise<number> {
    if (n > this.remaining) this.fail('gguf/truncated', field, `needs ${n} bytes, the file has ${this.remaining} left`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.byteLength) {
      const len = Math.min(Math.max(n, this.blockBytes), this.remaining);
      this.buf = await this.src.read(this.pos, len);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  async u32(field: string): Promise<number> {
    // `need` may replace the view: read it only after the await.
    const at = await this.need(4, field);
    return this.view.getUint32(at, true);
  }

  /** A u64 that must be a safe integer (every GGUF count and size is). */
  async u64(field: string): Promise<number> {
    const at = await this.need(8, field);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('gguf/invalid', field, `value ${v} is out of range`);
    return Number(v);
  }

  async string(field: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<string> {
    const n = await this.u64(`${field} length`);
    if (n > maxBytes) this.fail('gguf/invalid', field, `string of ${n} bytes (at most ${maxBytes})`);
    const at = await this.need(n, field);
    return decoder.decode(this.buf.subarray(at, at + n));
  }

  async skip(n: number, field: string): Promise<void> {
    if (n > this.remaining) this.fail('gguf/truncated', field, `needs ${n} bytes, the file has ${this.remaining} left`);
    this.pos += n;
  }

  /** A scalar's value (numbers, bools, strings); 64-bit integers as numbers when safe. */
  async scalar(type: number, field: string): Promise<string | number | boolean> {
    if (type === T_STRING) return this.string(field);
    const size = FIXED_BYTES[type];
    if (size === undefined) this.fail('gguf/invalid', field, `unknown value type ${type}`);
    const at = await this.need(size, field);
    const v = this.view;
    switch (type) {
      case 0: return v.getUint8(at);
      case 1: return v.getInt8(at);
      case 2: return v.getUint16(at, true);
      case 3: return v.getInt16(at, true);
      case 4: return v.getUint32(at, true);
      case 5: return v.getInt32(at, true);
      case 6: return v.getFloat32(at, true);
      case 7: return v.getUint8(at) !== 0;
      case 10: return Number(v.getBigUint64(at, true));
      case 11: return Number(v.getBigInt64(at, true));
      default: return v.getFloat64(at, true);
    }
  }

  /** Skips an array's elements: fixed-size ones at once, strings one by one. */
  async skipArray(elemType: number, count: number, field: string): Promise<void> {
    if (elemType === T_STRING) {
      if (count * 8 > this.remaining) this.fail('gguf/truncated', field, `${count} strings cannot fit in ${this.remaining} bytes`);
      for (let i = 0; i < count; i++) await this.skip(await this.u64(`${field}[${i}] length`), `${field}[${i}]`);
      return;
    }
    const size = FIXED_BYTES[elemType];
    if (size === undefined) this.fail('gguf/invalid', field, `array of unsupported type ${elemType}`);
    await this.skip(count * size, field);
  }
}

export const padTo = (n: number, align: number): number => Math.ceil(n / align) * align;

export interface GgufTensorLayout {
  name: string;
  /** Row length first, as GGUF stores them. */
  dims: number[];
  typeId: number;
  /** From the start of the data section. */
  offset: number;
  nElements: number;
  /** Bytes of data, when the type is known. */
  sizeBytes?: number;
}

export interface GgufLayout {
  version: number;
  nKv: number;
  /** Where the metadata ends and the tensor table begins. */
  kvEndBytes: number;
  alignment: number;
  /** Where the tensor data starts (header and tensor infos end, padded). */
  dataOffsetBytes: number;
  /** Scalar metadata values (arrays are skipped). */
  meta: Map<string, string | number | boolean>;
  tensors: GgufTensorLayout[];
}

/** Name, elements per block and bytes per block of a ggml type id. */
export function ggmlTypeTraits(typeId: number): readonly [string, number, number] | undefined {
  return GGML_TYPES[typeId];
}

/**
 * Reads the header of `src`: throws ModelFormatError ('gguf/bad-magic',
 * 'gguf/bad-version', 'gguf/truncated', 'gguf/invalid') with the offset and
 * field name.
 */
export async function readGgufLayout(src: ByteSource): Promise<GgufLayout> {
  const c = new Cursor(src);
  if (src.sizeBytes < 4 || (await c.u32('magic')) !== 0x46554747) {
    throw new ModelFormatError('gguf/bad-magic', 'not a GGUF file: it does not start with "GGUF"', { offset: 0, fileBytes: src.sizeBytes });
  }
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) {
    throw new ModelFormatError('gguf/bad-version', `GGUF version ${version} is not supported (2 or 3)`, { offset: 4, version });
  }
  const nTensors = await c.u64('tensor count');
  const nKv = await c.u64('metadata count');
  // Each entry needs at least its name's length and its type: 12 and 24 bytes.
  if (nKv * 12 + nTensors * 24 > c.remaining) c.fail('gguf/truncated', 'header', `${nKv} metadata entries and ${nTensors} tensors cannot fit`);

  const meta = new Map<string, string | number | boolean>();
  for (let i = 0; i < nKv; i++) {
    const key = await c.string(`metadata key ${i}`, MAX_NAME_BYTES);
    const type = await c.u32(`${key} type`);
    if (type === T_ARRAY) {
      const elemType = await c.u32(`${key} element type`);
      await c.skipArray(elemType, await c.u64(`${key} count`), key);
    } else {
      meta.set(key, await c.scalar(type, key));
    }
  }
  const kvEndBytes = c.pos;

  const alignment = Number(meta.get('general.alignment') ?? 32);
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
    c.fail('gguf/invalid', 'general.alignment', `${alignment} is not a power of two`);
  }
  const tensors: GgufTensorLayout[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = await c.string(`tensor ${i} name`, MAX_NAME_BYTES);
    const nDims = await c.u32(`${name} n_dims`);
    if (nDims < 1 || nDims > 4) c.fail('gguf/invalid', `${name} n_dims`, `${nDims} dimensions (1 to 4 allowed)`);
    let nElements = 1;
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const dim = await c.u64(`${name} dim ${d}`);
      dims.push(dim);
      nElements *= dim;
      if (dim === 0 || !Number.isSafeInteger(nElements)) c.fail('gguf/invalid', `${name} dims`, 'the element count is zero or overflows');
    }
    const typeId = await c.u32(`${name} type`);
    const offset = await c.u64(`${name} offset`);
    const traits = GGML_TYPES[typeId];
    const sizeBytes = traits ? Math.ceil(nElements / traits[1]) * traits[2] : undefined;
    tensors.push({ name, dims, typeId, offset, nElements, ...(sizeBytes !== undefined ? { sizeBytes } : {}) });
  }
  return { version, nKv, kvEndBytes, alignment, dataOffsetBytes: padTo(c.pos, alignment), meta, tensors };
}
