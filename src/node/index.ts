// The Node entry: the same wasm engine as the browser, with loaders that read
// model files from disk straight into the engine's memory.
import { open } from 'node:fs/promises';

import { Engine, type GgufHeader, type Model } from '../core/engine.js';
import { HobError } from '../api/errors.js';

export { Engine, Model, Sampler, Session } from '../core/engine.js';
export type { EngineOptions, GgufHeader, GgufTensor, ModelInfo, SamplerOptions, SessionOptions, TokenizeOptions } from '../core/engine.js';
export { complete } from '../core/generate.js';
export { Sequence, type PrefillResult } from '../core/sequence.js';
export type { CompletionOptions, CompletionResult, CompletionTimings } from '../core/generate.js';
export * from '../api/errors.js';

async function openFile(path: string) {
  try {
    return await open(path, 'r');
  } catch (e) {
    throw new HobError('argument/invalid', `cannot open ${path}: ${(e as Error).message}`, { path });
  }
}

/** Loads a GGUF file, reading it directly into the wasm heap (one copy). */
export async function loadModelFile(engine: Engine, path: string): Promise<Model> {
  const fh = await openFile(path);
  try {
    const { size } = await fh.stat();
    const ptr = engine.allocModelBuffer(size);
    try {
      const chunk = 64 << 20;
      for (let off = 0; off < size; ) {
        const len = Math.min(chunk, size - off);
        // A fresh view each time: the heap may grow while we read.
        const { bytesRead } = await fh.read(engine.heap(), ptr + off, len, off);
        if (bytesRead <= 0) throw new HobError('gguf/truncated', `${path} ended after ${off} of ${size} bytes`, { path, size, off });
        off += bytesRead;
      }
    } catch (e) {
      engine.module._hob_free(ptr);
      throw e;
    }
    return engine.loadModelAt(ptr, size);
  } finally {
    await fh.close();
  }
}

/** Reads the GGUF header of a file (metadata and tensor table) without
 * loading the model; works for any architecture. */
export async function readGgufHeaderFile(engine: Engine, path: string, opts: { maxArray?: number } = {}): Promise<GgufHeader> {
  const fh = await openFile(path);
  try {
    const { size } = await fh.stat();
    // Headers are small next to the weights; grow the prefix until it holds one.
    for (let n = Math.min(size, 4 << 20); ; n = Math.min(size, n * 4)) {
      const buf = new Uint8Array(n);
      await fh.read(buf, 0, n, 0);
      try {
        return engine.readGgufHeader(buf, size, opts);
      } catch (e) {
        if (!(e instanceof HobError && e.code === 'gguf/truncated' && n < size)) throw e;
      }
    }
  } finally {
    await fh.close();
  }
}
