// Loading a model from any ByteSource, split between wasm and the GPU: the
// header decides the split, the CPU tensors stream into the engine's loader
// (only the ranges it asks for), and the offloaded blocks' tensors go from
// the source straight to GPU buffers. Peak memory stays near the model's
// size: nothing is held whole, and no offloaded byte enters the wasm heap.
import { AbortError, HobError } from '../shared/errors.js';
import type { GpuContext } from '../gpu/device.js';
import type { TensorBytes } from '../gpu/gpu-model.js';
import type { GgufHeader, GgufTensor, LoadReport } from '../shared/model.js';
import type { Engine, Model } from '../core/wasm-engine.js';
import type { ByteSource } from '../format/source.js';

export interface LoadProgress {
  /** Bytes of the file read so far, and the total that will be read. */
  loaded: number;
  total: number;
}

export interface LoadOptions {
  /** Blocks to offload to the GPU, counted from the last (llama.cpp's -ngl):
   * 0 runs everything in wasm; 'auto' takes as many as fit `gpuBudgetBytes`.
   * Needs `gpu` when not 0. */
  gpuLayers?: number | 'auto';
  gpu?: GpuContext;
  /** GPU memory the weights may take with gpuLayers 'auto' (default 2 GiB,
   * or the adapter's largest buffer size if smaller). */
  gpuBudgetBytes?: number;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

// Reads are at most this large, so no single buffer grows with the model.
const READ_CHUNK_BYTES = 16 << 20;

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('request/aborted', 'loading the model was cancelled');
}

/** Parses the header, reading a growing prefix of the source until it fits. */
export async function readHeader(engine: Engine, source: ByteSource): Promise<{ header: GgufHeader; bytes: Uint8Array }> {
  for (let n = Math.min(source.sizeBytes, 1 << 20); ; n = Math.min(source.sizeBytes, n * 4)) {
    const bytes = await source.read(0, n);
    try {
      return { header: engine.readGgufHeader(bytes, source.sizeBytes, { maxArray: 0 }), bytes };
    } catch (e) {
      if (!(e instanceof HobError && e.code === 'gguf/truncated' && n < source.sizeBytes)) throw e;
    }
  }
}

/** The block index of a tensor name ("blk.12.attn_q.weight" -> 12), or -1. */
function blockOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** Chooses gpuLayers: the number asked for, or for 'auto' the most blocks
 * (from the last) whose weights fit the budget. */
function chooseGpuLayers(header: GgufHeader, nLayer: number, opts: LoadOptions): { k: number; reason: string } {
  const asked = opts.gpuLayers ?? 0;
  if (asked !== 'auto') {
    if (!Number.isInteger(asked) || asked < 0) {
      throw new HobError('argument/invalid', `gpuLayers must be a non-negative integer or 'auto', got ${asked}`, { gpuLayers: String(asked) });
    }
    return { k: Math.min(asked, nLayer), reason: asked > nLayer ? `asked for ${asked}; the model has ${nLayer} blocks` : `asked for ${asked}` };
  }
  if (!opts.gpu) return { k: 0, reason: 'no GPU' };
  const budget = Math.min(opts.gpuBudgetBytes ?? 2 ** 31, opts.gpu.caps.maxBufferBytes * 8);
  const blockBytes = new Array<number>(nLayer).fill(0);
  let headBytes = 0;
  for (const t of header.tensors) {
    const b = blockOf(t.name);
    if (b >= 0 && b < nLayer) blockBytes[b] += t.sizeBytes;
    if (t.name === 'output.weight' || t.name === 'output_norm.weight') headBytes += t.sizeBytes;
  }
  if (!header.tensors.some((t) => t.name === 'output.weight')) {
    headBytes += header.tensors.find((t) => t.name === 'token_embd.weight')?.sizeBytes ?? 0;
  }
  let k = 0;
  let used = 0;
  while (k < nLayer && used + blockBytes[nLayer - 1 - k] <= budget) used += blockBytes[nLayer - 1 - k++];
  if (k === nLayer && used + headBytes > budget) k--; // all blocks but no room for the head: keep one on the CPU
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  return { k, reason: `auto: ${k} of ${nLayer} blocks (${mib(used)}) fit the GPU budget of ${mib(budget)}` };
}

