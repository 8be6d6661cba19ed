// GPU bytes of a model's offloaded part and of one session, computed from
// shapes alone, with no device: what gpu-model.ts uploads (the layouts of
// weights.ts, stacked as it stacks them) and what forward-graph.ts records
// (caches, activations, quantized activations, the picker). The fit check
// (src/runtime/fit.ts) and gpuLayers 'auto' decide with these numbers before
// anything is allocated. Kept free of kernels and shaders so a page can
// import it cheaply; test/gpu/memory.test.ts checks the total against
// the buffers a real upload and session create.

/** GPU bytes per 32 elements of each weight type (GGUF type id): the meta
 * and quant arrays of weights.ts's repacked layouts; float types as they are. */
const LAYOUT: Readonly<Record<number, { meta: number; quant: number } | { elem: number }>> = {
  0: { elem: 4 }, // f32
  1: { elem: 2 }, // f16
  30: { elem: 2 }, // bf16
  8: { meta: 2, quant: 32 }, // q8_0: f16 scale, 32 bytes
  2: { meta: 2, quant: 16 }, // q4_0
  20: { meta: 2, quant: 16 }, // iq4_nl
  3: { meta: 4, quant: 16 }, // q4_1: d and m in one word
  6: { meta: 8, quant: 16 }, // q5_0: d, high bits
  7: { meta: 8, quant: 16 }, // q5_1
  10: { meta: 8, quant: 8 }, // q2_k
  11: { meta: 8, quant: 8 }, // q3_k
  12: { meta: 8, quant: 16 }, // q4_k
  13: { meta: 12, quant: 16 }, // q5_k
  14: { meta: 12, quant: 16 }, // q6_k
};

/** The activation type a matmul over this weight type reads (kernels/q8-acts.ts's table). */
const ACT: Readonly<Record<number, 'f32' | 'q8_0' | 'q8_1' | 'q8_k'>> = {
  0: 'f32', 1: 'f32', 30: 'f32', 8: 'q8_0', 2: 'q8_0', 6: 'q8_0', 20: 'q8_0', 3: 'q8_1', 7: 'q8_1', 10: 'q8_k', 11: 'q8_k', 12: 'q8_k', 13: 'q8_k', 14: 'q8_k',
};

// forward-graph.ts, runner.ts and pick.ts: tokens per forward, the frame
// uniform, and the picker's chunk, survivor capacity and most candidates.
const MAX_BATCH = 256;
const ATTN_SCORE_BYTES = 32 << 20;
const FRAME_BYTES = 16;
const PICK_CHUNK = 4096;
const PICK_CAPACITY = 8192;
const PICK_MAX = 129;
// decode-ahead.ts: steps one run takes at most.
const AHEAD_MAX = 64;

const align4 = (n: number) => Math.ceil(n / 4) * 4;

/** Whether the GPU kernels multiply by weights of this GGUF type. */
export function gpuRunsType(ggmlType: number): boolean {
  return LAYOUT[ggmlType] !== undefined;
}

function bufferBytes(ggmlType: number, rows: number, cols: number): number[] | undefined {
  const l = LAYOUT[ggmlType];
  if (!l) return undefined;
  if ('elem' in l) return [rows * cols * l.elem];
  const blocks = (rows * cols) / 32;
  return [blocks * l.meta, blocks * l.quant];
}

export interface GpuWeightSize {
  sizeBytes: number;
  /** The largest buffer of one row: it must fit a storage binding. */
  rowBytes: number;
}

/**
 * GPU bytes of a rows x cols weight of a GGUF type, split by rows into parts
 * whose buffers each fit `maxBindingBytes` (createWeightBuffers's split);
 * undefined for a type the GPU kernels lack. A row larger than the binding
 * gives rowBytes > maxBindingBytes (the upload refuses it).
 */
