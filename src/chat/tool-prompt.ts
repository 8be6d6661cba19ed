// A chat request with tools, turned into the prompt text of the model's own
// template: the tool list, past tool calls and tool results handed over the
// way the template reads them (arguments as objects, Mistral's 9-character
// call ids), and written into the messages by Hob where the template cannot
// render them (as llama.cpp and minja do). Also says, for the reply, which
// format its calls take, whether it starts inside a thought, and how to
// parse it.
import { HobError } from '../shared/errors.js';
import type { ChatMessage, ToolChoice, ToolDefinition } from '../shared/types.js';
import { toJsonText } from './json-text.js';
import { detectReasoning, promptOpensReasoning, readsEnableThinking, type ReasoningFormat } from './reasoning.js';
import { templateCaps, withSystemTools, type TemplateCaps } from './template-caps.js';
import { chatTemplateSource, renderChat, type RenderChatOptions, type TemplateMessage } from './template.js';
import { detectToolFormat, templateTools, toolCallsText, toolsSystemText, type PromptToolCall, type TemplateTools, type ToolFormat } from './tool-formats.js';
import type { ReplyParserOptions } from './tool-parser.js';

/** The parts of a chat request that shape the prompt. */
export interface ChatPromptRequest {
  messages: readonly ChatMessage[];
  tools?: readonly ToolDefinition[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  enable_thinking?: boolean;
}

export interface ChatPromptOptions extends Omit<RenderChatOptions, 'tools' | 'enableThinking' | 'variables'> {
  /** The file's tokenizer.chat_template.tool_use, used instead of the
   *  default template when tools are in the prompt (as llama.cpp does). */
  toolUseTemplate?: string;
  /** The day templates print (Llama 3.x's date_string); default today. */
  now?: Date;
}

export interface ChatPrompt {
  /** The text to tokenize (special tokens parsed). */
  prompt: string;
  /** The format the model writes its calls in. */
  format: ToolFormat;
  /** tool_choice in force: as asked, 'auto' with tools by default, 'none' without tools. */
  toolChoice: ToolChoice;
  /** Calls are expected: tools were given and tool_choice is not 'none'.
   *  Then the reply's calls are parsed, and the grammar (tool-grammar.ts) applies. */
  toolsActive: boolean;
  /** Whether a reply may hold several calls: the request's wish, if the
   *  format and template allow it. */
  parallel: boolean;
  /** The template's reasoning tags, if it has them. */
  reasoning?: ReasoningFormat;
  /** The prompt opened a thought: the reply starts with reasoning. */
  startsInReasoning: boolean;
  /** The template reads enable_thinking (it is always passed: true unless the request says false). */
  thinkingSwitch: boolean;
  /** Strings that end generation besides end-of-generation tokens. */
  stops: string[];
  /** What the template could render, as probed. */
  caps: TemplateCaps;
  /** For the ReplyParser of the reply. Set `constrained` when the grammar applies. */
  parser: ReplyParserOptions;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkTools(tools: readonly ToolDefinition[]): void {
  const seen = new Set<string>();
  for (const [i, t] of tools.entries()) {
    const name = t?.function?.name;
    if (t?.type !== 'function' || typeof name !== 'string' || !TOOL_NAME.test(name)) {
      throw new HobError('argument/invalid', `tools[${i}] must be {type: 'function', function: {name}} with a name of 1 to 64 letters, digits, _ . or -`, { index: i });
    }
    if (seen.has(name)) throw new HobError('argument/invalid', `two tools are named ${name}`, { index: i });
    seen.add(name);
  }
}

/** tool_choice as it applies to these tools. */
export function resolveToolChoice(choice: ToolChoice | undefined, tools: readonly ToolDefinition[]): ToolChoice {
  if (!tools.length) {
    if (choice === undefined || choice === 'none' || choice === 'auto') return 'none';
    throw new HobError('argument/invalid', 'tool_choice asks for a tool call but no tools were given');
  }
  if (choice === undefined) return 'auto';
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const name = typeof choice === 'object' && choice?.type === 'function' ? choice.function?.name : undefined;
  if (!name || !tools.some((t) => t.function.name === name)) {
    throw new HobError('argument/invalid', `tool_choice names a function that is not among the tools: ${String(name)}`);
  }
  return choice;
}

/** A call's arguments as an object (ChatMessage carries them as a JSON string). */
function argumentsObject(args: unknown, where: string): unknown {
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    throw new HobError('argument/invalid', `${where}: the arguments are not JSON`);
  }
}

// Mistral's templates take 9 letters and digits as call ids; other ids are
// mapped onto such, the same way for a call and for the result answering it.
export function mistralCallId(id: string): string {
  if (/^[A-Za-z0-9]{9}$/.test(id)) return id;
  let h = 0xcbf29ce484222325n;
  for (const ch of id) h = BigInt.asUintN(64, (h ^ BigInt(ch.codePointAt(0)!)) * 0x100000001b3n);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 9; i++, h /= 62n) out += alphabet[Number(h % 62n)];
  return out;
}

