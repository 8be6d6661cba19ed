// A grammar as a stage of the sampling stack, the way llama.cpp's common
// sampler applies it: the chain samples first, from whatever the evaluation
// read back (the device's best few, or every logit); only when the grammar
// refuses that token are all the logits read, masked by the grammar and
// sampled again. A model that mostly follows its grammar thus pays for the
// grammar almost nothing, and the GPU pick keeps working under a grammar.
import type { StepLogits } from '../core/logits.js';
import type { SamplerChain } from './chain.js';
import type { GrammarMatcher } from './grammar/index.js';

/** What sampleConstrained did, for counters and tests. */
export interface ConstrainedSample {
  token: number;
  /** The chain's first choice was refused and every logit was masked. */
  resampled: boolean;
}

/** The next token under an optional grammar; `banned` are excluded at this step. */
export async function sampleConstrained(
  chain: SamplerChain,
  grammar: GrammarMatcher | undefined,
  step: StepLogits,
  banned?: ReadonlySet<number>,
): Promise<ConstrainedSample> {
  // From the device's best few, the chain samples without the logits, which
  // are read only if the grammar refuses. Otherwise they are read once:
  // sampleLogits leaves its argument as it was, so a refused sample masks
  // the same copy (not a second readback of the whole vocabulary).
  let logits: Float32Array | undefined;
  let first: number;
  if (step.picked && !(banned && banned.size > 0)) {
    first = await chain.sample(step, banned);
  } else {
    logits = await step.all();
    first = chain.sampleLogits(logits, banned);
  }
  if (!grammar || grammar.allows(first)) return { token: first, resampled: false };
  logits ??= await step.all();
  grammar.maskLogits(logits);
  return { token: chain.sampleLogits(logits, banned), resampled: true };
}
