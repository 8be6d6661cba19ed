// What an evaluation hands the sampler: the next token's logits, either all
// of them or, where the output head runs on an offloaded device and the
// sampler allows it, only the best few (a "pick": 16 bytes read back for
// greedy instead of the whole vocabulary). Which pick a sampler may use is
// the sampler's business (src/sampling/pick.ts); this file knows how many
// candidates to read for one and whether what came back can stand for all.
import type { Candidates, DeviceDraw } from './offload.js';

/**
 * The best k logits a sampler can sample from instead of every logit. With
 * `tieFree`, they are used only if the best k + 1 are all different (a
 * sampler whose order among equal logits is not the pick's, or logits capped
 * after the pick); with `nanFree`, only if no logit is NaN (a sampler that
 * does not skip NaN the way the pick does). Otherwise the evaluation's
 * logits are read whole, as without a pick.
 */
export interface SamplePick {
  k: number;
  tieFree: boolean;
  nanFree: boolean;
  /** A top-k pick whose sampler the device can imitate, to decode ahead:
   * absent for greedy picks (the best one is the token). */
  draw?: DeviceDraw;
}


/** Candidates read back for a pick. */
export function pickSize(pick: SamplePick): number {
  return pick.tieFree ? pick.k + 1 : pick.k;
}

/** The best k (id, logit) pairs, best first (equal logits: lower id first). */
export interface PickedLogits {
  ids: Int32Array;
  logits: Float32Array;
  /** A step run ahead with a device draw: the token the device drew and fed
   * the next step (the sampler's own draw must match it to use that step). */
  drawn?: number;
}

/** The token a step run ahead fed the next one: the device's draw, or the best. */
export function pickedToken(p: PickedLogits): number {
  return p.drawn ?? p.ids[0];
}

/** The pick's best k from the candidates read back, or null when they do not
 * meet its checks (and every logit is needed). */
export function checkPick(c: Candidates, pick: SamplePick): PickedLogits | null {
  if (!c.complete || (pick.nanFree && c.nNan > 0) || (c.drawn !== undefined && c.drawn < 0)) return null;
  if (pick.tieFree) {
    // Strictly decreasing over the best k + 1 (NaN compares false: refused too).
    for (let i = 0; i < pick.k; i++) if (!(c.logits[i] > c.logits[i + 1])) return null;
  }
  return { ids: c.ids.subarray(0, pick.k), logits: c.logits.subarray(0, pick.k), ...(c.drawn !== undefined ? { drawn: c.drawn } : {}) };
}

/** A full-vocabulary array of the picked logits, -inf for every other token:
 * what sampling from every logit would see when only these could win. */
export function spreadPick(picked: PickedLogits, nVocab: number): Float32Array {
  const out = new Float32Array(nVocab).fill(-Infinity);
  for (let i = 0; i < picked.ids.length; i++) if (picked.ids[i] >= 0) out[picked.ids[i]] = picked.logits[i];
  return out;
}

/** The next token's logits after one evaluation. */
export interface StepLogits {
  readonly nVocab: number;
  /** The pick's best k, when the evaluation was asked for a pick and the
   * candidates passed its checks; null when every logit must be read. */
  readonly picked: PickedLogits | null;
  /** Every logit, in a copy the caller owns (read from the engine, or from
   * the device the first time).
   * Valid until the session's next evaluation or cache change. */
  all(): Promise<Float32Array>;
}
