// Prefill attention throughput: the query-tiled kernel against the
// one-workgroup-per-row kernel on Llama-style shapes, timed over many
// dispatches in one pass, and whether both give the same bits on this
// adapter. Prints a table and writes JSON (argv[2], default
// bench/gpu-attention.json); argv[3]: repetitions (default 20). A benchmark, not a
// test: it asserts nothing.
import { writeFileSync } from 'node:fs';

import { requestGpu } from '../src/gpu/device.js';
import { Kernels } from '../src/gpu/kernels/index.js';
import { Rng, createFrameBuffer, createTestBuffer, readF32, writeFrame } from '../test/gpu/harness.js';

const shapes = [
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 0, T: 256 },
  { name: 'llama-1b', nHead: 32, nHeadKv: 8, headDim: 64, nCtx: 4096, cell0: 1536, T: 512 },
  { name: 'llama-8b', nHead: 32, nHeadKv: 8, headDim: 128, nCtx: 4096, cell0: 0, T: 256 },
  { name: 'gemma-2b', nHead: 8, nHeadKv: 1, headDim: 256, nCtx: 4096, cell0: 0, T: 256 },
];
const reps = Number(process.argv[3] ?? 20);

process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const ctx = await requestGpu({ gpu: create([]), powerPreference: 'high-performance' });
const kernels = new Kernels(ctx);
const rng = new Rng(7);
const frame = createFrameBuffer(ctx);
console.log(`adapter: ${ctx.caps.adapterName}`);
const rows: Record<string, number | string>[] = [];
for (const s of shapes) {
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
  const outs = { tiled: createTestBuffer(ctx, n * 4), rows: createTestBuffer(ctx, n * 4) };
  const us: Record<string, number> = {};
  writeFrame(ctx, frame, s.T, s.cell0);
  for (const kind of ['rows', 'tiled'] as const) {
    const step = kernels.attention(qb, kc, vc, outs[kind], shape, frame, createTestBuffer(ctx, 1 << 22), undefined, kind);
    const run = async (k: number) => {
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < k; i++) step.encode(pass, s.T);
      pass.end();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
    };
    await run(2);
    const t0 = performance.now();
    await run(reps);
    us[kind] = ((performance.now() - t0) * 1000) / reps;
  }
  const a = new Uint32Array((await readF32(ctx, outs.tiled, n)).buffer);
  const b = new Uint32Array((await readF32(ctx, outs.rows, n)).buffer);
  let differ = 0;
  for (let i = 0; i < n; i++) differ += a[i] === b[i] ? 0 : 1;
  const row = { ...s, nKv, rowsUs: +us.rows.toFixed(1), tiledUs: +us.tiled.toFixed(1), speedup: +(us.rows / us.tiled).toFixed(2), differ };
  rows.push(row);
  console.log(`${s.name.padEnd(9)} ${s.nHead}/${s.nHeadKv}x${s.headDim} at ${s.cell0}+${s.T}: rows ${us.rows.toFixed(1)} us, tiled ${us.tiled.toFixed(1)} us (x${row.speedup}); ${differ} of ${n} outputs differ in bits`);
}
writeFileSync(process.argv[2] ?? 'bench/gpu-attention.json', JSON.stringify({ adapter: ctx.caps.adapterName, reps, rows }, null, 2));
ctx.device.destroy();
