// Which tokens a grammar state allows, by llama.cpp's rules
// (llama_grammar_apply_impl and llama_grammar_reject_candidates_for_stack):
// a token passes when some path through the stacks consumes its code points
// and it ends where a stack may stop (a complete character, or an unfinished
// one some class could still complete); a token element on top of a stack
// takes the token by id while code points remain; end-of-generation tokens
// pass exactly when a stack is empty. tokenAllowed decides one token;
// MaskBuilder decides the whole vocabulary by walking the trie once, taking
// or dropping whole subtrees where the state cannot change below them.
import { HobError } from '../../shared/errors.js';
import { Automaton, UNIFORM_KEYS, type State } from './automaton.js';
import { decodePiece, type PartialUtf8 } from './utf8.js';
import { KIND_EOG, KIND_INVALID, KIND_NEVER, type GrammarVocab } from './vocab.js';

/** Subtrees of at most this many nodes are walked rather than tested whole. */
const WALK_SMALLER = 8;

/** Whether token `id` is allowed in state `s` after `partial` (llama.cpp's verdict for one candidate). */
export function tokenAllowed(a: Automaton, v: GrammarVocab, s: State, partial: PartialUtf8, id: number): boolean {
  const kind = v.kind[id];
  if (kind === KIND_EOG) return s.hasEmpty;
  if (kind === KIND_NEVER) return false;
  let cps: ArrayLike<number>;
  let i: number;
  let end: number;
  let endRem: number;
  let endValue: number;
  if (partial.rem > 0) {
    const d = decodePiece(v.bytes, v.byteStart[id], v.byteStart[id + 1], partial);
    if (d.rem < 0) return false;
    cps = d.cps;
    i = 0;
    end = d.cps.length;
    endRem = d.rem;
    endValue = d.value;
  } else {
    if (kind === KIND_INVALID) return false;
    cps = v.cps;
    i = v.cpStart[id];
    end = v.cpStart[id + 1];
    endRem = v.endRem[id];
    endValue = v.endValue[id];
  }
  let cur = s;
  for (; i < end; i++) {
    if (cur.tokenStacks.length && cur.tokenMatches(id)) return true;
    const nx = a.next(cur, cps[i]);
    if (!nx) return false;
    cur = nx;
  }
  return endRem === 0 || a.acceptsPartial(cur, endValue, endRem);
}

/** Computes whole-vocabulary masks (bit `id` of a Uint32Array set when the
 *  token is allowed) for one automaton over one vocabulary. */
export class MaskBuilder {
  /** Scratch: allowed trie positions. */
  private readonly posMask: Uint32Array;
  /** Scratch: the states at each depth below the node being taken. */
  private readonly chain: State[] = [];

  constructor(
    private readonly a: Automaton,
    private readonly v: GrammarVocab,
  ) {
    this.posMask = new Uint32Array((v.nTrie + 31) >>> 5);
    // Code point sets are keyed 2·node or 2·segment + 1 (see decide).
    if (2 * Math.max(v.nNodes, v.segBelow.length) + 2 > UNIFORM_KEYS) {
      throw new HobError('argument/invalid', `a vocabulary trie of ${v.nNodes} nodes is too large for the grammar masks`, { nodes: v.nNodes });
    }
  }

  /** The mask of state `s` with no unfinished character pending. */
  build(s: State, out: Uint32Array): void {
    const v = this.v;
    const pm = this.posMask;
    pm.fill(0);
    this.visit(0, s);
    // Positions to ids, from whichever side is smaller.
    const order = v.order;
    let set = 0;
    for (let w = 0; w < pm.length; w++) set += popcount(pm[w]);
    if (set * 2 <= v.nTrie) {
      out.fill(0);
      for (let w = 0; w < pm.length; w++) {
        let x = pm[w];
        while (x !== 0) {
          const low = x & -x;
          const id = order[(w << 5) + (31 - Math.clz32(low))];
          out[id >>> 5] |= 1 << (id & 31);
          x ^= low;
        }
      }
    } else {
      // The trie's tokens, less the refused ones (filling from the refused side).
      out.set(v.trieIds);
      const nTrie = v.nTrie;
      for (let w = 0; w < pm.length; w++) {
        let x = ~pm[w];
        if (w === pm.length - 1 && (nTrie & 31)) x &= ~(~0 << (nTrie & 31));
        while (x !== 0) {
          const low = x & -x;
          const id = order[(w << 5) + (31 - Math.clz32(low))];
          out[id >>> 5] &= ~(1 << (id & 31));
          x ^= low;
        }
      }
    }
    this.finish(s, out, { value: 0, rem: 0 });
  }

