// The grammar that keeps a model's tool calls valid: for each format, GBNF
// rules that write the format's call syntax around arguments generated from
// each tool's parameter schema, composed through a GrammarBuilder (llama.cpp's
// common_grammar_builder), and the triggers that wake a lazy grammar.
// tool_choice 'auto' gives a lazy grammar, asleep until the model writes the
// format's call marker (it may answer in plain text instead); 'required' and
// a named function give one active from the first token of the answer.
import { HobError } from '../shared/errors.js';
import type { JsonSchema, ToolChoice, ToolDefinition } from '../shared/types.js';
import type { GrammarBuilder } from '../sampling/grammar/builder.js';
import type { GrammarTrigger } from '../sampling/grammar/trigger.js';
import { DEEPSEEK_R1, type ToolFormat } from './tool-formats.js';


export interface ToolCallGrammar {
  /** The name of the root rule among those added to the builder. */
  root: string;
  /** Asleep until a trigger matches ('auto'); else active from the start.
   *  Triggers are words (the grammar takes the output from the word on) or
   *  full patterns (from where the first capture group starts). */
  lazy: boolean;
  triggers: GrammarTrigger[];
  /** Special tokens the grammar's literals name: tokenize them as their
   *  token and let the model sample them (llama.cpp's preserved tokens). */
  preservedTokens: string[];
}

export interface ToolGrammarOptions {
  toolChoice: ToolChoice;
  /** Whether the reply may hold several calls. */
  parallel: boolean;
}

/** A GBNF string literal. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

// Rule names are [a-zA-Z0-9-]; tool names may hold _ and .
const ruleName = (s: string): string => s.replace(/[^A-Za-z0-9-]+/g, '-');

const parametersOf = (t: ToolDefinition): JsonSchema => t.function.parameters ?? { type: 'object', properties: {} };

/** A JSON object {"name": <the tool's name>, <argsKey>: <its arguments>, ...extra}. */
function callObject(t: ToolDefinition, argsKey: string, extra: Record<string, JsonSchema> = {}): JsonSchema {
  return {
    type: 'object',
    properties: { name: { const: t.function.name }, [argsKey]: parametersOf(t), ...extra },
    required: ['name', argsKey, ...Object.keys(extra)],
  };
}

const oneOf = (schemas: JsonSchema[]): JsonSchema => (schemas.length === 1 ? schemas[0] : { anyOf: schemas });

const MISTRAL_ID = '[a-zA-Z0-9]{9}';

/**
 * The grammar of the tool calls of `format` for these tools, its rules added
 * to `builder`; undefined for tool_choice 'none' (no grammar: llama.cpp
 * leaves the output free and does not parse calls). A named function limits
 * the calls to that one. With a reasoning model the grammar applies to the
 * answer: the generation loop wakes or starts it only once the thought is
 * closed, so that a marker written while thinking does not count.
 */
