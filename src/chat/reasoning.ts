// Reasoning: the thought some models write before their answer, between
// <think> and </think> (Qwen 3, QwQ, the DeepSeek R1 distills, SmolLM3).
// This file says which templates have one, whether a prompt already opened
// it (the reply then starts inside the thought), and what the generation
// loop forces to close it when the reasoning budget runs out (llama.cpp's
// reasoning-budget sampler). Splitting the text is tool-parser.ts's work.

export interface ReasoningFormat {
  readonly open: string;
  readonly close: string;
  /** The thought's end as the family's template writes it, newlines
   *  included: what a budget forces, and what closes a thought the prompt
   *  opened when thinking is switched off. */
  readonly forcedClose: string;
}

/** The reasoning tags of a template, if its text has them. */
export function detectReasoning(source: string | undefined): ReasoningFormat | undefined {
  const t = source ?? '';
  if (!t.includes('<think>') && !t.includes('</think>')) return undefined;
  // SmolLM3 closes with one newline (<think>\n\n</think>\n); Qwen 3 and the
  // DeepSeek R1 family with two.
  const smol = t.includes('SmolLM') || t.includes('xml_tools');
  return Object.freeze({ open: '<think>', close: '</think>', forcedClose: smol ? '\n</think>\n' : '\n</think>\n\n' });
}

/** Whether the template reads `enable_thinking`. */
export function readsEnableThinking(source: string | undefined): boolean {
  return (source ?? '').includes('enable_thinking');
}

/** Whether `prompt` ends inside an open thought: the generation prompt of
 *  the DeepSeek R1 distills and QwQ ends with "<think>\n", so the reply
 *  starts with reasoning and only writes the closing tag. */
export function promptOpensReasoning(prompt: string, r: ReasoningFormat): boolean {
  return prompt.trimEnd().endsWith(r.open);
}

/** What the generation loop needs to hold the thought to a token budget. */
export interface ReasoningBudget {
  /** The text that opens the thought in the output; counting starts after it. */
  readonly start: string;
  /** True when the prompt opened the thought: counting starts with the first generated token. */
  readonly startsInside: boolean;
  /** The text that ends the thought when the model closes it itself. */
  readonly end: string;
  /** Forced, token by token (special tokens parsed), once `maxTokens`
   *  tokens of thought have been generated without the end: the budget
   *  message if any, then the family's closing text. */
  readonly forced: string;
  readonly maxTokens: number;
}

/** The budget of `max_reasoning_tokens` for a reasoning format; `message`
 *  is written before the closing tag (llama.cpp's reasoning_budget_message,
 *  e.g. "I have to give the answer now."). */
export function reasoningBudget(r: ReasoningFormat, startsInside: boolean, maxTokens: number, message = ''): ReasoningBudget {
  return { start: r.open, startsInside, end: r.close, forced: message + r.forcedClose, maxTokens };
}
