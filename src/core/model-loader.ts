// The engine's half of loading a model: the C loader takes the header and
// the number of blocks that run here, lists the file ranges it needs (the
// embedding, those blocks, the head unless it is offloaded), and is fed
// exactly those bytes from any ByteSource, in chunks, before it builds the
// model. Offloaded tensors never enter the wasm heap. Deciding the split and
// loading the other half is the runtime's loader (src/runtime/load.ts).
import type { ByteSource } from '../format/source.js';
import { AbortError, HobError } from '../shared/errors.js';
import { Model } from './model.js';
import type { Engine } from './wasm-engine.js';

/** Reads are at most this large, so no single buffer grows with the model. */
export const READ_CHUNK_BYTES = 16 << 20;

export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('request/aborted', 'loading the model was cancelled');
}

export interface FileRange {
  offset: number;
  size: number;
}

export class ModelLoader {
  /** The file ranges the engine needs, in file order. */
  readonly ranges: readonly FileRange[];
  private handle: number;

  private constructor(
    private readonly engine: Engine,
    handle: number,
  ) {
    this.handle = handle;
    const m = engine.module;
    const ranges: FileRange[] = [];
    for (let i = 0; i < m._hob_loader_range_count(handle); i++) {
      engine.check(m._hob_loader_range(handle, i, engine.out(0), engine.out(1)));
      const dv = new DataView(engine.heap().buffer);
      ranges.push({ offset: Number(dv.getBigUint64(engine.out(0), true)), size: Number(dv.getBigUint64(engine.out(1), true)) });
    }
    this.ranges = ranges;
  }

  /** A loader for a file of fileSize bytes whose header is headerBytes,
   * keeping blocks [0, nCpuLayers) (and the head unless every block is
   * offloaded). Free it when done, whether or not it finished. */
  static create(engine: Engine, headerBytes: Uint8Array, fileSize: number, nCpuLayers: number): ModelLoader {
    const m = engine.module;
    const headerPtr = m._malloc(headerBytes.byteLength);
    try {
      engine.heap().set(headerBytes, headerPtr);
      engine.check(m._hob_loader_create(headerPtr, headerBytes.byteLength, BigInt(fileSize), nCpuLayers, engine.out(0)));
    } finally {
      m._free(headerPtr);
    }
    return new ModelLoader(engine, engine.u32(engine.out(0)));
  }

  /** Bytes the ranges hold. */
  get sizeBytes(): number {
    return this.ranges.reduce((n, r) => n + r.size, 0);
  }

  /** Reads every range from the source into the engine; onBytes reports each chunk. */
  async stream(source: ByteSource, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<void> {
    const m = this.engine.module;
    const staging = m._malloc(Math.min(READ_CHUNK_BYTES, Math.max(1, ...this.ranges.map((r) => r.size))));
    try {
      for (const r of this.ranges) {
        for (let off = r.offset; off < r.offset + r.size; ) {
          checkAbort(opts.signal);
          const len = Math.min(READ_CHUNK_BYTES, r.offset + r.size - off);
          const chunk = await source.read(off, len);
          if (chunk.byteLength !== len) {
            throw new HobError('gguf/truncated', `the model file ended at ${off + chunk.byteLength} of ${source.sizeBytes} bytes`, {
              offset: off, sizeBytes: source.sizeBytes,
            });
          }
          this.engine.heap().set(chunk, staging);
          this.engine.check(m._hob_loader_write(this.handle, BigInt(off), staging, len));
          off += len;
          opts.onBytes?.(len);
        }
      }
    } finally {
      m._free(staging);
    }
  }

  /** Builds the model from what was streamed (fileBytes: the whole file's size, for ModelInfo). */
  finish(fileBytes: number): Model {
    this.engine.check(this.engine.module._hob_loader_finish(this.handle, this.engine.out(0)));
    return new Model(this.engine, this.engine.u32(this.engine.out(0)), fileBytes);
  }

  free(): void {
    if (this.handle) this.engine.module._hob_loader_free(this.handle);
    this.handle = 0;
  }
}
