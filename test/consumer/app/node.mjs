// A Node script as a user of the package writes it.
import { Engine, Sampler, Sequence, complete, loadModelFile } from 'hob-llm';

const engine = await Engine.create({ threads: 2 });
const model = await loadModelFile(engine, process.argv[2]);
const sequence = new Sequence(model.createSession({ nCtx: 128 }));
const r = await complete(model, sequence, new Sampler(engine, { temperature: 0 }), model.tokenize('The capital of France'), {
  nPredict: 8,
  ignoreEos: true,
});
process.stdout.write(JSON.stringify({ ids: r.ids, text: r.text, variant: engine.variant }) + '\n');
