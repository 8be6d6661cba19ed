// node-llama-cpp's side of bench/structured.ts, run by it as a child
// process (llama.cpp's CPU threads stay out of the process that times Hob):
// on the same GGUF file, prompt ids, sampler settings and thread count,
// decode tokens/s without a grammar and under the schema's grammar (GBNF
// text given by the parent), interleaved, for the random model's own
// choices and for teacher forcing (a per-step token bias on the document's
// next token, node-llama-cpp's tokenBias function). Prints one line,
// RESULT {json}. A benchmark, not a test.
//
// node-llama-cpp 3.21.1 samples first and applies the grammar to every
// candidate only when it refuses the sampled token (AddonSampler::sample),
// the same trick as llama.cpp's common sampler and Hob.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface NativeJob {
  modelPath: string;
  promptIds: number[];
  /** The document's tokens, for teacher forcing. */
  docIds: number[];
  gbnfPath: string;
  nDecode: number;
  reps: number;
  threads: number;
  sampling: { temperature: number; top_k: number; top_p: number; min_p: number; seed: number };
  teacherBias: number;
  peerModules: string;
}

export interface NativeSample {
  case: 'random' | 'teacher';
  arm: 'free' | 'schema';
  rep: number;
  /** Evaluate-and-sample steps timed (after the first sampled token). */
  steps: number;
  ms: number;
  /** Each step's ms, in order. */
  stepMs: number[];
  /** CPU time of this process (llama.cpp's threads included) over the timed steps. */
  cpuMs: number;
  tokens: number[];
  loadavg: number[];
}

export interface NativeResult {
  version: string;
  /** ms to parse the GBNF into a llama.cpp grammar (createGrammar), first and later. */
  grammarMs: { cold: number; warm: number[] };
  loadMs: number;
  samples: NativeSample[];
}

async function run(job: NativeJob): Promise<NativeResult> {
  const require = createRequire(pathToFileURL(resolve(job.peerModules, 'x.js')));
  const entry = require.resolve('node-llama-cpp');
  const nlc = await import(pathToFileURL(entry).href);
  const version = JSON.parse(readFileSync(resolve(job.peerModules, 'node-llama-cpp/package.json'), 'utf8')).version as string;
  const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  let t0 = performance.now();
  const model = await llama.loadModel({ modelPath: job.modelPath, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const context = await model.createContext({
    contextSize: job.promptIds.length + Math.max(job.nDecode, job.docIds.length) + 16, batchSize: 512, threads: job.threads, flashAttention: false,
  });
  const seq = context.getSequence();
  const gbnf = readFileSync(job.gbnfPath, 'utf8');
  const grammarMs: number[] = [];
  let grammar: unknown;
  for (let i = 0; i < 6; i++) {
    t0 = performance.now();
    grammar = await llama.createGrammar({ grammar: gbnf });
    grammarMs.push(performance.now() - t0);
  }

  const s = job.sampling;
  const once = async (kase: NativeSample['case'], arm: NativeSample['arm'], rep: number): Promise<NativeSample> => {
    await seq.clearHistory();
    const teacher = kase === 'teacher';
    const nDecode = teacher ? Math.min(job.nDecode, job.docIds.length) : job.nDecode;
    const tokens: number[] = [];
    const bias = () => new nlc.TokenBias(model.tokenizer).set(job.docIds[tokens.length] ?? job.docIds[0], { logit: job.teacherBias });
    const it = seq.evaluate(job.promptIds, {
      temperature: s.temperature, topK: s.top_k, topP: s.top_p, minP: s.min_p, seed: s.seed,
      grammarEvaluationState: arm === 'schema' ? new nlc.LlamaGrammarEvaluationState({ model, grammar }) : undefined,
      tokenBias: teacher ? bias : undefined,
    });
    // The clock starts at the first sampled token (prefill and its sample
    // excluded); each later step is an evaluation and a sample.
    const times: number[] = [];
    let c0: NodeJS.CpuUsage | undefined;
    for (;;) {
      const r = await it.next();
      times.push(performance.now());
      c0 ??= process.cpuUsage();
      if (r.done) break;
      tokens.push(r.value as number);
      if (tokens.length >= nDecode) break;
    }
    const c1 = process.cpuUsage(c0);
    await it.return?.(undefined);
    const stepMs = times.slice(1).map((t, i) => Number((t - times[i]).toFixed(3)));
    return { case: kase, arm, rep, steps: stepMs.length, ms: times[times.length - 1] - times[0], stepMs, cpuMs: (c1.user + c1.system) / 1000, tokens, loadavg: loadavg() };
  };

  const samples: NativeSample[] = [];
  for (const kase of ['random', 'teacher'] as const) {
    // Warm-up, then A/B/A/B.
    await once(kase, 'free', -1);
    await once(kase, 'schema', -1);
    for (let rep = 0; rep < job.reps; rep++) {
      const order = rep % 2 === 0 ? (['free', 'schema'] as const) : (['schema', 'free'] as const);
      for (const arm of order) {
        const r = await once(kase, arm, rep);
        samples.push(r);
        process.stderr.write(`node-llama-cpp ${job.threads}t ${kase} ${arm} rep ${rep}: ${(r.steps / (r.ms / 1000)).toFixed(2)} tok/s, load ${r.loadavg[0].toFixed(2)}\n`);
      }
    }
  }
  await context.dispose();
  await model.dispose();
  return { version, grammarMs: { cold: grammarMs[0], warm: grammarMs.slice(1) }, loadMs, samples };
}

const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as NativeJob;
const result = await run(job);
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
