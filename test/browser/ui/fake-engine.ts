// A stand-in HobEngine that streams a fixed text, for developing the chat
// component's view without a model.
import type { ChatCompletionChunk, CreateEngineOptions, HobEngine } from '../../../src/api/types.js';

export async function createFakeEngine(opts: CreateEngineOptions): Promise<HobEngine> {
  for (let i = 1; i <= 4; i++) {
    await new Promise((r) => setTimeout(r, 50));
    opts.onProgress?.({ phase: 'download', loaded: i * 25e6, total: 100e6, bytesPerSecond: 5e6, etaSeconds: (4 - i) * 5 });
  }
  let used = 0;
  const text = 'Here is <img src=x onerror="window.__xss=1"> and **bold** text.\n\n```js\nconsole.log(42);\n```\n';
  const pieces = text.match(/.{1,6}/gs) ?? [];
  const engine = {
    chat: {
      completions: {
        async create(req: { messages: unknown[]; signal?: AbortSignal }) {
          async function* gen(): AsyncGenerator<ChatCompletionChunk> {
            let n = 0;
            for (const p of pieces) {
              if (req.signal?.aborted) break;
              await new Promise((r) => setTimeout(r, 20));
              n++;
              yield { id: 'x', object: 'chat.completion.chunk', created: 0, model: 'fake', choices: [{ index: 0, delta: { content: p }, finish_reason: null }] };
            }
            used += 10 + n;
            yield {
              id: 'x', object: 'chat.completion.chunk', created: 0, model: 'fake',
              choices: [{ index: 0, delta: {}, finish_reason: req.signal?.aborted ? 'abort' : 'stop' }],
              usage: { prompt_tokens: 10, completion_tokens: n, total_tokens: 10 + n, cached_tokens: 3, prefill_tokens_per_second: 100, decode_tokens_per_second: 50 },
            };
          }
          return gen();
        },
      },
    },
    async info() {
      return {
        model: { name: 'Fake model', architecture: 'llama', nLayer: 1, nVocab: 100, nCtxTrain: 4096, fileBytes: 100e6 },
        contextSize: opts.contextSize ?? 4096, threads: 2, variant: 'mt',
        load: { gpuLayers: 0, cpuBytes: 0, gpuBytes: 0, wasmHeapBytes: 0 },
      };
    },
    async contextUsed() { return used; },
    async resetContext() { used = 0; },
    on() { return () => {}; },
    async unload() {},
  };
  return engine as unknown as HobEngine;
}