export function buildToolCallGrammar(
  format: ToolFormat,
  tools: readonly ToolDefinition[],
  opts: ToolGrammarOptions,
  b: GrammarBuilder,
): ToolCallGrammar | undefined {
  const choice = opts.toolChoice;
  if (choice === 'none') return undefined;
  let offered = tools;
  if (typeof choice === 'object') {
    offered = tools.filter((t) => t.function.name === choice.function.name);
    if (!offered.length) throw new HobError('argument/invalid', `tool_choice names a function that is not among the tools: ${choice.function.name}`);
  }
  if (!offered.length) throw new HobError('argument/invalid', 'a tool-call grammar needs at least one tool');
  for (const t of offered) b.resolveRefs(parametersOf(t));

  const parallel = opts.parallel && format.parallel;
  const lazy = choice === 'auto' && format.name !== 'generic';
  const id = (t: ToolDefinition): string => ruleName(t.function.name);
  const args = (t: ToolDefinition): string => b.addSchema(`${id(t)}-args`, parametersOf(t));
  const ws = (): string => b.addRule('tool-ws', '( " " | "\\n"{1,2} [ \\t]{0,20} )?');
  const repeat = (call: string, sep = ''): string => (!parallel ? call : sep ? `${call} ( ${sep}${call} )*` : `${call}+`);
  const alternatives = (rules: string[]): string => (rules.length === 1 ? rules[0] : `( ${rules.join(' | ')} )`);
  const callList = (argsKey: string, extra: Record<string, JsonSchema> = {}): string =>
    b.addSchema('tool-calls', {
      type: 'array',
      items: oneOf(offered.map((t) => callObject(t, argsKey, extra))),
      minItems: 1,
      ...(parallel ? {} : { maxItems: 1 }),
    });

  let root: string;
  switch (format.name) {
    case 'llama3': {
      // The reply is the call: {"name": "f", "parameters": {...}}.
      root = b.addRule('root', alternatives(offered.map((t) => b.addSchema(`${id(t)}-call`, callObject(t, 'parameters')))));
      break;
    }
    case 'hermes':
    case 'smollm3': {
      const obj = alternatives(offered.map((t) => b.addSchema(`${id(t)}-call`, callObject(t, 'arguments'))));
      const space = ws();
      const call = b.addRule('tool-call', `${gbnfLiteral('<tool_call>')} ${space} ${obj} ${space} ${gbnfLiteral('</tool_call>')}`);
      root = b.addRule('root', repeat(call, `${space} `));
      break;
    }
    case 'mistral-nemo':
      root = b.addRule('root', `${gbnfLiteral('[TOOL_CALLS]')} ${callList('arguments', { id: { type: 'string', pattern: `^${MISTRAL_ID}$` } })}`);
      break;
    case 'mistral': {
      const callId = format.callIds ? ` ${gbnfLiteral('[CALL_ID]')} ${MISTRAL_ID}` : '';
      const calls = offered.map((t) =>
        b.addRule(`${id(t)}-call`, `${gbnfLiteral('[TOOL_CALLS]' + t.function.name)}${callId} ${gbnfLiteral('[ARGS]')} ${args(t)}`),
      );
      root = b.addRule('root', repeat(alternatives(calls)));
      break;
    }
    case 'phi4-mini':
      root = b.addRule('root', `${gbnfLiteral('<|tool_call|>')} ${callList('arguments')} ${gbnfLiteral('<|/tool_call|>')}`);
      break;
    case 'deepseek-r1': {
      const d = DEEPSEEK_R1;
      const calls = offered.map((t) =>
        b.addRule(
          `${id(t)}-call`,
          `${gbnfLiteral(`${d.callBegin}function${d.sep}${t.function.name}\n\`\`\`json\n`)} ${args(t)} ${gbnfLiteral(`\n\`\`\`${d.callEnd}`)}`,
        ),
      );
      root = b.addRule('root', `${gbnfLiteral(d.callsBegin)} ${repeat(alternatives(calls), '"\\n" ')} ${gbnfLiteral(d.callsEnd)}`);
      break;
    }
    case 'generic': {
      // The whole reply is JSON: the calls, or (with 'auto') a reply to the user.
      const item = oneOf(offered.map((t) => callObject(t, 'arguments')));
      const calls: JsonSchema = parallel
        ? { type: 'object', properties: { tool_calls: { type: 'array', items: item, minItems: 1 } }, required: ['tool_calls'] }
        : { type: 'object', properties: { tool_call: item }, required: ['tool_call'] };
      const reply: JsonSchema = { type: 'object', properties: { response: { type: 'string' } }, required: ['response'] };
      root = b.addSchema('root', choice === 'auto' ? { anyOf: [calls, reply] } : calls);
      break;
    }
  }

  const triggers: GrammarTrigger[] = !lazy
    ? []
    : format.name === 'llama3'
      ? // The call opens the reply; llama.cpp wakes on its first characters
        // whatever the name, since small models misspell names.
        [{ type: 'pattern_full', value: '(?:<\\|python_tag\\|>)?\\s*(\\{\\s*(?:"type"\\s*:\\s*"function"\\s*,\\s*)?"name"\\s*:\\s*")[\\s\\S]*' }]
      : format.openers.map((value) => ({ type: 'word', value }));
  return { root, lazy, triggers, preservedTokens: [...format.specialTokens] };
}