  /** The mask of state `s` while a character is unfinished: only tokens
   *  starting with continuation bytes can complete it. */
  buildPartial(s: State, partial: PartialUtf8, out: Uint32Array): void {
    out.fill(0);
    for (const id of this.v.continuationStart) {
      if (tokenAllowed(this.a, this.v, s, partial, id)) out[id >>> 5] |= 1 << (id & 31);
    }
    this.finish(s, out, partial);
  }

  /** End-of-generation tokens, and tokens the grammar names, decided one by one. */
  private finish(s: State, out: Uint32Array, partial: PartialUtf8): void {
    if (s.hasEmpty) for (const id of this.v.eogIds) out[id >>> 5] |= 1 << (id & 31);
    for (const id of this.a.grammar.tokenRefs) {
      if (id >= this.v.nVocab) continue;
      if (tokenAllowed(this.a, this.v, s, partial, id)) out[id >>> 5] |= 1 << (id & 31);
      else out[id >>> 5] &= ~(1 << (id & 31));
    }
  }

  private setRange(from: number, to: number): void {
    const m = this.posMask;
    if (from >= to) return;
    const w0 = from >>> 5;
    const w1 = (to - 1) >>> 5;
    const head = ~0 << (from & 31);
    const tail = ~0 >>> (31 - ((to - 1) & 31));
    if (w0 === w1) {
      m[w0] |= head & tail;
      return;
    }
    m[w0] |= head;
    for (let w = w0 + 1; w < w1; w++) m[w] = ~0;
    m[w1] |= tail;
  }

  /**
   * Every token in positions [from, to) lies below a node at depth `depth`
   * on the chain this.chain (the state at each depth below it): complete
   * ones pass, unfinished ones pass when the state where they end can
   * complete them. `pi` indexes the first unfinished token at or after `from`.
   */
  private take(from: number, to: number, pi: number, depth: number): void {
    this.setRange(from, to);
    const v = this.v;
    const pp = v.partialPositions;
    const m = this.posMask;
    for (; pi < pp.length && pp[pi] < to; pi++) {
      const p = pp[pi];
      const id = v.order[p];
      const s = this.chain[v.cpStart[id + 1] - v.cpStart[id] - depth];
      if (!this.partialOk(s, p)) m[p >>> 5] &= ~(1 << (p & 31));
    }
  }

  /**
   * Decides a whole subtree (or run of sibling subtrees) at once when its
   * code points lead uniformly, level by level, from t through live states
   * (see Automaton.uniformNext): taken whole when they do for all `levels`
   * levels below; when they do for fewer and then all die, the tokens no
   * longer than that are taken and the rest dropped. Returns false when the
   * subtree must be walked. The set of code points is ASCII bits at
   * ascii[at..at+4) plus [lo, hi]; the tokens are positions [from, to), the
   * first unfinished one at index pi, and the subtree starts at depth `depth`.
   * States with a token-not top would also take tokens ending inside a
   * character: such subtrees are walked.
   */
  private decide(t: State, ascii: Uint32Array, at: number, lo: number, hi: number, levels: number, key: number, from: number, to: number, pi: number, depth: number): boolean {
    if (t.tokenNotIds.length) return false;
    const a = this.a;
    const alive = a.uniformDepth(t, ascii, at, lo, hi, key, levels);
    const pp = this.v.partialPositions;
    if (alive >= levels && !(pi < pp.length && pp[pi] < to)) {
      // Nothing ends inside a character here: no need for the states on the way.
      this.setRange(from, to);
      return true;
    }
    const chain = this.chain;
    chain[0] = t;
    const n = Math.min(alive, levels);
    for (let j = 1; j <= n; j++) {
      const u = a.uniformNext(chain[j - 1], ascii, at, lo, hi, key) as State;
      if (u.tokenNotIds.length) return false;
      chain[j] = u;
      if (u === chain[j - 1]) {
        for (let k = j + 1; k <= n; k++) chain[k] = u;
        break;
      }
    }
    if (alive >= levels) {
      this.take(from, to, pi, depth);
      return true;
    }
    if (a.uniformNext(chain[n], ascii, at, lo, hi, key) !== false) return false;
    // Tokens longer than n code points below the subtree all die.
    const v = this.v;
    const m = this.posMask;
    const order = v.order;
    const cpStart = v.cpStart;
    for (let p = from; p < to; p++) {
      const id = order[p];
      const rel = cpStart[id + 1] - cpStart[id] - depth;
      if (rel > n) continue;
      if (v.posRem[p] === 0 || this.partialOk(chain[rel], p)) m[p >>> 5] |= 1 << (p & 31);
    }
    return true;
  }

