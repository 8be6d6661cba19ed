// The conversation <hob-chat> shows, without its DOM: the entries (what the
// user wrote, what the model answered and thought, the tools it called and
// their results), the request they make, the answer streamed into the last
// entry, and the tool loop. The element (hob-chat.ts) owns the page: it tells
// the conversation what to send and renders what the conversation reports.
// A user message's images are kept twice: the downscaled copy in the entry
// (shown and saved) and the full image here, in memory, which the requests
// send while the page lives (see images.ts).
import type {
  ChatCompletionDelta,
  ChatMessage,
  ChatMessageInput,
  ContentPart,
  FinishReason,
  HobEngine,
  SamplingParams,
  ToolCall,
  ToolDefinition,
} from '../shared/types.js';
import { MAX_IMAGES_PER_MESSAGE, restoreImage, type AttachedImage, type ChatImage } from './images.js';

export interface MessageStats {
  completionTokens: number;
  promptTokens: number;
  /** Prompt tokens the engine reused from its cache. */
  cachedTokens: number;
  tokensPerSecond: number;
  finishReason: FinishReason;
}

/** One entry of the conversation. Entries saved before reasoning and tools
 *  existed (user and assistant, content and stats) are still valid. */
export interface ChatEntry {
  /** 'tool': one call the model made, and its result. */
  role: 'user' | 'assistant' | 'tool';
  /** What the user wrote; the answer (its reasoning apart); a tool's result
   *  as the model reads it (JSON text, or the tool's own string). */
  content: string;
  /** A user message's images (their downscaled copies: see ChatImage). */
  images?: ChatImage[];
  /** An answer's reasoning (its <think> block): shown apart, and sent back
   *  as reasoning_content, never as content. */
  reasoning?: string;
  /** How long the model reasoned before it answered. */
  reasoningMs?: number;
  /** A tool entry's call: its id, the function and the arguments as the model wrote them. */
  toolCall?: ToolCall;
  stats?: MessageStats;
  /** Set when generation (or a tool) failed; an answer then holds what streamed before. */
  error?: string;
}

/** detail of the 'token' event (answer text only; reasoning is not a token of the answer). */
export interface TokenEventDetail {
  delta: string;
  content: string;
}

/** A function the model may call, and what runs when it does. `run` gets the
 *  parsed arguments; what it returns (or resolves to) goes back to the model
 *  as JSON (a string as it is). A throw becomes `{ "error": message }`. The
 *  signal aborts when the user stops the answer. */
export interface ChatTool {
  definition: ToolDefinition;
  run: (args: unknown, context: { signal: AbortSignal }) => unknown;
}

/** What each request is made of; read again before every request of a tool loop. */
export interface RequestSettings {
  sampling: SamplingParams;
  /** 0: no limit. */
  maxTokens: number;
  systemPrompt: string;
  tools: readonly ChatTool[];
  /** Rounds of tool calls one answer may run before the loop is stopped. */
  maxToolRounds: number;
  /** The saved session the conversation's cache is kept in (the request's `session`). */
  session?: string;
}

/** A piece of the answer being streamed. */
export interface StreamUpdate {
  kind: 'content' | 'reasoning';
  delta: string;
  /** Pieces streamed since the request started, and the time since. */
  nChunks: number;
  elapsedMs: number;
}

/** What the conversation needs from its element and tells it. */
export interface ConversationHost {
  engine(): HobEngine | undefined;
  settings(): RequestSettings;
  /** Entries were added, removed, replaced or finished: render them all. */
  render(): void;
  /** The last entry (the answer) grew. */
  streamed(entry: ChatEntry, update: StreamUpdate): void;
  /** The conversation changed in a way worth saving. */
  changed(): void;
  /** Generation started or ended (a whole tool loop is one generation). */
  busy(busy: boolean): void;
  /** A reply ended (each round of a tool loop is one); awaited before tools run. */
  answered(entry: ChatEntry, finishReason: FinishReason): void | Promise<void>;
  /** A request failed (the error is also in the entry). */
  failed(error: unknown): void;
  /** Generation was asked for without an engine. */
  noEngine(): void;
}

export const DEFAULT_MAX_TOOL_ROUNDS = 8;

