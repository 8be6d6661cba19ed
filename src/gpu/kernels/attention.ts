// The attention family: causal attention of q over the f16 cache, as one
// workgroup per row and head, as query tiles for a prefill batch, or split
// over slices of the cells for decode over a long context; and the sizes of
// the tiles and of the scratch buffer the split passes share.
import { HobError } from '../../shared/errors.js';
import * as wgsl from '../shaders.js';
import { f32Bits, pow2Ceil, type KernelContext } from './context.js';
import { checkInt, checkTokens, dispatch, needBytes, outOfBounds, rowsIn } from './dispatch.js';
import { q8Rows, type Q8Acts } from './q8-acts.js';
import type { AttentionShape, Step } from './types.js';

// attention_decode.wgsl: a decode step takes the visible cells in slices of
// this many (its SL), each slice one workgroup per group of q heads; a
// context that fits one slice is one dispatch, a longer one three (slices,
// their probabilities times V, the merge).
export const ATTN_DECODE_SLICE = 128;
// Heads of one KV head a decode workgroup takes (its HG is the largest
// divisor of the GQA group up to this).
const ATTN_DECODE_HEADS = 8;

// attention_tiled.wgsl: prefill attention takes query vectors (rows x heads
// of one KV head) in tiles of at most 2048 / headDim rounded up to a power
// of two (at most 32), and cells in chunks of 32 (16 for heads over 128).
export interface AttentionTiling {
  /** Rows of a tile. */
  rows: number;
  /** Heads of a tile (a divisor of nHead / nHeadKv). */
  heads: number;
  /** Cells staged at a time. */
  cells: number;
}

export function attentionTiling(nHead: number, nHeadKv: number, headDim: number): AttentionTiling {
  const span = Math.max(64, pow2Ceil(headDim));
  const vectors = 2048 / span;
  const group = nHead / nHeadKv;
  let heads = 1;
  for (let d = 1; d <= Math.min(group, vectors); d++) if (group % d === 0) heads = d;
  return { rows: Math.floor(vectors / heads), heads, cells: span <= 128 ? 32 : 16 };
}

// A batch whose largest tiles give fewer workgroups than this takes tiles
// of fewer rows (halved down to one row): few heads (Qwen2-0.5B's 14, in
// tiles of 4 rows x 7 heads: 128 workgroups for 256 tokens) leave most of a
// large GPU idle, and each K/V chunk staged for fewer query vectors costs
// less than idle cores (bench/gpu-attention.ts). Every tiling gives the
// same bits: cells are summed in lanes of 64 whatever the chunk.
export const ATTN_TILE_MIN_GROUPS = 512;

/** The prefill attention tilings a step compiles, largest first: the
 * default tile, then its rows halved down to one row (or only `rows` rows,
 * KernelOptions.attnTileRows). Smaller tiles stage twice the cells a chunk
 * where the workgroup memory allows. */
export function attentionTilings(nHead: number, nHeadKv: number, headDim: number, rows?: number): AttentionTiling[] {
  const base = attentionTiling(nHead, nHeadKv, headDim);
  const pairs = headDim / 2;
  const fits = (r: number, ck: number) => {
    const nq = r * base.heads;
    return ck <= 64 && nq * ck <= 1024 && nq * pairs + ck * (pairs | 1) + nq * ck <= 4032;
  };
  const make = (r: number): AttentionTiling => {
    const cells = r < base.rows && fits(r, 2 * base.cells) ? 2 * base.cells : base.cells;
    return { rows: r, heads: base.heads, cells };
  };
  if (rows !== undefined) {
    if (!Number.isInteger(rows) || rows < 1 || rows * base.heads > 32 || !fits(rows, base.cells)) {
      throw new HobError('argument/invalid', `attnTileRows: tiles of ${base.heads} heads take 1 to ${Math.floor(32 / base.heads)} rows, got ${rows}`, { rows, heads: base.heads });
    }
    return [rows === base.rows ? base : make(rows)];
  }
  const out = [base];
  for (let r = base.rows >> 1; r >= 1; r >>= 1) out.push(make(r));
  return out;
}

/** The tiling of a batch of nTokens rows: the first that gives at least
 * ATTN_TILE_MIN_GROUPS workgroups, else the smallest. */
export function pickAttentionTiling(tilings: AttentionTiling[], nHead: number, nTokens: number): number {
  const k = tilings.findIndex((t) => Math.ceil(nTokens / t.rows) * (nHead / t.heads) >= ATTN_TILE_MIN_GROUPS);
  return k === -1 ? tilings.length - 1 : k;
}

/** Slices of ATTN_DECODE_SLICE cells in nCtx cells: how many a decode step's
 * scratch holds per head. */
function decodeSlices(nCtx: number): number {
  return Math.ceil(nCtx / ATTN_DECODE_SLICE);
}

/** Heads of one KV head a decode workgroup takes: the largest divisor of
 * the group up to ATTN_DECODE_HEADS. */
export function decodeHeadGroup(nHead: number, nHeadKv: number): number {
  const group = nHead / nHeadKv;
  let heads = 1;
  for (let d = 1; d <= Math.min(group, ATTN_DECODE_HEADS); d++) if (group % d === 0) heads = d;
  return heads;
}

