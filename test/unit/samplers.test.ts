// The TypeScript sampler chain against a plain reference written here from
// the samplers' definitions (llama.cpp's, KoboldCPP's for the slope and
// top-A): every stage on fixed logits, whole seeded chains token for token
// with the same mt19937 stream, and sampled frequencies against the
// reference distribution.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SamplerChain, zArray } from '../../src/sampling/chain.js';
import { Mt19937 } from '../../src/sampling/mt19937.js';
import { resolveSampling, type ResolvedSampling } from '../../src/sampling/params.js';
import type { SamplerName, SamplingParams } from '../../src/shared/types.js';

type Cand = { id: number; logit: number; p: number };

/** Fixed pseudo-random logits (an LCG, so the test needs no seed library). */
function logitsFor(seed: number, n: number, spread = 4): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * spread;
  }
  return out;
}

// --- the reference: arrays of objects, full sorts, no cleverness ------------

const byLogit = (a: Cand, b: Cand) => b.logit - a.logit || a.id - b.id;

function softmax(c: Cand[]): Cand[] {
  const max = Math.max(...c.map((x) => x.logit));
  const e = c.map((x) => Math.exp(x.logit - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return c.map((x, i) => ({ ...x, p: e[i] / sum }));
}

const ref = {
  top_k(c: Cand[], k: number): Cand[] {
    return k <= 0 ? c : [...c].sort(byLogit).slice(0, k);
  },
  top_p(c: Cand[], p: number): Cand[] {
    if (p >= 1) return c;
    const s = softmax([...c].sort(byLogit));
    let cum = 0;
    for (let i = 0; i < s.length; i++) {
      cum += s[i].p;
      if (cum >= p) return s.slice(0, i + 1);
    }
    return s;
  },
  min_p(c: Cand[], p: number): Cand[] {
    if (p <= 0) return c;
    const s = softmax(c);
    const max = Math.max(...s.map((x) => x.p));
    const kept = s.filter((x) => x.p >= p * max * (1 - 1e-6));
    return kept.length ? kept : [s[0]];
  },
  typical_p(c: Cand[], p: number): Cand[] {
    if (p >= 1) return c;
    const s = softmax(c);
    const h = -s.reduce((a, x) => a + (x.p > 0 ? x.p * Math.log(x.p) : 0), 0);
    const order = [...s].sort((a, b) => Math.abs(-Math.log(a.p) - h) - Math.abs(-Math.log(b.p) - h) || a.id - b.id);
    let cum = 0;
    for (let i = 0; i < order.length; i++) {
      cum += order[i].p;
      if (cum > p) return order.slice(0, i + 1);
    }
    return order;
  },
  tfs_z(c: Cand[], z: number): Cand[] {
    if (z >= 1 || c.length <= 2) return c;
    const s = softmax([...c].sort(byLogit));
    const d1 = s.slice(0, -1).map((x, i) => x.p - s[i + 1].p);
    const d2 = d1.slice(0, -1).map((x, i) => Math.abs(x - d1[i + 1]));
    const sum = d2.reduce((a, b) => a + b, 0);
    let cum = 0;
    for (let i = 0; i < d2.length; i++) {
      cum += d2[i] / sum;
      if (cum > z) return s.slice(0, Math.max(1, i));
    }
    return s;
  },
  top_a(c: Cand[], a: number): Cand[] {
    if (a <= 0) return c;
    const s = softmax([...c].sort(byLogit));
    const t = a * s[0].p * s[0].p;
    return s.filter((x, i) => i === 0 || x.p >= t);
  },
  /** XTC when its coin says apply. */
  xtc(c: Cand[], threshold: number): Cand[] {
    if (threshold > 0.5 || c.length < 2) return c;
    const s = softmax([...c].sort(byLogit));
    const above = s.filter((x) => x.p >= threshold).length;
    return above >= 2 ? s.slice(above - 1) : s;
  },
  temperature(c: Cand[], t: number): Cand[] {
    if (t <= 0) return [[...c].sort(byLogit)[0]];
    return c.map((x) => ({ ...x, logit: x.logit / t }));
  },
  penalties(c: Cand[], history: number[], p: ResolvedSampling): Cand[] {
    const n = p.repeat_last_n < 0 ? history.length : p.repeat_last_n;
    const win = n === 0 ? [] : history.slice(-n);
    const half = Math.floor(win.length / 2);
    const sloped = p.repeat_penalty_slope !== 1 && p.repeat_penalty > 1;
    return c.map((x) => {
      const count = win.filter((t) => t === x.id).length;
      if (count === 0) return x;
      const near = win.slice(half).includes(x.id);
      const pen = sloped && !near ? 1 + (p.repeat_penalty - 1) * p.repeat_penalty_slope : p.repeat_penalty;
      let l = x.logit <= 0 ? x.logit * pen : x.logit / pen;
      l -= count * p.frequency_penalty + p.presence_penalty;
      return { ...x, logit: l };
    });
  },
  /** DRY by brute force: for every earlier position, extend the match backwards one token at a time. */
  dry(c: Cand[], history: number[], p: ResolvedSampling, isBreaker: (t: number) => boolean): Cand[] {
    if (p.dry_multiplier === 0) return c;
    const h = p.dry_penalty_last_n < 0 ? history : history.slice(-p.dry_penalty_last_n);
    const L = h.length;
    const best = new Map<number, number>();
    for (let i = 0; i < L - 1; i++) {
      let m = 0;
      while (i - m >= 0 && h[i - m] === h[L - 1 - m] && !isBreaker(h[i - m])) m++;
      if (m >= p.dry_allowed_length && m > (best.get(h[i + 1]) ?? 0)) best.set(h[i + 1], m);
    }
    return c.map((x) => (best.has(x.id) ? { ...x, logit: x.logit - p.dry_multiplier * p.dry_base ** (best.get(x.id)! - p.dry_allowed_length) } : x));
  },
};

/** The whole reference chain, drawing from its own mt19937 exactly where the chain under test does. */
class RefChain {
  readonly p: ResolvedSampling;
  private readonly rng: Mt19937;
  private readonly xtcRng: Mt19937;
  history: number[] = [];
  mu: number;

  constructor(params: SamplingParams, private readonly isBreaker: (t: number) => boolean = () => false) {
    this.p = resolveSampling(params);
    this.rng = new Mt19937(this.p.seed);
    this.xtcRng = new Mt19937(this.p.seed);
    this.mu = 2 * this.p.mirostat_tau;
  }

  private draw(c: Cand[]): number {
    if (c.length === 1) return c[0].id;
    const s = softmax(c);
    const u = this.rng.nextDouble();
    let cum = 0;
    for (const x of s) {
      cum += x.p;
      if (u < cum) return x.id;
    }
    return s[s.length - 1].id;
  }

  sample(logits: Float32Array): number {
    const p = this.p;
    let c: Cand[] = Array.from(logits, (logit, id) => ({ id, logit, p: 0 }));
    const stage = (s: SamplerName) => {
      switch (s) {
        case 'penalties': c = ref.penalties(c, this.history, p); break;
        case 'dry': c = ref.dry(c, this.history, p, this.isBreaker); break;
        case 'top_k': c = ref.top_k(c, p.top_k); break;
        case 'top_p': c = ref.top_p(c, p.top_p); break;
        case 'min_p': c = ref.min_p(c, p.min_p); break;
        case 'typical_p': c = ref.typical_p(c, p.typical_p); break;
        case 'tfs_z': c = ref.tfs_z(c, p.tfs_z); break;
        case 'top_a': c = ref.top_a(c, p.top_a); break;
        case 'xtc':
          if (p.xtc_probability > 0 && p.xtc_threshold <= 0.5 && c.length >= 2 && this.xtcRng.nextFloat() <= p.xtc_probability) {
            c = ref.xtc(c, p.xtc_threshold);
          }
          break;
        case 'temperature': c = ref.temperature(c, p.temperature); break;
      }
    };
    if (p.mirostat) {
      for (const s of p.sampler_order) if (s === 'penalties' || s === 'dry') stage(s);
      c = softmax([...ref.temperature(c, p.temperature)].sort(byLogit));
      if (p.mirostat === 1) {
        let num = 0;
        let den = 0;
        for (let i = 0; i < 99 && i < c.length - 1; i++) {
          const t = Math.log((i + 2) / (i + 1));
          num += t * Math.log(c[i].p / c[i + 1].p);
          den += t * t;
        }
        const s = num / den;
        const k = ((s - 1) * 2 ** this.mu / (1 - logits.length ** -(s - 1))) ** (1 / s);
        c = c.slice(0, Math.max(1, Number.isFinite(k) ? Math.floor(k) : 1));
      } else {
        const keep = c.filter((x) => -Math.log2(x.p) <= this.mu).length;
        c = c.slice(0, Math.max(1, keep));
      }
      c = softmax(c);
      const id = this.draw(c);
      this.mu -= p.mirostat_eta * (-Math.log2(c.find((x) => x.id === id)!.p) - p.mirostat_tau);
      return id;
    }
    for (const s of p.sampler_order) stage(s);
    return this.draw(c);
  }
}

// --- tests ------------------------------------------------------------------

function sameCandidates(actual: { id: number; p: number }[], expected: Cand[], what: string): void {
  const a = [...actual].sort((x, y) => x.id - y.id);
  const e = softmax(expected).sort((x, y) => x.id - y.id);
  assert.deepEqual(a.map((x) => x.id), e.map((x) => x.id), `${what}: kept tokens`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i].p - e[i].p) < 1e-5, `${what}: p of ${a[i].id}: ${a[i].p} vs ${e[i].p}`);
}

