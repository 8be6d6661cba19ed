// Writes test/fixtures/shift.json: llama.cpp's logits after a context shift.
// For each case a prompt is evaluated, a span is erased with node-llama-cpp's
// eraseContextTokenRanges (which removes the cells and shifts the later
// positions, re-rotating their keys), and more tokens are evaluated one at a
// time; the top-10 logits (relative to the largest) after each are recorded.
// Llama models with the preset shapes of random-model.ts, and one model of
// every other architecture Hob runs (test/gguf/arch-models.ts), the
// sliding-window gemmas included.
// Run from the repository root: npx tsx scripts/oracle/make-shift-fixtures.ts
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { getLlama } from 'node-llama-cpp';

import { makeArchSpec, writeArchModel, type ArchName, type ArchSpec } from '../../test/gguf/arch-models';
import { makeSpec, writeRandomLlama, type LlamaSpec } from '../../test/gguf/random-model';

const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/shift.json');
const TOP_K = 10;
const CONTEXT_SIZE = 256;

interface Case {
  name: string;
  /** Set for the architectures of arch-models.ts (spec is then an ArchSpec). */
  arch?: ArchName;
  spec: LlamaSpec | ArchSpec;
  prompt: number[];
  erase: { start: number; end: number };
  continuation: number[];
}

// Synthetic ids avoid the tokenizer: BOS, then a spread over the vocabulary.
const ids = (first: number, n: number): number[] => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

const CASES: Case[] = [
  // "Erased 49 tokens at position 9": the shape of the log line behind the
  // crash Hob exists to avoid, on a model where attention depends visibly
  // on position (larger weights than the greedy fixtures).
  {
    name: 'f32-evict-49-at-9',
    spec: makeSpec('tiny', { name: 'shift-f32', weightType: 'f32', std: 0.15, seed: 3 }),
    prompt: [1, ...ids(7, 69)],
    erase: { start: 9, end: 58 },
    continuation: ids(400, 8),
  },
  {
    name: 'q8_0-evict-17-at-33',
    spec: makeSpec('tiny', { name: 'shift-q8_0', weightType: 'q8_0', seed: 7 }),
    prompt: [1, ...ids(11, 59)],
    erase: { start: 33, end: 50 },
    continuation: ids(250, 8),
  },
  // Every other architecture: 49 tokens evicted after the BOS and 8 more,
  // the tail and the continuation re-rotated past windows of 8 (gemmas).
  ...(['qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3'] as const).map((arch, i): Case => ({
    name: `${arch}-f32-evict-49-at-9`,
    arch,
    // llama.cpp looks for Phi-3's special tokens when general.name says phi3.
    // Larger weights than the presets for the full-attention ones, so that
    // attention scores, and with them the keys' rotation, weigh in the logits.
    spec: makeArchSpec(arch, { name: `hob-shift-${arch.replace('phi3', 'phi')}`, seed: 1, ...(arch.startsWith('gemma') ? {} : { std: 0.1 }) }),
    prompt: [1, ...ids(13 + i, 69)],
    erase: { start: 9, end: 58 },
    continuation: ids(300 + i, 8),
  })),
];

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6 + 0;

async function main(): Promise<void> {
  const llama = await getLlama({ gpu: false, build: 'never' });
  const tmp = mkdtempSync(join(tmpdir(), 'hob-shift-'));
  const out: unknown[] = [];
  try {
    for (const c of CASES) {
      const bytes = c.arch ? writeArchModel(c.spec as ArchSpec) : writeRandomLlama(c.spec);
      const path = join(tmp, `${c.name}.gguf`);
      writeFileSync(path, bytes);
      const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
      const context = await model.createContext({
        contextSize: CONTEXT_SIZE, batchSize: CONTEXT_SIZE, threads: 2, flashAttention: false,
        experimentalKvCacheKeyType: 'F16', experimentalKvCacheValueType: 'F16',
      });
      const seq = context.getSequence();
      await seq.controlledEvaluate(c.prompt);
      await seq.eraseContextTokenRanges([c.erase]);
      const expectedPast = c.prompt.length - (c.erase.end - c.erase.start);
      if (seq.nextTokenIndex !== expectedPast) throw new Error(`${c.name}: ${seq.nextTokenIndex} tokens after the erase, expected ${expectedPast}`);
      const steps: [number, number][][] = [];
      for (const t of c.continuation) {
        const [r] = await seq.controlledEvaluate([[t, { generateNext: { probabilities: true } }]], { temperature: 0 });
        const probs = [...(r?.next.probabilities ?? new Map()).entries()];
        if (probs.length !== c.spec.nVocab) throw new Error(`${c.name}: ${probs.length} probabilities`);
        const lnMax = Math.log(probs[0][1]);
        steps.push(probs.slice(0, TOP_K).map(([id, p]): [number, number] => [id, round6(Math.log(p) - lnMax)]));
      }
      out.push({ ...c, sha256: createHash('sha256').update(bytes).digest('hex'), contextSize: CONTEXT_SIZE, steps });
      await context.dispose();
      await model.dispose();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  writeFileSync(outPath, JSON.stringify({ generator: 'node-llama-cpp 3.21.1', cases: out }) + '\n');
  process.stdout.write(`wrote ${outPath}\n`);
}

await main();
