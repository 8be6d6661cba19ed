// Context shift against llama.cpp: evaluate a prompt, evict a span from the
// middle (llama.cpp: eraseContextTokenRanges, which shifts the later
// positions and re-rotates their keys), evaluate more tokens; the top-10
// logits after each must agree with llama.cpp's. Every architecture runs
// with all blocks in wasm (k = 0) and with every block on the GPU (k = all,
// Dawn on SwiftShader). Fixture and script:
// test/fixtures/shift.json, scripts/oracle/make-shift-fixtures.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { GpuContext } from '../../src/gpu/device.js';
import { bytesSource, Engine, loadModelFromSource, Session } from '../../src/node/index.js';
import { writeArchModel, type ArchName, type ArchSpec } from '../gguf/arch-models.js';
import { writeRandomLlama, type LlamaSpec } from '../gguf/random-model.js';
import { watchUncaptured } from '../gpu/harness.js';
import { requestNodeGpu } from '../gpu/node-gpu.js';

interface ShiftCase {
  name: string;
  arch?: ArchName;
  spec: LlamaSpec | ArchSpec;
  sha256: string;
  contextSize: number;
  prompt: number[];
  erase: { start: number; end: number };
  continuation: number[];
  steps: [number, number][][];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/shift.json'), 'utf8')) as {
  generator: string;
  cases: ShiftCase[];
};

// As in generation.test.ts: f16 rounding points shared, summation order not.
// The gemmas' large post-norms magnify rounding differences (as in
// arch-generation.test.ts).
const TOLERANCE: Record<string, number> = { f32: 5e-3, q8_0: 0.1 };
const GEMMA_TOLERANCE: Record<string, number> = { f32: 1e-2, q8_0: 0.25 };

describe(`context shift against llama.cpp (${fixture.generator})`, () => {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];
  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 2 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(() => {
    engine?.dispose();
    gpu?.device.destroy();
  });

  for (const c of fixture.cases) {
    const arch = c.arch ?? 'llama';
    const splits = ['k = 0', 'k = all'];
    for (const split of splits) {
      test(`${c.name} (${arch}, ${split}): logits after the shift agree with llama.cpp's at every step`, async (t) => {
        const bytes = c.arch ? writeArchModel(c.spec as ArchSpec) : writeRandomLlama(c.spec);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), c.sha256);
        const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: split === 'k = 0' ? 0 : c.spec.nLayer, gpu });
        assert.equal(model.loadReport?.gpuLayers ?? 0, split === 'k = 0' ? 0 : c.spec.nLayer);
        const s = Session.create(model, { nCtx: c.contextSize });
        try {
          await s.eval(c.prompt);
          s.erase(c.erase.start, c.erase.end);
          assert.equal(s.nPast, c.prompt.length - (c.erase.end - c.erase.start));
          let worst = 0;
          for (const [i, token] of c.continuation.entries()) {
            await s.eval([token]);
            const logits = s.logits();
            let max = -Infinity;
            for (const l of logits) max = Math.max(max, l);
            assert.equal(logits.indexOf(max), c.steps[i][0][0], `step ${i}: the top token differs`);
            for (const [id, rel] of c.steps[i]) worst = Math.max(worst, Math.abs(logits[id] - max - rel));
          }
          t.diagnostic(`largest logit difference ${worst.toExponential(2)}`);
          const tol = (arch.startsWith('gemma') ? GEMMA_TOLERANCE : TOLERANCE)[c.spec.weightType];
          assert.ok(worst <= tol, `largest difference ${worst} (limit ${tol})`);
        } finally {
          s.free();
          model.free();
        }
        await gpu.device.queue.onSubmittedWorkDone();
        assert.deepEqual(uncaptured.splice(0), [], 'uncaptured WebGPU errors');
      });
    }
  }
});
