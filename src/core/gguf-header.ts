// A GGUF header (metadata and tensor table) read by the engine's own
// bounds-checked parser, for any architecture and without building a model:
// the loader decides the CPU/GPU split from it, `hob inspect` prints it.
import type { ByteSource } from '../format/source.js';
import { HobError } from '../shared/errors.js';
import type { GgufHeader, GgufMetadataValue, GgufScalar, GgufTensor } from '../shared/model.js';
import { GgufValueType } from './c-api.js';
import type { Engine } from './wasm-engine.js';

/** Parses a GGUF header. `bytes` holds the start of a file of fileSize
 * bytes; it must include the whole header. */
export function readGgufHeader(engine: Engine, bytes: Uint8Array, fileSize: number, opts: { maxArray?: number } = {}): GgufHeader {
  const m = engine.module;
  const ptr = m._malloc(Math.max(1, bytes.byteLength));
  let g = 0;
  try {
    engine.heap().set(bytes, ptr);
    engine.check(m._hob_gguf_open(ptr, bytes.byteLength, BigInt(fileSize), engine.out(0)));
    g = engine.u32(engine.out(0));
    const metadata: Record<string, GgufMetadataValue> = {};
    const nKv = Number(m._hob_gguf_kv_count(g));
    for (let i = 0; i < nKv; i++) {
      const key = engine.readString((buf, cap, len) => m._hob_gguf_kv_key(g, BigInt(i), buf, cap, len));
      engine.check(m._hob_gguf_kv_type(g, BigInt(i), engine.out(0), engine.out(1), engine.out(2)));
      const type = engine.i32(engine.out(0));
      const elemType = engine.i32(engine.out(1));
      const count = Number(new DataView(engine.heap().buffer).getBigUint64(engine.out(2), true));
      const read = (t: number, j: number): GgufScalar => {
        if (t === GgufValueType.STRING) {
          return engine.readString((buf, cap, len) => m._hob_gguf_kv_string(g, BigInt(i), BigInt(j), buf, cap, len));
        }
        engine.check(m._hob_gguf_kv_number(g, BigInt(i), BigInt(j), engine.out(3)));
        const v = new DataView(engine.heap().buffer).getFloat64(engine.out(3), true);
        return t === GgufValueType.BOOL ? v !== 0 : v;
      };
      if (type === GgufValueType.ARRAY) {
        const n = Math.min(count, opts.maxArray ?? Infinity);
        const arr: GgufScalar[] = [];
        for (let j = 0; j < n; j++) arr.push(read(elemType, j));
        metadata[key] = arr;
      } else {
        metadata[key] = read(type, 0);
      }
    }
    const tensors: GgufTensor[] = [];
    const nTensors = Number(m._hob_gguf_tensor_count(g));
    for (let i = 0; i < nTensors; i++) {
      const name = engine.readString((buf, cap, len) => m._hob_gguf_tensor_name(g, BigInt(i), buf, cap, len));
      const dimsPtr = m._malloc(32);
      try {
        engine.check(m._hob_gguf_tensor_info(g, BigInt(i), engine.out(0), engine.out(1), dimsPtr, engine.out(2), engine.out(3)));
        const dv = new DataView(engine.heap().buffer);
        const typeId = dv.getInt32(engine.out(0), true);
        const nDims = dv.getInt32(engine.out(1), true);
        const dims: number[] = [];
        for (let d = 0; d < nDims; d++) dims.push(Number(dv.getBigInt64(dimsPtr + 8 * d, true)));
        tensors.push({
          name,
          typeId,
          type: m.UTF8ToString(m._hob_type_name(typeId)),
          dims,
          offset: Number(dv.getBigUint64(engine.out(2), true)),
          sizeBytes: Number(dv.getBigUint64(engine.out(3), true)),
        });
      } finally {
        m._free(dimsPtr);
      }
    }
    return { version: m._hob_gguf_version(g), dataOffset: Number(m._hob_gguf_data_offset(g)), metadata, tensors };
  } finally {
    if (g) m._hob_gguf_close(g);
    m._free(ptr);
  }
}

/** Reads and parses a source's header, reading a growing prefix until it
 * holds the whole header; returns the header and the bytes read. */
export async function readGgufHeaderFrom(
  engine: Engine,
  source: ByteSource,
  opts: { maxArray?: number } = {},
): Promise<{ header: GgufHeader; bytes: Uint8Array }> {
  for (let n = Math.min(source.sizeBytes, 1 << 20); ; n = Math.min(source.sizeBytes, n * 4)) {
    const bytes = await source.read(0, n);
    try {
      return { header: readGgufHeader(engine, bytes, source.sizeBytes, opts), bytes };
    } catch (e) {
      if (!(e instanceof HobError && e.code === 'gguf/truncated' && n < source.sizeBytes)) throw e;
    }
  }
}
