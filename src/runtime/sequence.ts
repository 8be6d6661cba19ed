// A session together with the token ids its cache holds, so that every new
// request reuses what is already evaluated, in the buffers allocated when
// the session was made:
// - prefix reuse: a prompt that starts with the cached tokens evaluates
//   only the rest (llama.cpp's prompt cache, KoboldCPP's fast-forwarding);
// - prompt-edit shift: a prompt equal to the cached tokens with one span
//   removed after the kept head, plus new tokens, evicts that span and
//   evaluates only the new tokens (KoboldCPP's ContextShift);
// - overflow shift: appending past the context keeps the first nKeep
//   tokens, evicts nDiscard after them and goes on (llama.cpp's context
//   shift).
// A hybrid model's recurrent state cannot drop tokens (ContextShiftMode):
// where the cache cannot shift in place, the sequence goes back to the
// latest state checkpoint before the change (checkpoints.ts) and evaluates
// the tokens kept after it again, which gives what a fresh evaluation of
// them gives. Attention-only models never take that path.
// Images (image-prompt.ts): an image's rows are negative ids, evaluated as
// embedding rows; the same image (by its pixels' hash) is reused like any
// prefix, and every cut keeps or evicts an image with its markers whole
// (image-spans.ts).
import { checkKvState, type KvState } from '../core/kv-state.js';
import type { EvalOptions, Session } from '../core/session.js';
import { pickedToken, type SamplePick, type StepLogits } from '../core/logits.js';
import { ContextFullError, HobError, SessionError } from '../shared/errors.js';
import type { ContextShiftOptions, Progress, ShiftEvent } from '../shared/types.js';
import { StateCheckpoints, checkpointPositions } from './checkpoints.js';
import type { PromptImage, PromptImages } from './image-prompt.js';
import { cutAfter, cutBefore, imageSpans, spanCut, type ImageSpan, type SpanShape } from './image-spans.js';

export interface SequenceOptions {
  /** Shift the context when the next token would not fit (llama.cpp's
   * context shift) and when a prompt drops a span of the cached one
   * (KoboldCPP's ContextShift); false turns both off, and a full context is
   * then a ContextFullError. */
  contextShift?: ContextShiftOptions | false;
  /** Told of every shift, with its numbers. */
  onShift?: (e: ShiftEvent) => void;
}

export interface PrefillOptions extends EvalOptions {
  /** Told how many of the tokens to evaluate are done, after each chunk of
   * `chunkTokens`: a long prompt is then evaluated in chunks. */
  onProgress?: (p: Progress) => void;
  /** Tokens per chunk with onProgress (default 128). */
  chunkTokens?: number;
  /** The images whose rows the prompt's negative ids are. */
  images?: PromptImages;
}

/** What a sequence holds: its cache's cells and the token id of each. No
 * shift history is needed: every shift renumbers the cells after the
 * evicted span and re-rotates their keys, so the cells are the whole state. */
export interface SequenceState {
  kv: KvState;
  tokens: Int32Array;
}

export interface PrefillResult {
  /** Prompt tokens whose cache entries were kept. */
  reused: number;
  /** Prompt tokens evaluated now. */
  evaluated: number;
  /** The next token's logits. */
  logits: StepLogits;
}

/** A prompt-edit shift is taken only when it keeps at least this many cached
 * tokens after the evicted span: a shorter match is more likely chance than
 * a trimmed conversation, and re-evaluating a few tokens costs little. */
export const MIN_SHIFT_REUSE = 16;

/** The log line of a shift: "evicted 49 tokens at position 2719 (overflow,
 * 1999 tokens remain)". */
export function describeShift(e: ShiftEvent): string {
  return `evicted ${e.evicted} tokens at position ${e.position} (${e.kind}, ${e.nPast} tokens remain)`;
}

const NO_MARKERS: SpanShape = { lead: 0, trail: 0 };

export class Sequence {
  private ids: number[] = [];
  /** The images among the cached ids, by their negative id. */
  private readonly cachedImages = new Map<number, SpanShape & { key: string }>();
  /** Hybrids: the recurrent state's checkpoints. */
  private readonly checkpoints: StateCheckpoints | null;

