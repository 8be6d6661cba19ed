// A session together with the token ids its cache holds, so a new prompt
// can reuse what is already evaluated: only the part after the longest
// common prefix is evaluated (llama.cpp's prompt cache, KoboldCPP's
// fast-forwarding). The cache is truncated in place, never reallocated.
import type { ContextShiftOptions, ShiftEvent } from '../api/types.js';
import type { Session } from './engine.js';

export interface SequenceOptions {
  /** Shift the context when the next token would not fit (llama.cpp's
   * context shift); false makes a full context a ContextFullError. */
  contextShift?: ContextShiftOptions | false;
  /** Told of every shift, with its numbers. */
  onShift?: (e: ShiftEvent) => void;
}

export interface PrefillResult {
  /** Prompt tokens whose cache entries were kept. */
  reused: number;
  /** Prompt tokens evaluated now. */
  evaluated: number;
}

export class Sequence {
  private ids: number[] = [];

  constructor(
    readonly session: Session,
    readonly options: SequenceOptions = {},
  ) {}

  /** The token ids in the cache, oldest first. */
  get tokens(): readonly number[] {
    return this.ids;
  }

  /** Makes the cache hold exactly `prompt` and the logits be those after
   * its last token, evaluating as little as possible. */
  async prefill(prompt: readonly number[]): Promise<PrefillResult> {
    if (prompt.length === 0) throw new RangeError('prefill needs at least one token');
    let common = 0;
    const max = Math.min(prompt.length, this.ids.length);
    while (common < max && prompt[common] === this.ids[common]) common++;
    // The last prompt token is always evaluated: its logits are needed, and
    // the cache keeps entries, not logits.
    if (common === prompt.length) common--;
    this.session.truncate(common);
    this.ids.length = common;
    const rest = prompt.slice(common);
    await this.session.eval(rest);
    this.ids.push(...rest);
    return { reused: common, evaluated: rest.length };
  }

  /** Appends generated tokens (evaluating them). */
  async append(tokens: readonly number[]): Promise<void> {
    await this.session.eval(tokens);
    this.ids.push(...tokens);
  }

  /** Evicts tokens [start, end), keeping the ids in step with the cache. */
  erase(start: number, end: number): void {
    this.session.erase(start, end);
    this.ids.splice(start, end - start);
  }

  /** llama.cpp's context shift, keeping the ids in step: keeps the first
   * nKeep tokens and evicts the nDiscard after them. */
  shift(nKeep: number, nDiscard: number): void {
    this.session.shift(nKeep, nDiscard);
    this.ids.splice(nKeep, nDiscard);
  }

  clear(): void {
    this.session.truncate(0);
    this.ids = [];
  }
}
