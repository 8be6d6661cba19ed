// What a chat template can render, found by rendering small probe
// conversations and looking for their marker strings in the output (as
// minja's chat_template caps do for llama.cpp). Tool-prompt.ts decides from
// these what to hand the template and what to write into messages itself.
import { renderChat, type TemplateMessage } from './template.js';
import { templateTools, type TemplateTools, type ToolFormat } from './tool-formats.js';
import type { ToolDefinition } from '../shared/types.js';

export interface TemplateCaps {
  /** Renders a system message (Gemma's template raises on one). */
  systemRole: boolean;
  /** Shows the model the tool list handed to it the format's way. */
  tools: boolean;
  /** Renders an assistant turn's tool_calls. */
  toolCalls: boolean;
  /** Renders tool-call arguments given as objects (else as JSON strings). */
  objectArguments: boolean;
  /** Renders two calls in one turn (Llama 3.x templates raise). */
  parallelToolCalls: boolean;
  /** Renders the content of role 'tool' messages. */
  toolResponses: boolean;
  /** Takes a null content on a turn that calls tools (Qwen 3's template
   *  fails on it; the DeepSeek R1 distills' render the calls only then). */
  nullContent: boolean;
  /** Renders a conversation without tools only when `tools` is a list: the
   *  Hermes tool_use templates loop over it (Python's Jinja loops over an
   *  undefined value as over nothing, ours raises). */
  toolListRequired: boolean;
}

export interface ProbeTokens {
  bosToken: string;
  eosToken: string;
}

const PROBE_TOOL: ToolDefinition = {
  type: 'function',
  function: {
    name: 'hob_probe_tool',
    description: 'hob probe tool',
    parameters: { type: 'object', properties: { hob_probe_param: { type: 'string', description: 'hob probe param' } }, required: ['hob_probe_param'] },
  },
};

/** Messages with the tool list added the format's way (Phi-4-mini's goes on the system message). */
export function withSystemTools(messages: readonly TemplateMessage[], slot: TemplateTools, defaultSystem = ''): TemplateMessage[] {
  if (slot.systemField === undefined) return [...messages];
  if (messages[0]?.role === 'system') return [{ ...messages[0], tools: slot.systemField }, ...messages.slice(1)];
  return [{ role: 'system', content: defaultSystem, tools: slot.systemField }, ...messages];
}

const cache = new Map<string, TemplateCaps>();

/** The capabilities of `source` under `format`, probed once per template. */
export function templateCaps(source: string, format: ToolFormat, tokens: ProbeTokens): TemplateCaps {
  const key = [format.name, format.callIds, tokens.bosToken, tokens.eosToken, source].join('\u0000');
  let caps = cache.get(key);
  if (!caps) {
    caps = probe(source, format, tokens);
    if (cache.size > 16) cache.clear();
    cache.set(key, caps);
  }
  return caps;
}

function probe(source: string, format: ToolFormat, tokens: ProbeTokens): TemplateCaps {
  const slot = templateTools(format, [PROBE_TOOL]);
  const tryRender = (messages: readonly TemplateMessage[], withTools: TemplateTools | undefined): string | undefined => {
    try {
      return renderChat(source, withTools ? withSystemTools(messages, withTools) : messages, {
        ...tokens,
        addGenerationPrompt: false,
        tools: withTools?.tools,
        variables: withTools?.variables,
      });
    } catch {
      return undefined;
    }
  };
  const user = { role: 'user', content: 'hob probe question' };
  const call = (name: string, id: string, args: unknown) => ({ id, type: 'function', function: { name, arguments: args } });
  const conversation = (content: string | null, calls: unknown[]): TemplateMessage[] => [
    user,
    { role: 'assistant', content, tool_calls: calls },
    { role: 'tool', tool_call_id: 'hobprobe1', name: 'hob_probe_call_a', content: 'hob_probe_response' },
    { role: 'assistant', content: 'hob probe answer' },
    { role: 'user', content: 'hob probe again' },
  ];
  const has = (out: string | undefined, ...needles: string[]): boolean => out !== undefined && needles.every((n) => out.includes(n));

  const plain = tryRender([user], undefined);
  const toolListRequired = plain === undefined && tryRender([user], { tools: [] }) !== undefined;
  const noTools: TemplateTools | undefined = toolListRequired ? { tools: [] } : undefined;
  // A turn that only calls tools: content null (as OpenAI clients send it)
  // where the template takes it, else an empty string; arguments as objects
  // where the template renders them, else as JSON strings.
  const argForms: unknown[] = [{ hob_probe_arg: 'v' }, '{"hob_probe_arg": "v"}'];
  let found: { content: string | null; args: unknown; out: string } | undefined;
  for (const content of [null, '']) {
    for (const args of argForms) {
      const out = tryRender(conversation(content, [call('hob_probe_call_a', 'hobprobe1', args)]), slot);
      if (!found && out !== undefined && has(out, 'hob_probe_call_a', 'hob_probe_arg')) found = { content, args, out };
    }
  }
  const parallel = found && tryRender(
    conversation(found.content, [call('hob_probe_call_a', 'hobprobe1', found.args), call('hob_probe_call_b', 'hobprobe2', found.args)]),
    slot,
  );
  const responses = found?.out ?? tryRender(conversation('', []), slot);
  return {
    systemRole: has(tryRender([{ role: 'system', content: 'hob_probe_system' }, user], noTools), 'hob_probe_system'),
    tools: has(tryRender([user], slot), 'hob_probe_tool'),
    toolCalls: found !== undefined,
    objectArguments: found !== undefined && typeof found.args !== 'string',
    parallelToolCalls: has(parallel, 'hob_probe_call_a', 'hob_probe_call_b'),
    toolResponses: has(responses, 'hob_probe_response'),
    nullContent: found?.content === null,
    toolListRequired,
  };
}
