// CPU benchmark: Hob's wasm engine and wllama (llama.cpp in wasm), both in
// the same headless Chromium on a cross-origin isolated page, and native
// llama.cpp (node-llama-cpp, CPU only), on the same GGUF files with the same
// thread count, prompt and number of generated tokens, runs interleaved.
// Writes a JSON result and prints a Markdown table: prefill and decode
// tokens/s, Hob's ratio to each peer, and the fraction of the decode
// bandwidth roofline. A benchmark, not a test: it asserts nothing.
//
//   npm run bench -- [--models qwen2-0.5b:q4_0,llama-1b:q4_k,tiny-random]
//        [--threads 2] [--prompt 128] [--decode 64] [--reps 2] [--quick]
//        [--peers hob,hob-simd128,cli,wllama,native] [--out bench/cpu.json] [--dir DIR] [--settle-ms 1500]
//
// The cli peer is `hob bench` (src/node/cli/bench.ts) in a child process of
// this Node, on the same file with the same threads, prompt length and
// number of generated tokens: its pp and tg rates. On Node 20 it runs the
// SIMD128 build (src/core/wasm.ts says why); its rows name the Node and the
// build.
//
// Random models of real shapes come from the test writer (cached in --dir);
// tiny-random is the real llama-2-tiny-random.gguf from the test data.
// node-llama-cpp is resolved from scripts/oracle (cd scripts/oracle && npm ci).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ALL_MODELS = 'qwen2-0.5b:q4_0,qwen2-0.5b:q4_k,qwen2-0.5b:q8_0,llama-1b:q4_0,llama-1b:q4_k,llama-1b:q8_0,tiny-random';

const { values: opts } = parseArgs({
  options: {
    models: { type: 'string' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string' },
    decode: { type: 'string' },
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    peers: { type: 'string', default: 'hob,hob-simd128,cli,wllama,native' },
    out: { type: 'string' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
    'peer-modules': { type: 'string', default: 'scripts/oracle/node_modules' },
    'read-gbps': { type: 'string' },
    // Idle pause between the two warm-ups of the wasm engines (see bench-worker.ts).
    'settle-ms': { type: 'string', default: '1500' },
    // Internal: run native llama.cpp on one model and print one JSON line.
    child: { type: 'boolean', default: false },
    model: { type: 'string' },
    ids: { type: 'string' },
  },
});

const quick = opts.quick;
const threads = Number(opts.threads);
const nPrompt = Number(opts.prompt ?? (quick ? 64 : 128));
const nDecode = Number(opts.decode ?? (quick ? 32 : 64));
const reps = Number(opts.reps ?? (quick ? 1 : 2));
const modelList = (opts.models ?? (quick ? 'qwen2-0.5b:q4_0' : ALL_MODELS)).split(',');
const peers = opts.peers!.split(',');

/** Timings of one run of one backend; rates are derived from these. */
interface Run {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
  threads: number;
  /** Hob: which wasm build ran (mt: SIMD + threads, st: SIMD only). */
  variant?: string;
  /** Hob: its SIMD ('relaxed' where the browser has it; hob-simd128 forces the fallback). */
  simd?: string;
  /** cli: the Node version that ran `hob bench`. */
  node?: string;
  /** Hob: size of the wasm memory after the run (it only grows: the peak). */
  peakHeapBytes?: number;
  /** Hob in the browser: Model.loadAt on the file in the heap (the relaxed build repacks there). */
  modelLoadMs?: number;
  /** wllama: whether its multi-thread build ran. */
  multiThread?: boolean;
}

// ---- native llama.cpp, in a child process --------------------------------

async function runNative(modelPath: string, ids: number[]): Promise<Run> {
  const require = createRequire(pathToFileURL(resolve(opts['peer-modules']!, 'x.js')));
  const { getLlama } = await import(pathToFileURL(require.resolve('node-llama-cpp')).href);
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: ids.length + nDecode + 16, batchSize: 512, threads, flashAttention: false });
  const seq = context.getSequence();
  const step = async (tokens: number[]): Promise<number> => {
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: { token: true } }] : t));
    const res = await seq.controlledEvaluate(input, { temperature: 0 });
    return res[res.length - 1].next.token;
  };
  // Warm-up as for the wasm engines: the whole prompt and a few steps.
  await step(ids);
  for (let i = 0; i < 4; i++) await step([ids[i]]);
  await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
  let t0 = performance.now();
  let token = await step(ids);
  const prefillMs = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < nDecode; i++) token = await step([token]);
  const decodeMs = performance.now() - t0;
  return { prefillTokens: ids.length, prefillMs, decodeTokens: nDecode, decodeMs, threads };
}

