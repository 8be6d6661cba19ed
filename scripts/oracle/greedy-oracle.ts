// What the generation fixture scripts share (make-fixtures.ts,
// make-arch-fixtures.ts, make-hybrid-fixtures.ts): llama.cpp's
// (node-llama-cpp's) greedy continuations with top-10 relative logits per
// step, the seed search, and the fixture file's layout.
//
// node-llama-cpp exposes no raw logits, but with temperature 0 its sampler
// keeps the whole vocabulary and `probabilities: true` returns the float32
// softmax of the raw logits (AddonContext.cpp, SampleToken), so
// ln p_i − ln p_max recovers logit_i − logit_max to about 1e-6.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Llama, LlamaContextSequence, Token } from 'node-llama-cpp';

export const GENERATOR = 'node-llama-cpp 3.21.1';
export const TOP_K = 10;

export const PROMPTS = [
  'The quick brown fox jumps over the lazy dog',
  'Once upon a time, there was a little girl who lived in a house',
  'In 2024, 3 of the 10 tests failed (30%): "why?" she asked.',
];

export interface Step {
  /** [token id, logit − max logit], best first. */
  top: [number, number][];
  /** Top-two logit gap (how far the greedy choice is from a tie). */
  gap: number;
}

export interface Run {
  prompt: string;
  promptIds: number[];
  greedy: number[];
  steps: Step[];
}

/** A fixture's model entry, whatever wrote the model. */
export interface FixtureModel<Source> {
  name: string;
  source: Source;
  contextSize: number;
  kvCacheType: 'f16';
  runs: Run[];
}

export const round6 = (x: number): number => Math.round(x * 1e6) / 1e6 + 0; // + 0 turns −0 into 0

/** The TOP_K largest relative logits of one step's probabilities (a Map in
 * llama.cpp's order: sorted by logit, best first). */
export function topLogits(probabilities: Map<Token, number> | undefined, nVocab: number, what: string): [number, number][] {
  const probs = [...(probabilities ?? new Map<Token, number>()).entries()];
  if (probs.length !== nVocab) throw new Error(`${what}: ${probs.length} probabilities for ${nVocab} tokens`);
  const lnMax = Math.log(probs[0][1]);
  const top = probs.slice(0, TOP_K).map(([id, p]): [number, number] => [id, round6(Math.log(p) - lnMax)]);
  if (top.some(([, r]) => !Number.isFinite(r))) throw new Error(`${what}: a top-${TOP_K} probability underflowed`);
  return top;
}

export interface OracleContext {
  contextSize: number;
  threads: number;
}

/** Runs `fn` on one sequence of a CPU context over the model at `modelPath`
 * (F16 KV cache, llama.cpp's default, stated so the fixture records it). */
export async function withSequence<T>(llama: Llama, modelPath: string, c: OracleContext, fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: c.contextSize,
    batchSize: c.contextSize,
    threads: c.threads,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F16',
    experimentalKvCacheValueType: 'F16',
  });
  try {
    return await fn(context.getSequence());
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** nGenerate greedy tokens after each prompt (BOS as the model asks), with
 * the top logits of every step; the sequence is cleared between prompts. */
export async function greedyRuns(sequence: LlamaContextSequence, nVocab: number, nGenerate: number, what: string, prompts = PROMPTS): Promise<Run[]> {
  const m = sequence.model;
  const runs: Run[] = [];
  for (const prompt of prompts) {
    const bos = m.tokens.shouldPrependBosToken && m.tokens.bos != null ? [m.tokens.bos] : [];
    const promptIds: Token[] = [...bos, ...m.tokenize(prompt)];
    const greedy: number[] = [];
    const steps: Step[] = [];
    const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, { temperature: 0, yieldEogToken: true });
    for await (const out of it) {
      const top = topLogits(out.probabilities, nVocab, what);
      if (out.token !== top[0][0] && top[1][1] !== 0) throw new Error(`${what}: sampled ${out.token} but the largest logit is token ${top[0][0]}`);
      greedy.push(out.token);
      steps.push({ top, gap: -top[1][1] });
      if (greedy.length === nGenerate) break;
    }
    if (greedy.length !== nGenerate) throw new Error(`${what}: generation stopped after ${greedy.length} tokens`);
    runs.push({ prompt, promptIds: [...promptIds], greedy, steps });
    await sequence.clearHistory();
  }
  return runs;
}

