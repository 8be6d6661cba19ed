// First-token latency of a cold engine in Chromium: each run opens a fresh
// browser context (no compiled-code cache), creates the engine, loads the
// model and evaluates a prompt once; the time from that request to the
// first token's id is the TTFT. Variants run alternately, several times:
//   cold       the request right after load
//   warm       warmUp (bench/pages/bench-worker.ts) after load, then the request
//   cold-idle  the request after an idle pause (a user typing): nothing runs
//   warm-idle  warmUp, then the same pause: its tier-up compiles meanwhile
//   eager      cold, in a Chromium whose V8 compiles every wasm function
//              with its optimizing tier up front (no lazy tier-up): the
//              cost of tier-up is cold minus eager
// A benchmark, not a test.
//
//   node --import tsx bench/ttft.ts [--model qwen2-0.5b:q4_0] [--prompt 128] [--threads 2]
//        [--reps 3] [--idle-ms 3000] [--variants cold,warm,cold-idle,warm-idle,eager] [--out FILE]
import { closeSync, existsSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium, type Browser } from 'playwright-core';

import type { HobTtftResult } from './pages/bench-worker.js';

const { values: opts } = parseArgs({
  options: {
    model: { type: 'string', default: 'qwen2-0.5b:q4_0' },
    prompt: { type: 'string', default: '128' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '3' },
    'idle-ms': { type: 'string', default: '3000' },
    variants: { type: 'string', default: 'cold,warm,cold-idle,warm-idle,eager' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
    out: { type: 'string' },
  },
});
const nPrompt = Number(opts.prompt);
const threads = Number(opts.threads);
const idleMs = Number(opts['idle-ms']);
const variants = opts.variants!.split(',');

const [preset, type] = opts.model!.split(':');
const { buildRandomLlama, makeSpec } = await import('../test/gguf/random-model.js');
mkdirSync(opts.dir!, { recursive: true });
const path = join(opts.dir!, `${preset}-${type}.gguf`);
const spec = makeSpec(preset as never, { weightType: type as never });
if (!existsSync(path)) {
  const fd = openSync(path + '.part', 'w');
  for (const chunk of buildRandomLlama(spec).chunks()) writeSync(fd, chunk);
  closeSync(fd);
  rmSync(path, { force: true });
  const { renameSync } = await import('node:fs');
  renameSync(path + '.part', path);
}
const ids = Array.from({ length: nPrompt }, (_, i) => 3 + ((i * 7919 + 13) % (spec.nVocab - 3)));

const { startServer, filesDir } = await import('../test/browser/harness.js');
const { server, url } = await startServer(true);
const link = join(filesDir, basename(path));
if (!existsSync(link)) symlinkSync(path, link);

const baseArgs = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const launch = (eager: boolean): Promise<Browser> =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: eager ? [...baseArgs, '--js-flags=--no-liftoff --no-wasm-lazy-compilation --no-wasm-dynamic-tiering'] : baseArgs,
  });
const browsers = { normal: await launch(false), eager: variants.includes('eager') ? await launch(true) : undefined };

async function once(variant: string): Promise<HobTtftResult> {
  const browser = variant === 'eager' ? browsers.eager! : browsers.normal;
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${url}/bench/pages/bench.html`);
    await page.waitForFunction(() => document.title === 'ready' || document.title === 'failed', undefined, { timeout: 120_000 });
    const req = {
      url: `/__files/${basename(path)}`, ids, nDecode: 0, threads, settleMs: 0,
      ttft: { idleMs: variant.endsWith('-idle') ? idleMs : 0, warm: variant.startsWith('warm') },
    };
    return await page.evaluate((r) => (window as unknown as Record<string, (x: unknown) => Promise<HobTtftResult>>).benchHob(r), req);
  } finally {
    await context.close();
  }
}

const results: Record<string, HobTtftResult[]> = Object.fromEntries(variants.map((v) => [v, []]));
const loads: number[] = [loadavg()[0]];
try {
  // Page and dev-server warm-up (Vite transforms the page's modules once): not measured.
  await once('cold');
  for (let rep = 0; rep < Number(opts.reps); rep++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + rep) % variants.length];
      const r = await once(v);
      results[v].push(r);
      loads.push(loadavg()[0]);
      console.error(`${v} rep ${rep}: engine ${r.engineMs.toFixed(0)} ms, load ${r.loadMs.toFixed(0)}, warm ${r.warmMs.toFixed(0)}, ` +
        `TTFT ${r.ttftMs.toFixed(0)}, again ${r.secondMs.toFixed(0)}, settled ${r.settledMs.toFixed(0)} (${r.simd}); load avg ${loadavg()[0].toFixed(2)}`);
    }
  }
} finally {
  await browsers.normal.close();
  await browsers.eager?.close();
  await server.close();
  rmSync(filesDir, { recursive: true, force: true });
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// TTFT / settled: each run's cold prompt over the same page's steady state,
// which moves less with the machine's load than either time.
console.log(`| variant | engine ms | load ms | warm-up ms | TTFT ms | warm-up + TTFT | again | settled | TTFT / settled |`);
console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const v of variants) {
  const rs = results[v];
  const m = (k: keyof HobTtftResult) => median(rs.map((r) => r[k] as number)).toFixed(0);
  console.log(`| ${v} | ${m('engineMs')} | ${m('loadMs')} | ${m('warmMs')} | ${m('ttftMs')} | ` +
    `${median(rs.map((r) => r.warmMs + r.ttftMs)).toFixed(0)} | ${m('secondMs')} | ${m('settledMs')} | ` +
    `${median(rs.map((r) => r.ttftMs / r.settledMs)).toFixed(2)} |`);
}
console.log(`\n${opts.model}, prompt ${nPrompt} tokens, ${threads} threads, median of ${opts.reps}; idle ${idleMs} ms; ` +
  `load average from ${Math.min(...loads).toFixed(2)} to ${Math.max(...loads).toFixed(2)} (mean ${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(2)}).`);
if (opts.out) writeFileSync(opts.out, JSON.stringify({ date: new Date().toISOString(), model: opts.model, nPrompt, threads, idleMs, loads, results }, null, 2) + '\n');
process.exit(0);
