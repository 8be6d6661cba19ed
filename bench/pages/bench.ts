// Benchmark page (bench/cpu.ts drives it): runs Hob in a worker or
// wllama on one model and returns prefill and decode timings. Served with
// COOP/COEP so both may use threads.
import { Wllama } from '@wllama/wllama';

import type { HobBenchRequest, HobBenchResult, HobTtftResult } from './bench-worker.js';

export interface PeerBenchResult {
  threads: number;
  multiThread: boolean;
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
}

function benchHob(req: HobBenchRequest): Promise<HobBenchResult | HobTtftResult> {
  const worker = new Worker(new URL('./bench-worker.ts', import.meta.url), { type: 'module' });
  return new Promise<HobBenchResult | HobTtftResult>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ok: boolean; result?: HobBenchResult | HobTtftResult; error?: string }>) => {
      worker.terminate();
      if (e.data.ok) resolve(e.data.result!);
      else reject(new Error(e.data.error));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`worker error: ${e.message}`));
    };
    worker.postMessage(req);
  });
}

const PROMPT_TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(400);

async function stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** wllama (llama.cpp's server in wasm): one completion of about the prompt's
 * length with a fixed number of generated tokens, timed by llama.cpp itself. */
async function benchWllama(req: HobBenchRequest): Promise<PeerBenchResult> {
  const wllama = new Wllama(
    { default: new URL('/node_modules/@wllama/wllama/esm/wasm/wllama.wasm', location.href).href },
    { suppressNativeLog: true },
  );
  const blob = await (await fetch(req.url)).blob();
  const file = new File([blob], req.url.split('/').pop()!);
  await stage('load', () => wllama.loadModel([file], { n_threads: req.threads, n_ctx: req.ids.length + req.nDecode + 16, n_batch: 512, n_gpu_layers: 0 }));
  const complete = async (text: string, n: number) => {
    const r = await wllama.createCompletion({
      prompt: text, max_tokens: n, temp: 0, ignore_eos: true, cache_prompt: false,
    } as Parameters<typeof wllama.createCompletion>[0] & { stream?: false });
    return (r as unknown as { timings: { prompt_n: number; prompt_ms: number; predicted_n: number; predicted_ms: number } }).timings;
  };
  // The completion API takes text, not token ids: the first call (also the
  // warm-up) measures this vocabulary's characters per token, the second
  // asks for about the prompt's length (the rates use the count llama.cpp
  // reports).
  const guess = PROMPT_TEXT.slice(0, req.ids.length * 4);
  const probe = await stage('warm-up', () => complete(guess, 5));
  // The same second warm-up after an idle pause as Hob gets (its wasm tiers up too).
  await new Promise((r) => setTimeout(r, req.settleMs));
  await stage('warm-up', () => complete(guess, 5));
  const text = PROMPT_TEXT.slice(0, Math.round((guess.length * req.ids.length) / probe.prompt_n));
  const t = await stage('completion', () => complete(text, req.nDecode + 1));
  const result: PeerBenchResult = {
    threads: req.threads, multiThread: wllama.isMultithread(), prefillTokens: t.prompt_n, prefillMs: t.prompt_ms,
    // The first generated token comes from the prompt's batch; llama.cpp's
    // generation clock starts after it, so the steps timed are the rest.
    decodeTokens: t.predicted_n - 1, decodeMs: t.predicted_ms,
  };
  await wllama.exit();
  return result;
}

Object.assign(window, { benchHob, benchWllama, isolated: crossOriginIsolated });
document.title = 'ready';
