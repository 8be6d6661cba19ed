// Hob's side of bench/structured.ts, in its process: the real
// request path (prepareRequest, then generate from src/runtime, with
// response_format json_schema or without), the schema's compile times, the
// per-model vocabulary index, and a profiled pass per arm. A benchmark, not
// a test.
import { loadavg } from 'node:os';

import { Engine, Session, loadModelFile, type Model, type StepLogits } from '../src/node/index.js';
import type { EvalOptions } from '../src/core/session.js';
import { generate, modelGrammarVocab } from '../src/runtime/generate.js';
import { prepareRequest, type ReplyRequest } from '../src/runtime/request.js';
import { Sequence, type PrefillOptions, type PrefillResult } from '../src/runtime/sequence.js';
import { GrammarMatcher, GrammarVocab, parseGrammar } from '../src/sampling/grammar/index.js';
import { jsonSchemaToGbnf } from '../src/sampling/grammar/json-schema.js';
import { DOCUMENT, MESSAGES, SAMPLING, SCHEMA, TEACHER_BIAS } from './structured-case.js';
import { profileStep, type ProfileHooks, type StepProfile } from './structured-profile.js';

export type Case = 'random' | 'teacher';
export type Arm = 'free' | 'schema';

export interface HobSample {
  case: Case;
  arm: Arm;
  rep: number;
  /** Steps timed (each an evaluation and the sample after it), from the first sampled token on. */
  steps: number;
  ms: number;
  /** Each step's ms, in order. */
  stepMs: number[];
  /** generate()'s own numbers: decodeTokens evaluations in decodeMs (the first sample included). */
  decodeTokens: number;
  decodeMs: number;
  evalMs: number;
  resamples: number;
  /** Samples drawn (tokens, and the end of generation when it ended the reply). */
  samples: number;
  finishReason: string;
  /** CPU time of the whole process (the engine's threads included) over
   *  the timed steps: unlike wall time, other work on the machine adds little to it. */
  cpuMs: number;
  tokens: number[];
  text: string;
  loadavg: number[];
}

export interface ColdWarm {
  /** The first call in the process. */
  coldMs: number;
  /** Median and fastest of the calls after it. */
  warmMs: number;
  warmMinMs: number;
  /** The same in CPU time of the process (its compiler and collector
   *  threads included), which waiting for a busy machine's cores does not add to. */
  coldCpuMs: number;
  warmCpuMs: number;
}

export interface HobRun {
  info: { nVocab: number; variant: string; threads: number };
  compile?: Record<string, ColdWarm | number>;
  promptIds: number[];
  docIds: number[];
  gbnf: string;
  samples: HobSample[];
  profiles: Record<string, StepProfile>;
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The generation loop's sequence, timed: a run's clock starts when its
 * first sampled token goes to the model, and each step runs from one
 * evaluation to the next. With a teacher, the logits it hands the sampler
 * have the document's next token raised: teacher forcing changes the
 * model's output, not the sampling path.
 */
class BenchSequence extends Sequence {
  teacher: readonly number[] | undefined;
  appendTimes: number[] = [];
  /** The process's CPU usage when the timed window opened. */
  cpuAtFirst: NodeJS.CpuUsage | undefined;
  evalMs = 0;
  /** Set while profiling. */
  hooks: ProfileHooks | undefined;

  override async prefill(prompt: readonly number[], o: PrefillOptions = {}): Promise<PrefillResult> {
    this.appendTimes = [];
    this.evalMs = 0;
    const r = await super.prefill(prompt, o);
    return { ...r, logits: this.wrap(r.logits) };
  }

  override async append(tokens: readonly number[], o: EvalOptions = {}): Promise<StepLogits> {
    const t0 = performance.now();
    if (this.appendTimes.length === 0) {
      this.hooks?.reset();
      this.cpuAtFirst = process.cpuUsage();
    }
    this.appendTimes.push(t0);
    const step = await super.append(tokens, o);
    this.evalMs += performance.now() - t0;
    return this.wrap(step);
  }

