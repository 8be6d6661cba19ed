// Where a reply stands with respect to its thought (<think> ... </think>),
// read from the generated text as it grows: not yet known (the reply may
// still open one), inside it, or past it (closed, or never opened). The
// generation loop counts a thought's tokens against its budget with it, and
// starts listening for tool calls only once the thought is over.
import type { ReasoningFormat } from '../chat/reasoning.js';

export type ThoughtPhase = 'undecided' | 'inside' | 'after';

export interface ThoughtState {
  readonly phase: ThoughtPhase;
  /** Tokens generated inside the thought so far. */
  readonly insideTokens: number;
  /** Where the thought's text starts in the reply (after its opening tag). */
  readonly from: number;
}

export class ThoughtTracker {
  private s: ThoughtState;

  constructor(
    private readonly format: ReasoningFormat,
    startsInside: boolean,
  ) {
    this.s = { phase: startsInside ? 'inside' : 'undecided', insideTokens: 0, from: 0 };
  }

  get state(): ThoughtState {
    return this.s;
  }

  restore(s: ThoughtState): void {
    this.s = s;
  }

  /** The reply's text after one more token. */
  update(text: string): void {
    const { open, close } = this.format;
    const s = this.s;
    if (s.phase === 'undecided') {
      const lead = text.length - text.trimStart().length;
      const t = text.slice(lead);
      if (t.startsWith(open)) this.s = { phase: 'inside', insideTokens: 0, from: lead + open.length };
      else if (!open.startsWith(t)) this.s = { phase: 'after', insideTokens: 0, from: 0 };
      if (this.s.phase !== 'inside') return;
    }
    if (this.s.phase === 'inside') {
      const closed = text.indexOf(close, this.s.from) >= 0;
      this.s = closed ? { ...this.s, phase: 'after' } : { ...this.s, insideTokens: this.s.insideTokens + (s.phase === 'inside' ? 1 : 0) };
    }
  }
}