/** Loads a model from `source`, offloading the last gpuLayers blocks. */
export async function loadModelFromSource(
  engine: Engine,
  source: ByteSource,
  opts: LoadOptions = {},
): Promise<Model> {
  checkAbort(opts.signal);
  const { header, bytes: headerBytes } = await readHeader(engine, source);
  const arch = String(header.metadata['general.architecture'] ?? '');
  const nLayer = Number(header.metadata[`${arch}.block_count`] ?? 0);
  const { k, reason } = chooseGpuLayers(header, nLayer, opts);
  if (k > 0 && !opts.gpu) {
    throw new HobError('argument/invalid', `gpuLayers ${k} needs a GPU device`, { gpuLayers: k });
  }
  const nCpu = nLayer - k;

  const m = engine.module;
  // The engine's loader: header in, then exactly the ranges it lists.
  const headerPtr = m._malloc(headerBytes.byteLength);
  let loader = 0;
  try {
    engine.heap().set(headerBytes, headerPtr);
    engine.check(m._hob_loader_create(headerPtr, headerBytes.byteLength, BigInt(source.sizeBytes), nCpu, engine.out(0)));
  } finally {
    m._free(headerPtr);
  }
  loader = engine.u32(engine.out(0));
  let model: Model | undefined;
  try {
    const ranges: { offset: number; size: number }[] = [];
    for (let i = 0; i < m._hob_loader_range_count(loader); i++) {
      engine.check(m._hob_loader_range(loader, i, engine.out(0), engine.out(1)));
      const dv = new DataView(engine.heap().buffer);
      ranges.push({ offset: Number(dv.getBigUint64(engine.out(0), true)), size: Number(dv.getBigUint64(engine.out(1), true)) });
    }
    const gpuTensors = header.tensors.filter((t) => isOffloaded(t, nLayer, nCpu, header));
    const total = ranges.reduce((n, r) => n + r.size, 0) + gpuTensors.reduce((n, t) => n + t.sizeBytes, 0);
    let loaded = 0;
    const progress = (n: number) => {
      loaded += n;
      opts.onProgress?.({ loaded, total });
    };

    const staging = m._malloc(Math.min(READ_CHUNK_BYTES, Math.max(1, ...ranges.map((r) => r.size))));
    try {
      for (const r of ranges) {
        for (let off = r.offset; off < r.offset + r.size; ) {
          checkAbort(opts.signal);
          const len = Math.min(READ_CHUNK_BYTES, r.offset + r.size - off);
          const chunk = await source.read(off, len);
          if (chunk.byteLength !== len) {
            throw new HobError('gguf/truncated', `the model file ended at ${off + chunk.byteLength} of ${source.sizeBytes} bytes`, {
              offset: off, sizeBytes: source.sizeBytes,
            });
          }
          engine.heap().set(chunk, staging);
          engine.check(m._hob_loader_write(loader, BigInt(off), staging, len));
          off += len;
          progress(len);
        }
      }
    } finally {
      m._free(staging);
    }
    engine.check(m._hob_loader_finish(loader, engine.out(0)));
    model = engine.adoptModel(engine.u32(engine.out(0)), source.sizeBytes);

    if (k > 0) {
      const byName = new Map(header.tensors.map((t) => [t.name, t]));
      const read = async (name: string): Promise<TensorBytes | undefined> => {
        const t = byName.get(name);
        if (!t) return undefined;
        checkAbort(opts.signal);
        const bytes = await readRange(source, t.offset, t.sizeBytes);
        return { typeId: t.typeId, type: t.type, dims: t.dims, bytes };
      };
      // The GPU code loads only when blocks are offloaded.
      const { GpuModel } = await import('../gpu/gpu-model.js');
      model.gpu = await GpuModel.create(opts.gpu!, { info: model.info, hparams: model.hparams }, read, progress);
    }
    model.loadReport = {
      gpuLayers: k,
      nLayer,
      headOnGpu: k === nLayer && k > 0,
      cpuWeightBytes: model.info.weightBytes,
      gpuWeightBytes: model.gpu?.sizeBytes ?? 0,
      reason,
    };
    return model;
  } catch (e) {
    model?.free();
    throw e;
  } finally {
    m._hob_loader_free(loader);
  }
}

/** Whether the GPU holds this tensor: blocks from nCpu on, and the head
 * (with the embedding when tied) when every block is offloaded. */
function isOffloaded(t: GgufTensor, nLayer: number, nCpu: number, header: GgufHeader): boolean {
  const b = blockOf(t.name);
  if (b >= 0) return b >= nCpu;
  if (nCpu > 0 || nLayer === 0) return t.name === 'rope_freqs.weight' && nCpu < nLayer;
  if (t.name === 'output.weight' || t.name === 'output_norm.weight' || t.name === 'rope_freqs.weight') return true;
  return t.name === 'token_embd.weight' && !header.tensors.some((o) => o.name === 'output.weight');
}

async function readRange(source: ByteSource, offset: number, size: number): Promise<Uint8Array> {
  if (size <= READ_CHUNK_BYTES) {
    const b = await source.read(offset, size);
    if (b.byteLength !== size) throw new HobError('gguf/truncated', `the model file ended inside a tensor at ${offset}`, { offset, size });
    return b;
  }
  const out = new Uint8Array(size);
  for (let off = 0; off < size; off += READ_CHUNK_BYTES) {
    const len = Math.min(READ_CHUNK_BYTES, size - off);
    const b = await source.read(offset + off, len);
    if (b.byteLength !== len) throw new HobError('gguf/truncated', `the model file ended inside a tensor at ${offset + off}`, { offset, size });
    out.set(b, off);
  }
  return out;
}
