// A grammar constraining one generation: which tokens may come next, and the
// state after each accepted token, with llama.cpp's semantics
// (llama_grammar_apply_impl, llama_grammar_accept_impl, its lazy triggers).
// States are immutable values, so save/restore (for a generation loop that
// takes tokens back) is O(1). The automaton and the mask cache belong to the
// matcher and its clones; the grammar and the vocabulary index are shared.
import { GrammarError, HobError } from '../../shared/errors.js';
import { Automaton, type State } from './automaton.js';
import { resolveLimits, limitError, type GrammarLimits } from './limits.js';
import { MaskBuilder, tokenAllowed } from './mask.js';
import type { Grammar } from './rules.js';
import { bytesToLatin1, latin1ToBytes, triggerPatterns, type GrammarTrigger, type TriggerPattern } from './trigger.js';
import { NO_PARTIAL, decodePiece, type PartialUtf8 } from './utf8.js';
import { KIND_EOG, type GrammarVocab } from './vocab.js';

export interface GrammarMatcherOptions {
  /** A lazy grammar allows every token until a trigger fires, then
   *  constrains the text from the trigger on (llama.cpp's grammar_lazy). */
  lazy?: { readonly triggers: readonly GrammarTrigger[] };
  limits?: Partial<GrammarLimits>;
}

/** A token fed to a lazy grammar before its trigger: its span in the buffer. */
interface Buffered {
  readonly token: number;
  readonly start: number;
  readonly end: number;
  readonly prev: Buffered | null;
}

/** An opaque, immutable matcher state (see GrammarMatcher.save). */
export interface GrammarSnapshot {
  readonly owner: object;
  readonly state: State;
  readonly partial: PartialUtf8;
  readonly awaiting: boolean;
  readonly buffer: string;
  readonly buffered: Buffered | null;
}

/** Masks kept per state before the cache starts over (a mask over 151k tokens is 19 KB). */
const MASK_CACHE_SIZE = 256;
/** filter() with more ids than this builds the whole mask instead of testing one by one. */
const FILTER_VIA_MASK = 512;

interface Shared {
  readonly automaton: Automaton;
  readonly masks: MaskBuilder;
  readonly maskCache: Map<State, Uint32Array>;
  /** maskLogits's mask (one call at a time: JavaScript runs it to the end). */
  readonly scratch: Uint32Array;
  readonly patterns: readonly TriggerPattern[];
  readonly triggerTokens: ReadonlySet<number>;
}

export class GrammarMatcher {
  private readonly shared: Shared;
  private state: State;
  private partial: PartialUtf8 = NO_PARTIAL;
  private awaiting: boolean;
  private buffer = '';
  private buffered: Buffered | null = null;

  constructor(
    readonly grammar: Grammar,
    readonly vocab: GrammarVocab,
    opts: GrammarMatcherOptions = {},
  ) {
    const limits = resolveLimits(opts.limits);
    const automaton = new Automaton(grammar, limits);
    const triggers = opts.lazy?.triggers ?? [];
    const triggerTokens = new Set<number>();
    for (const t of triggers) if (t.type === 'token') triggerTokens.add(t.token);
    this.shared = {
      automaton,
      masks: new MaskBuilder(automaton, vocab),
      maskCache: new Map(),
      scratch: new Uint32Array((vocab.nVocab + 31) >>> 5),
      patterns: triggerPatterns(triggers),
      triggerTokens,
    };
    this.state = automaton.initial;
    this.awaiting = opts.lazy !== undefined;
  }

  /** An independent matcher in the same state, sharing this one's caches. */
  clone(): GrammarMatcher {
    const m = Object.create(GrammarMatcher.prototype) as GrammarMatcher;
    Object.assign(m, { grammar: this.grammar, vocab: this.vocab, shared: this.shared });
    m.restore(this.save());
    return m;
  }

  /** Words of the masks fillMask writes: one bit per token id. */
  get maskWords(): number {
    return (this.vocab.nVocab + 31) >>> 5;
  }

  /** A lazy grammar still waiting for its trigger (every token is allowed). */
  get awaitingTrigger(): boolean {
    return this.awaiting;
  }

  /** The grammar has matched a whole sentence: some stack is empty. */
  get isComplete(): boolean {
    return this.state.hasEmpty;
  }

