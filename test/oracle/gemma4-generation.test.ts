// Hob against llama.cpp on tiny random Gemma 4 models (test/gguf/gemma4-models.ts):
// one E2B-like (per-layer embeddings, the last two blocks reading earlier
// blocks' KV cache, wider FFNs there, layer_output_scale, llama.cpp's
// default soft-cap) and one dense (full blocks without attn_v, so V is K's
// projection), both with sliding blocks of narrower heads than the full
// ones and proportional RoPE on those. Greedy continuations identical
// token for token, top-10 next-token logits (relative to the largest)
// within a stated tolerance at every step, and the logits after an
// overflow shift made in place: the keys of every block with a cache are
// re-rotated, and the shared-KV blocks read those (as llama.cpp).
// scripts/oracle/make-gemma4-fixtures.ts regenerates the fixture; the
// models are rebuilt here from their recorded spec and must hash to its
// sha256. Gemma 4 runs on the CPU only: offloading its blocks is refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, Engine, Model, SamplerChain, Session } from '../../src/node/index.js';
import { ModelLoader } from '../../src/core/model-loader.js';
import { Sequence } from '../../src/runtime/sequence.js';
import type { ShiftEvent } from '../../src/shared/types.js';
import { writeGemma4Model, type Gemma4Spec } from '../gguf/gemma4-models.js';
import { bytesSource } from '../../src/format/source.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { autoGpuLayers, describeAutoGpuLayers } from '../../src/runtime/fit.js';
import { estimateMemory, fitModelFromLayouts } from '../../src/runtime/memory-estimate.js';

// Tolerance on each top-10 relative logit, by weight type: the post-norm
// tolerance of arch-generation.test.ts (Gemma's post-norms rescale every
// sub-block's output, so one f16 rounding landing the other way is
// magnified). Greedy tokens must match exactly in every case.
const LOGIT_TOLERANCE: Record<string, number> = { f32: 1e-2, q8_0: 0.25 };

interface Run {
  prompt: string;
  promptIds: number[];
  greedy: number[];
  steps: { top: [number, number][]; gap: number }[];
}
interface FixtureModel {
  name: string;
  source: { kind: 'writer'; spec: Gemma4Spec; sha256: string };
  contextSize: number;
  runs: Run[];
}
interface ShiftCase {
  name: string;
  model: string;
  mode: 'in-place';
  tokens: number[];
  erase: { start: number; end: number };
  after: number[];
  steps: [number, number][][];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/gemma4.json'), 'utf8')) as {
  generator: string;
  models: FixtureModel[];
  shifts: ShiftCase[];
};

function modelBytes(m: FixtureModel): Uint8Array {
  const bytes = writeGemma4Model(m.source.spec);
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.equal(sha, m.source.sha256, `${m.name}: the writer no longer produces the fixture's model`);
  return bytes;
}

/** The largest difference of the top-10 relative logits from llama.cpp's; fails past the tolerance. */
function compareTop(logits: Float32Array, top: [number, number][], tolerance: number, what: string): number {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let worst = 0;
  for (const [id, rel] of top) {
    const err = Math.abs(logits[id] - max - rel);
    worst = Math.max(worst, err);
    assert.ok(err <= tolerance, `${what}: token ${id} relative logit ${logits[id] - max} vs llama.cpp ${rel}`);
  }
  return worst;
}

const codeOf = (e: unknown): string | undefined => (e as { code?: string }).code;

