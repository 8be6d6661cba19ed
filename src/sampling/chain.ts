// The sampler chain in TypeScript, run on a session's logits (the full
// vocabulary): logit bias and bans, then the samplers of `sampler_order`
// (penalties, DRY, top-k, TFS, typical-p, top-p, min-p, top-A, XTC,
// temperature), then a seeded draw, or mirostat v1/v2 in place of the
// truncating samplers. Semantics and defaults follow llama.cpp's samplers;
// the repetition penalty's slope and top-A follow KoboldCPP. It does not
// evaluate the model or know about text beyond DRY's sequence breakers.
import { HobError } from '../shared/errors.js';
import type { SamplerName, SamplingParams } from '../shared/types.js';
import { chainPick, type SamplePick } from './pick.js';

/** llama.cpp's default order, with TFS and top-A (KoboldCPP's, off by default) where KoboldCPP puts them. */
export const DEFAULT_SAMPLER_ORDER: readonly SamplerName[] = [
  'penalties', 'dry', 'top_k', 'tfs_z', 'typical_p', 'top_p', 'min_p', 'top_a', 'xtc', 'temperature',
];

/** Every field of SamplingParams that shapes the distribution, with llama.cpp's defaults filled in. */
export interface ResolvedSampling {
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  typical_p: number;
  tfs_z: number;
  top_a: number;
  repeat_penalty: number;
  repeat_last_n: number;
  repeat_penalty_slope: number;
  presence_penalty: number;
  frequency_penalty: number;
  dry_multiplier: number;
  dry_base: number;
  dry_allowed_length: number;
  dry_penalty_last_n: number;
  dry_sequence_breakers: string[];
  xtc_probability: number;
  xtc_threshold: number;
  mirostat: 0 | 1 | 2;
  mirostat_tau: number;
  mirostat_eta: number;
  seed: number;
  sampler_order: SamplerName[];
}

export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSampling, 'seed'>> = {
  temperature: 0.8,
  top_k: 40,
  top_p: 0.95,
  min_p: 0.05,
  typical_p: 1,
  tfs_z: 1,
  top_a: 0,
  repeat_penalty: 1,
  repeat_last_n: 64,
  repeat_penalty_slope: 1,
  presence_penalty: 0,
  frequency_penalty: 0,
  dry_multiplier: 0,
  dry_base: 1.75,
  dry_allowed_length: 2,
  dry_penalty_last_n: -1,
  dry_sequence_breakers: ['\n', ':', '"', '*'],
  xtc_probability: 0,
  xtc_threshold: 0.1,
  mirostat: 0,
  mirostat_tau: 5,
  mirostat_eta: 0.1,
  sampler_order: [...DEFAULT_SAMPLER_ORDER],
};

const SAMPLER_NAMES = new Set<string>(DEFAULT_SAMPLER_ORDER);

function invalid(name: string, value: unknown, why: string): never {
  throw new HobError('argument/invalid', `${name} ${String(value)}: ${why}`, { [name]: String(value) });
}

/** Fills in defaults and checks every value; a bad one is an 'argument/invalid' error naming it. */
export function resolveSampling(p: SamplingParams): ResolvedSampling {
  const r = { ...SAMPLING_DEFAULTS, seed: randomSeed() } as ResolvedSampling;
  const numbers = [
    'temperature', 'top_k', 'top_p', 'min_p', 'typical_p', 'tfs_z', 'top_a', 'repeat_penalty', 'repeat_last_n',
    'repeat_penalty_slope', 'presence_penalty', 'frequency_penalty', 'dry_multiplier', 'dry_base', 'dry_allowed_length',
    'dry_penalty_last_n', 'xtc_probability', 'xtc_threshold', 'mirostat_tau', 'mirostat_eta',
  ] as const;
  for (const k of numbers) {
    const v = p[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) invalid(k, v, 'must be a finite number');
    (r as unknown as Record<string, number>)[k] = v;
  }
  if (r.temperature < 0) r.temperature = 0;
  for (const k of ['top_p', 'min_p', 'typical_p', 'tfs_z', 'top_a', 'xtc_probability'] as const) {
    if (r[k] < 0 || r[k] > 1) invalid(k, r[k], 'must be in [0, 1]');
  }
  if (r.repeat_penalty <= 0) invalid('repeat_penalty', r.repeat_penalty, 'must be positive');
  if (p.mirostat !== undefined && p.mirostat !== null) {
    if (p.mirostat !== 0 && p.mirostat !== 1 && p.mirostat !== 2) invalid('mirostat', p.mirostat, 'must be 0, 1 or 2');
    r.mirostat = p.mirostat;
  }
  if (p.seed !== undefined && p.seed !== null && p.seed !== -1) {
    if (!Number.isInteger(p.seed)) invalid('seed', p.seed, 'must be an integer');
    r.seed = p.seed >>> 0;
  }
  if (p.dry_sequence_breakers) r.dry_sequence_breakers = [...p.dry_sequence_breakers];
  if (p.sampler_order) {
    for (const s of p.sampler_order) if (!SAMPLER_NAMES.has(s)) invalid('sampler_order', s, `unknown sampler (known: ${DEFAULT_SAMPLER_ORDER.join(', ')})`);
    r.sampler_order = [...p.sampler_order];
  }
  return r;
}

