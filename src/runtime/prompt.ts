// A request's prompt: a conversation rendered through the model's chat
// template (with its tools, past tool calls and results, and the thinking
// switch; src/chat/tool-prompt.ts), or a completion's text, as token ids.
// Requests are checked first, so a bad one fails with a typed error that
// says what was wrong.
import type { Model } from '../core/model.js';
import { buildChatPrompt, type ChatPrompt, type ChatPromptRequest } from '../chat/tool-prompt.js';
import { HobError } from '../shared/errors.js';
import type { ChatMessage } from '../shared/types.js';

/** The text of a token as templates use it (special tokens rendered). */
export function specialTokenText(m: Model, token: number): string {
  return token >= 0 ? new TextDecoder().decode(m.tokenBytes(token, true)) : '';
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new HobError('argument/invalid', 'messages must be a non-empty array of { role, content }');
  }
  for (const [i, msg] of messages.entries()) {
    const ok =
      msg !== null && typeof msg === 'object' && ROLES.has(msg.role) &&
      (typeof msg.content === 'string' || ((msg.content === null || msg.content === undefined) && msg.role === 'assistant' && Array.isArray(msg.tool_calls)));
    if (!ok) {
      throw new HobError(
        'argument/invalid',
        `messages[${i}] is not a { role: 'system' | 'user' | 'assistant' | 'tool', content: string } (content may be null only on an assistant turn with tool_calls)`,
        { index: i },
      );
    }
    if (msg.tool_calls !== undefined && (!Array.isArray(msg.tool_calls) || msg.role !== 'assistant')) {
      throw new HobError('argument/invalid', `messages[${i}].tool_calls belongs on an assistant turn, as an array`, { index: i });
    }
  }
}

/** The chat prompt of a request: the text to tokenize and what the reply's
 *  parser and constraint need to know (tool format, reasoning). */
export function chatPrompt(m: Model, req: ChatPromptRequest, addGenerationPrompt = true): ChatPrompt {
  checkMessages(req.messages);
  return buildChatPrompt(m.metaString('tokenizer.chat_template'), req, {
    addGenerationPrompt,
    bosToken: specialTokenText(m, m.info.bos),
    eosToken: specialTokenText(m, m.info.eos),
    architecture: m.info.architecture,
    toolUseTemplate: m.metaString('tokenizer.chat_template.tool_use'),
  });
}

/** The ids of a rendered chat prompt. Templates that write BOS themselves
 *  must not get a second one. */
export function chatPromptIds(m: Model, text: string): number[] {
  const bos = specialTokenText(m, m.info.bos);
  return m.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
}

/** The ids of a text completion's prompt. */
export function completionPromptIds(m: Model, prompt: unknown): number[] {
  if (typeof prompt !== 'string') throw new HobError('argument/invalid', 'a completion needs a prompt string');
  const ids = m.tokenize(prompt, { addSpecial: true, parseSpecial: true });
  if (ids.length === 0) throw new HobError('argument/invalid', 'the prompt is empty and the model adds no BOS token');
  return ids;
}
