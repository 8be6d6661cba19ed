// Embeddings of packed sequences on a session's cache (Session.embed): the
// CPU blocks in wasm, the offloaded blocks on the same cells, then the
// engine's pooling. Owns the batch checks and the buffers of one such call;
// the session owns its cache and its logits.
import { ContextFullError, HobError } from '../shared/errors.js';
import { packRows } from './batch-rows.js';
import { PoolingType } from './c-api.js';
import type { Model } from './model.js';
import type { OffloadRunner } from './offload.js';

/** What of a session an embedding call uses. */
export interface EmbedTarget {
  model: Model;
  handle: number;
  nCtx: number;
  offload?: OffloadRunner;
  /** Called once the batch is accepted, before the cache changes. */
  forget(): void;
}

/**
 * Empties the cache, runs the sequences (seqLens[i] tokens each, back to
 * back in `tokens`) through every block, each token attending to its own
 * sequence only, and pools their last hidden states: n x nEmbd floats for
 * NONE, one vector per sequence otherwise (nClsOut scores for RANK). Not
 * normalized. The cache holds the batch afterwards.
 */
export async function embedPacked(s: EmbedTarget, tokens: readonly number[], seqLens: readonly number[], pooling: PoolingType): Promise<Float32Array> {
  const n = tokens.length;
  const nCtx = s.nCtx;
  if (seqLens.length === 0 || seqLens.some((l) => !Number.isInteger(l) || l < 1) || seqLens.reduce((a, b) => a + b, 0) !== n) {
    throw new HobError('argument/invalid', `sequence lengths [${seqLens.join(', ')}] do not split ${n} tokens`, { nTokens: n });
  }
  if (n > nCtx) throw new ContextFullError('context/overflow', `a batch of ${n} tokens does not fit the context of ${nCtx}`, { nCtx, nTokens: n });
  const engine = s.model.engine;
  const m = engine.module;
  const E = s.model.info.nEmbd;
  const hp = s.model.hparams;
  const nOut = pooling === PoolingType.NONE ? n * E
    : seqLens.length * (pooling === PoolingType.RANK && hp.clsOut ? hp.nClsOut : E);
  s.forget();
  const ptrs: number[] = [];
  const alloc = (bytes: number) => {
    const p = m._malloc(Math.max(4, bytes));
    if (!p) throw new HobError('memory/out-of-memory', `cannot allocate ${bytes} bytes in the wasm heap`, { bytes });
    ptrs.push(p);
    return p;
  };
  try {
    const tokPtr = alloc(n * 4);
    const lensPtr = alloc(seqLens.length * 4);
    const hiddenPtr = alloc(n * E * 4);
    new Int32Array(engine.heap().buffer, tokPtr, n).set(tokens);
    new Int32Array(engine.heap().buffer, lensPtr, seqLens.length).set(seqLens);
    engine.check(m._hob_session_eval_packed(s.handle, tokPtr, n, lensPtr, seqLens.length, hiddenPtr, n * E), { nCtx, nTokens: n });
    if (s.offload) {
      // The offloaded blocks on the same cells, in batches the runner
      // takes (a non-causal model's whole batch at once).
      const runner = s.offload;
      const hidden = new Float32Array(engine.heap().buffer, hiddenPtr, n * E).slice();
      const rows = packRows(hp, seqLens);
      const step = hp.causal ? runner.maxBatch : n;
      if (step > runner.maxBatch) {
        throw new ContextFullError('context/overflow', `a batch of ${n} tokens exceeds the ${runner.maxBatch} the GPU takes at once`, {
          nTokens: n, maxBatch: runner.maxBatch,
        });
      }
      for (let i = 0; i < n; i += step) {
        const T = Math.min(step, n - i);
        const out = await runner.forwardRows(hidden.subarray(i * E, (i + T) * E), T, i, rows);
        new Float32Array(engine.heap().buffer, hiddenPtr + i * E * 4, T * E).set(out.subarray(0, T * E));
      }
    }
    const outPtr = alloc(nOut * 4);
    engine.check(m._hob_session_pool(s.handle, hiddenPtr, n, lensPtr, seqLens.length, pooling, outPtr, nOut, engine.out(0)));
    return new Float32Array(engine.heap().buffer, outPtr, nOut).slice();
  } catch (e) {
    // The CPU cache may hold cells the device never wrote.
    m._hob_session_truncate(s.handle, 0);
    throw e;
  } finally {
    for (const p of ptrs) m._free(p);
  }
}
