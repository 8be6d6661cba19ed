// Loading with offloaded blocks: 'auto' chooses within the GPU budget (the
// fit estimate's weights, KV cache and scratch) and says why, offloaded
// weights never enter the wasm heap, and a lost device is a typed error
// after which the model reloads on the CPU.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, GpuError, loadModelFromSource, Session } from '../../src/node/index.js';
import { bytesSource } from '../../src/format/source.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { estimateMemory, fitModelFromLayouts } from '../../src/runtime/memory-estimate.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { requestNodeGpu } from './node-gpu.js';

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

const tiny = writeRandomLlama(makeSpec('tiny', { weightType: 'f32' }));

async function firstLogits(model: Awaited<ReturnType<typeof loadModelFromSource>>): Promise<Float32Array> {
  const s = Session.create(model, { nCtx: 32 });
  await s.eval([1, 17, 230, 5]);
  const l = s.logits();
  s.free();
  return l;
}

test("gpuLayers 'auto' offloads the most blocks whose GPU memory fits the budget at the session's context, and says why", async () => {
  const gpu = await requestNodeGpu();
  const fm = fitModelFromLayouts([await readGgufLayout(bytesSource(tiny))], [tiny.byteLength]);
  // Between what 2 and 3 blocks take (weights, KV cache for 32 cells, scratch).
  const gpuAt = (k: number) => estimateMemory(fm, k, 32, { maxBindingBytes: gpu.caps.maxBindingBytes }).gpu.totalBytes;
  const budget = Math.floor((gpuAt(2) + gpuAt(3)) / 2);
  const m = await loadModelFromSource(engine, bytesSource(tiny), { gpuLayers: 'auto', gpu, contextSize: 32, gpuBudgetBytes: budget });
  assert.equal(m.loadReport?.gpuLayers, 2);
  assert.equal(m.loadReport?.headOnGpu, false);
  assert.match(m.loadReport!.reason, /^auto: 2 of 4 blocks on the GPU at a context of 32 take [\d.]+ MiB \(weights .*\) of the GPU budget of [\d.]+ MiB .*; one more: 3 GPU layers need/);
  const all = await loadModelFromSource(engine, bytesSource(tiny), { gpuLayers: 'auto', gpu, contextSize: 32, gpuBudgetBytes: 1 << 30 });
  assert.equal(all.loadReport?.gpuLayers, 4);
  assert.equal(all.loadReport?.headOnGpu, true);
  m.free();
  all.free();
  gpu.device.destroy();
});

test('offloaded weights never enter the wasm heap: a model larger than the heap runs with every block on the GPU', async () => {
  const gpu = await requestNodeGpu();
  const e = await Engine.create({ threads: 1 });
  // 8 blocks of width 512: about 128 MB of f32 weights, near twice the initial 64 MiB heap.
  const big = writeRandomLlama(makeSpec('tiny', { weightType: 'f32', nEmbd: 512, nFf: 2048, nLayer: 8, nHead: 8, nHeadKv: 4 }));
  const heapBefore = e.heap().byteLength;
  const m = await loadModelFromSource(e, bytesSource(big), { gpuLayers: 8, gpu });
  const l = await firstLogits(m);
  assert.ok(big.byteLength > heapBefore, `the model (${big.byteLength} bytes) is larger than the heap (${heapBefore})`);
  assert.equal(e.heap().byteLength, heapBefore, 'the heap did not grow');
  assert.ok(m.loadReport!.cpuWeightBytes < big.byteLength / 50, `CPU weights: ${m.loadReport!.cpuWeightBytes} bytes`);
  assert.ok(l.every(Number.isFinite));
  m.free();
  e.dispose();
  gpu.device.destroy();
});

test('a lost device is a GpuError with lost set, and the model then reloads with gpuLayers 0', async () => {
  const gpu = await requestNodeGpu();
  const m = await loadModelFromSource(engine, bytesSource(tiny), { gpuLayers: 2, gpu });
  const s = Session.create(m, { nCtx: 32 });
  await s.eval([1, 2, 3]);
  gpu.device.destroy();
  await gpu.lost;
  await assert.rejects(s.eval([4]), (e: unknown) => e instanceof GpuError && e.code === 'gpu/device-lost' && e.details.lost === true);
  assert.equal(s.nPast, 3, 'the failed step left the cache as it was');
  s.free();
  m.free();
  const cpu = await loadModelFromSource(engine, bytesSource(tiny), { gpuLayers: 0 });
  const ref = await loadModelFromSource(engine, bytesSource(tiny));
  assert.deepEqual(await firstLogits(cpu), await firstLogits(ref));
  cpu.free();
  ref.free();
});
