// Where the tokens of a batch of packed sequences look (embeddings): the
// cells [begin, end) each row attends to, for full-attention and for
// sliding-window layers, exactly as the engine's BatchLayout::pack
// (cpp/pooling.cpp) gives them to its own blocks. The offloaded blocks get
// the same rows, so both halves of a split model see the same cells.
import type { ModelHparams } from '../shared/model.js';

/** Visible cells of every row, cells counted from the batch's first token. */
export interface BatchRows {
  /** (2 T): begin, end of row t at 2t, 2t + 1, for full-attention layers. */
  full: Uint32Array;
  /** The same for sliding-window layers (a copy of `full` when there is no window). */
  swa: Uint32Array;
}

/** The rows of sequences of seqLens[i] tokens packed back to back from cell 0. */
export function packRows(hp: Pick<ModelHparams, 'causal' | 'nSwa' | 'swaSymmetric'>, seqLens: readonly number[]): BatchRows {
  const n = seqLens.reduce((a, b) => a + b, 0);
  const full = new Uint32Array(2 * n);
  const swa = new Uint32Array(2 * n);
  const w = hp.nSwa;
  const half = Math.floor(w / 2);
  let start = 0;
  for (const len of seqLens) {
    const end = start + len;
    for (let c = start; c < end; c++) {
      const e = hp.causal ? c + 1 : end;
      full[2 * c] = start;
      full[2 * c + 1] = e;
      // Causal windows hold the last w positions; EmbeddingGemma's w / 2 either side.
      if (w > 0 && hp.swaSymmetric) {
        swa[2 * c] = Math.max(start, c - half);
        swa[2 * c + 1] = Math.min(e, c + half + 1);
      } else {
        swa[2 * c] = w > 0 ? Math.max(start, c - w + 1) : start;
        swa[2 * c + 1] = e;
      }
    }
    start = end;
  }
  return { full, swa };
}

/** The rows of cells [0, start + n) when cells [start, start + n) hold an
 * image's rows attending both ways (Gemma 3) after `start` causal cells,
 * as the engine's BatchLayout::image (cpp/pooling.cpp) gives them: each
 * image row sees every cell up to the image's end, a sliding window's
 * start staying where causal attention puts it. With `fullCausal` (Gemma
 * 4, as llama.cpp runs it) only the sliding blocks' rows see the whole
 * image; the full blocks' stay causal. */
export function imageRows(hp: Pick<ModelHparams, 'nSwa' | 'swaSymmetric'>, start: number, n: number, fullCausal = false): BatchRows {
  const total = start + n;
  const full = new Uint32Array(2 * total);
  const swa = new Uint32Array(2 * total);
  const w = hp.nSwa;
  const half = Math.floor(w / 2);
  for (let c = 0; c < total; c++) {
    const e = c < start ? c + 1 : total;
    full[2 * c + 1] = fullCausal ? c + 1 : e;
    if (w > 0 && hp.swaSymmetric) {
      swa[2 * c] = Math.max(0, c - half);
      swa[2 * c + 1] = Math.min(e, c + half + 1);
    } else {
      swa[2 * c] = w > 0 ? Math.max(0, c - w + 1) : 0;
      swa[2 * c + 1] = e;
    }
  }
  return { full, swa };
}
