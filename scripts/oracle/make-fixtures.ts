// Regenerates test/fixtures/generation.json: llama.cpp's (node-llama-cpp's)
// prompt tokens, greedy continuations and top-10 relative logits for the
// shared tiny-random GGUF and for models written by our own GGUF writer.
//   npx tsx scripts/oracle/make-fixtures.ts      (from the repository root)
//   ... --only tiny-q4_1,tiny256-q4_k            (just those; keeps the rest)
// (How the logits are recovered: greedy-oracle.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama } from 'node-llama-cpp';
import { makeSpec, writeRandomLlama, type LlamaSpec } from '../../test/gguf/random-model';
import {
  formatFixture, gapSummary, GENERATOR, greedyRuns, keptModels, searchSeeds, withSequence, writeModelFile,
  type FixtureModel, type Run,
} from './greedy-oracle';

const CONTEXT_SIZE = 512;
const N_GENERATE = 128;
const SHARED_VOCAB = 32000; // llama-2-tiny-random.gguf: the full Llama 2 vocabulary

const root = resolve(import.meta.dirname, '../..');
const testdata = process.env.HOB_TESTDATA ?? resolve(root, 'test/data');
const outPath = join(root, 'test/fixtures/generation.json');

type Source = { kind: 'shared'; file: string } | { kind: 'writer'; spec: LlamaSpec; sha256: string };

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

const runsOf = (llama: Llama, path: string, nVocab: number): Promise<Run[]> =>
  withSequence(llama, path, { contextSize: CONTEXT_SIZE, threads: 2 }, (seq) => greedyRuns(seq, nVocab, N_GENERATE, path));

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' }, only: { type: 'string' } } });
  const only = opts.only ? opts.only.split(',') : null;
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-fixtures-'));
  const models: FixtureModel<Source>[] = [];
  const summary: string[] = [];
  try {
    if (opts['search-seeds']) {
      return await searchSeeds(WRITER_MODELS, Number(opts['search-seeds']), only, (spec) =>
        runsOf(llama, writeModelFile(tmp, spec, writeRandomLlama(spec)).path, spec.nVocab));
    }
    // `--only NAME,...` regenerates those models and keeps the others'
    // entries from the current fixture file.
    const kept = keptModels<FixtureModel<Source>>(outPath, only);
    const keep = (name: string): boolean => {
      const m = kept.get(name);
      if (m) models.push(m);
      return m !== undefined;
    };

    const shared = 'llama-2-tiny-random.gguf';
    let t = performance.now();
    if (!keep('llama-2-tiny-random')) {
      const runs = await runsOf(llama, join(testdata, shared), SHARED_VOCAB);
      models.push({ name: 'llama-2-tiny-random', source: { kind: 'shared', file: shared }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      summary.push(gapSummary('llama-2-tiny-random', runs, performance.now() - t, 20));
    }

    for (const { name, spec } of WRITER_MODELS) {
      if (keep(name)) continue;
      t = performance.now();
      const { path, sha256 } = writeModelFile(tmp, spec, writeRandomLlama(spec));
      const runs = await runsOf(llama, path, spec.nVocab);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      summary.push(gapSummary(name, runs, performance.now() - t, 20));
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