/** maxToolRounds as a count (a host may set anything). */
const roundLimit = (n: number): number => (Number.isFinite(n) ? Math.max(0, Math.floor(n)) : DEFAULT_MAX_TOOL_ROUNDS);

export class Conversation {
  private list: ChatEntry[] = [];
  private generating?: AbortController;
  /** The full images of this page's messages (data: URLs), by ChatImage.id. */
  private full = new Map<string, string>();

  constructor(private readonly host: ConversationHost) {}

  /** The entries, oldest first (the live objects: copy before handing out). */
  get entries(): readonly ChatEntry[] {
    return this.list;
  }

  get busy(): boolean {
    return !!this.generating;
  }

  /** Replaces the entries (restored from storage: checked and copied). */
  replace(list: readonly unknown[]): void {
    this.stop();
    this.list = restoreEntries(list);
    this.keepFullImages();
    this.host.render();
    this.host.changed();
  }

  /** Adds a user message (its text, its images) and answers it. */
  async send(text: string, images: readonly AttachedImage[] = []): Promise<void> {
    if (!text.trim() && !images.length) return;
    this.requireIdle();
    const entry: ChatEntry = { role: 'user', content: text };
    if (images.length) entry.images = images.map((a) => ({ ...a.image }));
    for (const a of images) this.full.set(a.image.id, a.full);
    this.list.push(entry);
    this.host.render();
    this.host.changed();
    await this.generate();
  }

  /** Answers the last user message again: what followed it (answers, tool calls) goes. */
  async regenerate(): Promise<void> {
    this.requireIdle();
    const lastUser = this.list.findLastIndex((m) => m.role === 'user');
    if (lastUser < 0) return;
    this.list.length = lastUser + 1;
    this.host.render();
    await this.generate();
  }

  /** Replaces entry `index`'s text (a user message; its images stay), drops what followed and answers again. */
  async edit(index: number, content: string): Promise<void> {
    this.requireIdle();
    const m = this.list[index];
    if (!m || m.role !== 'user') throw new RangeError(`hob-chat: message ${index} is not a user message`);
    this.list = this.list.slice(0, index);
    this.list.push({ role: 'user', content, ...(m.images ? { images: m.images } : {}) });
    this.host.render();
    this.host.changed();
    await this.generate();
  }

  clear(): void {
    this.stop();
    this.list = [];
    this.keepFullImages();
    this.host.render();
    this.host.changed();
  }

  /** Stops the answer and the tool loop (what streamed so far stays). */
  stop(): void {
    this.generating?.abort();
  }

  /** Drops the full images no entry names any more (the memory goes with them). */
  private keepFullImages(): void {
    const named = new Set(this.list.flatMap((e) => e.images?.map((i) => i.id) ?? []));
    for (const id of this.full.keys()) if (!named.has(id)) this.full.delete(id);
  }

  private requireIdle(): void {
    if (this.generating) throw new Error('hob-chat: an answer is being generated (stop() it first)');
  }

  /** Answers the conversation: one reply, then, while the reply calls tools,
   *  their results and the next reply, up to the round limit. A generation
   *  works on the entries it started with: after a clear() or a replace()
   *  (which stop it) nothing it still does reaches the new conversation. */
  private async generate(): Promise<void> {
    const engine = this.host.engine();
    if (!engine) {
      this.host.noEngine();
      return;
    }
    const ctrl = new AbortController();
    const list = this.list;
    const live = () => this.list === list;
    this.generating = ctrl;
    this.host.busy(true);
    try {
      for (let round = 0; ; round++) {
        const settings = this.host.settings();
        const { answer, finish, calls } = await this.reply(list, engine, settings, ctrl.signal);
        const limit = roundLimit(settings.maxToolRounds);
        const run = calls.length > 0 && finish === 'tool_calls' && !ctrl.signal.aborted && round < limit;
        if (calls.length && !run) {
          // Every call keeps a result, so the next request stays a valid conversation.
          const why = ctrl.signal.aborted ? 'stopped' : finish === 'tool_calls' ? `the limit of ${limit} rounds of tool calls was reached` : `the reply ended (${finish})`;
          for (const call of calls) list.push(notRun(call, why));
          if (!ctrl.signal.aborted && finish === 'tool_calls') {
            answer.error = `Stopped after ${limit} round${limit === 1 ? '' : 's'} of tool calls: the model kept calling tools.`;
          }
        }
        if (!run) this.finish(ctrl);
        if (live()) await this.host.answered(answer, finish);
        if (!run) return;
        await this.runTools(list, calls, settings.tools, ctrl.signal);
        if (ctrl.signal.aborted) return;
      }
    } finally {
      this.finish(ctrl);
    }
  }

