// hob bench: llama-bench's two tests on the wasm engine. pp N evaluates N
// random tokens in one batch into an empty cache; tg N evaluates one token
// and then N more one at a time, as generation does. Each test runs once to
// warm up and then R times; the table shows mean ± sd tokens per second.
import type { StepLogits } from '../../core/logits.js';
import { Session } from '../../core/session.js';
import { SamplerChain } from '../../sampling/chain.js';
import { modelOptions, num, parseCommand } from './args.js';
import { openModel } from './model.js';
import { formatBytes } from './progress.js';

export interface BenchResult {
  test: string;
  nTokens: number;
  samplesTokensPerSecond: number[];
  avgTokensPerSecond: number;
  stddevTokensPerSecond: number;
}

/** A small fixed-seed generator: the same random tokens on every run. */
function randomTokens(n: number, nVocab: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out.push((s >>> 0) % nVocab);
  }
  return out;
}

function stats(samples: number[]): { avg: number; sd: number } {
  const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
  const sd = samples.length > 1 ? Math.sqrt(samples.reduce((a, b) => a + (b - avg) ** 2, 0) / (samples.length - 1)) : 0;
  return { avg, sd };
}

export async function benchCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    'n-prompt': { type: 'string', short: 'p' },
    'n-gen': { type: 'string', short: 'n' },
    repetitions: { type: 'string', short: 'r' },
    json: { type: 'boolean' },
  });
  const nPrompt = num(o['n-prompt'], 'n-prompt', 128, { min: 0, integer: true });
  const nGen = num(o['n-gen'], 'n-gen', 32, { min: 0, integer: true });
  const reps = num(o.repetitions, 'repetitions', 3, { min: 1, integer: true });
  const nCtx = num(o['ctx-size'], 'ctx-size', Math.max(nPrompt, nGen + 1, 16), { min: 1, integer: true });
  const m = await openModel(o, positionals, { contextSize: nCtx });
  const { model, engine } = m;
  const session = Session.create(model, { nCtx, nThreads: m.threads });
  // Random ids but never end-of-generation tokens, so nothing special happens mid-test.
  const tokens = randomTokens(Math.max(nPrompt, nGen + 1), model.info.nVocab, 42).map((t) => (model.isEog(t) ? 0 : t));
  const results: BenchResult[] = [];
  const chain = new SamplerChain({ temperature: 0 }, { nVocab: model.info.nVocab, nCtx });
  // Greedy: with the head on the GPU, a step reads back its best logit only.
  const pick = chain.gpuPick();

  const run = async (test: string, n: number, once: () => Promise<void>) => {
    session.truncate(0);
    await once(); // warm-up
    const samples: number[] = [];
    for (let r = 0; r < reps; r++) {
      session.truncate(0);
      const t0 = performance.now();
      await once();
      samples.push(n / ((performance.now() - t0) / 1000));
    }
    const { avg, sd } = stats(samples);
    results.push({ test, nTokens: n, samplesTokensPerSecond: samples, avgTokensPerSecond: avg, stddevTokensPerSecond: sd });
  };

  if (nPrompt > 0) await run(`pp${nPrompt}`, nPrompt, async () => void (await session.eval(tokens.slice(0, nPrompt))));
  if (nGen > 0) {
    // nGen evaluations of one token each, as llama-bench's tg does (not one
    // more for a first token), so the rate compares with its tg nGen.
    await run(`tg${nGen}`, nGen, async () => {
      for (let i = 0; i < nGen; i++) {
        const logits: StepLogits = await session.eval([tokens[i]], { pick });
        // Sampling is part of generating a token.
        await chain.sample(logits);
      }
    });
  }
  const row = {
    model: model.info.name || m.path,
    architecture: model.info.architecture,
    sizeBytes: model.info.fileBytes,
    backend: `wasm-${engine.variant}`,
    // 'relaxed' on Node 22+, 'simd128' on Node 20 (src/core/wasm.ts says why).
    simd: engine.simd,
    threads: session.nThreads,
    gpuLayers: model.loadReport?.gpuLayers ?? 0,
    // The wasm memory at the end: it never shrinks, so also its peak (the
    // figure bench/cpu.ts reports for the browser's runs).
    wasmMemoryBytes: engine.heap().buffer.byteLength,
  };
  session.free();
  m.close();

  if (o.json) {
    process.stdout.write(JSON.stringify({ ...row, results }, null, 2) + '\n');
    return;
  }
  const cols = ['model', 'size', 'backend', 'threads', 'ngl', 'test', 't/s'];
  const lines = results.map((r) => [
    `${row.model} (${row.architecture})`,
    formatBytes(row.sizeBytes),
    `${row.backend} ${row.simd}`,
    String(row.threads),
    String(row.gpuLayers),
    r.test,
    `${r.avgTokensPerSecond.toFixed(2)} ± ${r.stddevTokensPerSecond.toFixed(2)}`,
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  process.stdout.write(
    [fmt(cols), `|${widths.map((w, i) => (i >= 3 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|')}|`, ...lines.map(fmt)].join('\n') + '\n',
  );
}
