// Text completion on a sequence: prefill the prompt (reusing any cached
// prefix), then sample, stream and evaluate one token at a time. Shared by
// the CLI, the worker and the tests, so all three generate the same way.
import type { Model, Session } from '../core/wasm-engine.js';
import type { SamplePick } from '../sampling/pick.js';
import type { Sequence } from './sequence.js';

/** Chooses each next token: the engine's C++ sampler, or any chain that
 * reads the session's logits the same way. */
export interface TokenSampler {
  sample(session: Session): number;
  accept(token: number): void;
  /** The best logits it can sample from, when the head runs on the GPU (Session.readout); absent: every logit. */
  gpuPick?(nVocab: number): SamplePick | null;
}

export interface CompletionOptions {
  /** Tokens to generate at most. */
  nPredict: number;
  /** Keep generating past end-of-generation tokens (for comparisons). */
  ignoreEos?: boolean;
  /** Called with each token id and the text it completes. */
  onToken?: (token: number, text: string) => void;
  /** Checked between tokens; a true return stops generation. */
  shouldStop?: () => boolean;
  /** Awaited between tokens, so a worker can receive messages (a stop). */
  pause?: () => Promise<void>;
}

export interface CompletionTimings {
  /** Prompt tokens whose cache entries were reused from the previous request. */
  reusedTokens: number;
  /** Prompt tokens evaluated. */
  prefillTokens: number;
  prefillMs: number;
  prefillTokensPerSecond: number;
  decodeTokens: number;
  decodeMs: number;
  decodeTokensPerSecond: number;
}

export interface CompletionResult {
  promptIds: number[];
  ids: number[];
  text: string;
  finishReason: 'length' | 'stop' | 'abort';
  timings: CompletionTimings;
}

const now = (): number => performance.now();

/** Generates from promptIds (which must not be empty): the sequence ends up
 * holding the prompt and the generated tokens but the last. */
export async function complete(
  model: Model,
  sequence: Sequence,
  sampler: TokenSampler,
  promptIds: readonly number[],
  opts: CompletionOptions,
): Promise<CompletionResult> {
  const session = sequence.session;
  const readout = session.readout;
  session.readout = sampler.gpuPick?.(model.info.nVocab) ?? null;
  try {
    return await generateTokens(model, sequence, sampler, promptIds, opts);
  } finally {
    session.readout = readout;
  }
}

async function generateTokens(
  model: Model,
  sequence: Sequence,
  sampler: TokenSampler,
  promptIds: readonly number[],
  opts: CompletionOptions,
): Promise<CompletionResult> {
  const decoder = model.decoder();
  const ids: number[] = [];
  let text = '';
  let finishReason: CompletionResult['finishReason'] = 'length';

  let t0 = now();
  const { reused, evaluated } = await sequence.prefill(promptIds);
  const prefillMs = now() - t0;
  for (const t of promptIds) sampler.accept(t);

  t0 = now();
  let decodeSteps = 0;
  for (let i = 0; i < opts.nPredict; i++) {
    if (opts.pause) await opts.pause();
    if (opts.shouldStop?.()) {
      finishReason = 'abort';
      break;
    }
    const token = sampler.sample(sequence.session);
    sampler.accept(token);
    if (!opts.ignoreEos && model.isEog(token)) {
      finishReason = 'stop';
      break;
    }
    ids.push(token);
    const piece = decoder.push(token);
    text += piece;
    opts.onToken?.(token, piece);
    // The last token needs no evaluation: nothing will be sampled after it.
    if (i + 1 < opts.nPredict) {
      await sequence.append([token]);
      decodeSteps++;
    }
  }
  const tail = decoder.flush();
  text += tail;
  const decodeMs = now() - t0;
  return {
    promptIds: [...promptIds],
    ids,
    text,
    finishReason,
    timings: {
      reusedTokens: reused,
      prefillTokens: evaluated,
      prefillMs,
      prefillTokensPerSecond: evaluated / (prefillMs / 1000),
      decodeTokens: decodeSteps,
      decodeMs,
      decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / (decodeMs / 1000) : 0,
    },
  };
}
