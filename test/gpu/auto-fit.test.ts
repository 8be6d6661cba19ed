// gpuLayers 'auto' on a real WebGPU device (Dawn on SwiftShader): the blocks
// a load offloads are the ones Node's checkFit suggests for the same model,
// context and GPU budget (checkFit reading the adapter's limits itself),
// through loadModelFromSource and through createEngine's worker; and a
// longer context leaves room for fewer of them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { checkFit, createEngine, Engine, loadModelFromSource } from '../../src/node/index.js';
import { bytesSource } from '../../src/format/source.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { estimateMemory, fitModelFromLayouts } from '../../src/runtime/memory-estimate.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { requestNodeGpu } from './node-gpu.js';

const GiB = 2 ** 30;
const models = [
  ['Q8_0, 6 blocks', writeRandomLlama(makeSpec('tiny', { nEmbd: 256, nLayer: 6, nHead: 4, nHeadKv: 2, nFf: 768, nVocab: 4000, nCtxTrain: 8192, weightType: 'q8_0' }))],
  ['Q4_K, 4 blocks', writeRandomLlama(makeSpec('tiny', { nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 4, nFf: 768, nVocab: 4000, nCtxTrain: 8192, weightType: 'q4_k' }))],
] as const;

let gpu: GpuContext;
let engine: Engine;
before(async () => {
  gpu = await requestNodeGpu();
  engine = await Engine.create({ threads: 1 });
});
after(() => {
  engine?.dispose();
  gpu?.device.destroy();
});

test("loadModelFromSource's 'auto' offloads the blocks checkFit suggests, for each model, context and GPU budget", async (t) => {
  const ks = new Set<number>();
  for (const [name, bytes] of models) {
    const fm = fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);
    for (const contextSize of [256, 4096]) {
      const all = estimateMemory(fm, fm.nLayer, contextSize, { maxBindingBytes: gpu.caps.maxBindingBytes }).gpu.totalBytes;
      for (const share of [0.35, 0.75]) {
        const gpuBytes = Math.floor(all * share);
        const report = await checkFit({ bytes }, { gpuLayers: 'auto', contextSize, budget: { gpuBytes, memoryBytes: GiB }, threads: 1 });
        assert.equal(report.limits.gpuBudgetBytes, gpuBytes);
        assert.equal(report.limits.gpuMaxBufferBytes, Math.min(gpu.caps.maxBufferBytes, gpu.caps.maxBindingBytes), "the adapter's limits, read by checkFit");
        const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: 'auto', gpu, contextSize, gpuBudgetBytes: gpuBytes });
        const k = model.loadReport!.gpuLayers;
        t.diagnostic(`${name}, context ${contextSize}, budget ${gpuBytes}: ${k} blocks (${model.loadReport!.reason})`);
        assert.equal(k, report.settings!.gpuLayers, `${name}, context ${contextSize}, budget ${(share * 100).toFixed(0)}%`);
        assert.equal(model.offload?.sizeBytes ?? 0, model.loadReport!.gpuWeightBytes);
        ks.add(k);
        model.free();
      }
    }
  }
  assert.ok([...ks].some((k) => k > 0) && ks.size >= 3, `choices: ${[...ks].join(', ')}`);
});

test("createEngine with 'auto' offloads what checkFit suggests, fewer blocks for a longer context, and says why", async () => {
  const bytes = models[0][1];
  const budget = { gpuBytes: 24 * 2 ** 20, memoryBytes: GiB };
  const chosen: number[] = [];
  for (const contextSize of [512, 8192]) {
    const report = await checkFit({ bytes }, { gpuLayers: 'auto', contextSize, budget, threads: 1 });
    const e = await createEngine({ model: { bytes }, gpuLayers: 'auto', contextSize, budget, threads: 1 });
    try {
      const info = await e.info();
      assert.equal(info.load.gpuLayers, report.settings!.gpuLayers, `context ${contextSize}: ${info.load.reason}`);
      assert.equal(info.load.estimate?.gpuLayers, info.load.gpuLayers);
      assert.match(info.load.reason ?? '', new RegExp(`^auto: ${info.load.gpuLayers} of 6 blocks on the GPU at a context of ${contextSize} take [\\d.]+ MiB .* of the GPU budget of 24 MiB`));
      chosen.push(info.load.gpuLayers);
    } finally {
      await e.unload();
    }
  }
  assert.ok(chosen[0] > chosen[1], `blocks at 512 and 8192 cells: ${chosen.join(', ')}`);
});
