// Benchmark worker: Hob's wasm engine on one model, as a page's worker runs
// it (the threaded build needs a cross-origin isolated page). Answers one
// message { url, ids, nDecode, threads } with the timings.
import { allocModelBuffer, Model } from '../../src/core/model.js';
import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';

export interface HobBenchRequest {
  url: string;
  ids: number[];
  nDecode: number;
  threads: number;
  /** Idle pause between the two warm-ups, ms. */
  settleMs: number;
  /** Forces a build ('simd128': the fallback); by default the engine picks. */
  simd?: 'relaxed' | 'simd128';
  /** First-token latency instead (bench/ttft.ts): no warm-up; the prompt is
   * evaluated once cold, `idleMs` after the model is loaded. */
  ttft?: { idleMs: number; warm: boolean };
}

/** First-token latency of a cold engine (bench/ttft.ts). */
export interface HobTtftResult {
  simd: string;
  /** Engine.create: fetching and compiling the wasm, starting its threads. */
  engineMs: number;
  /** Fetching the file into the heap and Model.loadAt. */
  loadMs: number;
  /** The warm-up after load (0 when not asked for). */
  warmMs: number;
  /** From the request (after load, warm-up and idle) to the first token's id. */
  ttftMs: number;
  /** The same prompt again right after, and then after a 1.5 s pause: warm. */
  secondMs: number;
  settledMs: number;
}

export interface HobBenchResult {
  variant: string;
  simd: string;
  threads: number;
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
  /** Size of the wasm memory at the end (it only grows, so also its peak). */
  peakHeapBytes: number;
  /** Model.loadAt, the file already in the heap: parsing, and the relaxed
   * build's repacking of Q4_0 weights. */
  modelLoadMs: number;
  fileBytes: number;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** A warm-up candidate measured by bench/ttft.ts (not in the engine: it did
 * not measurably shorten the first prompt, docs/speed.md): a few tokens
 * through a throwaway session right after load, so the hot functions (the
 * matmul kernels of each weight type, attention, norms) reach the
 * optimizing tier's queue while the engine is otherwise idle. */
async function warmUp(model: Model): Promise<void> {
  const session = Session.create(model, { nCtx: 8, checkpoints: 0 });
  try {
    await session.eval([1, 1, 1, 1]);
    await session.eval([1]);
  } finally {
    session.free();
  }
}

async function ttft(req: HobBenchRequest): Promise<HobTtftResult> {
  let t0 = performance.now();
  const engine = await Engine.create({ threads: req.threads, simd: req.simd });
  const engineMs = performance.now() - t0;
  t0 = performance.now();
  const res = await fetch(req.url);
  const size = Number(res.headers.get('Content-Length'));
  const ptr = allocModelBuffer(engine, size);
  let at = ptr;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    engine.heap().set(value, at);
    at += value.byteLength;
  }
  const model = Model.loadAt(engine, ptr, size);
  const loadMs = performance.now() - t0;
  t0 = performance.now();
  if (req.ttft!.warm) await warmUp(model);
  const warmMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, req.ttft!.idleMs));
  const session = Session.create(model, { nCtx: req.ids.length + 16 });
  const timed = async () => {
    session.truncate(0);
    const t = performance.now();
    await session.eval(req.ids);
    argmax(session.logits());
    return performance.now() - t;
  };
  const ttftMs = await timed();
  const secondMs = await timed();
  await new Promise((r) => setTimeout(r, 1500));
  const settledMs = await timed();
  session.free();
  model.free();
  engine.dispose();
  return { simd: engine.simd, engineMs, loadMs, warmMs, ttftMs, secondMs, settledMs };
}

async function run(req: HobBenchRequest): Promise<HobBenchResult> {
  const engine = await Engine.create({ threads: req.threads, simd: req.simd });
  const res = await fetch(req.url);
  if (!res.ok) throw new Error(`cannot fetch ${req.url}: HTTP ${res.status}`);
  const size = Number(res.headers.get('Content-Length'));
  // Straight into engine memory, chunk by chunk: the file is held once.
  const ptr = allocModelBuffer(engine, size);
  let at = ptr;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    engine.heap().set(value, at);
    at += value.byteLength;
  }
  const tLoad = performance.now();
  const model = Model.loadAt(engine, ptr, size);
  const modelLoadMs = performance.now() - tLoad;
  const session = Session.create(model, { nCtx: req.ids.length + req.nDecode + 16 });

  // Warm-up, as long as the measured run's prefill plus a few decode steps,
  // twice with an idle pause between: the browser compiles hot wasm
  // functions again with its optimizing tier on background threads, which
  // busy engine threads starve; the pause lets that finish, so the run
  // below measures the steady state.
  for (let round = 0; round < 2; round++) {
    if (round) await new Promise((r) => setTimeout(r, req.settleMs));
    await session.eval(req.ids);
    for (let i = 0; i < 4; i++) await session.eval([req.ids[i]]);
    session.truncate(0);
  }

  let t0 = performance.now();
  await session.eval(req.ids);
  const prefillMs = performance.now() - t0;
  let token = argmax(session.logits());
  t0 = performance.now();
  for (let i = 0; i < req.nDecode; i++) {
    await session.eval([token]);
    token = argmax(session.logits());
  }
  const decodeMs = performance.now() - t0;
  const peakHeapBytes = engine.heap().buffer.byteLength;
  const result: HobBenchResult = {
    variant: engine.variant, simd: engine.simd, threads: engine.threads, prefillTokens: req.ids.length, prefillMs,
    decodeTokens: req.nDecode, decodeMs, peakHeapBytes, modelLoadMs, fileBytes: size,
  };
  session.free();
  model.free();
  engine.dispose();
  return result;
}

self.onmessage = (e: MessageEvent<HobBenchRequest>) => {
  (e.data.ttft ? ttft(e.data) : run(e.data)).then(
    (r) => self.postMessage({ ok: true, result: r }),
    (err: unknown) => self.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) }),
  );
};
