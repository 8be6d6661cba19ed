// The engine's worker: owns the wasm module, the GPU device, the loaded
// model and its session. The page talks to it through comlink (see client.ts); nothing
// heavy runs on the page's thread.
import * as Comlink from 'comlink';

import { Engine, Sampler, type Model, type ModelInfo, type SamplerOptions, type Session } from '../core/engine.js';
import { complete, type CompletionResult } from '../core/generate.js';
import { joinSplitParts } from '../core/gguf-split.js';
import { loadModelFromSource, type LoadReport } from '../core/load.js';
import { Sequence } from '../core/sequence.js';
import { blobSource, bytesSource, type ByteSource } from '../core/source.js';
import { BusyError, HobError } from '../api/errors.js';
import { requestGpu, type GpuContext } from '../gpu/device.js';
import { openModelStore } from '../store/index.js';
import { installErrorTransfer } from './transfer.js';

/** Where a model comes from: a URL (downloaded once into the model store,
 * then read from there), a model already in the store, a File/Blob, or bytes. */
export type ModelSource = { url: string } | { storeId: string } | { blob: Blob } | { bytes: Uint8Array };

export interface LoadProgress {
  loaded: number;
  total: number;
  /** 'download' while a URL is fetched into the store, 'load' while the engine reads it. */
  phase: 'download' | 'load';
}

export interface WorkerLoadOptions {
  /** Blocks to offload to the GPU from the last, or 'auto' (see LoadOptions). */
  gpuLayers?: number | 'auto';
  gpuBudgetBytes?: number;
}

export interface WorkerCompletionRequest extends SamplerOptions {
  prompt?: string;
  promptIds?: number[];
  nPredict: number;
  nCtx?: number;
  ignoreEos?: boolean;
}

let engine: Engine | undefined;
let gpu: GpuContext | undefined;
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

async function openSource(source: ModelSource, onProgress?: (p: LoadProgress) => void): Promise<ByteSource> {
  if ('bytes' in source) return bytesSource(source.bytes);
  if ('blob' in source) return blobSource(source.blob);
  const store = openModelStore();
  // A split model's parts are joined into one virtual file.
  if ('storeId' in source) return joinSplitParts(await store.openModelParts(source.storeId));
  // A URL is downloaded once, resumably, and read from the store from then on.
  try {
    const stored = await store.download(source.url, {
      onProgress: onProgress && ((p) => onProgress({ loaded: p.loaded, total: p.total, phase: 'download' })),
    });
    return await joinSplitParts(await store.openModelParts(stored.id));
  } catch (e) {
    // A server that cannot serve ranges cannot be stored resumably: read it
    // once as a Blob (which the browser may keep on disk), uncached.
    if (!(e instanceof HobError && e.code === 'network/no-range')) throw e;
    const res = await fetch(source.url);
    if (!res.ok) throw e;
    return blobSource(await res.blob());
  }
}

/** The worker's GPU device, made on first use; a lost one is replaced. */
async function gpuContext(): Promise<GpuContext> {
  if (gpu) return gpu;
  const ctx = await requestGpu();
  gpu = ctx;
  void ctx.lost.then(() => {
    if (gpu === ctx) gpu = undefined;
  });
  return ctx;
}

const api = {
  async init(opts: { threads?: number } = {}): Promise<{ variant: string; threads: number }> {
    const threads = opts.threads ?? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
    engine ??= await Engine.create({ threads });
    return { variant: engine.variant, threads: engine.threads };
  },

  async loadModel(
    source: ModelSource,
    onProgress?: (p: LoadProgress) => void,
    opts: WorkerLoadOptions = {},
  ): Promise<ModelInfo & { report?: LoadReport }> {
    if (!engine) throw new HobError('argument/invalid', 'init() must be called before loadModel()');
    if (busy) throw new BusyError('engine/busy', 'a request is running; stop it before loading a model');
    session?.free();
    model?.free();
    session = undefined;
    sequence = undefined;
    model = undefined;
    const bytes = await openSource(source, onProgress);
    try {
      const gpuLayers = opts.gpuLayers ?? 0;
      model = await loadModelFromSource(engine, bytes, {
        gpuLayers,
        gpu: gpuLayers === 0 ? undefined : await gpuContext(),
        gpuBudgetBytes: opts.gpuBudgetBytes,
        onProgress: onProgress && ((p) => onProgress({ ...p, phase: 'load' })),
      });
    } finally {
      await bytes.close?.();
    }
    return { ...model.info, report: model.loadReport };
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
