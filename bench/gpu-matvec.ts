// Decode-shaped matvec throughput of the GPU kernels: one token through the
// weight shapes of a 1B Llama-style model (n_embd 2048, n_ff 8192, vocab
// 128256) for each weight type, timed over many dispatches in one pass, on
// the fast paths (subgroups, packed 8-bit dots) and on the fallbacks.
// Quantized types include quantizing the input (once per matmul here; the
// runner shares it between matmuls). Prints a table and writes JSON (argv[2],
// default bench/gpu-matvec.json). A benchmark, not a test: it asserts nothing.
import { writeFileSync } from 'node:fs';

import { requestGpu } from '../src/gpu/device.js';
import { Kernels, createQ8Acts, needsQ8Acts } from '../src/gpu/kernels/index.js';
import { createWeightBuffers } from '../src/gpu/weights.js';
import { GGML, Rng, createFrameBuffer, createTestBuffer, randomWeightBytes, writeFrame } from '../test/gpu/harness.js';

const shapes = [
  ['attn_q', 2048, 2048],
  ['attn_kv', 512, 2048],
  ['ffn_up', 8192, 2048],
  ['ffn_down', 2048, 8192],
  ['output', 128256, 2048],
] as const;
const reps = 200;

process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const ctx = await requestGpu({ gpu: create([]), powerPreference: 'high-performance' });
const rng = new Rng(5);
const frame = createFrameBuffer(ctx);
writeFrame(ctx, frame, 1, 0);
console.log(`adapter: ${ctx.caps.adapterName}`);
const rows: Record<string, number | string>[] = [];
const configs = [['q4_0', GGML.Q4_0, true], ['q4_0', GGML.Q4_0, false], ['q8_0', GGML.Q8_0, true], ['q8_0', GGML.Q8_0, false], ['f16', GGML.F16, true], ['f16', GGML.F16, false]] as const;
for (const [type, id, fast] of configs) {
  const kernels = new Kernels(ctx, { subgroups: fast, packedDot4: fast });
  const path = fast ? 'fast' : 'fallback';
  for (const [name, r, c] of shapes) {
    const bytes = randomWeightBytes(rng, id, r, c);
    const w = createWeightBuffers(ctx, name, id, r, c, bytes);
    const x = createTestBuffer(ctx, rng.floats(c));
    const y = createTestBuffer(ctx, r * 4);
    const acts = needsQ8Acts(w.type) ? createQ8Acts(ctx.device, 'x', 1, c) : undefined;
    const steps = acts ? [kernels.quantize(x, acts, frame), kernels.matmul(w, acts, y, frame)] : [kernels.matmul(w, x, y, frame)];
    const run = async (n: number) => {
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) for (const s of steps) s.encode(pass, 1);
      pass.end();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
    };
    await run(10);
    const t0 = performance.now();
    await run(reps);
    const us = ((performance.now() - t0) * 1000) / reps;
    const gbps = bytes.byteLength / (us * 1e3);
    rows.push({ type, path, name, rows: r, cols: c, us: +us.toFixed(2), gbps: +gbps.toFixed(1) });
    console.log(`${type.padEnd(5)} ${path.padEnd(8)} ${name.padEnd(9)} ${String(r).padStart(6)}x${c}  ${us.toFixed(1).padStart(8)} us  ${gbps.toFixed(0).padStart(6)} GB/s`);
    for (const p of w.parts) for (const b of p.buffers) b.destroy();
    for (const b of [x, y, acts?.quants, acts?.scales]) b?.destroy();
  }
}
writeFileSync(process.argv[2] ?? 'bench/gpu-matvec.json', JSON.stringify({ adapter: ctx.caps.adapterName, reps, rows }, null, 2));
ctx.device.destroy();
