// Conversations with tools through the real templates of
// test/fixtures/chat-templates: each family's format is detected from its
// template, every template renders the tool list, past calls and their
// results (through its own syntax where it has one, through text Hob writes
// where it has not), and the request's switches reach the template.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { templateCaps } from '../../src/chat/template-caps.js';
import { detectToolFormat, TOOL_FORMATS, toolCallsText, type ToolFormatName } from '../../src/chat/tool-formats.js';
import { buildChatPrompt, mistralCallId, resolveToolChoice } from '../../src/chat/tool-prompt.js';
import { HobError } from '../../src/shared/errors.js';
import type { ChatMessage } from '../../src/shared/types.js';
import { CALLS, CASES, HISTORY, options, packageTemplate, template, TOOLS } from './chat-tool-cases.js';

const isCode = (code: string) => (e: unknown) => e instanceof HobError && e.code === code;

describe('the tool-call format is detected from the template', () => {
  for (const c of CASES) {
    test(`${c.file}: ${c.format}`, () => assert.equal(detectToolFormat(template(c.file)).name, c.format));
  }
  test('templates without tool syntax get the generic format: Llama 3.0, Gemma 3, Llama 2, none at all', () => {
    assert.equal(detectToolFormat(packageTemplate('tokenizer-llama3')).name, 'generic');
    assert.equal(detectToolFormat(packageTemplate('tokenizer-gemma3')).name, 'generic');
    assert.equal(detectToolFormat(template('meta-llama-Llama-2-7b-chat.jinja')).name, 'generic');
    assert.equal(detectToolFormat(undefined).name, 'generic');
  });
  test('the Qwen 3 template of the tokenizer package is a Hermes one; DeepSeek R1 Llama distill is deepseek-r1', () => {
    assert.equal(detectToolFormat(packageTemplate('tokenizer-qwen3')).name, 'hermes');
    assert.equal(detectToolFormat(template('deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja')).name, 'deepseek-r1');
  });
  test('Mistral: [CALL_ID] in the template means ids in the calls; Qwen3-Coder XML calls are not Hermes', () => {
    assert.equal(detectToolFormat(template('Mistral-Small-3.2-24B-Instruct-2506.jinja')).callIds, true);
    assert.equal(detectToolFormat("{{ '[TOOL_CALLS]' + name + '[ARGS]' }}").callIds, false);
    assert.equal(detectToolFormat('<tool_call>\n<function=f>\n<parameter=p>').name, 'generic');
  });
});