  private wrap(step: StepLogits): StepLogits {
    const forced = this.teacher?.[this.appendTimes.length];
    this.hooks?.newStep();
    return {
      nVocab: step.nVocab,
      picked: step.picked,
      all: async () => {
        const t0 = performance.now();
        const logits = await step.all();
        if (forced !== undefined) logits[forced] += TEACHER_BIAS;
        this.hooks?.readback(performance.now() - t0);
        return logits;
      },
    };
  }
}

/** Runs `fn` `n` times: the first call and the median and fastest of the rest, in ms. */
function timeColdWarm(n: number, fn: () => unknown): ColdWarm {
  const t: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const warm = t.slice(1);
  return {
    coldMs: round(t[0]), warmMs: round(median(warm)), warmMinMs: round(Math.min(...warm)),
    coldCpuMs: round(cpu[0]), warmCpuMs: round(median(cpu.slice(1))),
  };
}

/** Schema to grammar, matcher and request preparation, each first call the first of its kind in this process. */
function compileTimes(model: Model, schemaReq: ReplyRequest, freeReq: ReplyRequest): Record<string, ColdWarm | number> {
  const tokenize = (text: string) => model.tokenize(text, { addSpecial: false, parseSpecial: true });
  const schemaToGbnf = timeColdWarm(21, () => jsonSchemaToGbnf(SCHEMA));
  const gbnf = jsonSchemaToGbnf(SCHEMA);
  const gbnfParse = timeColdWarm(21, () => parseGrammar(gbnf, { tokenize }));
  const both = timeColdWarm(21, () => parseGrammar(jsonSchemaToGbnf(SCHEMA), { tokenize }));
  // Cold: the two first calls above; warm: the two together.
  const schemaToGrammar = { ...both, coldMs: round(schemaToGbnf.coldMs + gbnfParse.coldMs), coldCpuMs: round(schemaToGbnf.coldCpuMs + gbnfParse.coldCpuMs) };
  // The vocabulary index: built once per model (modelGrammarVocab caches it), then twice more.
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const vocab = modelGrammarVocab(model);
  const vocabFirstMs = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  const source = { nVocab: model.info.nVocab, pieceBytes: (id: number) => model.tokenBytes(id, true), isEog: (id: number) => model.isEog(id) };
  const vocabAgain = timeColdWarm(3, () => new GrammarVocab(source));
  const grammar = parseGrammar(gbnf, { tokenize });
  return {
    schemaToGbnf, gbnfParse, schemaToGrammar,
    matcherCreate: timeColdWarm(21, () => new GrammarMatcher(grammar, vocab)),
    prepareRequestSchema: timeColdWarm(21, () => prepareRequest(model, schemaReq)),
    prepareRequestFree: timeColdWarm(21, () => prepareRequest(model, freeReq)),
    vocabIndex: { ...vocabAgain, coldMs: round(vocabFirstMs, 1), coldCpuMs: round((c1.user + c1.system) / 1000, 1) },
    gbnfChars: gbnf.length,
    rules: grammar.ruleStart.length,
    trieNodes: vocab.nNodes,
  };
}

export interface HobOptions {
  threads: number;
  nDecode: number;
  reps: number;
  settleMs: number;
  /** Measure compile times (once per process is enough). */
  compile: boolean;
  log: (line: string) => void;
}

export async function runHob(modelPath: string, o: HobOptions): Promise<HobRun> {
  const engine = await Engine.create({ threads: o.threads });
  const model = await loadModelFile(engine, modelPath);
  const freeReq: ReplyRequest = { messages: MESSAGES, ...SAMPLING };
  const schemaReq: ReplyRequest = { ...freeReq, response_format: { type: 'json_schema', json_schema: { name: 'user', schema: SCHEMA } } };
  const compile = o.compile ? compileTimes(model, schemaReq, freeReq) : undefined;

  // The document: the request's grammar takes its tokens and is complete after them.
  const prepared = prepareRequest(model, schemaReq);
  const docIds = model.tokenize(DOCUMENT, { addSpecial: false });
  const check = new GrammarMatcher(prepared.constraint!.grammar, modelGrammarVocab(model));
  for (const id of docIds) check.accept(id);
  if (!check.isComplete) throw new Error("the document does not complete the schema's grammar");
  const promptIds = prepareRequest(model, freeReq).promptIds;
  if (JSON.stringify(prepared.promptIds) !== JSON.stringify(promptIds)) throw new Error('the prompts of the two arms differ');

  const session = Session.create(model, { nCtx: promptIds.length + Math.max(o.nDecode, docIds.length) + 64, nThreads: o.threads });
  const seq = new BenchSequence(session, { contextShift: false });
  const once = async (kase: Case, arm: Arm, rep: number): Promise<HobSample> => {
    const p = prepareRequest(model, arm === 'schema' ? schemaReq : freeReq);
    seq.teacher = kase === 'teacher' ? docIds : undefined;
    const maxTokens = kase === 'teacher' ? Math.min(o.nDecode, docIds.length) : o.nDecode;
    const r = await generate(model, seq, { ...p.generation, promptIds: p.promptIds, maxTokens });
    const end = performance.now();
    const c1 = process.cpuUsage(seq.cpuAtFirst);
    const at = [...seq.appendTimes, end];
    return {
      case: kase, arm, rep, steps: seq.appendTimes.length, ms: end - at[0],
      stepMs: at.slice(1).map((t, i) => round(t - at[i])),
      decodeTokens: r.decodeTokens, decodeMs: r.decodeMs, evalMs: seq.evalMs,
      resamples: r.resamples, samples: r.ids.length + (r.finishReason === 'stop' ? 1 : 0), finishReason: r.finishReason,
      cpuMs: (c1.user + c1.system) / 1000, tokens: r.ids, text: r.text, loadavg: loadavg().map((x) => round(x, 2)),
    };
  };

  const samples: HobSample[] = [];
  const profiles: Record<string, StepProfile> = {};
  for (const kase of ['random', 'teacher'] as const) {
    // Warm-up; the first time, twice with an idle pause between, so V8's
    // optimizing tier (background threads the engine's busy ones starve)
    // has finished before anything is timed.
    await once(kase, 'free', -1);
    await once(kase, 'schema', -1);
    if (kase === 'random') {
      await new Promise((r) => setTimeout(r, o.settleMs));
      await once(kase, 'free', -1);
      await once(kase, 'schema', -1);
    }
    // A/B, B/A, ...: each pair of runs shares the machine's load of the moment.
    for (let rep = 0; rep < o.reps; rep++) {
      for (const arm of rep % 2 === 0 ? (['free', 'schema'] as const) : (['schema', 'free'] as const)) {
        const s = await once(kase, arm, rep);
        samples.push(s);
        o.log(`hob ${o.threads}t ${kase} ${arm} rep ${rep}: ${(s.steps / (s.ms / 1000)).toFixed(2)} tok/s, ${s.resamples} refused, load ${s.loadavg[0]}`);
      }
    }
    // Where a step's time goes, in separate runs (the timers cost a little).
    for (const arm of ['free', 'schema'] as const) {
      profiles[`${kase}/${arm}`] = await profileStep(async (hooks) => {
        seq.hooks = hooks;
        try {
          const s = await once(kase, arm, -2);
          return { steps: s.steps, ms: s.ms, evalMs: s.evalMs };
        } finally {
          seq.hooks = undefined;
        }
      });
    }
  }
  const info = { nVocab: model.info.nVocab, variant: engine.variant, threads: session.nThreads };
  model.free();
  engine.dispose();
  return { info, compile, promptIds, docIds, gbnf: jsonSchemaToGbnf(SCHEMA), samples, profiles };
}
