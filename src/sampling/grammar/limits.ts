// The budgets that keep an untrusted grammar from hanging or exhausting
// memory. llama.cpp bounds only repetitions (MAX_REPETITION_THRESHOLD); every
// other loop a grammar drives is bounded here, and running past a bound is a
// GrammarError('grammar/limit') that names it.
import { GrammarError } from '../../shared/errors.js';

export interface GrammarLimits {
  /** Bytes of GBNF source (UTF-8). */
  maxSourceBytes: number;
  /** Depth of nested groups `( ... )` in the source. */
  maxNesting: number;
  /** Grammar elements written while parsing, repetition copies included
   *  (`"long literal"{1999}` writes the literal 1999 times). */
  maxElements: number;
  /** Stacks (parse positions) the matcher may hold after any code point. */
  maxStacks: number;
  /** Depth of one stack: nesting of rule calls that are not tail calls. */
  maxStackDepth: number;
  /** Stacks visited while expanding rule references after one code point. */
  maxExpansionSteps: number;
  /** Distinct stack frames one matcher may intern over its life. */
  maxStackFrames: number;
  /** Distinct matcher states (sets of stacks) one matcher may keep. */
  maxStates: number;
  /** Bytes a lazy grammar buffers while it waits for its trigger. */
  maxTriggerBufferBytes: number;
}

export const DEFAULT_GRAMMAR_LIMITS: Readonly<GrammarLimits> = Object.freeze({
  maxSourceBytes: 1 << 20,
  maxNesting: 256,
  maxElements: 1 << 21,
  maxStacks: 4096,
  maxStackDepth: 4096,
  maxExpansionSteps: 1 << 17,
  maxStackFrames: 1 << 20,
  maxStates: 1 << 15,
  maxTriggerBufferBytes: 1 << 20,
});

export function resolveLimits(limits: Partial<GrammarLimits> | undefined): GrammarLimits {
  const out = { ...DEFAULT_GRAMMAR_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new GrammarError('grammar/limit', `grammar limit ${k} = ${v} is not a positive integer`, { bound: k });
  }
  return out;
}

/** The error for a budget exhausted: which bound, its value, and what reached it. */
export function limitError(bound: keyof GrammarLimits, limit: number, what: string): GrammarError {
  return new GrammarError('grammar/limit', `grammar ${what} exceeds ${bound} = ${limit}`, { bound, limit });
}
