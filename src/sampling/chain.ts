// The sampler chain: the one sampling stack of Hob, run on the next token's
// logits (the whole vocabulary, or the device's best few where pick.ts
// allows): logit bias and bans, then the samplers of `sampler_order`
// (penalties, DRY, top-k, TFS, typical-p, top-p, min-p, top-A, XTC,
// temperature), then a seeded draw, or mirostat v1/v2 in place of the
// truncating samplers. Semantics and defaults follow llama.cpp's samplers;
// the repetition penalty's slope and top-A follow KoboldCPP. It does not
// evaluate the model or know about text beyond DRY's sequence breakers.
import type { PickedLogits, SamplePick, StepLogits } from '../core/logits.js';
import { HobError } from '../shared/errors.js';
import type { SamplerName, SamplingParams } from '../shared/types.js';
import { Mt19937 } from './mt19937.js';
import { invalid, resolveSampling, type ResolvedSampling } from './params.js';
import { chainPick, deviceDrawStages } from './pick.js';

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

  /** The best logits this chain can sample from when the head runs on a
   * device (EvalOptions.pick), with `nBannedNow` tokens banned at the step;
   * null: every logit. */
  gpuPick(nBannedNow = 0): SamplePick | null {
    const pick = chainPick(this.params, this.nVocab, { biased: this.bias.length > 0, bannedNow: nBannedNow });
    if (!pick || pick.k === 1) return pick;
    // A top-k pick: the device may imitate the draw to decode ahead, with
    // this chain's next numbers (peeked: sample() still draws them).
    const stages = deviceDrawStages(this.params);
    if (!stages) return pick;
    return {
      ...pick,
      draw: {
        stages,
        uniforms: (n) => {
          const rng = this.rng.clone();
          return Float64Array.from({ length: n }, () => rng.nextDouble());
        },
      },
    };
  }

  /** The next token from an evaluation's logits: its pick's candidates when
   * it has them (and nothing is banned at this step), else every logit. */
  async sample(step: StepLogits, banned?: ReadonlySet<number>): Promise<number> {
    if (step.picked && !(banned && banned.size > 0)) return this.samplePicked(step.picked);
    return this.sampleLogits(await step.all(), banned);
  }

  /** The next token from the best k logits of a pick this chain asked for
   * (gpuPick): the same token sampleLogits gives on the whole vocabulary,
   * without touching it. */
  samplePicked(picked: PickedLogits): number {
    const n = picked.ids.length;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const id = picked.ids[i];
      if (id < 0 || id >= this.nVocab || !(picked.logits[i] > -Infinity)) continue;
      this.logit[id] = picked.logits[i];
      this.ids[m++] = id;
    }
    if (m === 0) throw new HobError('argument/invalid', 'a pick without candidates: nothing can be sampled');
    // In id order, as reset() leaves the whole vocabulary's survivors.
    this.ids.subarray(0, m).sort();
    this.n = m;
    this.sorted = false;
    return this.run();
  }

  /** The next token from logits of the whole vocabulary; `banned` are excluded at this step only. */
  sampleLogits(logits: Float32Array, banned?: Iterable<number>): number {
    this.reset(logits, banned);
    return this.run();
  }

  /** The samplers and the draw over the current candidates. */
  private run(): number {
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