// attention_tiled.wgsl stores each prefill score once in the scratch (f32,
// rows x heads x cells) rather than computing it in each of its three
// passes; a batch whose scores exceed this many bytes is dispatched in
// chunks of rows that fit (a context of 4096 cells, 32 heads: 64 rows).
export const ATTN_SCORE_BYTES = 32 << 20;

/** Bytes of the scratch buffer attention steps of this shape need, for
 * batches of up to `rows` rows (0: none, when every decode step fits one
 * slice and batches recompute their scores); steps run one after another,
 * and a forward is either a decode step or a batch, so one buffer serves
 * every layer and both uses. The scores are optional (a batch whose rows do
 * not fit recomputes them): their part never exceeds a binding. */
export function attentionScratchBytes(shape: AttentionShape, rows = 1, maxBindingBytes = Infinity): number {
  const nSplit = decodeSlices(shape.nCtx);
  const decode = nSplit === 1 ? 0 : (shape.nHead * shape.nCtx + shape.nHead * nSplit * (4 + shape.headDim)) * 4;
  const scores = rows > 1 ? Math.min(rows * shape.nHead * shape.nCtx * 4, ATTN_SCORE_BYTES, Math.floor(maxBindingBytes / 4) * 4) : 0;
  return Math.max(decode, scores);
}

/** The cells each row's scores take in the scratch for a batch that sees
 * nKv cells: a power of two from 256 up (so that few spans, and few
 * uniforms, serve a whole session), at most nCtx. */
function scoreSpan(nKv: number, nCtx: number): number {
  return Math.min(nCtx, Math.max(256, pow2Ceil(nKv)));
}

