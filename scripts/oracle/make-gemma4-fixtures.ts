// Regenerates test/fixtures/gemma4.json: llama.cpp's (node-llama-cpp's)
// prompt tokens, greedy continuations and top-10 relative logits for tiny
// random Gemma 4 models (test/gguf/gemma4-models.ts: one with per-layer
// embeddings and shared-KV blocks, one dense without attn_v on its full
// blocks), and its logits after an overflow shift made in place as its
// server makes it (llama_memory_seq_rm, then seq_add on the later cells:
// the keys of every block with a cache are re-rotated; the shared-KV
// blocks read those).
//   npx tsx scripts/oracle/make-gemma4-fixtures.ts        (from the repository root)
//   ... --search-seeds 8                                  (prints the best seeds; writes nothing)
// (How the logits are recovered: greedy-oracle.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama, type LlamaContextSequence, type Token } from 'node-llama-cpp';
import { makeGemma4Spec, writeGemma4Model, type Gemma4Spec, type Gemma4Variant } from '../../test/gguf/gemma4-models';
import {
  eraseInPlace, formatFixture, gapSummary, GENERATOR, greedyRuns, searchSeeds, topLogits, withSequence as sequenceOf, writeModelFile,
  type FixtureModel, type Run,
} from './greedy-oracle';

const CONTEXT_SIZE = 256;
const N_GENERATE = 48;

const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/gemma4.json');

// An F32 model of each variant and a Q8_0 one of the dense model (llama.cpp
// gives non-finite logits for the E2B-like model in Q8_0). Seeds were
// chosen from 1..6 (`--search-seeds 6`) for the widest minimum top-two
// logit gap over the greedy runs, so comparisons stay clear of near-ties.
const model = (variant: Gemma4Variant, seed: number, o: Partial<Gemma4Spec> = {}): { name: string; spec: Gemma4Spec } => {
  const name = `gemma4-${variant}-${o.weightType ?? 'f32'}`;
  return { name, spec: makeGemma4Spec(variant, { name: `hob-tiny-${name}`, seed, ...o }) };
};
const MODELS = [
  model('e2b', 1),
  model('dense', 3),
  model('dense', 2, { weightType: 'q8_0' }),
];

// Synthetic ids avoid the tokenizer: BOS, then a spread over the vocabulary.
const ids = (first: number, n: number): number[] => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

interface ShiftCase {
  name: string;
  model: string;
  mode: 'in-place';
  /** The cached tokens before the shift. */
  tokens: number[];
  erase: { start: number; end: number };
  /** Evaluated one at a time after it; steps[i]: top-10 after after[i]. */
  after: number[];
  steps: [number, number][][];
}

// 70 prompt tokens and two more fill a context of 72; the third evicts
// [9, 58) (an overflow shift keeping 9, discarding 49). The sliding
// blocks' window (8) then covers none of the 9 kept tokens, which
// llama.cpp's sliding-window cache may already have dropped.
const TOKENS = [1, ...ids(13, 69), ...ids(400, 2)];
const AFTER = ids(300, 6);
const SHIFTS: Omit<ShiftCase, 'steps'>[] = [
  { name: 'gemma4-e2b-f32 evict 49 at 9 in place', model: 'gemma4-e2b-f32', mode: 'in-place', tokens: TOKENS, erase: { start: 9, end: 58 }, after: AFTER },
  { name: 'gemma4-dense-f32 evict 49 at 9 in place', model: 'gemma4-dense-f32', mode: 'in-place', tokens: TOKENS, erase: { start: 9, end: 58 }, after: AFTER },
];

const withSequence = <T>(llama: Llama, modelPath: string, fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> =>
  sequenceOf(llama, modelPath, { contextSize: CONTEXT_SIZE, threads: 1 }, fn);

const generate = (llama: Llama, modelPath: string, spec: Gemma4Spec): Promise<Run[]> =>
  withSequence(llama, modelPath, (seq) => greedyRuns(seq, spec.nVocab, N_GENERATE, modelPath));

async function shift(llama: Llama, modelPath: string, spec: Gemma4Spec, c: Omit<ShiftCase, 'steps'>): Promise<ShiftCase> {
  return withSequence(llama, modelPath, async (seq) => {
    const { start, end } = c.erase;
    await seq.controlledEvaluate(c.tokens as Token[]);
    eraseInPlace(seq, start, end);
    const expected = c.tokens.length - (end - start);
    if (seq.nextTokenIndex !== expected) throw new Error(`${c.name}: ${seq.nextTokenIndex} tokens after the shift, expected ${expected}`);
    const steps: [number, number][][] = [];
    for (const t of c.after) {
      const [r] = await seq.controlledEvaluate([[t as Token, { generateNext: { probabilities: true } }]], { temperature: 0 });
      steps.push(topLogits(r?.next.probabilities, spec.nVocab, c.name));
    }
    return { ...c, steps };
  });
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' } } });
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-gemma4-fixtures-'));
  const models: FixtureModel<{ kind: 'writer'; spec: Gemma4Spec; sha256: string }>[] = [];
  const shifts: ShiftCase[] = [];
  const summary: string[] = [];
  try {
    if (opts['search-seeds']) {
      return await searchSeeds(MODELS, Number(opts['search-seeds']), null, (spec) =>
        generate(llama, writeModelFile(tmp, spec, writeGemma4Model(spec)).path, spec));
    }
    const paths = new Map<string, { path: string; spec: Gemma4Spec }>();
    for (const { name, spec } of MODELS) {
      const t = performance.now();
      const { path, sha256 } = writeModelFile(tmp, spec, writeGemma4Model(spec));
      paths.set(name, { path, spec });
      const runs = await generate(llama, path, spec);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      summary.push(gapSummary(name, runs, performance.now() - t, 18));
    }
    for (const c of SHIFTS) {
      const m = paths.get(c.model);
      if (!m) throw new Error(`${c.name}: no model ${c.model}`);
      const s = await shift(llama, m.path, m.spec, c);
      shifts.push(s);
      summary.push(`${c.name}: top tokens ${s.steps.map((x) => x[0][0]).join(' ')}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  const json = formatFixture({ generator: GENERATOR, models, shifts }) + '\n';
  writeFileSync(outPath, json);
  process.stdout.write(`${summary.join('\n')}\nwrote ${outPath} (${json.length} bytes) in ${Math.round(performance.now() - t0)} ms\n`);
}

await main();
