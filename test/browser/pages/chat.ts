// Test page of <hob-chat> on the real engine. Query parameters become the
// element's attributes; ?shadow puts the chat inside another element's
// shadow root. Events the chat fires are recorded in window.events, and the
// chat requests it makes in window.requests; window.gate, when set, is
// awaited before each streamed chunk reaches the chat (a test holds the
// stream to look at the page mid-answer). setWeatherTool gives the chat a
// get_weather tool that answers, throws or never returns.
import '../../../src/ui/index.js';
import { createEngine } from '../../../src/api/index.js';
import type { ChatCompletionChunk, ChatCompletionRequest, HobEngine } from '../../../src/shared/types.js';
import { renderMarkdownHtml, type HobChat } from '../../../src/ui/index.js';

const params = new URLSearchParams(location.search);
const chat = document.createElement('hob-chat') as HobChat;
const events: { type: string; at: number; detail: unknown }[] = [];
const requests: Omit<ChatCompletionRequest, 'signal'>[] = [];
const page = window as unknown as { gate?: (chunk: ChatCompletionChunk) => unknown };

/** The engine, but its chat requests are recorded and its chunks pass the gate. */
function observed(engine: HobEngine): HobEngine {
  const create = async (req: ChatCompletionRequest) => {
    const { signal: _, ...rest } = req;
    requests.push(structuredClone(rest));
    const reply = await engine.chat.completions.create(req as ChatCompletionRequest & { stream: true });
    if (!req.stream) return reply;
    return (async function* () {
      for await (const chunk of reply) {
        await page.gate?.(chunk);
        yield chunk;
      }
    })();
  };
  return {
    chat: { completions: { create } as HobEngine['chat']['completions'] },
    completions: engine.completions,
    embeddings: engine.embeddings,
    rerank: (req) => engine.rerank(req),
    tokenize: (...a) => engine.tokenize(...a),
    detokenize: (...a) => engine.detokenize(...a),
    applyChatTemplate: (...a) => engine.applyChatTemplate(...a),
    info: () => engine.info(),
    contextUsed: () => engine.contextUsed(),
    resetContext: () => engine.resetContext(),
    saveSession: (...a) => engine.saveSession(...a),
    restoreSession: (...a) => engine.restoreSession(...a),
    listSessions: () => engine.listSessions(),
    deleteSession: (name) => engine.deleteSession(name),
    on: (type, listener) => engine.on(type, listener),
    unload: () => engine.unload(),
  };
}
chat.createEngine = async (options) => observed(await createEngine(options));

/** Gives the chat a get_weather tool; every run's arguments are kept in
 * window.toolRuns and its signal in window.toolSignal. */
function setWeatherTool(behaviour: 'answer' | 'throw' | 'hang'): void {
  const w = window as unknown as { toolRuns: unknown[]; toolSignal?: AbortSignal };
  w.toolRuns = [];
  chat.tools = [
    {
      definition: {
        type: 'function',
        function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
      run: (args, { signal }) => {
        w.toolRuns.push(args);
        w.toolSignal = signal;
        if (behaviour === 'throw') throw new Error('weather service down');
        if (behaviour === 'hang') return new Promise(() => {});
        return { sky: 'clear', note: '<img src=x onerror="window.__xss=5">' };
      },
    },
  ];
}

for (const type of ['load', 'token', 'message', 'error', 'change', 'session']) {
  chat.addEventListener(type, (e) => {
    const d = (e as CustomEvent).detail;
    events.push({ type, at: performance.now(), detail: type === 'error' ? { code: d.code, message: d.message } : type === 'load' ? { name: d.model.name, variant: d.variant } : d });
  });
}
for (const a of ['gpu-layers', 'context-size', 'max-tokens', 'system-prompt', 'preset', 'hub-endpoint', 'model', 'session']) {
  const v = params.get(a);
  if (v !== null) chat.setAttribute(a, v);
}
const host = document.getElementById('host') as HTMLElement;
if (params.has('shadow')) host.attachShadow({ mode: 'open' }).append(chat);
else host.append(chat);
Object.assign(window, { chat, events, requests, renderMarkdownHtml, setWeatherTool });
document.title = 'ready';
