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
// Logits: with temperature 0 node-llama-cpp returns the float32 softmax of
// the raw logits, so ln p_i − ln p_max recovers logit_i − logit_max (see
// make-fixtures.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, type Llama, type LlamaContextSequence, type Token } from 'node-llama-cpp';
import { makeGemma4Spec, writeGemma4Model, type Gemma4Spec, type Gemma4Variant } from '../../test/gguf/gemma4-models';

const GENERATOR = 'node-llama-cpp 3.21.1';
const CONTEXT_SIZE = 256;
const N_GENERATE = 48;
const TOP_K = 10;

const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/gemma4.json');

const PROMPTS = [
  'The quick brown fox jumps over the lazy dog',
  'Once upon a time, there was a little girl who lived in a house',
  'In 2024, 3 of the 10 tests failed (30%): "why?" she asked.',
];

// An F32 model of each variant and a Q8_0 one of the dense model.
// Seeds were chosen from 1..8 (`--search-seeds 8`) for the widest minimum
// top-two logit gap over the greedy runs, so comparisons stay clear of
// near-ties.
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
  mode: 'in-place' | 'fresh';
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

function topOf(probabilities: Map<Token, number> | undefined, nVocab: number, what: string): [number, number][] {
  const probs = [...(probabilities ?? new Map<Token, number>()).entries()];
  if (probs.length !== nVocab) throw new Error(`${what}: ${probs.length} probabilities for ${nVocab} tokens`);
  const lnMax = Math.log(probs[0][1]);
  const top = probs.slice(0, TOP_K).map(([id, p]): [number, number] => [id, round6(Math.log(p) - lnMax)]);
  if (top.some(([, r]) => !Number.isFinite(r))) throw new Error(`${what}: a top-${TOP_K} probability underflowed`);
  return top;
}

async function withSequence<T>(llama: Llama, modelPath: string, fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
  const m = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await m.createContext({
    contextSize: CONTEXT_SIZE, batchSize: CONTEXT_SIZE, threads: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F16', experimentalKvCacheValueType: 'F16',
  });
  try {
    return await fn(context.getSequence());
  } finally {
    await context.dispose();
    await m.dispose();
  }
}

async function generate(llama: Llama, modelPath: string, spec: Gemma4Spec): Promise<Run[]> {
  return withSequence(llama, modelPath, async (sequence) => {
    const m = sequence.model;
    const runs: Run[] = [];
    for (const prompt of PROMPTS) {
      const bos = m.tokens.shouldPrependBosToken && m.tokens.bos != null ? [m.tokens.bos] : [];
      const promptIds: Token[] = [...bos, ...m.tokenize(prompt)];
      const greedy: number[] = [];
      const steps: Step[] = [];
      const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, { temperature: 0, yieldEogToken: true });
      for await (const out of it) {
        const top = topOf(out.probabilities, spec.nVocab, modelPath);
        if (out.token !== top[0][0] && top[1][1] !== 0) throw new Error(`${modelPath}: sampled ${out.token} but the largest logit is token ${top[0][0]}`);
        greedy.push(out.token);
        steps.push({ top, gap: -top[1][1] });
        if (greedy.length === N_GENERATE) break;
      }
      if (greedy.length !== N_GENERATE) throw new Error(`${modelPath}: generation stopped after ${greedy.length} tokens`);
      runs.push({ prompt, promptIds: [...promptIds], greedy, steps });
      await sequence.clearHistory();
    }
    return runs;
  });
}

/** llama.cpp's context shift of [start, end) as its server makes it
 *  (llama_memory_seq_rm, then llama_memory_seq_add on the tokens after the
 *  span), made through the same native calls as make-hybrid-fixtures.ts,
 *  with the sequence's own token bookkeeping brought in step. */