describe('mt19937', () => {
  test('matches std::mt19937 (the 10000th output of the default seed is 4123659995)', () => {
    const r = new Mt19937(5489);
    assert.equal(r.nextU32(), 3499211612);
    for (let i = 1; i < 9999; i++) r.nextU32();
    assert.equal(r.nextU32(), 4123659995);
  });
});

describe('each sampler against the reference on fixed logits', () => {
  const nVocab = 200;
  const cases: [SamplerName, SamplingParams, number][] = [
    ['top_k', { top_k: 7 }, 1],
    ['top_k', { top_k: 150 }, 2],
    ['top_p', { top_p: 0.6 }, 3],
    ['top_p', { top_p: 0.95 }, 4],
    ['min_p', { min_p: 0.1 }, 5],
    ['typical_p', { typical_p: 0.5 }, 6],
    ['tfs_z', { tfs_z: 0.9 }, 7],
    ['top_a', { top_a: 0.2 }, 8],
    ['xtc', { xtc_probability: 1, xtc_threshold: 0.02 }, 9],
    ['temperature', { temperature: 0.5 }, 10],
    ['temperature', { temperature: 0 }, 11],
  ];
  for (const [stage, params, seed] of cases) {
    test(`${stage} ${JSON.stringify(params)}`, () => {
      const logits = logitsFor(seed, nVocab, 3);
      const chain = new SamplerChain(params, { nVocab, nCtx: 512 });
      chain.reset(logits);
      chain.apply(stage);
      const p = resolveSampling(params);
      const all: Cand[] = Array.from(logits, (logit, id) => ({ id, logit, p: 0 }));
      const expected =
        stage === 'top_k' ? ref.top_k(all, p.top_k)
        : stage === 'top_p' ? ref.top_p(all, p.top_p)
        : stage === 'min_p' ? ref.min_p(all, p.min_p)
        : stage === 'typical_p' ? ref.typical_p(all, p.typical_p)
        : stage === 'tfs_z' ? ref.tfs_z(all, p.tfs_z)
        : stage === 'top_a' ? ref.top_a(all, p.top_a)
        : stage === 'xtc' ? ref.xtc(all, p.xtc_threshold)
        : ref.temperature(all, p.temperature);
      assert.ok(expected.length < nVocab || stage === 'temperature', 'the case exercises the filter');
      sameCandidates(chain.candidates(), expected, stage);
    });
  }

  test('repetition penalty with range and KoboldCPP slope, presence and frequency penalties', () => {
    const logits = logitsFor(12, 50, 3);
    const history = [3, 7, 7, 9, 3, 12, 40, 41, 7, 3, 0, 2];
    const params = { repeat_penalty: 1.3, repeat_last_n: 10, repeat_penalty_slope: 0.5, presence_penalty: 0.2, frequency_penalty: 0.1 };
    const chain = new SamplerChain(params, { nVocab: 50, nCtx: 512 });
    for (const t of history) chain.accept(t);
    chain.reset(logits);
    chain.apply('penalties');
    const all: Cand[] = Array.from(logits, (logit, id) => ({ id, logit, p: 0 }));
    const expected = ref.penalties(all, history, resolveSampling(params));
    sameCandidates(chain.candidates(), expected, 'penalties');
    assert.notDeepEqual(expected.map((x) => x.logit), [...logits], 'the penalty changed something');
  });

  test('DRY penalizes the token that would extend a repeat, by the length of the repeat, and stops at breakers', () => {
    const nVocab = 30;
    const logits = new Float32Array(nVocab);
    // 5 6 7 8 | 20 | 5 6 7 -> 8 would repeat "5 6 7 8" (match of 3); 1 is a breaker.
    const history = [5, 6, 7, 8, 20, 1, 6, 7, 8, 9, 20, 5, 6, 7];
    const params = { dry_multiplier: 0.8, dry_base: 1.75, dry_allowed_length: 2 };
    const breaker = (t: number) => t === 1;
    const chain = new SamplerChain(params, { nVocab, nCtx: 512, tokenText: (t) => (t === 1 ? 'x\ny' : `t${t}`) });
    for (const t of history) chain.accept(t);
    chain.reset(logits);
    chain.apply('dry');
    const expected = ref.dry(Array.from(logits, (logit, id) => ({ id, logit, p: 0 })), history, resolveSampling(params), breaker);
    sameCandidates(chain.candidates(), expected, 'dry');
    // Only 8 continues an earlier occurrence of the tail "5 6 7" (3 tokens): 0.8 * 1.75^(3 - 2). The
    // tail "6 7" also occurs after the breaker 1, followed by 8 again; nothing else is penalized.
    const pen8 = -expected.find((x) => x.id === 8)!.logit;
    assert.ok(Math.abs(pen8 - 0.8 * 1.75) < 1e-6, `penalty of 8 is ${pen8}`);
    assert.equal(expected.filter((x) => x.logit !== 0).length, 1);
  });

  test('the Z-array gives longest common prefixes', () => {
    assert.deepEqual([...zArray(Int32Array.from([1, 1, 2, 1, 1, 2, 1]))], [7, 1, 0, 4, 1, 0, 1]);
  });

  test('logit bias and banned tokens act before everything', () => {
    const logits = logitsFor(13, 40, 1);
    const chain = new SamplerChain({ temperature: 0 }, { nVocab: 40, nCtx: 64, logitBias: { '17': 100 }, bannedTokens: [17] });
    assert.notEqual(chain.sampleLogits(logits), 17);
    const biased = new SamplerChain({ temperature: 0 }, { nVocab: 40, nCtx: 64, logitBias: { '23': 100 } });
    assert.equal(biased.sampleLogits(logits), 23);
    assert.throws(() => new SamplerChain({}, { nVocab: 40, nCtx: 64, bannedTokens: [40] }), { code: 'argument/invalid' });
    const all = new SamplerChain({}, { nVocab: 3, nCtx: 64, bannedTokens: [0, 1, 2] });
    assert.throws(() => all.sampleLogits(new Float32Array(3)), { code: 'argument/invalid', message: /every token is banned/ });
  });
});

