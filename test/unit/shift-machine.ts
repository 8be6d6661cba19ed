// A randomized state machine over Sequence (seeded, so every run repeats):
// random appends, generations (through generate()), overflow shifts, prompt
// edits that drop a span, truncations, regenerations and resets. A model of
// the expected behaviour, written here independently, predicts the cached
// tokens and the shift events of each step, and replays the same cache
// operations on a mirror session of a CPU-only model. After every step:
// - the sequence holds the predicted tokens, at positions 0 .. n - 1, and
//   reported exactly the predicted shifts;
// - its logits equal the mirror's (the CPU-only engine doing the same
//   operations) within `tolerance`;
// - while no shift has touched the cached tokens, its logits equal a fresh
//   evaluation of the same tokens within `freshTolerance`.
import assert from 'node:assert/strict';

import type { ContextShiftOptions, ShiftEvent } from '../../src/shared/types.js';
import type { Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { generate as generateText } from '../../src/runtime/generate.js';
import { MIN_SHIFT_REUSE, Sequence } from '../../src/runtime/sequence.js';

export interface MachineOptions {
  /** The model under test (CPU-only, split or all-GPU). */
  model: Model;
  /** A CPU-only load of the same weights: the mirror and fresh evaluations. */
  reference: Model;
  seed: number;
  steps: number;
  nCtx: number;
  contextShift?: ContextShiftOptions;
  tolerance: number;
  freshTolerance: number;
}

export interface MachineReport {
  ops: Record<string, number>;
  shifts: Record<ShiftEvent['kind'], number>;
  freshChecks: number;
  maxDiff: number;
}

class Rng {
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}


/** What the sequence should do, replayed on a mirror session. */
class Expected {
  tokens: number[] = [];
  /** Length of the prefix whose cache entries equal a fresh evaluation. */
  clean = 0;
  events: ShiftEvent[] = [];

  constructor(
    readonly mirror: Session,
    readonly bos: number,
    readonly shift: ContextShiftOptions | undefined,
  ) {}

  private nKeep(): number {
    const n = this.shift?.nKeep ?? (this.tokens[0] === this.bos ? 1 : 0);
    return Math.min(n, this.tokens.length);
  }

  private erase(kind: ShiftEvent['kind'], at: number, n: number): void {
    this.mirror.erase(at, at + n);
    this.tokens.splice(at, n);
    this.clean = Math.min(this.clean, at);
    this.events.push({ kind, position: at, evicted: n, nPast: this.tokens.length });
  }

  private async eval(tokens: number[]): Promise<void> {
    const wasClean = this.clean === this.tokens.length;
    await this.mirror.eval(tokens);
    this.tokens.push(...tokens);
    if (wasClean) this.clean = this.tokens.length;
  }

  async prefill(prompt: number[]): Promise<void> {
    const common = (): number => {
      let c = 0;
      while (c < prompt.length && c < this.tokens.length && prompt[c] === this.tokens[c]) c++;
      return c;
    };
    let c = common();
    if (c < this.tokens.length && c >= this.nKeep()) {
      // The shortest span after c whose removal leaves a cached tail (of at
      // least MIN_SHIFT_REUSE tokens) that the prompt continues with.
      for (let d = 1; this.tokens.length - c - d >= MIN_SHIFT_REUSE; d++) {
        const tail = this.tokens.slice(c + d);
        if (tail.length <= prompt.length - c && tail.every((t, i) => prompt[c + i] === t)) {
          this.erase('prompt-edit', c, d);
          c = common();
          break;
        }
      }
    }
    if (c === prompt.length) c--;
    this.mirror.truncate(c);
    this.tokens.length = c;
    this.clean = Math.min(this.clean, c);
    await this.eval(prompt.slice(c));
  }

  async append(token: number, nCtx: number): Promise<void> {
    if (this.tokens.length === nCtx) {
      const keep = this.nKeep();
      const room = this.tokens.length - keep;
      this.erase('overflow', keep, Math.min(room, Math.max(this.shift?.nDiscard ?? Math.floor(room / 2), 1)));
    }
    await this.eval([token]);
  }
}

export async function runShiftMachine(o: MachineOptions): Promise<MachineReport> {
  const rng = new Rng(o.seed);
  const bos = o.model.info.bos;
  const seqEvents: ShiftEvent[] = [];
  const seq = new Sequence(Session.create(o.model, { nCtx: o.nCtx }), { contextShift: o.contextShift, onShift: (e) => seqEvents.push(e) });
  const want = new Expected(Session.create(o.reference, { nCtx: o.nCtx }), bos, o.contextShift);
  const fresh = Session.create(o.reference, { nCtx: o.nCtx });
  const report: MachineReport = { ops: {}, shifts: { overflow: 0, 'prompt-edit': 0 }, freshChecks: 0, maxDiff: 0 };
  const words = (n: number): number[] => Array.from({ length: n }, () => rng.int(3, o.model.info.nVocab - 1));
  let lastGen: { promptLen: number; n: number } | null = null;

  const generate = async (prompt: number[], n: number): Promise<void> => {
    const r = await generateText(o.model, seq, { temperature: 0, promptIds: prompt, maxTokens: n, ignoreEos: true });
    await want.prefill(prompt);
    for (const t of r.ids.slice(0, -1)) await want.append(t, o.nCtx);
    lastGen = { promptLen: prompt.length, n };
  };

  try {
    await generate([bos, ...words(rng.int(1, 20))], rng.int(2, 10));
    for (let step = 0; step < o.steps; step++) {
      const n = want.tokens.length;
      const op = rng.pick(['append', 'generate', 'overflow', 'edit', 'truncate', 'regenerate', 'edit-last', 'reset'] as const);
      report.ops[op] = (report.ops[op] ?? 0) + 1;
      const where = `seed ${o.seed} step ${step} (${op}, ${n} tokens cached)`;
      switch (op) {
        case 'append': {
          const p = [...want.tokens, ...words(rng.int(1, 12))];
          if (p.length > o.nCtx) {
            // Too long for the context: a typed error that changes nothing.
            const before = await seq.session.fullLogits();
            await assert.rejects(seq.prefill(p), (e: unknown) => (e as { code?: string }).code === 'context/overflow', where);
            assert.deepEqual(await seq.session.fullLogits(), before, where);
            break;
          }
          await seq.prefill(p);
          await want.prefill(p);
          break;
        }
        case 'generate':
          await generate([...want.tokens.slice(0, Math.max(1, n - 1)), ...words(rng.int(1, 4))].slice(-o.nCtx), rng.int(2, 24));
          break;
        case 'overflow': {
          // Generate past the end of the window.
          const p = want.tokens.length > o.nCtx - 8 ? want.tokens.slice(0, o.nCtx - 8) : [...want.tokens];
          await generate(p, o.nCtx - p.length + rng.int(2, 40));
          break;
        }
        case 'edit': {
          // Drop a span after the kept head and add a turn: what a chat
          // front end does when old turns no longer fit.
          const keep = Math.max(1, o.contextShift?.nKeep ?? 1);
          if (n - keep < MIN_SHIFT_REUSE + 2) break;
          const s = rng.int(keep, n - MIN_SHIFT_REUSE - 1);
          const d = rng.int(1, n - s - MIN_SHIFT_REUSE);
          const p = [...want.tokens.slice(0, s), ...want.tokens.slice(s + d), ...words(rng.int(0, 8))];
          await seq.prefill(p);
          await want.prefill(p);
          break;
        }
        case 'truncate': {
          const p = want.tokens.slice(0, rng.int(1, n));
          await seq.prefill(p);
          await want.prefill(p);
          break;
        }
        case 'regenerate': {
          const g = lastGen as { promptLen: number; n: number } | null;
          if (!g || g.promptLen > n) break;
          await generate(want.tokens.slice(0, g.promptLen), g.n);
          break;
        }
        case 'edit-last': {
          const p = [...want.tokens.slice(0, rng.int(1, n)), ...words(rng.int(1, 10))].slice(0, o.nCtx);
          await seq.prefill(p);
          await want.prefill(p);
          break;
        }
        case 'reset':
          seq.clear();
          want.mirror.truncate(0);
          want.tokens = [];
          want.clean = 0;
          await generate([...(rng.next() < 0.7 ? [bos] : []), ...words(rng.int(1, 40))], rng.int(2, 8));
          break;
      }
      assert.deepEqual(seq.tokens, want.tokens, `${where}: the cached tokens`);
      assert.equal(seq.session.nPast, want.tokens.length, where);
      assert.deepEqual(seqEvents, want.events, `${where}: the shift events`);
      const logits = await seq.session.fullLogits();
      const d = maxDiff(logits, want.mirror.logits());
      report.maxDiff = Math.max(report.maxDiff, d);
      assert.ok(d <= o.tolerance, `${where}: logits differ from the mirror by ${d}`);
      if (want.clean === want.tokens.length) {
        fresh.truncate(0);
        await fresh.eval(want.tokens);
        const f = maxDiff(logits, fresh.logits());
        assert.ok(f <= o.freshTolerance, `${where}: logits differ from a fresh evaluation by ${f}`);
        report.freshChecks++;
      }
    }
    for (const e of seqEvents) report.shifts[e.kind]++;
    return report;
  } finally {
    seq.session.free();
    want.mirror.free();
    fresh.free();
  }
}
