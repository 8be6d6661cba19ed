// A request's prompt as token ids: a conversation rendered through the
// model's chat template, or a completion's text, checked first so a bad
// request fails with a typed error that says what was wrong.
import type { Model } from '../core/model.js';
import { renderChat } from '../chat/template.js';
import { HobError } from '../shared/errors.js';
import type { ChatMessage } from '../shared/types.js';

/** The text of a token as templates use it (special tokens rendered). */
export function specialTokenText(m: Model, token: number): string {
  return token >= 0 ? new TextDecoder().decode(m.tokenBytes(token, true)) : '';
}

/** The conversation in the model's chat template. */
export function chatPrompt(m: Model, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new HobError('argument/invalid', 'messages must be a non-empty array of { role, content }');
  }
  for (const [i, msg] of messages.entries()) {
    if (!msg || typeof msg.content !== 'string' || !['system', 'user', 'assistant'].includes(msg.role)) {
      throw new HobError('argument/invalid', `messages[${i}] is not a { role: 'system' | 'user' | 'assistant', content: string }`, { index: i });
    }
  }
  return renderChat(m.metaString('tokenizer.chat_template'), messages, {
    addGenerationPrompt,
    bosToken: specialTokenText(m, m.info.bos),
    eosToken: specialTokenText(m, m.info.eos),
    architecture: m.info.architecture,
  });
}

/** The ids of a chat (messages) or completion (prompt) request. */
export function promptIds(m: Model, req: { messages?: readonly ChatMessage[]; prompt?: string }): number[] {
  if (req.messages !== undefined) {
    const text = chatPrompt(m, req.messages, true);
    // Templates that write BOS themselves must not get a second one.
    const bos = specialTokenText(m, m.info.bos);
    return m.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
  }
  if (typeof req.prompt !== 'string') throw new HobError('argument/invalid', 'a completion needs a prompt string');
  const ids = m.tokenize(req.prompt, { addSpecial: true, parseSpecial: true });
  if (ids.length === 0) throw new HobError('argument/invalid', 'the prompt is empty and the model adds no BOS token');
  return ids;
}
