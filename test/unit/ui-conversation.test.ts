// <hob-chat>'s conversation without a page: the requests it builds (reasoning
// sent back as reasoning_content, tool calls and their results), entries saved
// by older versions, and the tool loop against a scripted engine: results
// and errors going back to the model, the round limit, and Stop while a tool
// runs or while the reply streams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { ChatCompletionChunk, ChatCompletionDelta, ChatCompletionRequest, FinishReason, HobEngine, ToolCall } from '../../src/shared/types.js';
import {
  Conversation,
  addCallDeltas,
  copyEntry,
  requestMessages,
  restoreEntries,
  runToolCall,
  type ChatEntry,
  type ChatTool,
  type ConversationHost,
} from '../../src/ui/conversation.js';

/** One scripted reply: its deltas, then how it finished. */
interface Reply {
  deltas: ChatCompletionDelta[];
  finish: FinishReason;
}

const call = (name: string, args: string, id = `call_${name}`): ToolCall => ({ id, type: 'function', function: { name, arguments: args } });
const callDelta = (c: ToolCall, index = 0): ChatCompletionDelta => ({ tool_calls: [{ index, id: c.id, type: 'function', function: { ...c.function } }] });
const answer = (text: string): Reply => ({ deltas: [{ content: text }], finish: 'stop' });
const calling = (...calls: ToolCall[]): Reply => ({ deltas: calls.map((c, i) => callDelta(c, i)), finish: 'tool_calls' });

/** An engine whose replies are scripted (the last one repeats); it records
 *  each request and, like the real one, ends a stream with 'abort' when its
 *  signal aborts between two chunks. */
function scriptedEngine(replies: Reply[]) {
  const requests: ChatCompletionRequest[] = [];
  const chunk = (delta: ChatCompletionDelta, finish: FinishReason | null, last = false): ChatCompletionChunk => ({
    id: 'x',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'scripted',
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(last ? { usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13, cached_tokens: 0, prefill_tokens_per_second: 1, decode_tokens_per_second: 2 } } : {}),
  });
  const create = async (req: ChatCompletionRequest) => {
    const { signal, ...rest } = req;
    requests.push(structuredClone(rest));
    const reply = replies[Math.min(requests.length - 1, replies.length - 1)];
    return (async function* () {
      for (const d of reply.deltas) {
        if (signal?.aborted) {
          yield chunk({}, 'abort', true);
          return;
        }
        yield chunk(d, null);
      }
      yield chunk({}, reply.finish, true);
    })();
  };
  const engine = { chat: { completions: { create } } } as unknown as HobEngine;
  return { engine, requests };
}

/** A conversation on `engine`, with a log of what it reported. */
function conversationOn(engine: HobEngine | undefined, tools: ChatTool[] = [], maxToolRounds = 8, onStream?: () => void) {
  const log: string[] = [];
  const answers: { entry: ChatEntry; finish: FinishReason }[] = [];
  const host: ConversationHost = {
    engine: () => engine,
    settings: () => ({ sampling: { temperature: 0 }, maxTokens: 0, systemPrompt: 'Be brief.', tools, maxToolRounds }),
    render: () => {},
    streamed: (_, u) => {
      log.push(`${u.kind}:${u.delta}`);
      onStream?.();
    },
    changed: () => {},
    busy: (b) => log.push(b ? 'busy' : 'idle'),
    answered: (entry, finish) => void answers.push({ entry: copyEntry(entry), finish }),
    failed: (e) => log.push(`failed:${(e as Error).message}`),
    noEngine: () => log.push('no engine'),
  };
  return { conv: new Conversation(host), log, answers };
}

const weather: ToolCall = call('get_weather', '{"city": "Paris"}');
const weatherDef = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

