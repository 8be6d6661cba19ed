// The grammar's pushdown automaton, built lazily and memoized: llama.cpp's
// stacks (llama_grammar_stack) become interned frames, a set of stacks
// becomes an interned State, and llama_grammar_accept on a code point becomes
// a transition cached per State. Everything a grammar can blow up (stacks per
// state, stack depth, expansion work, interned frames and states) is counted
// against the limits. The vocabulary and the masks live elsewhere (mask.ts).
import { limitError, type GrammarLimits } from './limits.js';
import {
  ALT, END, RULE_REF, TOKEN, TOKEN_NOT,
  classBounds, classEnd, isTokenTerminal, matchChar, matchPartialChar,
  type Grammar,
} from './rules.js';

/** Frame 0 is the empty stack: the grammar has matched a whole sentence. */
export const EMPTY_STACK = 0;

/** A set of stacks: what the grammar may still match. Immutable but for
 *  its caches; compared by identity (the automaton interns them). */
export class State {
  /** Top frames of the stacks, ascending. */
  readonly stacks: Int32Array;
  readonly hasEmpty: boolean;
  /** Distinct char-class positions on top of stacks, and the stacks under each. */
  readonly charPos: number[] = [];
  readonly charStacks: number[][] = [];
  /** Stacks whose top is a token (TOKEN or TOKEN_NOT) element. */
  readonly tokenStacks: number[] = [];
  readonly tokenIds: number[] = [];
  readonly tokenNotIds: number[] = [];
  /** Transitions on ASCII code points: undefined until computed, null when dead. */
  readonly ascii: (State | null | undefined)[] = new Array(128);
  /** Transitions above ASCII: on [naBounds[i], naBounds[i+1]) every top class is constant. */
  naBounds: number[] | undefined;
  naNext: (State | null | undefined)[] | undefined;
  /** Code points that lead back to this state: ASCII as a 128-bit set, the rest as [lo, hi) runs. */
  selfAscii: Uint32Array | undefined;
  selfRuns: number[] | undefined;
  partialMemo: Map<number, boolean> | undefined;
  charOnlyMemo: State | null | undefined;

  constructor(
    readonly id: number,
    stacks: Int32Array,
    g: Grammar,
    framePos: Int32Array,
  ) {
    this.stacks = stacks;
    let hasEmpty = false;
    for (const s of stacks) {
      if (s === EMPTY_STACK) {
        hasEmpty = true;
        continue;
      }
      const pos = framePos[s];
      const t = g.type[pos];
      if (isTokenTerminal(t)) {
        this.tokenStacks.push(s);
        (t === TOKEN ? this.tokenIds : this.tokenNotIds).push(g.value[pos]);
      } else {
        let i = this.charPos.indexOf(pos);
        if (i < 0) {
          i = this.charPos.length;
          this.charPos.push(pos);
          this.charStacks.push([]);
        }
        this.charStacks[i].push(s);
      }
    }
    this.hasEmpty = hasEmpty;
  }

  /** Whether a token element on top of a stack takes token `id`
   *  (llama_grammar_match_token). */
  tokenMatches(id: number): boolean {
    const u = id >>> 0;
    for (const v of this.tokenIds) if (v === u) return true;
    for (const v of this.tokenNotIds) if (v !== u) return true;
    return false;
  }
}

export class Automaton {
  readonly initial: State;
  private framePos: Int32Array = new Int32Array(1024);
  private frameParent: Int32Array = new Int32Array(1024);
  private frameDepth: Int32Array = new Int32Array(1024);
  private nFrames = 1;
  private readonly frameIndex = new Map<number, number>();
  private readonly closureMemo = new Map<number, Int32Array>();
  private readonly states = new Map<string, State>();
  private readonly afterClass: Int32Array;
  private readonly nPositions: number;

  constructor(
    readonly grammar: Grammar,
    readonly limits: GrammarLimits,
  ) {
    this.nPositions = grammar.type.length + 1;
    this.afterClass = new Int32Array(grammar.type.length).fill(-1);
    this.framePos[0] = -1;
    this.frameParent[0] = -1;
    // llama_grammar_init_impl: one stack per alternative of the root, expanded.
    const g = grammar;
    const acc = new Set<number>();
    let p = g.ruleStart[g.root];
    for (;;) {
      const start = this.isEnd(p) ? EMPTY_STACK : this.push(EMPTY_STACK, p);
      for (const f of this.closure(start)) acc.add(f);
      while (!this.isEnd(p)) p++;
      if (g.type[p] === ALT) p++;
      else break;
    }
    this.checkSize(acc.size);
    const initial = this.stateOf(acc);
    // Every alternative yields at least one stack (an empty one at worst).
    if (!initial) throw new Error('grammar has no initial stacks');
    this.initial = initial;
  }

