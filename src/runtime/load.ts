// Loading a model from any ByteSource, split between wasm and the GPU: the
// header decides the split, the CPU tensors stream into the engine's loader
// (src/core/model-loader.ts: only the ranges it asks for), and the
// offloaded blocks' tensors go from the source straight to GPU buffers
// (src/gpu), attached to the model as its offload. Peak memory stays near
// the model's size: nothing is held whole, and no offloaded byte enters the
// wasm heap. This is the one place that knows both the engine and the GPU.
import { readGgufHeaderFrom } from '../core/gguf-header.js';
import { checkAbort, ModelLoader, READ_CHUNK_BYTES } from '../core/model-loader.js';
import type { Model } from '../core/model.js';
import type { Engine } from '../core/wasm-engine.js';
import type { ByteSource } from '../format/source.js';
import type { GpuContext } from '../gpu/device.js';
import type { TensorBytes } from '../gpu/gpu-model.js';
import { HobError } from '../shared/errors.js';
import type { GgufHeader, GgufTensor } from '../shared/model.js';
import type { Progress } from '../shared/types.js';
import { DEFAULT_GPU_BUDGET } from './device-limits.js';
import { autoGpuLayers, defaultContextSize, describeAutoGpuLayers } from './fit.js';
import { IdentitySampler } from './identity.js';
import { estimateMemory, fitModelFromHeader } from './memory-estimate.js';

