// Tool-call formats: how each model family writes the calls it makes,
// recognised from the text of its chat template (the markers llama.cpp's
// common/chat.cpp looks for), and the text of calls and tool lists written in
// a family's own syntax for templates that cannot render them. Parsing a
// reply lives in tool-parser.ts, the grammars in tool-grammar.ts.
import type { ToolDefinition } from '../shared/types.js';
import { toJsonText } from './json-text.js';

export type ToolFormatName = 'llama3' | 'hermes' | 'smollm3' | 'mistral-nemo' | 'mistral' | 'phi4-mini' | 'deepseek-r1' | 'generic';

export interface ToolFormat {
  readonly name: ToolFormatName;
  /** The text that opens the calls of a reply, wherever they start (the lazy
   *  grammar's trigger words). Empty for the formats whose calls are the
   *  reply itself, as a bare JSON object (llama3, generic). */
  readonly openers: readonly string[];
  /** Special tokens the calls are written with: a grammar must let the model
   *  sample each as its one token (llama.cpp's preserved tokens). */
  readonly specialTokens: readonly string[];
  /** Whether one reply may hold several calls: Llama 3.x templates raise on
   *  more than one call per turn. */
  readonly parallel: boolean;
  /** Mistral's `[TOOL_CALLS]name[CALL_ID]id[ARGS]{...}`: whether the call id
   *  is written (Mistral Small 3.2) or not (Devstral, Magistral). */
  readonly callIds?: boolean;
}

const format = (name: ToolFormatName, openers: string[], specialTokens: string[], parallel = true): ToolFormat =>
  Object.freeze({ name, openers, specialTokens, parallel });

export const DEEPSEEK_R1 = {
  callsBegin: '<｜tool▁calls▁begin｜>',
  callsEnd: '<｜tool▁calls▁end｜>',
  callBegin: '<｜tool▁call▁begin｜>',
  callEnd: '<｜tool▁call▁end｜>',
  sep: '<｜tool▁sep｜>',
} as const;

export const TOOL_FORMATS: Readonly<Record<Exclude<ToolFormatName, 'mistral'>, ToolFormat>> = {
  // {"name": "f", "parameters": {...}} as the whole reply; <|python_tag|>
  // may come first (Llama 3.1 writes it before built-in tool calls).
  llama3: format('llama3', [], ['<|python_tag|>'], false),
  // <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>, one block a call.
  hermes: format('hermes', ['<tool_call>'], ['<tool_call>', '</tool_call>']),
  smollm3: format('smollm3', ['<tool_call>'], ['<tool_call>', '</tool_call>']),
  // [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "a1b2c3d4e"}]
  'mistral-nemo': format('mistral-nemo', ['[TOOL_CALLS]'], ['[TOOL_CALLS]']),
  // <|tool_call|>[{"name": "f", "arguments": {...}}]<|/tool_call|>
  'phi4-mini': format('phi4-mini', ['<|tool_call|>'], ['<|tool_call|>', '<|/tool_call|>']),
  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{...}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
  'deepseek-r1': format('deepseek-r1', [DEEPSEEK_R1.callsBegin], Object.values(DEEPSEEK_R1)),
  // {"tool_calls": [{"name": "f", "arguments": {...}}]} or {"response": "..."}
  generic: format('generic', [], []),
};

/** [TOOL_CALLS]f[CALL_ID]id[ARGS]{...} (Mistral Small 3.2), or without the
 *  call id (Devstral, Magistral). */
export function mistralFormat(callIds: boolean): ToolFormat {
  const tokens = ['[TOOL_CALLS]', '[ARGS]', ...(callIds ? ['[CALL_ID]'] : [])];
  return Object.freeze({ name: 'mistral', openers: ['[TOOL_CALLS]'], specialTokens: tokens, parallel: true, callIds });
}

/**
 * The tool-call format of a chat template, from the markers its text writes.
 * Templates with no tool syntax (Gemma, Llama 2, Llama 3.0) get the generic
 * format: calls as a JSON object the grammar constrains. So do Qwen3-Coder's
 * XML calls (<function=f><parameter=p>), which Hob does not parse.
 */
export function detectToolFormat(source: string | undefined): ToolFormat {
  const t = source ?? '';
  if (t.includes(DEEPSEEK_R1.callsBegin)) return TOOL_FORMATS['deepseek-r1'];
  if (t.includes('[TOOL_CALLS]')) return t.includes('[ARGS]') ? mistralFormat(t.includes('[CALL_ID]')) : TOOL_FORMATS['mistral-nemo'];
  if (t.includes('<|start_header_id|>ipython<|end_header_id|>')) return TOOL_FORMATS.llama3;
  // Phi-4-mini reads the tool list from the system message: message['tools'].
  if (t.includes('<|tool|>') && (t.includes("message['tools']") || t.includes('message.tools') || t.includes('<|tool_call|>'))) {
    return TOOL_FORMATS['phi4-mini'];
  }
  // SmolLM3's own template reads xml_tools; Unsloth's edit of it keeps the name.
  if (t.includes('xml_tools') || t.includes('SmolLM')) return TOOL_FORMATS.smollm3;
  if (t.includes('<tool_call>') && !(t.includes('<function=') && t.includes('<parameter='))) return TOOL_FORMATS.hermes;
  return TOOL_FORMATS.generic;
}