describe(`Gemma 4 against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  const models = new Map<string, Model>();
  before(async () => {
    engine = await Engine.create({ threads: 2 });
    for (const fm of fixture.models) models.set(fm.name, Model.load(engine, modelBytes(fm)));
  });
  after(() => {
    for (const m of models.values()) m.free();
    engine?.dispose();
  });

  test('the fixture covers the E2B-like and dense models, F32 and Q8_0, and a shift of each F32 one', () => {
    assert.deepEqual(fixture.models.map((m) => m.name).sort(), ['gemma4-dense-f32', 'gemma4-dense-q8_0', 'gemma4-e2b-f32']);
    assert.deepEqual(fixture.shifts.map((c) => c.model).sort(), ['gemma4-dense-f32', 'gemma4-e2b-f32']);
  });

  test('the models report Gemma 4 and shift by rotating keys in place', () => {
    for (const m of models.values()) {
      assert.equal(m.info.architecture, 'gemma4');
      assert.equal(m.shiftMode, 'rotate');
    }
  });

  for (const fm of fixture.models) {
    const tolerance = LOGIT_TOLERANCE[fm.source.spec.weightType];
    assert.ok(tolerance !== undefined, `${fm.name}: no logit tolerance for its weight type`);
    for (const [r, run] of fm.runs.entries()) {
      test(`${fm.name} prompt ${r}: tokens equal llama.cpp's, ${run.greedy.length} greedy tokens are identical, top-10 logits agree`, async (t) => {
        const model = models.get(fm.name)!;
        assert.deepEqual(model.tokenize(run.prompt), run.promptIds);
        const session = Session.create(model, { nCtx: fm.contextSize });
        const sampler = new SamplerChain({ temperature: 0 }, { nVocab: model.info.nVocab, nCtx: fm.contextSize });
        try {
          await session.eval(run.promptIds);
          const ids: number[] = [];
          let worst = 0;
          for (let i = 0; i < run.greedy.length; i++) {
            const logits = session.logits();
            worst = Math.max(worst, compareTop(logits, run.steps[i].top, tolerance, `step ${i}`));
            const token = sampler.sampleLogits(logits);
            ids.push(token);
            if (i + 1 < run.greedy.length) await session.eval([token]);
          }
          assert.deepEqual(ids, run.greedy);
          t.diagnostic(`${fm.name} prompt ${r}: largest logit difference ${worst.toExponential(2)} (tolerance ${tolerance})`);
        } finally {
          session.free();
        }
      });
    }
  }

  for (const c of fixture.shifts) {
    test(`overflow shift, ${c.name}: the logits after it agree with llama.cpp's`, async (t) => {
      const fm = fixture.models.find((m) => m.name === c.model)!;
      const tolerance = LOGIT_TOLERANCE[fm.source.spec.weightType];
      const { start, end } = c.erase;
      // A context the cached tokens fill: the first token after them
      // overflows and evicts the span, keeping the `start` before it.
      const session = Session.create(models.get(c.model)!, { nCtx: c.tokens.length });
      const events: ShiftEvent[] = [];
      const seq = new Sequence(session, { contextShift: { nKeep: start, nDiscard: end - start }, onShift: (e) => events.push(e) });
      try {
        await seq.prefill(c.tokens.slice(0, -2));
        for (const tok of c.tokens.slice(-2)) await seq.append([tok]);
        let worst = 0;
        for (const [i, tok] of c.after.entries()) {
          const logits = await (await seq.append([tok])).all();
          worst = Math.max(worst, compareTop(logits, c.steps[i], tolerance, `step ${i}`));
        }
        assert.equal(events.length, 1);
        const e = events[0];
        assert.deepEqual({ kind: e.kind, position: e.position, evicted: e.evicted }, { kind: 'overflow', position: start, evicted: end - start });
        assert.equal(e.reevaluated, undefined, 'shifted in place');
        assert.deepEqual(seq.tokens, [...c.tokens.slice(0, start), ...c.tokens.slice(end), ...c.after]);
        t.diagnostic(`${c.name}: largest logit difference ${worst.toExponential(2)}`);
      } finally {
        session.free();
      }
    });
  }

  test('a saved session restores to the same logits (cache rows of two widths, shared-KV blocks)', async () => {
    const model = models.get('gemma4-e2b-f32')!;
    const tokens = fixture.shifts[0].tokens.slice(0, 30);
    const a = Session.create(model, { nCtx: 64 });
    const b = Session.create(model, { nCtx: 64 });
    try {
      await a.eval(tokens);
      const state = await a.saveState();
      await b.restoreState(state);
      await a.eval([77]);
      await b.eval([77]);
      assert.deepEqual(b.logits(), a.logits());
    } finally {
      a.free();
      b.free();
    }
  });

  test('offloading Gemma 4 blocks is refused with a typed error naming it', async () => {
    const fm = fixture.models.find((m) => m.name === 'gemma4-e2b-f32')!;
    const bytes = modelBytes(fm);
    await assert.rejects(
      async () => {
        const loader = ModelLoader.create(engine, bytes, bytes.length, fm.source.spec.nLayer - 1);
        try {
          await loader.stream(bytesSource(bytes));
          loader.finish(bytes.length).free();
        } finally {
          loader.free();
        }
      },
      (e: unknown) => codeOf(e) === 'model/unsupported-architecture' && /Gemma 4 blocks run on the CPU only/.test(String(e)),
    );
  });

  test('blocks sharing the KV cache of a block of the other kind are refused, naming both', () => {
    const fm = fixture.models.find((m) => m.name === 'gemma4-e2b-f32')!;
    // Block 4 (sliding) would read block 2's cache (llama.cpp's mapping), a full block here.
    const bytes = writeGemma4Model({ ...fm.source.spec, swaLayers: [true, true, false, true, true, false] });
    assert.throws(
      () => Model.load(engine, bytes),
      (e: unknown) => codeOf(e) === 'model/invalid' && /block 4 shares the KV cache of block 2/.test(String(e)),
    );
  });

  test('a mixture-of-experts Gemma 4 (26B-A4B) is refused with a typed error naming the missing feature', () => {
    const fm = fixture.models.find((m) => m.name === 'gemma4-dense-f32')!;
    const bytes = writeGemma4Model({ ...fm.source.spec, expertCount: 4 });
    assert.throws(
      () => Model.load(engine, bytes),
      (e: unknown) => codeOf(e) === 'model/unsupported-architecture' && /mixture-of-experts/.test(String(e)),
    );
  });
});