describe('every template renders tools, tool calls and tool results', () => {
  const conversation: ChatMessage[] = [
    ...HISTORY,
    { role: 'assistant', content: null, tool_calls: [CALLS[0]] },
    { role: 'tool', tool_call_id: CALLS[0].id, content: '{"forecast": "sunny_result_marker"}' },
    { role: 'assistant', content: 'It will be sunny.' },
    { role: 'user', content: 'Thanks!' },
  ];
  for (const c of CASES) {
    test(c.file, () => {
      const p = buildChatPrompt(template(c.file), { messages: conversation, tools: TOOLS }, options(c, true));
      assert.equal(p.format.name, c.format);
      assert.equal(p.toolsActive, true);
      assert.equal(p.toolChoice, 'auto');
      // The tool list, the call with its arguments, the result, the last turns.
      for (const needle of ['get_weather', 'search_web', 'The weather forecast of a city', '"Paris"', 'sunny_result_marker', 'It will be sunny.', 'Thanks!']) {
        assert.ok(p.prompt.includes(needle), `${needle} missing from\n${p.prompt}`);
      }
      // Ids the Mistral templates take (9 letters and digits), the same for the call and its result.
      if (c.format.startsWith('mistral')) assert.equal(p.prompt.split(mistralCallId(CALLS[0].id)).length, 3);
      assert.ok(p.prompt.endsWith(c.header.trimEnd()) || p.prompt.endsWith(c.header) || p.startsInReasoning, p.prompt.slice(-80));
    });
  }

  test('what the templates can render, as probed', () => {
    const caps = (file: string) => {
      const c = CASES.find((k) => k.file === file) ?? { bosToken: '', eosToken: '' };
      return templateCaps(template(file), detectToolFormat(template(file)), c);
    };
    assert.deepEqual(caps('Qwen-Qwen3-0.6B.jinja'), {
      systemRole: true, tools: true, toolCalls: true, objectArguments: true, parallelToolCalls: true,
      toolResponses: true, nullContent: false, toolListRequired: false,
    });
    const hermes = caps('NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja');
    assert.equal(hermes.toolListRequired, true);
    assert.equal(hermes.nullContent, true);
    const llama = caps('meta-llama-Llama-3.1-8B-Instruct.jinja');
    assert.equal(llama.parallelToolCalls, false);
    assert.equal(llama.toolCalls, true);
    // SmolLM3 and Phi-4-mini show tools but write no tool_calls: Hob writes them.
    for (const f of ['HuggingFaceTB-SmolLM3-3B.jinja', 'microsoft-Phi-4-mini-instruct.jinja']) {
      assert.equal(caps(f).tools, true, f);
      assert.equal(caps(f).toolCalls, false, f);
    }
    assert.equal(caps('unsloth-SmolLM3-3B.jinja').tools, false);
    const gemma = caps('google-gemma-2-2b-it.jinja');
    assert.equal(gemma.systemRole, false);
    assert.equal(gemma.toolResponses, false);
    const distill = caps('deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja');
    assert.equal(distill.toolCalls, true);
    assert.equal(distill.objectArguments, false);
    assert.equal(distill.nullContent, true);
  });

  test('arguments reach templates as objects (Qwen 2.5 writes them with tojson), as strings where a template concatenates them', () => {
    const c = CASES.find((k) => k.file === 'Qwen-Qwen2.5-7B-Instruct.jinja')!;
    const p = buildChatPrompt(template(c.file), { messages: [...HISTORY, { role: 'assistant', content: null, tool_calls: [CALLS[0]] }], tools: TOOLS }, options(c, false));
    assert.ok(p.prompt.includes('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 2}}\n</tool_call>'));
    const distill = buildChatPrompt(
      template('deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja'),
      { messages: [...HISTORY, { role: 'assistant', content: null, tool_calls: [CALLS[0]] }], tools: TOOLS },
      { bosToken: '', eosToken: '', addGenerationPrompt: false },
    );
    assert.ok(distill.prompt.includes('get_weather\n```json\n{"city": "Paris", "unit": "celsius", "days": 2}\n```'), distill.prompt);
  });

  test('Gemma 2 (no system role, no tools, no tool role): tools in the first user turn, calls and results as JSON turns', () => {
    const c = CASES.find((k) => k.file === 'google-gemma-2-2b-it.jinja')!;
    const p = buildChatPrompt(template(c.file), { messages: conversation, tools: TOOLS }, options(c, true));
    assert.ok(p.prompt.startsWith('<bos><start_of_turn>user\nYou are a helpful assistant.\n\nYou can call the following tools:\n{"type": "function"'), p.prompt);
    assert.ok(p.prompt.includes('Respond in JSON format, either with `tool_calls`'));
    assert.ok(p.prompt.includes('<start_of_turn>model\n{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 2}}]}<end_of_turn>'));
    assert.ok(p.prompt.includes('<start_of_turn>user\n{"tool_response": {"tool": "get_weather", "content": "{\\"forecast\\": \\"sunny_result_marker\\"}", "tool_call_id": "call_weather01"}}<end_of_turn>'));
  });

  test('results of two calls share one user turn where the template has no tool role', () => {
    const c = CASES.find((k) => k.file === 'google-gemma-2-2b-it.jinja')!;
    const messages: ChatMessage[] = [
      ...HISTORY,
      { role: 'assistant', content: null, tool_calls: CALLS },
      { role: 'tool', tool_call_id: CALLS[0].id, content: 'r1' },
      { role: 'tool', tool_call_id: CALLS[1].id, content: 'r2' },
    ];
    const p = buildChatPrompt(template(c.file), { messages, tools: TOOLS }, options(c, true));
    assert.ok(p.prompt.includes('"content": "r1", "tool_call_id": "call_weather01"}}\n{"tool_response": {"tool": "search_web", "content": "r2"'), p.prompt);
  });

  test('Phi-4-mini: the tool list is a JSON string on the system message, calls are written as <|tool_call|>[...]', () => {
    const c = CASES.find((k) => k.file === 'microsoft-Phi-4-mini-instruct.jinja')!;
    const p = buildChatPrompt(template(c.file), { messages: [HISTORY[1], { role: 'assistant', content: null, tool_calls: [CALLS[0]] }], tools: TOOLS }, options(c, false));
    assert.ok(p.prompt.startsWith('<|system|>You are a helpful assistant with some tools.<|tool|>[{"name": "get_weather", "description": "The weather forecast of a city"'), p.prompt);
    assert.ok(p.prompt.includes('<|assistant|><|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 2}}]<|/tool_call|><|end|>'), p.prompt);
  });

  test('SmolLM3: tools as JSON strings (its template writes them with | string); Unsloth\'s edit gets them in the system text', () => {
    const official = buildChatPrompt(template('HuggingFaceTB-SmolLM3-3B.jinja'), { messages: HISTORY, tools: TOOLS }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(official.prompt.includes('<tools>\n{"type": "function", "function": {"name": "get_weather"'), official.prompt);
    const unsloth = buildChatPrompt(template('unsloth-SmolLM3-3B.jinja'), { messages: HISTORY, tools: TOOLS }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(unsloth.prompt.includes('## Custom Instructions\n\nYou are a helpful assistant.\n\nYou may call one or more functions'), unsloth.prompt);
    assert.ok(unsloth.prompt.includes('To call a function, reply with:\n<tool_call>\n{"name": "function_name"'), unsloth.prompt);
  });

  test('Hermes tool_use templates: parameters without description render (filled in empty), and plain chats render too', () => {
    const file = 'NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja';
    const native = (prompt: string) => prompt.includes('<tools> {"type": "function", "function": {"name"');
    const tools = [{ type: 'function' as const, function: { name: 'ping', parameters: { type: 'object', properties: { host: { type: 'string' } } } } }];
    const p = buildChatPrompt(template(file), { messages: HISTORY, tools }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(p.prompt.includes('"name": "ping", "description": "ping(host: str) - '), p.prompt);
    const plain = buildChatPrompt(template(file), { messages: HISTORY }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(plain.prompt.endsWith('<|im_start|>assistant\n'));
    assert.equal(plain.toolsActive, false);
    // An array parameter makes the template raise in our Jinja: the tools go into the system text instead.
    const arrays = buildChatPrompt(template(file), { messages: HISTORY, tools: TOOLS }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(arrays.prompt.includes('You are a helpful assistant.\n\nYou may call one or more functions'), arrays.prompt);
    assert.ok(arrays.prompt.includes('To call a function, reply with:\n<tool_call>\n{"name": "function_name"'));
    assert.ok(!native(arrays.prompt));
    assert.ok(native(p.prompt));
  });

  test('Llama 3.x: the tools go in the system message (tools_in_user_message false, as llama.cpp) with the date given', () => {
    const c = CASES[0];
    const p = buildChatPrompt(template(c.file), { messages: HISTORY, tools: TOOLS }, options(c, true));
    assert.ok(p.prompt.includes('Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 01 Sep 2026\n\nYou have access to the following functions.'), p.prompt);
    assert.ok(!p.prompt.includes('Given the following functions'));
    assert.deepEqual(p.stops, ['<|eom_id|>']);
    assert.equal(p.parallel, false);
  });

  test('a second, tool-use template of the file is used when tools are in the prompt', () => {
    const plain = '{% for m in messages %}PLAIN {{ m.content }}{% endfor %}';
    const withTools = buildChatPrompt(plain, { messages: HISTORY, tools: TOOLS }, { bosToken: '', eosToken: '', addGenerationPrompt: true, toolUseTemplate: template('Qwen-Qwen2.5-7B-Instruct.jinja') });
    assert.equal(withTools.format.name, 'hermes');
    const without = buildChatPrompt(plain, { messages: HISTORY }, { bosToken: '', eosToken: '', addGenerationPrompt: true, toolUseTemplate: template('Qwen-Qwen2.5-7B-Instruct.jinja') });
    assert.ok(without.prompt.startsWith('PLAIN'));
  });
});

describe('tool_choice and the switches of the request', () => {
  const qwen = CASES.find((k) => k.file === 'Qwen-Qwen3-0.6B.jinja')!;

  test("'none' keeps the tools in the prompt (as llama.cpp) but parses no calls; under the generic format the tools stay out", () => {
    const p = buildChatPrompt(template(qwen.file), { messages: HISTORY, tools: TOOLS, tool_choice: 'none' }, options(qwen, true));
    assert.ok(p.prompt.includes('"name": "get_weather"'));
    assert.equal(p.toolsActive, false);
    assert.equal(p.parser.toolCalls, false);
    const gemma = CASES.find((k) => k.file === 'google-gemma-2-2b-it.jinja')!;
    const g = buildChatPrompt(template(gemma.file), { messages: HISTORY, tools: TOOLS, tool_choice: 'none' }, options(gemma, true));
    assert.ok(!g.prompt.includes('get_weather'), g.prompt);
  });

  test('the default is auto with tools and none without; required and a named function need tools', () => {
    assert.equal(resolveToolChoice(undefined, TOOLS), 'auto');
    assert.equal(resolveToolChoice(undefined, []), 'none');
    assert.deepEqual(resolveToolChoice({ type: 'function', function: { name: 'search_web' } }, TOOLS), { type: 'function', function: { name: 'search_web' } });
    assert.throws(() => resolveToolChoice('required', []), isCode('argument/invalid'));
    assert.throws(() => resolveToolChoice({ type: 'function', function: { name: 'nope' } }, TOOLS), isCode('argument/invalid'));
  });

  test('required in the generic format asks for calls only', () => {
    const gemma = CASES.find((k) => k.file === 'google-gemma-2-2b-it.jinja')!;
    const p = buildChatPrompt(template(gemma.file), { messages: HISTORY, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false }, options(gemma, true));
    assert.ok(p.prompt.includes('Respond in JSON format, with `tool_call` (one call): {"tool_call": {"name": "function_name"'), p.prompt);
    assert.ok(!p.prompt.includes('`response`'));
    assert.equal(p.parallel, false);
  });

  test('enable_thinking reaches the templates that read it: Qwen 3 closes an empty thought, SmolLM3 says /no_think', () => {
    const off = buildChatPrompt(template(qwen.file), { messages: HISTORY, enable_thinking: false }, options(qwen, true));
    assert.ok(off.prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
    assert.equal(off.thinkingSwitch, true);
    const on = buildChatPrompt(template(qwen.file), { messages: HISTORY }, options(qwen, true));
    assert.ok(on.prompt.endsWith('<|im_start|>assistant\n'));
    const smol = buildChatPrompt(template('HuggingFaceTB-SmolLM3-3B.jinja'), { messages: HISTORY, enable_thinking: false }, { bosToken: '', eosToken: '', addGenerationPrompt: true });
    assert.ok(smol.prompt.includes('Reasoning Mode: /no_think'));
    assert.ok(smol.prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n'));
  });

  test('errors: malformed tools, duplicate names, arguments that are not JSON', () => {
    const c = CASES[2];
    const bad = [{ type: 'function', function: { name: 'has space' } }] as never;
    assert.throws(() => buildChatPrompt(template(c.file), { messages: HISTORY, tools: bad }, options(c, true)), isCode('argument/invalid'));
    assert.throws(() => buildChatPrompt(template(c.file), { messages: HISTORY, tools: [TOOLS[0], TOOLS[0]] }, options(c, true)), isCode('argument/invalid'));
    const notJson: ChatMessage = { role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function', function: { name: 'get_weather', arguments: '{city: Paris}' } }] };
    assert.throws(() => buildChatPrompt(template(c.file), { messages: [...HISTORY, notJson], tools: TOOLS }, options(c, true)), isCode('argument/invalid'));
  });

  test('Mistral call ids: 9 letters and digits kept, others mapped the same way every time', () => {
    assert.equal(mistralCallId('abc123XYZ'), 'abc123XYZ');
    assert.match(mistralCallId('call_weather01'), /^[A-Za-z0-9]{9}$/);
    assert.equal(mistralCallId('call_weather01'), mistralCallId('call_weather01'));
    assert.notEqual(mistralCallId('call_weather01'), mistralCallId('call_weather02'));
  });
});

describe('calls written in each format', () => {
  const calls = [{ id: 'a1b2c3d4e', name: 'get_weather', arguments: { city: 'Paris' } }];
  const expected: Record<Exclude<ToolFormatName, 'mistral'>, string> = {
    llama3: '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    hermes: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    smollm3: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    'mistral-nemo': '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1b2c3d4e"}]',
    'phi4-mini': '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>',
    'deepseek-r1': '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
    generic: '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
  };
  for (const [name, text] of Object.entries(expected)) {
    test(name, () => assert.equal(toolCallsText(TOOL_FORMATS[name as keyof typeof expected], calls), text));
  }
  test('mistral, with and without call ids', () => {
    assert.equal(toolCallsText(detectToolFormat('[TOOL_CALLS][CALL_ID][ARGS]'), calls), '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}');
    assert.equal(toolCallsText(detectToolFormat('[TOOL_CALLS][ARGS]'), calls), '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}');
  });
});
