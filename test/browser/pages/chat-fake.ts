// Test page of <hob-chat> on a fake engine: no model runs. The engine says
// whether it takes images (?images=1), records the options createEngine got
// (window.engineOptions) and every chat request (window.requests), and
// answers each with a fixed text. makePng(w, h) makes a PNG in the page
// (OffscreenCanvas) for the tests to attach. Query parameters other than
// images become the element's attributes.
import '../../../src/ui/index.js';
import type { ChatCompletionChunk, ChatCompletionRequest, CreateEngineOptions, EngineInfo, HobEngine } from '../../../src/shared/types.js';
import type { HobChat } from '../../../src/ui/index.js';

const params = new URLSearchParams(location.search);
const images = params.get('images') === '1';
const requests: Omit<ChatCompletionRequest, 'signal'>[] = [];
const engineOptions: { model: unknown; projector?: unknown }[] = [];

const ANSWER = ['I see ', 'an image.'];

function fakeEngine(): HobEngine {
  const info: EngineInfo = {
    model: { name: 'fake-vision', architecture: 'llama', nLayer: 1, nVocab: 16, nCtxTrain: 4096, fileBytes: 1000, nEmbd: 8, pooling: 'none', generates: true },
    contextSize: 4096,
    threads: 1,
    images,
    variant: 'st',
    shift: { mode: 'rotate', checkpoints: 0 },
    simd: 'simd128',
    load: { gpuLayers: 0, cpuBytes: 1000, gpuBytes: 0, wasmHeapBytes: 0, wasmHeapUsedBytes: 0 },
  };
  const chunk = (content: string | undefined, last: boolean): ChatCompletionChunk => ({
    id: 'fake',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'fake-vision',
    choices: [{ index: 0, delta: content ? { content } : {}, finish_reason: last ? 'stop' : null }],
    ...(last ? { usage: { prompt_tokens: 70, completion_tokens: 2, total_tokens: 72, cached_tokens: 0, prefill_tokens_per_second: 1, decode_tokens_per_second: 2 } } : {}),
  });
  const create = async (req: ChatCompletionRequest) => {
    const { signal: _, ...rest } = req;
    requests.push(structuredClone(rest));
    return (async function* () {
      for (const piece of ANSWER) yield chunk(piece, false);
      yield chunk(undefined, true);
    })();
  };
  const unused = () => Promise.reject(new Error('not in the fake engine'));
  return {
    chat: { completions: { create } as unknown as HobEngine['chat']['completions'] },
    completions: { create: unused } as HobEngine['completions'],
    embeddings: { create: unused, tokens: unused } as unknown as HobEngine['embeddings'],
    rerank: unused,
    tokenize: unused,
    detokenize: unused,
    applyChatTemplate: unused,
    info: async () => info,
    contextUsed: async () => 0,
    resetContext: async () => {},
    saveSession: unused,
    restoreSession: unused,
    listSessions: async () => [],
    deleteSession: async () => false,
    on: () => () => {},
    unload: async () => {},
  };
}

/** A w x h PNG: red on the left half, blue on the right. */
async function makePng(w: number, h: number): Promise<Blob> {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = 'rgb(255, 0, 0)';
  ctx.fillRect(0, 0, Math.ceil(w / 2), h);
  ctx.fillStyle = 'rgb(0, 0, 255)';
  ctx.fillRect(Math.ceil(w / 2), 0, w - Math.ceil(w / 2), h);
  return canvas.convertToBlob({ type: 'image/png' });
}

const chat = document.createElement('hob-chat') as HobChat;
chat.createEngine = async (options: CreateEngineOptions) => {
  engineOptions.push({ model: options.model, ...(options.projector !== undefined ? { projector: options.projector } : {}) });
  return fakeEngine();
};
const events: { type: string; detail: unknown }[] = [];
for (const type of ['load', 'message', 'error', 'change']) chat.addEventListener(type, (e) => events.push({ type, detail: (e as CustomEvent).detail }));
for (const [k, v] of params) if (k !== 'images') chat.setAttribute(k, v);
document.getElementById('host')!.append(chat);
Object.assign(window, { chat, events, requests, engineOptions, makePng });
document.title = 'ready';
