// Prefill attention throughput: the query-tiled kernel (its default choice,
// the same with its scores recomputed in each pass rather than stored:
// `recompute`, KernelOptions.attnStoreScores, and each of its tilings,
// KernelOptions.attnTileRows) against the
// one-workgroup-per-row kernel on Llama-style shapes (with a session's
// scratch, where the tiled kernel stores its scores), timed over many
// dispatches in one pass, and whether all give the same bits on this
// adapter. Prints a table and writes JSON (argv[2], default
// bench/gpu-attention.json); argv[3]: repetitions (default 20); argv[4]: only
// the shapes whose `name@cell0+T` contains it; argv[5]: only these kinds,
// comma-separated (rows, tiled, or a tiling RxHxC; a slow adapter can time
// `tiled` alone). A benchmark, not a test: it asserts nothing.
import { writeFileSync } from 'node:fs';

import { Kernels, attentionScratchBytes, attentionTilings } from '../src/gpu/kernels/index.js';
import { requestNodeGpu } from '../src/gpu/node-device.js';
import { Rng, createFrameBuffer, createTestBuffer, readF32, writeFrame } from '../test/gpu/harness.js';

const shapes = [
  { name: 'qwen2-0.5b', nHead: 14, nHeadKv: 2, headDim: 64, nCtx: 4096, cell0: 0, T: 256 },
  { name: 'qwen2-0.5b', nHead: 14, nHeadKv: 2, headDim: 64, nCtx: 4096, cell0: 256, T: 256 },
  // Small enough to time on a software adapter (SwiftShader).
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 64, T: 64 },
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 0, T: 256 },
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 256, T: 256 },
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 1536, T: 512 },
  { name: 'llama-8b', nHead: 32, nHeadKv: 8, headDim: 128, nCtx: 4096, cell0: 0, T: 256 },
  { name: 'gemma-2b', nHead: 8, nHeadKv: 1, headDim: 256, nCtx: 4096, cell0: 0, T: 256 },
];
const reps = Number(process.argv[3] ?? 20);
const only = process.argv[4] ?? '';
const onlyKinds = process.argv[5]?.split(',');

const ctx = await requestNodeGpu();
const kernels = new Kernels(ctx);
const rng = new Rng(7);
const frame = createFrameBuffer(ctx);
console.log(`adapter: ${ctx.caps.adapterName}`);
const rows: Record<string, unknown>[] = [];
for (const s of shapes.filter((x) => `${x.name}@${x.cell0}+${x.T}`.includes(only))) {
  const kvDim = s.nHeadKv * s.headDim;
  const nKv = s.cell0 + s.T;
  const toF16 = (n: number) => {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) h[i] = 0x3000 + Math.floor(rng.next() * 0x1000) + (rng.next() < 0.5 ? 0x8000 : 0);
    return h;
  };
  const kc = createTestBuffer(ctx, toF16(s.nCtx * kvDim));
  const vc = createTestBuffer(ctx, toF16(s.nCtx * kvDim));
  const n = s.T * s.nHead * s.headDim;
  const qb = createTestBuffer(ctx, rng.floats(n));
  const shape = { nHead: s.nHead, nHeadKv: s.nHeadKv, headDim: s.headDim, scale: 1 / Math.sqrt(s.headDim), nCtx: s.nCtx };
  const tilings = attentionTilings(s.nHead, s.nHeadKv, s.headDim);
  const kinds = ['rows', 'tiled', 'recompute', ...tilings.map((t) => `${t.rows}x${t.heads}x${t.cells}`)].filter((k) => !onlyKinds || onlyKinds.includes(k));
  const outs = Object.fromEntries(kinds.map((k) => [k, createTestBuffer(ctx, n * 4)]));
  const us: Record<string, number> = {};
  const scratch = createTestBuffer(ctx, attentionScratchBytes(shape, s.T));
  writeFrame(ctx, frame, s.T, s.cell0);
  for (const kind of kinds) {
    const fixed = kind.includes('x') ? new Kernels(ctx, { attnTileRows: Number(kind.split('x')[0]) }) : kind === 'recompute' ? new Kernels(ctx, { attnStoreScores: false }) : kernels;
    // A session's scratch for batches of T rows: the tiled kernel stores its scores there.
    const step = fixed.attention(qb, kc, vc, outs[kind], shape, frame, scratch, undefined, kind === 'rows' ? 'rows' : 'tiled');
    const run = async (k: number) => {
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < k; i++) step.encode(pass, s.T, nKv);
      pass.end();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
    };
    await run(2);
    const t0 = performance.now();
    await run(reps);
    us[kind] = ((performance.now() - t0) * 1000) / reps;
  }
  // Bits against the per-row kernel (or the first kind timed).
  const b = new Uint32Array((await readF32(ctx, outs[kinds[0]], n)).buffer);
  let differ = 0;
  for (const kind of kinds.slice(1)) {
    const a = new Uint32Array((await readF32(ctx, outs[kind], n)).buffer);
    for (let i = 0; i < n; i++) differ += a[i] === b[i] ? 0 : 1;
  }
  const row = { ...s, nKv, us: Object.fromEntries(Object.entries(us).map(([k, v]) => [k, +v.toFixed(1)])), speedup: us.rows && us.tiled ? +(us.rows / us.tiled).toFixed(2) : null, stored: us.recompute && us.tiled ? +(us.recompute / us.tiled).toFixed(2) : null, differ };
  rows.push(row);
  console.log(`${s.name.padEnd(10)} ${s.nHead}/${s.nHeadKv}x${s.headDim} at ${s.cell0}+${s.T}: ${kinds.map((k) => `${k} ${us[k].toFixed(1)} us`).join(', ')}; ${differ} outputs differ in bits from ${kinds[0]}`);
}
writeFileSync(process.argv[2] ?? 'bench/gpu-attention.json', JSON.stringify({ adapter: ctx.caps.adapterName, reps, rows }, null, 2));
ctx.device.destroy();
