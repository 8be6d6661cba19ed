// What constrains a request's output, compiled once before it generates:
// a GBNF grammar the caller wrote, a JSON schema or any JSON object
// (response_format), or the tool-call syntax of the model's chat format with
// each tool's parameter schema. Tool calls under tool_choice 'auto' are a
// lazy grammar, asleep until the model writes its call marker. For a model
// that thinks first (<think> ... </think>), a schema or required calls are
// the answer after an optional thought, as llama.cpp's chat formats write
// them; a lazy grammar only starts listening once the thought has closed.
import type { Model } from '../core/model.js';
import type { ChatPrompt } from '../chat/tool-prompt.js';
import { buildToolCallGrammar, gbnfLiteral } from '../chat/tool-grammar.js';
import type { ReasoningFormat } from '../chat/reasoning.js';
import { buildGrammar } from '../sampling/grammar/builder.js';
import { JSON_OBJECT_GBNF, jsonSchemaToGbnf } from '../sampling/grammar/json-schema.js';
import { parseGrammar, type Grammar, type GrammarTrigger } from '../sampling/grammar/index.js';
import { HobError } from '../shared/errors.js';
import type { ConstraintParams, ToolDefinition } from '../shared/types.js';

export interface Constraint {
  /** The compiled grammar (its root may be a wrapper around the answer's). */
  grammar: Grammar;
  /** Asleep until one of these fires (tool calls under 'auto'). */
  triggers?: GrammarTrigger[];
  /** For a lazy grammar of a model that may think first: it listens for
   *  its triggers only from where the thought closed (or where the reply
   *  turned out not to open one). */
  afterThought?: { format: ReasoningFormat; startsInside: boolean };
  /** Where the constraint came from, for errors and logs. */
  source: 'grammar' | 'json_object' | 'json_schema' | 'tools';
}

/** Rule names of the thought around an answer (GBNF names: letters, digits, -). */
const THOUGHT_ROOT = 'hob-reply';

/**
 * GBNF rules matching any text that does not contain `stop` (a Knuth-Morris-
 * Pratt automaton over its characters, one rule per state; every state may
 * end, since `stop` itself follows): the body of a thought up to its
 * closing tag. Returns the name of the first state's rule.
 */
function untilRules(stop: string, prefix: string, rules: string[]): string {
  const s = [...stop];
  const fail: number[] = [0];
  for (let i = 1, k = 0; i < s.length; i++) {
    while (k > 0 && s[i] !== s[k]) k = fail[k - 1];
    if (s[i] === s[k]) k++;
    fail.push(k);
  }
  // next(state, c): the longest prefix of `stop` the text ends with after c.
  const next = (state: number, c: string): number => {
    let k = state;
    while (k > 0 && c !== s[k]) k = fail[k - 1];
    return c === s[k] ? k + 1 : 0;
  };
  const charClass = (c: string): string => gbnfLiteral(c).slice(1, -1).replace(/[\]^-]/g, (m) => '\\' + m);
  const name = (state: number) => `${prefix}-${state}`;
  const alphabet = [...new Set(s)];
  for (let state = 0; state < s.length; state++) {
    const alts: string[] = [];
    // Characters of `stop` go to their next state, unless they complete it.
    for (const c of alphabet) {
      const to = next(state, c);
      if (to < s.length) alts.push(`${gbnfLiteral(c)} ${name(to)}`);
    }
    // Every other character starts over.
    alts.push(`[^${alphabet.map(charClass).join('')}] ${name(0)}`);
    rules.push(`${name(state)} ::= ( ${alts.join(' | ')} )?`);
  }
  return name(0);
}

/** The answer rule `root` behind an optional thought (or, when the prompt
 *  already opened it, behind the rest of the thought). */
function withThought(gbnf: string, r: ReasoningFormat, startsInside: boolean): { text: string; root: string } {
  const rules: string[] = [];
  const body = untilRules(r.close, 'hob-thought', rules);
  const thought = `${body} ${gbnfLiteral(r.close)} [ \\t\\n]*`;
  const reply = startsInside ? `${thought} root` : `( ${gbnfLiteral(r.open)} ${thought} )? root`;
  return { text: `${gbnf}\n${THOUGHT_ROOT} ::= ${reply}\n${rules.join('\n')}\n`, root: THOUGHT_ROOT };
}

