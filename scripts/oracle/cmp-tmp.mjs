import { getLlama } from "node-llama-cpp";
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath: process.argv[2] });
const ids = JSON.parse(process.argv[3]);
for (const fa of [false, true]) {
  const ctx = await model.createContext({ contextSize: 512, batchSize: 512, flashAttention: fa, threads: 2 });
  const seq = ctx.getSequence();
  const input = ids.map((t, i) => i === ids.length - 1 ? [t, { generateNext: { probabilities: true, token: true } }] : t);
  const res = await seq.controlledEvaluate(input, { temperature: 0 });
  const last = res[res.length - 1];
  const probs = [...last.next.probabilities.entries()].slice(0, 6);
  const pmax = probs[0][1];
  console.log('fa', fa, JSON.stringify(probs.map(([id, p]) => [id, +(Math.log(p) - Math.log(pmax)).toFixed(6)])));
  await ctx.dispose();
}
process.exit(0);
