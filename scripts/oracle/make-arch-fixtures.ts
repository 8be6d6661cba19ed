// Regenerates test/fixtures/arch-generation.json: llama.cpp's (node-llama-cpp's)
// prompt tokens, greedy continuations and top-10 relative logits for a tiny
// random model of every architecture Hob runs (test/gguf/arch-models.ts).
//   npx tsx scripts/oracle/make-arch-fixtures.ts        (from the repository root)
//   ... --only gemma2-f32,qwen2-q8_0                   (just those; keeps the rest)
//   ... --search-seeds 8 [--only ...]                  (prints the best seeds; writes nothing)
//
// Logits: with temperature 0 node-llama-cpp keeps the whole vocabulary and
// `probabilities: true` returns the float32 softmax of the raw logits, so
// ln p_i − ln p_max recovers logit_i − logit_max (see make-fixtures.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama, type Token } from 'node-llama-cpp';
import { makeArchSpec, writeArchModel, type ArchName, type ArchSpec } from '../../test/gguf/arch-models';

const GENERATOR = 'node-llama-cpp 3.21.1';
const CONTEXT_SIZE = 256;
const N_GENERATE = 48;
const TOP_K = 10;

const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/arch-generation.json');

const PROMPTS = [
  'The quick brown fox jumps over the lazy dog',
  'Once upon a time, there was a little girl who lived in a house',
  'In 2024, 3 of the 10 tests failed (30%): "why?" she asked.',
];

// One F32 model per architecture, and Q8_0 for two of them. Seeds were
// chosen from 1..5 (`--search-seeds 5` prints the gaps and the distinct
// greedy ids) for a wide minimum top-two logit gap over the greedy runs, so
// comparisons stay clear of near-ties. The tied-head gemmas settle on a
// few tokens whatever the seed; their logits are compared at every step.
const model = (arch: ArchName, seed: number, o: Partial<ArchSpec> = {}, variant = arch): { name: string; spec: ArchSpec } => {
  const name = `${variant}-${o.weightType ?? 'f32'}`;
  // llama.cpp looks for Phi-3's special tokens when general.name says phi3.
  return { name, spec: makeArchSpec(arch, { name: `hob-tiny-${name.replace('phi3', 'phi')}`, seed, ...o }) };
};
// LongRoPE as Phi-3.5-mini has it (attention factor sqrt(1 + ln 32 / ln 4096)),
// with an original context below the fixtures' 256 cells (long factors) or
// above it (short ones).
const longRope = (originalContext: number) => ({ originalContext, attnFactor: 1.1902, shortStep: 0.05, longStep: 0.6 });
const MODELS = [
  model('qwen2', 1),
  model('qwen3', 3),
  model('phi3', 1),
  model('gemma2', 1),
  model('gemma3', 2),
  model('qwen2', 4, { weightType: 'q8_0' }),
  model('gemma3', 2, { weightType: 'q8_0' }),
  model('smollm3', 1),
  model('granite', 1),
  model('olmo2', 1),
  model('phi3', 1, { longRope: longRope(128) }, 'phi3-longrope'),
  model('phi3', 1, { longRope: longRope(4096) }, 'phi3-longrope-short'),
  // Llama 3.x: frequency factors from its scaling (original context 64, so
  // the tiny heads get all three kinds of factor); Mistral-Nemo's heads
  // wider than n_embd / n_head.
  model('llama', 1, { ropeFreqBase: 500000, llama3Rope: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } }, 'llama3-rope'),
  model('llama', 1, { headDim: 32, ropeFreqBase: 1000000 }, 'mistral-nemo'),
];