if (opts.child) {
  const r = await runNative(opts.model!, JSON.parse(opts.ids!) as number[]);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}

function runNativeChild(modelPath: string, ids: number[]): Run {
  const args = [...process.execArgv, process.argv[1], '--child', '--model', modelPath, '--ids', JSON.stringify(ids), '--threads', String(threads),
    '--decode', String(nDecode), '--peer-modules', opts['peer-modules']!];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`native llama.cpp failed on ${modelPath}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as Run;
}

// ---- the hob CLI, in a child process -------------------------------------

/** One `hob bench` run: its pp and tg tests once each after its own warm-up. */
function runCli(modelPath: string): Run {
  const cli = fileURLToPath(new URL('../src/node/cli.ts', import.meta.url));
  const args = ['--import', 'tsx', cli, 'bench', '--model', modelPath, '--threads', String(threads), '--n-prompt', String(nPrompt),
    '--n-gen', String(nDecode), '--repetitions', '1', '--no-progress', '--json'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`hob bench failed on ${modelPath}:\n${r.stdout}\n${r.stderr}`);
  const j = JSON.parse(r.stdout) as {
    backend: string;
    simd: string;
    threads: number;
    wasmMemoryBytes: number;
    results: { test: string; avgTokensPerSecond: number }[];
  };
  const pp = j.results.find((t) => t.test === `pp${nPrompt}`)!;
  const tg = j.results.find((t) => t.test === `tg${nDecode}`)!;
  // Back to the Run form (token counts and times) from the rates it prints.
  return {
    prefillTokens: nPrompt, prefillMs: (nPrompt / pp.avgTokensPerSecond) * 1000, decodeTokens: nDecode,
    decodeMs: (nDecode / tg.avgTokensPerSecond) * 1000, threads: j.threads, variant: j.backend.replace(/^wasm-/, ''), simd: j.simd,
    node: process.version, peakHeapBytes: j.wasmMemoryBytes,
  };
}

// ---- models ----------------------------------------------------------------

interface BenchModel {
  name: string;
  path: string;
  nVocab: number;
}

async function ensureModel(entry: string): Promise<BenchModel> {
  if (entry === 'tiny-random') {
    const { testdataDir } = await import('../test/browser/harness.js');
    const path = join(testdataDir, 'llama-2-tiny-random.gguf');
    if (!existsSync(path)) throw new Error(`${path} is missing (set HOB_TESTDATA)`);
    return { name: 'llama-2-tiny-random (real file)', path, nVocab: 32000 };
  }
  const [preset, type] = entry.split(':');
  const { buildRandomLlama, makeSpec } = await import('../test/gguf/random-model.js');
  mkdirSync(opts.dir!, { recursive: true });
  const path = join(opts.dir!, `${preset}-${type}.gguf`);
  const spec = makeSpec(preset as never, { weightType: type as never });
  const model = { name: `${preset} ${type.toUpperCase()}`, path, nVocab: spec.nVocab };
  if (existsSync(path)) return model;
  console.error(`writing ${path}`);
  const fd = openSync(path + '.part', 'w');
  try {
    for (const chunk of buildRandomLlama(spec).chunks()) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  spawnSync('mv', [path + '.part', path]);
  return model;
}

/** The same deterministic prompt for every backend: ids spread over the vocabulary. */
function promptIds(nVocab: number): number[] {
  return Array.from({ length: nPrompt }, (_, i) => 3 + ((i * 7919 + 13) % (nVocab - 3)));
}

// ---- memory read bandwidth -------------------------------------------------

/** Read bandwidth of this machine with `threads` threads, GB/s: a small C
 * program (clang or cc) summing a 1 GiB buffer, best of 5 passes. */
function readBandwidth(): number | undefined {
  if (opts['read-gbps']) return Number(opts['read-gbps']);
  const dir = join(tmpdir(), 'hob-bench-bw');
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'bw.c');
  const exe = join(dir, 'bw');
  writeFileSync(src, `#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N (1u << 27)
static uint64_t* buf; static int nt; static uint64_t sink[64];
static void* part(void* arg) {
  long t = (long)arg; size_t n = N / nt, i0 = t * n;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = i0; i < i0 + n; i += 4) { a ^= buf[i]; b ^= buf[i + 1]; c ^= buf[i + 2]; d ^= buf[i + 3]; }
  sink[t] = a ^ b ^ c ^ d; return 0;
}
int main(int argc, char** argv) {
  nt = atoi(argv[1]); buf = malloc(N * 8);
  for (size_t i = 0; i < N; i++) buf[i] = i;
  double best = 0;
  for (int r = 0; r < 6; r++) {
    struct timespec t0, t1; pthread_t th[64];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < nt; t++) pthread_create(&th[t], 0, part, (void*)t);
    for (int t = 0; t < nt; t++) pthread_join(th[t], 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (r > 0 && N * 8.0 / s / 1e9 > best) best = N * 8.0 / s / 1e9;
  }
  printf("%f %llu\\n", best, (unsigned long long)(sink[0] + sink[1]));
  return 0;
}
`);
  for (const cc of ['clang', 'cc', 'gcc']) {
    const c = spawnSync(cc, ['-O2', '-march=native', '-pthread', src, '-o', exe], { encoding: 'utf8' });
    if (c.status !== 0) continue;
    const r = spawnSync(exe, [String(threads)], { encoding: 'utf8' });
    const gbps = Number(r.stdout.split(' ')[0]);
    if (gbps > 0) return gbps;
  }
  console.error('no C compiler for the bandwidth probe; pass --read-gbps to get roofline fractions');
  return undefined;
}

// ---- the browser side ------------------------------------------------------

const { startServer, launchBrowser, filesDir } = await import('../test/browser/harness.js');
const { server, url } = await startServer(true);
const browser = await launchBrowser();

async function runInBrowser(peer: 'hob' | 'hob-simd128' | 'wllama', model: BenchModel, ids: number[]): Promise<Run> {
  const served = `${basename(model.path)}`;
  const link = join(filesDir, served);
  if (!existsSync(link)) symlinkSync(model.path, link);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${url}/bench/pages/bench.html`);
    await page.waitForFunction(() => document.title === 'ready' || document.title === 'failed', undefined, { timeout: 120_000 });
    if (!(await page.evaluate(() => (window as unknown as { isolated: boolean }).isolated))) throw new Error('benchmark page is not cross-origin isolated');
    const req = { url: `/__files/${served}`, ids, nDecode, threads, settleMs: Number(opts['settle-ms']), simd: peer === 'hob-simd128' ? 'simd128' : undefined };
    const fn = peer === 'wllama' ? 'benchWllama' : 'benchHob';
    return await page.evaluate(
      ([f, r]) => (window as unknown as Record<string, (x: unknown) => Promise<Run>>)[f as string](r),
      [fn, req] as const,
    );
  } catch (e) {
    throw new Error(`${peer} failed on ${model.name}: ${(e as Error).message}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`);
  } finally {
    await page.close();
  }
}

