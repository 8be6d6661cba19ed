// Test page: the relaxed-SIMD builds against the SIMD128 ones in Chromium,
// which runs relaxed SIMD, for test/browser/relaxed.test.ts: which builds
// the browser validates, and matmuls of every weight type through both
// test builds (hob-ops, hob-ops-relaxed), compared bit for bit.
import { Session } from '../../../src/core/session.js';
import { relaxedSimdSupported, type WasmSimd } from '../../../src/core/wasm.js';
import { Engine } from '../../../src/core/wasm-engine.js';
import { bytesSource } from '../../../src/format/source.js';
import { loadModelFromSource } from '../../../src/runtime/load.js';
import { PoolingType } from '../../../src/core/c-api.js';
import { ARCHS, makeArchSpec, writeArchModel } from '../../gguf/arch-models.js';
import { EMBED_MODELS, EMBED_PRESETS, makeEmbedSpec, syntheticTokenizer, writeEmbedModel } from '../../gguf/embed-models.js';
import { HYBRID_ARCHS, makeHybridSpec, writeHybridModel } from '../../gguf/hybrid-models.js';
import { CpuOps } from '../../gpu/cpu-ops.js';
import { ENCODINGS, encodeTensor, type TensorType } from '../../gguf/quantize.js';
import { makeSpec, Rng, writeRandomLlama } from '../../gguf/random-model.js';

const K_QUANTS = new Set<TensorType>(['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k']);

// As scripts/logits-hash.ts: a prompt, then a teacher-forced continuation.
const PROMPT = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37 + 11) % 500));
const FORCED = Array.from({ length: 12 }, (_, i) => 3 + ((i * 53 + 7) % 480));

/** The test models: every architecture (hybrids too) in Q4_0 (the type the
 * relaxed build repacks) and Q8_0 (its activations' type), tiny Llamas of
 * other types. */
function testModels(): { name: string; bytes: () => Uint8Array }[] {
  const out: { name: string; bytes: () => Uint8Array }[] = [];
  for (const a of ARCHS) {
    for (const t of ['q4_0', 'q8_0'] as const) out.push({ name: `${a} ${t}`, bytes: () => writeArchModel(makeArchSpec(a, { weightType: t })) });
  }
  for (const a of HYBRID_ARCHS) {
    for (const t of ['q4_0', 'q8_0'] as const) out.push({ name: `${a} ${t}`, bytes: () => writeHybridModel(makeHybridSpec(a, { weightType: t })) });
  }
  for (const t of ['q4_0', 'q8_0', 'q4_k', 'q6_k', 'iq4_nl'] as const) {
    const k = t.endsWith('_k');
    out.push({ name: `tiny ${t}`, bytes: () => writeRandomLlama(makeSpec('tiny', { weightType: t, ...(k ? { nEmbd: 256, nFf: 512 } : {}) })) });
  }
  return out;
}

/** The embedding models with Q4_0 weights and token (and BERT's position)
 * embeddings, whose rows are read from the repacked layout. */
function embedModels(): { name: string; bytes: () => Uint8Array; pooling: number }[] {
  return EMBED_MODELS.map((name) => ({
    name,
    pooling: EMBED_PRESETS[name].pooling,
    bytes: () => writeEmbedModel(makeEmbedSpec(name, { vocab: 'synthetic', weightType: 'q4_0', embdType: 'q4_0' }), syntheticTokenizer()),
  }));
}

const engines = new Map<string, Engine>();

async function engineFor(simd: WasmSimd, threads: number): Promise<Engine> {
  const key = `${simd} ${threads}`;
  let engine = engines.get(key);
  if (!engine) {
    engine = await Engine.create({ threads, simd, variant: threads > 1 ? 'mt' : 'st' });
    engines.set(key, engine);
  }
  return engine;
}

