// The engine's worker: owns the wasm module, the loaded model and its
// session. The page talks to it through comlink (see client.ts); nothing
// heavy runs on the page's thread.
import * as Comlink from 'comlink';

import { Engine, Sampler, type Model, type ModelInfo, type SamplerOptions, type Session } from '../core/engine.js';
import { complete, type CompletionResult } from '../core/generate.js';
import { Sequence } from '../core/sequence.js';
import { BusyError, HobError } from '../api/errors.js';
import { installErrorTransfer } from './transfer.js';

export type ModelSource = { url: string } | { blob: Blob } | { bytes: Uint8Array };

export interface LoadProgress {
  loaded: number;
  total: number;
}

export interface WorkerCompletionRequest extends SamplerOptions {
  prompt?: string;
  promptIds?: number[];
  nPredict: number;
  nCtx?: number;
  ignoreEos?: boolean;
}

let engine: Engine | undefined;
let model: Model | undefined;
let session: Session | undefined;
// The tokens in the session's cache: the next request reuses their prefix.
let sequence: Sequence | undefined;
let busy = false;

// A macrotask turn without setTimeout's clamping: lets queued messages (a
// stop request) in between two tokens.
const channel = new MessageChannel();
const waiters: (() => void)[] = [];
channel.port1.onmessage = () => waiters.shift()?.();
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    waiters.push(resolve);
    channel.port2.postMessage(0);
  });
}
let stopRequested = false;

async function readInto(source: ModelSource, onProgress?: (p: LoadProgress) => void): Promise<{ ptr: number; size: number }> {
  if (!engine) throw new HobError('argument/invalid', 'init() must be called before loadModel()');
  let stream: ReadableStream<Uint8Array>;
  let size: number;
  if ('bytes' in source) {
    const ptr = engine.allocModelBuffer(source.bytes.byteLength);
    engine.heap().set(source.bytes, ptr);
    return { ptr, size: source.bytes.byteLength };
  } else if ('blob' in source) {
    stream = source.blob.stream();
    size = source.blob.size;
  } else {
    const res = await fetch(source.url);
    if (!res.ok || !res.body) throw new HobError('argument/invalid', `cannot fetch ${source.url}: HTTP ${res.status}`, { status: res.status });
    size = Number(res.headers.get('content-length'));
    if (!Number.isFinite(size) || size <= 0) {
      // No length known up front: read it all, then copy once.
      const bytes = new Uint8Array(await res.arrayBuffer());
      const ptr = engine.allocModelBuffer(bytes.byteLength);
      engine.heap().set(bytes, ptr);
      return { ptr, size: bytes.byteLength };
    }
    stream = res.body;
  }
  // Stream chunks straight into the engine's buffer: one copy of the model.
  const ptr = engine.allocModelBuffer(size);
  let loaded = 0;
  try {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (loaded + value.byteLength > size) throw new HobError('gguf/invalid', `the model is longer than the ${size} bytes announced`, { size });
      engine.heap().set(value, ptr + loaded);
      loaded += value.byteLength;
      onProgress?.({ loaded, total: size });
    }
    if (loaded !== size) throw new HobError('gguf/truncated', `the model ended after ${loaded} of ${size} bytes`, { loaded, size });
  } catch (e) {
    engine.module._hob_free(ptr);
    throw e;
  }
  return { ptr, size };
}

const api = {
  async init(opts: { threads?: number } = {}): Promise<{ variant: string; threads: number }> {
    const threads = opts.threads ?? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
    engine ??= await Engine.create({ threads });
    return { variant: engine.variant, threads: engine.threads };
  },

  async loadModel(source: ModelSource, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo> {
    session?.free();
    model?.free();
    session = undefined;
    sequence = undefined;
    model = undefined;
    const { ptr, size } = await readInto(source, onProgress);
    model = engine!.loadModelAt(ptr, size);
    return model.info;
  },

  tokenize(text: string): number[] {
    if (!model) throw new HobError('argument/invalid', 'no model is loaded');
    return model.tokenize(text);
  },

  /** Generates from a fresh context; onToken streams each piece of text. */
  async complete(
    req: WorkerCompletionRequest,
    onToken?: (token: number, text: string) => void,
  ): Promise<CompletionResult & { threads: number; variant: string }> {
    if (!engine || !model) throw new HobError('argument/invalid', 'no model is loaded');
    if (busy) throw new BusyError('engine/busy', 'a completion is already running');
    busy = true;
    stopRequested = false;
    try {
      const nCtx = req.nCtx ?? Math.min(model.info.nCtxTrain, 2048);
      if (!session || !sequence || session.nCtx !== nCtx) {
        session?.free();
        session = model.createSession({ nCtx });
        sequence = new Sequence(session);
      }
      const { prompt, promptIds, nPredict, nCtx: _n, ignoreEos, ...samplerOpts } = req;
      const sampler = new Sampler(engine, samplerOpts);
      try {
        const ids = promptIds ?? model.tokenize(prompt ?? '');
        const result = await complete(model, sequence, sampler, ids, {
          nPredict,
          ignoreEos,
          onToken,
          shouldStop: () => stopRequested,
          pause: yieldToEvents,
        });
        return { ...result, threads: session.nThreads, variant: engine.variant };
      } finally {
        sampler.free();
      }
    } finally {
      busy = false;
    }
  },

  stop(): void {
    stopRequested = true;
  },
};

export type EngineWorkerApi = typeof api;

installErrorTransfer();
Comlink.expose(api);