  private finish(ctrl: AbortController): void {
    if (this.generating !== ctrl) return;
    this.generating = undefined;
    this.host.busy(false);
  }

  /** Streams one reply into a new assistant entry of `list`. */
  private async reply(
    list: ChatEntry[],
    engine: HobEngine,
    settings: RequestSettings,
    signal: AbortSignal,
  ): Promise<{ answer: ChatEntry; finish: FinishReason; calls: ToolCall[] }> {
    const answer: ChatEntry = { role: 'assistant', content: '' };
    const messages = requestMessages(list, settings.systemPrompt, (image) => this.full.get(image.id));
    list.push(answer);
    this.host.render();
    const calls: ToolCall[] = [];
    const t0 = performance.now();
    let nChunks = 0;
    let thoughtFrom: number | undefined;
    // The thought ends where the answer (or a call) starts.
    const endThought = () => {
      if (thoughtFrom !== undefined && answer.reasoningMs === undefined) answer.reasoningMs = Math.round(performance.now() - thoughtFrom);
    };
    const stream = (kind: StreamUpdate['kind'], delta: string) => {
      nChunks++;
      if (this.list === list) this.host.streamed(answer, { kind, delta, nChunks, elapsedMs: performance.now() - t0 });
    };
    let finish: FinishReason = 'stop';
    try {
      const tools = settings.tools.map((t) => t.definition);
      const iter = await engine.chat.completions.create({
        ...settings.sampling,
        messages,
        stream: true,
        signal,
        ...(settings.maxTokens > 0 ? { max_tokens: settings.maxTokens } : {}),
        ...(tools.length ? { tools, tool_choice: 'auto' as const } : {}),
        ...(settings.session ? { session: settings.session } : {}),
      });
      for await (const chunk of iter) {
        const choice = chunk.choices[0];
        const d: ChatCompletionDelta = choice.delta;
        if (d.reasoning_content) {
          thoughtFrom ??= performance.now();
          answer.reasoning = (answer.reasoning ?? '') + d.reasoning_content;
          stream('reasoning', d.reasoning_content);
        }
        if (d.content) {
          endThought();
          answer.content += d.content;
          stream('content', d.content);
        }
        if (d.tool_calls?.length) {
          endThought();
          addCallDeltas(calls, d.tool_calls);
        }
        if (choice.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) {
          const u = chunk.usage;
          answer.stats = {
            completionTokens: u.completion_tokens,
            promptTokens: u.prompt_tokens,
            cachedTokens: u.cached_tokens,
            tokensPerSecond: u.decode_tokens_per_second,
            finishReason: finish,
          };
        }
      }
      if (answer.stats) answer.stats.finishReason = finish;
    } catch (e) {
      if (signal.aborted && (e as { name?: string }).name === 'AbortError') {
        finish = 'abort';
      } else {
        answer.error = errorText(e);
        this.host.failed(e);
      }
    }
    endThought();
    // A result needs an id to answer; an engine that streamed none gets one here.
    const named = calls.filter((c) => c.function.name).map((c, i) => (c.id ? c : { ...c, id: `call_${list.length}_${i}` }));
    return { answer, finish, calls: named };
  }

  /** Runs the calls of one reply in order, each shown as its own entry while it runs. */
  private async runTools(list: ChatEntry[], calls: readonly ToolCall[], tools: readonly ChatTool[], signal: AbortSignal): Promise<void> {
    const show = (saved: boolean) => {
      if (this.list !== list) return;
      this.host.render();
      if (saved) this.host.changed();
    };
    for (const call of calls) {
      if (signal.aborted) {
        list.push(notRun(call, 'stopped'));
        continue;
      }
      const entry: ChatEntry = { role: 'tool', content: '', toolCall: call };
      list.push(entry);
      show(false);
      const result = await runToolCall(call, tools, signal);
      entry.content = result.content;
      if (result.error !== undefined) entry.error = result.error;
      show(true);
    }
    show(true);
  }
}

