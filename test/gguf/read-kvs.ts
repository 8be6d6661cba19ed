// Reads the metadata of a GGUF file as entries GgufWriter.addKv takes back
// (key, value, type), so a test model can carry another file's tokenizer
// (llama.cpp's vocabulary files, a converted tokenizer.json). Tests only:
// it trusts its input, which is ours or llama.cpp's.
import { GGUF_VALUE_TYPE, type GgufKvType, type GgufScalarType, type GgufValue } from './writer';

export interface KvEntry {
  key: string;
  value: GgufValue;
  type: GgufKvType;
}

const NAMES = Object.fromEntries(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k])) as Record<number, string>;

/** Every metadata entry of a GGUF v2/v3 file, in file order. */
export function readGgufKvs(bytes: Uint8Array): KvEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  let at = 0;
  const u32 = () => ((at += 4), view.getUint32(at - 4, true));
  const u64 = () => ((at += 8), Number(view.getBigUint64(at - 8, true)));
  const str = () => {
    const n = u64();
    at += n;
    return decoder.decode(bytes.subarray(at - n, at));
  };
  const scalar = (type: number): number | bigint | boolean | string => {
    switch (NAMES[type]) {
      case 'uint8': return view.getUint8((at += 1) - 1);
      case 'int8': return view.getInt8((at += 1) - 1);
      case 'uint16': return view.getUint16((at += 2) - 2, true);
      case 'int16': return view.getInt16((at += 2) - 2, true);
      case 'uint32': return view.getUint32((at += 4) - 4, true);
      case 'int32': return view.getInt32((at += 4) - 4, true);
      case 'float32': return view.getFloat32((at += 4) - 4, true);
      case 'bool': return view.getUint8((at += 1) - 1) !== 0;
      case 'string': return str();
      case 'uint64': return view.getBigUint64((at += 8) - 8, true);
      case 'int64': return view.getBigInt64((at += 8) - 8, true);
      case 'float64': return view.getFloat64((at += 8) - 8, true);
      default: throw new Error(`gguf value type ${type} at byte ${at}`);
    }
  };
  if (decoder.decode(bytes.subarray(0, 4)) !== 'GGUF') throw new Error('not a GGUF file');
  at = 4;
  const version = u32();
  if (version < 2) throw new Error(`GGUF version ${version}`);
  u64(); // tensors
  const nKv = u64();
  const out: KvEntry[] = [];
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === GGUF_VALUE_TYPE.array) {
      const elem = u32();
      const n = u64();
      const values: (number | bigint | boolean | string)[] = [];
      for (let j = 0; j < n; j++) values.push(scalar(elem));
      out.push({ key, value: values as GgufValue, type: `${NAMES[elem] as GgufScalarType}[]` });
    } else {
      out.push({ key, value: scalar(type) as GgufValue, type: NAMES[type] as GgufScalarType });
    }
  }
  return out;
}
