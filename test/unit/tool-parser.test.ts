// The reply parser's rules, format by format and at the edges: text held
// back while it may still be a marker, malformed calls turned into content
// (or kept aside when a grammar guaranteed them), reasoning split off, the
// generic format's response streamed out of its JSON string, and work that
// grows linearly with the reply, however it is split.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { JsonScanner, JsonSyntaxError, MAX_JSON_DEPTH, parseJsonAt } from '../../src/chat/json-scan.js';
import { detectReasoning } from '../../src/chat/reasoning.js';
import { mistralFormat, TOOL_FORMATS } from '../../src/chat/tool-formats.js';
import { parseReply, ReplyParser, type ReplyParserOptions } from '../../src/chat/tool-parser.js';
import type { ChatCompletionDelta } from '../../src/shared/types.js';
import { measureGrowth } from '../growth.js';

const think = detectReasoning('<think></think>')!;
const ids = () => {
  let n = 0;
  return () => `id${n++}`;
};
const opts = (format: keyof typeof TOOL_FORMATS, extra: Partial<ReplyParserOptions> = {}): ReplyParserOptions => ({
  format: TOOL_FORMATS[format],
  toolCalls: true,
  newCallId: ids(),
  ...extra,
});

/** Pushes the pieces; returns the deltas of each push and of finish. */
function run(o: ReplyParserOptions, pieces: string[]): { steps: ChatCompletionDelta[][]; parser: ReplyParser } {
  const parser = new ReplyParser(o);
  const steps = pieces.map((p) => parser.push(p));
  steps.push(parser.finish());
  return { steps, parser };
}

const call = (name: string, args: string, id = 'id0') => ({ id, type: 'function', function: { name, arguments: args } });

describe('held back, never taken back', () => {
  test('a possible marker start waits; it is released once it cannot be one', () => {
    const { steps, parser } = run(opts('hermes'), ['Hello <tool', 's are', ' fun']);
    assert.deepEqual(steps[0], [{ content: 'Hello' }]);
    assert.deepEqual(steps[1], [{ content: ' <tools are' }]);
    assert.deepEqual(steps[2], [{ content: ' fun' }]);
    assert.equal(parser.message.content, 'Hello <tools are fun');
  });

  test('a call split anywhere is emitted whole, once, when its JSON closes', () => {
    const text = 'Sure.<tool_call>\n{"name": "f", "arguments": {"a": "}"}}\n</tool_call>';
    for (let cut = 1; cut < text.length; cut++) {
      const { steps } = run(opts('hermes'), [text.slice(0, cut), text.slice(cut)]);
      const flat = steps.flat();
      assert.deepEqual(flat.filter((d) => d.content).map((d) => d.content).join(''), 'Sure.', `cut ${cut}`);
      const calls = flat.flatMap((d) => d.tool_calls ?? []);
      assert.deepEqual(calls, [{ index: 0, id: 'id0', type: 'function', function: { name: 'f', arguments: '{"a": "}"}' } }], `cut ${cut}`);
      const closeAt = text.indexOf('}}') + 2;
      assert.equal(steps[0].some((d) => d.tool_calls), cut >= closeAt, `cut ${cut}`);
    }
  });

  test('whitespace between text and calls, and between calls, is dropped; content after calls is kept', () => {
    const m = parseReply('  Checking.\n\n<tool_call>{"name":"f","arguments":{}}</tool_call>\n<tool_call>{"name":"g","arguments":{"x":1}}</tool_call>\nDone. ', opts('hermes'));
    assert.equal(m.content, 'Checking.Done.');
    assert.deepEqual(m.tool_calls, [call('f', '{}'), call('g', '{"x":1}', 'id1')]);
  });

  test('a reply that only calls tools has content null; a plain reply has no tool_calls', () => {
    assert.equal(parseReply('<tool_call>{"name":"f","arguments":{}}</tool_call>', opts('hermes')).content, null);
    assert.deepEqual(parseReply('Hi', opts('hermes')), { role: 'assistant', content: 'Hi' });
  });
});

