// Regenerates test/fixtures/logprobs.json: llama.cpp's (node-llama-cpp's)
// probability of every token at each step of a generation, for the
// log-probabilities Hob reports. With `probabilities: true` and a chain that
// changes nothing (temperature 1, no top-k/p, no min-p), node-llama-cpp
// returns the softmax of the model's raw logits over the whole vocabulary:
// what llama.cpp's server reports as n_probs before sampling. The tokens are
// llama.cpp's own draws; Hob replays them (teacher forcing) and compares the
// log-probabilities of the drawn token and of the 20 most likely.
//   npx tsx scripts/oracle/make-logprob-fixtures.ts      (from the repository root)
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { makeSpec, writeRandomLlama } from '../../test/gguf/random-model';
import { makeArchSpec, writeArchModel } from '../../test/gguf/arch-models';

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/logprobs.json');
const STEPS = 12;
const TOP = 20;

const MODELS = [
  { name: 'tiny-f32', kind: 'llama' as const, spec: makeSpec('tiny', { name: 'tiny-f32', seed: 9, weightType: 'f32' }) },
  { name: 'qwen3-f32', kind: 'arch' as const, spec: makeArchSpec('qwen3', { seed: 4 }) },
];
const PROMPTS = ['Once upon a time, there was a little girl', 'The quick brown fox jumps over the lazy dog. The'];

async function main(): Promise<void> {
  const llama = await getLlama({ gpu: false, build: 'never' });
  const dir = mkdtempSync(join(tmpdir(), 'hob-logprobs-'));
  const models = [];
  try {
    for (const m of MODELS) {
      const bytes = m.kind === 'llama' ? writeRandomLlama(m.spec) : writeArchModel(m.spec as ReturnType<typeof makeArchSpec>);
      const modelPath = join(dir, `${m.name}.gguf`);
      writeFileSync(modelPath, bytes);
      const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
      const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2, flashAttention: false });
      const sequence = context.getSequence();
      const runs = [];
      for (const [p, prompt] of PROMPTS.entries()) {
        const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
        const promptIds: Token[] = [...bos, ...model.tokenize(prompt)];
        const steps: { token: number; logprob: number; top: [number, number][] }[] = [];
        const it = sequence.evaluateWithMetadata(promptIds, { probabilities: true }, { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 100 + p, yieldEogToken: true });
        for await (const out of it) {
          const probs = [...out.probabilities.entries()];
          const ln = (x: number) => Math.round(Math.log(x) * 1e7) / 1e7;
          const top = probs.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, TOP).map(([id, q]): [number, number] => [id, ln(q)]);
          steps.push({ token: out.token, logprob: ln(out.probabilities.get(out.token) ?? 0), top });
          if (steps.length === STEPS) break;
        }
        await sequence.clearHistory();
        runs.push({ prompt, promptIds: [...promptIds], steps });
      }
      await context.dispose();
      await model.dispose();
      models.push({ name: m.name, kind: m.kind, spec: m.spec, sha256: createHash('sha256').update(bytes).digest('hex'), runs });
      process.stdout.write(`${m.name}: ${runs.length} runs of ${STEPS} steps\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync(outPath, JSON.stringify({ generator: GENERATOR, top: TOP, models }) + '\n');
}

await main();
