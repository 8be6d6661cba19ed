// Chat templates: a conversation rendered to the prompt text a model was
// trained on. The GGUF's tokenizer.chat_template (Jinja) is rendered with
// @huggingface/jinja; a file without one, or with one our Jinja cannot
// parse, falls back to a built-in template of the family, named by the
// caller or detected from the template text or the architecture.
// Tokenizing the result is the caller's business (see renderChat). What a
// conversation with tools must look like to each template is prepared in
// tool-prompt.ts; this file only hands it over. Every template runs on a
// budget (template-sandbox.ts): it is untrusted code.
import type { Template } from '@huggingface/jinja';

import { HobError, TemplateError } from '../shared/errors.js';
import { parseTemplate, renderTemplate } from './template-sandbox.js';
import type { ChatMessage } from '../shared/types.js';

export type { ChatMessage };

/** A message as a template receives it: a ChatMessage, or one prepared for a
 *  template (tool-call arguments as objects, a system message's `tools`). */
export type TemplateMessage = ChatMessage | { readonly role: string; readonly [field: string]: unknown };

export type BuiltinTemplate = 'chatml' | 'llama3' | 'gemma' | 'phi3' | 'mistral';

export interface RenderChatOptions {
  /** End with the header of an assistant turn, for the model to complete. */
  addGenerationPrompt: boolean;
  /** The texts of the BOS and EOS tokens, as templates use them. */
  bosToken: string;
  eosToken: string;
  /** Use this built-in template, whatever the file holds. */
  builtin?: BuiltinTemplate;
  /** general.architecture, to pick a built-in when the file has no template. */
  architecture?: string;
  /** The `tools` variable: the functions the model may call, in the shape
   *  the template reads (most take ToolDefinitions). Absent: undefined. */
  tools?: readonly unknown[];
  /** The `enable_thinking` variable (Qwen 3, SmolLM3, DeepSeek R1 distills). */
  enableThinking?: boolean;
  /** Further variables some templates read (date_string, xml_tools, ...). */
  variables?: Readonly<Record<string, unknown>>;
}

/**
 * The built-in templates, written after the official templates of each
 * family. Those that start with {{ bos_token }} do so because the family's
 * own template does: tokenize such a prompt without adding BOS again.
 */
export const BUILTIN_TEMPLATES: Readonly<Record<BuiltinTemplate, string>> = {
  // Qwen, SmolLM, Hermes and most fine-tunes: no BOS, one block per turn.
  chatml:
    "{%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}",
  llama3:
    '{{- bos_token }}{%- for m in messages %}' +
    "{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + (m.content | trim) + '<|eot_id|>' }}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
  // Gemma has no system role: the system text opens the first user turn,
  // and the assistant is called "model".
  gemma:
    "{{- bos_token }}{%- set ns = namespace(prefix='') %}{%- for m in messages %}" +
    "{%- if m.role == 'system' %}{%- set ns.prefix = (m.content | trim) + '\\n\\n' %}" +
    "{%- else %}{{ '<start_of_turn>' + ('model' if m.role == 'assistant' else m.role) + '\\n' + ns.prefix + (m.content | trim) + '<end_of_turn>\\n' }}" +
    "{%- set ns.prefix = '' %}{%- endif %}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{%- endif %}",
  phi3:
    "{%- for m in messages %}{{ '<|' + m.role + '|>\\n' + m.content + '<|end|>\\n' }}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{%- endif %}",
  // Mistral Instruct ([INST] ... [/INST]): the system text opens the first
  // user turn; an assistant turn ends with EOS.
  mistral:
    "{{- bos_token }}{%- set ns = namespace(prefix='') %}{%- for m in messages %}" +
    "{%- if m.role == 'system' %}{%- set ns.prefix = m.content + '\\n\\n' %}" +
    "{%- elif m.role == 'user' %}{{ '[INST] ' + ns.prefix + m.content + ' [/INST]' }}{%- set ns.prefix = '' %}" +
    '{%- else %}{{ m.content + eos_token }}{%- endif %}{%- endfor %}',
};

/** The built-in family a template's text belongs to, from the markers it
 *  writes (as llama.cpp's llm_chat_detect_template looks for them). */
