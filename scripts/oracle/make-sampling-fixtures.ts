// Regenerates test/fixtures/sampling.json: llama.cpp's (node-llama-cpp's)
// next-token distribution after its sampler chain, for sampler settings where
// Hob's chain and llama.cpp's are the same samplers in the same order
// (logit bias, penalties, top-k, top-p, min-p, XTC, temperature). With
// `probabilities: true` node-llama-cpp returns the softmax of the candidates
// left after the chain (AddonContext.cpp), so the fixture holds which tokens
// survive and their probabilities; the seeded draw itself (RNG use differs
// between implementations) is not compared.
//   npx tsx scripts/oracle/make-sampling-fixtures.ts      (from the repository root)
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, type LlamaContextSequenceRepeatPenalty, type Token } from 'node-llama-cpp';
import { makeSpec, writeRandomLlama } from '../../test/gguf/random-model';

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/sampling.json');

// The tiny f32 writer model of generation.json: a 512-token vocabulary and
// logits spread over several units, so every filter has work to do.
const spec = makeSpec('tiny', { name: 'tiny-f32', seed: 9, weightType: 'f32' });

const PROMPTS = [
  'Once upon a time, there was a little girl who lived in a house',
  'The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown',
];

/** Each case in Hob's names (SamplingParams) and node-llama-cpp's. */
interface Case {
  name: string;
  hob: Record<string, unknown>;
  llama: { temperature: number; topK: number; topP: number; minP: number; xtc?: { probability: number; threshold: number }; repeatPenalty?: Omit<LlamaContextSequenceRepeatPenalty, 'punishTokens'> };
}

const CASES: Case[] = [
  { name: 'llama.cpp defaults', hob: { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05 }, llama: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 } },
  { name: 'hot top-p', hob: { temperature: 1.5, top_k: 0, top_p: 0.8, min_p: 0 }, llama: { temperature: 1.5, topK: 0, topP: 0.8, minP: 0 } },
  { name: 'cold top-k min-p', hob: { temperature: 0.6, top_k: 10, top_p: 1, min_p: 0.1 }, llama: { temperature: 0.6, topK: 10, topP: 1, minP: 0.1 } },
  {
    name: 'penalties',
    hob: { temperature: 1, top_k: 0, top_p: 1, min_p: 0, repeat_penalty: 1.3, repeat_last_n: 64, frequency_penalty: 0.3, presence_penalty: 0.4 },
    llama: { temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: { penalty: 1.3, frequencyPenalty: 0.3, presencePenalty: 0.4, maxPunishTokens: 64 } },
  },
  {
    name: 'xtc always',
    hob: { temperature: 1, top_k: 0, top_p: 1, min_p: 0, xtc_probability: 1, xtc_threshold: 0.05 },
    llama: { temperature: 1, topK: 0, topP: 1, minP: 0, xtc: { probability: 1, threshold: 0.05 } },
  },
];

async function main(): Promise<void> {
  const llama = await getLlama({ gpu: false, build: 'never' });
  const dir = mkdtempSync(join(tmpdir(), 'hob-sampling-'));
  const bytes = writeRandomLlama(spec);
  const modelPath = join(dir, 'model.gguf');
  writeFileSync(modelPath, bytes);
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2, flashAttention: false });
  const sequence = context.getSequence();
  const cases: { name: string; prompt: string; promptIds: number[]; params: Record<string, unknown>; probs: [number, number][] }[] = [];
  try {
    for (const prompt of PROMPTS) {
      const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
      const promptIds: Token[] = [...bos, ...model.tokenize(prompt)];
      for (const c of CASES) {
        const { repeatPenalty, ...rest } = c.llama;
        const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, {
          ...rest,
          seed: 1,
          ...(repeatPenalty ? { repeatPenalty: { ...repeatPenalty, punishTokens: promptIds.slice(-64) } } : {}),
          yieldEogToken: true,
        });
        for await (const out of it) {
          const probs = [...out.probabilities.entries()].map(([id, p]): [number, number] => [id, Math.round(p * 1e7) / 1e7]);
          cases.push({ name: c.name, prompt, promptIds: [...promptIds], params: c.hob, probs });
          break;
        }
        await sequence.clearHistory();
      }
    }
  } finally {
    await context.dispose();
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const fixture = {
    generator: GENERATOR,
    model: { spec, sha256: createHash('sha256').update(bytes).digest('hex') },
    cases,
  };
  // One line per case, so diffs stay readable.
  const lines = fixture.cases.map((c) => '    ' + JSON.stringify(c));
  writeFileSync(
    outPath,
    `{\n  "generator": ${JSON.stringify(fixture.generator)},\n  "model": ${JSON.stringify(fixture.model)},\n  "cases": [\n${lines.join(',\n')}\n  ]\n}\n`,
  );
  for (const c of cases) process.stdout.write(`${c.name.padEnd(20)} ${c.probs.length} candidates, top p ${c.probs[0][1]}\n`);
}

await main();