describe('malformed calls', () => {
  test('a call cut off by the end of the stream becomes content, or is set aside when a grammar guaranteed it', () => {
    const text = 'Let me check.<tool_call>{"name": "f", "arguments": {"a": 1';
    assert.equal(parseReply(text, opts('hermes')).content, 'Let me check.<tool_call>{"name": "f", "arguments": {"a": 1');
    const { parser } = run(opts('hermes', { constrained: true }), [text]);
    assert.equal(parser.message.content, 'Let me check.');
    assert.equal(parser.unparsed, '<tool_call>{"name": "f", "arguments": {"a": 1');
    // Cut inside the marker itself: the same.
    const cut = run(opts('hermes', { constrained: true }), ['<tool_call>{"name": "f", "arguments": {}}</tool_call><tool_ca']);
    assert.equal(cut.parser.message.content, null);
    assert.equal(cut.parser.unparsed, '<tool_ca');
    assert.equal(parseReply('Hi <tool_ca', opts('hermes')).content, 'Hi <tool_ca', 'without a grammar it is text');
  });

  test('text that breaks the syntax is content, and reading goes on after it', () => {
    const m = parseReply('<tool_call>not json</tool_call> then <tool_call>{"name": "f", "arguments": {}}</tool_call>', opts('hermes'));
    assert.equal(m.content, '<tool_call>not json</tool_call> then');
    assert.deepEqual(m.tool_calls, [call('f', '{}')]);
    // A doubled marker: the first is text, the second opens the call.
    const d = parseReply('<tool_call><tool_call>{"name": "f", "arguments": {}}</tool_call>', opts('hermes'));
    assert.equal(d.content, '<tool_call>');
    assert.equal(d.tool_calls?.length, 1);
  });

  test('unknown functions, missing names and arguments that are no object are content', () => {
    const o = opts('hermes', { toolNames: ['f'] });
    for (const bad of ['{"name": "g", "arguments": {}}', '{"arguments": {}}', '{"name": "f", "arguments": [1]}', '{"name": "f", "arguments": "x"}']) {
      const m = parseReply(`<tool_call>${bad}</tool_call>`, o);
      assert.equal(m.tool_calls, undefined, bad);
      assert.equal(m.content, `<tool_call>${bad}</tool_call>`, bad);
    }
    // Arguments as a string holding a JSON object are taken as they are.
    assert.deepEqual(parseReply('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>', o).tool_calls, [call('f', '{"a": 1}')]);
  });

  test('without tool parsing (tool_choice none) markers are plain content', () => {
    const text = '<tool_call>{"name": "f", "arguments": {}}</tool_call>';
    assert.deepEqual(parseReply(text, opts('hermes', { toolCalls: false })), { role: 'assistant', content: text });
  });
});