function eraseInPlace(seq: LlamaContextSequence, start: number, end: number): void {
  const s = seq as unknown as {
    _sequenceId: number;
    _nextTokenIndex: number;
    _contextTokens: Token[];
    _context: { _ctx: { removeTokenCellsFromSequence(id: number, a: number, b: number): boolean; shiftSequenceTokenCells(id: number, a: number, b: number, d: number): void } };
  };
  const ctx = s._context._ctx;
  if (!ctx.removeTokenCellsFromSequence(s._sequenceId, start, end)) throw new Error(`llama.cpp refused to remove [${start}, ${end})`);
  ctx.shiftSequenceTokenCells(s._sequenceId, end, s._nextTokenIndex, -(end - start));
  s._contextTokens.splice(start, end - start);
  s._nextTokenIndex -= end - start;
}

async function shift(llama: Llama, modelPath: string, spec: Gemma4Spec, c: Omit<ShiftCase, 'steps'>): Promise<ShiftCase> {
  return withSequence(llama, modelPath, async (seq) => {
    const { start, end } = c.erase;
    if (c.mode === 'in-place') {
      await seq.controlledEvaluate(c.tokens as Token[]);
      eraseInPlace(seq, start, end);
    } else {
      await seq.controlledEvaluate([...c.tokens.slice(0, start), ...c.tokens.slice(end)] as Token[]);
    }
    const expected = c.tokens.length - (end - start);
    if (seq.nextTokenIndex !== expected) throw new Error(`${c.name}: ${seq.nextTokenIndex} tokens after the shift, expected ${expected}`);
    const steps: [number, number][][] = [];
    for (const t of c.after) {
      const [r] = await seq.controlledEvaluate([[t as Token, { generateNext: { probabilities: true } }]], { temperature: 0 });
      steps.push(topOf(r?.next.probabilities, spec.nVocab, c.name));
    }
    return { ...c, steps };
  });
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

function writeModel(dir: string, spec: Gemma4Spec): { path: string; sha256: string } {
  const bytes = writeGemma4Model(spec);
  const path = join(dir, `${spec.name}-${spec.seed}.gguf`);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({ options: { 'search-seeds': { type: 'string' } } });
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-gemma4-fixtures-'));
  const models: unknown[] = [];
  const shifts: ShiftCase[] = [];
  const summary: string[] = [];
  try {
    if (opts['search-seeds']) {
      for (const { name, spec } of MODELS) {
        let best = { seed: 0, gap: -1 };
        const tried: string[] = [];
        for (let seed = 1; seed <= Number(opts['search-seeds']); seed++) {
          const { path } = writeModel(tmp, { ...spec, seed });
          const runs = await generate(llama, path, spec);
          const gap = minGap(runs);
          tried.push(`${seed}:${gap.toFixed(4)}(${runs.map((r) => new Set(r.greedy).size).join('/')})`);
          if (gap > best.gap) best = { seed, gap };
        }
        process.stdout.write(`${name.padEnd(14)} best seed ${best.seed} (min gap ${best.gap.toFixed(4)})  ${tried.join(' ')}\n`);
      }
      return;
    }
    const paths = new Map<string, { path: string; spec: Gemma4Spec }>();
    for (const { name, spec } of MODELS) {
      const t = performance.now();
      const { path, sha256 } = writeModel(tmp, spec);
      paths.set(name, { path, spec });
      const runs = await generate(llama, path, spec);
      models.push({ name, source: { kind: 'writer', spec, sha256 }, contextSize: CONTEXT_SIZE, kvCacheType: 'f16', runs });
      const gaps = runs.flatMap((r) => r.steps.map((s) => s.gap)).sort((a, b) => a - b);
      process.stderr.write(`${name} done\n`);
      summary.push(`${name.padEnd(14)} min gap ${gaps[0].toFixed(6)}  median ${gaps[gaps.length >> 1].toFixed(3)}` +
        `  distinct greedy ids ${runs.map((r) => new Set(r.greedy).size).join('/')}  ${Math.round(performance.now() - t)} ms`);
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
  const json = format({ generator: GENERATOR, models, shifts }) + '\n';
  writeFileSync(outPath, json);
  process.stdout.write(`${summary.join('\n')}\nwrote ${outPath} (${json.length} bytes) in ${Math.round(performance.now() - t0)} ms\n`);
}

await main();
