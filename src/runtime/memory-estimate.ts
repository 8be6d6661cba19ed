// How much memory a model takes with a given split and context, from its
// GGUF header alone: the wasm heap (the CPU blocks' weights, their KV cache,
// the workspace and scratch of a batch, the parsed header and vocabulary,
// the transient buffers of loading) and the GPU (gpu/memory.ts). Pure
// arithmetic: the fit check (fit.ts) compares it with the device, and
// test/unit/fit-estimate.test.ts with the heap and GPU bytes of loaded
// models. It mirrors what cpp/loader.cpp, cpp/model.cpp and cpp/session.cpp
// allocate; the constants below were measured on the engine's wasm builds.
import type { GgufLayout } from '../format/gguf-layout.js';
import { gpuBytes, type GpuTensorShape } from '../gpu/memory.js';
import type { GgufHeader } from '../shared/model.js';
import type { FitEstimate } from '../shared/types.js';

/** A tensor of the model (all parts of a split one). */
export interface FitTensor extends GpuTensorShape {
  /** Bytes in the file; 0 for a type Hob does not know. */
  sizeBytes: number;
}

/** What the estimate needs to know of a model. */
export interface FitModel {
  architecture: string;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
  /** The training context (0 when the file does not say). */
  nCtxTrain: number;
  nRot: number;
  qkNorm: boolean;
  postNorms: boolean;
  tensors: FitTensor[];
  /** Bytes of the first part's metadata and tensor table: the engine parses and keeps them. */
  headerBytes: number;
  /** Bytes of the whole model (every part). */
  fileBytes: number;
  /** Gemma 4: blocks with a KV cache of their own (the last
   *  attention.shared_kv_layers read another's), the cache row (the widest
   *  block's: sliding heads have their own width), and the per-layer
   *  input values each token carries (n_layer x embedding_length_per_layer_input). */
  nKvLayers?: number;
  kvDim?: number;
  perLayerValues?: number;
  /** Gemma 4: each block's head width and cache row (0: it reads an
   *  earlier block's), the per-layer input values of a block, and the
   *  fewest blocks an offload may take (every block reading a cache must
   *  find it on its own side). */
  blockDims?: { headDim: number; kvDim: number }[];
  nEmbdPerLayer?: number;
  minGpuLayers?: number;
}

// ---- constants of the engine's wasm builds ------------------------------------

/** The heap's end when an engine has started with one thread (static data,
 * the main stack, the thread pool), measured on hob-mt and hob-st. */
export const WASM_BASE_BYTES = 5.3 * 2 ** 20;
/** Each thread past the first: its stack (emscripten's default, 2 MiB). */
export const WASM_BYTES_PER_THREAD = 2 * 2 ** 20;
/** The wasm memory a page gets before anything grows (INITIAL_MEMORY in wasm/build.sh). */
export const WASM_INITIAL_BYTES = 64 * 2 ** 20;
/** The most wasm memory there can be (MAXIMUM_MEMORY; wasm32 addresses 4 GiB). */
export const WASM_MAX_BYTES = 4 * 2 ** 30;
/** The parsed header the engine keeps (cpp/gguf.h) and the vocabulary it
 * builds from it (cpp/vocab.h), per byte of header: measured on llama.cpp's
 * vocabulary files and real models (SentencePiece and BPE). */
const PARSED_HEADER_PER_BYTE = 1.1;
const VOCAB_PER_HEADER_BYTE = 2.8;
// cpp/session.cpp: tokens per CPU forward pass; cpp/loader.cpp: resident
// tensors start on this boundary; src/core/model-loader.ts: the staging
// buffer of a read; src/core/gguf-header.ts: the first header read.
const CPU_BATCH = 256;
const TENSOR_ALIGN = 64;
const READ_CHUNK_BYTES = 16 << 20;
const FIRST_HEADER_READ = 1 << 20;
// cpp/ops/attention.cpp: rows a task attends at once (its scores are per thread).
const ATTN_ROWS_PER_TASK = 4;
// src/gpu/runner.ts: tokens per GPU forward (the hidden states handed over).
const GPU_BATCH = 256;