function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

/** The Mersenne Twister mt19937 (as std::mt19937), so a seed means the same stream everywhere. */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i, in 32 bits.
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  nextU32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) from two outputs, as libstdc++'s generate_canonical<double> builds it. */
  nextDouble(): number {
    const lo = this.nextU32();
    const hi = this.nextU32();
    const u = (lo + hi * 4294967296) / 18446744073709551616;
    return u < 1 ? u : 1 - 2 ** -53;
  }

  /** A float in [0, 1) from one output (generate_canonical<float>). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      let v = mt[(i + 397) % 624] ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }
}

export interface SamplerChainOptions {
  /** Tokens in the vocabulary (the logits' length). */
  nVocab: number;
  /** The context size: repeat_last_n and dry_penalty_last_n of -1 mean this many tokens. */
  nCtx: number;
  /** The text of a token, for DRY's sequence breakers (a token containing one breaks a match). */
  tokenText?: (token: number) => string;
  /** Token id (string, as OpenAI sends it) to a bias added to its logit. */
  logitBias?: Record<string, number>;
  bannedTokens?: readonly number[];
}

/**
 * The candidates are token ids ids[0..n) into full-vocabulary arrays of
 * logits and probabilities, so filtering moves ids, never the values, and no
 * array is allocated per token.
 */
export class SamplerChain {
  readonly params: ResolvedSampling;
  private readonly nVocab: number;
  private readonly nCtx: number;
  private readonly logit: Float32Array;
  private readonly prob: Float32Array;
  private readonly ids: Int32Array;
  private readonly scratch: Int32Array;
  private n = 0;
  private sorted = false;
  private readonly bias: [number, number][] = [];
  private readonly rng: Mt19937;
  private readonly xtcRng: Mt19937;
  /** Accepted tokens (prompt and output), oldest first. */
  private history: number[] = [];
  private mu: number;
  private breaker?: Uint8Array;
  private readonly tokenText?: (token: number) => string;

