// The generation loop: the one way Hob turns a prompt into text, used by the
// worker (the public API and <hob-chat>), the CLI and the tests. Prefill
// (reusing the cached prefix), then sample with the sampler chain one token
// at a time, reading back only what the chain needs (src/sampling/pick.ts),
// with stop strings cut exactly and never streamed in part, banned strings
// undone by backtracking (KoboldCPP's "phrase banning": the cache is rewound
// to the token that began the string and that token is banned at that
// position), and text streamed only once no stop or banned string can still
// claim it. A constraint (a grammar, a JSON schema, tool-call syntax) is a
// stage of the sampling stack (src/sampling/constrained.ts); a thought can
// be held to a budget, after which its closing tag is written for the model.
// The cache always holds the prompt and the output but its last token, so
// the next request reuses it.
import type { ReasoningBudget, ReasoningFormat } from '../chat/reasoning.js';
import { pickedToken, type StepLogits } from '../core/logits.js';
import type { Model } from '../core/model.js';
import { SamplerChain } from '../sampling/chain.js';
import { sampleConstrained } from '../sampling/constrained.js';
import { MAX_TOP_LOGPROBS, tokenLogprob } from '../sampling/logprobs.js';
import { GrammarMatcher, grammarVocabFor, type GrammarSnapshot, type GrammarVocab } from '../sampling/grammar/index.js';
import { partialSuffixLength } from '../shared/text.js';
import type { FinishReason, Progress, SamplingParams, TokenLogprob } from '../shared/types.js';
import type { Constraint } from './constraint.js';
import type { PromptImages } from './image-prompt.js';
import type { Sequence } from './sequence.js';
import { ThoughtTracker, type ThoughtState } from './thought.js';

export interface GenerationRequest extends SamplingParams {
  /** The prompt's ids; negative ids are the rows of `images`. */
  promptIds: readonly number[];
  /** The images of the prompt (runtime/image-prompt.ts). */
  images?: PromptImages;
  /** Tokens to generate at most. */
  maxTokens: number;
  /** Keep going past end-of-generation tokens (for comparisons with references). */
  ignoreEos?: boolean;
  /** What the output must match (runtime/constraint.ts compiles it). */
  constraint?: Constraint;
  /** Report each generated token's log-probability with this many most
   *  likely alternatives (0 to 20); absent: none. Reads every logit. */
  logprobs?: number;
  /** The reply may think (<think> ... </think>): its thought's tokens are
   *  counted (GenerationResult.reasoningTokens). */
  thought?: { format: ReasoningFormat; startsInside: boolean };
  /** The reply's thought, held to this budget: past it, its closing text is
   *  written for the model and the answer follows. */
  reasoningBudget?: ReasoningBudget;
}

export interface GenerationHooks {
  /** New text, in order; the deltas concatenate to the result's text. With
   *  logprobs asked for, the entries of the tokens this text comes from
   *  (a token's entry comes with the first text at or after its start). */
  onText?: (delta: string, logprobs?: TokenLogprob[]) => void;
  /** Prompt tokens evaluated so far, after each chunk of a long prompt. */
  onPrefill?: (p: Progress) => void;
  /** Checked between tokens. */
  shouldStop?: () => boolean;
  /** Awaited between tokens, so a worker can receive a stop. */
  pause?: () => Promise<void>;
}

export interface GenerationResult {
  text: string;
  ids: number[];
  finishReason: FinishReason;
  promptTokens: number;
  /** Prompt tokens served from the cache. */
  cachedTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Tokens evaluated during decoding (the last sampled token is not). */
  decodeTokens: number;
  /** Backtracks made over banned strings. */
  backtracks: number;
  /** Samples the constraint refused, resampled from every logit. */
  resamples: number;
  /** Tokens of thought generated (when the request says the reply may think). */
  reasoningTokens: number;
  /** With req.logprobs: an entry per token of the text. */
  logprobs?: TokenLogprob[];
}

