// Regenerates test/fixtures/tool-grammars.json: llama.cpp's own grammar
// parser (node-llama-cpp's AddonGrammar.isTextCompatible) judges the tool-call
// grammars Hob builds, format by format, on the text the real templates
// write for tool calls (test/fixtures/chat-templates) and on text they must
// refuse. The argument schemas are written by the small converter of
// test/unit/tool-grammar-builder.ts until the real one arrives; the unit test
// checks that Hob still builds the same grammars, and the verdicts.
//   npx tsx scripts/oracle/make-tool-grammar-fixtures.ts      (from the repository root)
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getLlama } from 'node-llama-cpp';

import { detectToolFormat, mistralFormat } from '../../src/chat/tool-formats.js';
import { buildToolCallGrammar, type ToolGrammarOptions } from '../../src/chat/tool-grammar.js';
import type { ChatMessage } from '../../src/shared/types.js';
import { CALLS, CASES, generatedPart, template, TOOLS } from '../../test/unit/chat-tool-cases.js';
import { SchemaGrammarBuilder } from '../../test/unit/tool-grammar-builder.js';

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/tool-grammars.json');

const one: ChatMessage = { role: 'assistant', content: null, tool_calls: [CALLS[0]] };
const two: ChatMessage = { role: 'assistant', content: null, tool_calls: CALLS };
/** What the template writes for `reply`, from the format's first marker on (where a lazy grammar starts). */
const written = (file: string, reply: ChatMessage, from?: string): string => {
  const text = generatedPart(CASES.find((c) => c.file === file)!, reply);
  return from ? text.slice(text.indexOf(from)) : text.trimStart();
};

interface Case {
  name: string;
  /** The template whose format is used (or a Mistral variant). */
  format: { template: string } | { mistralCallIds: boolean };
  options: ToolGrammarOptions;
  accept: string[];
  refuse: string[];
}

const auto = (parallel = true): ToolGrammarOptions => ({ toolChoice: 'auto', parallel });
const Q = 'Qwen-Qwen2.5-7B-Instruct.jinja';
const badArgs = '<tool_call>\n{"name": "get_weather", "arguments": {"town": "Paris"}}\n</tool_call>';