export function gpuWeightSize(ggmlType: number, rows: number, cols: number, maxBindingBytes: number): GpuWeightSize | undefined {
  const perRow = bufferBytes(ggmlType, 1, cols);
  if (!perRow) return undefined;
  const rowBytes = Math.max(...perRow);
  if (rowBytes > maxBindingBytes) return { sizeBytes: Infinity, rowBytes };
  let rowsPerPart = Math.min(rows, Math.floor(maxBindingBytes / rowBytes));
  while (rowsPerPart > 1 && Math.max(...bufferBytes(ggmlType, rowsPerPart, cols)!.map(align4)) > maxBindingBytes) rowsPerPart--;
  let sizeBytes = 0;
  for (let r0 = 0; r0 < rows; r0 += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r0);
    for (const b of bufferBytes(ggmlType, n, cols)!) sizeBytes += align4(Math.max(4, b));
  }
  return { sizeBytes, rowBytes };
}

/** A tensor of the model file as the GPU sizes see it. */
export interface GpuTensorShape {
  name: string;
  typeId: number;
  /** Row length first, as GGUF stores them. */
  dims: number[];
}

/** The shape of a model, as far as its GPU memory depends on it. */
export interface GpuModelShape {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
  /** rope.dimension_count (default headDim). */
  nRot: number;
  /** Q/K head norms (Qwen 3, Gemma 3): biases then get their own buffers. */
  qkNorm: boolean;
  /** Gemma's post-norms: one more activation buffer. */
  postNorms: boolean;
  /** Gemma 4: each block's head width and cache row (0: it reads an
   *  earlier block's cache), and the per-layer input values of a block. */
  blockDims?: readonly { headDim: number; kvDim: number }[];
  nEmbdPerLayer?: number;
}

export interface GpuBytes {
  /** Weights of the offloaded blocks (and the head when every block is). */
  weightBytes: number;
  /** K and V caches of the offloaded blocks, and the shift's scratch. */
  kvBytes: number;
  /** Activations, quantized activations, attention scratch, logits, picker. */
  scratchBytes: number;
  /** The largest single buffer (it must fit maxBufferSize, and a binding). */
  largestBufferBytes: number;
  /** A tensor whose type the GPU kernels lack, if any. */
  unsupported?: string;
  /** An untied model's token embeddings as gpu-model.ts uploads them for
   * decoding ahead (the head on the GPU, a type whose rows the GPU reads,
   * a decoder whose steps need nothing from the CPU): not in weightBytes,
   * since they go up only where the GPU budget has room for them
   * (runtime/memory-estimate.ts decides, and counts them there). 0: none. */
  embedBytes: number;
}

/**
 * GPU bytes of offloading the last `k` of shape.nLayer blocks, with a
 * session of nCtx cells: the weights as gpu-model.ts uploads them and the
 * buffers forward-graph.ts records. k = 0 is nothing.
 */