/** A model's vocabulary as its grammars see it (built once per model). */
export function modelGrammarVocab(model: Model): GrammarVocab {
  return grammarVocabFor(model, () => ({
    nVocab: model.info.nVocab,
    // llama.cpp's grammar reads each token's text with special tokens rendered.
    pieceBytes: (id) => model.tokenBytes(id, true),
    isEog: (id) => model.isEog(id),
  }));
}

/** Steps evaluated ahead on the GPU at a time (Sequence.appendAhead; greedy,
 * or a top-k draw the GPU imitates): one readback per this many tokens
 * instead of one per token. */
export const DECODE_AHEAD_STEPS = 16;

/** Backtracks allowed per request: a model that keeps choosing banned text stops being steered. */
const MAX_BACKTRACKS = 256;

function firstOccurrence(text: string, strings: readonly string[], from: number): number {
  let best = -1;
  for (const s of strings) {
    if (!s) continue;
    const i = text.indexOf(s, from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Generates from req.promptIds (not empty) on the sequence. */
export async function generate(
  model: Model,
  sequence: Sequence,
  req: GenerationRequest,
  hooks: GenerationHooks = {},
): Promise<GenerationResult> {
  const stops = (typeof req.stop === 'string' ? [req.stop] : req.stop ?? []).filter((s) => s.length > 0);
  const bannedStrings = (req.banned_strings ?? []).filter((s) => s.length > 0);
  const maxStop = Math.max(0, ...stops.map((s) => s.length));
  const maxBanned = Math.max(0, ...bannedStrings.map((s) => s.length));
  const prompt = [...req.promptIds];

  const chain = new SamplerChain(req, {
    nVocab: model.info.nVocab,
    nCtx: sequence.session.nCtx,
    tokenText: (t) => new TextDecoder().decode(model.tokenBytes(t)),
    logitBias: req.logit_bias,
    bannedTokens: req.banned_tokens,
  });

  // Tokens banned at a position (index into ids) by backtracking.
  const bans = new Map<number, Set<number>>();
  const ids: number[] = [];

  // The constraint: its matcher runs from the start, or (a lazy grammar of
  // a model that may think first) from where the thought is over.
  const c = req.constraint;
  const budget = req.reasoningBudget;
  const thoughtFormat = req.thought?.format ?? c?.afterThought?.format ?? (budget ? { open: budget.start, close: budget.end, forcedClose: budget.forced } : undefined);
  const startsInside = req.thought?.startsInside ?? c?.afterThought?.startsInside ?? budget?.startsInside ?? false;
  const thought = thoughtFormat && new ThoughtTracker(thoughtFormat, startsInside);
  const newMatcher = () => new GrammarMatcher(c!.grammar, modelGrammarVocab(model), c!.triggers ? { lazy: { triggers: c!.triggers } } : {});
  let matcher = c && !c.afterThought ? newMatcher() : undefined;
  // Before token i: the matcher's state (null: not started) and the thought's.
  const states: { grammar: GrammarSnapshot | null; thought?: ThoughtState }[] = [];
  // Tokens written for the model: the closing text of a thought over budget.
  let forced: number[] = [];
  let budgetSpent = false;
  let resamples = 0;
  // Log-probabilities, one per entry of ids; those before `sentLogprobs` went out with text.
  const wantLogprobs = req.logprobs !== undefined;
  const topLogprobs = Math.max(0, Math.min(MAX_TOP_LOGPROBS, Math.floor(req.logprobs ?? 0)));
  const logprobs: TokenLogprob[] = [];
  let sentLogprobs = 0;
  const acceptConstrained = (token: number, isForced: boolean) => {
    if (!matcher) return;
    if (!isForced || matcher.allows(token)) matcher.accept(token);
    else matcher.acceptPiece(token, model.tokenBytes(token, true));
  };
  // What the sample at the next position (ids.length) needs read back.
  const pick = () => ({ pick: chain.gpuPick(bans.get(ids.length)?.size ?? 0) });

  const now = () => performance.now();
  let t0 = now();
  const prefilled = await sequence.prefill(prompt, { ...pick(), onProgress: hooks.onPrefill, images: req.images });
  let logits = prefilled.logits;
  const prefillMs = now() - t0;
  // Image rows are no tokens: penalties see the text around them.
  for (const t of prompt) if (t >= 0) chain.accept(t);

  t0 = now();
  // offsets[i]: where token i's text starts in `text`.
  const offsets: number[] = [];
  let decoder = model.decoder();
  let text = '';
  let emitted = 0;
  let stopSearchFrom = 0;
  let finishReason: FinishReason = 'length';
  let pending = false; // the last token is sampled but not yet in the cache
  let decodeTokens = 0;
  let backtracks = 0;
  let stoppedAtString = false;
  // Steps the GPU evaluated ahead (Sequence.appendAhead): the cache already
  // holds each one's input token (the GPU's pick or draw). A step is used
  // while the token the chain sampled before it is its input; otherwise,
  // and when the loop ends, the cache takes the unused ones back, so it
  // ends as if none had been run.
  let ahead: { input: number; logits: StepLogits }[] = [];
  const dropAhead = () => {
    if (ahead.length === 0) return;
    sequence.truncate(sequence.tokens.length - ahead.length);
    ahead = [];
  };
  // Only the sampler's pick is read from a step run ahead: no logprobs,
  // constraint or forced tokens, which read every logit or choose tokens themselves.
  const mayRunAhead = () => !wantLogprobs && !c && forced.length === 0 && !(bans.get(ids.length)?.size);

  // Sends the text up to `upTo` with the entries of the tokens it starts;
  // the last call (`all`) also sends the entries of tokens that added no
  // text (a control token, bytes of a character never finished).
  const emit = (upTo: number, all = false) => {
    let k = sentLogprobs;
    if (wantLogprobs) {
      if (all) k = logprobs.length;
      else while (k < logprobs.length && offsets[k] < upTo) k++;
    }
    if (upTo > emitted || k > sentLogprobs) {
      hooks.onText?.(text.slice(emitted, upTo), wantLogprobs ? logprobs.slice(sentLogprobs, k) : undefined);
      sentLogprobs = k;
      emitted = upTo;
    }
  };

  while (ids.length < req.maxTokens) {
    if (hooks.pause) await hooks.pause();
    if (hooks.shouldStop?.()) {
      finishReason = 'abort';
      break;
    }
    if (pending) {
      const last = ids[ids.length - 1];
      if (ahead.length > 0 && ahead[0].input === last && mayRunAhead()) {
        logits = ahead.shift()!.logits;
      } else {
        dropAhead();
        const steps = mayRunAhead() ? await sequence.appendAhead(last, Math.min(DECODE_AHEAD_STEPS, req.maxTokens - ids.length), pick()) : null;
        if (steps) {
          logits = steps[0];
          ahead = steps.slice(1).map((l, i) => ({ input: pickedToken(steps[i].picked!), logits: l }));
        } else {
          logits = await sequence.append([last], pick());
        }
      }
      decodeTokens++;
      pending = false;
      // A stop that came during the evaluation (a shared flag needs no turn of the event loop).
      if (hooks.shouldStop?.()) {
        finishReason = 'abort';
        break;
      }
    }
    let token: number;
    const isForced = forced.length > 0;
    if (isForced) {
      token = forced.shift()!;
    } else {
      const s = await sampleConstrained(chain, matcher, logits, bans.get(ids.length));
      token = s.token;
      if (s.resampled) resamples++;
    }
    if (!req.ignoreEos && model.isEog(token)) {
      finishReason = 'stop';
      break;
    }
    if (wantLogprobs) logprobs.push(tokenLogprob(await logits.all(), token, topLogprobs, (id) => model.tokenBytes(id)));
    states.push({ grammar: matcher ? matcher.save() : null, thought: thought?.state });
    acceptConstrained(token, isForced);
    offsets.push(text.length);
    ids.push(token);
    text += decoder.push(token);
    chain.accept(token);
    pending = true;
    if (thought) {
      const before = thought.state.phase;
      thought.update(text);
      const now = thought.state;
      // A lazy grammar that waited for the thought starts listening now.
      if (c?.afterThought && !matcher && now.phase === 'after') matcher = newMatcher();
      if (budget && !budgetSpent && now.phase === 'inside' && before === 'inside' && now.insideTokens >= budget.maxTokens) {
        budgetSpent = true;
        forced = model.tokenize(budget.forced, { addSpecial: false, parseSpecial: true });
      }
    }

    if (bannedStrings.length > 0 && backtracks < MAX_BACKTRACKS) {
      const at = firstOccurrence(text, bannedStrings, Math.max(0, emitted - maxBanned));
      if (at >= 0) {
        // The token whose text holds the banned string's first character.
        let j = offsets.length - 1;
        while (j > 0 && offsets[j] > at) j--;
        const banned = ids[j];
        const drop = ids.length - j;
        for (const k of [...bans.keys()]) if (k > j) bans.delete(k);
        if (!bans.has(j)) bans.set(j, new Set());
        bans.get(j)!.add(banned);
        ids.length = j;
        offsets.length = j;
        logprobs.length = Math.min(logprobs.length, j);
        chain.rewind(drop);
        // The constraint and the thought go back to where token j began.
        const back = states[j];
        states.length = j;
        if (c) {
          if (back.grammar) {
            matcher ??= newMatcher();
            matcher.restore(back.grammar);
          } else if (c.afterThought) {
            matcher = undefined;
          }
        }
        if (thought && back.thought) thought.restore(back.thought);
        forced = [];
        // Rebuild the text and the decoder's state without the dropped tokens.
        decoder = model.decoder();
        text = '';
        for (const t of ids) text += decoder.push(t);
        stopSearchFrom = Math.min(stopSearchFrom, text.length);
        // The cache takes back the dropped tokens; the logits become those after ids[j-1].
        ahead = [];
        logits = (await sequence.prefill(prompt.concat(ids), { ...pick(), images: req.images })).logits;
        pending = false;
        backtracks++;
        continue;
      }
    }

    if (stops.length > 0) {
      const at = firstOccurrence(text, stops, stopSearchFrom);
      if (at >= 0) {
        text = text.slice(0, at);
        finishReason = 'stop';
        stoppedAtString = true;
        break;
      }
      stopSearchFrom = Math.max(0, text.length - maxStop + 1);
    }

    // Stream what no stop or banned string can still claim: a partial stop
    // string is held back by characters, a partial banned string by whole
    // tokens (a backtrack removes tokens).
    let safe = text.length - partialSuffixLength(text, stops);
    if (bannedStrings.length > 0) {
      const held = partialSuffixLength(text, bannedStrings);
      if (held > 0) {
        const start = text.length - held;
        let j = offsets.length - 1;
        while (j > 0 && offsets[j] > start) j--;
        safe = Math.min(safe, offsets[j]);
      }
    }
    emit(safe);
  }
  dropAhead();
  if (!stoppedAtString) text += decoder.flush();
  // Cut at a stop string, the reply keeps the tokens that begin before it.
  if (stoppedAtString && wantLogprobs) {
    const cut = offsets.findIndex((o) => o >= text.length);
    if (cut >= 0) logprobs.length = Math.min(logprobs.length, cut);
  }
  emit(text.length, true);
  const decodeMs = now() - t0;
  return {
    text,
    ids,
    finishReason,
    promptTokens: prompt.length,
    cachedTokens: prefilled.reused,
    prefillMs,
    decodeMs,
    decodeTokens,
    backtracks,
    resamples,
    reasoningTokens: thought?.state.insideTokens ?? 0,
    ...(wantLogprobs ? { logprobs: logprobs.slice(0, sentLogprobs) } : {}),
  };
}