describe('formats', () => {
  test('llama3: the reply is the call, with "parameters", an optional "type" and <|python_tag|>; other JSON is content', () => {
    assert.deepEqual(parseReply('{"name": "f", "parameters": {"a": 1}}', opts('llama3')).tool_calls, [call('f', '{"a": 1}')]);
    assert.deepEqual(parseReply(' {"type": "function", "name": "f", "parameters": {}}', opts('llama3')).tool_calls, [call('f', '{}')]);
    assert.deepEqual(parseReply('<|python_tag|>{"name": "f", "arguments": {"b": 2}}', opts('llama3')).tool_calls, [call('f', '{"b": 2}')]);
    assert.deepEqual(parseReply('{"answer": 42}', opts('llama3')), { role: 'assistant', content: '{"answer": 42}' });
    assert.deepEqual(parseReply('The call {"name": "f", "parameters": {}}', opts('llama3')).tool_calls, undefined);
    // The start is held only while it can still become a call.
    const { steps } = run(opts('llama3'), ['{"na', 'me": "f", "parameters": {}}']);
    assert.deepEqual(steps[0], []);
    const { steps: s2 } = run(opts('llama3'), ['{"nb', 'x']);
    assert.deepEqual(s2[0], [{ content: '{"nb' }]);
  });

  test('mistral-nemo: an array of calls with the model\'s ids; mistral: name, [CALL_ID], [ARGS]', () => {
    const nemo = parseReply('[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}, "id": "a1b2c3d4e"}, {"name": "g", "arguments": {}, "id": "z9y8x7w6v"}]', opts('mistral-nemo'));
    assert.deepEqual(nemo.tool_calls, [call('f', '{"a": 1}', 'a1b2c3d4e'), call('g', '{}', 'z9y8x7w6v')]);
    const small = parseReply('Sure[TOOL_CALLS]f[CALL_ID]a1b2c3d4e[ARGS]{"a": 1}[TOOL_CALLS]g[CALL_ID]z9y8x7w6v[ARGS]{}', { ...opts('hermes'), format: mistralFormat(true) });
    assert.equal(small.content, 'Sure');
    assert.deepEqual(small.tool_calls, [call('f', '{"a": 1}', 'a1b2c3d4e'), call('g', '{}', 'z9y8x7w6v')]);
    const devstral = parseReply('[TOOL_CALLS]f[ARGS]{"a": 1}', { ...opts('hermes'), format: mistralFormat(false) });
    assert.deepEqual(devstral.tool_calls, [call('f', '{"a": 1}')]);
  });

  test('phi4-mini: an array in <|tool_call|>; one object, or a missing closing tag, are taken too', () => {
    assert.equal(parseReply('<|tool_call|>[{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}}]<|/tool_call|>', opts('phi4-mini')).tool_calls?.length, 2);
    assert.equal(parseReply('<|tool_call|>{"name": "f", "arguments": {}}', opts('phi4-mini')).tool_calls?.length, 1);
  });

  test('deepseek-r1: calls in <｜tool▁calls▁begin｜>, with or without the closing markers', () => {
    const one = (name: string) => `<｜tool▁call▁begin｜>function<｜tool▁sep｜>${name}\n\`\`\`json\n{"a": 1}\n\`\`\`<｜tool▁call▁end｜>`;
    const m = parseReply(`<｜tool▁calls▁begin｜>${one('f')}\n${one('g')}<｜tool▁calls▁end｜>`, opts('deepseek-r1'));
    assert.deepEqual(m.tool_calls?.map((c) => c.function.name), ['f', 'g']);
    assert.equal(parseReply(`<｜tool▁calls▁begin｜>${one('f')}`, opts('deepseek-r1')).tool_calls?.length, 1);
  });

  test('generic: the response string streams out decoded, escapes and surrogate pairs split anywhere', () => {
    const text = '{"response": "Line 1\\nTab\\there \\"q\\" \\u00fc \\ud83d\\ude00 end"}';
    const expected = 'Line 1\nTab\there "q" ü 😀 end';
    for (let cut = 1; cut < text.length; cut++) {
      const { parser, steps } = run(opts('generic'), [text.slice(0, cut), text.slice(cut)]);
      assert.equal(parser.message.content, expected, `cut ${cut}`);
      assert.ok(expected.startsWith(steps[0].map((d) => d.content ?? '').join('')), `cut ${cut}`);
    }
    assert.deepEqual(parseReply('{"tool_call": {"name": "f", "arguments": {"a": 1}}}', opts('generic')).tool_calls, [call('f', '{"a": 1}')]);
    assert.equal(parseReply('{"tool_calls": [{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}}]}', opts('generic')).tool_calls?.length, 2);
    assert.equal(parseReply('Plain text.', opts('generic')).content, 'Plain text.');
  });
});

describe('reasoning', () => {
  test('a thought at the start is split off; one the prompt opened needs only its end', () => {
    assert.deepEqual(parseReply('<think>\nHmm.\n</think>\n\nHello', opts('hermes', { reasoning: think })), { role: 'assistant', content: 'Hello', reasoning_content: 'Hmm.' });
    assert.deepEqual(parseReply('Hmm.\n</think>\n\nHello', opts('hermes', { reasoning: think, startsInReasoning: true })), { role: 'assistant', content: 'Hello', reasoning_content: 'Hmm.' });
    // Empty thoughts (Qwen 3 with thinking off) leave no reasoning.
    assert.deepEqual(parseReply('<think>\n\n</think>\n\nHello', opts('hermes', { reasoning: think })), { role: 'assistant', content: 'Hello' });
  });

  test('a thought cut off by the end is all reasoning; <think> after the start is content; markers inside a thought are no calls', () => {
    assert.deepEqual(parseReply('<think>\nStill thinking', opts('hermes', { reasoning: think })), { role: 'assistant', content: '', reasoning_content: 'Still thinking' });
    assert.equal(parseReply('Hi <think>x</think>', opts('hermes', { reasoning: think })).content, 'Hi <think>x</think>');
    const m = parseReply('<think>I could write <tool_call> here</think><tool_call>{"name": "f", "arguments": {}}</tool_call>', opts('hermes', { reasoning: think }));
    assert.equal(m.reasoning_content, 'I could write <tool_call> here');
    assert.equal(m.tool_calls?.length, 1);
  });

  test('the closing tag split across pushes is held back from the reasoning stream', () => {
    const { steps } = run(opts('hermes', { reasoning: think, startsInReasoning: true }), ['Hmm </th', 'ink>Yes']);
    assert.deepEqual(steps[0], [{ reasoning_content: 'Hmm' }]);
    assert.deepEqual(steps[1], [{ content: 'Yes' }]);
  });

  test('the generic format\'s JSON and llama3\'s call may follow a thought', () => {
    assert.equal(parseReply('<think>x</think>\n{"tool_call": {"name": "f", "arguments": {}}}', opts('generic', { reasoning: think })).tool_calls?.length, 1);
  });
});

