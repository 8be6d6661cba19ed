// When a sampler may run on the GPU's best few logits instead of the whole
// vocabulary, and how those candidates become the logits it reads. A request
// qualifies when every stage before its first truncation leaves the logits
// alone (no bias, ban, penalty or DRY there), so the truncation's survivors
// are exactly the best k; it knows nothing of GPU buffers (src/gpu/pick.ts).
import type { GpuCandidates } from '../gpu/pick.js';
import type { ResolvedSampling } from './chain.js';
import type { SamplerName } from '../shared/types.js';

/** The largest top_k sampled from GPU candidates (a pick reads k + 1 to check ties). */
export const GPU_TOP_K_MAX = 128;

/**
 * What a sampler needs from the next evaluation: the best k logits. With
 * `tieFree`, the pick is used only if the best k + 1 are all different
 * (a sampler whose order among equal logits is not the samplers' order,
 * or logits capped after the pick); with `nanFree`, only if no logit is NaN
 * (a sampler that does not skip NaN the way the pick does). Otherwise the
 * evaluation reads every logit, as without a pick.
 */
export interface SamplePick {
  k: number;
  tieFree: boolean;
  nanFree: boolean;
}

/** Greedy as a plain `>` scan over the logits picks it (the first of the largest, NaN aside). */
export const GREEDY_PICK: Readonly<SamplePick> = { k: 1, tieFree: false, nanFree: true };

/** Candidates read back for a pick. */
export function pickSize(pick: SamplePick): number {
  return pick.tieFree ? pick.k + 1 : pick.k;
}

/** A stage that changes nothing with these parameters, whatever the logits. */
function isNoop(s: SamplerName, p: ResolvedSampling): boolean {
  switch (s) {
    case 'penalties': return p.repeat_last_n === 0 || (p.repeat_penalty === 1 && p.presence_penalty === 0 && p.frequency_penalty === 0);
    case 'dry': return p.dry_multiplier === 0 || p.dry_base < 1 || p.dry_penalty_last_n === 0;
    case 'top_k': return p.top_k <= 0;
    case 'typical_p': return p.typical_p >= 1;
    case 'top_p': return p.top_p >= 1;
    case 'min_p': return p.min_p <= 0;
    case 'tfs_z': return p.tfs_z >= 1;
    case 'top_a': return p.top_a <= 0;
    case 'xtc': return p.xtc_probability <= 0 || p.xtc_threshold > 0.5;
    case 'temperature': return p.temperature === 1;
  }
}

/** Filters that always keep the best candidate (first of the largest) and never change a logit or draw. */
const KEEPS_BEST = new Set<SamplerName>(['top_k', 'top_p', 'min_p', 'tfs_z', 'top_a']);

/**
 * The pick a SamplerChain (src/core/samplers.ts) may sample from, or null.
 * Greedy (temperature <= 0 or top_k = 1, after stages that keep the best
 * candidate): the best one. Otherwise, when the first stage that does
 * anything is top_k with k <= GPU_TOP_K_MAX: the best k, and the rest of
 * the chain runs on them. Its order among equal logits (lower id first) is
 * the pick's, and it never samples NaN or -inf, so neither check is needed.
 */
export function chainPick(p: ResolvedSampling, nVocab: number, opts: { biased: boolean; bannedNow: number }): SamplePick | null {
  if (p.mirostat !== 0 || opts.biased || opts.bannedNow > 0) return null;
  const plain = { tieFree: false, nanFree: false };
  for (const s of p.sampler_order) {
    if ((s === 'temperature' && p.temperature <= 0) || (s === 'top_k' && p.top_k === 1)) return { k: 1, ...plain };
    if (!isNoop(s, p) && !KEEPS_BEST.has(s)) break;
  }
  const first = p.sampler_order.find((s) => !isNoop(s, p));
  if (first === 'top_k' && p.top_k <= GPU_TOP_K_MAX && p.top_k < nVocab) return { k: p.top_k, ...plain };
  return null;
}

/** The options of the engine's C++ sampler (cpp/sampler.cpp), defaults filled in. */
export interface CppSamplerParams {
  temperature: number;
  topK: number;
  repeatPenalty: number;
  repeatLastN: number;
}

/**
 * The pick the C++ sampler may sample from, or null. It penalizes first,
 * then greedy is a `>` scan (NaN at id 0 would win it: nanFree) and top-k a
 * partial sort whose order among equal logits is its own (tieFree).
 */
export function cppSamplerPick(p: CppSamplerParams, nVocab: number): SamplePick | null {
  // As the C API stores them: floats, and integers truncated.
  const topK = Math.trunc(p.topK);
  if (Math.fround(p.repeatPenalty) !== 1 && Math.trunc(p.repeatLastN) !== 0) return null;
  if (Math.fround(p.temperature) <= 0) return GREEDY_PICK;
  if (topK > 0 && topK <= GPU_TOP_K_MAX && topK < nVocab) return { k: topK, tieFree: true, nanFree: true };
  return null;
}

/**
 * The logits a sampler reads for a pick: the best k candidates' values, -inf
 * for every other token; or null when the candidates do not meet the pick's
 * checks and the full logits are needed.
 */
export function pickedLogits(c: GpuCandidates, pick: SamplePick, nVocab: number): Float32Array | null {
  if (!c.complete || (pick.nanFree && c.nNan > 0)) return null;
  if (pick.tieFree) {
    // Strictly decreasing over the best k + 1 (NaN compares false: refused too).
    for (let i = 0; i < pick.k; i++) if (!(c.logits[i] > c.logits[i + 1])) return null;
  }
  const out = new Float32Array(nVocab).fill(-Infinity);
  for (let i = 0; i < pick.k; i++) if (c.ids[i] >= 0) out[c.ids[i]] = c.logits[i];
  return out;
}