describe('requests', () => {
  test('reasoning goes back as reasoning_content, never in content; tool entries become the answer\'s calls and tool messages', () => {
    const entries: ChatEntry[] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '', reasoning: 'I should call the tool.', reasoningMs: 1200 },
      { role: 'tool', content: '{"sky":"clear"}', toolCall: weather },
      { role: 'assistant', content: 'It is clear.' },
      { role: 'user', content: 'Thanks' },
    ];
    assert.deepEqual(requestMessages(entries, 'Be brief.'), [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: 'I should call the tool.', tool_calls: [weather] },
      { role: 'tool', tool_call_id: 'call_get_weather', name: 'get_weather', content: '{"sky":"clear"}' },
      { role: 'assistant', content: 'It is clear.' },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  test('a past call whose arguments are not JSON goes as {} (its result said why), so it cannot fail every later request', () => {
    const entries: ChatEntry[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: 'Let me see.' },
      { role: 'tool', content: '{"error":"the arguments are not JSON"}', toolCall: call('f', '{"a": oops', 'c1') },
      { role: 'tool', content: '2', toolCall: call('g', '', 'c2') },
    ];
    const sent = requestMessages(entries, '');
    assert.deepEqual(sent[1].tool_calls?.map((c) => c.function.arguments), ['{}', '{}']);
    assert.equal(sent[1].content, 'Let me see.');
    assert.equal(entries[2].toolCall?.function.arguments, '{"a": oops');
  });

  test('a tool entry with no answer before it is not sent (no template could render it); no system prompt, no system message', () => {
    const entries: ChatEntry[] = [
      { role: 'tool', content: '1', toolCall: weather },
      { role: 'user', content: 'Hi' },
      { role: 'tool', content: '2', toolCall: weather },
    ];
    assert.deepEqual(requestMessages(entries, ''), [{ role: 'user', content: 'Hi' }]);
  });

  test('entries saved before reasoning and tools load as they were; junk is dropped, not thrown', () => {
    const old = [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!', stats: { completionTokens: 2, promptTokens: 5, cachedTokens: 0, tokensPerSecond: 9, finishReason: 'stop' } },
      { role: 'assistant', content: 'partial', error: 'engine gone' },
    ];
    assert.deepEqual(restoreEntries(old), old);
    const mixed = [
      null,
      'text',
      { role: 'system', content: 'not an entry of the chat' },
      { role: 'tool', content: 'no call' },
      { role: 'tool', content: '{}', toolCall: { id: 7, function: { name: 'f', arguments: { a: 1 } } } },
      { role: 'user', content: null },
      { role: 'assistant', content: 'x', reasoning: 42, reasoningMs: 'soon' },
      // Stats the view could not show (it formats every number) are dropped.
      { role: 'assistant', content: 'y', stats: { completionTokens: 'many', promptTokens: 1, cachedTokens: 0, tokensPerSecond: 1, finishReason: 'stop' } },
      { role: 'assistant', content: 'z', stats: { completionTokens: 1, promptTokens: 1, cachedTokens: 0, tokensPerSecond: 1, finishReason: 'bored' } },
    ];
    assert.deepEqual(restoreEntries(mixed), [
      { role: 'tool', content: '{}', toolCall: { id: '7', type: 'function', function: { name: 'f', arguments: '{"a":1}' } } },
      { role: 'user', content: '' },
      { role: 'assistant', content: 'x' },
      { role: 'assistant', content: 'y' },
      { role: 'assistant', content: 'z' },
    ]);
    assert.throws(() => restoreEntries({} as unknown as unknown[]), TypeError);
  });

  test('restored and handed-out entries are copies: changing them changes nothing inside', () => {
    const saved = [{ role: 'tool' as const, content: 'r', toolCall: call('f', '{}') }];
    const [restored] = restoreEntries(saved);
    saved[0].toolCall.function.name = 'changed';
    assert.equal(restored.toolCall?.function.name, 'f');
    const out = copyEntry(restored);
    out.toolCall!.function.arguments = 'changed';
    assert.equal(restored.toolCall?.function.arguments, '{}');
  });

  test('streamed calls: whole ones as Hob sends them, or OpenAI-style pieces that concatenate', () => {
    const calls: ToolCall[] = [];
    addCallDeltas(calls, [{ index: 0, id: 'a', type: 'function', function: { name: 'get_', arguments: '{"ci' } }]);
    addCallDeltas(calls, [{ index: 0, function: { name: 'weather', arguments: 'ty": 1}' } }]);
    addCallDeltas(calls, [{ index: 1, id: 'b', type: 'function', function: { name: 'f', arguments: '{}' } }]);
    addCallDeltas(calls, [{ index: 99, id: 'c', function: { name: 'g' } }]);
    assert.deepEqual(calls, [call('get_weather', '{"city": 1}', 'a'), call('f', '{}', 'b'), call('g', '', 'c')]);
  });
});

