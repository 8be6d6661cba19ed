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
  const first = await chain.sample(step, banned);
  if (!grammar || grammar.allows(first)) return { token: first, resampled: false };
  // Every logit, masked: all() hands over a copy of its own.
  const logits = await step.all();
  grammar.maskLogits(logits);
  return { token: chain.sampleLogits(logits, banned), resampled: true };
}
