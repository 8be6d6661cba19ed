// The vocabulary as the grammar sees it, indexed once per model: each
// token's piece (llama.cpp's token_to_piece with special tokens rendered),
// its code points as llama.cpp's decoder reads them from a clean start, and a
// trie over those code points whose nodes know the token range below them and
// which code points occur there, so a mask can accept or drop whole subtrees.
// Grammar-independent: one index serves every grammar and request.
import { HobError } from '../../shared/errors.js';
import { NO_PARTIAL, decodePiece } from './utf8.js';

/** What the index needs from a model. */
export interface VocabSource {
  readonly nVocab: number;
  /** The piece llama.cpp's grammar sees: token_to_piece with special tokens
   *  rendered (Hob: Model.tokenBytes(id, true)). */
  pieceBytes(id: number): Uint8Array;
  /** llama_vocab_is_eog. */
  isEog(id: number): boolean;
}

/** Token kinds for the grammar. */
export const KIND_TRIE = 0; // decodes cleanly from a character boundary: in the trie
export const KIND_EOG = 1; // end of generation: allowed exactly when the grammar is complete
export const KIND_NEVER = 2; // empty piece or a leading NUL: llama.cpp always rejects it
export const KIND_INVALID = 3; // invalid UTF-8 unless it continues an unfinished character

/** Nodes with at least this many children get a fan (see GrammarVocab.fanOf). */
const FAN_MIN_CHILDREN = 64;

export class GrammarVocab {
  readonly nVocab: number;
  readonly kind: Uint8Array;
  /** Every piece, whole (NULs included: a lazy grammar's trigger buffer keeps them). */
  readonly bytes: Uint8Array;
  readonly byteStart: Int32Array;
  /** Code points from a clean start, and how the piece ends (rem > 0: unfinished). */
  readonly cps: Int32Array;
  readonly cpStart: Int32Array;
  readonly endValue: Int32Array;
  readonly endRem: Int8Array;
  /** Tokens whose first byte is a continuation byte: the only ones that can
   *  follow a token that ended inside a character. */
  readonly continuationStart: Int32Array;
  readonly eogIds: Int32Array;

  // The trie, nodes in preorder (node 0 is the root). Node n's subtree is
  // nodes [n, nodeEnd[n]) and trie positions [nodeTok0[n], nodeTok1[n]);
  // the tokens that end exactly at n come first, up to nodeHere[n].
  readonly nNodes: number;
  readonly nodeCp: Int32Array;
  readonly nodeEnd: Int32Array;
  readonly nodeTok0: Int32Array;
  readonly nodeHere: Int32Array;
  readonly nodeTok1: Int32Array;
  /** Code points on the edges strictly below each node: ASCII as 128 bits
   *  (4 words a node), the rest as a [min, max] hull (min > max: none). */
  readonly nodeAscii: Uint32Array;
  readonly nodeNaMin: Int32Array;
  readonly nodeNaMax: Int32Array;
  /** Each node's depth (code points from the root), and how many more code
   *  points the longest token below it has. */
  readonly nodeDepth: Int32Array;
  readonly nodeBelow: Int32Array;
  /** Trie position → token id, and back (-1: not in the trie). */
  readonly order: Int32Array;
  readonly posOf: Int32Array;
  /** Per trie position: how its token ends (rem 0: on a character boundary). */
  readonly posRem: Int8Array;
  readonly posValue: Int32Array;
  /** Per trie position, the kind of unfinished character its token ends in
   *  (an index into kindValue/kindRem), or -1: tokens of one kind are
   *  allowed or refused together. */
  readonly posKind: Int32Array;
  readonly kindValue: Int32Array;
  readonly kindRem: Int8Array;
  /** Trie positions of tokens that end inside a character, ascending, and
   *  per node the index of the first one inside its subtree's range. */
  readonly partialPositions: Int32Array;
  readonly nodePartial0: Int32Array;
  /**
   * Nodes with many children (the root has tens of thousands) also keep
   * their children in an array, and a segment tree over the children above
   * ASCII holding the union of what lies below each range of them: a mask
   * can then take or drop a whole run of such children at once.
   * fanOf[n] indexes the fan tables, or is -1.
   */
  readonly fanOf: Int32Array;
  readonly fanChildStart: Int32Array;
  readonly fanCount: Int32Array;
  readonly fanAsciiCount: Int32Array;
  readonly fanSegBase: Int32Array;
  readonly fanSegSize: Int32Array;
  readonly fanChildren: Int32Array;
  readonly fanCps: Int32Array;
  readonly segAscii: Uint32Array;
  readonly segNaMin: Int32Array;
  readonly segNaMax: Int32Array;
  readonly segBelow: Int32Array;
  readonly buildMs: number;