/** The messages of a request for these entries: a user message with images
 *  becomes content parts (each image the full one while `fullImage` has it,
 *  else its saved copy), reasoning goes back as reasoning_content (templates
 *  that want it render it), each tool entry adds its call to the answer
 *  before it and a 'tool' message with its result. */
export function requestMessages(
  entries: readonly ChatEntry[],
  systemPrompt: string,
  fullImage: (image: ChatImage) => string | undefined = () => undefined,
): ChatMessageInput[] {
  const out: ChatMessageInput[] = [];
  if (systemPrompt) out.push({ role: 'system', content: systemPrompt });
  let answer: ChatMessage | undefined;
  for (const e of entries) {
    if (e.role === 'user') {
      out.push({ role: 'user', content: e.images?.length ? userParts(e.content, e.images, fullImage) : e.content });
      answer = undefined;
    } else if (e.role === 'assistant') {
      answer = { role: 'assistant', content: e.content };
      if (e.reasoning) answer.reasoning_content = e.reasoning;
      out.push(answer);
    } else if (e.toolCall && answer) {
      // A tool result needs the call it answers; one without is not sent.
      (answer.tool_calls ??= []).push(sendableCall(e.toolCall));
      if (!answer.content) answer.content = null;
      out.push({ role: 'tool', tool_call_id: e.toolCall.id, name: e.toolCall.function.name, content: e.content });
    }
  }
  return out;
}

/** A user message's parts: its images first, then its text, the order a
 *  vision model's card shows ("<image> What is in it?"), so the question is
 *  read after what it is about. */
function userParts(text: string, images: readonly ChatImage[], fullImage: (image: ChatImage) => string | undefined): ContentPart[] {
  const parts: ContentPart[] = images.map((image) => ({ type: 'image_url', image_url: { url: fullImage(image) ?? image.url } }));
  if (text) parts.push({ type: 'text', text });
  return parts;
}

/** Calls of a stream: whole ones (as Hob's engine sends them) or OpenAI-style
 *  pieces of call `index` whose name and arguments concatenate. */
