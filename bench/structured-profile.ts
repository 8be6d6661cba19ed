// Where a decode step's time goes, for bench/structured.ts: wraps
// the sampler chain's and the grammar matcher's methods in timers for one
// run, then puts them back. The stages: the model's evaluation, reading the
// logits back from wasm, the chain's first pass, the grammar's check of the
// sampled token, the whole-vocabulary mask (building it and applying it to
// the logits), the chain's second pass over the masked logits, the matcher
// advancing past the token, and the rest of the generation loop
// (detokenizing, stop strings, bookkeeping). Times are exclusive: a stage
// timed inside another is taken out of it. A benchmark aid, not a test.
import { SamplerChain } from '../src/sampling/chain.js';
import { GrammarMatcher } from '../src/sampling/grammar/index.js';

export interface StepProfile {
  steps: number;
  /** Mean ms per step of each stage, and of the whole step. */
  msPerStep: Record<string, number>;
  /** How many times each stage ran. */
  calls: Record<string, number>;
}

/** What the timed run tells the profiler. */
export interface ProfileHooks {
  /** The timed window starts (the first sampled token goes to the model). */
  reset(): void;
  /** An evaluation handed over new logits: the next sample is a first pass. */
  newStep(): void;
  /** Logits were read back from the engine, taking `ms`. */
  readback(ms: number): void;
}

type Method = (...args: never[]) => unknown;

class Timers {
  readonly acc = new Map<string, { ms: number; calls: number }>();
  /** Time spent in nested stages, per open stage. */
  private readonly nested: number[] = [];
  /** Before the grammar's check of this step's sample: a chain pass is the first. */
  firstPass = true;

  add(key: string, ms: number): void {
    const a = this.acc.get(key) ?? { ms: 0, calls: 0 };
    a.ms += ms;
    a.calls++;
    this.acc.set(key, a);
    if (this.nested.length) this.nested[this.nested.length - 1] += ms;
  }

  /** Replaces proto[name] with a version timed as `stage` (a function of the phase). */
  wrap(proto: object, name: string, stage: () => string, after?: () => void): () => void {
    const target = proto as Record<string, Method>;
    const original = target[name];
    const timers = this;
    const finish = (key: string, t0: number) => {
      const inner = timers.nested.pop()!;
      timers.add(key, performance.now() - t0 - inner);
      after?.();
    };
    target[name] = function (this: unknown, ...args: never[]) {
      const key = stage();
      const t0 = performance.now();
      timers.nested.push(0);
      let r: unknown;
      try {
        r = original.apply(this, args);
      } catch (e) {
        finish(key, t0);
        throw e;
      }
      if (r instanceof Promise) return r.finally(() => finish(key, t0));
      finish(key, t0);
      return r;
    } as Method;
    return () => {
      target[name] = original;
    };
  }
}

/** Runs `run` with the timers in place. `run` reports the steps it timed,
 *  their total ms and the evaluations' ms it measured itself. */
export async function profileStep(run: (hooks: ProfileHooks) => Promise<{ steps: number; ms: number; evalMs: number }>): Promise<StepProfile> {
  const t = new Timers();
  const pass = () => (t.firstPass ? 'chain: first pass' : 'chain: second pass');
  const hooks: ProfileHooks = {
    reset: () => t.acc.clear(),
    newStep: () => {
      t.firstPass = true;
    },
    readback: (ms) => t.add(t.firstPass ? 'logits readback' : 'logits readback for the mask', ms),
  };
  const undo = [
    t.wrap(SamplerChain.prototype, 'sample', pass),
    // sample() calls sampleLogits: the outer call holds the time.
    t.wrap(SamplerChain.prototype, 'sampleLogits', pass),
    t.wrap(GrammarMatcher.prototype, 'allows', () => 'grammar: check the sample', () => {
      t.firstPass = false;
    }),
    t.wrap(GrammarMatcher.prototype, 'maskLogits', () => 'grammar: mask every logit'),
    t.wrap(GrammarMatcher.prototype, 'accept', () => 'grammar: accept'),
  ];
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run(hooks);
  } finally {
    for (const u of undo) u();
  }
  const msPerStep: Record<string, number> = { evaluation: r.evalMs / r.steps };
  const calls: Record<string, number> = {};
  let staged = r.evalMs;
  for (const [k, v] of t.acc) {
    if (v.calls === 0) continue;
    msPerStep[k] = v.ms / r.steps;
    calls[k] = v.calls;
    staged += v.ms;
  }
  msPerStep['rest of the loop'] = (r.ms - staged) / r.steps;
  msPerStep.step = r.ms / r.steps;
  for (const k of Object.keys(msPerStep)) msPerStep[k] = Number(msPerStep[k].toFixed(3));
  return { steps: r.steps, msPerStep, calls };
}