  constructor(
    readonly session: Session,
    readonly options: SequenceOptions = {},
  ) {
    this.checkpoints = session.recurrent ? new StateCheckpoints(session) : null;
    const cs = options.contextShift;
    if (cs) {
      for (const [name, v] of Object.entries({ nKeep: cs.nKeep, nDiscard: cs.nDiscard })) {
        if (v !== undefined && (!Number.isInteger(v) || v < (name === 'nKeep' ? 0 : 1))) {
          throw new HobError('argument/invalid', `contextShift.${name} must be an integer >= ${name === 'nKeep' ? 0 : 1}, got ${v}`, { [name]: Number(v) });
        }
      }
      if (cs.nKeep !== undefined && cs.nKeep >= session.nCtx) {
        throw new HobError('argument/invalid', `contextShift.nKeep ${cs.nKeep} leaves no room in a context of ${session.nCtx}`, {
          nKeep: cs.nKeep, contextSize: session.nCtx,
        });
      }
    }
  }

  /** The token ids in the cache, oldest first; token i sits at position i. */
  get tokens(): readonly number[] {
    return this.ids;
  }

  get shiftEnabled(): boolean {
    return this.options.contextShift !== false;
  }

  /** Tokens at the start that no shift evicts: contextShift.nKeep, else the
   * BOS token when the sequence starts with it. Never more than is cached. */
  get nKeep(): number {
    const cs = this.options.contextShift;
    const n = cs && cs.nKeep !== undefined ? cs.nKeep : this.ids.length > 0 && this.ids[0] === this.session.model.info.bos ? 1 : 0;
    return Math.min(n, this.ids.length);
  }

  /** Makes the cache hold exactly `prompt` and the logits be those after
   * its last token, evaluating as little as possible. A prompt longer than
   * the context is a ContextFullError that leaves the cache as it was. */
  async prefill(prompt: readonly number[], opts: PrefillOptions = {}): Promise<PrefillResult> {
    if (prompt.length === 0) throw new HobError('argument/invalid', 'prefill needs at least one token');
    const contextSize = this.session.nCtx;
    if (prompt.length > contextSize) {
      throw new ContextFullError('context/overflow', `the prompt's ${prompt.length} tokens do not fit in a context of ${contextSize}`, {
        promptTokens: prompt.length, contextSize,
      });
    }
    const withImages = prompt.some((t) => t < 0);
    if (withImages) this.checkImages(prompt, opts.images);
    let common = this.imagePrefix(prompt, opts.images);
    let edited: { position: number; evicted: number } | null = null;
    if (common < this.ids.length && this.shiftEnabled && common >= this.nKeep) {
      const span = this.editedSpan(prompt, common);
      if (span > 0 && (!this.checkpoints || this.session.canErase(common, common + span))) {
        this.evict('prompt-edit', common, span);
        common = this.imagePrefix(prompt, opts.images);
      } else if (span > 0) {
        edited = { position: common, evicted: span };
      }
    }
    if (this.checkpoints) return this.prefillRecurrent(prompt, common, edited, opts);
    // The last prompt token is always evaluated: its logits are needed, and
    // the cache keeps entries, not logits. (An image there is evaluated whole.)
    if (common === prompt.length) common = cutBefore(this.promptSpans(prompt, opts.images, false), common - 1);
    this.truncate(common);
    const rest = prompt.slice(common);
    const logits = await this.evalRest(rest, opts);
    if (withImages || this.cachedImages.size > 0) this.forgetImages();
    return { reused: common, evaluated: rest.length, logits };
  }

  /** Evaluates tokens after the cached ones, an image's rows together as
   *  embedding rows, text in chunks for a progress report; the prompt as a
   *  whole was checked against the context, so a chunk never fails for lack
   *  of room. Starts at no image's middle (the cuts see to it). */
  private async evalRest(rest: readonly number[], opts: PrefillOptions): Promise<StepLogits> {
    const chunk = opts.onProgress ? Math.max(1, opts.chunkTokens ?? 128) : rest.length;
    const rowsDone = new Map<number, number>();
    let logits: StepLogits | undefined;
    for (let i = 0; i < rest.length;) {
      let end = i + 1;
      if (rest[i] < 0) while (end < rest.length && rest[end] === rest[i]) end++;
      else while (end < rest.length && rest[end] >= 0 && end - i < chunk) end++;
      const part = rest.slice(i, end);
      if (part[0] < 0) {
        const img = opts.images!.get(part[0])!;
        const from = rowsDone.get(img.id) ?? 0;
        rowsDone.set(img.id, from + part.length);
        await img.ready();
        logits = await this.evalRows(img, from, part.length, end === rest.length ? opts.pick : null);
      } else {
        logits = await this.session.eval(part, end === rest.length ? { pick: opts.pick } : {});
      }
      this.ids.push(...part);
      i = end;
      opts.onProgress?.({ loaded: i, total: rest.length });
    }
    return logits!;
  }

