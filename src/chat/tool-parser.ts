// The reply parser: generated text in, pushed as it streams, and out come
// the deltas of OpenAI's chat stream: content, reasoning_content and whole
// tool calls. Text that may still turn into a call marker (or a thought's
// closing tag) is held back, never streamed as content and then taken back;
// a call is emitted once its name and complete arguments are known. Content
// and reasoning are trimmed of whitespace at their edges (around a thought,
// around call blocks, at the start and end of the reply). Each character is
// looked at a bounded number of times, so the work of a push is proportional
// to its text (plus the longest marker), however long the reply.
import { HobError } from '../shared/errors.js';
import { partialSuffixLength } from '../shared/text.js';
import type { AssistantMessage, ChatCompletionDelta, ToolCall, ToolCallDelta } from '../shared/types.js';
import type { ReasoningFormat } from './reasoning.js';
import { Cursor, isWs, Malformed, type Step } from './stream-cursor.js';
import { blockReader, replyStartProbe, type BlockSink, type RawCall } from './tool-blocks.js';
import type { ToolFormat } from './tool-formats.js';

export interface ReplyParserOptions {
  format: ToolFormat;
  /** Parse tool calls (tools offered and tool_choice not 'none'); else the
   *  reply is content and reasoning only. */
  toolCalls: boolean;
  /** The functions offered: a call to any other is malformed. */
  toolNames?: readonly string[];
  /** Split <think>...</think> into reasoning_content. */
  reasoning?: ReasoningFormat;
  /** The prompt opened the thought: the reply starts inside it. */
  startsInReasoning?: boolean;
  /** A grammar guaranteed the calls' syntax: a call cut off by the end of
   *  generation (max_tokens) is dropped, kept in `unparsed`, rather than
   *  shown as content. */
  constrained?: boolean;
  /** Ids for calls whose format writes none (default: "call_" and 24 random letters and digits). */
  newCallId?: () => string;
}

/** Text of a section (content or reasoning) with the whitespace at its
 *  edges dropped: leading whitespace is never emitted, trailing whitespace
 *  is held until more text follows, and dropped at a boundary. */
class Section {
  private held = '';
  private leading = true;
  constructor(private readonly emit: (text: string) => void) {}

  push(s: string): void {
    let i = 0;
    if (this.leading) {
      while (i < s.length && isWs(s.charCodeAt(i))) i++;
      if (i === s.length) return;
      this.leading = false;
    }
    let j = s.length;
    while (j > i && isWs(s.charCodeAt(j - 1))) j--;
    if (j === i) {
      this.held += s.slice(i);
      return;
    }
    this.emit(this.held + s.slice(i, j));
    this.held = s.slice(j);
  }

  /** A call block or the end: held whitespace goes, and the whitespace
   *  that opens what follows. */
  cut(): void {
    this.held = '';
    this.leading = true;
  }
}


function randomCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return 'call_' + Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

type Mode = 'start' | 'reasoning' | 'content' | 'block' | 'plain';

export class ReplyParser {
  private mode: Mode;
  private pending = '';
  private atReplyStart = true;
  private ended = false;
  private cursor?: Cursor;
  private reader?: Step<void>;
  private deltas: ChatCompletionDelta[] = [];
  private readonly content: Section;
  private readonly reasoning: Section;
  private readonly calls: ToolCall[] = [];
  private contentText = '';
  private reasoningText = '';
  private readonly openers: readonly string[];
  private readonly probe?: (text: string) => 'yes' | 'maybe' | 'no';
  private readonly names?: ReadonlySet<string>;
  private readonly sink: BlockSink;
  /** A call the end of generation cut off, when a grammar guaranteed calls. */
  unparsed?: string;

  constructor(private readonly opts: ReplyParserOptions) {
    this.content = new Section((t) => this.emit('content', t));
    this.reasoning = new Section((t) => this.emit('reasoning_content', t));
    this.openers = opts.toolCalls ? opts.format.openers : [];
    this.probe = opts.toolCalls ? replyStartProbe(opts.format) : undefined;
    this.names = opts.toolNames && new Set(opts.toolNames);
    this.mode = opts.reasoning ? (opts.startsInReasoning ? 'reasoning' : 'start') : 'content';
    this.sink = {
      call: (c) => this.takeCall(c),
      // Decoded reply text is taken: it must not come back as content if the block fails later.
      content: (t) => {
        this.content.push(t);
        this.cursor!.mark = this.cursor!.pos;
      },
    };
  }

  /** Reads the next piece of generated text; returns the deltas it completes. */
  push(text: string): ChatCompletionDelta[] {
    if (this.ended) throw new HobError('internal', 'ReplyParser: text pushed after finish()');
    this.feed(text);
    return this.take();
  }

  /** The end of generation: held text is released or dropped, an unfinished
   *  call becomes content (or `unparsed`). Returns the last deltas. */
  finish(): ChatCompletionDelta[] {
    if (!this.ended) {
      this.ended = true;
      if (this.cursor) this.cursor.ended = true;
      this.feed('');
      this.content.cut();
      this.reasoning.cut();
    }
    return this.take();
  }

  /** The reply so far (whole after finish): content null when it only calls tools. */
  get message(): AssistantMessage {
    const m: AssistantMessage = { role: 'assistant', content: this.contentText || (this.calls.length ? null : '') };
    if (this.reasoningText) m.reasoning_content = this.reasoningText;
    if (this.calls.length) m.tool_calls = this.calls.map((c) => ({ ...c, function: { ...c.function } }));
    return m;
  }

  private take(): ChatCompletionDelta[] {
    const d = this.deltas;
    this.deltas = [];
    return d;
  }

