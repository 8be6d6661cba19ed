// Where a CPU forward pass spends its time, in Chromium, one thread: every
// matrix product of a model preset's forward pass timed on its own through
// the test builds (hob-ops-relaxed with the loader's layout, hob-ops for the
// SIMD128 fallback; for decode on enough copies of the weight to stream
// from memory), summed over one decode step and one prefill of
// --prompt tokens, against the whole step measured on the model itself
// (bench/pages/bench-worker.ts, same build, one thread). The difference is
// everything else: attention, norms, RoPE, activations, the thread pool.
// The matmuls' effective weight bandwidth in decode says whether they are
// bound by memory or by instructions. A benchmark, not a test.
//
//   node --import tsx bench/cpu-profile.ts [--model qwen2-0.5b:q4_0] [--prompt 128] [--decode 32]
//        [--reps 3] [--out FILE] [--dir DIR]
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

import type { HobBenchResult } from './pages/bench-worker.js';
import type { WasmSimd } from '../src/core/wasm.js';
import type { TensorType } from '../test/gguf/quantize.js';

const { values: opts } = parseArgs({
  options: {
    model: { type: 'string', default: 'qwen2-0.5b:q4_0' },
    prompt: { type: 'string', default: '128' },
    decode: { type: 'string', default: '32' },
    reps: { type: 'string', default: '3' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
    out: { type: 'string' },
  },
});
const nPrompt = Number(opts.prompt);
const nDecode = Number(opts.decode);
const reps = Number(opts.reps);

const [preset, type] = opts.model!.split(':');
const { buildRandomLlama, makeSpec } = await import('../test/gguf/random-model.js');
const spec = makeSpec(preset as never, { weightType: type as never });
mkdirSync(opts.dir!, { recursive: true });
const path = join(opts.dir!, `${preset}-${type}.gguf`);
if (!existsSync(path)) {
  const fd = openSync(path + '.part', 'w');
  for (const chunk of buildRandomLlama(spec).chunks()) writeSync(fd, chunk);
  closeSync(fd);
  renameSync(path + '.part', path);
}

// The products of one forward pass: (name, rows, cols, per token-step count).
const headDim = spec.nEmbd / spec.nHead;
const shapes: { name: string; rows: number; cols: number; count: number }[] = [
  { name: 'Q, O', rows: spec.nEmbd, cols: spec.nEmbd, count: 2 * spec.nLayer },
  { name: 'K, V', rows: spec.nHeadKv * headDim, cols: spec.nEmbd, count: 2 * spec.nLayer },
  { name: 'gate, up', rows: spec.nFf, cols: spec.nEmbd, count: 2 * spec.nLayer },
  { name: 'down', rows: spec.nEmbd, cols: spec.nFf, count: spec.nLayer },
  { name: 'output', rows: spec.nVocab, cols: spec.nEmbd, count: 1 },
];
const { ENCODINGS: ENC } = await import('../test/gguf/quantize.js');
const enc = ENC[type as TensorType];
const weightBytes = (s: { rows: number; cols: number }) => ((s.rows * s.cols) / enc.blockSize) * enc.blockBytes;
const STREAM_BYTES = 64 * 2 ** 20;
const ids = Array.from({ length: nPrompt }, (_, i) => 3 + ((i * 7919 + 13) % (spec.nVocab - 3)));

const { startServer, launchBrowser, openPage, filesDir } = await import('../test/browser/harness.js');
const [browser, { server, url }] = await Promise.all([launchBrowser(), startServer(true)]);
const link = join(filesDir, basename(path));
if (!existsSync(link)) symlinkSync(path, link);
const load0 = loadavg()[0];

type Times = Record<WasmSimd, number>;
const perCall: Record<string, { decode: Times; prefill: Times }> = {};
const steps: Record<WasmSimd, HobBenchResult[]> = { relaxed: [], simd128: [] };
try {
  const { page } = await openPage(browser, `${url}/test/browser/pages/relaxed.html`);
  await page.waitForFunction(() => document.title === 'ready');
  for (const s of shapes) {
    const time = (T: number, stack: number) =>
      page.evaluate(([t, r, c, n, k, m]) => (window as any).relaxed.timeLayouts(t, r, c, n, k, m), [type, s.rows, s.cols, T, reps, stack] as const) as Promise<Times>;
    // Decode streams every weight from memory once per token: the product
    // is timed on enough copies (64 MB at least) that it cannot stay in
    // cache. A prefill reuses each weight across the batch's tokens.
    perCall[s.name] = { decode: await time(1, Math.ceil(STREAM_BYTES / weightBytes(s))), prefill: await time(nPrompt, 1) };
    console.error(`${s.name} (${s.rows} x ${s.cols}): ${JSON.stringify(perCall[s.name])}`);
  }
  await page.close();
  for (let rep = 0; rep < reps; rep++) {
    for (const simd of ['relaxed', 'simd128'] as const) {
      const p = await browser.newPage();
      try {
        await p.goto(`${url}/bench/pages/bench.html`);
        await p.waitForFunction(() => document.title === 'ready' || document.title === 'failed', undefined, { timeout: 120_000 });
        const req = { url: `/__files/${basename(path)}`, ids, nDecode, threads: 1, settleMs: 1500, simd };
        steps[simd].push(await p.evaluate((r) => (window as any).benchHob(r), req));
      } finally {
        await p.close();
      }
    }
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(filesDir, { recursive: true, force: true });
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const result: Record<string, unknown> = { model: opts.model, prompt: nPrompt, decode: nDecode, reps, threads: 1, shapes: [], builds: {} };
console.log(`| product | rows x cols | per step | decode ms/call, streamed (relaxed, simd128) | weight GB/s (relaxed) | prefill ms/call, ${nPrompt} tokens (relaxed, simd128) |`);
console.log('|---|---|---:|---|---:|---|');
for (const s of shapes) {
  const t = perCall[s.name];
  const gbps = weightBytes(s) / (t.decode.relaxed / 1000) / 1e9;
  (result.shapes as unknown[]).push({ ...s, weightBytes: weightBytes(s), msPerCall: t, decodeWeightGBps: gbps });
  console.log(`| ${s.name} | ${s.rows} x ${s.cols} | ${s.count} | ${t.decode.relaxed.toFixed(3)}, ${t.decode.simd128.toFixed(3)} | ${gbps.toFixed(1)} | ` +
    `${t.prefill.relaxed.toFixed(1)}, ${t.prefill.simd128.toFixed(1)} |`);
}
console.log(`\n| build | decode step ms | matmuls ms | matmul share | prefill ${nPrompt} ms | matmuls ms | matmul share | Model.loadAt ms |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const simd of ['relaxed', 'simd128'] as const) {
  // A prefill runs the output head for its last token only.
  const sum = (k: 'decode' | 'prefill') =>
    shapes.reduce((a, s) => a + s.count * (k === 'prefill' && s.name === 'output' ? perCall[s.name].decode[simd] : perCall[s.name][k][simd]), 0);
  const step = median(steps[simd].map((r) => r.decodeMs / r.decodeTokens));
  const prefill = median(steps[simd].map((r) => r.prefillMs));
  const loadMs = median(steps[simd].map((r) => r.modelLoadMs));
  const mm = { decode: sum('decode'), prefill: sum('prefill') };
  (result.builds as Record<string, unknown>)[simd] = { decodeStepMs: step, decodeMatmulMs: mm.decode, prefillMs: prefill, prefillMatmulMs: mm.prefill, modelLoadMs: loadMs };
  console.log(`| ${simd} | ${step.toFixed(1)} | ${mm.decode.toFixed(1)} | ${(mm.decode / step).toFixed(2)} | ${prefill.toFixed(0)} | ` +
    `${mm.prefill.toFixed(0)} | ${(mm.prefill / prefill).toFixed(2)} | ${loadMs.toFixed(0)} |`);
}
result.loadAverage = { before: load0, after: loadavg()[0] };
console.log(`\n${opts.model}, one thread, Chromium; products timed alone (best of ${reps}), steps on the model (median of ${reps}); ` +
  `load average ${load0.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after.`);
if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n');
process.exit(0);
