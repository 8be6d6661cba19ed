// Splits a GGUF file into parts the way llama.cpp's gguf-split does: the
// first part keeps all metadata, every part gets split.no / split.count /
// split.tensors.count and a share of the tensors, each with its own header
// and data section. For tests of loading split models.
import { padTo, readGgufLayout } from '../../src/format/gguf-layout.js';
import { bytesSource } from '../../src/format/source.js';

const enc = new TextEncoder();

function kvBytes(key: string, type: number, value: number): Uint8Array {
  const k = enc.encode(key);
  const size = type === 2 ? 2 : 4; // uint16 or int32
  const b = new Uint8Array(8 + k.length + 4 + size);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(k.length), true);
  b.set(k, 8);
  v.setUint32(8 + k.length, type, true);
  if (type === 2) v.setUint16(12 + k.length, value, true);
  else v.setInt32(12 + k.length, value, true);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The file split into nParts parts with tensors shared out in order. */
export async function splitGguf(file: Uint8Array, nParts: number): Promise<Uint8Array[]> {
  const l = await readGgufLayout(bytesSource(file));
  const per = Math.ceil(l.tensors.length / nParts);
  const parts: Uint8Array[] = [];
  for (let p = 0; p < nParts; p++) {
    const tensors = l.tensors.slice(p * per, (p + 1) * per);
    const split = [kvBytes('split.no', 2, p), kvBytes('split.count', 2, nParts), kvBytes('split.tensors.count', 5, l.tensors.length)];
    const kv = p === 0 ? concat([file.subarray(24, l.kvEndBytes), ...split]) : concat(split);
    const nKv = (p === 0 ? l.nKv : 0) + split.length;
    const infos: Uint8Array[] = [];
    const datas: Uint8Array[] = [];
    let dataAt = 0;
    for (const t of tensors) {
      dataAt = padTo(dataAt, l.alignment);
      const name = enc.encode(t.name);
      const b = new Uint8Array(8 + name.length + 4 + 8 * t.dims.length + 12);
      const v = new DataView(b.buffer);
      v.setBigUint64(0, BigInt(name.length), true);
      b.set(name, 8);
      let o = 8 + name.length;
      v.setUint32(o, t.dims.length, true);
      o += 4;
      for (const d of t.dims) {
        v.setBigUint64(o, BigInt(d), true);
        o += 8;
      }
      v.setUint32(o, t.typeId, true);
      v.setBigUint64(o + 4, BigInt(dataAt), true);
      infos.push(b);
      const src = l.dataOffsetBytes + t.offset;
      const data = new Uint8Array(padTo(t.sizeBytes!, l.alignment));
      data.set(file.subarray(src, src + t.sizeBytes!));
      datas.push(data);
      dataAt += data.length;
    }
    const fixed = new Uint8Array(24);
    const fv = new DataView(fixed.buffer);
    fv.setUint32(0, 0x46554747, true);
    fv.setUint32(4, l.version, true);
    fv.setBigUint64(8, BigInt(tensors.length), true);
    fv.setBigUint64(16, BigInt(nKv), true);
    const head = concat([fixed, kv, ...infos]);
    parts.push(concat([head, new Uint8Array(padTo(head.length, l.alignment) - head.length), ...datas]));
  }
  return parts;
}
