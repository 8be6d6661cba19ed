// The grammar's pushdown automaton, built lazily and memoized: llama.cpp's
// stacks (llama_grammar_stack) become interned frames, a set of stacks
// becomes an interned State, and llama_grammar_accept on a code point becomes
// a transition cached per State. Everything a grammar can blow up (stacks per
// state, stack depth, expansion work, interned frames and states) is counted
// against the limits. The vocabulary and the masks live elsewhere (mask.ts).
import { limitError, type GrammarLimits } from './limits.js';
import {
  ALT, CHAR_ALT, CHAR_ANY, CHAR_NOT, CHAR_RNG_UPPER, END, RULE_REF, TOKEN, TOKEN_NOT,
  classBounds, classEnd, isTokenTerminal, matchChar, matchPartialChar,
  type Grammar,
} from './rules.js';

/** Keys of code point sets given to uniformNext are below this. */
export const UNIFORM_KEYS = 2 ** 22;
const UNIFORM_MEMO_SIZE = 1 << 18;

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
  /** The char-class positions on top, as a key: states with the same tops
   *  agree on every unfinished character, so they share those answers. */
  readonly topKey: string;
  partialMemo: Map<number, boolean> | undefined;
  /** Per partial kind of the vocabulary (GrammarVocab.posKind): 0 unknown, 1 yes, 2 no. */
  partialKinds: Int8Array | undefined;
  /** The answer for every well-formed unfinished character when the tops
   *  decide it alone (classes of ASCII only, '.'), null when it depends on
   *  the character; undefined until computed. */
  partialConst: boolean | null | undefined;
  charOnlyMemo: State | null | undefined;
  /** Scratch for uniformDepth: the walk that last passed through this state. */
  walkMark = 0;

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
    this.topKey = [...this.charPos].sort((a, b) => a - b).join(',');
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
  /** uniformNext and uniformDepth answers by state and code point set
   *  (bounded: they start over when full). */
  private readonly uniformMemo = new Map<number, State | null | false>();
  private readonly depthMemo = new Map<number, number>();
  private walks = 0;
  /** Answers about unfinished characters, shared by states with the same tops. */
  private readonly partialByTops = new Map<string, { memo: Map<number, boolean>; kinds: Int8Array | undefined }>();
  /** Scratch for collecting distinct frames: a frame is in `acc` when its mark is the epoch. */
  private mark: Int32Array = new Int32Array(1024);
  private epoch = 0;
  private readonly acc: number[] = [];

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

  /** advance() into the scratch collector (the hot path: no allocation). */
  private advanceInto(frame: number, next: number): void {
    const base = this.frameParent[frame];
    const frames = this.closure(this.isEnd(next) ? base : this.push(base, next));
    if (this.mark.length < this.nFrames) {
      const grown = new Int32Array(Math.max(this.nFrames, this.mark.length * 2));
      grown.set(this.mark);
      this.mark = grown;
    }
    const mark = this.mark;
    const epoch = this.epoch;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (mark[f] !== epoch) {
        mark[f] = epoch;
        this.acc.push(f);
      }
    }
    this.checkSize(this.acc.length);
  }

  private classEndOf(pos: number): number {
    let e = this.afterClass[pos];
    if (e < 0) e = this.afterClass[pos] = classEnd(this.grammar, pos);
    return e;
  }

  /** llama_grammar_accept of one code point on every stack of `s`. Stacks
   *  topped by a token element, and the empty stack, do not survive it. */
  private step(s: State, c: number): State | null {
    this.epoch = (this.epoch + 1) | 0;
    if (this.epoch === 0) {
      this.mark.fill(0);
      this.epoch = 1;
    }
    this.acc.length = 0;
    for (let i = 0; i < s.charPos.length; i++) {
      const pos = s.charPos[i];
      if (!matchChar(this.grammar, pos, c)) continue;
      const after = this.classEndOf(pos);
      for (const st of s.charStacks[i]) this.advanceInto(st, after);
    }
    return this.acc.length ? this.stateOf(this.acc) : null;
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

  /**
   * The one state every code point of a set leads to from `s`; false when
   * none leads anywhere; null when they part ways or only some die. The set
   * is ASCII as 128 bits at ascii[at..at+4) plus every code point in
   * [lo, hi] above ASCII (none when lo > hi); `key` names it for the memo.
   * A mask takes a whole subtree of the vocabulary when its code points lead
   * uniformly, level by level, to live states (a state looping on itself, or
   * a counter like char{0,60} still far from its end), and drops what lies
   * below the level where they all die.
   */
  uniformNext(s: State, ascii: Uint32Array, at: number, lo: number, hi: number, key: number): State | null | false {
    const memoKey = s.id * UNIFORM_KEYS + key;
    const hit = this.uniformMemo.get(memoKey);
    if (hit !== undefined) return hit;
    let target: State | undefined;
    let dead = false;
    let mixed = false;
    const meet = (t: State | null): void => {
      if (!t) dead = true;
      else if (target === undefined) target = t;
      else if (t !== target) mixed = true;
      if (dead && target) mixed = true;
    };
    for (let w = 0; w < 4 && !mixed; w++) {
      let bits = ascii[at + w];
      while (bits !== 0 && !mixed) {
        const low = bits & -bits;
        const c = (w << 5) + 31 - Math.clz32(low);
        meet(s.ascii[c] ?? this.next(s, c));
        bits ^= low;
      }
    }
    if (!mixed && lo <= hi) {
      const bounds = this.naBoundsOf(s);
      let i = 0;
      let j = bounds.length - 1;
      while (i < j) {
        const mid = (i + j + 1) >> 1;
        if (bounds[mid] <= lo) i = mid;
        else j = mid - 1;
      }
      for (; i < bounds.length && bounds[i] <= hi && !mixed; i++) meet(this.next(s, Math.max(bounds[i], lo)));
    }
    const r = mixed ? null : (target ?? false);
    if (this.uniformMemo.size >= UNIFORM_MEMO_SIZE) this.uniformMemo.clear();
    this.uniformMemo.set(memoKey, r);
    return r;
  }

  /**
   * How many levels of the code point set `key` (see uniformNext) lead from
   * `s` through live states, uniformly, counted up to `cap` (Infinity when
   * the chain comes back to a state on it, as a loop on a state does).
   */
  uniformDepth(s: State, ascii: Uint32Array, at: number, lo: number, hi: number, key: number, cap: number): number {
    const path: State[] = [];
    const walk = ++this.walks;
    let cur = s;
    // base: the depth of the state after the path (-1 after a dead end).
    let base: number;
    let exact = true;
    for (;;) {
      const known = this.depthMemo.get(cur.id * UNIFORM_KEYS + key);
      if (known !== undefined) {
        base = known;
        break;
      }
      if (cur.walkMark === walk) {
        base = Infinity;
        break;
      }
      if (path.length >= cap) {
        base = 0;
        exact = false;
        break;
      }
      path.push(cur);
      cur.walkMark = walk;
      const nx = this.uniformNext(cur, ascii, at, lo, hi, key);
      if (!nx) {
        base = -1;
        break;
      }
      cur = nx;
    }
    if (this.depthMemo.size + path.length >= UNIFORM_MEMO_SIZE) this.depthMemo.clear();
    for (let i = path.length - 1; i >= 0; i--) {
      base = base === Infinity ? Infinity : base + 1;
      if (exact) this.depthMemo.set(path[i].id * UNIFORM_KEYS + key, base);
    }
    return base;
  }

  private partialShared(s: State): { memo: Map<number, boolean>; kinds: Int8Array | undefined } {
    let shared = this.partialByTops.get(s.topKey);
    if (!shared) {
      shared = { memo: new Map(), kinds: undefined };
      this.partialByTops.set(s.topKey, shared);
    }
    return shared;
  }

  /** Whether a token ending in an unfinished character may stop in `s`:
   *  some char-class top could take a completion of it. */
  acceptsPartial(s: State, value: number, rem: number): boolean {
    const memo = (s.partialMemo ??= this.partialShared(s).memo);
    const key = value * 8 + rem + 1;
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

  /**
   * acceptsPartial for the vocabulary's partial kind `kind` (a dense table
   * shared by states with the same tops). Every well-formed unfinished
   * character could complete only above ASCII, so a class of ASCII items
   * alone never meets it: a positive one refuses it, a negated one takes it,
   * whatever the character; most states are decided that way.
   */
  acceptsPartialKind(s: State, kind: number, value: number, rem: number, nKinds: number): boolean {
    if (rem < 0 || (rem === 1 && value < 2)) return false;
    let c = s.partialConst;
    if (c === undefined) c = s.partialConst = this.partialConstant(s);
    if (c !== null) return c;
    let table = s.partialKinds;
    if (!table) {
      const shared = this.partialShared(s);
      table = s.partialKinds = shared.kinds ??= new Int8Array(nKinds);
    }
    let r = table[kind];
    if (r === 0) r = table[kind] = this.acceptsPartial(s, value, rem) ? 1 : 2;
    return r === 1;
  }

  private partialConstant(s: State): boolean | null {
    const { type, value } = this.grammar;
    let depends = false;
    for (const start of s.charPos) {
      if (type[start] === CHAR_ANY) return true;
      let asciiOnly = true;
      let pos = start;
      do {
        const hi = type[pos + 1] === CHAR_RNG_UPPER ? value[pos + 1] : value[pos];
        if (hi >= 0x80) asciiOnly = false;
        pos += type[pos + 1] === CHAR_RNG_UPPER ? 2 : 1;
      } while (type[pos] === CHAR_ALT);
      if (!asciiOnly) depends = true;
      else if (type[start] === CHAR_NOT) return true;
    }
    return depends ? null : false;
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