  get frameCount(): number {
    return this.nFrames;
  }

  get stateCount(): number {
    return this.states.size;
  }

  private isEnd(pos: number): boolean {
    const t = this.grammar.type[pos];
    return t === END || t === ALT;
  }

  /** The frame for `pos` on top of stack `parent`, interned. */
  private push(parent: number, pos: number): number {
    const key = parent * this.nPositions + pos;
    const hit = this.frameIndex.get(key);
    if (hit !== undefined) return hit;
    const depth = this.frameDepth[parent] + 1;
    if (depth > this.limits.maxStackDepth) throw limitError('maxStackDepth', this.limits.maxStackDepth, `stack depth (rule "${this.ruleAt(pos)}")`);
    if (this.nFrames >= this.limits.maxStackFrames) throw limitError('maxStackFrames', this.limits.maxStackFrames, 'distinct stack frames');
    if (this.nFrames === this.framePos.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.framePos = grow(this.framePos);
      this.frameParent = grow(this.frameParent);
      this.frameDepth = grow(this.frameDepth);
    }
    const id = this.nFrames++;
    this.framePos[id] = pos;
    this.frameParent[id] = parent;
    this.frameDepth[id] = depth;
    this.frameIndex.set(key, id);
    return id;
  }

  private ruleAt(pos: number): string {
    const starts = this.grammar.ruleStart;
    let r = 0;
    for (let i = 0; i < starts.length; i++) if (starts[i] <= pos && starts[i] >= starts[r]) r = i;
    return this.grammar.ruleNames[r];
  }

  private checkSize(n: number): void {
    if (n > this.limits.maxStacks) throw limitError('maxStacks', this.limits.maxStacks, `stacks after one code point (${n})`);
  }

  /**
   * The stacks a stack expands to, each topped by a terminal (or empty):
   * llama_grammar_advance_stack, memoized per frame. A rule reference is
   * replaced by each of its alternatives, on top of what follows the
   * reference (nothing, when the reference ends its alternative).
   */
  closure(frame: number): Int32Array {
    const hit = this.closureMemo.get(frame);
    if (hit) return hit;
    const g = this.grammar;
    if (frame === EMPTY_STACK || g.type[this.framePos[frame]] !== RULE_REF) {
      const one = Int32Array.of(frame);
      this.closureMemo.set(frame, one);
      return one;
    }
    const seen = new Set<number>();
    const todo = [frame];
    const out: number[] = [];
    let steps = 0;
    while (todo.length) {
      const cur = todo.pop()!;
      if (seen.has(cur)) continue;
      seen.add(cur);
      if (++steps > this.limits.maxExpansionSteps) {
        throw limitError('maxExpansionSteps', this.limits.maxExpansionSteps, `expansion of rule "${this.ruleAt(this.framePos[frame])}"`);
      }
      if (cur === EMPTY_STACK) {
        out.push(cur);
        continue;
      }
      const p = this.framePos[cur];
      if (g.type[p] !== RULE_REF) {
        out.push(cur);
        continue;
      }
      const base = this.frameParent[cur];
      const cont = this.isEnd(p + 1) ? base : this.push(base, p + 1);
      let sub = g.ruleStart[g.value[p]];
      for (;;) {
        todo.push(this.isEnd(sub) ? cont : this.push(cont, sub));
        while (!this.isEnd(sub)) sub++;
        if (g.type[sub] === ALT) sub++;
        else break;
      }
    }
    this.checkSize(out.length);
    const result = Int32Array.from(out);
    this.closureMemo.set(frame, result);
    return result;
  }

  /** The state of a set of stacks, interned; null for the empty set (dead). */
  stateOf(frames: Iterable<number>): State | null {
    const sorted = Int32Array.from(frames).sort();
    if (sorted.length === 0) return null;
    const key = sorted.join(',');
    let s = this.states.get(key);
    if (!s) {
      if (this.states.size >= this.limits.maxStates) throw limitError('maxStates', this.limits.maxStates, 'distinct matcher states');
      s = new State(this.states.size, sorted, this.grammar, this.framePos);
      this.states.set(key, s);
    }
    return s;
  }

  /** Pops `frame` and pushes `next` unless it ends the alternative, then expands. */
  private advance(frame: number, next: number, acc: Set<number>): void {
    const base = this.frameParent[frame];
    for (const f of this.closure(this.isEnd(next) ? base : this.push(base, next))) acc.add(f);
    this.checkSize(acc.size);
  }

  private classEndOf(pos: number): number {
    let e = this.afterClass[pos];
    if (e < 0) e = this.afterClass[pos] = classEnd(this.grammar, pos);
    return e;
  }