/** The grammar's GBNF for response_format, grammar or neither. */
function formatGbnf(req: ConstraintParams): { gbnf: string; source: Constraint['source'] } | undefined {
  const rf = req.response_format;
  if (req.grammar !== undefined && req.grammar !== null) {
    if (typeof req.grammar !== 'string') throw new HobError('argument/invalid', 'grammar must be a GBNF string');
    if (rf && rf.type !== 'text') throw new HobError('argument/invalid', 'give grammar or response_format, not both');
    return { gbnf: req.grammar, source: 'grammar' };
  }
  if (!rf || rf.type === 'text') return undefined;
  if (rf.type === 'json_object') {
    return rf.schema === undefined ? { gbnf: JSON_OBJECT_GBNF, source: 'json_object' } : { gbnf: jsonSchemaToGbnf(rf.schema), source: 'json_schema' };
  }
  if (rf.type === 'json_schema') {
    if (!rf.json_schema || typeof rf.json_schema !== 'object') {
      throw new HobError('argument/invalid', "response_format { type: 'json_schema' } needs json_schema: { name, schema }");
    }
    return { gbnf: jsonSchemaToGbnf(rf.json_schema.schema ?? {}), source: 'json_schema' };
  }
  throw new HobError('argument/invalid', `response_format.type must be 'text', 'json_object' or 'json_schema', got ${String((rf as { type?: unknown }).type)}`);
}

/** The constraint of a request, or undefined when its output is free.
 *  `chat` is the chat prompt (tools and reasoning) of a chat request. */
export function compileConstraint(
  model: Model,
  req: ConstraintParams & { tools?: readonly ToolDefinition[]; enable_thinking?: boolean },
  chat?: ChatPrompt,
): Constraint | undefined {
  const tokenize = (text: string) => model.tokenize(text, { addSpecial: false, parseSpecial: true });
  const format = formatGbnf(req);
  // A reply may think when its template has thoughts, unless the prompt
  // already closed one (Qwen 3 with enable_thinking false writes an empty
  // thought) or the request switched thinking off.
  const r = chat?.reasoning;
  const reasoning = r && chat && (chat.startsInReasoning || (req.enable_thinking !== false && !chat.prompt.trimEnd().endsWith(r.close))) ? r : undefined;
  if (format && chat?.toolsActive) {
    throw new HobError('argument/invalid', `${format.source === 'grammar' ? 'grammar' : 'response_format'} cannot constrain a reply that may call tools: give tool_choice 'none' or leave it out`);
  }
  if (format) {
    // A caller's own grammar applies as written; a JSON answer may follow a thought.
    const wrap = reasoning && format.source !== 'grammar';
    const { text, root } = wrap ? withThought(format.gbnf, reasoning, chat!.startsInReasoning) : { text: format.gbnf, root: 'root' };
    return { grammar: parseGrammar(text, { root, tokenize }), source: format.source };
  }
  if (!chat?.toolsActive) return undefined;
  let lazy = false;
  let triggers: GrammarTrigger[] = [];
  const gbnf = buildGrammar((b) => {
    const g = buildToolCallGrammar(chat.format, req.tools ?? [], { toolChoice: chat.toolChoice, parallel: chat.parallel }, b);
    if (!g) return;
    if (g.root !== 'root') b.addRule('root', g.root);
    lazy = g.lazy;
    triggers = g.triggers;
  });
  if (lazy) {
    const afterThought = reasoning && { format: reasoning, startsInside: chat.startsInReasoning };
    return { grammar: parseGrammar(gbnf, { tokenize }), triggers, afterThought, source: 'tools' };
  }
  const { text, root } = reasoning ? withThought(gbnf, reasoning, chat.startsInReasoning) : { text: gbnf, root: 'root' };
  return { grammar: parseGrammar(text, { root, tokenize }), source: 'tools' };
}