export function addCallDeltas(calls: ToolCall[], deltas: NonNullable<ChatCompletionDelta['tool_calls']>): void {
  for (const d of deltas) {
    const i = Number.isInteger(d.index) && d.index >= 0 && d.index <= calls.length ? d.index : calls.length;
    const c = (calls[i] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (d.id) c.id = d.id;
    if (d.function?.name) c.function.name += d.function.name;
    if (d.function?.arguments) c.function.arguments += d.function.arguments;
  }
}

/** The result of one call, as the model will read it. Never throws: a
 *  missing tool, arguments that are not JSON, a throw or a result that is not
 *  JSON become `{ "error": ... }`; a stop ends the wait at once. */
export async function runToolCall(call: ToolCall, tools: readonly ChatTool[], signal: AbortSignal): Promise<{ content: string; error?: string }> {
  const name = call.function.name;
  const tool = tools.find((t) => t.definition.function.name === name);
  if (!tool) return failure(`no tool named ${name}`);
  let args: unknown;
  try {
    args = JSON.parse(call.function.arguments.trim() || '{}');
  } catch (e) {
    return failure(`the arguments are not JSON: ${errorMessage(e)}`);
  }
  if (signal.aborted) return failure('stopped');
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => reject(new StopSignal());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const running = Promise.resolve().then(() => tool.run(args, { signal }));
    // A tool still running after a stop finishes unseen; its failure must not go unhandled.
    running.catch(() => {});
    const value = await Promise.race([running, stopped]);
    const content = typeof value === 'string' ? value : JSON.stringify(value);
    return { content: content ?? 'null' };
  } catch (e) {
    return failure(e instanceof StopSignal ? 'stopped' : errorMessage(e));
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

class StopSignal extends Error {}

const failure = (message: string) => ({ content: JSON.stringify({ error: message }), error: message });

function notRun(call: ToolCall, why: string): ChatEntry {
  const message = `not run: ${why}`;
  return { role: 'tool', content: JSON.stringify({ error: message }), toolCall: call, error: message };
}

/** A call as a request can carry it: arguments that are not JSON (its
 *  result told the model so) go as {}, since an engine renders past calls'
 *  arguments as JSON and refuses the whole request otherwise. */
function sendableCall(c: ToolCall): ToolCall {
  const call = copyCall(c);
  try {
    JSON.parse(call.function.arguments);
  } catch {
    call.function.arguments = '{}';
  }
  return call;
}

function copyCall(c: ToolCall): ToolCall {
  return { id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function restoreCall(v: unknown): ToolCall | undefined {
  if (!isObject(v) || !isObject(v.function) || typeof v.function.name !== 'string') return undefined;
  const args = v.function.arguments;
  return { id: String(v.id ?? ''), type: 'function', function: { name: v.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) } };
}

function restoreStats(v: unknown): MessageStats | undefined {
  if (!isObject(v)) return undefined;
  const n = (k: string) => (typeof v[k] === 'number' && Number.isFinite(v[k]) ? (v[k] as number) : undefined);
  const [completionTokens, promptTokens, cachedTokens, tokensPerSecond] = ['completionTokens', 'promptTokens', 'cachedTokens', 'tokensPerSecond'].map(n);
  const finishReason = v.finishReason as FinishReason;
  if (completionTokens === undefined || promptTokens === undefined || cachedTokens === undefined || tokensPerSecond === undefined) return undefined;
  if (!['stop', 'length', 'tool_calls', 'abort'].includes(finishReason)) return undefined;
  return { completionTokens, promptTokens, cachedTokens, tokensPerSecond, finishReason };
}

/** Copies of entries, as saved by a host (possibly by an older version):
 *  fields are checked and copied one by one, unknown roles and tool entries
 *  without their call are dropped, a missing content is empty. */
export function restoreEntries(list: readonly unknown[]): ChatEntry[] {
  if (!Array.isArray(list)) throw new TypeError('hob-chat: messages must be an array of entries');
  const out: ChatEntry[] = [];
  for (const v of list) {
    if (!isObject(v) || (v.role !== 'user' && v.role !== 'assistant' && v.role !== 'tool')) continue;
    const e: ChatEntry = { role: v.role, content: typeof v.content === 'string' ? v.content : v.content == null ? '' : String(v.content) };
    if (v.role === 'tool') {
      const call = restoreCall(v.toolCall);
      if (!call) continue;
      e.toolCall = call;
    }
    if (v.role === 'user' && Array.isArray(v.images)) {
      // Bounded: a saved conversation is data from elsewhere.
      const images = v.images.slice(0, 64).map(restoreImage).filter((i): i is ChatImage => !!i).slice(0, MAX_IMAGES_PER_MESSAGE);
      if (images.length) e.images = images;
    }
    if (v.role === 'assistant' && typeof v.reasoning === 'string' && v.reasoning) e.reasoning = v.reasoning;
    if (v.role === 'assistant' && typeof v.reasoningMs === 'number' && Number.isFinite(v.reasoningMs)) e.reasoningMs = v.reasoningMs;
    const stats = restoreStats(v.stats);
    if (stats) e.stats = stats;
    if (typeof v.error === 'string') e.error = v.error;
    out.push(e);
  }
  return out;
}

/** A copy of an entry to hand out: the caller may change it freely. */
export function copyEntry(e: ChatEntry): ChatEntry {
  const c: ChatEntry = { ...e };
  if (e.toolCall) c.toolCall = copyCall(e.toolCall);
  if (e.stats) c.stats = { ...e.stats };
  if (e.images) c.images = e.images.map((i) => ({ ...i }));
  return c;
}

function errorMessage(e: unknown): string {
  const m = (e as { message?: unknown })?.message;
  return typeof m === 'string' ? m : String(e);
}

/** An error as the chat shows it: its message and, for a HobError, its code. */
export function errorText(e: unknown): string {
  const err = e as { message?: string; code?: string };
  return err?.code ? `${err.message} (${err.code})` : String(err?.message ?? e);
}