  /** Rows [from, from + n) of an image (one sub-image), with the attention
   *  its projector asks for. */
  private async evalRows(img: PromptImage, from: number, n: number, pick: SamplePick | null | undefined): Promise<StepLogits> {
    const nEmbd = this.session.model.info.nEmbd;
    const rows = img.rows().subarray(from * nEmbd, (from + n) * nEmbd);
    // Gemma 3's image rows attend both ways, in one pass.
    const logits = await this.session.evalEmbeddings(rows, { bidirectional: img.bidirectional, pick });
    this.cachedImages.set(img.id, { key: img.key, lead: img.lead, trail: img.trail });
    return logits;
  }

  /** Every negative id of the prompt is an image it brings; hybrids take none. */
  private checkImages(prompt: readonly number[], images: PromptImages | undefined): void {
    if (this.checkpoints) {
      throw new HobError('image/unsupported', `images need a model whose cache can keep them apart: ${this.session.model.info.architecture}'s recurrent state cannot`);
    }
    const missing = prompt.find((t) => t < 0 && !images?.has(t));
    if (missing !== undefined) throw new HobError('internal', `the prompt's id ${missing} is no image it brings`, { id: missing });
  }

  /** The cached prefix of the prompt, in whole images: the same negative
   *  id with other pixels is another image, and no image's rows are kept in
   *  part (equal marker tokens around them are reused like any text). */
  private imagePrefix(prompt: readonly number[], images: PromptImages | undefined): number {
    let common = commonPrefix(prompt, this.ids);
    if (this.cachedImages.size === 0) return common;
    for (let i = 0; i < common; i++) {
      const t = prompt[i];
      if (t < 0 && images?.get(t)?.key !== this.cachedImages.get(t)?.key) common = i;
    }
    const cached = this.cachedSpans(false);
    const promptSpans = this.promptSpans(prompt, images, false);
    for (let before = -1; before !== common;) {
      before = common;
      common = cutBefore(promptSpans, cutBefore(cached, common));
    }
    return common;
  }

  /** The cached images' spans: with their markers (what a shift evicts
   *  whole), or their rows alone (what an evaluation takes whole). */
  private cachedSpans(markers = true): ImageSpan[] {
    return this.cachedImages.size === 0 ? [] : imageSpans(this.ids, (id) => (markers ? this.cachedImages.get(id) : NO_MARKERS));
  }

  private promptSpans(prompt: readonly number[], images: PromptImages | undefined, markers = true): ImageSpan[] {
    return images && images.size > 0 ? imageSpans(prompt, (id) => (markers ? images.get(id) : NO_MARKERS)) : [];
  }

  /** Drops what the cache no longer holds from the images it knows. */
  private forgetImages(): void {
    const held = new Set(this.ids.filter((t) => t < 0));
    for (const id of this.cachedImages.keys()) if (!held.has(id)) this.cachedImages.delete(id);
  }

  /** prefill for a hybrid model, from the common prefix with the cache:
   *  the logits at hand when the cache holds exactly the prompt; else back
   *  to a checkpoint at or before the first token to evaluate (a span the
   *  prompt dropped is evaluated again without it, a prompt-edit shift),
   *  then forward, checkpointing on the way. */
  private async prefillRecurrent(
    prompt: readonly number[],
    common: number,
    edited: { position: number; evicted: number } | null,
    opts: PrefillOptions,
  ): Promise<PrefillResult> {
    if (common === prompt.length && common === this.ids.length) {
      const logits = this.session.currentLogits();
      if (logits) return { reused: common, evaluated: 0, logits };
    }
    if (common === prompt.length) common--;
    const cached = this.ids.length;
    const from = common < cached ? this.rewind(common) : common;
    if (edited) {
      const kept = cached - edited.evicted;
      this.options.onShift?.({ kind: 'prompt-edit', ...edited, nPast: kept, reevaluated: kept - from });
    }
    const rest = prompt.slice(from);
    const logits = await this.evalForward(rest, { ...opts, checkpointAt: checkpointPositions(from, prompt.length, this.nKeep) });
    return { reused: from, evaluated: rest.length, logits };
  }

  /** Hybrids: restores the latest checkpoint at or before token `pos` (or
   *  the state before any token) and cuts the ids to it; returns its n. */
  private rewind(pos: number): number {
    const slot = this.checkpoints!.best(pos);
    const at = slot >= 0 ? this.session.restoreCheckpoint(slot) : 0;
    if (slot < 0) this.session.truncate(0);
    this.ids.length = at;
    return at;
  }