describe('running a tool', () => {
  const never = new AbortController().signal;
  const tool = (run: ChatTool['run']): ChatTool[] => [{ definition: weatherDef, run }];

  test('the result goes back as JSON (a string as it is); the tool gets the parsed arguments', async () => {
    let got: unknown;
    assert.deepEqual(await runToolCall(weather, tool((a) => ((got = a), { sky: 'clear', t: 21 })), never), { content: '{"sky":"clear","t":21}' });
    assert.deepEqual(got, { city: 'Paris' });
    assert.deepEqual(await runToolCall(weather, tool(async () => 'plain text'), never), { content: 'plain text' });
    assert.deepEqual(await runToolCall(weather, tool(() => undefined), never), { content: 'null' });
    assert.deepEqual(await runToolCall(call('get_weather', ''), tool((a) => a), never), { content: '{}' });
  });

  test('a throw, a rejection, arguments that are not JSON, an unknown tool or a result that is not JSON give the model an error', async () => {
    const err = (message: string) => ({ content: JSON.stringify({ error: message }), error: message });
    assert.deepEqual(await runToolCall(weather, tool(() => { throw new Error('service down'); }), never), err('service down'));
    assert.deepEqual(await runToolCall(weather, tool(() => Promise.reject(new Error('timed out'))), never), err('timed out'));
    const bad = await runToolCall(call('get_weather', '{"city": Paris}'), tool(() => 'unreached'), never);
    assert.match(bad.error ?? '', /^the arguments are not JSON: /);
    assert.deepEqual(JSON.parse(bad.content), { error: bad.error });
    assert.deepEqual(await runToolCall(call('delete_all', '{}'), tool(() => 1), never), err('no tool named delete_all'));
    assert.match((await runToolCall(weather, tool(() => 10n), never)).error ?? '', /BigInt/);
  });
});

