// Regenerates test/fixtures/generation.json: llama.cpp's (node-llama-cpp's)
// prompt tokens, greedy continuations and top-10 relative logits for the
// shared tiny-random GGUF and for models written by our own GGUF writer.
//   npx tsx scripts/oracle/make-fixtures.ts      (from the repository root)
//   ... --only tiny-q4_1,tiny256-q4_k            (just those; keeps the rest)
//
// node-llama-cpp exposes no raw logits, but with temperature 0 its sampler
// keeps the whole vocabulary and `probabilities: true` returns the float32
// softmax of the raw logits (AddonContext.cpp, SampleToken), so
// ln p_i − ln p_max recovers logit_i − logit_max to about 1e-6.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama, type Token } from 'node-llama-cpp';
import { makeSpec, writeRandomLlama, type LlamaSpec } from '../../test/gguf/random-model';

const GENERATOR = 'node-llama-cpp 3.21.1';
const CONTEXT_SIZE = 512;
const N_GENERATE = 128;
const TOP_K = 10;
const SHARED_VOCAB = 32000; // llama-2-tiny-random.gguf: the full Llama 2 vocabulary

const root = resolve(import.meta.dirname, '../..');
const testdata = process.env.HOB_TESTDATA ?? resolve(root, 'test/data');
const outPath = join(root, 'test/fixtures/generation.json');

const PROMPTS = [
  'The quick brown fox jumps over the lazy dog',
  'Once upon a time, there was a little girl who lived in a house',
  'In 2024, 3 of the 10 tests failed (30%): "why?" she asked.',
];

type Source = { kind: 'shared'; file: string } | { kind: 'writer'; spec: LlamaSpec; sha256: string };

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

// Writer models: the tiny preset in every supported weight type and a
// non-default RoPE base, all with an untied output head (a tied head on such
// small blocks just repeats the input token). The K-quants need rows of 256,
// so their models are 256 wide with n_ff 768; their block weights' std is
// halved and the head's too, which keeps the per-layer gain (std·√n_embd)
// and the logits' spread those of the 64-wide preset. Each seed is the
// best by the minimum top-two logit gap over the greedy runs, of 1..16 for
// the first five models and of fewer for the rest, which take far longer to
// run (`--search-seeds N --only NAME,...` reproduces a choice), so greedy
// comparisons stay clear of near-ties.
const tiny = (name: string, seed: number, o: Partial<LlamaSpec>): { name: string; spec: LlamaSpec } => ({
  name,
  spec: makeSpec('tiny', { name, seed, ...o }),
});
const WIDE: Partial<LlamaSpec> = { nEmbd: 256, nFf: 768, std: 0.02, outputStd: 0.25 };
const WRITER_MODELS = [
  tiny('tiny-f32', 9, { weightType: 'f32' }),
  tiny('tiny-f16', 15, { weightType: 'f16' }),
  tiny('tiny-bf16-rope500k', 15, { weightType: 'bf16', ropeFreqBase: 500000 }),
  tiny('tiny-q8_0', 7, { weightType: 'q8_0' }),
  tiny('tiny-q4_0', 14, { weightType: 'q4_0' }),
  tiny('tiny-q4_1', 5, { weightType: 'q4_1' }),
  tiny('tiny-q5_0', 6, { weightType: 'q5_0' }),
  tiny('tiny-q5_1', 1, { weightType: 'q5_1' }),
  tiny('tiny-iq4_nl', 2, { weightType: 'iq4_nl' }),
  tiny('tiny256-q2_k', 1, { ...WIDE, weightType: 'q2_k' }),
  tiny('tiny256-q3_k', 2, { ...WIDE, weightType: 'q3_k' }),
  tiny('tiny256-q4_k', 2, { ...WIDE, weightType: 'q4_k' }),
  tiny('tiny256-q5_k', 2, { ...WIDE, weightType: 'q5_k' }),
  tiny('tiny256-q6_k', 2, { ...WIDE, weightType: 'q6_k' }),
];

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6 + 0; // + 0 turns −0 into 0

