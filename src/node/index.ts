// The Node entry: the same wasm engine as the browser, with loaders that read
// model files from disk (only the bytes the engine and the GPU need) and
// WebGPU through the `webgpu` package for offloaded blocks.
import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

import { Engine, type Model } from '../core/engine.js';
import type { GgufHeader } from '../shared/model.js';
import { loadModelFromSource, type LoadOptions } from '../core/load.js';
import type { ByteSource } from '../core/source.js';
import { HobError } from '../shared/errors.js';

export { Engine, Model, Sampler, Session } from '../core/engine.js';
export type { EngineOptions, SamplerOptions, SessionOptions, TokenizeOptions } from '../core/engine.js';
export type { GgufHeader, GgufTensor, LoadReport, ModelHparams, ModelInfo } from '../shared/model.js';
export { complete } from '../core/generate.js';
export { MIN_SHIFT_REUSE, Sequence, describeShift, type PrefillResult, type SequenceOptions } from '../core/sequence.js';
export type { CompletionOptions, CompletionResult, CompletionTimings, TokenSampler } from '../core/generate.js';
export type { SamplePick } from '../core/gpu-sample.js';
export * from '../shared/errors.js';
export { loadModelFromSource, type LoadOptions, type LoadProgress } from '../core/load.js';
export { bytesSource, type ByteSource } from '../core/source.js';
export { joinSplitParts } from '../core/gguf-split.js';
export { requestNodeGpu } from './gpu.js';
export { createEngine, nodeModelSource, type NodeCreateEngineOptions } from './engine.js';
export type * from '../shared/types.js';
export { DEFAULT_SAMPLER_ORDER, SAMPLING_DEFAULTS, SamplerChain, resolveSampling } from '../core/samplers.js';

async function openFile(path: string) {
  // Checked before opening: open() on a FIFO waits for a writer, forever.
  let info: Stats;
  try {
    info = await stat(path);
  } catch (e) {
    throw new HobError('argument/invalid', `cannot open ${path}: ${(e as Error).message}`, { path });
  }
  if (info.isDirectory()) throw new HobError('argument/invalid', `${path} is a directory, not a model file`, { path });
  if (!info.isFile()) throw new HobError('argument/invalid', `${path} is not a regular file (a FIFO, a device or a socket), not a model file`, { path });
  try {
    return await open(path, 'r');
  } catch (e) {
    throw new HobError('argument/invalid', `cannot open ${path}: ${(e as Error).message}`, { path });
  }
}

/** A ByteSource over a file on disk; close() releases the handle. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await openFile(path);
  const { size } = await fh.stat();
  return {
    sizeBytes: size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead <= 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** Loads a GGUF file, reading only what the engine keeps (CPU blocks) into
 * the wasm heap and the offloaded blocks straight into GPU buffers. */
export async function loadModelFile(engine: Engine, path: string, opts: LoadOptions = {}): Promise<Model> {
  const source = await fileSource(path);
  try {
    return await loadModelFromSource(engine, source, opts);
  } finally {
    await source.close?.();
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