describe('whole chains against the reference, token for token', () => {
  const nVocab = 300;
  const configs: SamplingParams[] = [
    {},
    { temperature: 1.3, top_k: 0, top_p: 0.9, min_p: 0 },
    { temperature: 1, top_k: 0, top_p: 1, min_p: 0, typical_p: 0.7 },
    { temperature: 0.7, top_k: 100, tfs_z: 0.95, top_a: 0.1 },
    { temperature: 1, xtc_probability: 0.5, xtc_threshold: 0.05, top_k: 0, min_p: 0.02 },
    { repeat_penalty: 1.2, repeat_last_n: 32, presence_penalty: 0.3, frequency_penalty: 0.2, dry_multiplier: 0.8 },
    { temperature: 1.1, sampler_order: ['temperature', 'min_p', 'top_k'] },
    { temperature: 1, mirostat: 1, mirostat_tau: 4 },
    { temperature: 1, mirostat: 2, mirostat_tau: 3, mirostat_eta: 0.2 },
    { temperature: 0, repeat_penalty: 1.5 },
  ];
  for (const [k, cfg] of configs.entries()) {
    test(`${JSON.stringify(cfg)}`, () => {
      const params = { ...cfg, seed: 1000 + k };
      const chain = new SamplerChain(params, { nVocab, nCtx: 256, tokenText: (t) => (t % 37 === 0 ? '\n' : 'w') });
      const reference = new RefChain(params, (t) => t % 37 === 0);
      const got: number[] = [];
      const want: number[] = [];
      for (let step = 0; step < 120; step++) {
        // Logits that favour recent tokens a little, so penalties and DRY have repeats to act on.
        const logits = logitsFor(step * 7 + k, nVocab, 2.5);
        for (const t of reference.history.slice(-4)) logits[t] += 1;
        const a = chain.sampleLogits(logits);
        const b = reference.sample(logits);
        got.push(a);
        want.push(b);
        chain.accept(a);
        reference.history.push(b);
        if (a !== b) break;
      }
      assert.deepEqual(got, want);
      assert.ok(new Set(got).size > (cfg.temperature === 0 ? 1 : 10), 'the chain samples many different tokens');
    });
  }
});