// ---- the model ---------------------------------------------------------------------

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

/** One more than the highest block index among the tensors. */
function blocksIn(tensors: readonly FitTensor[]): number {
  let n = 0;
  for (const t of tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

function shapeOf(meta: (key: string) => unknown, tensors: FitTensor[], headerBytes: number, fileBytes: number): FitModel {
  const arch = String(meta('general.architecture') ?? '');
  const a = `${arch}.`;
  const nEmbd = num(meta(a + 'embedding_length')) ?? 0;
  const nHead = num(meta(a + 'attention.head_count')) ?? 1;
  const headDim = num(meta(a + 'attention.key_length')) ?? (nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const embd = byName.get('token_embd.weight');
  return {
    architecture: arch,
    // At most the blocks the tensor table holds: a block count from an
    // untrusted header must not drive loops (a model missing blocks is the
    // loader's error to report).
    // Qwen 3.5's multi-token-prediction blocks are counted in block_count
    // but no forward pass runs them: the engine and the loader leave them out.
    nLayer: Math.max(0, Math.min((num(meta(a + 'block_count')) ?? 0) - (num(meta(a + 'nextn_predict_layers')) ?? 0), blocksIn(tensors))),
    nEmbd,
    nHead,
    // An array (per-layer head counts) reads as absent: nHead, the larger cache.
    nHeadKv: num(meta(a + 'attention.head_count_kv')) ?? nHead,
    headDim,
    // Per-layer feed-forward widths (an array) read as the widest tensor's.
    nFf: num(meta(a + 'feed_forward_length')) ?? Math.max(0, ...tensors.filter((t) => t.name.endsWith('ffn_down.weight')).map((t) => t.dims[0])),
    nVocab: embd?.dims[1] ?? 0,
    nCtxTrain: num(meta(a + 'context_length')) ?? 0,
    nRot: num(meta(a + 'rope.dimension_count')) ?? headDim,
    qkNorm: byName.has('blk.0.attn_q_norm.weight'),
    postNorms: byName.has('blk.0.post_attention_norm.weight'),
    ...(arch === 'gemma4' ? gemma4Shape(meta, tensors, Math.max(0, Math.min(num(meta(a + 'block_count')) ?? 0, blocksIn(tensors)))) : {}),
    tensors,
    headerBytes,
    fileBytes,
  };
}

/** Gemma 4's cache and per-layer inputs (cpp/arch_gemma4.cpp). The cache
 * row is the widest attn_k.weight (KV head counts may be a per-block array,
 * which the header read leaves out). */
function gemma4Shape(meta: (key: string) => unknown, tensors: readonly FitTensor[], nLayer: number): Pick<FitModel, 'nKvLayers' | 'kvDim' | 'perLayerValues' | 'blockDims' | 'nEmbdPerLayer' | 'minGpuLayers'> {
  const a = 'gemma4.';
  const byName = new Map(tensors.map((t) => [t.name, t]));
  let kvDim = 0;
  for (const t of tensors) if (/^blk\.\d+\.attn_k\.weight$/.test(t.name)) kvDim = Math.max(kvDim, t.dims[1] ?? 0);
  const nKvLayers = Math.max(0, nLayer - (num(meta(a + 'attention.shared_kv_layers')) ?? 0));
  const P = num(meta(a + 'embedding_length_per_layer_input')) ?? 0;
  // Head widths from the q norms; the blocks past nKvLayers keep no cache.
  const blockDims = Array.from({ length: nLayer }, (_, l) => ({
    headDim: byName.get(`blk.${l}.attn_q_norm.weight`)?.dims[0] ?? 0,
    kvDim: l < nKvLayers ? byName.get(`blk.${l}.attn_k.weight`)?.dims[1] ?? 0 : 0,
  }));
  return {
    nKvLayers,
    ...(kvDim > 0 ? { kvDim } : {}),
    perLayerValues: nLayer * P,
    blockDims,
    nEmbdPerLayer: P,
    // The shared blocks read block nKvLayers - 2 (sliding) or - 1 (full):
    // from the earlier on, which this header read does not tell apart.
    minGpuLayers: nKvLayers < nLayer ? nLayer - Math.max(0, nKvLayers - 2) : 1,
  };
}

/** The model of GGUF layouts read in TypeScript (every part of a split model, in order). */
export function fitModelFromLayouts(parts: readonly GgufLayout[], partBytes: readonly number[]): FitModel {
  const tensors = parts.flatMap((p) => p.tensors.map((t) => ({ name: t.name, typeId: t.typeId, dims: t.dims, sizeBytes: t.sizeBytes ?? 0 })));
  const meta = parts[0].meta;
  return shapeOf((k) => meta.get(k), tensors, parts[0].dataOffsetBytes, partBytes.reduce((a, b) => a + b, 0));
}

/** The model of a header the engine parsed (src/core/gguf-header.ts). */
export function fitModelFromHeader(header: GgufHeader, fileBytes: number): FitModel {
  const tensors = header.tensors.map((t) => ({ name: t.name, typeId: t.typeId, dims: t.dims, sizeBytes: t.sizeBytes }));
  return shapeOf((k) => header.metadata[k], tensors, header.dataOffset, fileBytes);
}

// ---- the estimate ----------------------------------------------------------------

/** The estimate (the public FitEstimate). */
export type MemoryEstimate = FitEstimate;

export interface EstimateOptions {
  /** Engine threads (each has a stack in the heap). Default 1. */
  threads?: number;
  /** The GPU's storage binding limit (weights are split to fit it). Default 128 MiB (WebGPU's default). */
  maxBindingBytes?: number;
  /** The GPU budget: an untied model's token embeddings go to the GPU (for
   * decoding ahead) only when everything fits it with them. Absent: they
   * stay on the CPU alone. */
  gpuBudgetBytes?: number;
}

/** Whether the CPU holds a tensor when blocks [0, nCpu) run there (cpp/model.cpp's cpu_uses_tensor). */
function onCpu(name: string, nLayer: number, nCpu: number): boolean {
  const m = /^blk\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) < nCpu;
  if (name === 'output.weight' || name === 'output_norm.weight') return nCpu > 0 || nLayer === 0;
  return true;
}

/** Bytes of the activations quantized for the widest matmul input (cpp/ops/matmul.cpp), per token. */
function actBytesPerToken(model: FitModel, nCpu: number): number {
  const weights = model.tensors.filter((t) => t.dims.length === 2 && onCpu(t.name, model.nLayer, nCpu) && t.name !== 'token_embd.weight');
  let most = 0;
  for (const t of weights) {
    const cols = t.dims[0];
    // Q8_0 / Q8_1 (34-36 bytes a block of 32) or Q8_K (292 per 256), widened to i16 for the tile kernels.
    const k = t.typeId >= 10 && t.typeId <= 14 ? 292 / 256 + 2.125 + 4 / 256 : t.typeId === 0 ? 0 : t.typeId === 1 || t.typeId === 30 ? 2 : 36 / 32 + 2 + 8 / 32;
    most = Math.max(most, cols * k);
  }
  return most;
}

/** Memory of loading `model` with its last `gpuLayers` blocks on the GPU and a context of `contextSize` tokens. */
export function estimateMemory(model: FitModel, gpuLayers: number, contextSize: number, opts: EstimateOptions = {}): MemoryEstimate {
  const threads = Math.max(1, opts.threads ?? 1);
  const k = Math.max(0, Math.min(gpuLayers, model.nLayer));
  const nCpu = model.nLayer - k;
  const nCtx = Math.max(1, contextSize);
  const E = model.nEmbd;
  const qDim = model.nHead * model.headDim;
  const kvDim = model.kvDim ?? model.nHeadKv * model.headDim;

  // cpp/loader.cpp: one buffer of the CPU tensors, each on a 64-byte boundary;
  // cpp/model.cpp copies every norm and bias vector to floats as well.
  let weightBytes = 0;
  for (const t of model.tensors) {
    if (!onCpu(t.name, model.nLayer, nCpu)) continue;
    weightBytes = Math.ceil(weightBytes / TENSOR_ALIGN) * TENSOR_ALIGN + t.sizeBytes;
    if (t.dims.length === 1) weightBytes += t.dims[0] * 4;
  }
  // The CPU tensors lie together in the file: their ranges merge into one,
  // read through a staging buffer of at most 16 MiB.
  const staging = Math.min(READ_CHUNK_BYTES, weightBytes);
  // The first header read: 1 MiB, then four times more until the header fits.
  let prefix = Math.min(model.fileBytes, FIRST_HEADER_READ);
  while (prefix < model.headerBytes && prefix < model.fileBytes) prefix = Math.min(model.fileBytes, prefix * 4);

  const parsed = model.headerBytes * PARSED_HEADER_PER_BYTE;
  const vocab = model.headerBytes * VOCAB_PER_HEADER_BYTE;
  // cpp/kv_cache.h: K and V (f16) per CPU block and cell, and each cell's position.
  const kvLayers = Math.min(nCpu, model.nKvLayers ?? nCpu);
  const kvBytes = nCpu > 0 ? 2 * kvLayers * nCtx * kvDim * 2 + nCtx * 4 : 0;
  // cpp/session.cpp, cpp/model.h Workspace: one batch's activations, the logits.
  const T = Math.min(CPU_BATCH, nCtx);
  const workspace = T * (3 * E + 2 * qDim + 2 * kvDim + 2 * model.nFf + (model.perLayerValues ?? 0)) * 4 + T * 4 + model.nVocab * 4;
  // Scratch of an evaluation: quantized activations for the widest input,
  // the attention scores of each thread, and the hidden states handed to the GPU.
  const scratch = T * actBytesPerToken(model, nCpu) + threads * ATTN_ROWS_PER_TASK * (nCtx + 3 * model.headDim) * 4 + (k > 0 ? GPU_BATCH * E * 4 : 0);
  const sessionScratch = workspace + scratch;

  const baseBytes = WASM_BASE_BYTES + (threads - 1) * WASM_BYTES_PER_THREAD;
  // Loading holds the header's copy and the staging buffer on top of the
  // parsed header and the weights; once loaded, both are freed and the
  // vocabulary and the session take their place (measured: they reuse the
  // holes), so the heap ends at the larger of the two.
  const loadingBytes = prefix + staging;
  const running = vocab + kvBytes + sessionScratch;
  const totalBytes = baseBytes + parsed + weightBytes + Math.max(loadingBytes, running);
  const gpu = gpuBytes(model, model.tensors, k, nCtx, opts.maxBindingBytes ?? 128 * 2 ** 20);
  const gpuTotal = gpu.weightBytes + gpu.kvBytes + gpu.scratchBytes;
  // An untied model's embeddings: on the GPU too where the budget has room.
  const embedBytes = gpu.embedBytes > 0 && opts.gpuBudgetBytes !== undefined && gpuTotal + gpu.embedBytes <= opts.gpuBudgetBytes ? gpu.embedBytes : 0;
  return {
    gpuLayers: k,
    contextSize: nCtx,
    wasm: {
      baseBytes,
      headerBytes: Math.round(parsed + vocab),
      weightBytes,
      kvBytes,
      scratchBytes: Math.round(sessionScratch),
      loadingBytes,
      totalBytes: Math.round(totalBytes),
    },
    gpu: {
      weightBytes: gpu.weightBytes + embedBytes,
      kvBytes: gpu.kvBytes,
      scratchBytes: gpu.scratchBytes,
      largestBufferBytes: gpu.largestBufferBytes,
      totalBytes: gpuTotal + embedBytes,
      ...(gpu.unsupported !== undefined ? { unsupported: gpu.unsupported } : {}),
      ...(embedBytes > 0 ? { embedBytes } : {}),
    },
  };
}