  constructor(src: VocabSource) {
    const t0 = performance.now();
    const n = src.nVocab;
    if (!Number.isSafeInteger(n) || n < 1) throw new HobError('argument/invalid', `vocabulary size ${n} is not a positive integer`, { nVocab: n });
    this.nVocab = n;
    this.kind = new Uint8Array(n);
    this.byteStart = new Int32Array(n + 1);
    this.cpStart = new Int32Array(n + 1);
    this.endValue = new Int32Array(n);
    this.endRem = new Int8Array(n);

    const pieces: Uint8Array[] = new Array(n);
    let nBytes = 0;
    for (let id = 0; id < n; id++) {
      pieces[id] = src.pieceBytes(id);
      nBytes += pieces[id].length;
    }
    this.bytes = new Uint8Array(nBytes);
    let cpScratch = new Int32Array(Math.max(16, nBytes));
    let nCps = 0;
    const eog: number[] = [];
    const contStart: number[] = [];
    const trieIds: number[] = [];
    for (let id = 0, off = 0; id < n; id++) {
      const piece = pieces[id];
      this.bytes.set(piece, off);
      this.byteStart[id] = off;
      off += piece.length;
      this.byteStart[id + 1] = off;
      this.cpStart[id] = nCps;
      if (src.isEog(id)) {
        this.kind[id] = KIND_EOG;
        eog.push(id);
      } else if (piece.length === 0 || piece[0] === 0) {
        this.kind[id] = KIND_NEVER;
      } else {
        if (piece[0] >> 6 === 2) contStart.push(id);
        const d = decodePiece(piece, 0, piece.length, NO_PARTIAL);
        if (d.rem < 0) {
          this.kind[id] = KIND_INVALID;
        } else {
          this.kind[id] = KIND_TRIE;
          this.endValue[id] = d.value;
          this.endRem[id] = d.rem;
          if (nCps + d.cps.length > cpScratch.length) {
            const grown = new Int32Array(cpScratch.length * 2 + d.cps.length);
            grown.set(cpScratch);
            cpScratch = grown;
          }
          cpScratch.set(d.cps, nCps);
          nCps += d.cps.length;
          trieIds.push(id);
        }
      }
      this.cpStart[id + 1] = nCps;
    }
    this.cps = cpScratch.slice(0, nCps);
    this.eogIds = Int32Array.from(eog);
    this.continuationStart = Int32Array.from(contStart);

    // Trie positions: tokens sorted by code points (a prefix first), then by
    // how they end, so the tokens of every subtree are one range.
    const cps = this.cps;
    const cpStart = this.cpStart;
    const order = Int32Array.from(trieIds);
    order.sort((a, b) => {
      const ea = cpStart[a + 1];
      const eb = cpStart[b + 1];
      let i = cpStart[a];
      let j = cpStart[b];
      for (; i < ea && j < eb; i++, j++) if (cps[i] !== cps[j]) return cps[i] - cps[j];
      if (i < ea) return 1;
      if (j < eb) return -1;
      return this.endRem[a] - this.endRem[b] || this.endValue[a] - this.endValue[b] || a - b;
    });
    this.order = order;
    const nTrie = order.length;
    this.posOf = new Int32Array(n).fill(-1);
    this.posRem = new Int8Array(nTrie);
    this.posValue = new Int32Array(nTrie);
    const partial: number[] = [];
    this.posKind = new Int32Array(nTrie).fill(-1);
    const kinds = new Map<number, number>();
    const kindValue: number[] = [];
    const kindRem: number[] = [];
    for (let p = 0; p < nTrie; p++) {
      const id = order[p];
      this.posOf[id] = p;
      this.posRem[p] = this.endRem[id];
      this.posValue[p] = this.endValue[id];
      if (this.endRem[id] === 0) continue;
      partial.push(p);
      const key = this.endValue[id] * 4 + this.endRem[id];
      let k = kinds.get(key);
      if (k === undefined) {
        k = kindValue.length;
        kinds.set(key, k);
        kindValue.push(this.endValue[id]);
        kindRem.push(this.endRem[id]);
      }
      this.posKind[p] = k;
    }
    this.partialPositions = Int32Array.from(partial);
    this.kindValue = Int32Array.from(kindValue);
    this.kindRem = Int8Array.from(kindRem);

    // Nodes in preorder from the sorted tokens: each token opens the nodes
    // below its common prefix with the previous token.
    const cp: number[] = [-1];
    const parent: number[] = [-1];
    const end: number[] = [0];
    const tok0: number[] = [0];
    const here: number[] = [0];
    const tok1: number[] = [0];
    const path: number[] = [0]; // path[d]: the open node at depth d
    let prev = -1;
    for (let p = 0; p < nTrie; p++) {
      const id = order[p];
      const s = cpStart[id];
      const len = cpStart[id + 1] - s;
      let lcp = 0;
      if (prev >= 0) {
        const ps = cpStart[prev];
        const plen = cpStart[prev + 1] - ps;
        while (lcp < len && lcp < plen && cps[s + lcp] === cps[ps + lcp]) lcp++;
      }
      for (let d = path.length - 1; d > lcp; d--) {
        end[path[d]] = cp.length;
        tok1[path[d]] = p;
      }
      path.length = lcp + 1;
      for (let d = lcp; d < len; d++) {
        const node = cp.length;
        cp.push(cps[s + d]);
        parent.push(path[d]);
        end.push(0);
        tok0.push(p);
        here.push(p);
        tok1.push(0);
        path.push(node);
      }
      here[path[len]] = p + 1;
      prev = id;
    }
    for (let d = path.length - 1; d >= 0; d--) {
      end[path[d]] = cp.length;
      tok1[path[d]] = nTrie;
    }
    const nNodes = cp.length;
    this.nNodes = nNodes;
    this.nodeCp = Int32Array.from(cp);
    this.nodeEnd = Int32Array.from(end);
    this.nodeTok0 = Int32Array.from(tok0);
    this.nodeHere = Int32Array.from(here);
    this.nodeTok1 = Int32Array.from(tok1);

    // Code points below each node, children before parents (reverse preorder).
    const ascii = new Uint32Array(nNodes * 4);
    const naMin = new Int32Array(nNodes).fill(0x7fffffff);
    const naMax = new Int32Array(nNodes).fill(-1);
    const depth = new Int32Array(nNodes);
    for (let node = 1; node < nNodes; node++) depth[node] = depth[parent[node]] + 1;
    const below = new Int32Array(nNodes);
    for (let node = nNodes - 1; node > 0; node--) {
      const par = parent[node];
      const c = cp[node];
      if (below[node] + 1 > below[par]) below[par] = below[node] + 1;
      for (let w = 0; w < 4; w++) ascii[par * 4 + w] |= ascii[node * 4 + w];
      let lo = naMin[node];
      let hi = naMax[node];
      if (c < 128) ascii[par * 4 + (c >> 5)] |= 1 << (c & 31);
      else {
        lo = Math.min(lo, c);
        hi = Math.max(hi, c);
      }
      if (lo < naMin[par]) naMin[par] = lo;
      if (hi > naMax[par]) naMax[par] = hi;
    }
    this.nodeAscii = ascii;
    this.nodeNaMin = naMin;
    this.nodeNaMax = naMax;
    this.nodeDepth = depth;
    this.nodeBelow = below;

    // tok0 grows along preorder, so one sweep finds each node's first partial.
    const pp = this.partialPositions;
    this.nodePartial0 = new Int32Array(nNodes);
    for (let node = 0, i = 0; node < nNodes; node++) {
      while (i < pp.length && pp[i] < tok0[node]) i++;
      this.nodePartial0[node] = i;
    }

    const fans: number[] = [];
    const kids: number[] = [];
    this.fanOf = new Int32Array(nNodes).fill(-1);
    for (let node = 0; node < nNodes; node++) {
      let k = 0;
      for (let c = node + 1; c < end[node]; c = end[c]) k++;
      if (k < FAN_MIN_CHILDREN) continue;
      this.fanOf[node] = fans.length;
      fans.push(node);
    }
    const nFans = fans.length;
    this.fanChildStart = new Int32Array(nFans);
    this.fanCount = new Int32Array(nFans);
    this.fanAsciiCount = new Int32Array(nFans);
    this.fanSegBase = new Int32Array(nFans);
    this.fanSegSize = new Int32Array(nFans);
    let segTotal = 0;
    fans.forEach((node, f) => {
      this.fanChildStart[f] = kids.length;
      let asciiCount = 0;
      for (let c = node + 1; c < end[node]; c = end[c]) {
        kids.push(c);
        if (cp[c] < 128) asciiCount++;
      }
      this.fanCount[f] = kids.length - this.fanChildStart[f];
      this.fanAsciiCount[f] = asciiCount;
      let size = 1;
      while (size < this.fanCount[f] - asciiCount) size *= 2;
      this.fanSegBase[f] = segTotal;
      this.fanSegSize[f] = size;
      segTotal += 2 * size;
    });
    this.fanChildren = Int32Array.from(kids);
    this.fanCps = Int32Array.from(kids, (c) => cp[c]);
    this.segAscii = new Uint32Array(segTotal * 4);
    this.segNaMin = new Int32Array(segTotal).fill(0x7fffffff);
    this.segNaMax = new Int32Array(segTotal).fill(-1);
    this.segBelow = new Int32Array(segTotal);
    for (let f = 0; f < nFans; f++) {
      const base = this.fanSegBase[f];
      const size = this.fanSegSize[f];
      const first = this.fanChildStart[f] + this.fanAsciiCount[f];
      const m = this.fanCount[f] - this.fanAsciiCount[f];
      for (let i = 0; i < m; i++) {
        const c = kids[first + i];
        const leaf = base + size + i;
        for (let w = 0; w < 4; w++) this.segAscii[leaf * 4 + w] = ascii[c * 4 + w];
        this.segNaMin[leaf] = naMin[c];
        this.segNaMax[leaf] = naMax[c];
        this.segBelow[leaf] = below[c];
      }
      for (let i = size - 1; i >= 1; i--) {
        const at = base + i;
        const l = base + 2 * i;
        const r = l + 1;
        for (let w = 0; w < 4; w++) this.segAscii[at * 4 + w] = this.segAscii[l * 4 + w] | this.segAscii[r * 4 + w];
        this.segNaMin[at] = Math.min(this.segNaMin[l], this.segNaMin[r]);
        this.segNaMax[at] = Math.max(this.segNaMax[l], this.segNaMax[r]);
        this.segBelow[at] = Math.max(this.segBelow[l], this.segBelow[r]);
      }
    }
    this.buildMs = performance.now() - t0;
  }

  /** The whole piece of a token (a view, do not modify). */
  piece(id: number): Uint8Array {
    return this.bytes.subarray(this.byteStart[id], this.byteStart[id + 1]);
  }

  /** Tokens in the trie (decoding cleanly from a character boundary). */
  get nTrie(): number {
    return this.order.length;
  }

  private trieIdsMask: Uint32Array | undefined;

  /** The trie's tokens as an id-space mask (bit id of word id >> 5), made
   *  on first use: every matcher's mask builder starts from it, and walking
   *  the whole order for each request cost a millisecond. Do not modify. */
  get trieIds(): Uint32Array {
    if (!this.trieIdsMask) {
      const m = new Uint32Array((this.nVocab + 31) >>> 5);
      for (const id of this.order) m[id >>> 5] |= 1 << (id & 31);
      this.trieIdsMask = m;
    }
    return this.trieIdsMask;
  }
}

const cache = new WeakMap<object, GrammarVocab>();

/** The index for a model, built on first use and kept as long as `owner`
 *  (the model object) lives. */
export function grammarVocabFor(owner: object, source: () => VocabSource): GrammarVocab {
  let v = cache.get(owner);
  if (!v) {
    v = new GrammarVocab(source());
    cache.set(owner, v);
  }
  return v;
}