describe('seeded sampling', () => {
  test('the same seed repeats the tokens and another seed does not', () => {
    const logits = logitsFor(99, 100, 1.5);
    const run = (seed: number) => {
      const c = new SamplerChain({ seed, top_k: 0, min_p: 0, top_p: 1, temperature: 1 }, { nVocab: 100, nCtx: 64 });
      return Array.from({ length: 50 }, () => c.sampleLogits(logits));
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  test('frequencies follow the distribution that is left after the filters', () => {
    const nVocab = 60;
    const logits = logitsFor(5, nVocab, 1.5);
    const params = { seed: 3, temperature: 0.9, top_k: 20, top_p: 0.9, min_p: 0.05 };
    const chain = new SamplerChain(params, { nVocab, nCtx: 64 });
    const p = resolveSampling(params);
    let c: Cand[] = Array.from(logits, (logit, id) => ({ id, logit, p: 0 }));
    c = softmax(ref.temperature(ref.min_p(ref.top_p(ref.top_k(c, p.top_k), p.top_p), p.min_p), p.temperature));
    const N = 20000;
    const counts = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const t = chain.sampleLogits(logits);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    for (const id of counts.keys()) assert.ok(c.some((x) => x.id === id), `token ${id} was filtered out but sampled`);
    for (const x of c) {
      const f = (counts.get(x.id) ?? 0) / N;
      const sigma = Math.sqrt((x.p * (1 - x.p)) / N);
      assert.ok(Math.abs(f - x.p) < 5 * sigma + 1e-4, `token ${x.id}: frequency ${f} vs p ${x.p}`);
    }
  });

  test('defaults are llama.cpp\'s', () => {
    const d = resolveSampling({ seed: 1 });
    assert.deepEqual(
      [d.temperature, d.top_k, d.top_p, d.min_p, d.typical_p, d.repeat_penalty, d.repeat_last_n, d.presence_penalty, d.frequency_penalty],
      [0.8, 40, 0.95, 0.05, 1, 1, 64, 0, 0],
    );
    assert.deepEqual([d.dry_multiplier, d.dry_base, d.dry_allowed_length, d.xtc_probability, d.xtc_threshold, d.mirostat_tau, d.mirostat_eta], [0, 1.75, 2, 0, 0.1, 5, 0.1]);
    assert.throws(() => resolveSampling({ sampler_order: ['top_z' as SamplerName] }), { code: 'argument/invalid' });
  });
});
