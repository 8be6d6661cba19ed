// Which model file a model came from, for saved sessions: a session restores
// only into the model it was saved with, and two files can share a name
// (two fine-tunes of one base, one re-quantized). The fingerprint is the
// SHA-256 of the GGUF header (names, shapes, types, tokenizer) and of 32
// samples of 4 KiB taken from tensors spread over the file, so a file with
// other weights gets another one. The samples are picked up as the loader
// reads the tensors anyway (IdentitySampler.wrap), so a model in the store
// costs no extra reads; the few it did not read are read at the end.
import type { ByteSource } from '../format/source.js';
import type { GgufHeader, ModelIdentity } from '../shared/model.js';
import { Sha256 } from '../store/sha256.js';

const SAMPLES = 32;
const SAMPLE_BYTES = 4096;

interface Window {
  offset: number;
  bytes: Uint8Array;
  /** 1 for each byte of `bytes` already seen. */
  seen: Uint8Array;
  nSeen: number;
}

/** The sample windows: the middle of tensors spread evenly over the tensor
 * table (the same for any split: the windows depend on the header alone). */
function planWindows(header: GgufHeader, sizeBytes: number): Window[] {
  const tensors = header.tensors.filter((t) => t.sizeBytes > 0 && t.offset + t.sizeBytes <= sizeBytes).sort((a, b) => a.offset - b.offset);
  const picked = new Set<number>();
  for (let i = 0; i < SAMPLES && tensors.length > 0; i++) picked.add(Math.floor((i * tensors.length) / SAMPLES));
  return [...picked].map((i) => {
    const t = tensors[i];
    const length = Math.min(SAMPLE_BYTES, t.sizeBytes);
    return { offset: t.offset + Math.floor((t.sizeBytes - length) / 2), bytes: new Uint8Array(length), seen: new Uint8Array(length), nSeen: 0 };
  });
}

/** Collects a model's fingerprint from the reads that load it. */
export class IdentitySampler {
  private readonly windows: Window[];

  constructor(
    private readonly header: GgufHeader,
    private readonly headerBytes: Uint8Array,
    private readonly sizeBytes: number,
  ) {
    this.windows = planWindows(header, sizeBytes);
  }

  /** The same source, whose reads also fill the sample windows they cover. */
  wrap(source: ByteSource): ByteSource {
    return {
      sizeBytes: source.sizeBytes,
      read: async (offset, length) => {
        const bytes = await source.read(offset, length);
        this.see(offset, bytes);
        return bytes;
      },
      close: source.close && (() => source.close!()),
    };
  }

  private see(offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.byteLength;
    for (const w of this.windows) {
      if (w.nSeen === w.bytes.length) continue;
      const from = Math.max(offset, w.offset);
      const to = Math.min(end, w.offset + w.bytes.length);
      for (let p = from; p < to; p++) {
        const i = p - w.offset;
        if (w.seen[i]) continue;
        w.seen[i] = 1;
        w.bytes[i] = bytes[p - offset];
        w.nSeen++;
      }
    }
  }

  /** Reads what the load did not (tensors neither side needed), then hashes. */
  async finish(source: ByteSource, names: { name: string; architecture: string }): Promise<ModelIdentity> {
    for (const w of this.windows) {
      if (w.nSeen < w.bytes.length) this.see(w.offset, await source.read(w.offset, w.bytes.length));
    }
    const h = new Sha256();
    const u64 = (n: number) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
      h.update(b);
    };
    h.update(new TextEncoder().encode('hob model identity 1'));
    u64(this.sizeBytes);
    const headerEnd = Math.min(this.header.dataOffset, this.headerBytes.byteLength);
    u64(headerEnd);
    h.update(this.headerBytes.subarray(0, headerEnd));
    for (const w of this.windows) {
      u64(w.offset);
      u64(w.bytes.length);
      h.update(w.bytes);
    }
    return { name: names.name, architecture: names.architecture, sizeBytes: this.sizeBytes, fingerprint: h.hex() };
  }
}

/** A model file's identity, reading the sample windows directly (for
 * models not loaded through loadModelFromSource). */
export async function identifyModel(
  source: ByteSource,
  header: GgufHeader,
  headerBytes: Uint8Array,
  names: { name: string; architecture: string },
): Promise<ModelIdentity> {
  return new IdentitySampler(header, headerBytes, source.sizeBytes).finish(source, names);
}