export interface LoadOptions {
  /** Blocks to offload to the GPU, counted from the last (llama.cpp's -ngl):
   * 0 runs everything in wasm; 'auto' takes as many as checkFit would
   * (fit.ts's autoGpuLayers: their weights, KV cache and scratch at
   * `contextSize` within `gpuBudgetBytes` and the adapter's buffer limits).
   * Needs `gpu` when not 0. */
  gpuLayers?: number | 'auto';
  gpu?: GpuContext;
  /** Why there is no `gpu` (no navigator.gpu, no adapter…), for the load report of 'auto'. */
  noGpuReason?: string;
  /** The context the session will have, which sizes the offloaded blocks'
   * KV cache for 'auto': 0 is the training context (as Session.create takes
   * it); undefined is createEngine's default, min(training context, 4096). */
  contextSize?: number;
  /** GPU memory the offloaded part may take with gpuLayers 'auto' (default
   * 2 GiB; device-limits.ts's gpuBudgetBytes gives a page's default). */
  gpuBudgetBytes?: number;
  /** Bytes of the file read so far, and the total that will be read. */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The block index of a tensor name ("blk.12.attn_q.weight" -> 12), or -1. */
function blockOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** Chooses gpuLayers: the number asked for, or for 'auto' checkFit's choice
 * for this context and GPU (fit.ts's autoGpuLayers). */
export function chooseGpuLayers(header: GgufHeader, fileBytes: number, nLayer: number, opts: LoadOptions): { k: number; reason: string } {
  const asked = opts.gpuLayers ?? 0;
  if (asked !== 'auto') {
    if (!Number.isInteger(asked) || asked < 0) {
      throw new HobError('argument/invalid', `gpuLayers must be a non-negative integer or 'auto', got ${asked}`, { gpuLayers: String(asked) });
    }
    return { k: Math.min(asked, nLayer), reason: asked > nLayer ? `asked for ${asked}; the model has ${nLayer} blocks` : `asked for ${asked}` };
  }
  if (!opts.gpu) return { k: 0, reason: opts.noGpuReason ? `no GPU: ${opts.noGpuReason}` : 'no GPU' };
  const model = fitModelFromHeader(header, fileBytes);
  const nCtx = opts.contextSize === undefined ? defaultContextSize(model.nCtxTrain) : opts.contextSize > 0 ? opts.contextSize : model.nCtxTrain || defaultContextSize(0);
  const limits = {
    budgetBytes: opts.gpuBudgetBytes ?? DEFAULT_GPU_BUDGET,
    maxBufferBytes: opts.gpu.caps.maxBufferBytes,
    maxBindingBytes: opts.gpu.caps.maxBindingBytes,
  };
  const auto = autoGpuLayers(model, nCtx, limits);
  return { k: Math.min(auto.gpuLayers, nLayer), reason: describeAutoGpuLayers(auto, model.nLayer, limits) };
}

/** Bytes of an untied model's token embeddings to upload next to its
 * head for decoding ahead on the GPU (0: none): every block offloaded and
 * the whole within the GPU budget with them (memory-estimate.ts, as the
 * fit check counts them), else the model decodes one step at a time. */
export function gpuEmbeddingBytes(header: GgufHeader, fileBytes: number, k: number, nLayer: number, opts: LoadOptions): number {
  if (k < nLayer || !opts.gpu || !header.tensors.some((t) => t.name === 'output.weight')) return 0;
  const model = fitModelFromHeader(header, fileBytes);
  const nCtx = opts.contextSize === undefined ? defaultContextSize(model.nCtxTrain) : opts.contextSize > 0 ? opts.contextSize : model.nCtxTrain || defaultContextSize(0);
  const e = estimateMemory(model, k, nCtx, { maxBindingBytes: opts.gpu.caps.maxBindingBytes, gpuBudgetBytes: opts.gpuBudgetBytes ?? DEFAULT_GPU_BUDGET });
  return e.gpu.embedBytes ?? 0;
}

/** Loads a model from `source`, offloading the last gpuLayers blocks. */
export async function loadModelFromSource(engine: Engine, source: ByteSource, opts: LoadOptions = {}): Promise<Model> {
  checkAbort(opts.signal);
  const { header, bytes: headerBytes } = await readGgufHeaderFrom(engine, source, { maxArray: 0 });
  const arch = String(header.metadata['general.architecture'] ?? '');
  // Qwen 3.5 files count their multi-token-prediction blocks, which no
  // forward pass runs (the engine leaves them out too).
  const nLayer = Number(header.metadata[`${arch}.block_count`] ?? 0) - Number(header.metadata[`${arch}.nextn_predict_layers`] ?? 0);
  const { k, reason } = chooseGpuLayers(header, source.sizeBytes, nLayer, opts);
  if (k > 0 && !opts.gpu) {
    throw new HobError('argument/invalid', `gpuLayers ${k} needs a GPU device`, { gpuLayers: k });
  }
  const nCpu = nLayer - k;

  const loader = ModelLoader.create(engine, headerBytes, source.sizeBytes, nCpu);
  // The model's identity is sampled from the reads below (saved sessions check it).
  const sampler = new IdentitySampler(header, headerBytes, source.sizeBytes);
  const reading = sampler.wrap(source);
  let model: Model | undefined;
  try {
    const gpuTensors = header.tensors.filter((t) => isOffloaded(t, nLayer, nCpu, header));
    const embeddings = gpuEmbeddingBytes(header, source.sizeBytes, k, nLayer, opts) > 0;
    const embdBytes = embeddings ? header.tensors.find((t) => t.name === 'token_embd.weight')?.sizeBytes ?? 0 : 0;
    const total = loader.sizeBytes + gpuTensors.reduce((n, t) => n + t.sizeBytes, 0) + embdBytes;
    let loaded = 0;
    const progress = (n: number) => {
      loaded += n;
      opts.onProgress?.({ loaded, total });
    };
    await loader.stream(reading, { signal: opts.signal, onBytes: progress });
    model = loader.finish(source.sizeBytes);

    if (k > 0) {
      const byName = new Map(header.tensors.map((t) => [t.name, t]));
      const read = async (name: string): Promise<TensorBytes | undefined> => {
        const t = byName.get(name);
        if (!t) return undefined;
        checkAbort(opts.signal);
        const bytes = await readRange(reading, t.offset, t.sizeBytes);
        return { typeId: t.typeId, type: t.type, dims: t.dims, bytes };
      };
      // The GPU code loads only when blocks are offloaded.
      const { GpuModel } = await import('../gpu/gpu-model.js');
      model.offload = await GpuModel.create(opts.gpu!, { info: model.info, hparams: model.hparams }, read, progress, { embeddings });
    }
    model.identity = await sampler.finish(source, { name: model.info.name, architecture: model.info.architecture });
    model.loadReport = {
      gpuLayers: k,
      nLayer,
      headOnGpu: k === nLayer && k > 0,
      cpuWeightBytes: model.info.weightBytes,
      gpuWeightBytes: model.offload?.sizeBytes ?? 0,
      reason,
    };
    return model;
  } catch (e) {
    model?.free();
    throw e;
  } finally {
    loader.free();
  }
}

/** Whether the GPU holds this tensor: blocks from nCpu on, and the head
 * (with the embedding when tied) when every block is offloaded. */
function isOffloaded(t: GgufTensor, nLayer: number, nCpu: number, header: GgufHeader): boolean {
  const b = blockOf(t.name);
  if (b >= 0) return b >= nCpu;
  if (nCpu > 0 || nLayer === 0) return t.name === 'rope_freqs.weight' && nCpu < nLayer;
  if (isHeadTensor(t.name) || t.name === 'rope_freqs.weight') return true;
  return t.name === 'token_embd.weight' && !header.tensors.some((o) => o.name === 'output.weight');
}

/** The output head and its norm (LFM2's under llama.cpp's name token_embd_norm). */
function isHeadTensor(name: string): boolean {
  return name === 'output.weight' || name === 'output_norm.weight' || name === 'token_embd_norm.weight';
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