  /** Evaluates tokens after the cached ones, in chunks for a progress
   *  report, stopping at each position of opts.checkpointAt to checkpoint
   *  the recurrent state there; returns the last token's logits. */
  private async evalForward(tokens: readonly number[], opts: PrefillOptions & { checkpointAt?: number[] }): Promise<StepLogits> {
    const start = this.ids.length;
    const chunk = opts.onProgress ? Math.max(1, opts.chunkTokens ?? 128) : tokens.length;
    const stops = new Set((opts.checkpointAt ?? []).map((p) => p - start));
    let logits: StepLogits | undefined;
    for (let i = 0; i < tokens.length;) {
      const end = Math.min(tokens.length, i + chunk, ...[...stops].filter((p) => p > i));
      const part = tokens.slice(i, end);
      try {
        logits = await this.session.eval(part, end === tokens.length ? { pick: opts.pick } : {});
      } catch (e) {
        // A failed evaluation may have reset the recurrent state.
        this.ids.length = Math.min(this.ids.length, this.session.nPast);
        throw e;
      }
      this.ids.push(...part);
      if (stops.has(end)) this.checkpoints?.save(this.nKeep);
      i = end;
      if (opts.onProgress) opts.onProgress({ loaded: i, total: tokens.length });
    }
    return logits!;
  }

  /** Hybrids: the cache without tokens [position, position + evicted),
   *  where the state cannot drop them in place: back to a checkpoint at
   *  or before `position`, and the kept tokens after it evaluated again. */
  private async reevaluateWithout(kind: ShiftEvent['kind'], position: number, evicted: number): Promise<void> {
    const kept = this.ids.slice(0, position).concat(this.ids.slice(position + evicted));
    const from = this.rewind(position);
    const rest = kept.slice(from);
    if (rest.length > 0) await this.evalForward(rest, { checkpointAt: checkpointPositions(from, kept.length, this.nKeep) });
    this.options.onShift?.({ kind, position, evicted, nPast: this.ids.length, reevaluated: rest.length });
  }

  /** The length of the span [start, start + n) of the cache whose removal
   * makes the cached tokens after it a prefix of prompt[start..], keeping
   * at least MIN_SHIFT_REUSE of them; 0 when there is none. */
  private editedSpan(prompt: readonly number[], start: number): number {
    const cached = this.ids;
    const spans = this.cachedSpans();
    for (let j = start + 1; j + MIN_SHIFT_REUSE <= cached.length; j++) {
      if (spanCut(spans, j)) continue;
      const tail = cached.length - j;
      if (start + tail > prompt.length) continue;
      let k = 0;
      while (k < tail && cached[j + k] === prompt[start + k]) k++;
      if (k === tail) return j - start;
    }
    return 0;
  }

  /** Appends tokens (evaluating them). When they do not fit, the context
   * shifts first (keeping nKeep tokens, evicting contextShift.nDiscard or
   * half of the rest, more if the tokens need it); with contextShift false,
   * or when even that cannot make room, a ContextFullError changes nothing. */
  async append(tokens: readonly number[], opts: EvalOptions = {}): Promise<StepLogits> {
    if (tokens.length === 0) throw new HobError('argument/invalid', 'append needs at least one token');
    const nCtx = this.session.nCtx;
    const nPast = this.ids.length;
    const over = nPast + tokens.length - nCtx;
    if (over > 0) {
      // Images are kept or evicted whole: an image across the kept head is kept.
      const spans = this.cachedSpans();
      const nKeep = cutAfter(spans, this.nKeep);
      const room = nPast - nKeep;
      if (!this.shiftEnabled || over > room) {
        const why = this.shiftEnabled
          ? `even evicting every token after the first ${nKeep} leaves no room`
          : 'context shift is off';
        throw new ContextFullError('context/overflow', `${tokens.length} tokens do not fit: ${nPast} of ${nCtx} context tokens are in use and ${why}`, {
          nCtx, nPast, nTokens: tokens.length, nKeep, contextShift: this.shiftEnabled,
        });
      }
      const cs = this.options.contextShift || {};
      const want = cs.nDiscard ?? Math.floor(room / 2);
      const evicted = cutAfter(spans, nKeep + Math.min(room, Math.max(want, over))) - nKeep;
      if (!this.checkpoints || this.session.canErase(nKeep, nKeep + evicted)) this.evict('overflow', nKeep, evicted);
      else await this.reevaluateWithout('overflow', nKeep, evicted);
    }
    if (this.checkpoints) return this.evalForward(tokens, opts);
    const logits = await this.session.eval(tokens, opts);
    this.ids.push(...tokens);
    return logits;
  }