export function gpuBytes(shape: GpuModelShape, tensors: readonly GpuTensorShape[], k: number, nCtx: number, maxBindingBytes: number): GpuBytes {
  const out: GpuBytes = { weightBytes: 0, kvBytes: 0, scratchBytes: 0, largestBufferBytes: 0, embedBytes: 0 };
  if (k <= 0) return out;
  const { nLayer, nEmbd: E, nFf, nVocab } = shape;
  const qDim = shape.nHead * shape.headDim;
  const kvDim = shape.nHeadKv * shape.headDim;
  const headOnGpu = k >= nLayer;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const actKeys = new Set<string>();
  const note = (bytes: number) => (out.largestBufferBytes = Math.max(out.largestBufferBytes, bytes));

  /** A weight of `rows` rows stacked from tensors of one type and width; records its activation input of `cols`. */
  const weight = (name: string, typeId: number, rows: number, cols: number) => {
    const s = gpuWeightSize(typeId, rows, cols, maxBindingBytes);
    if (!s) {
      out.unsupported ??= name;
      return;
    }
    out.weightBytes += s.sizeBytes;
    note(Math.min(s.rowBytes * rows, maxBindingBytes));
  };
  /** The matrices reading one input: stacked when their types and widths agree (gpu-model.ts's `together`). */
  const together = (names: string[], inputCols: number) => {
    const ts = names.map((n) => byName.get(n)).filter((t): t is GpuTensorShape => t !== undefined);
    if (ts.length === 0) return;
    const same = ts.every((t) => t.typeId === ts[0].typeId && t.dims[0] === ts[0].dims[0]);
    if (same) weight(names.join('+'), ts[0].typeId, ts.reduce((a, t) => a + (t.dims[1] ?? 1), 0), ts[0].dims[0]);
    else for (const t of ts) weight(t.name, t.typeId, t.dims[1] ?? 1, t.dims[0]);
    // forward-graph.ts's plan: Q8_1 (which Q8_0 readers share) or Q8_0, and Q8_K, per input.
    const types = new Set(ts.map((t) => ACT[t.typeId] ?? 'f32'));
    if (types.has('q8_1')) actKeys.add(`q8_1/${inputCols}`);
    else if (types.has('q8_0')) actKeys.add(`q8_0/${inputCols}`);
    if (types.has('q8_k')) actKeys.add(`q8_k/${inputCols}`);
  };
  const vector = (n: number) => (out.weightBytes += align4(Math.max(4, n * 4)));

  const first = nLayer - Math.min(k, nLayer);
  const P = shape.nEmbdPerLayer ?? 0;
  for (let l = first; l < nLayer && shape.blockDims; l++) {
    // Gemma 4 (gpu-model.ts's gemma4Block): Q alone where the block reads
    // another's cache, else Q, K and V (K twice without attn_v) and V's
    // unit norm weight; the per-layer input's gate, projection and norm.
    const p = `blk.${l}.`;
    const { headDim, kvDim: own } = shape.blockDims[l] ?? { headDim: shape.headDim, kvDim: 0 };
    vector(E);
    if (own > 0) together([p + 'attn_q.weight', p + 'attn_k.weight', byName.has(p + 'attn_v.weight') ? p + 'attn_v.weight' : p + 'attn_k.weight'], E);
    else together([p + 'attn_q.weight'], E);
    vector(headDim);
    if (own > 0) (vector(headDim), vector(headDim));
    together([p + 'attn_output.weight'], shape.nHead * headDim);
    (vector(E), vector(E), vector(E));
    together([p + 'ffn_gate.weight', p + 'ffn_up.weight'], E);
    together([p + 'ffn_down.weight'], byName.get(p + 'ffn_down.weight')?.dims[0] ?? nFf);
    if (P > 0) {
      together([p + 'inp_gate.weight'], E);
      together([p + 'proj.weight'], P);
      vector(E);
    }
  }
  for (let l = first; l < nLayer && !shape.blockDims; l++) {
    const p = `blk.${l}.`;
    vector(E); // attn_norm
    if (byName.has(p + 'attn_qkv.weight')) together([p + 'attn_qkv.weight'], E);
    else together([p + 'attn_q.weight', p + 'attn_k.weight', p + 'attn_v.weight'], E);
    if (byName.has(p + 'attn_q.bias') || byName.has(p + 'attn_qkv.bias')) {
      if (!shape.qkNorm && shape.nRot === shape.headDim) vector(qDim + 2 * kvDim);
      else (vector(qDim), vector(kvDim), vector(kvDim));
    }
    if (shape.qkNorm) (vector(shape.headDim), vector(shape.headDim));
    together([p + 'attn_output.weight'], qDim);
    if (shape.postNorms) vector(E);
    vector(E); // ffn_norm
    if (byName.has(p + 'ffn_gate.weight')) together([p + 'ffn_gate.weight', p + 'ffn_up.weight'], E);
    else together([p + 'ffn_up.weight'], E);
    together([p + 'ffn_down.weight'], nFf);
    if (shape.postNorms) vector(E);
  }
  if (byName.has('rope_freqs.weight')) vector(shape.nRot / 2);
  if (headOnGpu) {
    vector(E);
    together([byName.has('output.weight') ? 'output.weight' : 'token_embd.weight'], E);
    // decode-ahead.ts's conditions, as far as the shape tells them:
    // recurrent blocks and per-layer inputs keep a step on the CPU.
    const embd = byName.get('token_embd.weight');
    const recurrent = tensors.some((t) => /\.(ssm_|shortconv\.)/.test(t.name));
    if (byName.has('output.weight') && embd && embd.dims[0] === E && E % 32 === 0 && !recurrent && !P) {
      const s = gpuWeightSize(embd.typeId, embd.dims[1] ?? 1, E, maxBindingBytes);
      if (s && Number.isFinite(s.sizeBytes)) out.embedBytes = s.sizeBytes;
    }
  }

  // The session (forward-graph.ts): caches for nCtx cells, activations for a batch.
  const buf = (bytes: number) => Math.max(16, align4(bytes));
  const cache = buf(nCtx * kvDim * 2);
  if (shape.blockDims) {
    // Gemma 4: a cache at its own width for each block that keeps one; the
    // shift's scratch at the widest.
    out.kvBytes = cache;
    for (let l = first; l < nLayer; l++) out.kvBytes += 2 * buf(nCtx * (shape.blockDims[l]?.kvDim ?? 0) * 2) * (shape.blockDims[l]?.kvDim ? 1 : 0);
  } else {
    out.kvBytes = (2 * Math.min(k, nLayer) + 1) * cache;
  }
  note(cache);
  const T = MAX_BATCH;
  const outBytes = buf((headOnGpu ? nVocab : E) * 4);
  const acts = [
    2 * FRAME_BYTES,
    buf(T * E * 4) * (shape.postNorms ? 3 : 2), // x, xb (and xb2)
    buf(T * qDim * 4) * 2, // q, att
    buf(T * kvDim * 4) * 2, // k, v
    buf(T * nFf * 4) * 2, // hb, hb2
    outBytes * 2, // out and its readback
    P > 0 ? buf(T * P * 4) * (Math.min(k, nLayer) + 1) : 0, // Gemma 4's per-layer inputs and their product
  ];
  note(buf(T * nFf * 4));
  note(outBytes);
  if (headOnGpu) {
    const chunks = Math.ceil(nVocab / PICK_CHUNK);
    acts.push(16, (3 * chunks + 1) * 4, PICK_CAPACITY * 8, 2 * (8 + 8 * PICK_MAX));
    // decode-ahead.ts: its ring of picks and the ring's readback, the draw's
    // uniforms, parameters and token (where the model decodes ahead).
    if (out.embedBytes > 0 || !byName.has('output.weight')) acts.push(2 * AHEAD_MAX * (16 + 8 * PICK_MAX), AHEAD_MAX * 4, 48 + 16);
  }
  // Attention's scratch: decode's slices, or a batch's scores (at most
  // ATTN_SCORE_BYTES of kernels/attention.ts and a binding: the scores are
  // optional), whichever is larger.
  const nSplit = Math.min(32, Math.max(1, Math.ceil(nCtx / 128)));
  const decodeScratch = nSplit > 1 ? (shape.nHead * nCtx + shape.nHead * nSplit * (4 + shape.headDim)) * 4 : 0;
  const attn = buf(Math.max(decodeScratch, Math.min(T * shape.nHead * nCtx * 4, ATTN_SCORE_BYTES, Math.floor(maxBindingBytes / 4) * 4)));
  if (attn > 0) {
    acts.push(attn);
    note(attn);
  }
  // Quantized activations: one set per type and width, shared by every input that has them.
  for (const key of actKeys) {
    const [type, colsText] = key.split('/');
    const cols = Number(colsText);
    const quants = T * cols;
    const blocks = Math.max(16, (T * cols) / 32 * 4);
    acts.push(quants, blocks * (type === 'q8_0' ? 1 : 2));
  }
  out.scratchBytes = acts.reduce((a, b) => a + b, 0);
  return out;
}