describe('the memory estimate of Gemma 4 counts the caches it keeps and its per-layer inputs', () => {
  // Blocks sharing another's cache keep none, and the cache row is the
  // widest block's (per-block KV head counts are an array the header read
  // leaves out): within 10% of the heap measured, as fit.test.ts asks of
  // the other architectures.
  for (const name of ['gemma4-e2b-f32', 'gemma4-dense-f32']) {
    test(`${name}: the wasm estimate at a context of 32768 is within 10% of the measured heap`, async (t) => {
      const fm = fixture.models.find((m) => m.name === name)!;
      const bytes = writeGemma4Model({ ...fm.source.spec, nCtxTrain: 32768 });
      const est = estimateMemory(fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]), 0, 32768, { threads: 1 });
      const engine = await Engine.create({ threads: 1 });
      try {
        const model = Model.load(engine, bytes);
        const session = Session.create(model, { nCtx: 32768 });
        await session.eval([1, 2, 3]);
        const used = engine.heapBytes();
        session.free();
        model.free();
        const err = est.wasm.totalBytes / used - 1;
        t.diagnostic(`estimated ${est.wasm.totalBytes} bytes, measured ${used} (${(err * 100).toFixed(2)}%)`);
        assert.ok(Math.abs(err) < 0.1, `estimated ${est.wasm.totalBytes}, measured ${used}`);
      } finally {
        engine.dispose();
      }
    });
  }
});

test("gpuLayers 'auto' keeps Gemma 4 on the CPU and says why", async () => {
  const fm = fixture.models.find((m) => m.name === 'gemma4-e2b-f32')!;
  const bytes = modelBytes(fm);
  const model = fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);
  const gpu = { budgetBytes: 2 ** 31, maxBufferBytes: 2 ** 30, maxBindingBytes: 2 ** 27 };
  const auto = autoGpuLayers(model, 256, gpu);
  assert.equal(auto.gpuLayers, 0);
  assert.match(describeAutoGpuLayers(auto, model.nLayer, gpu), /Gemma 4 blocks run on the CPU only/);
});

describe('engine.info() tells what a shift does with Gemma 4, and the API runs it', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-gemma4-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('gemma4-e2b-f32: shift mode rotate; a completion through the API equals the fixture\'s greedy tokens', async () => {
    const fm = fixture.models.find((m) => m.name === 'gemma4-e2b-f32')!;
    const path = join(dir, `${fm.name}.gguf`);
    writeFileSync(path, modelBytes(fm));
    const engine = await createEngine({ model: path, contextSize: 256, threads: 1 });
    try {
      const info = await engine.info();
      assert.equal(info.model.architecture, 'gemma4');
      assert.deepEqual(info.shift, { mode: 'rotate', checkpoints: 0 });
      const run = fm.runs[0];
      const r = await engine.completions.create({ prompt: run.prompt, max_tokens: 8, temperature: 0, ignore_eos: true });
      assert.equal(r.usage.completion_tokens, 8);
      assert.equal(r.usage.prompt_tokens, run.promptIds.length);
    } finally {
      await engine.unload();
    }
  });
});