// The Hermes tool_use templates write each parameter's description through
// `| trim`, which our Jinja refuses on an undefined value (Python's returns
// ''): such templates get the tools with empty descriptions filled in.
function describedTools(tools: readonly ToolDefinition[]): ToolDefinition[] {
  return tools.map((t) => {
    const params = t.function.parameters;
    const props = typeof params === 'object' && params && typeof params.properties === 'object' && params.properties ? (params.properties as Record<string, unknown>) : undefined;
    const filled = props && Object.fromEntries(Object.entries(props).map(([k, v]) => [k, typeof v === 'object' && v && !('description' in v) ? { ...v, description: '' } : v]));
    return {
      ...t,
      function: {
        ...t.function,
        description: t.function.description ?? '',
        ...(filled ? { parameters: { ...(params as object), properties: filled } } : {}),
      },
    };
  });
}

/**
 * The prompt of a chat request, rendered by the model's template with the
 * request's tools. `template` is the file's tokenizer.chat_template; the
 * built-in and architecture fallbacks of renderChat apply. Errors: a bad tool
 * list or tool_choice, or tool-call arguments that are not JSON, are
 * HobError 'argument/invalid'; so is a conversation the template rejects.
 */
export function buildChatPrompt(template: string | undefined, req: ChatPromptRequest, opts: ChatPromptOptions): ChatPrompt {
  const tools = req.tools ?? [];
  checkTools(tools);
  const toolChoice = resolveToolChoice(req.tool_choice, tools);
  const toolsActive = tools.length > 0 && toolChoice !== 'none';
  const source = chatTemplateSource(tools.length && opts.toolUseTemplate ? opts.toolUseTemplate : template, opts);
  const format = detectToolFormat(source);
  const tokens = { bosToken: opts.bosToken, eosToken: opts.eosToken };
  const caps = templateCaps(source, format, tokens);
  const parallel = (req.parallel_tool_calls ?? true) && format.parallel && (caps.parallelToolCalls || !caps.toolCalls);
  // With tool_choice 'none' the tools stay in the prompt, as in llama.cpp,
  // except under the generic format, whose instructions ask for a call.
  const toolsInPrompt = tools.length > 0 && (toolsActive || format.name !== 'generic');
  const mistral = format.name === 'mistral' || format.name === 'mistral-nemo';
  const callId = (id: string | undefined): string | undefined => (id !== undefined && mistral ? mistralCallId(id) : id);

  // Past turns, as the template can take them.
  const names = new Map<string, string>();
  const messages: TemplateMessage[] = [];
  const resultTurns = new WeakSet<TemplateMessage>();
  for (const [i, m] of req.messages.entries()) {
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const calls: PromptToolCall[] = m.tool_calls.map((c, j) => {
        names.set(c.id, c.function.name);
        return { id: callId(c.id), name: c.function.name, arguments: argumentsObject(c.function.arguments, `messages[${i}].tool_calls[${j}]`) };
      });
      if (caps.toolCalls) {
        messages.push({
          ...m,
          content: m.content ?? (caps.nullContent ? null : ''),
          tool_calls: m.tool_calls.map((c, j) => ({
            id: calls[j].id,
            type: 'function',
            function: { name: c.function.name, arguments: caps.objectArguments ? calls[j].arguments : toJsonText(calls[j].arguments) },
          })),
        });
      } else {
        const text = toolCallsText(format, calls, parallel);
        const { tool_calls: _, ...rest } = m;
        messages.push({ ...rest, content: m.content ? m.content + '\n' + text : text });
      }
    } else if (m.role === 'tool') {
      const name = m.name ?? (m.tool_call_id !== undefined ? names.get(m.tool_call_id) : undefined);
      if (caps.toolResponses) {
        messages.push({ ...m, content: m.content ?? '', tool_call_id: callId(m.tool_call_id), ...(name ? { name } : {}) });
      } else {
        // As a user turn; results of one round of calls share it.
        const result = toJsonText({ tool_response: { tool: name, content: m.content ?? '', tool_call_id: m.tool_call_id } });
        const last = messages[messages.length - 1];
        const merge = last !== undefined && resultTurns.has(last);
        const turn = { role: 'user', content: merge ? `${last.content as string}\n${result}` : result };
        if (merge) messages[messages.length - 1] = turn;
        else messages.push(turn);
        resultTurns.add(turn);
      }
    } else messages.push(m);
  }

  const enableThinking = req.enable_thinking ?? true;
  const now = opts.now ?? new Date();
  const dateString = `${String(now.getDate()).padStart(2, '0')} ${MONTHS[now.getMonth()]} ${now.getFullYear()}`;
  // The tool list: handed to the template, or written into the system
  // message where the template shows no tools or fails on these ones (the
  // Hermes tool_use templates do on array parameters in our Jinja, whose
  // lookups of undefined keys raise where Python's give undefined).
  const render = (native: boolean): string => {
    let slot: TemplateTools = {};
    let system = messages;
    if (toolsInPrompt && native) slot = templateTools(format, source.includes('json_to_python_type') ? describedTools(tools) : tools);
    else if (toolsInPrompt) {
      const text = toolsSystemText(format, tools, { parallel, required: toolChoice !== 'auto' });
      system = messages[0]?.role === 'system'
        ? [{ ...messages[0], content: `${(messages[0].content as string | null) ?? ''}\n\n${text}`.trimStart() }, ...messages.slice(1)]
        : [{ role: 'system', content: text }, ...messages];
    }
    let prepared = withSystemTools(system, slot, 'You are a helpful assistant with some tools.');
    if (!caps.systemRole && prepared[0]?.role === 'system') {
      const sys = (prepared[0].content as string | null) ?? '';
      const next = prepared[1];
      prepared = next?.role === 'user'
        ? [{ ...next, content: `${sys}\n\n${(next.content as string | null) ?? ''}` }, ...prepared.slice(2)]
        : [{ role: 'user', content: sys }, ...prepared.slice(1)];
    }
    return renderChat(source, prepared, {
      ...opts,
      builtin: undefined,
      tools: slot.tools ?? (caps.toolListRequired ? [] : undefined),
      enableThinking,
      variables: { ...(format.name === 'llama3' ? { date_string: dateString } : {}), ...slot.variables },
    });
  };
  const native = toolsInPrompt && format.name !== 'generic' && caps.tools;
  let prompt: string;
  try {
    prompt = render(native);
  } catch (e) {
    if (!native) throw e;
    prompt = render(false);
  }

  const reasoning = detectReasoning(source);
  let startsInReasoning = reasoning !== undefined && opts.addGenerationPrompt && promptOpensReasoning(prompt, reasoning);
  // A template that opens the thought whatever enable_thinking says gets it
  // closed (llama.cpp does the same for the DeepSeek R1 templates).
  if (reasoning && startsInReasoning && !enableThinking) {
    prompt = prompt.trimEnd() + reasoning.forcedClose;
    startsInReasoning = false;
  }

  return {
    prompt,
    format,
    toolChoice,
    toolsActive,
    parallel,
    reasoning,
    startsInReasoning,
    thinkingSwitch: readsEnableThinking(source),
    stops: format.name === 'llama3' && toolsActive ? ['<|eom_id|>'] : [],
    caps,
    parser: {
      format,
      toolCalls: toolsActive,
      toolNames: tools.map((t) => t.function.name),
      reasoning,
      startsInReasoning,
    },
  };
}