  /** llama_grammar_accept of one code point on every stack of `s`. Stacks
   *  topped by a token element, and the empty stack, do not survive it. */
  private step(s: State, c: number): State | null {
    const acc = new Set<number>();
    for (let i = 0; i < s.charPos.length; i++) {
      const pos = s.charPos[i];
      if (!matchChar(this.grammar, pos, c)) continue;
      const after = this.classEndOf(pos);
      for (const st of s.charStacks[i]) this.advance(st, after, acc);
    }
    return this.stateOf(acc);
  }

  /** The state after code point `c`, or null if no stack takes it. */
  next(s: State, c: number): State | null {
    if (c < 128) {
      let t = s.ascii[c];
      if (t === undefined) t = s.ascii[c] = this.step(s, c);
      return t;
    }
    const bounds = this.naBoundsOf(s);
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bounds[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    const nx = s.naNext!;
    let t = nx[lo];
    if (t === undefined) t = nx[lo] = this.step(s, bounds[lo]);
    return t;
  }

  naBoundsOf(s: State): number[] {
    if (s.naBounds) return s.naBounds;
    const raw: number[] = [];
    for (const pos of s.charPos) classBounds(this.grammar, pos, raw);
    const bounds = [128, ...raw.filter((b) => b > 128)].sort((a, b) => a - b);
    const unique = bounds.filter((b, i) => i === 0 || b !== bounds[i - 1]);
    s.naBounds = unique;
    s.naNext = new Array(unique.length);
    return unique;
  }

  /** Computes which code points lead from `s` back to `s` (the walk over the
   *  vocabulary accepts whole subtrees that stay there). */
  selfLoops(s: State): void {
    if (s.selfAscii) return;
    const ascii = new Uint32Array(4);
    for (let c = 0; c < 128; c++) if (this.next(s, c) === s) ascii[c >> 5] |= 1 << (c & 31);
    const bounds = this.naBoundsOf(s);
    const runs: number[] = [];
    for (let i = 0; i < bounds.length; i++) {
      if (this.next(s, bounds[i]) !== s) continue;
      const hi = i + 1 < bounds.length ? bounds[i + 1] : Infinity;
      if (runs.length && runs[runs.length - 1] === bounds[i]) runs[runs.length - 1] = hi;
      else runs.push(bounds[i], hi);
    }
    s.selfRuns = runs;
    s.selfAscii = ascii;
  }

  /** Whether a token ending in an unfinished character may stop in `s`:
   *  some char-class top could take a completion of it. */
  acceptsPartial(s: State, value: number, rem: number): boolean {
    const key = value * 8 + rem + 1;
    let memo = s.partialMemo;
    if (!memo) memo = s.partialMemo = new Map();
    let r = memo.get(key);
    if (r === undefined) {
      r = false;
      for (const pos of s.charPos) {
        if (matchPartialChar(this.grammar, pos, value, rem)) {
          r = true;
          break;
        }
      }
      memo.set(key, r);
    }
    return r;
  }

  /** The stacks that token `id` advances by its token element, expanded
   *  (the token half of llama_grammar_accept_token). */
  tokenStep(s: State, id: number, acc: Set<number>): void {
    const g = this.grammar;
    const u = id >>> 0;
    for (const st of s.tokenStacks) {
      const pos = this.framePos[st];
      const v = g.value[pos];
      if (g.type[pos] === TOKEN ? v === u : v !== u) this.advance(st, pos + 1, acc);
    }
  }

  /** `s` without its token-topped stacks and its empty stack: what a token
   *  that brings no complete code point leaves of the char stacks. */
  charOnly(s: State): State | null {
    if (s.charOnlyMemo === undefined) {
      const frames: number[] = [];
      for (const list of s.charStacks) frames.push(...list);
      s.charOnlyMemo = this.stateOf(frames);
    }
    return s.charOnlyMemo;
  }

  /** The union of two states' stacks. */
  union(a: State | null, b: State | null): State | null {
    if (!a) return b;
    if (!b || a === b) return a;
    const all = new Set<number>(a.stacks);
    for (const f of b.stacks) all.add(f);
    this.checkSize(all.size);
    return this.stateOf(all);
  }

  /** Whether `s` was made by this automaton (a snapshot from another matcher is not). */
  owns(s: State): boolean {
    return this.states.get(s.stacks.join(',')) === s;
  }

  /** For tests: the stacks of a state as lists of element positions, bottom first. */
  describe(s: State): number[][] {
    return [...s.stacks].map((f) => {
      const out: number[] = [];
      for (let x = f; x !== EMPTY_STACK; x = this.frameParent[x]) out.push(this.framePos[x]);
      return out.reverse();
    });
  }
}
