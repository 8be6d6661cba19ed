// Regenerates test/fixtures/arch-generation.json: llama.cpp's (node-llama-cpp's)
// prompt tokens, greedy continuations and top-10 relative logits for a tiny
// random model of every architecture Hob runs (test/gguf/arch-models.ts).
//   npx tsx scripts/oracle/make-arch-fixtures.ts        (from the repository root)
//   ... --only gemma2-f32,qwen2-q8_0                   (just those; keeps the rest)
//   ... --search-seeds 8 [--only ...]                  (prints the best seeds; writes nothing)
// (How the logits are recovered: greedy-oracle.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama } from 'node-llama-cpp';
import { makeArchSpec, writeArchModel, type ArchName, type ArchSpec } from '../../test/gguf/arch-models';
import {
  formatFixture, gapSummary, GENERATOR, greedyRuns, keptModels, searchSeeds, withSequence, writeModelFile,
  type FixtureModel, type Run,
} from './greedy-oracle';

const CONTEXT_SIZE = 256;
const N_GENERATE = 48;

const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/arch-generation.json');

// One F32 model per architecture, and Q8_0 for two of them. Seeds were
// chosen from 1..5 (`--search-seeds 5` prints the gaps and the distinct
// greedy ids) for a wide minimum top-two logit gap over the greedy runs, so
// comparisons stay clear of near-ties. The tied-head gemmas settle on a
// few tokens whatever the seed; their logits are compared at every step.
const model = (arch: ArchName, seed: number, o: Partial<ArchSpec> = {}, variant: string = arch): { name: string; spec: ArchSpec } => {
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

type Source = { kind: 'writer'; spec: ArchSpec; sha256: string };

const runsOf = (llama: Llama, path: string, spec: ArchSpec): Promise<Run[]> =>
  withSequence(llama, path, { contextSize: CONTEXT_SIZE, threads: 2 }, (seq) => greedyRuns(seq, spec.nVocab, N_GENERATE, path));

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' }, only: { type: 'string' } } });
  const only = opts.only ? opts.only.split(',') : null;
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-arch-fixtures-'));
  const models: FixtureModel<Source>[] = [];
  const summary: string[] = [];
  try {
    if (opts['search-seeds']) {
      return await searchSeeds(MODELS, Number(opts['search-seeds']), only, (spec) =>
        runsOf(llama, writeModelFile(tmp, spec, writeArchModel(spec)).path, spec));
    }
    const kept = keptModels<FixtureModel<Source>>(outPath, only);
    for (const { name, spec } of MODELS) {
      const old = kept.get(name);
      if (old) {
        models.push(old);
        continue;
      }
      const t = performance.now();
      const { path, sha256 } = writeModelFile(tmp, spec, writeArchModel(spec));
      const runs = await runsOf(llama, path, spec);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      summary.push(gapSummary(name, runs, performance.now() - t));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  const json = formatFixture({ generator: GENERATOR, models }) + '\n';
  writeFileSync(outPath, json);
  process.stdout.write(`${summary.join('\n')}\nwrote ${outPath} (${json.length} bytes) in ${Math.round(performance.now() - t0)} ms\n`);
}

await main();
