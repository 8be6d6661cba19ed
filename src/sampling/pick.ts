// When a sampler chain may run on the device's best few logits instead of
// the whole vocabulary (a SamplePick, src/core/logits.ts). A request
// qualifies when every stage before its first truncation leaves the logits
// alone (no bias, ban, penalty or DRY there), so the truncation's survivors
// are exactly the best k. It knows nothing of GPU buffers.
import type { SamplePick } from '../core/logits.js';
import type { DeviceDraw } from '../core/offload.js';
import type { SamplerName } from '../shared/types.js';
import type { ResolvedSampling } from './params.js';

/** The largest top_k sampled from device candidates (a pick reads k + 1 to check ties). */
export const GPU_TOP_K_MAX = 128;

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
 * The pick a SamplerChain (chain.ts) may sample from, or null. Greedy
 * (temperature <= 0 or top_k = 1, after stages that keep the best
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

/** The stages a device's draw runs after a top-k pick (DeviceDraw), in the
 * chain's order, or null when the chain does more than top-p, min-p and a
 * temperature after its top-k (the device then decodes one step at a time).
 * Only for a pick chainPick gave with k > 1. */
export function deviceDrawStages(p: ResolvedSampling): DeviceDraw['stages'] | null {
  if (p.mirostat !== 0 || !(p.temperature > 0)) return null;
  const stages: { kind: 'top_p' | 'min_p' | 'temperature'; value: number }[] = [];
  const after = p.sampler_order.slice(p.sampler_order.indexOf('top_k') + 1);
  for (const s of after) {
    if (isNoop(s, p)) continue;
    if (s === 'top_p') stages.push({ kind: s, value: p.top_p });
    else if (s === 'min_p') stages.push({ kind: s, value: p.min_p });
    else if (s === 'temperature') stages.push({ kind: s, value: p.temperature });
    else return null;
  }
  // The kernel takes four stages (a chain that repeats one may list more).
  return stages.length <= 4 ? stages : null;
}