  /** End of generation is allowed now (complete, or not yet triggered). */
  get eogAllowed(): boolean {
    return this.awaiting || this.state.hasEmpty;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.nVocab) {
      throw new HobError('argument/invalid', `token ${id} is not in the vocabulary of ${this.vocab.nVocab}`, { token: id, nVocab: this.vocab.nVocab });
    }
  }

  /** Whether token `id` may come next: cheap, for checking the one token a
   *  sampler drew before masking the whole vocabulary. */
  allows(id: number): boolean {
    this.checkId(id);
    if (this.awaiting) return true;
    return tokenAllowed(this.shared.automaton, this.vocab, this.state, this.partial, id);
  }

  /** Writes the allowed set into `mask` (bit id % 32 of word id >> 5). */
  fillMask(mask: Uint32Array): void {
    const words = this.maskWords;
    if (mask.length < words) throw new HobError('argument/invalid', `a mask over ${this.vocab.nVocab} tokens needs ${words} words, got ${mask.length}`, { words, got: mask.length });
    if (this.awaiting) {
      mask.fill(~0, 0, words);
      const spare = words * 32 - this.vocab.nVocab;
      if (spare) mask[words - 1] = ~0 >>> spare;
      return;
    }
    const { masks, maskCache } = this.shared;
    if (this.partial.rem > 0) {
      masks.buildPartial(this.state, this.partial, mask);
      return;
    }
    const hit = maskCache.get(this.state);
    if (hit) {
      mask.set(hit);
      return;
    }
    masks.build(this.state, mask);
    if (maskCache.size >= MASK_CACHE_SIZE) maskCache.clear();
    maskCache.set(this.state, mask.slice(0, words));
  }

  /** Keeps, in place, the first `n` ids that are allowed; returns how many. */
  filter(ids: Int32Array | number[], n: number = ids.length): number {
    if (this.awaiting) return n;
    let kept = 0;
    if (n > FILTER_VIA_MASK) {
      const mask = new Uint32Array(this.maskWords);
      this.fillMask(mask);
      for (let i = 0; i < n; i++) {
        const id = ids[i];
        this.checkId(id);
        if ((mask[id >>> 5] >>> (id & 31)) & 1) ids[kept++] = id;
      }
    } else {
      for (let i = 0; i < n; i++) if (this.allows(ids[i])) ids[kept++] = ids[i];
    }
    return kept;
  }

  /** Sets the logit of every token the grammar does not allow to -Infinity. */
  maskLogits(logits: Float32Array): void {
    if (this.awaiting) return;
    const mask = this.shared.scratch;
    this.fillMask(mask);
    const n = Math.min(logits.length, this.vocab.nVocab);
    // A word at a time: outside strings nearly every word refuses all its 32
    // tokens, and runs of such words are filled natively; inside strings
    // nearly every word allows all 32, and is skipped.
    let run = -1; // first word of the current run of all-refused words
    for (let w = 0; w < mask.length; w++) {
      const bits = mask[w];
      if (bits === 0) {
        if (run < 0) run = w;
        continue;
      }
      if (run >= 0) {
        logits.fill(-Infinity, Math.min(run << 5, n), Math.min(w << 5, n));
        run = -1;
      }
      if (bits === 0xffffffff) continue;
      const base = w << 5;
      for (let refused = ~bits; refused !== 0; refused &= refused - 1) {
        const id = base + 31 - Math.clz32(refused & -refused);
        if (id < n) logits[id] = -Infinity;
      }
    }
    if (run >= 0) logits.fill(-Infinity, Math.min(run << 5, n), n);
  }

  /** Advances past token `id`; throws GrammarError('grammar/rejected') if it
   *  is not allowed, the state unchanged. */
  accept(id: number): void {
    this.checkId(id);
    if (this.awaiting) {
      this.acceptAwaiting(id);
      return;
    }
    if (!tokenAllowed(this.shared.automaton, this.vocab, this.state, this.partial, id)) throw this.rejected(id, this.vocab.piece(id));
    // An allowed end of generation leaves the grammar as it is.
    if (this.vocab.kind[id] === KIND_EOG) return;
    this.acceptPiece(id, this.vocab.piece(id));
  }

  /**
   * Feeds token `id` with text `piece` (llama_grammar_accept_token): token
   * elements take it by id, char stacks take its code points (continuing an
   * unfinished character). No check against the mask and no special case for
   * end of generation: for replaying text, and for tests. Throws
   * GrammarError('grammar/rejected') when no stack survives, the state unchanged.
   */
  acceptPiece(id: number, piece: Uint8Array): void {
    const a = this.shared.automaton;
    const d = decodePiece(piece, 0, piece.length, this.partial);
    const byToken = new Set<number>();
    a.tokenStep(this.state, id, byToken);
    let byChars: State | null;
    if (d.cps.length === 0) {
      byChars = a.charOnly(this.state);
    } else {
      byChars = this.state;
      for (const c of d.cps) {
        byChars = a.next(byChars, c);
        if (!byChars) break;
      }
    }
    const next = a.union(a.stateOf(byToken), byChars);
    if (!next) throw this.rejected(id, piece);
    this.state = next;
    this.partial = d.rem === 0 ? NO_PARTIAL : { value: d.value, rem: d.rem };
  }

  private rejected(id: number, piece: Uint8Array): GrammarError {
    const text = new TextDecoder().decode(piece);
    return new GrammarError('grammar/rejected', `the grammar does not allow token ${id} (${JSON.stringify(text)}) here`, { token: id, piece: text });
  }

  /** A lazy grammar before its trigger (llama_grammar_accept_impl's first branch). */
  private acceptAwaiting(id: number): void {
    const { triggerTokens, patterns, automaton } = this.shared;
    const piece = this.vocab.piece(id);
    if (triggerTokens.has(id)) {
      const saved = this.save();
      this.awaiting = false;
      this.buffer = '';
      this.buffered = null;
      try {
        this.acceptPiece(id, piece);
      } catch (e) {
        this.restore(saved);
        throw e;
      }
      return;
    }
    const start = this.buffer.length;
    const buffer = this.buffer + bytesToLatin1(piece);
    const cap = automaton.limits.maxTriggerBufferBytes;
    if (buffer.length > cap) throw limitError('maxTriggerBufferBytes', cap, `text before the trigger (${buffer.length} bytes)`);
    const buffered: Buffered = { token: id, start, end: buffer.length, prev: this.buffered };
    for (const pattern of patterns) {
      const at = pattern.find(buffer);
      if (at < 0) continue;
      // Replay the tokens from the trigger on; the first may start mid-piece.
      const replay: Buffered[] = [];
      for (let b: Buffered | null = buffered; b && b.end > at; b = b.prev) replay.push(b);
      const saved = this.save();
      this.awaiting = false;
      this.buffer = '';
      this.buffered = null;
      try {
        for (let i = replay.length - 1; i >= 0; i--) {
          const b = replay[i];
          this.acceptPiece(b.token, latin1ToBytes(buffer.slice(Math.max(b.start, at), b.end)));
        }
      } catch (e) {
        this.restore(saved);
        throw e;
      }
      return;
    }
    this.buffer = buffer;
    this.buffered = buffered;
  }

  /** The current state as an immutable value (O(1)). */
  save(): GrammarSnapshot {
    return Object.freeze({
      owner: this.shared,
      state: this.state,
      partial: this.partial,
      awaiting: this.awaiting,
      buffer: this.buffer,
      buffered: this.buffered,
    });
  }

  /** Returns to a state saved from this matcher or one of its clones. */
  restore(s: GrammarSnapshot): void {
    if (s.owner !== this.shared) throw new HobError('argument/invalid', 'grammar snapshot comes from another matcher');
    this.state = s.state;
    this.partial = s.partial;
    this.awaiting = s.awaiting;
    this.buffer = s.buffer;
    this.buffered = s.buffered;
  }
}

/**
 * Whether the grammar matches `text` exactly (what node-llama-cpp's
 * isTextCompatible answers with llama_grammar_accept on each code point, no
 * vocabulary). Token elements match nothing here.
 */
export function grammarMatchesText(grammar: Grammar, text: string, limits?: Partial<GrammarLimits>): boolean {
  const a = new Automaton(grammar, resolveLimits(limits));
  let s: State | null = a.initial;
  for (const ch of text) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate arrives as U+FFFD in UTF-8
    s = a.next(s, c);
    if (!s) return false;
  }
  return s.hasEmpty;
}