describe('bounded work', () => {
  const charByChar = (o: ReplyParserOptions, text: string) => () => {
    const p = new ReplyParser(o);
    for (const ch of text) p.push(ch);
    p.finish();
  };

  test('pushing a long reply character by character grows linearly (content full of marker starts, and a long call)', () => {
    const content = (n: number) => '<tool <to x '.repeat(n);
    const longCall = (n: number) => '<tool_call>{"name": "f", "arguments": {"a": "' + 'x\\"<tool_call>'.repeat(n) + '"}}</tool_call>';
    const unclosed = (n: number) => '<tool_call>{"name": "f", "arguments": {"a": [' + '[1],'.repeat(n);
    const spaces = (n: number) => '<tool_call>' + ' \n'.repeat(n * 4) + '{"name": "f", "arguments": {}}</tool_call>';
    const response = (n: number) => '{"response": "' + 'word \\"q\\" \\u00e9 '.repeat(n) + '"}';
    const cases = [['content', content, 'hermes'], ['a long call', longCall, 'hermes'], ['an unclosed call', unclosed, 'hermes'], ['whitespace in a block', spaces, 'hermes'], ['a generic response', response, 'generic']] as const;
    for (const [what, make, format] of cases) {
      const small = make(2000);
      const big = make(8000);
      charByChar(opts(format), small)(); // warm up
      const r = measureGrowth((text: string) => charByChar(opts(format), text)(), small, big, (a, b) => b < a * 8 + 20);
      if (process.env.HOB_TIMINGS) console.log(`${what}: ${small.length} chars ${r.smallMs.toFixed(1)} ms, ${big.length} chars ${r.bigMs.toFixed(1)} ms`);
      assert.ok(r.ok, `${what}: ${r.smallMs.toFixed(1)} ms for ${small.length} characters, ${r.bigMs.toFixed(1)} ms for ${big.length}`);
    }
  });

  test('nested JSON deeper than the limit is malformed, not a stack overflow', () => {
    const deep = '<tool_call>{"name": "f", "arguments": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}</tool_call>';
    const m = parseReply(deep, opts('hermes'));
    assert.equal(m.tool_calls, undefined);
    assert.ok(m.content!.startsWith('<tool_call>'));
  });
});

describe('JSON in model text', () => {
  test('the scanner finds the end of a value fed in pieces, strings and escapes included', () => {
    const text = '{"a": "}]\\"", "b": [1, {"c": null}]} tail';
    const s = new JsonScanner();
    assert.equal(s.feed(text, 0, 10), -1);
    assert.equal(s.feed(text, 10, text.length), text.indexOf(' tail'));
    assert.throws(() => new JsonScanner().feed('{"a": ]', 0, 7), JsonSyntaxError);
    assert.throws(() => new JsonScanner().feed('x', 0, 1), JsonSyntaxError);
    assert.throws(() => new JsonScanner().feed('['.repeat(MAX_JSON_DEPTH + 1), 0, MAX_JSON_DEPTH + 1), JsonSyntaxError);
  });

  test('the parser keeps the text of each member', () => {
    const text = 'x {"name" : "f", "arguments": {"n": 1.50, "s": "\\u00e9"} }';
    const node = parseJsonAt(text, 1);
    assert.deepEqual(node.value, { name: 'f', arguments: { n: 1.5, s: 'é' } });
    const args = node.members!.get('arguments')!;
    assert.equal(text.slice(args.start, args.end), '{"n": 1.50, "s": "\\u00e9"}');
    assert.equal(node.end, text.length);
    for (const bad of ['{"a" 1}', '{"a": 01}', '[1,]', '{"a": tru}', '"\\x"']) assert.throws(() => parseJsonAt(bad, 0), JsonSyntaxError, bad);
  });
});
