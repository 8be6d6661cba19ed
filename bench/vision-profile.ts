// Per-op profile of one vision encoder block (SmolVLM-256M-shaped: width 768,
// 12 heads of 64, FFN 3072, 1024 patches), to see where an encode's time
// goes. Each product a block runs is timed alone through the single-threaded
// op build (wasm/out/hob-ops.wasm, SIMD128), with the weights' own type:
//   qkv+o   4 products of a 768 x 768 f16 weight by 1024 tokens;
//   ffn     768 -> 3072 and 3072 -> 768, f16;
//   attn    per head, K.Q (1024 x 64 f32 "weight" by 1024 queries) and
//           P.V (64 x 1024 f32 by 1024 rows of scores), times 12 heads.
// Then one whole 1-block encode (one tile, 1 thread, through the engine):
// what it takes beyond the products is the rest (norms, GELU, softmax,
// biases, copies, the patch embedding and the projector).
//
//   node --import tsx bench/vision-profile.ts [--reps 2]
import { parseArgs } from 'node:util';

import { Projector } from '../src/core/vision.js';
import { Engine } from '../src/node/index.js';
import { CpuOps } from '../test/gpu/cpu-ops.js';
import { buildVisionProjector, makeVisionSpec, testImage } from '../test/gguf/vision-models.js';

const { values: opts } = parseArgs({ options: { reps: { type: 'string', default: '2' } } });
const reps = Number(opts.reps);
const F32 = 0, F16 = 1;
const E = 768, F = 3072, T = 1024, H = 12, D = 64;

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return a;
}

function asF16(x: Float32Array): Uint8Array {
  const u = new Uint16Array(x.length);
  const f = new Float32Array(1), i = new Uint32Array(f.buffer);
  for (let k = 0; k < x.length; k++) {
    f[0] = x[k];
    const b = i[0], sign = (b >>> 16) & 0x8000, e = ((b >>> 23) & 0xff) - 112, m = (b >>> 13) & 0x3ff;
    u[k] = e <= 0 ? sign : sign | (e << 10) | m;  // small test values: no overflow, flush the tiny
  }
  return new Uint8Array(u.buffer);
}

function best(fn: () => void): number {
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

const ops = await CpuOps.load('simd128');
const x768 = rand(T * E, 1), x3072 = rand(T * F, 2);
const wE = asF16(rand(E * E, 3)), wUp = asF16(rand(F * E, 4)), wDown = asF16(rand(E * F, 5));
const kh = new Uint8Array(rand(T * D, 6).buffer), qh = rand(T * D, 7);
const vt = new Uint8Array(rand(D * T, 8).buffer), s = rand(T * T, 9);
const rows: [string, number][] = [];
rows.push(['qkv+o (4 x f16 768x768)', 4 * best(() => ops.matmul(F16, wE, E, E, x768, T))]);
rows.push(['ffn up (f16 3072x768)', best(() => ops.matmul(F16, wUp, F, E, x768, T))]);
rows.push(['ffn down (f16 768x3072)', best(() => ops.matmul(F16, wDown, E, F, x3072, T))]);
rows.push(['attn K.Q (12 x f32 1024x64)', H * best(() => ops.matmul(F32, kh, T, D, qh, T))]);
rows.push(['attn P.V (12 x f32 64x1024)', H * best(() => ops.matmul(F32, vt, D, T, s, T))]);
const products = rows.reduce((a, [, ms]) => a + ms, 0);

// The whole block, one tile, one thread.
const spec = makeVisionSpec({
  name: 'profile-smolvlm-1block', imageSize: 512, patchSize: 16, longestEdge: 512, scaleFactor: 4, nEmbd: E, nHead: H,
  nFf: F, nLayer: 1, projectionDim: 576, std: 0.02, patchStd: 0.02, posStd: 0.02, projStd: 0.02, normStd: 0.02, weightType: 'f16',
});
const chunks = [...buildVisionProjector(spec).chunks()];
const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
let at = 0;
for (const c of chunks) {
  bytes.set(c, at);
  at += c.length;
}
const engine = await Engine.create({ threads: 1, simd: 'simd128' });
const projector = Projector.load(engine, bytes);
const img = testImage(512, 512, 5);  // one tile plus the overview: two encodes
const whole = best(() => projector.encode(img.rgb, 512, 512)) / 2;
projector.free();
engine.dispose();

rows.push(['rest (norms, GELU, softmax, copies, patch embd, projector)', whole - products]);
rows.push(['one block encode, 1 thread', whole]);
process.stdout.write('| op (one block, 1 thread, SIMD128) | ms |\n|---|---|\n');
for (const [name, ms] of rows) process.stdout.write(`| ${name} | ${ms.toFixed(0)} |\n`);