async function sha256(parts: Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const api = {
  relaxedSimdSupported,

  /** WebAssembly.validate of each file under wasm/out/ (the server serves
   * the repository). */
  async validate(names: string[]): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {};
    for (const n of names) {
      const res = await fetch(`/wasm/out/${n}`);
      out[n] = res.ok && WebAssembly.validate(await res.arrayBuffer());
    }
    return out;
  },

  modelNames: (): string[] => testModels().map((m) => m.name),

  /** SHA-256 (hex) of the logits of the prompt and each forced token, from
   * the engine of the given SIMD and thread count; which build ran. */
  async logits(name: string, simd: WasmSimd, threads: number): Promise<{ sha256: string; simd: string; variant: string }> {
    const engine = await engineFor(simd, threads);
    const m = testModels().find((x) => x.name === name);
    if (!m) throw new Error(`no test model ${name}`);
    const model = await loadModelFromSource(engine, bytesSource(m.bytes()), {});
    const session = Session.create(model, { nCtx: 64, nThreads: threads });
    const parts: Uint8Array[] = [];
    try {
      await session.eval(PROMPT.map((t) => t % model.info.nVocab));
      parts.push(new Uint8Array(session.logits().slice().buffer));
      for (const t of FORCED) {
        await session.eval([t % model.info.nVocab]);
        parts.push(new Uint8Array(session.logits().slice().buffer));
      }
    } finally {
      session.free();
      model.free();
    }
    return { sha256: await sha256(parts), simd: engine.simd, variant: engine.variant };
  },

  embedModelNames: (): string[] => embedModels().map((m) => m.name),

  /** SHA-256 (hex) of the pooled embeddings of two packed sequences, and of
   * the per-token states (no pooling), from the given build. */
  async embeddings(name: string, simd: WasmSimd, threads: number): Promise<{ sha256: string; simd: string }> {
    const engine = await engineFor(simd, threads);
    const m = embedModels().find((x) => x.name === name);
    if (!m) throw new Error(`no embedding model ${name}`);
    const model = await loadModelFromSource(engine, bytesSource(m.bytes()), {});
    const session = Session.create(model, { nCtx: 64, nThreads: threads });
    try {
      const ids = PROMPT.map((t) => t % model.info.nVocab);
      const pooled = await session.embed(ids, [10, ids.length - 10], m.pooling as PoolingType);
      const tokens = await session.embed(ids.slice(0, 12), [12], PoolingType.NONE);
      return { sha256: await sha256([new Uint8Array(pooled.buffer), new Uint8Array(tokens.buffer)]), simd: engine.simd };
    } finally {
      session.free();
      model.free();
    }
  },

  /** Milliseconds per matmul of a rows x cols weight of `type` over T
   * tokens, single-threaded, each build in turn (`reps` rounds, the best
   * of each): their ratio is the kernels' speed-up, less sensitive to other
   * load on the machine than the benchmark's tokens/s. */
  async timeMatmul(type: TensorType, rows: number, cols: number, T: number, reps: number): Promise<Record<WasmSimd, number>> {
    const ops = { simd128: await CpuOps.load('simd128'), relaxed: await CpuOps.load('relaxed') };
    const rng = new Rng(5, type);
    const wf = new Float32Array(rows * cols);
    rng.fillNormal(wf, 0, 0.05);
    const w = encodeTensor(type, wf);
    const x = new Float32Array(T * cols);
    rng.fillNormal(x, 0, 1);
    const id = ENCODINGS[type].ggmlType;
    const best: Record<WasmSimd, number> = { simd128: Infinity, relaxed: Infinity };
    for (let r = 0; r < reps; r++) {
      for (const k of ['simd128', 'relaxed'] as const) {
        const t0 = performance.now();
        ops[k].matmul(id, w, rows, cols, x, T);
        best[k] = Math.min(best[k], performance.now() - t0);
      }
    }
    return best;
  },

  /** Milliseconds per matmul of a rows x cols weight of `type` over T
   * tokens, one thread, in each build as its loader lays the weight out
   * (bench/cpu-profile.ts); each timing repacks once and runs several
   * products, best of `reps`. With stack > 1 the weight is that many such
   * matrices one after another, timed as one product and divided by stack:
   * large enough, it streams from memory as a forward pass does instead of
   * staying in cache. Q4_0 and Q8_0 weights are random blocks with a fixed
   * scale (quick to make at any size); other types are encoded. */
  async timeLayouts(type: TensorType, rows: number, cols: number, T: number, reps: number, stack = 1): Promise<Record<WasmSimd, number>> {
    const ops = { simd128: await CpuOps.load('simd128'), relaxed: await CpuOps.load('relaxed') };
    const rng = new Rng(5, type);
    const enc = ENCODINGS[type];
    const all = rows * stack;
    let w: Uint8Array;
    if (type === 'q4_0' || type === 'q8_0') {
      w = new Uint8Array((all * cols / enc.blockSize) * enc.blockBytes);
      crypto.getRandomValues(w.subarray(0, Math.min(w.length, 65536)));
      for (let o = 65536; o < w.length; o += 65536) w.copyWithin(o, 0, Math.min(65536, w.length - o));
      // Scale 0x2c00 (0.0625) in each block's first two bytes.
      for (let b = 0; b < w.length; b += enc.blockBytes) { w[b] = 0; w[b + 1] = 0x2c; }
    } else {
      const wf = new Float32Array(all * cols);
      rng.fillNormal(wf, 0, 0.05);
      w = encodeTensor(type, wf);
    }
    const x = new Float32Array(T * cols);
    rng.fillNormal(x, 0, 1);
    const id = enc.ggmlType;
    const [relaxed] = ops.relaxed.timeTiles(id, w, all, cols, x, T, [[0, 0]], reps);
    const [simd128] = ops.simd128.timeTiles(id, w, all, cols, x, T, [[0, 0]], reps);
    return { relaxed: relaxed / stack, simd128: simd128 / stack };
  },

  /** Milliseconds per Q4_0 matmul of rows x cols over T tokens in the
   * relaxed build for each register tile (rows x tokens), the shapes
   * alternating `reps` times, best of each (bench/relaxed-tiles.ts). */
  async timeTiles(rows: number, cols: number, T: number, tiles: [number, number][], reps: number): Promise<number[]> {
    const ops = await CpuOps.load('relaxed');
    const rng = new Rng(5, 'q4_0');
    const wf = new Float32Array(rows * cols);
    rng.fillNormal(wf, 0, 0.05);
    const x = new Float32Array(T * cols);
    rng.fillNormal(x, 0, 1);
    return ops.timeTiles(ENCODINGS.q4_0.ggmlType, encodeTensor('q4_0', wf), rows, cols, x, T, tiles, reps);
  },

  /** Q4_0 matmuls through every relaxed register tile shape against the
   * SIMD128 build's: the first differences (none when bit-identical), and
   * the message refusing a tile of 5 rows. */
  async compareTiles(tokens: number[]): Promise<{ compared: number; diffs: string[]; refused: string }> {
    const [a, b] = await Promise.all([CpuOps.load('simd128'), CpuOps.load('relaxed')]);
    const rng = new Rng(13, 'q4_0');
    const diffs: string[] = [];
    let compared = 0;
    const rows = 29, cols = 288;
    const wf = new Float32Array(rows * cols);
    rng.fillNormal(wf, 0.01, 0.05);
    const w = encodeTensor('q4_0', wf);
    for (const T of tokens) {
      const x = new Float32Array(T * cols);
      rng.fillNormal(x, 0.1, 1);
      const ya = a.matmul(ENCODINGS.q4_0.ggmlType, w, rows, cols, x, T);
      for (let tr = 1; tr <= 4; tr++) {
        for (let tt = 1; tt <= 4; tt++) {
          const yb = b.matmulTile(ENCODINGS.q4_0.ggmlType, w, rows, cols, x, T, [tr, tt]);
          for (let i = 0; i < ya.length; i++) {
            compared++;
            if (!Object.is(ya[i], yb[i]) && diffs.length < 5) diffs.push(`tile ${tr}x${tt}, ${T} tokens, [${i}]: ${ya[i]} simd128, ${yb[i]} relaxed`);
          }
        }
      }
    }
    let refused = '';
    try {
      b.matmulTile(ENCODINGS.q4_0.ggmlType, w, rows, cols, new Float32Array(cols), 1, [5, 1]);
    } catch (e) {
      refused = (e as Error).message;
    }
    return { compared, diffs, refused };
  },

  /** Matmuls of `type` over the given token counts and row lengths in both
   * builds; the first few elements that differ (none when bit-identical)
   * and how many were compared. */
  async compare(type: TensorType, tokens: number[]): Promise<{ compared: number; diffs: string[] }> {
    const [a, b] = await Promise.all([CpuOps.load('simd128'), CpuOps.load('relaxed')]);
    const lengths = K_QUANTS.has(type) ? [256, 768] : [32, 96, 288, 896];
    const rows = 7;
    const rng = new Rng(11, type);
    const diffs: string[] = [];
    let compared = 0;
    for (const cols of lengths) {
      const wf = new Float32Array(rows * cols);
      rng.fillNormal(wf, 0.01, 0.05);
      const w = encodeTensor(type, wf);
      const id = ENCODINGS[type].ggmlType;
      for (const T of tokens) {
        const x = new Float32Array(T * cols);
        rng.fillNormal(x, 0.1, 1);
        const ya = a.matmul(id, w, rows, cols, x, T);
        const yb = b.matmul(id, w, rows, cols, x, T);
        for (let i = 0; i < ya.length; i++) {
          compared++;
          if (!Object.is(ya[i], yb[i]) && diffs.length < 5) diffs.push(`cols ${cols}, ${T} tokens, [${i}]: ${ya[i]} simd128, ${yb[i]} relaxed`);
        }
      }
    }
    return { compared, diffs };
  },
};

(window as unknown as { relaxed: typeof api }).relaxed = api;
document.title = 'ready';