/** JSON with one line per leaf container (a step, an id list), so diffs stay readable. */
export function formatFixture(v: unknown, indent = ''): string {
  const depth = (x: unknown): number =>
    Array.isArray(x) ? 1 + Math.max(0, ...x.map(depth))
    : x !== null && typeof x === 'object' ? 1 + Math.max(0, ...Object.values(x).map(depth))
    : 0;
  if (v === null || typeof v !== 'object' || depth(v) <= 3) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + formatFixture(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatFixture(x, inner)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

export const minGap = (runs: Run[]): number => Math.min(...runs.flatMap((r) => r.steps.map((s) => s.gap)));

/** One summary line: the smallest and median top-two gaps, and how many
 * distinct tokens each greedy run chose. */
export function gapSummary(name: string, runs: Run[], ms: number, width = 14): string {
  const gaps = runs.flatMap((r) => r.steps.map((s) => s.gap)).sort((a, b) => a - b);
  const distinct = runs.map((r) => new Set(r.greedy).size).join('/');
  return `${name.padEnd(width)} min gap ${gaps[0].toFixed(6)}  5th percentile ${gaps[Math.floor(gaps.length / 20)].toFixed(4)}` +
    `  median ${gaps[gaps.length >> 1].toFixed(3)}  distinct greedy ids ${distinct}  ${Math.round(ms)} ms`;
}

/** Writes a model's bytes to `dir`; its path and the sha256 the fixture records. */
export function writeModelFile(dir: string, spec: { name: string; seed: number }, bytes: Uint8Array): { path: string; sha256: string } {
  const path = join(dir, `${spec.name}-${spec.seed}.gguf`);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** `--search-seeds N`: for each model, the seed in 1..N whose greedy runs
 * have the widest minimum top-two gap (so comparisons stay clear of
 * near-ties). Prints; writes no fixture. */
export async function searchSeeds<S extends { name: string; seed: number }>(
  models: readonly { name: string; spec: S }[],
  n: number,
  only: string[] | null,
  runsOf: (spec: S) => Promise<Run[]>,
): Promise<void> {
  for (const { name, spec } of models) {
    if (only && !only.includes(name)) continue;
    let best = { seed: 0, gap: -1 };
    const tried: string[] = [];
    for (let seed = 1; seed <= n; seed++) {
      const runs = await runsOf({ ...spec, seed });
      const gap = minGap(runs);
      tried.push(`${seed}:${gap.toFixed(4)}(${runs.map((r) => new Set(r.greedy).size).join('/')})`);
      if (gap > best.gap) best = { seed, gap };
    }
    process.stdout.write(`${name.padEnd(20)} best seed ${best.seed} (min gap ${best.gap.toFixed(4)})  ${tried.join(' ')}\n`);
  }
}

/** `--only NAME,...`: the entries of the current fixture file for the
 * models not named, which are kept as they are. */
export function keptModels<M extends { name: string }>(outPath: string, only: string[] | null): Map<string, M> {
  const kept = new Map<string, M>();
  if (only && existsSync(outPath)) {
    for (const m of (JSON.parse(readFileSync(outPath, 'utf8')) as { models: M[] }).models) {
      if (!only.includes(m.name)) kept.set(m.name, m);
    }
  }
  return kept;
}

/** llama.cpp's context shift of [start, end) as its server makes it
 *  (llama_memory_seq_rm, then llama_memory_seq_add on the tokens after the
 *  span): the attention cells go and later keys are re-rotated, while the
 *  recurrent memory keeps its state (its seq_rm accepts a span that ends
 *  before its last position). node-llama-cpp's eraseContextTokenRanges
 *  would not: it sees the recurrent memory's minimum position (its last
 *  token) inside the span and re-evaluates the sequence instead. So the
 *  same native calls are made here directly, and the sequence's own token
 *  bookkeeping is brought in step with them. */
export function eraseInPlace(seq: LlamaContextSequence, start: number, end: number): void {
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
