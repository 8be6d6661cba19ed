// Prefill and decode speed of llama.cpp (node-llama-cpp, CPU) on a GGUF, with
// the same token ids and thread count given to `hob complete`, for side by
// side figures. Usage (from the repository root):
//   node scripts/oracle/bench-llama.mjs MODEL.gguf '[1,2,3,...]' N_PREDICT THREADS
import { getLlama } from 'node-llama-cpp';

const [modelPath, idsJson, nPredictArg, threadsArg] = process.argv.slice(2);
const promptIds = JSON.parse(idsJson);
const nPredict = Number(nPredictArg ?? 64);
const threads = Number(threadsArg ?? 2);

const llama = await getLlama({ gpu: false, build: 'never' });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 2048, batchSize: 512, threads, flashAttention: false });
const seq = context.getSequence();

// Prefill: all prompt tokens in one evaluation, asking for the next token.
let t0 = performance.now();
const input = promptIds.map((t, i) => (i === promptIds.length - 1 ? [t, { generateNext: { token: true } }] : t));
const res = await seq.controlledEvaluate(input, { temperature: 0 });
const prefillMs = performance.now() - t0;
let token = res[res.length - 1].next.token;

// Decode: one token at a time, greedy.
t0 = performance.now();
for (let i = 1; i < nPredict; i++) {
  const r = await seq.controlledEvaluate([[token, { generateNext: { token: true } }]], { temperature: 0 });
  token = r[0].next.token;
}
const decodeMs = performance.now() - t0;
const decodeTokens = nPredict - 1;
console.log(JSON.stringify({
  backend: 'llama.cpp (node-llama-cpp 3.21.1, CPU)',
  threads,
  prefillTokens: promptIds.length,
  prefillTokensPerSecond: promptIds.length / (prefillMs / 1000),
  decodeTokens,
  decodeTokensPerSecond: decodeTokens / (decodeMs / 1000),
}));
process.exit(0);