/** Kernels.attention. */
export function recordAttention(kc: KernelContext, q: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, out: GPUBuffer, shape: AttentionShape, frame: GPUBuffer, scratch: GPUBuffer | null = null, q8?: Q8Acts, prefill: 'tiled' | 'rows' = 'tiled', rowRanges: GPUBuffer | null = null): Step {
  const { nHead, nHeadKv, headDim, scale, nCtx } = shape;
  const label = `attention ${nHead}/${nHeadKv}x${headDim}`;
  checkInt(label, 'nHead', nHead, 1);
  checkInt(label, 'nHeadKv', nHeadKv, 1);
  checkInt(label, 'nCtx', nCtx, 1);
  if (nHead % nHeadKv !== 0) throw new HobError('argument/invalid', `${label}: nHead must be a multiple of nHeadKv`, { nHead, nHeadKv });
  if (!Number.isInteger(headDim) || headDim % 2 !== 0 || headDim < 2 || headDim > 256) {
    throw new HobError('argument/invalid', `${label}: headDim must be even and in [2, 256], got ${headDim}`, { headDim });
  }
  if (nHead > kc.limit.maxPerDim) throw outOfBounds(`${label}: too many heads for one dispatch`, { nHead });
  const kvDim = nHeadKv * headDim;
  needBytes(label, 'kCache', kCache, nCtx * kvDim * 2);
  needBytes(label, 'vCache', vCache, nCtx * kvDim * 2);
  const maxRows = Math.min(rowsIn(label, 'q', q, nHead * headDim * 4), rowsIn(label, 'out', out, nHead * headDim * 4));
  if (q8) {
    if (q8.type !== 'q8_0' || headDim % 32 !== 0) {
      throw new HobError('argument/invalid', `${label}: the fused quantization writes Q8_0 blocks within a head (headDim a multiple of 32), not ${q8.type} of ${headDim}`, { headDim });
    }
    q8Rows(label, q8, nHead * headDim);
  }
  const nSplit = decodeSlices(nCtx);
  const code = [wgsl.commonWgsl, wgsl.q8StoreWgsl, wgsl.attentionWgsl];
  const pipelines = kc.pipelines;
  // Every entry point of attention.wgsl takes the same ten bindings.
  const layout = pipelines.layout('attention', [
    'uniform', 'uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'storage',
    'read-only-storage',
  ]);
  // The rows' cells, read in forwards that set frame.ranged: two words a row.
  if (rowRanges) needBytes(label, 'rows', rowRanges, maxRows * 8);
  if (nSplit > 1) {
    if (!scratch) throw new HobError('argument/invalid', `${label}: decode over ${nCtx} cells needs an attention scratch buffer`, { nCtx });
    needBytes(label, 'scratch', scratch, attentionScratchBytes(shape));
  }
  const window = shape.window ?? 0;
  const softcap = shape.softcap ?? 0;
  const qScale = shape.qScale ?? 1;
  if (!Number.isInteger(window) || window < 0) throw new HobError('argument/invalid', `${label}: window must be a whole number of cells, got ${window}`, { window });
  if (!(softcap >= 0) || !Number.isFinite(qScale)) throw new HobError('argument/invalid', `${label}: softcap must be >= 0 and qScale finite`, { softcap, qScale });
  const words = [nHead, nHeadKv, headDim, kvDim, f32Bits(scale), nCtx, maxRows, nSplit, window, f32Bits(softcap), f32Bits(qScale), q8 ? 1 : 0];
  // No scratch for the scores: every batch is one dispatch that recomputes them.
  const params = kc.uniform(label, [...words, 0, 0, 0, 0]);
  const buffers = [frame, params, q, kCache, vCache, out, q8?.quants ?? kc.dummy, q8?.scales ?? kc.dummy2, scratch ?? kc.dummy3, rowRanges ?? kc.noRows];
  const scoreWords = scratch && kc.attnStoreScores ? Math.floor(scratch.size / 4) : 0;
  const constants = { HD8: Math.floor(headDim / 8) };
  const rows = pipelines.get('attn', code, 'attn', constants, layout);
  const rowsGroup = pipelines.bindGroup(rows, label, buffers);
  const tilings = attentionTilings(nHead, nHeadKv, headDim, kc.attnTileRows);
  const tiled = tilings.map((t) => {
    const pipe = pipelines.get('attn_tiled', [...code, wgsl.attentionTiledWgsl], 'attn_tiled', { ...constants, TR: t.rows, HG: t.heads, CK: t.cells }, layout);
    return { t, pipe, group: pipelines.bindGroup(pipe, `${label} tiled`, buffers) };
  });
  // The chunks of a batch whose scores are stored: each chunk's uniform
  // gives its rows, their span of cells and its first row. Every uniform a
  // session may need (each span, tiling and chunk) is made here, shared by
  // the layers of this shape, so that no buffer is created while it runs;
  // the bind groups are made on first use.
  const chunkWords = (rows: number, span: number, chunk: number) => [...words, scoreWords, rows, span, chunk * rows];
  const chunkFit = (t: AttentionTiling, span: number) => Math.floor(scoreWords / (nHead * span) / t.rows) * t.rows;
  if (scoreWords > 0) {
    for (let span = Math.min(nCtx, 256); ; span = Math.min(nCtx, span * 2)) {
      for (const { t } of tiled) {
        const fit = chunkFit(t, span);
        for (let c = 0; fit > 0 && c * fit < maxRows; c++) kc.sharedUniform(`${label} scores`, chunkWords(fit, span, c));
      }
      if (span >= nCtx) break;
    }
  }
  const chunkGroups = new Map<string, GPUBindGroup>();
  const chunkGroup = (k: number, rows: number, span: number, chunk: number): GPUBindGroup => {
    const key = `${k}/${rows}/${span}/${chunk}`;
    let g = chunkGroups.get(key);
    if (!g) {
      const u = kc.sharedUniform(`${label} scores`, chunkWords(rows, span, chunk));
      g = pipelines.bindGroup(tiled[k].pipe, `${label} tiled scores`, [frame, u, ...buffers.slice(2)]);
      chunkGroups.set(key, g);
    }
    return g;
  };
  // Decode: the split-K kernels (attention_decode.wgsl), appended to attention.wgsl.
  const hg = decodeHeadGroup(nHead, nHeadKv);
  const decodeCode = [...code, wgsl.attentionDecodeWgsl];
  const decode = ['attn_dec', 'attn_dec_pv', 'attn_dec_combine'].map((entry) => {
    const pipe = pipelines.get(entry, decodeCode, entry, { ...constants, HG: hg }, layout);
    return { pipe, group: pipelines.bindGroup(pipe, `${label} ${entry}`, buffers) };
  });
  return {
    label,
    encode: (pass, nTokens, nKv) => {
      checkTokens(label, nTokens, maxRows);
      if (nTokens === 0) return;
      if (nTokens === 1) {
        // The grid is an upper bound on the slices (the kernels take theirs
        // from the frame): every cell up to nKv, not only a window's, since a
        // forward with row ranges ignores the window.
        const slices = Math.ceil(Math.max(1, Math.min(nKv ?? nCtx, nCtx)) / ATTN_DECODE_SLICE);
        dispatch(pass, decode[0].pipe, decode[0].group, kc.limit.dim(label, slices), nHead / hg);
        if (slices > 1) {
          dispatch(pass, decode[1].pipe, decode[1].group, kc.limit.dim(label, slices), nHead / hg);
          dispatch(pass, decode[2].pipe, decode[2].group, 1, nHead / hg);
        }
      } else if (prefill === 'tiled') {
        const k = pickAttentionTiling(tilings, nHead, nTokens);
        const { t, pipe, group } = tiled[k];
        const span = scoreSpan(Math.min(nKv ?? nCtx, nCtx), nCtx);
        const fit = chunkFit(t, span);
        if (fit === 0) {
          dispatch(pass, pipe, group, kc.limit.dim(label, Math.ceil(nTokens / t.rows)), nHead / t.heads);
        } else {
          for (let c = 0; c * fit < nTokens; c++) {
            const rows = Math.min(fit, nTokens - c * fit);
            dispatch(pass, pipe, chunkGroup(k, fit, span, c), kc.limit.dim(label, Math.ceil(rows / t.rows)), nHead / t.heads);
          }
        }
      } else {
        dispatch(pass, rows, rowsGroup, kc.limit.dim(label, nTokens), nHead);
      }
    },
  };
}
