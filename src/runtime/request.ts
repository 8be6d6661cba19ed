// One chat or text completion request made ready to generate, the same way
// for the worker (the public API, <hob-chat>) and the CLI: its prompt ids,
// what constrains its output, its stop strings and reasoning budget, and the
// reply it assembles from the generated text (content, reasoning and tool
// calls, streamed as OpenAI's deltas and never half-parsed).
import type { Model } from '../core/model.js';
import { reasoningBudget } from '../chat/reasoning.js';
import { ReplyParser } from '../chat/tool-parser.js';
import type { ChatPrompt } from '../chat/tool-prompt.js';
import { HobError } from '../shared/errors.js';
import type {
  AssistantMessage, ChatCompletionDelta, ChatMessageInput, ConstraintParams, RgbImage, FinishReason, LogprobParams, SamplingParams, TokenLogprob, ToolChoice,
  ToolDefinition,
} from '../shared/types.js';
import { MAX_TOP_LOGPROBS } from '../sampling/logprobs.js';
import { compileConstraint, type Constraint } from './constraint.js';
import type { GenerationRequest } from './generate.js';
import { flattenContent, imagePromptIds, MEDIA_MARKER, type ImageEncoder, type PromptImages } from './image-prompt.js';
import { chatPrompt, chatPromptIds, completionPromptIds, specialTokenText } from './prompt.js';

/** A delta of the reply as the worker streams it: what the reply adds, and
 *  the log-probabilities of the tokens it comes from (when asked for). */
export interface ReplyDelta extends ChatCompletionDelta {
  logprobs?: TokenLogprob[];
}

/** A chat (messages) or text completion (prompt) request, in the API's names. */
export interface ReplyRequest extends SamplingParams, ConstraintParams, LogprobParams {
  messages?: ChatMessageInput[];
  prompt?: string;
  /** A text completion's images, before its text (unless the text places
   *  them with media markers), as llama.cpp's mtmd-cli puts them. */
  images?: RgbImage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  enable_thinking?: boolean;
  max_reasoning_tokens?: number;
}

export interface PreparedRequest {
  /** The prompt's ids; an image's rows are its negative placeholder id. */
  promptIds: number[];
  /** The images the negative ids stand for (runtime/image-prompt.ts). */
  images?: PromptImages;
  /** Embedding rows of images among promptIds. */
  imageTokens: number;
  /** The generation loop's request, but for maxTokens and ignoreEos. */
  generation: Omit<GenerationRequest, 'maxTokens' | 'promptIds'>;
  constraint?: Constraint;
  /** Turns the generated text into the reply. */
  reply: ReplyAssembler;
}

/** The reply of a request as its text streams in. */
export class ReplyAssembler {
  private text = '';

  /** @internal */
  constructor(
    /** Chat replies that may think or call tools are parsed; others are plain content. */
    private readonly parser: ReplyParser | undefined,
    readonly chat: boolean,
  ) {}

  /** The deltas a piece of generated text completes; the log-probabilities
   *  of its tokens ride on the first (or on a delta of their own while the
   *  parser holds the text back). */
  push(text: string, logprobs?: TokenLogprob[]): ReplyDelta[] {
    this.text += text;
    const deltas: ReplyDelta[] = this.parser ? this.parser.push(text) : text ? [{ content: text }] : [];
    if (logprobs?.length) {
      if (deltas.length) deltas[0] = { ...deltas[0], logprobs };
      else deltas.push({ logprobs });
    }
    return deltas;
  }

  /** The last deltas, the reply's message and how it finished: a reply that
   * ends by calling tools finishes with 'tool_calls'. */
  finish(reason: FinishReason): { deltas: ChatCompletionDelta[]; message: AssistantMessage; finishReason: FinishReason } {
    const deltas = this.parser ? this.parser.finish() : [];
    const message: AssistantMessage = this.parser ? this.parser.message : { role: 'assistant', content: this.text };
    const finishReason = message.tool_calls?.length && reason === 'stop' ? 'tool_calls' : reason;
    return { deltas, message, finishReason };
  }
}

/** top_logprobs when logprobs is asked for; undefined when it is not. */
function checkLogprobs(req: LogprobParams): number | undefined {
  const top = req.top_logprobs;
  if (top !== undefined && top !== null && (typeof top !== 'number' || !Number.isInteger(top) || top < 0 || top > MAX_TOP_LOGPROBS)) {
    throw new HobError('argument/invalid', `top_logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${String(top)}`);
  }
  if (!req.logprobs) {
    if (top) throw new HobError('argument/invalid', 'top_logprobs needs logprobs: true');
    return undefined;
  }
  return top ?? 0;
}

function checkBudget(n: unknown): number | undefined {
  if (n === undefined || n === null) return undefined;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new HobError('argument/invalid', `max_reasoning_tokens must be a non-negative integer, got ${String(n)}`);
  }
  return n;
}

/** Prepares a request: renders and tokenizes its prompt, compiles its
 * constraint. Images need `vision` (the engine's projector); their pixels
 * are hashed here and encoded only when the sequence evaluates them. Every
 * error here is typed and happens before anything is evaluated. */
export function prepareRequest(model: Model, req: ReplyRequest, vision?: ImageEncoder): PreparedRequest {
  let chat: ChatPrompt | undefined;
  let ids: number[];
  let images: PromptImages | undefined;
  let imageTokens = 0;
  const withImages = (text: string, rgb: RgbImage[], addSpecial: boolean) => {
    const p = imagePromptIds(model, vision, text, rgb, addSpecial);
    images = p.images;
    imageTokens = p.imageTokens;
    return p.ids;
  };
  if (req.messages !== undefined) {
    const flat = Array.isArray(req.messages) ? flattenContent(req.messages) : { messages: req.messages, images: [] };
    chat = chatPrompt(model, { ...req, messages: flat.messages });
    const bos = specialTokenText(model, model.info.bos);
    ids = flat.images.length > 0 ? withImages(chat.prompt, flat.images, !(bos && chat.prompt.startsWith(bos))) : chatPromptIds(model, chat.prompt);
  } else {
    if (req.tools?.length) throw new HobError('argument/invalid', 'tools belong to chat requests (messages), not to text completions');
    const rgb = req.images ?? [];
    if (rgb.length > 0 && typeof req.prompt === 'string') {
      ids = withImages(req.prompt.includes(MEDIA_MARKER) ? req.prompt : MEDIA_MARKER.repeat(rgb.length) + req.prompt, rgb, true);
    } else {
      ids = completionPromptIds(model, req.prompt);
    }
  }
  const constraint = compileConstraint(model, req, chat);
  const maxReasoning = checkBudget(req.max_reasoning_tokens);
  const budget = maxReasoning !== undefined && chat?.reasoning ? reasoningBudget(chat.reasoning, chat.startsInReasoning, maxReasoning) : undefined;
  const stop = typeof req.stop === 'string' ? [req.stop] : req.stop ?? [];
  const parse = chat && (chat.toolsActive || chat.reasoning !== undefined);
  const parser = parse ? new ReplyParser({ ...chat!.parser, constrained: !!constraint && chat!.toolsActive }) : undefined;
  return {
    promptIds: ids,
    images,
    imageTokens,
    constraint,
    generation: {
      ...req,
      images,
      stop: [...stop, ...(chat?.stops ?? [])],
      constraint,
      reasoningBudget: budget,
      logprobs: checkLogprobs(req),
      thought: chat?.reasoning && { format: chat.reasoning, startsInside: chat.startsInReasoning },
    },
    reply: new ReplyAssembler(parser, chat !== undefined),
  };
}