  /** Token positions ending at node n are decided; then each child subtree
   *  is dropped (no stack takes its code point), taken whole (its code
   *  points lead through live states alike, see decide), or walked. */
  private visit(n: number, s: State): void {
    const v = this.v;
    const a = this.a;
    const m = this.posMask;
    const here = v.nodeHere[n];
    for (let p = v.nodeTok0[n]; p < here; p++) {
      if (v.posRem[p] === 0 || this.partialOk(s, p)) m[p >>> 5] |= 1 << (p & 31);
    }
    // A token-not element takes every token that still has code points here
    // (its one excluded id is decided again in finish()).
    if (s.tokenNotIds.length) {
      this.setRange(here, v.nodeTok1[n]);
      return;
    }
    const fan = v.fanOf[n];
    const end = v.nodeEnd[n];
    let c = n + 1;
    for (; c < end; c = v.nodeEnd[c]) {
      const cp = v.nodeCp[c];
      if (cp >= 128 && fan >= 0) break;
      const t = cp < 128 ? (s.ascii[cp] ?? a.next(s, cp)) : a.next(s, cp);
      if (!t) continue;
      const decided = v.nodeEnd[c] - c > WALK_SMALLER &&
        this.decide(t, v.nodeAscii, c * 4, v.nodeNaMin[c], v.nodeNaMax[c], v.nodeBelow[c], 2 * c, v.nodeTok0[c], v.nodeTok1[c], v.nodePartial0[c], v.nodeDepth[c]);
      if (!decided) this.visit(c, t);
    }
    if (c < end) this.visitFan(fan, s);
  }

  /** The children above ASCII of a node with a fan: per interval of code
   *  points on which s behaves alike (so all lead to one state t), drop
   *  them all, or take the runs below which t's chain is uniform (found
   *  through the segment tree), walking the others. */
  private visitFan(f: number, s: State): void {
    const v = this.v;
    const a = this.a;
    const first = v.fanChildStart[f] + v.fanAsciiCount[f];
    const last = v.fanChildStart[f] + v.fanCount[f];
    const cps = v.fanCps;
    const bounds = a.naBoundsOf(s);
    let i = first;
    for (let b = 0; b < bounds.length && i < last; b++) {
      const hi = b + 1 < bounds.length ? bounds[b + 1] : Infinity;
      // Children [i, j) have code points in [bounds[b], hi).
      let j = last;
      if (cps[last - 1] >= hi) {
        let lo = i;
        let up = last;
        while (lo < up) {
          const mid = (lo + up) >> 1;
          if (cps[mid] < hi) lo = mid + 1;
          else up = mid;
        }
        j = lo;
      }
      if (j === i) continue;
      const t = a.next(s, bounds[b]);
      if (t) this.takeRuns(f, t, 1, 0, v.fanSegSize[f], i - first, j - first);
      i = j;
    }
  }

  /** Segment tree node `seg` covers children [nl, nr) (relative to the first
   *  child above ASCII), all leading to state t; takes or walks the part
   *  inside [i, j). */
  private takeRuns(f: number, t: State, seg: number, nl: number, nr: number, i: number, j: number): void {
    if (nr <= i || nl >= j) return;
    const v = this.v;
    const at = v.fanSegBase[f] + seg;
    const first = v.fanChildStart[f] + v.fanAsciiCount[f];
    if (i <= nl && nr <= j) {
      const c0 = v.fanChildren[first + nl];
      const c1 = v.fanChildren[first + Math.min(nr, v.fanCount[f] - v.fanAsciiCount[f]) - 1];
      if (this.decide(t, v.segAscii, at * 4, v.segNaMin[at], v.segNaMax[at], v.segBelow[at], 2 * at + 1, v.nodeTok0[c0], v.nodeTok1[c1], v.nodePartial0[c0], v.nodeDepth[c0])) return;
    }
    if (nr - nl === 1) {
      this.visit(v.fanChildren[first + nl], t);
      return;
    }
    const mid = (nl + nr) >> 1;
    this.takeRuns(f, t, 2 * seg, nl, mid, i, j);
    this.takeRuns(f, t, 2 * seg + 1, mid, nr, i, j);
  }

  /** Whether the token at trie position p, which ends inside a character, may stop in s. */
  private partialOk(s: State, p: number): boolean {
    const v = this.v;
    const k = v.posKind[p];
    return this.a.acceptsPartialKind(s, k, v.kindValue[k], v.kindRem[k], v.kindValue.length);
  }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
