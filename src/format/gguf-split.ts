// Split GGUF models (`-00001-of-0000N.gguf`, written by llama.cpp's
// gguf-split) loaded as one: the parts are joined into a virtual single-file
// GGUF whose header is the first part's metadata followed by every part's
// tensor table (offsets moved into one data section), and whose data reads
// go to the part that holds them. Nothing is copied: the engine's loader
// reads the virtual file like any other ByteSource.
import { ModelFormatError } from '../shared/errors.js';
import { padTo, readGgufLayout, type GgufLayout } from './gguf-layout.js';
import type { ByteSource } from './source.js';

const encoder = new TextEncoder();

interface Segment {
  /** Where this part's data section lies in the virtual file. */
  start: number;
  end: number;
  part: ByteSource;
  /** Where the data section starts in the part. */
  partOffset: number;
}

/** Joins the parts of a split model, in order, into one ByteSource. */
export async function joinSplitParts(parts: ByteSource[]): Promise<ByteSource> {
  if (parts.length === 1) return parts[0];
  const layouts: GgufLayout[] = [];
  for (const p of parts) layouts.push(await readGgufLayout(p));
  const first = layouts[0];
  const count = first.meta.get('split.count');
  if (count !== undefined && count !== parts.length) {
    throw new ModelFormatError('gguf/invalid', `the model is split in ${count} parts, but ${parts.length} were given`, {
      splitCount: Number(count), nParts: parts.length,
    });
  }
  layouts.forEach((l, i) => {
    const no = l.meta.get('split.no');
    if (no !== undefined && no !== i) {
      throw new ModelFormatError('gguf/invalid', `part ${i + 1} says it is part ${Number(no) + 1}: the parts are out of order`, { part: i, splitNo: Number(no) });
    }
  });
  const align = first.alignment;

  // The data sections, one after the other, each on the alignment.
  const segments: Segment[] = [];
  let dataBytes = 0;
  layouts.forEach((l, i) => {
    const start = padTo(dataBytes, align);
    const end = start + (parts[i].sizeBytes - l.dataOffsetBytes);
    segments.push({ start, end, part: parts[i], partOffset: l.dataOffsetBytes });
    dataBytes = end;
  });

  // The header: the first part's metadata verbatim, then every tensor.
  const kv = await parts[0].read(24, first.kvEndBytes - 24);
  const infos: Uint8Array[] = [];
  let nTensors = 0;
  layouts.forEach((l, i) => {
    for (const t of l.tensors) {
      const name = encoder.encode(t.name);
      const b = new Uint8Array(8 + name.length + 4 + 8 * t.dims.length + 4 + 8);
      const v = new DataView(b.buffer);
      let o = 0;
      v.setBigUint64(o, BigInt(name.length), true);
      b.set(name, (o += 8));
      o += name.length;
      v.setUint32(o, t.dims.length, true);
      o += 4;
      for (const d of t.dims) {
        v.setBigUint64(o, BigInt(d), true);
        o += 8;
      }
      v.setUint32(o, t.typeId, true);
      v.setBigUint64(o + 4, BigInt(segments[i].start + t.offset), true);
      infos.push(b);
      nTensors++;
    }
  });
  const fixed = new Uint8Array(24);
  const fv = new DataView(fixed.buffer);
  fv.setUint32(0, 0x46554747, true); // "GGUF"
  fv.setUint32(4, first.version, true);
  fv.setBigUint64(8, BigInt(nTensors), true);
  fv.setBigUint64(16, BigInt(first.nKv), true);
  const headerLength = 24 + kv.length + infos.reduce((n, b) => n + b.length, 0);
  const header = new Uint8Array(padTo(headerLength, align));
  header.set(fixed, 0);
  header.set(kv, 24);
  let at = 24 + kv.length;
  for (const b of infos) {
    header.set(b, at);
    at += b.length;
  }
  for (const s of segments) {
    s.start += header.length;
    s.end += header.length;
  }
  const sizeBytes = header.length + dataBytes;

  return {
    sizeBytes,
    async read(offset, length) {
      const end = Math.min(sizeBytes, offset + length);
      const out = new Uint8Array(Math.max(0, end - offset));
      // Header bytes, then each part's data; padding between parts reads as zeros.
      if (offset < header.length) out.set(header.subarray(offset, Math.min(end, header.length)), 0);
      for (const s of segments) {
        const b = Math.max(offset, s.start);
        const e = Math.min(end, s.end);
        if (b >= e) continue;
        out.set(await s.part.read(s.partOffset + (b - s.start), e - b), b - offset);
      }
      return out;
    },
    async close() {
      for (const p of parts) await p.close?.();
    },
  };
}