export function detectBuiltin(template: string): BuiltinTemplate | undefined {
  if (template.includes('<|im_start|>')) return 'chatml';
  if (template.includes('<|start_header_id|>')) return 'llama3';
  if (template.includes('<start_of_turn>')) return 'gemma';
  if (template.includes('<|assistant|>') && template.includes('<|end|>')) return 'phi3';
  if (template.includes('[INST]')) return 'mistral';
  return undefined;
}

/** The built-in for a model whose file has no template. */
export function builtinForArchitecture(architecture: string | undefined): BuiltinTemplate {
  const a = (architecture ?? '').toLowerCase();
  if (a.startsWith('gemma')) return 'gemma';
  if (a.startsWith('phi3')) return 'phi3';
  if (a === 'mistral' || a === 'mistral3') return 'mistral';
  return 'chatml';
}

// Parsed templates, by source: chat front ends render the same one per turn.
const parsed = new Map<string, Template>();

function parse(source: string): Template {
  let t = parsed.get(source);
  if (!t) {
    t = parseTemplate(source);
    if (parsed.size > 16) parsed.clear();
    parsed.set(source, t);
  }
  return t;
}

// A missing content is an empty string, except on a turn that calls tools:
// there it stays null when the caller says so, since some templates (the
// DeepSeek R1 distills') render the calls only when the content is none.
function templateMessage(m: TemplateMessage): TemplateMessage {
  return m.content == null && !('tool_calls' in m && m.tool_calls) ? { ...m, content: '' } : m;
}

function render(t: Template, messages: readonly TemplateMessage[], opts: RenderChatOptions): string {
  return renderTemplate(t, {
    ...opts.variables,
    ...(opts.tools ? { tools: opts.tools } : {}),
    ...(opts.enableThinking === undefined ? {} : { enable_thinking: opts.enableThinking }),
    messages: messages.map(templateMessage),
    add_generation_prompt: opts.addGenerationPrompt,
    bos_token: opts.bosToken,
    eos_token: opts.eosToken,
  });
}

/**
 * The prompt text of a conversation. `template` is the file's
 * tokenizer.chat_template (undefined or empty if it has none). With
 * `opts.builtin` that built-in is used instead; without a template the
 * built-in comes from the architecture. A template that does not parse falls
 * back to the built-in its text points at, else it is a HobError
 * 'model/invalid'. A template that raises an exception (templates do, on
 * purpose, for conversations the model cannot take: roles that do not
 * alternate) or fails to render is a TemplateError 'template/error'; one that
 * runs past its budget (steps, output, depth, time) is 'template/limit'.
 */
export function renderChat(template: string | undefined, messages: readonly TemplateMessage[], opts: RenderChatOptions): string {
  let source = opts.builtin ? BUILTIN_TEMPLATES[opts.builtin] : template || BUILTIN_TEMPLATES[builtinForArchitecture(opts.architecture)];
  let t: Template;
  try {
    t = parse(source);
  } catch (e) {
    if (e instanceof TemplateError) throw e;
    const family = detectBuiltin(source);
    if (!family) {
      throw new HobError('model/invalid', `tokenizer.chat_template does not parse: ${(e as Error).message}`);
    }
    source = BUILTIN_TEMPLATES[family];
    t = parse(source);
  }
  return render(t, messages, opts);
}

/** The template source renderChat renders for these options, by the same
 *  choice and fallbacks: callers that read the template's text (tool-call
 *  formats, reasoning tags) read this one. */
export function chatTemplateSource(template: string | undefined, opts: Pick<RenderChatOptions, 'builtin' | 'architecture'>): string {
  const source = opts.builtin ? BUILTIN_TEMPLATES[opts.builtin] : template || BUILTIN_TEMPLATES[builtinForArchitecture(opts.architecture)];
  try {
    parse(source);
    return source;
  } catch (e) {
    const family = detectBuiltin(source);
    if (!family) throw new HobError('model/invalid', `tokenizer.chat_template does not parse: ${(e as Error).message}`);
    return BUILTIN_TEMPLATES[family];
  }
}