  /** Decoding ahead (Session.evalAhead): appends `token` and up to n - 1
   * tokens the device picks or draws after it, keeping the ids in step; the
   * logits after each, or null (nothing changed) where it cannot, or the
   * context has no room for two (append then shifts). */
  async appendAhead(token: number, n: number, opts: EvalOptions = {}): Promise<StepLogits[] | null> {
    const room = this.session.nCtx - this.ids.length;
    if (this.checkpoints || room < 2) return null;
    const steps = await this.session.evalAhead(token, Math.min(n, room), opts.pick ?? null);
    if (!steps) return null;
    this.ids.push(token, ...steps.slice(0, -1).map((s) => pickedToken(s.picked!)));
    return steps;
  }

  private evict(kind: ShiftEvent['kind'], position: number, evicted: number): void {
    this.session.erase(position, position + evicted);
    this.ids.splice(position, evicted);
    if (this.cachedImages.size > 0) this.forgetImages();
    this.options.onShift?.({ kind, position, evicted, nPast: this.ids.length });
  }

  /** Evicts tokens [start, end), keeping the ids in step with the cache.
   * The kept head (nKeep) cannot be evicted. */
  erase(start: number, end: number): void {
    const nKeep = this.nKeep;
    if (Number.isInteger(start) && start < nKeep && end > start) {
      throw new HobError('range/out-of-bounds', `cannot erase tokens [${start}, ${end}): the first ${nKeep} tokens are kept`, {
        start, end, nKeep, nPast: this.ids.length,
      });
    }
    this.checkWholeImages(start, end);
    this.session.erase(start, end);
    this.ids.splice(start, end - start);
    if (this.cachedImages.size > 0) this.forgetImages();
  }

  /** Refuses a cut [start, end) that would keep part of an image. */
  private checkWholeImages(start: number, end: number): void {
    const spans = this.cachedSpans(false);
    const cut = spanCut(spans, start) ?? spanCut(spans, end);
    if (cut) {
      throw new HobError('range/out-of-bounds', `cannot erase tokens [${start}, ${end}): the image at [${cut.start}, ${cut.end}) goes whole or not at all`, {
        start, end, imageStart: cut.start, imageEnd: cut.end,
      });
    }
  }

  /** llama.cpp's context shift, keeping the ids in step: keeps the first
   * nKeep tokens and evicts the nDiscard after them. */
  shift(nKeep: number, nDiscard: number): void {
    this.checkWholeImages(nKeep, nKeep + nDiscard);
    this.session.shift(nKeep, nDiscard);
    this.ids.splice(nKeep, nDiscard);
    if (this.cachedImages.size > 0) this.forgetImages();
  }

  /** Forgets every token from position n on (an image cut there is
   *  evaluated whole again by the next prefill, which cuts before it). */
  truncate(n: number): void {
    this.session.truncate(n);
    this.ids.length = n;
  }

  clear(): void {
    this.session.truncate(0);
    this.ids = [];
    this.cachedImages.clear();
  }

  /** A copy of the cache and its token ids (only the used cells). A cache
   *  holding images is a SessionError 'session/unsupported': their rows
   *  have no token ids to save. */
  async save(): Promise<SequenceState> {
    if (this.ids.some((t) => t < 0)) {
      throw new SessionError('session/unsupported', 'a conversation with images cannot be saved as a session', {
        imageTokens: this.ids.filter((t) => t < 0).length,
      });
    }
    const tokens = Int32Array.from(this.ids);
    const kv = await this.session.saveState();
    if (kv.positions.length !== tokens.length) throw new HobError('internal', 'the sequence changed while it was being saved');
    return { kv, tokens };
  }

  /** Replaces the cache and its ids by a saved state: the next prefill
   * reuses its tokens. A state of another shape, or token ids that are not
   * this model's, is a SessionError and changes nothing; a failure while
   * writing leaves the sequence empty. */
  async restore(state: SequenceState): Promise<void> {
    const { kv, tokens } = state;
    checkKvState(kv, this.session.kvShape);
    if (tokens.length !== kv.positions.length) {
      throw new SessionError('session/invalid', `the saved session has ${tokens.length} token ids for ${kv.positions.length} cells`, {
        nTokens: tokens.length, nCells: kv.positions.length,
      });
    }
    const nVocab = this.session.model.info.nVocab;
    const bad = tokens.findIndex((t) => t < 0 || t >= nVocab);
    if (bad >= 0) {
      throw new SessionError('session/invalid', `saved token ${bad} is ${tokens[bad]}, not an id of this vocabulary of ${nVocab}`, { index: bad, token: tokens[bad] });
    }
    this.ids = [];
    this.cachedImages.clear();
    await this.session.restoreState(kv);
    this.ids = Array.from(tokens);
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  while (i < max && a[i] === b[i]) i++;
  return i;
}