// ---- the run ---------------------------------------------------------------

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const loadMs = (runs: Run[]) => (runs.some((r) => r.modelLoadMs !== undefined) ? median(runs.map((r) => r.modelLoadMs ?? NaN)) : undefined);
const rate = (runs: Run[], k: 'prefill' | 'decode') =>
  runs.length ? median(runs.map((r) => (k === 'prefill' ? r.prefillTokens / (r.prefillMs / 1000) : r.decodeTokens / (r.decodeMs / 1000)))) : NaN;

// Other work on the machine shows in every figure: the load is recorded.
const loadBefore = loadavg()[0];
const readGBps = readBandwidth();
const cpuModel = /model name\s*:\s*(.*)/.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? cpus()[0]?.model ?? 'unknown';
const machine = `${cpuModel}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`;
console.error(`machine: ${machine}; read bandwidth ${readGBps?.toFixed(1) ?? '?'} GB/s with ${threads} threads`);

const rows: Record<string, unknown>[] = [];
try {
  // Every model first, so a missing file fails before any run.
  const models: BenchModel[] = [];
  for (const entry of modelList) models.push(await ensureModel(entry));
  for (const model of models) {
    const ids = promptIds(model.nVocab);
    const fileBytes = statSync(model.path).size;
    const runs: Record<string, Run[]> = { hob: [], 'hob-simd128': [], cli: [], wllama: [], native: [] };
    for (let rep = 0; rep < reps; rep++) {
      // Interleaved, the order rotating so no backend always runs first.
      const order = peers.map((_, i) => peers[(i + rep) % peers.length]);
      for (const p of order) {
        const r = p === 'native' ? runNativeChild(model.path, ids)
          : p === 'cli' ? runCli(model.path)
          : await runInBrowser(p as 'hob' | 'hob-simd128' | 'wllama', model, ids);
        runs[p].push(r);
        console.error(`${model.name} ${p} rep ${rep}: prefill ${(r.prefillTokens / (r.prefillMs / 1000)).toFixed(1)} tok/s, ` +
          `decode ${(r.decodeTokens / (r.decodeMs / 1000)).toFixed(1)} tok/s`);
      }
    }
    const roofline = readGBps ? (readGBps * 1e9) / fileBytes : undefined;
    const hob = { prefill: rate(runs.hob, 'prefill'), decode: rate(runs.hob, 'decode') };
    const fallback = { prefill: rate(runs['hob-simd128'], 'prefill'), decode: rate(runs['hob-simd128'], 'decode') };
    const wllama = { prefill: rate(runs.wllama, 'prefill'), decode: rate(runs.wllama, 'decode') };
    const cli = { prefill: rate(runs.cli, 'prefill'), decode: rate(runs.cli, 'decode') };
    const native = { prefill: rate(runs.native, 'prefill'), decode: rate(runs.native, 'decode') };
    rows.push({
      model: model.name,
      fileBytes,
      hob: {
        prefillTokensPerSecond: hob.prefill, decodeTokensPerSecond: hob.decode, variant: runs.hob[0]?.variant, simd: runs.hob[0]?.simd,
        peakHeapBytes: runs.hob[0]?.peakHeapBytes, modelLoadMs: loadMs(runs.hob),
      },
      hobSimd128: {
        prefillTokensPerSecond: fallback.prefill, decodeTokensPerSecond: fallback.decode, peakHeapBytes: runs['hob-simd128'][0]?.peakHeapBytes,
        modelLoadMs: loadMs(runs['hob-simd128']),
      },
      cli: {
        prefillTokensPerSecond: cli.prefill, decodeTokensPerSecond: cli.decode, node: runs.cli[0]?.node, variant: runs.cli[0]?.variant,
        simd: runs.cli[0]?.simd, peakHeapBytes: runs.cli[0]?.peakHeapBytes,
      },
      wllama: { prefillTokensPerSecond: wllama.prefill, decodeTokensPerSecond: wllama.decode, multiThread: runs.wllama[0]?.multiThread },
      native: { prefillTokensPerSecond: native.prefill, decodeTokensPerSecond: native.decode },
      ratioToNative: { prefill: hob.prefill / native.prefill, decode: hob.decode / native.decode },
      simd128RatioToNative: { prefill: fallback.prefill / native.prefill, decode: fallback.decode / native.decode },
      cliRatioToNative: { prefill: cli.prefill / native.prefill, decode: cli.decode / native.decode },
      ratioToWllama: { prefill: hob.prefill / wllama.prefill, decode: hob.decode / wllama.decode },
      decodeRooflineTokensPerSecond: roofline,
      decodeRooflineFraction: roofline ? { hob: hob.decode / roofline, wllama: wllama.decode / roofline, native: native.decode / roofline } : undefined,
      runs,
    });
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(filesDir, { recursive: true, force: true });
}

const wllamaVersion = JSON.parse(readFileSync('node_modules/@wllama/wllama/package.json', 'utf8')).version as string;
const nativeVersion = (() => {
  try {
    const require = createRequire(pathToFileURL(resolve(opts['peer-modules']!, 'x.js')));
    return JSON.parse(readFileSync(join(dirname(require.resolve('node-llama-cpp')), '..', 'package.json'), 'utf8')).version as string;
  } catch {
    return 'unknown';
  }
})();
const result = {
  date: new Date().toISOString(),
  machine,
  browser: browser.version(),
  threads,
  promptTokens: nPrompt,
  settleMs: Number(opts['settle-ms']),
  decodeTokens: nDecode,
  reps,
  readGBps,
  loadAverage: { before: loadBefore, after: loadavg()[0] },
  peers: { wllama: `@wllama/wllama ${wllamaVersion}`, native: `node-llama-cpp ${nativeVersion} (CPU)` },
  rows,
};
const out = opts.out ?? (quick ? join(tmpdir(), 'hob-bench-cpu-quick.json') : 'bench/cpu.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.error(`wrote ${out}`);

// Model.loadAt times of both builds: the relaxed one repacks, the SIMD128 one does not.
for (const r of rows as any[]) {
  if (r.hob.modelLoadMs !== undefined && r.hobSimd128.modelLoadMs !== undefined) {
    console.log(`${r.model}: Model.loadAt ${r.hob.modelLoadMs.toFixed(0)} ms (${r.hob.simd}, repacking) vs ${r.hobSimd128.modelLoadMs.toFixed(0)} ms (simd128)`);
  }
}
const f = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d));
const mib = (n: number | undefined) => (n === undefined ? '–' : `${Math.round(n / 2 ** 20)}`);
console.log(`| model | Hob prefill | wllama | native | Hob/native | Hob decode | wllama | native | Hob/native | Hob/wllama (pre, dec) | Hob roofline | peak heap MiB |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`);
for (const r of rows as any[]) {
  console.log(`| ${r.model} | ${f(r.hob.prefillTokensPerSecond)} | ${f(r.wllama.prefillTokensPerSecond)} | ${f(r.native.prefillTokensPerSecond)} | ` +
    `${f(r.ratioToNative.prefill, 2)} | ${f(r.hob.decodeTokensPerSecond, 1)} | ${f(r.wllama.decodeTokensPerSecond, 1)} | ` +
    `${f(r.native.decodeTokensPerSecond, 1)} | ${f(r.ratioToNative.decode, 2)} | ${f(r.ratioToWllama.prefill, 1)}, ${f(r.ratioToWllama.decode, 1)} | ` +
    `${r.decodeRooflineFraction ? f(r.decodeRooflineFraction.hob, 2) : '–'} | ${mib(r.hob.peakHeapBytes)} |`);
  // The fallback build (SIMD128 only: browsers without relaxed SIMD), when run.
  if (!Number.isNaN(r.hobSimd128.prefillTokensPerSecond)) {
    console.log(`| ${r.model}, Hob simd128 | ${f(r.hobSimd128.prefillTokensPerSecond)} | | | ${f(r.simd128RatioToNative.prefill, 2)} | ` +
      `${f(r.hobSimd128.decodeTokensPerSecond, 1)} | | | ${f(r.simd128RatioToNative.decode, 2)} | | | ${mib(r.hobSimd128.peakHeapBytes)} |`);
  }
  // `hob bench` in Node, against the same native runs.
  if (!Number.isNaN(r.cli.prefillTokensPerSecond)) {
    console.log(`| ${r.model}, Hob CLI (Node ${String(r.cli.node).replace(/^v/, '')}, ${r.cli.simd}) | ${f(r.cli.prefillTokensPerSecond)} | | | ${f(r.cliRatioToNative.prefill, 2)} | ` +
      `${f(r.cli.decodeTokensPerSecond, 1)} | | | ${f(r.cliRatioToNative.decode, 2)} | | | ${mib(r.cli.peakHeapBytes)} |`);
  }
}
console.log(`\nHob rows: the build the browser picks (${(rows as any[])[0]?.hob.simd ?? '?'}); "Hob simd128" rows: the fallback build; ` +
  `"Hob CLI" rows: \`hob bench\` (pp${nPrompt}, tg${nDecode}) in Node ${process.version}, its build named.`);
console.log(`${machine}; ${threads} threads; prompt ${nPrompt} tokens, decode ${nDecode}; tokens/s, median of ${reps}; ` +
  `read bandwidth ${f(readGBps, 1)} GB/s; load average ${f(loadBefore, 1)} before, ${f(result.loadAverage.after, 1)} after; ` +
  `Chromium ${result.browser}; ${result.peers.wllama}; ${result.peers.native}.`);
process.exit(0);