  private emit(kind: 'content' | 'reasoning_content', text: string): void {
    if (kind === 'content') this.contentText += text;
    else this.reasoningText += text;
    const last = this.deltas[this.deltas.length - 1];
    if (last && last[kind] !== undefined) last[kind] += text;
    else this.deltas.push({ [kind]: text });
  }

  private takeCall(raw: RawCall): void {
    const c = this.cursor!;
    if (this.names && !this.names.has(raw.name)) c.fail(c.pos, `no function named ${raw.name}`);
    const call: ToolCall = {
      id: raw.id ?? (this.opts.newCallId ?? randomCallId)(),
      type: 'function',
      function: { name: raw.name, arguments: raw.arguments },
    };
    const delta: ToolCallDelta = { index: this.calls.length, id: call.id, type: 'function', function: { ...call.function } };
    this.calls.push(call);
    this.deltas.push({ tool_calls: [delta] });
    c.mark = c.pos;
  }

  // Runs the text through the modes until it is consumed or held back.
  private feed(text: string): void {
    let rest: string | null = text;
    while (rest !== null) {
      switch (this.mode) {
        case 'start':
          rest = this.feedStart(rest);
          break;
        case 'reasoning':
          rest = this.feedReasoning(rest);
          break;
        case 'content':
          rest = this.feedContent(rest);
          break;
        case 'block':
          rest = this.feedBlock(rest);
          break;
        case 'plain':
          this.content.push(this.pending + rest);
          this.pending = '';
          rest = null;
      }
    }
  }

  // Before anything: the reply may open a thought.
  private feedStart(input: string): string | null {
    const open = this.opts.reasoning!.open;
    let text = this.pending + input;
    let i = 0;
    while (i < text.length && isWs(text.charCodeAt(i))) i++;
    text = text.slice(i);
    this.pending = '';
    if (text.startsWith(open)) {
      this.mode = 'reasoning';
      return text.slice(open.length);
    }
    if (open.startsWith(text) && !this.ended) {
      this.pending = text;
      return null;
    }
    this.mode = 'content';
    return text;
  }

  private feedReasoning(input: string): string | null {
    const close = this.opts.reasoning!.close;
    const text = this.pending + input;
    const at = text.indexOf(close);
    if (at >= 0) {
      this.pending = '';
      this.reasoning.push(text.slice(0, at));
      this.reasoning.cut();
      this.mode = 'content';
      return text.slice(at + close.length);
    }
    const hold = this.ended ? 0 : partialSuffixLength(text, [close]);
    this.reasoning.push(text.slice(0, text.length - hold));
    this.pending = text.slice(text.length - hold);
    return null;
  }

  private feedContent(input: string): string | null {
    let text = this.pending + input;
    this.pending = '';
    if (this.atReplyStart && this.probe) {
      let i = 0;
      while (i < text.length && isWs(text.charCodeAt(i))) i++;
      text = text.slice(i);
      if (!text && !this.ended) return null;
      const verdict = this.ended && text ? (this.probe(text) === 'yes' ? 'yes' : 'no') : this.probe(text);
      if (verdict === 'maybe') {
        this.pending = text;
        return null;
      }
      this.atReplyStart = false;
      if (verdict === 'yes') return this.openBlock(text);
      // These formats call only at the start: the rest is plain content.
      this.mode = 'plain';
      return text;
    }
    let at = -1;
    for (const m of this.openers) {
      const k = text.indexOf(m);
      if (k >= 0 && (at < 0 || k < at)) at = k;
    }
    if (at >= 0) {
      this.content.push(text.slice(0, at));
      return this.openBlock(text.slice(at));
    }
    const hold = partialSuffixLength(text, this.openers);
    if (this.ended) {
      // Cut off at the start of a call: under a grammar that guaranteed the
      // calls it can only be one, so it is no content.
      const cut = this.opts.constrained ? hold : 0;
      if (cut) this.unparsed = text.slice(text.length - cut);
      this.content.push(text.slice(0, text.length - cut));
      return null;
    }
    this.content.push(text.slice(0, text.length - hold));
    this.pending = text.slice(text.length - hold);
    return null;
  }

  private openBlock(text: string): string {
    this.content.cut();
    this.cursor = new Cursor();
    this.cursor.ended = this.ended;
    this.reader = blockReader(this.opts.format)(this.cursor, this.sink);
    this.mode = 'block';
    return text;
  }

  private feedBlock(input: string): string | null {
    const c = this.cursor!;
    c.append(input);
    try {
      if (!this.reader!.next().done) return null;
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      return this.blockFailed(c);
    }
    // The block is whole; what follows is content again.
    this.content.cut();
    this.cursor = this.reader = undefined;
    this.mode = this.probe ? 'plain' : 'content';
    return c.slice(c.pos);
  }

  // Text that was no call after all: what was read of it is content, and
  // reading goes on from where the reader gave up.
  private blockFailed(c: Cursor): string | null {
    this.cursor = this.reader = undefined;
    this.mode = this.probe ? 'plain' : 'content';
    if (this.ended) {
      const rest = c.slice(c.mark);
      if (this.opts.constrained) this.unparsed = rest;
      else this.content.push(rest);
      return null;
    }
    const far = Math.max(c.far, c.mark);
    this.content.push(c.slice(c.mark, far));
    return c.slice(far);
  }
}

/** The whole reply at once: what the stream's deltas add up to. */
export function parseReply(text: string, opts: ReplyParserOptions): AssistantMessage {
  const p = new ReplyParser(opts);
  p.push(text);
  p.finish();
  return p.message;
}