const cases: Case[] = [
  {
    name: 'hermes, auto, parallel',
    format: { template: Q },
    options: auto(),
    accept: [written(Q, one), written(Q, two), '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'],
    refuse: [badArgs, '<tool_call>\n{"name": "nope", "arguments": {}}\n</tool_call>', '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n', '<function=get_weather>{"city": "Rome"}</function>'],
  },
  { name: 'hermes, required, one call', format: { template: Q }, options: { toolChoice: 'required', parallel: false }, accept: [written(Q, one)], refuse: [written(Q, two)] },
  {
    name: 'hermes, named function',
    format: { template: Q },
    options: { toolChoice: { type: 'function', function: { name: 'search_web' } }, parallel: true },
    accept: [written(Q, { role: 'assistant', content: null, tool_calls: [CALLS[1]] })],
    refuse: [written(Q, one)],
  },
  { name: 'smollm3, auto', format: { template: 'HuggingFaceTB-SmolLM3-3B.jinja' }, options: auto(), accept: [written('HuggingFaceTB-SmolLM3-3B.jinja', two)], refuse: [badArgs] },
  {
    name: 'llama3, auto',
    format: { template: 'meta-llama-Llama-3.1-8B-Instruct.jinja' },
    options: auto(false),
    accept: [written('meta-llama-Llama-3.1-8B-Instruct.jinja', one)],
    refuse: ['{"name": "get_weather", "arguments": {"city": "Rome"}}', written('meta-llama-Llama-3.1-8B-Instruct.jinja', one) + written('meta-llama-Llama-3.1-8B-Instruct.jinja', one)],
  },
  {
    name: 'mistral-nemo, auto, parallel',
    format: { template: 'mistralai-Mistral-Nemo-Instruct-2407.jinja' },
    options: auto(),
    accept: [written('mistralai-Mistral-Nemo-Instruct-2407.jinja', one), written('mistralai-Mistral-Nemo-Instruct-2407.jinja', two)],
    refuse: ['[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "abc"}]', '[TOOL_CALLS][]'],
  },
  {
    name: 'mistral-nemo, one call',
    format: { template: 'mistralai-Mistral-Nemo-Instruct-2407.jinja' },
    options: auto(false),
    accept: [written('mistralai-Mistral-Nemo-Instruct-2407.jinja', one)],
    refuse: [written('mistralai-Mistral-Nemo-Instruct-2407.jinja', two)],
  },
  {
    name: 'mistral small 3.2, auto, parallel',
    format: { template: 'Mistral-Small-3.2-24B-Instruct-2506.jinja' },
    options: auto(),
    accept: [written('Mistral-Small-3.2-24B-Instruct-2506.jinja', one), written('Mistral-Small-3.2-24B-Instruct-2506.jinja', two)],
    refuse: ['[TOOL_CALLS]get_weather[ARGS]{"city": "Rome"}', '[TOOL_CALLS]get_weather[CALL_ID]abc[ARGS]{"city": "Rome"}'],
  },
  {
    name: 'devstral, required',
    format: { mistralCallIds: false },
    options: { toolChoice: 'required', parallel: true },
    accept: ['[TOOL_CALLS]get_weather[ARGS]{"city": "Rome"}[TOOL_CALLS]search_web[ARGS]{"query": "x"}'],
    refuse: ['[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Rome"}'],
  },
  {
    name: 'phi4-mini, auto, parallel',
    format: { template: 'microsoft-Phi-4-mini-instruct.jinja' },
    options: auto(),
    accept: [written('microsoft-Phi-4-mini-instruct.jinja', one, '<|tool_call|>'), written('microsoft-Phi-4-mini-instruct.jinja', two, '<|tool_call|>')],
    refuse: ['<|tool_call|>{"name": "get_weather", "arguments": {"city": "Rome"}}<|/tool_call|>'],
  },
  {
    name: 'deepseek-r1, auto, parallel',
    format: { template: 'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja' },
    options: auto(),
    accept: [written('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', one, '<｜tool▁calls▁begin｜>'), written('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja', two, '<｜tool▁calls▁begin｜>')],
    refuse: ['<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>'],
  },
  {
    name: 'generic, auto, parallel',
    format: { template: 'google-gemma-2-2b-it.jinja' },
    options: auto(),
    accept: [written('google-gemma-2-2b-it.jinja', one), written('google-gemma-2-2b-it.jinja', two), '{"response": "It is sunny."}'],
    refuse: ['{"tool_call": {"name": "get_weather", "arguments": {"city": "Rome"}}}', 'It is sunny.'],
  },
  {
    name: 'generic, required, one call',
    format: { template: 'google-gemma-2-2b-it.jinja' },
    options: { toolChoice: 'required', parallel: false },
    accept: ['{"tool_call": {"name": "get_weather", "arguments": {"city": "Rome"}}}'],
    refuse: ['{"response": "It is sunny."}', written('google-gemma-2-2b-it.jinja', one)],
  },
];

function grammarOf(c: Case): { text: string; root: string } {
  const format = 'template' in c.format ? detectToolFormat(template(c.format.template)) : mistralFormat(c.format.mistralCallIds);
  const b = new SchemaGrammarBuilder();
  const g = buildToolCallGrammar(format, TOOLS, c.options, b)!;
  return { text: b.text(g.root), root: g.root };
}

const llama = await getLlama({ gpu: false, logLevel: 'error' as never });
const out = [];
for (const c of cases) {
  const { text } = grammarOf(c);
  const grammar = await llama.createGrammar({ grammar: text });
  // @ts-expect-error: the addon grammar is internal to node-llama-cpp
  const judge = (t: string): boolean => grammar._grammar.isTextCompatible(t) as boolean;
  const verdicts = [...c.accept.map((t) => ({ text: t, expected: true })), ...c.refuse.map((t) => ({ text: t, expected: false }))].map((v) => ({
    ...v,
    llama: judge(v.text),
  }));
  for (const v of verdicts) if (v.llama !== v.expected) console.warn(`${c.name}: llama.cpp ${v.llama ? 'accepts' : 'refuses'} ${JSON.stringify(v.text)}`);
  out.push({ name: c.name, format: c.format, options: c.options, grammar: text, verdicts });
}
writeFileSync(outPath, JSON.stringify({ generator: GENERATOR, cases: out }, null, 1) + '\n');
console.log(`wrote ${outPath}: ${out.length} grammars, ${out.reduce((n, c) => n + c.verdicts.length, 0)} verdicts`);
