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
  fileBytes: number;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
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
  const model = Model.loadAt(engine, ptr, size);
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
    decodeTokens: req.nDecode, decodeMs, peakHeapBytes, fileBytes: size,
  };
  session.free();
  model.free();
  engine.dispose();
  return result;
}

self.onmessage = (e: MessageEvent<HobBenchRequest>) => {
  run(e.data).then(
    (r) => self.postMessage({ ok: true, result: r }),
    (err: unknown) => self.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) }),
  );
};
