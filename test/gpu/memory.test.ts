// The GPU side of the fit estimate (src/gpu/memory.ts) against the buffers a
// real upload and session create on Dawn: every createBuffer is counted
// while a model loads with offloaded blocks and a session evaluates a batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Engine, loadModelFromSource, Session } from '../../src/node/index.js';
import { bytesSource } from '../../src/format/source.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { DEFAULT_GPU_BUDGET } from '../../src/runtime/device-limits.js';
import { estimateMemory, fitModelFromLayouts } from '../../src/runtime/memory-estimate.js';
import { makeGemma4Spec, writeGemma4Model } from '../gguf/gemma4-models.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { requestNodeGpu } from './node-gpu.js';

const cases = [
  ['Q8_0, 3 of 6 blocks', makeSpec('tiny', { nEmbd: 256, nLayer: 6, nHead: 4, nHeadKv: 2, nFf: 768, nVocab: 4000, weightType: 'q8_0' }), 3, 512],
  ['Q4_K, every block and the head', makeSpec('tiny', { nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 4, nFf: 768, nVocab: 4000, weightType: 'q4_k' }), 4, 1024],
] as const;
// Gemma 4: caches of two widths, blocks without one, per-layer inputs.
const gemma4 = { nEmbd: 256, nFf: 768, nFfShared: 1536, nEmbdPerLayer: 64 };
const gemma4Cases = [
  ['Gemma 4 E2B-like Q8_0, 4 of 6 blocks', makeGemma4Spec('e2b', { ...gemma4, weightType: 'q8_0' }), 4, 512],
  // The cache dominates: counted as 6 blocks of the widest rows, the total would be 1.7 times too large.
  ['Gemma 4 E2B-like F32, every block and the head', makeGemma4Spec('e2b', gemma4), 6, 8192],
  ['Gemma 4 dense F32, every block and the head', makeGemma4Spec('dense', gemma4), 6, 1024],
] as const;

for (const [name, spec, k, nCtx] of [...cases.map(([n, s, k, c]) => [n, () => writeRandomLlama(s), k, c] as const), ...gemma4Cases.map(([n, s, k, c]) => [n, () => writeGemma4Model(s), k, c] as const)]) {
  test(`GPU bytes of ${name} at a context of ${nCtx} are within 10% of the buffers created`, async (t) => {
    const bytes = spec();
    const gpu = await requestNodeGpu();
    let created = 0;
    const createBuffer = gpu.device.createBuffer.bind(gpu.device);
    gpu.device.createBuffer = (d: GPUBufferDescriptor) => {
      created += d.size;
      return createBuffer(d);
    };
    const engine = await Engine.create({ threads: 1 });
    try {
      const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
      const s = Session.create(model, { nCtx });
      await s.eval(Array.from({ length: 64 }, (_, i) => (i * 11 + 1) % model.info.nVocab));
      const fm = fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);
      // The loader's budget: an untied model's embeddings go up with its head (decoding ahead).
      const est = estimateMemory(fm, k, nCtx, { maxBindingBytes: gpu.caps.maxBindingBytes, gpuBudgetBytes: DEFAULT_GPU_BUDGET });
      if (name.startsWith('Q4_K')) assert.ok((est.gpu.embedBytes ?? 0) > 0, 'the untied embeddings are counted');
      const err = est.gpu.totalBytes / created - 1;
      t.diagnostic(`estimated ${est.gpu.totalBytes} bytes, created ${created} (${(err * 100).toFixed(2)}%)`);
      assert.ok(Math.abs(err) < 0.1, `estimated ${est.gpu.totalBytes} (weights ${est.gpu.weightBytes}, kv ${est.gpu.kvBytes}, scratch ${est.gpu.scratchBytes}), created ${created} (${(err * 100).toFixed(1)}%)`);
      s.free();
      model.free();
    } finally {
      engine.dispose();
      gpu.device.destroy();
    }
  });
}