async function generate(llama: Llama, modelPath: string, nVocab: number, prompts: string[]): Promise<Run[]> {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: CONTEXT_SIZE,
    batchSize: CONTEXT_SIZE,
    threads: 2,
    flashAttention: false,
    // llama.cpp's default KV cache type, stated so the fixture records it.
    experimentalKvCacheKeyType: 'F16',
    experimentalKvCacheValueType: 'F16',
  });
  const sequence = context.getSequence();
  const runs: Run[] = [];
  try {
    for (const prompt of prompts) {
      const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
      const promptIds: Token[] = [...bos, ...model.tokenize(prompt)];
      const greedy: number[] = [];
      const steps: Step[] = [];
      const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, { temperature: 0, yieldEogToken: true });
      for await (const out of it) {
        // The Map is in llama.cpp's order: sorted by logit, best first.
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
    await model.dispose();
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

/** Writes a writer model to `dir`; returns its path and the sha256 of its bytes. */
function writeModel(dir: string, spec: LlamaSpec): { path: string; sha256: string } {
  const bytes = writeRandomLlama(spec);
  const path = join(dir, `${spec.name}-${spec.seed}.gguf`);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** `--search-seeds N`: for each writer model, the seed in 1..N whose greedy
 *  runs have the widest minimum top-two gap. Prints; writes no fixture. */
async function searchSeeds(llama: Llama, dir: string, n: number, only: string[] | null): Promise<void> {
  for (const { name, spec } of WRITER_MODELS) {
    if (only && !only.includes(name)) continue;
    let best = { seed: 0, gap: -1 };
    const tried: string[] = [];
    for (let seed = 1; seed <= n; seed++) {
      const { path } = writeModel(dir, { ...spec, seed });
      const gap = minGap(await generate(llama, path, spec.nVocab, PROMPTS));
      tried.push(`${seed}:${gap.toFixed(4)}`);
      if (gap > best.gap) best = { seed, gap };
    }
    process.stdout.write(`${name.padEnd(20)} best seed ${best.seed} (min gap ${best.gap.toFixed(4)})  ${tried.join(' ')}\n`);
  }
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' }, only: { type: 'string' } } });
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-fixtures-'));
  const models: { name: string; source: Source; contextSize: number; kvCacheType: 'f16'; runs: Run[] }[] = [];
  const summary: string[] = [];
  const note = (name: string, runs: Run[], ms: number): void => {
    const gaps = runs.flatMap((r) => r.steps.map((s) => s.gap)).sort((a, b) => a - b);
    const distinct = runs.map((r) => new Set(r.greedy).size).join('/');
    summary.push(
      `${name.padEnd(20)} min gap ${gaps[0].toFixed(6)}  5th percentile ${gaps[Math.floor(gaps.length / 20)].toFixed(4)}` +
        `  median ${gaps[gaps.length >> 1].toFixed(3)}  distinct greedy ids ${distinct}  ${Math.round(ms)} ms`,
    );
  };
  try {
    if (opts['search-seeds']) {
      return await searchSeeds(llama, tmp, Number(opts['search-seeds']), opts.only ? opts.only.split(',') : null);
    }

    // `--only NAME,...` regenerates those models and keeps the others'
    // entries from the current fixture file.
    const only = opts.only ? opts.only.split(',') : null;
    const kept = new Map<string, (typeof models)[number]>();
    if (only && existsSync(outPath)) {
      for (const m of (JSON.parse(readFileSync(outPath, 'utf8')) as { models: typeof models }).models) kept.set(m.name, m);
    }
    const keep = (name: string): boolean => {
      const m = only && !only.includes(name) ? kept.get(name) : undefined;
      if (m) models.push(m);
      return m !== undefined;
    };

    const shared = 'llama-2-tiny-random.gguf';
    let t = performance.now();
    if (!keep('llama-2-tiny-random')) {
      const sharedRuns = await generate(llama, join(testdata, shared), SHARED_VOCAB, PROMPTS);
      const source: Source = { kind: 'shared', file: shared };
      models.push({ name: 'llama-2-tiny-random', source, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs: sharedRuns });
      note('llama-2-tiny-random', sharedRuns, performance.now() - t);
    }

    for (const { name, spec } of WRITER_MODELS) {
      if (keep(name)) continue;
      t = performance.now();
      const { path, sha256 } = writeModel(tmp, spec);
      const runs = await generate(llama, path, spec.nVocab, PROMPTS);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      note(name, runs, performance.now() - t);
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
