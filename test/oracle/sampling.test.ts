// Sampling against llama.cpp (through node-llama-cpp), where the samplers are
// the same: the distribution left after bias, penalties, top-k, top-p, min-p,
// XTC and temperature on the same model and prompt must keep the same tokens
// with the same probabilities (test/fixtures/sampling.json, made by
// scripts/oracle/make-sampling-fixtures.ts). End to end through the public
// API: greedy text, and seeded sampling with top-k 1 (the same draw in any
// implementation), equal llama.cpp's greedy tokens from generation.json.
// Seeded draws with more candidates are not compared: the two draw from
// their random streams differently; sampler.test.ts checks those against a
// reference instead.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, Engine, type HobEngine, Model, SamplerChain, type SamplingParams, Session } from '../../src/node/index.js';
import { writeRandomLlama, type LlamaSpec } from '../gguf/random-model.js';
import { testdataDir as testdata } from '../data.js';

const fixtures = resolve(import.meta.dirname, '../fixtures');

interface SamplingCase {
  name: string;
  prompt: string;
  promptIds: number[];
  params: SamplingParams;
  probs: [number, number][];
}
const sampling = JSON.parse(readFileSync(join(fixtures, 'sampling.json'), 'utf8')) as {
  generator: string;
  model: { spec: LlamaSpec; sha256: string };
  cases: SamplingCase[];
};

interface GenerationModel {
  name: string;
  source: { kind: 'shared'; file: string } | { kind: 'writer'; spec: LlamaSpec; sha256: string };
  runs: { prompt: string; promptIds: number[]; greedy: number[] }[];
}
const generation = JSON.parse(readFileSync(join(fixtures, 'generation.json'), 'utf8')) as { generator: string; models: GenerationModel[] };

function writerBytes(spec: LlamaSpec, sha256: string): Uint8Array {
  const bytes = writeRandomLlama(spec);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), sha256, 'the writer no longer produces the fixture model');
  return bytes;
}

describe(`sampler distributions against llama.cpp (${sampling.generator})`, () => {
  let engine: Engine;
  let model: Model;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
    model = Model.load(engine, writerBytes(sampling.model.spec, sampling.model.sha256));
  });
  after(() => {
    model?.free();
    engine?.dispose();
  });

  for (const c of sampling.cases) {
    test(`${c.name}: "${c.prompt.slice(0, 30)}…" keeps llama.cpp's tokens with its probabilities`, async () => {
      assert.deepEqual(model.tokenize(c.prompt), c.promptIds);
      const session = Session.create(model, { nCtx: 256 });
      try {
        await session.eval(c.promptIds);
        const chain = new SamplerChain({ ...c.params, seed: 1 }, { nVocab: model.info.nVocab, nCtx: 256 });
        for (const t of c.promptIds) chain.accept(t);
        chain.reset(session.logits());
        // The chain's stages, without the final draw.
        for (const s of chain.params.sampler_order) chain.apply(s);
        const got = new Map(chain.candidates().map((x) => [x.id, x.p]));
        const want = new Map(c.probs);
        assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...want.keys()].sort((a, b) => a - b), 'the same tokens survive');
        let worst = 0;
        for (const [id, p] of want) worst = Math.max(worst, Math.abs(got.get(id)! - p));
        assert.ok(worst < 2e-3, `largest probability difference ${worst}`);
      } finally {
        session.free();
      }
    });
  }
});

describe(`the public API against llama.cpp greedy tokens (${generation.generator})`, () => {
  for (const name of ['llama-2-tiny-random', 'tiny-f32', 'tiny-q8_0']) {
    const fm = generation.models.find((m) => m.name === name)!;
    describe(name, () => {
      let engine: HobEngine;
      let decode: (ids: number[]) => string;
      let reference: Engine;
      before(async () => {
        const model = fm.source.kind === 'shared' ? join(testdata, fm.source.file) : { bytes: writerBytes(fm.source.spec, fm.source.sha256) };
        engine = await createEngine({ model, contextSize: 512, threads: 2 });
        // The fixture's ids as text, decoded piece by piece as a stream would be.
        reference = await Engine.create({ threads: 1 });
        const m = Model.load(reference, fm.source.kind === 'shared' ? readFileSync(join(testdata, fm.source.file)) : writerBytes(fm.source.spec, fm.source.sha256));
        decode = (ids) => {
          const d = m.decoder();
          return ids.map((t) => d.push(t)).join('') + d.flush();
        };
      });
      after(async () => {
        await engine?.unload();
        reference?.dispose();
      });

      for (const [r, run] of fm.runs.entries()) {
        test(`run ${r}: greedy, and seeded top-k 1, give llama.cpp's ${run.greedy.length} tokens`, async () => {
          assert.deepEqual(await engine.tokenize(run.prompt), run.promptIds);
          const expected = decode(run.greedy);
          const greedy = await engine.completions.create({ prompt: run.prompt, max_tokens: run.greedy.length, temperature: 0, ignore_eos: true });
          assert.equal(greedy.choices[0].text, expected);
          const seeded = await engine.completions.create({ prompt: run.prompt, max_tokens: run.greedy.length, temperature: 0.9, top_k: 1, seed: 1234 + r, ignore_eos: true });
          assert.equal(seeded.choices[0].text, expected);
        });
      }
    });
  }
});
