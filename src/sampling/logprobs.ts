// Log-probabilities of generated tokens, as llama.cpp's server reports them
// (n_probs, before sampling): the log-softmax of the model's logits over the
// whole vocabulary, before any bias, penalty or truncation, with the most
// likely tokens at that step.
import type { TokenLogprob, TopLogprob } from '../shared/types.js';

/** The largest top_logprobs a request may ask for (OpenAI's). */
export const MAX_TOP_LOGPROBS = 20;

const decoder = new TextDecoder();

/** The log-probability of `token` under `logits`, and the `top` most likely
 *  tokens (largest logit first, equal logits by lower id). */
export function tokenLogprob(logits: Float32Array, token: number, top: number, pieceBytes: (id: number) => Uint8Array): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  const entry = (id: number): TopLogprob => {
    const bytes = pieceBytes(id);
    return { id, token: decoder.decode(bytes), logprob: logits[id] - logZ, bytes: Array.from(bytes) };
  };
  // The best `top` ids by insertion into a short sorted list: top is at most 20.
  const best: number[] = [];
  for (let i = 0; i < logits.length && top > 0; i++) {
    const l = logits[i];
    if (best.length === top && !(l > logits[best[top - 1]])) continue;
    let j = best.length;
    while (j > 0 && l > logits[best[j - 1]]) j--;
    best.splice(j, 0, i);
    if (best.length > top) best.pop();
  }
  return { ...entry(token), top_logprobs: best.map(entry) };
}
