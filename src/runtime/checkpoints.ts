// Which recurrent-state checkpoints a hybrid model's sequence keeps, and
// where. A hybrid's recurrent blocks (LFM2's convolutions, Qwen 3.5's
// DeltaNet) hold one state for all tokens so far, so going back to an
// earlier token means restoring a copy of the state taken there and
// evaluating forward again. Like llama.cpp's server, Hob takes them a few
// tokens before the end of each prompt (the turn boundary a next request
// most likely shares) and, here, at the kept head that overflow shifts
// return to. The session owns the slots (src/core/session.ts); this file
// only chooses them.
import type { Session } from '../core/session.js';

/** A prompt's checkpoint is taken this many tokens before its end, so that
 *  a next prompt which renders the last few tokens differently (a template
 *  that ends the generation prompt one way and the stored turn another)
 *  still finds one (llama.cpp's server uses 4 as well). */
export const CHECKPOINT_TAIL = 4;

export class StateCheckpoints {
  constructor(private readonly session: Session) {}

  /** The slot holding the latest state at or before token `pos`, or -1. */
  best(pos: number): number {
    let slot = -1;
    let at = -1;
    for (let s = 0; s < this.session.nCheckpoints; s++) {
      const p = this.session.checkpointPos(s);
      if (p >= 0 && p <= pos && p > at) {
        slot = s;
        at = p;
      }
    }
    return slot;
  }

  /** Saves the state at the session's nPast, unless a slot holds it
   *  already: into an empty slot, else over the earliest one but the kept
   *  head's (which overflow shifts return to). */
  save(nKeep: number): void {
    const n = this.session.nCheckpoints;
    const nPast = this.session.nPast;
    if (n === 0 || nPast === 0) return;
    let victim = -1;
    let victimPos = Infinity;
    for (let s = 0; s < n; s++) {
      const p = this.session.checkpointPos(s);
      if (p === nPast) return;
      if (p < 0) {
        victim = s;
        victimPos = -1;
      } else if (victimPos >= 0 && p !== nKeep && p < victimPos) {
        victim = s;
        victimPos = p;
      }
    }
    if (victim < 0) victim = 0; // every slot holds the kept head: impossible, but never leave it unsaved
    this.session.saveCheckpoint(victim);
  }
}

/** Where to checkpoint while tokens [from, to) of a prompt of `to` tokens
 *  are evaluated: at the kept head and CHECKPOINT_TAIL before the end,
 *  when they fall strictly inside (at `from` the state is already what it
 *  was; at `to` the logits are what the caller wants next). */
export function checkpointPositions(from: number, to: number, nKeep: number): number[] {
  const at = new Set<number>();
  for (const p of [nKeep, to - CHECKPOINT_TAIL]) if (p > from && p < to) at.add(p);
  return [...at].sort((a, b) => a - b);
}