  constructor(params: SamplingParams, opts: SamplerChainOptions) {
    this.params = resolveSampling(params);
    this.nVocab = opts.nVocab;
    this.nCtx = opts.nCtx;
    this.logit = new Float32Array(opts.nVocab);
    this.prob = new Float32Array(opts.nVocab);
    this.ids = new Int32Array(opts.nVocab);
    this.scratch = new Int32Array(opts.nVocab);
    this.rng = new Mt19937(this.params.seed);
    this.xtcRng = new Mt19937(this.params.seed);
    this.mu = 2 * this.params.mirostat_tau;
    this.tokenText = opts.tokenText;
    for (const [k, v] of Object.entries(opts.logitBias ?? {})) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || id >= opts.nVocab) invalid('logit_bias', k, `is not a token id (vocabulary of ${opts.nVocab})`);
      if (typeof v !== 'number' || Number.isNaN(v)) invalid('logit_bias', v, 'must be a number');
      this.bias.push([id, v]);
    }
    for (const id of opts.bannedTokens ?? []) {
      if (!Number.isInteger(id) || id < 0 || id >= opts.nVocab) invalid('banned_tokens', id, `is not a token id (vocabulary of ${opts.nVocab})`);
      this.bias.push([id, -Infinity]);
    }
  }

  /** Records a token as part of the context (prompt tokens included), for penalties and DRY. */
  accept(token: number): void {
    this.history.push(token);
    // Bounded: the history never needs more than the context.
    if (this.history.length > 2 * this.nCtx + 64) this.history = this.history.slice(-this.nCtx);
  }

  /** Forgets the last `n` accepted tokens (a backtrack over banned strings). */
  rewind(n: number): void {
    this.history.length = Math.max(0, this.history.length - n);
  }

  /** TokenSampler: the best logits this chain can sample from when the head
   * runs on the GPU (Session.readout), with `nBannedNow` tokens banned at
   * the step; null: every logit. */
  gpuPick(nVocab: number, nBannedNow = 0): SamplePick | null {
    return chainPick(this.params, nVocab, { biased: this.bias.length > 0, bannedNow: nBannedNow });
  }

  /** TokenSampler: the next token from the session's logits. */
  sample(session: { logits(): Float32Array }): number {
    return this.sampleLogits(session.logits());
  }

  /** The next token from logits of the whole vocabulary; `banned` are excluded at this step only. */
  sampleLogits(logits: Float32Array, banned?: Iterable<number>): number {
    this.reset(logits, banned);
    const p = this.params;
    if (p.mirostat !== 0) {
      for (const s of p.sampler_order) {
        if (s === 'penalties') this.penalties();
        else if (s === 'dry') this.dry();
      }
      this.temperature(p.temperature);
      return p.mirostat === 1 ? this.mirostatV1() : this.mirostatV2();
    }
    for (const s of p.sampler_order) this.apply(s);
    return this.draw();
  }

  /** Runs one named stage on the current candidates (exposed for tests). */
  apply(s: SamplerName): void {
    const p = this.params;
    switch (s) {
      case 'penalties': return this.penalties();
      case 'dry': return this.dry();
      case 'top_k': return this.topK(p.top_k);
      case 'typical_p': return this.typical(p.typical_p);
      case 'top_p': return this.topP(p.top_p);
      case 'min_p': return this.minP(p.min_p);
      case 'tfs_z': return this.tfs(p.tfs_z);
      case 'top_a': return this.topA(p.top_a);
      case 'xtc': return this.xtc(p.xtc_probability, p.xtc_threshold);
      case 'temperature': return this.temperature(p.temperature);
    }
  }

  /** The current candidates and their probabilities (softmax of their logits), for tests. */
  candidates(): { id: number; p: number }[] {
    this.softmax();
    const out: { id: number; p: number }[] = [];
    for (let i = 0; i < this.n; i++) out.push({ id: this.ids[i], p: this.prob[this.ids[i]] });
    return out;
  }

  /** Loads logits as the candidates: every token not banned. */
  reset(logits: Float32Array, banned?: Iterable<number>): void {
    if (logits.length !== this.nVocab) {
      throw new HobError('argument/invalid', `${logits.length} logits for a vocabulary of ${this.nVocab}`, { nLogits: logits.length, nVocab: this.nVocab });
    }
    this.logit.set(logits);
    for (const [id, b] of this.bias) this.logit[id] += b;
    if (banned) for (const id of banned) if (id >= 0 && id < this.nVocab) this.logit[id] = -Infinity;
    let n = 0;
    for (let i = 0; i < this.nVocab; i++) if (this.logit[i] > -Infinity) this.ids[n++] = i;
    if (n === 0) throw new HobError('argument/invalid', 'every token is banned: nothing can be sampled');
    this.n = n;
    this.sorted = false;
  }

  // --- ordering and probabilities --------------------------------------

  private better(a: number, b: number): boolean {
    const la = this.logit[a];
    const lb = this.logit[b];
    return la > lb || (la === lb && a < b);
  }

  /** Sorts the candidates by logit, largest first (ties by id); with k, only the best k are kept and sorted. */
  private sort(k = this.n): void {
    const n = this.n;
    k = Math.min(k, n);
    if (this.sorted) {
      this.n = k;
      return;
    }
    const ids = this.ids;
    const logit = this.logit;
    const cmp = (a: number, b: number): number => logit[b] - logit[a] || a - b;
    if (k * 8 < n) {
      // A min-heap of the best k so far: O(n log k), no full sort.
      const heap = this.scratch;
      let size = 0;
      const worse = (a: number, b: number) => this.better(b, a);
      const siftDown = (i: number): void => {
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < size && worse(heap[l], heap[m])) m = l;
          if (r < size && worse(heap[r], heap[m])) m = r;
          if (m === i) return;
          const t = heap[i]; heap[i] = heap[m]; heap[m] = t;
          i = m;
        }
      };
      for (let i = 0; i < n; i++) {
        const id = ids[i];
        if (size < k) {
          let j = size++;
          heap[j] = id;
          while (j > 0) {
            const parent = (j - 1) >> 1;
            if (!worse(heap[j], heap[parent])) break;
            const t = heap[j]; heap[j] = heap[parent]; heap[parent] = t;
            j = parent;
          }
        } else if (this.better(id, heap[0])) {
          heap[0] = id;
          siftDown(0);
        }
      }
      ids.set(heap.subarray(0, k));
      ids.subarray(0, k).sort(cmp);
    } else {
      ids.subarray(0, n).sort(cmp);
    }
    this.n = k;
    this.sorted = true;
  }

  /** prob[id] = softmax of the candidates' logits. */
  private softmax(): void {
    const ids = this.ids;
    let max = -Infinity;
    for (let i = 0; i < this.n; i++) max = Math.max(max, this.logit[ids[i]]);
    let sum = 0;
    for (let i = 0; i < this.n; i++) {
      const e = Math.exp(this.logit[ids[i]] - max);
      this.prob[ids[i]] = e;
      sum += e;
    }
    for (let i = 0; i < this.n; i++) this.prob[ids[i]] /= sum;
  }

  // --- the samplers -----------------------------------------------------

  /** The last `lastN` accepted tokens (-1: the context; 0: none). */
  private window(lastN: number): number[] {
    const n = lastN < 0 ? this.nCtx : lastN;
    return n === 0 ? [] : this.history.slice(-n);
  }

  /** Repetition, presence and frequency penalties over the last repeat_last_n tokens (llama.cpp), with
   * KoboldCPP's slope: the older half of the range gets 1 + (penalty - 1) * slope instead. */
  private penalties(): void {
    const p = this.params;
    if (p.repeat_penalty === 1 && p.presence_penalty === 0 && p.frequency_penalty === 0) return;
    const win = this.window(p.repeat_last_n);
    if (win.length === 0) return;
    const counts = new Map<number, number>();
    for (const t of win) counts.set(t, (counts.get(t) ?? 0) + 1);
    const near = new Set<number>();
    const sloped = p.repeat_penalty_slope !== 1 && p.repeat_penalty > 1;
    if (sloped) for (let i = win.length >> 1; i < win.length; i++) near.add(win[i]);
    const reduced = 1 + (p.repeat_penalty - 1) * p.repeat_penalty_slope;
    for (const [id, count] of counts) {
      if (id < 0 || id >= this.nVocab || this.logit[id] === -Infinity) continue;
      const penalty = sloped && !near.has(id) ? reduced : p.repeat_penalty;
      let l = this.logit[id];
      l = l <= 0 ? l * penalty : l / penalty;
      l -= count * p.frequency_penalty + p.presence_penalty;
      this.logit[id] = l;
    }
    this.sorted = false;
  }

  private isBreaker(token: number): boolean {
    if (!this.tokenText || this.params.dry_sequence_breakers.length === 0) return false;
    if (!this.breaker) this.breaker = new Uint8Array(this.nVocab);
    // 0: unknown, 1: no, 2: yes; a token's text never changes.
    let b = this.breaker[token];
    if (b === 0) {
      const text = this.tokenText(token);
      b = this.params.dry_sequence_breakers.some((s) => s.length > 0 && text.includes(s)) ? 2 : 1;
      this.breaker[token] = b;
    }
    return b === 2;
  }

  /**
   * DRY: a token that would extend a repeat of the context's tail gets
   * multiplier * base^(length - allowed_length) subtracted, where length is
   * that of the longest earlier occurrence of the tail it would continue.
   * The length of the match ending at each position comes from the Z-array of
   * the reversed history (linear time); matches stop at sequence breakers.
   */
  private dry(): void {
    const p = this.params;
    if (p.dry_multiplier === 0 || p.dry_base < 1) return;
    const h = this.window(p.dry_penalty_last_n);
    const L = h.length;
    if (L < 2) return;
    const rev = new Int32Array(L);
    for (let i = 0; i < L; i++) rev[i] = h[L - 1 - i];
    const z = zArray(rev);
    const maxLen = new Map<number, number>();
    let lastBreaker = -1;
    for (let i = 0; i < L - 1; i++) {
      if (this.isBreaker(h[i])) lastBreaker = i;
      const m = Math.min(z[L - 1 - i], i - lastBreaker);
      if (m < p.dry_allowed_length || m === 0) continue;
      const next = h[i + 1];
      if (m > (maxLen.get(next) ?? 0)) maxLen.set(next, m);
    }
    for (const [id, m] of maxLen) {
      if (id < 0 || id >= this.nVocab || this.logit[id] === -Infinity) continue;
      this.logit[id] -= p.dry_multiplier * Math.pow(p.dry_base, m - p.dry_allowed_length);
    }
    this.sorted = false;
  }

  private topK(k: number): void {
    if (k <= 0) return;
    this.sort(Math.max(1, k));
  }

  private topP(topP: number): void {
    if (topP >= 1) return;
    this.sort();
    this.softmax();
    let cum = 0;
    for (let i = 0; i < this.n; i++) {
      cum += this.prob[this.ids[i]];
      if (cum >= topP) {
        this.n = i + 1;
        return;
      }
    }
  }

  private minP(minP: number): void {
    if (minP <= 0) return;
    let max = -Infinity;
    for (let i = 0; i < this.n; i++) max = Math.max(max, this.logit[this.ids[i]]);
    // p >= minP * pMax, in logits.
    const threshold = max + Math.log(minP);
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      const id = this.ids[i];
      if (this.logit[id] >= threshold) this.ids[k++] = id;
    }
    this.n = Math.max(1, k);
  }

  /** Locally typical sampling: keeps the tokens whose surprise is closest to the entropy, up to mass typicalP. */
  private typical(typicalP: number): void {
    if (typicalP >= 1) return;
    this.softmax();
    const ids = this.ids;
    let entropy = 0;
    for (let i = 0; i < this.n; i++) {
      const q = this.prob[ids[i]];
      if (q > 0) entropy -= q * Math.log(q);
    }
    const shifted = new Map<number, number>();
    for (let i = 0; i < this.n; i++) {
      const q = this.prob[ids[i]];
      shifted.set(ids[i], Math.abs(-Math.log(q) - entropy));
    }
    ids.subarray(0, this.n).sort((a, b) => shifted.get(a)! - shifted.get(b)! || a - b);
    let cum = 0;
    for (let i = 0; i < this.n; i++) {
      cum += this.prob[ids[i]];
      if (cum > typicalP) {
        this.n = i + 1;
        break;
      }
    }
    this.sorted = false;
  }

  /** Tail-free sampling: cuts where the normalized second derivative of the sorted probabilities has mass z. */
  private tfs(z: number): void {
    if (z >= 1 || this.n <= 2) return;
    this.sort();
    this.softmax();
    const n = this.n;
    const d1 = new Float64Array(n - 1);
    for (let i = 0; i < n - 1; i++) d1[i] = this.prob[this.ids[i]] - this.prob[this.ids[i + 1]];
    const d2 = new Float64Array(n - 2);
    let sum = 0;
    for (let i = 0; i < n - 2; i++) {
      d2[i] = Math.abs(d1[i] - d1[i + 1]);
      sum += d2[i];
    }
    if (sum > 0) for (let i = 0; i < n - 2; i++) d2[i] /= sum;
    let cum = 0;
    let last = n;
    for (let i = 0; i < n - 2; i++) {
      cum += d2[i];
      if (cum > z) {
        last = i;
        break;
      }
    }
    this.n = Math.max(1, last);
  }

  /** Top-A: keeps tokens with p >= a * pMax². */
  private topA(a: number): void {
    if (a <= 0) return;
    this.sort();
    this.softmax();
    const threshold = a * this.prob[this.ids[0]] ** 2;
    let k = 1;
    while (k < this.n && this.prob[this.ids[k]] >= threshold) k++;
    this.n = k;
  }

  /** XTC: with the given probability, removes every token above the threshold but the least likely of them. */
  private xtc(probability: number, threshold: number): void {
    if (probability <= 0 || threshold > 0.5 || this.n < 2) return;
    if (this.xtcRng.nextFloat() > probability) return;
    this.sort();
    this.softmax();
    let last = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.prob[this.ids[i]] >= threshold) last = i;
      else break;
    }
    if (last > 0) {
      this.ids.copyWithin(0, last, this.n);
      this.n -= last;
    }
  }

  private temperature(t: number): void {
    if (t <= 0) {
      // Greedy: only the first of the largest logits stays.
      let best = this.ids[0];
      for (let i = 1; i < this.n; i++) if (this.better(this.ids[i], best)) best = this.ids[i];
      this.ids[0] = best;
      this.n = 1;
      this.sorted = true;
      return;
    }
    if (t === 1) return;
    for (let i = 0; i < this.n; i++) this.logit[this.ids[i]] /= t;
  }

  /** The seeded draw from the softmax of what is left. */
  private draw(): number {
    if (this.n === 1) return this.ids[0];
    this.softmax();
    const u = this.rng.nextDouble();
    let cum = 0;
    for (let i = 0; i < this.n; i++) {
      cum += this.prob[this.ids[i]];
      if (u < cum) return this.ids[i];
    }
    return this.ids[this.n - 1];
  }

  private mirostatUpdate(token: number): void {
    const surprise = -Math.log2(this.prob[token]);
    this.mu -= this.params.mirostat_eta * (surprise - this.params.mirostat_tau);
  }

  /** Mirostat 1.0: estimates the Zipf exponent from the top 100 tokens and picks k for the target surprise. */
  private mirostatV1(): number {
    this.sort();
    this.softmax();
    const m = 100;
    let sumTiBi = 0;
    let sumTiSq = 0;
    for (let i = 0; i < m - 1 && i < this.n - 1; i++) {
      const ti = Math.log((i + 2) / (i + 1));
      const bi = Math.log(this.prob[this.ids[i]] / this.prob[this.ids[i + 1]]);
      sumTiBi += ti * bi;
      sumTiSq += ti * ti;
    }
    const sHat = sumTiBi / sumTiSq;
    const eHat = sHat - 1;
    const k = Math.pow((eHat * Math.pow(2, this.mu)) / (1 - Math.pow(this.nVocab, -eHat)), 1 / sHat);
    this.n = Math.min(this.n, Math.max(1, Number.isFinite(k) ? Math.floor(k) : 1));
    this.softmax();
    const token = this.draw();
    this.mirostatUpdate(token);
    return token;
  }

  /** Mirostat 2.0: drops tokens whose surprise exceeds mu. */
  private mirostatV2(): number {
    this.sort();
    this.softmax();
    let k = 0;
    while (k < this.n && -Math.log2(this.prob[this.ids[k]]) <= this.mu) k++;
    this.n = Math.max(1, k);
    this.softmax();
    const token = this.draw();
    this.mirostatUpdate(token);
    return token;
  }
}

/** z[i] = the length of the longest common prefix of s and s[i..]; z[0] = s.length. */
export function zArray(s: Int32Array): Int32Array {
  const n = s.length;
  const z = new Int32Array(n);
  if (n === 0) return z;
  z[0] = n;
  let l = 0;
  let r = 0;
  for (let i = 1; i < n; i++) {
    let k = i < r ? Math.min(r - i, z[i - l]) : 0;
    while (i + k < n && s[k] === s[i + k]) k++;
    z[i] = k;
    if (i + k > r) {
      l = i;
      r = i + k;
    }
  }
  return z;
}
