// Where a model's bytes come from when the engine loads it: a file, a Blob,
// the model store's chunks or bytes already in memory, behind one small
// random-access interface. The loader reads the GGUF header first, then only
// the tensor ranges it needs, so a source never has to be in memory whole.

/** Random-access reads over a model file of `sizeBytes` bytes. */
export interface ByteSource {
  readonly sizeBytes: number;
  /** Reads bytes [offset, offset + length); resolves with exactly that many. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the source holds open (a file handle); optional. */
  close?(): Promise<void> | void;
}

/** A source over bytes already in memory (no copy). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    sizeBytes: bytes.byteLength,
    async read(offset, length) {
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A source over a Blob or File: each read slices it, nothing is held. */
export function blobSource(blob: Blob): ByteSource {
  return {
    sizeBytes: blob.size,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}
