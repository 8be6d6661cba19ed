// The readers of tool-call blocks, one per format: each is a generator that
// reads a block from a Cursor and yields whenever it needs more text, so a
// block streamed in pieces is read once, character by character, wherever
// the pieces split it. A reader throws Malformed when the text is no call
// after all; tool-parser.ts then turns the text it read into content.
import { Cursor, isWs, type JsonRead, type Step } from './stream-cursor.js';
import { DEEPSEEK_R1, type ToolFormat } from './tool-formats.js';

/** A call as a block reader found it: arguments as the text of a JSON object. */
export interface RawCall {
  name: string;
  arguments: string;
  id?: string;
}

export interface BlockSink {
  /** A whole call; throws Malformed if the parser refuses it (unknown name). */
  call(c: RawCall): void;
  /** Reply text found inside a block (the generic format's response). */
  content(text: string): void;
}

export type BlockReader = (c: Cursor, sink: BlockSink) => Step<void>;

/** The call in a parsed object: its name and its arguments (an object, or a
 *  string holding one, as some models write them). */
function callOf(c: Cursor, { text: json, node }: JsonRead, argKeys: readonly string[]): RawCall {
  const m = node.members;
  const name = m?.get('name')?.value;
  if (!m || typeof name !== 'string' || !name) return c.fail(c.pos, 'a call needs a name');
  const args = argKeys.map((k) => m.get(k)).find((n) => n !== undefined);
  let text: string | undefined;
  if (args && isObject(args.value)) text = json.slice(args.start, args.end);
  else if (args && typeof args.value === 'string') {
    try {
      if (isObject(JSON.parse(args.value))) text = args.value;
    } catch {
      // not JSON: refused below
    }
  } else if (!args) text = '{}';
  if (text === undefined) return c.fail(c.pos, 'call arguments must be a JSON object');
  const id = m.get('id')?.value;
  return { name, arguments: text, ...(typeof id === 'string' && id ? { id } : {}) };
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Calls in a JSON array, each taken as soon as it is whole (or one object). */
function* callList(c: Cursor, sink: BlockSink, argKeys: readonly string[]): Step<void> {
  if ((yield* c.peek()) === '{') {
    sink.call(callOf(c, yield* c.json(), argKeys));
    return;
  }
  yield* c.literal('[');
  yield* c.ws();
  if (yield* c.optional(']')) return;
  for (;;) {
    yield* c.ws();
    if ((yield* c.peek()) !== '{') c.fail(c.pos, 'expected a call object');
    sink.call(callOf(c, yield* c.json(), argKeys));
    yield* c.ws();
    if (yield* c.optional(',')) continue;
    yield* c.literal(']');
    return;
  }
}

const ARGS = ['arguments', 'parameters'];

function* taggedJson(c: Cursor, sink: BlockSink, open: string, close: string, list: boolean): Step<void> {
  yield* c.literal(open);
  yield* c.ws();
  if (list) yield* callList(c, sink, ARGS);
  else sink.call(callOf(c, yield* c.json(), ARGS));
  yield* c.ws();
  yield* c.optional(close);
}

function* llama3(c: Cursor, sink: BlockSink): Step<void> {
  yield* c.optional('<|python_tag|>');
  yield* c.ws();
  sink.call(callOf(c, yield* c.json(), ['parameters', 'arguments']));
}

function* mistralNemo(c: Cursor, sink: BlockSink): Step<void> {
  yield* c.literal('[TOOL_CALLS]');
  yield* c.ws();
  yield* callList(c, sink, ARGS);
}

const NAME = /^[A-Za-z0-9_.:-]+$/;

function* mistral(c: Cursor, sink: BlockSink): Step<void> {
  yield* c.literal('[TOOL_CALLS]');
  const head = yield* c.until(['[CALL_ID]', '[ARGS]'], 128);
  const name = head.text.trim();
  if (!NAME.test(name)) c.fail(c.pos, 'bad function name');
  let id: string | undefined;
  if (head.stop === '[CALL_ID]') id = (yield* c.until(['[ARGS]'], 64)).text.trim();
  yield* c.ws();
  const args = yield* c.json();
  if (!isObject(args.node.value)) c.fail(c.pos, 'call arguments must be a JSON object');
  sink.call({ name, arguments: args.text, ...(id ? { id } : {}) });
}

function* deepseekR1(c: Cursor, sink: BlockSink): Step<void> {
  const d = DEEPSEEK_R1;
  yield* c.literal(d.callsBegin);
  for (;;) {
    yield* c.ws();
    if ((yield* c.optional(d.callsEnd)) || !(yield* c.more())) return;
    yield* c.optional(d.callBegin);
    yield* c.optional('function');
    yield* c.literal(d.sep);
    const name = (yield* c.until(['\n'], 128)).text.trim();
    if (!NAME.test(name)) c.fail(c.pos, 'bad function name');
    yield* c.ws();
    yield* c.optional('```json');
    yield* c.ws();
    const args = yield* c.json();
    if (!isObject(args.node.value)) c.fail(c.pos, 'call arguments must be a JSON object');
    sink.call({ name, arguments: args.text });
    yield* c.ws();
    yield* c.optional('```');
    yield* c.ws();
    yield* c.literal(d.callEnd);
  }
}

function* generic(c: Cursor, sink: BlockSink): Step<void> {
  yield* c.literal('{');
  yield* c.ws();
  yield* c.literal('"');
  const key = (yield* c.until(['"'], 16)).text;
  yield* c.ws();
  yield* c.literal(':');
  yield* c.ws();
  if (key === 'response') {
    if ((yield* c.peek()) === '"') yield* c.stringTo((t) => sink.content(t));
    else sink.content((yield* c.json()).text);
  } else if (key === 'tool_call') {
    sink.call(callOf(c, yield* c.json(), ARGS));
  } else if (key === 'tool_calls') {
    yield* callList(c, sink, ARGS);
  } else c.fail(c.pos, 'expected response, tool_call or tool_calls');
  yield* c.ws();
  yield* c.optional('}');
}

/** The block reader of a format. */
export function blockReader(format: ToolFormat): BlockReader {
  switch (format.name) {
    case 'llama3':
      return llama3;
    case 'hermes':
    case 'smollm3':
      return (c, s) => taggedJson(c, s, '<tool_call>', '</tool_call>', false);
    case 'phi4-mini':
      return (c, s) => taggedJson(c, s, '<|tool_call|>', '<|/tool_call|>', true);
    case 'mistral-nemo':
      return mistralNemo;
    case 'mistral':
      return mistral;
    case 'deepseek-r1':
      return deepseekR1;
    case 'generic':
      return generic;
  }
}

// ---------------------------------------------------------------------------
// Formats whose calls are the reply itself, a bare JSON object: whether the
// reply is a call is decided by its first characters, held back meanwhile.

const WS = Symbol('ws');
type Pattern = readonly (string | typeof WS | { readonly opt: Pattern } | { readonly alt: readonly Pattern[] })[];
type Verdict = 'yes' | 'maybe' | 'no';

// Whitespace runs longer than this end the wait: the reply is no call.
const MAX_PROBE_WS = 64;

function match(text: string, at: number, p: Pattern, k: number): Verdict {
  for (; k < p.length; k++) {
    const step = p[k];
    if (step === WS) {
      const s = at;
      while (at < text.length && isWs(text.charCodeAt(at))) at++;
      if (at - s > MAX_PROBE_WS) return 'no';
    } else if (typeof step === 'string') {
      for (let j = 0; j < step.length; j++, at++) {
        if (at >= text.length) return 'maybe';
        if (text.charCodeAt(at) !== step.charCodeAt(j)) return 'no';
      }
    } else {
      const alts = 'opt' in step ? [step.opt, []] : step.alt;
      const verdicts = alts.map((a) => match(text, at, [...a, ...p.slice(k + 1)], 0));
      return verdicts.includes('yes') ? 'yes' : verdicts.includes('maybe') ? 'maybe' : 'no';
    }
    if (at >= text.length && k < p.length - 1) return 'maybe';
  }
  return 'yes';
}

const STARTS: Partial<Record<ToolFormat['name'], Pattern>> = {
  // llama.cpp's trigger: {"name": " with an optional "type": "function" first.
  llama3: [{ opt: ['<|python_tag|>'] }, WS, '{', WS, { opt: ['"type"', WS, ':', WS, '"function"', WS, ',', WS] }, '"name"', WS, ':', WS, '"'],
  generic: ['{', WS, { alt: [['"response"'], ['"tool_calls"'], ['"tool_call"']] }, WS, ':'],
};

/** For formats whose calls open the reply: whether `text` (the reply's start,
 *  leading whitespace gone) is a call ('yes'), cannot be one ('no'), or
 *  cannot tell yet ('maybe'). Undefined for the other formats. */
export function replyStartProbe(format: ToolFormat): ((text: string) => Verdict) | undefined {
  const p = STARTS[format.name];
  return p && ((text: string) => match(text, 0, p, 0));
}