describe('the tool loop', () => {
  test('a reply that calls a tool: it runs with its arguments, its result goes back, and the loop ends with the answer', async () => {
    const { engine, requests } = scriptedEngine([
      { deltas: [{ reasoning_content: 'Need ' }, { reasoning_content: 'the weather.' }, callDelta(weather)], finish: 'tool_calls' },
      answer('Clear skies in Paris.'),
    ]);
    const runs: unknown[] = [];
    const { conv, log, answers } = conversationOn(engine, [{ definition: weatherDef, run: (a) => (runs.push(a), { sky: 'clear' }) }]);
    await conv.send('Weather in Paris?');
    assert.deepEqual(runs, [{ city: 'Paris' }]);
    assert.equal(requests.length, 2);
    assert.deepEqual(requests[0].tools, [weatherDef]);
    assert.equal(requests[0].tool_choice, 'auto');
    assert.deepEqual(requests[1].messages.slice(1), [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: 'Need the weather.', tool_calls: [weather] },
      { role: 'tool', tool_call_id: weather.id, name: 'get_weather', content: '{"sky":"clear"}' },
    ]);
    const entries = conv.entries;
    assert.deepEqual(entries.map((e) => e.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.equal(entries[1].reasoning, 'Need the weather.');
    assert.equal(typeof entries[1].reasoningMs, 'number');
    assert.deepEqual(entries[2].toolCall, weather);
    assert.equal(entries[3].content, 'Clear skies in Paris.');
    assert.deepEqual(answers.map((a) => a.finish), ['tool_calls', 'stop']);
    // One generation: busy once, idle once, at the end; reasoning and answer streamed apart.
    assert.deepEqual(log, ['busy', 'reasoning:Need ', 'reasoning:the weather.', 'content:Clear skies in Paris.', 'idle']);
    assert.equal(conv.busy, false);
  });

  test('a throwing tool: its error goes back to the model and the chat goes on; several calls of one reply run in order', async () => {
    const bad = call('get_weather', '{"city": "Oslo"}', 'c1');
    const broken = call('get_weather', 'not json', 'c2');
    const { engine, requests } = scriptedEngine([calling(bad, broken), answer('Sorry, no weather today.')]);
    const { conv } = conversationOn(engine, [{ definition: weatherDef, run: () => { throw new Error('weather service down'); } }]);
    await conv.send('Weather in Oslo?');
    const tools = requests[1].messages.filter((m) => m.role === 'tool');
    assert.deepEqual(tools.map((m) => m.tool_call_id), ['c1', 'c2']);
    assert.deepEqual(JSON.parse(tools[0].content as string), { error: 'weather service down' });
    assert.match(JSON.parse(tools[1].content as string).error, /^the arguments are not JSON/);
    assert.equal(conv.entries.at(-1)?.content, 'Sorry, no weather today.');
    assert.equal(conv.entries[2].error, 'weather service down');
  });

  test('a model that keeps calling tools is stopped after maxToolRounds rounds, and the chat says so', async () => {
    const { engine, requests } = scriptedEngine([calling(weather)]);
    let runs = 0;
    const { conv } = conversationOn(engine, [{ definition: weatherDef, run: () => ++runs }], 3);
    await conv.send('Loop forever');
    assert.equal(runs, 3);
    assert.equal(requests.length, 4);
    const last = conv.entries.at(-1)!;
    // The last reply's call is answered "not run", so the next request is still a valid conversation.
    assert.equal(last.role, 'tool');
    assert.match(last.error ?? '', /not run: the limit of 3 rounds of tool calls was reached/);
    assert.match(conv.entries.at(-2)?.error ?? '', /^Stopped after 3 rounds of tool calls/);
    assert.equal(conv.busy, false);
    const messages = requestMessages(conv.entries, '');
    assert.equal(messages.filter((m) => m.role === 'tool').length, messages.flatMap((m) => m.tool_calls ?? []).length);
  });

  test('Stop while a tool runs ends the loop at once: the tool sees its signal abort and no further request is made', async () => {
    const { engine, requests } = scriptedEngine([calling(weather, call('get_weather', '{"city": "Rome"}', 'c2')), answer('unreached')]);
    let seen: AbortSignal | undefined;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const { conv } = conversationOn(engine, [{ definition: weatherDef, run: (_, { signal }) => ((seen = signal), started(), new Promise(() => {})) }]);
    const done = conv.send('Weather?');
    await running;
    assert.equal(conv.busy, true);
    conv.stop();
    await done;
    assert.equal(seen?.aborted, true);
    assert.equal(requests.length, 1);
    assert.equal(conv.busy, false);
    assert.deepEqual(conv.entries.slice(2).map((e) => e.error), ['stopped', 'not run: stopped']);
    // Every call has its result: the conversation can go on.
    const { engine: next, requests: later } = scriptedEngine([answer('ok')]);
    const again = conversationOn(next);
    again.conv.replace(conv.entries as ChatEntry[]);
    await again.conv.send('Never mind');
    assert.equal(later[0].messages.filter((m) => m.role === 'tool').length, 2);
  });

  test('clear() while a tool runs stops the loop, and nothing of it reaches the new, empty conversation', async () => {
    const { engine, requests } = scriptedEngine([calling(weather, call('get_weather', '{}', 'c2')), answer('unreached')]);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const { conv, answers } = conversationOn(engine, [{ definition: weatherDef, run: () => (started(), new Promise(() => {})) }]);
    const done = conv.send('Weather?');
    await running;
    conv.clear();
    await done;
    assert.deepEqual(conv.entries, []);
    assert.equal(requests.length, 1);
    assert.equal(answers.length, 1);
    assert.equal(conv.busy, false);
  });

  test('a maxToolRounds that is not a number means the default, 8', async () => {
    const { engine } = scriptedEngine([calling(weather)]);
    let runs = 0;
    await conversationOn(engine, [{ definition: weatherDef, run: () => ++runs }], Number.NaN).conv.send('Loop');
    assert.equal(runs, 8);
  });

  test('Stop while the reply streams: calls it completed are not run', async () => {
    const { engine, requests } = scriptedEngine([{ deltas: [callDelta(weather), { content: 'a' }, { content: 'b' }, { content: 'c' }], finish: 'tool_calls' }]);
    let runs = 0;
    const { conv, answers, log } = conversationOn(engine, [{ definition: weatherDef, run: () => ++runs }], 8, () => conv.stop());
    await conv.send('Go');
    assert.deepEqual(log, ['busy', 'content:a', 'idle']);
    assert.equal(runs, 0);
    assert.equal(requests.length, 1);
    assert.equal(answers[0].finish, 'abort');
    assert.equal(conv.entries.at(-1)?.error, 'not run: stopped');
  });

  test('without tools a request offers none; regenerate drops the answer and its tool entries; no engine, no request', async () => {
    const { engine, requests } = scriptedEngine([calling(weather), answer('Done.')]);
    const tools: ChatTool[] = [{ definition: weatherDef, run: () => 1 }];
    const { conv } = conversationOn(engine, tools);
    await conv.send('Q');
    assert.equal(conv.entries.length, 4);
    await conv.regenerate();
    // Replies repeat the last script entry: a plain answer right after the question.
    assert.deepEqual(conv.entries.map((e) => e.role), ['user', 'assistant']);
    assert.equal(requests[2].messages.length, 2);

    const plain = scriptedEngine([answer('Hi')]);
    await conversationOn(plain.engine).conv.send('Hello');
    assert.equal('tools' in plain.requests[0], false);
    assert.equal('tool_choice' in plain.requests[0], false);

    const none = conversationOn(undefined);
    await none.conv.send('Anyone?');
    assert.deepEqual(none.log, ['no engine']);
    assert.equal(none.conv.entries.length, 1);
  });
});

describe('images', () => {
  const jpeg = 'data:image/jpeg;base64,/9j/AAAA';
  const png = 'data:image/png;base64,iVBORw0KGgo=';
  const image = (id: string, url = jpeg) => ({ id, url, name: `${id}.png`, width: 640, height: 480 });

  test('a user message with images is sent as parts, images first: the full image while the page has it, else the saved copy', () => {
    const entries: ChatEntry[] = [
      { role: 'user', content: 'What is it?', images: [image('a'), image('b')] },
      { role: 'assistant', content: 'A cat.' },
      { role: 'user', content: '', images: [image('c')] },
    ];
    const full = new Map([['a', png]]);
    assert.deepEqual(requestMessages(entries, '', (i) => full.get(i.id)), [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: png } },
          { type: 'image_url', image_url: { url: jpeg } },
          { type: 'text', text: 'What is it?' },
        ],
      },
      { role: 'assistant', content: 'A cat.' },
      // An image alone has no text part.
      { role: 'user', content: [{ type: 'image_url', image_url: { url: jpeg } }] },
    ]);
  });

  test('restored images keep only data: image URLs (a remote one would make the page fetch it), at most 4 a message, with their fields checked', () => {
    const [restored] = restoreEntries([
      {
        role: 'user',
        content: 'Q',
        images: [
          image('ok'),
          { ...image('remote'), url: 'https://example.com/pixel.png' },
          { ...image('svg'), url: 'data:image/svg+xml;base64,PHN2Zz4=' },
          { ...image('script'), url: 'data:image/png;base64,"><script>' },
          { url: png, width: -3, height: 'tall', name: 7 },
          null,
        ],
      },
    ]);
    assert.equal(restored.images?.length, 2);
    assert.deepEqual(restored.images?.[0], image('ok'));
    const odd = restored.images![1];
    assert.deepEqual({ url: odd.url, name: odd.name, width: odd.width, height: odd.height }, { url: png, name: 'image', width: 0, height: 0 });
    assert.match(odd.id, /^img-/);
    const many = restoreEntries([{ role: 'user', content: '', images: Array.from({ length: 9 }, (_, i) => image(`i${i}`)) }]);
    assert.equal(many[0].images?.length, 4);
    // Images belong to user messages only.
    assert.equal(restoreEntries([{ role: 'assistant', content: 'x', images: [image('a')] }])[0].images, undefined);
    const copy = copyEntry(restored);
    copy.images![0].name = 'changed';
    assert.equal(restored.images![0].name, 'ok.png');
  });

  test('send keeps the full images for every request of the page; an edit keeps the message\'s images; clear forgets them', async () => {
    const { engine, requests } = scriptedEngine([answer('Seen.')]);
    const { conv } = conversationOn(engine);
    await conv.send('Look', [{ image: image('a'), full: png }]);
    assert.deepEqual(conv.entries[0], { role: 'user', content: 'Look', images: [image('a')] });
    await conv.edit(0, 'Look again');
    await conv.send('And now?');
    for (const r of requests) assert.deepEqual((r.messages[1].content as unknown as { image_url?: { url: string } }[])[0].image_url?.url, png);
    assert.equal(requests.length, 3);
    assert.equal(((requests[1].messages[1].content as unknown as { text?: string }[])[1]).text, 'Look again');
    // After clear() the same entries come back (a host switching conversations) without their full images.
    const saved = conv.entries.map(copyEntry);
    conv.clear();
    conv.replace(saved);
    await conv.send('Still there?');
    assert.equal((requests[3].messages[1].content as unknown as { image_url: { url: string } }[])[0].image_url.url, jpeg);
    // Neither text nor image: nothing is sent.
    await conv.send('  ', []);
    assert.equal(requests.length, 4);
  });
});