interface Step {
  /** [token id, logit − max logit], best first. */
  top: [number, number][];
  /** Top-two logit gap (how far the greedy choice is from a tie). */
  gap: number;
}
interface Run {
  prompt: string;
  promptIds: number[];
  greedy: number[];
  steps: Step[];
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6 + 0;

async function generate(llama: Llama, modelPath: string, nVocab: number): Promise<Run[]> {
  const m = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await m.createContext({
    contextSize: CONTEXT_SIZE,
    batchSize: CONTEXT_SIZE,
    threads: 2,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F16',
    experimentalKvCacheValueType: 'F16',
  });
  const sequence = context.getSequence();
  const runs: Run[] = [];
  try {
    for (const prompt of PROMPTS) {
      const bos = m.tokens.shouldPrependBosToken && m.tokens.bos != null ? [m.tokens.bos] : [];
      const promptIds: Token[] = [...bos, ...m.tokenize(prompt)];
      const greedy: number[] = [];
      const steps: Step[] = [];
      const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, { temperature: 0, yieldEogToken: true });
      for await (const out of it) {
        const probs = [...out.probabilities.entries()];
        if (probs.length !== nVocab) throw new Error(`${modelPath}: ${probs.length} probabilities for ${nVocab} tokens`);
        const lnMax = Math.log(probs[0][1]);
        const top = probs.slice(0, TOP_K).map(([id, p]): [number, number] => [id, round6(Math.log(p) - lnMax)]);
        if (top.some(([, r]) => !Number.isFinite(r))) throw new Error(`${modelPath}: a top-${TOP_K} probability underflowed`);
        if (out.token !== top[0][0] && top[1][1] !== 0) {
          throw new Error(`${modelPath}: sampled ${out.token} but the largest logit is token ${top[0][0]}`);
        }
        greedy.push(out.token);
        steps.push({ top, gap: -top[1][1] });
        if (greedy.length === N_GENERATE) break;
      }
      if (greedy.length !== N_GENERATE) throw new Error(`${modelPath}: generation stopped after ${greedy.length} tokens`);
      runs.push({ prompt, promptIds: [...promptIds], greedy, steps });
      await sequence.clearHistory();
    }
  } finally {
    await context.dispose();
    await m.dispose();
  }
  return runs;
}

/** JSON with one line per leaf container (a step, an id list), so diffs stay readable. */
function format(v: unknown, indent = ''): string {
  const depth = (x: unknown): number =>
    Array.isArray(x) ? 1 + Math.max(0, ...x.map(depth))
    : x !== null && typeof x === 'object' ? 1 + Math.max(0, ...Object.values(x).map(depth))
    : 0;
  if (v === null || typeof v !== 'object' || depth(v) <= 3) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + format(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${format(x, inner)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

const minGap = (runs: Run[]): number => Math.min(...runs.flatMap((r) => r.steps.map((s) => s.gap)));

function writeModel(dir: string, spec: ArchSpec): { path: string; sha256: string } {
  const bytes = writeArchModel(spec);
  const path = join(dir, `${spec.name}-${spec.seed}.gguf`);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

interface FixtureModel {
  name: string;
  source: { kind: 'writer'; spec: ArchSpec; sha256: string };
  contextSize: number;
  kvCacheType: 'f16';
  runs: Run[];
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' }, only: { type: 'string' } } });
  const only = opts.only ? opts.only.split(',') : null;
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-arch-fixtures-'));
  const models: FixtureModel[] = [];
  const summary: string[] = [];
  try {
    if (opts['search-seeds']) {
      const n = Number(opts['search-seeds']);
      for (const { name, spec } of MODELS) {
        if (only && !only.includes(name)) continue;
        let best = { seed: 0, gap: -1 };
        const tried: string[] = [];
        for (let seed = 1; seed <= n; seed++) {
          const { path } = writeModel(tmp, { ...spec, seed });
          const runs = await generate(llama, path, spec.nVocab);
          const gap = minGap(runs);
          const distinct = runs.map((r) => new Set(r.greedy).size).join('/');
          tried.push(`${seed}:${gap.toFixed(4)}(${distinct})`);
          if (gap > best.gap) best = { seed, gap };
        }
        process.stdout.write(`${name.padEnd(14)} best seed ${best.seed} (min gap ${best.gap.toFixed(4)})  ${tried.join(' ')}\n`);
      }
      return;
    }
    const kept = new Map<string, FixtureModel>();
    if (only && existsSync(outPath)) {
      for (const m of (JSON.parse(readFileSync(outPath, 'utf8')) as { models: FixtureModel[] }).models) kept.set(m.name, m);
    }
    for (const { name, spec } of MODELS) {
      const old = only && !only.includes(name) ? kept.get(name) : undefined;
      if (old) {
        models.push(old);
        continue;
      }
      const t = performance.now();
      const { path, sha256 } = writeModel(tmp, spec);
      const runs = await generate(llama, path, spec.nVocab);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      const gaps = runs.flatMap((r) => r.steps.map((s) => s.gap)).sort((a, b) => a - b);
      const distinct = runs.map((r) => new Set(r.greedy).size).join('/');
      summary.push(
        `${name.padEnd(14)} min gap ${gaps[0].toFixed(6)}  median ${gaps[gaps.length >> 1].toFixed(3)}` +
          `  distinct greedy ids ${distinct}  ${Math.round(performance.now() - t)} ms`,
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  const json = format({ generator: GENERATOR, models }) + '\n';
  writeFileSync(outPath, json);
  process.stdout.write(`${summary.join('\n')}\nwrote ${outPath} (${json.length} bytes) in ${Math.round(performance.now() - t0)} ms\n`);
}

await main();