/** A call as written into a prompt: arguments already an object. */
export interface PromptToolCall {
  id?: string;
  name: string;
  arguments: unknown;
}

/** The text of calls as the model of `format` writes them, for templates
 *  that render an assistant turn's content but not its tool_calls
 *  (SmolLM3's, Phi-4-mini's, and every template under the generic format). */
export function toolCallsText(format: ToolFormat, calls: readonly PromptToolCall[], parallel = true): string {
  const plain = calls.map((c) => ({ name: c.name, arguments: c.arguments }));
  switch (format.name) {
    case 'llama3':
      return calls.map((c) => toJsonText({ name: c.name, parameters: c.arguments })).join('\n');
    case 'hermes':
    case 'smollm3':
      return plain.map((c) => '<tool_call>\n' + toJsonText(c) + '\n</tool_call>').join('\n');
    case 'mistral-nemo':
      return '[TOOL_CALLS]' + toJsonText(calls.map((c, i) => ({ ...plain[i], id: c.id })));
    case 'mistral':
      return calls
        .map((c) => '[TOOL_CALLS]' + c.name + (format.callIds ? '[CALL_ID]' + (c.id ?? '') : '') + '[ARGS]' + toJsonText(c.arguments))
        .join('');
    case 'phi4-mini':
      return '<|tool_call|>' + toJsonText(plain) + '<|/tool_call|>';
    case 'deepseek-r1': {
      const d = DEEPSEEK_R1;
      const each = calls.map((c) => `${d.callBegin}function${d.sep}${c.name}\n\`\`\`json\n${toJsonText(c.arguments)}\n\`\`\`${d.callEnd}`);
      return d.callsBegin + each.join('\n') + d.callsEnd;
    }
    case 'generic':
      return parallel || calls.length !== 1 ? toJsonText({ tool_calls: plain }) : toJsonText({ tool_call: plain[0] });
  }
}

/**
 * What Hob adds to the system message when a template cannot show the model
 * its tools: the functions as JSON, then how to call them in the format's own
 * syntax (for the generic format, the JSON reply object, as llama.cpp's
 * generic handler asks for it). `required`: the reply must call a tool.
 */
export function toolsSystemText(format: ToolFormat, tools: readonly ToolDefinition[], opts: { parallel: boolean; required: boolean }): string {
  const list = tools.map((t) => toJsonText(t)).join('\n');
  const example: PromptToolCall = { name: 'function_name', arguments: { argument_name: 'value' } };
  if (format.name === 'generic') {
    const call = opts.parallel ? '`tool_calls` (a list of calls)' : '`tool_call` (one call)';
    const shape = toolCallsText(format, [example], opts.parallel);
    return (
      `You can call the following tools:\n${list}\n\n` +
      (opts.required
        ? `Respond in JSON format, with ${call}: ${shape}`
        : `Respond in JSON format, either with ${call}: ${shape}\nor with \`response\` (your reply to the user's request): {"response": "..."}`)
    );
  }
  return (
    `You may call one or more functions to assist with the user query. The functions, with their parameters as JSON Schema:\n` +
    `${list}\n\nTo call a function, reply with:\n${toolCallsText(format, [{ ...example, id: 'a1b2c3d4e' }])}`
  );
}

/** How a template of `format` receives the tool list: the `tools` variable
 *  (most), pre-serialised strings (SmolLM3's template writes each tool with
 *  `| string`, which our Jinja has for strings only), or a JSON string on the
 *  system message (Phi-4-mini, as its model card shows). */
export interface TemplateTools {
  tools?: readonly unknown[];
  variables?: Readonly<Record<string, unknown>>;
  /** Put on the system message as its `tools` field. */
  systemField?: string;
}

export function templateTools(format: ToolFormat, tools: readonly ToolDefinition[]): TemplateTools {
  switch (format.name) {
    case 'smollm3': {
      const strings = tools.map((t) => toJsonText(t));
      return { tools: strings, variables: { xml_tools: strings } };
    }
    case 'phi4-mini':
      return { systemField: toJsonText(tools.map((t) => t.function)) };
    case 'llama3':
      // llama.cpp lists the tools in the system message rather than the
      // first user turn (the template's default).
      return { tools, variables: { tools_in_user_message: false } };
    default:
      return { tools };
  }
}
