// gpuLayers 'auto' decides with checkFit's numbers: the loader's choice
// (runtime/load.ts chooseGpuLayers, from the header the engine parsed) equals
// checkFit's suggestion for the same model, context and GPU limits, across
// models, contexts, budgets and binding limits; a longer context leaves room
// for fewer blocks; and without a GPU the verdict says so (0 blocks for
// 'auto', a GpuError for a number, before anything is loaded). No GPU here:
// the limits are made up (test/gpu/auto-fit.test.ts uses Dawn's), and Node's
// checkFit runs once in a process whose Vulkan loader finds no driver.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { decideFit } from '../../src/api/fit-settings.js';
import { readGgufHeaderFrom } from '../../src/core/gguf-header.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { deviceLimits } from '../../src/runtime/device-limits.js';
import { autoGpuLayers, checkModelFit, type DeviceLimits, type GpuLimits } from '../../src/runtime/fit.js';
import { chooseGpuLayers } from '../../src/runtime/load.js';
import { estimateMemory, fitModelFromLayouts, type FitModel } from '../../src/runtime/memory-estimate.js';
import { GpuError, ModelTooLargeError } from '../../src/shared/errors.js';
import type { GgufHeader } from '../../src/shared/model.js';
import type { FitReport } from '../../src/shared/types.js';
import { testdataDir } from '../data.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

const run = promisify(execFile);
const MiB = 2 ** 20;
const GiB = 2 ** 30;

const models = [
  ['the llama.cpp-written model', readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf'))],
  ['a Q8_0 model (6 blocks, 8192 context)', writeRandomLlama(makeSpec('tiny', { nEmbd: 512, nLayer: 6, nHead: 8, nHeadKv: 8, nFf: 1536, nVocab: 8000, nCtxTrain: 8192, weightType: 'q8_0' }))],
  ['a Q4_K GQA model (8 blocks)', writeRandomLlama(makeSpec('tiny', { nEmbd: 256, nLayer: 8, nHead: 8, nHeadKv: 2, nFf: 768, nVocab: 4000, nCtxTrain: 4096, weightType: 'q4_k' }))],
  ['an f16 model with a tied head', writeRandomLlama(makeSpec('tiny', { nEmbd: 128, nLayer: 5, nHead: 4, nHeadKv: 4, nFf: 384, nVocab: 3000, weightType: 'f16', tiedOutput: true }))],
] as const;

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

interface Parsed {
  header: GgufHeader;
  nLayer: number;
  fit: FitModel;
  bytes: Uint8Array;
}

async function parse(bytes: Uint8Array): Promise<Parsed> {
  const { header } = await readGgufHeaderFrom(engine, bytesSource(bytes), { maxArray: 0 });
  const arch = String(header.metadata['general.architecture']);
  const fit = fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);
  return { header, nLayer: Number(header.metadata[`${arch}.block_count`]), fit, bytes };
}

/** A device that reports these limits (the loader reads only caps). */
const fakeGpu = (g: GpuLimits) => ({ caps: { maxBufferBytes: g.maxBufferBytes, maxBindingBytes: g.maxBindingBytes } }) as unknown as GpuContext;
const limitsWith = (gpu: GpuLimits | undefined, memoryBudgetBytes = 64 * GiB): DeviceLimits => ({
  memoryBudgetBytes, memoryBudgetSource: 'test', threads: 1, unifiedMemory: false, ...(gpu ? { gpu } : {}),
});
const loaderChoice = (m: Parsed, g: GpuLimits, contextSize: number | undefined) =>
  chooseGpuLayers(m.header, m.bytes.byteLength, m.nLayer, { gpuLayers: 'auto', gpu: fakeGpu(g), gpuBudgetBytes: g.budgetBytes, contextSize });

test("the loader's 'auto' equals checkFit's gpuLayers for every model, context, GPU budget and binding limit", async () => {
  let cases = 0;
  const seen = new Set<string>();
  for (const [name, bytes] of models) {
    const m = await parse(bytes);
    for (const ctx of [undefined, 256, 2048, 8192]) {
      const all = estimateMemory(m.fit, m.fit.nLayer, ctx ?? 4096, { maxBindingBytes: GiB }).gpu.totalBytes;
      for (const share of [0.05, 0.3, 0.55, 0.8, 1.5]) {
        for (const binding of [GiB, 256 << 10]) {
          const gpu = { budgetBytes: Math.floor(all * share), maxBufferBytes: 4 * GiB, maxBindingBytes: binding };
          const report = checkModelFit(m.fit, { gpuLayers: 'auto', contextSize: ctx }, limitsWith(gpu));
          const loaded = loaderChoice(m, gpu, ctx);
          const what = `${name}, context ${ctx ?? 'default'}, budget ${(share * 100).toFixed(0)}%, binding ${binding}`;
          assert.equal(report.verdict, 'fits', what);
          assert.equal(loaded.k, report.settings!.gpuLayers, `${what}: the loader chose ${loaded.k}, checkFit ${report.settings!.gpuLayers}`);
          seen.add(`${name}/${loaded.k === 0 ? 'none' : loaded.k === m.nLayer ? 'all' : 'some'}`);
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 160);
  // The cases cover none, some and all of the blocks for each model (the one-block model has no "some").
  for (const [name] of models) {
    for (const k of name === models[0][0] ? ['none', 'all'] : ['none', 'some', 'all']) assert.ok(seen.has(`${name}/${k}`), `${name}: no case chose ${k}`);
  }
});

test("when checkFit shortens an unasked context, the loader given that context chooses its gpuLayers too", async () => {
  const m = await parse(models[1][1]);
  const gpu = { budgetBytes: 40 * MiB, maxBufferBytes: GiB, maxBindingBytes: GiB };
  // Room in wasm (at least its initial 64 MiB) for the CPU blocks at 1024 cells but not at 4096.
  const wasmAt = (ctx: number) => estimateMemory(m.fit, autoGpuLayers(m.fit, ctx, gpu).gpuLayers, ctx).wasm.totalBytes;
  const budget = Math.max(64 * MiB, wasmAt(1024)) + MiB;
  assert.ok(wasmAt(4096) > budget);
  const report = checkModelFit(m.fit, { gpuLayers: 'auto' }, limitsWith(gpu, budget));
  assert.equal(report.verdict, 'fits');
  assert.ok(report.settings!.contextSize < 4096, `context ${report.settings!.contextSize}`);
  assert.equal(loaderChoice(m, gpu, report.settings!.contextSize).k, report.settings!.gpuLayers);
});

test("'auto' takes fewer blocks as the context grows (their KV cache shares the GPU budget), and says so in MiB", async () => {
  const m = await parse(models[1][1]);
  const gpu = { budgetBytes: 48 * MiB, maxBufferBytes: GiB, maxBindingBytes: GiB };
  const picks = [256, 2048, 8192].map((ctx) => loaderChoice(m, gpu, ctx));
  const ks = picks.map((p) => p.k);
  assert.ok(ks[0] > ks[1] && ks[1] > ks[2], `blocks at 256, 2048, 8192 cells: ${ks.join(', ')}`);
  assert.equal(ks[0], 6, 'every block fits beside a short cache');
  assert.match(picks[2].reason, /^auto: \d of 6 blocks on the GPU at a context of 8192 take [\d.]+ MiB \(weights [\d.]+ MiB, KV cache [\d.]+ MiB, scratch [\d.]+ MiB\) of the GPU budget of 48 MiB/);
  assert.match(picks[2].reason, /one more: \d GPU layers need [\d.]+ MiB of GPU memory; the GPU budget is 48 MiB/);
  // checkFit says the same.
  for (const [i, ctx] of [256, 2048, 8192].entries()) {
    assert.equal(checkModelFit(m.fit, { gpuLayers: 'auto', contextSize: ctx }, limitsWith(gpu)).settings!.gpuLayers, ks[i]);
  }
  // A context of 0 is the training context (8192), as Session.create takes it.
  assert.equal(chooseGpuLayers(m.header, m.bytes.byteLength, 6, { gpuLayers: 'auto', gpu: fakeGpu(gpu), gpuBudgetBytes: gpu.budgetBytes, contextSize: 0 }).k, ks[2]);
});

test("without a GPU: 'auto' fits with 0 blocks and says why; a number of blocks becomes gpuLayers 0 with a gpu-unavailable problem", async () => {
  const m = await parse(models[1][1]);
  const none = deviceLimits({ threads: 1, noGpu: "GPU layers in Node need the 'webgpu' package" }, { memoryBytes: GiB });
  const auto = checkModelFit(m.fit, { gpuLayers: 'auto', contextSize: 512 }, none);
  assert.equal(auto.verdict, 'fits');
  assert.deepEqual(auto.settings, { gpuLayers: 0, contextSize: 512 });
  assert.match(auto.reason, /no GPU: GPU layers in Node need the 'webgpu' package/);
  assert.equal(auto.limits.noGpu, "GPU layers in Node need the 'webgpu' package");
  const four = checkModelFit(m.fit, { gpuLayers: 4, contextSize: 512 }, none);
  assert.equal(four.verdict, 'fits-with-changes');
  assert.deepEqual(four.settings, { gpuLayers: 0, contextSize: 512 });
  assert.deepEqual(four.problems.map((p) => p.limit), ['gpu-unavailable']);
  assert.match(four.problems[0].message, /4 GPU layers need a GPU: GPU layers in Node need the 'webgpu' package/);
  // No GPU asked for: nothing is said about one.
  const cpu = checkModelFit(m.fit, { contextSize: 512 }, none);
  assert.deepEqual(cpu.problems, []);
  // With the adapter's numbers, the report names it.
  const named = deviceLimits({ threads: 1, gpu: { maxBufferBytes: GiB, maxBindingBytes: GiB, name: 'test adapter' } });
  assert.equal(checkModelFit(m.fit, { gpuLayers: 'auto', contextSize: 512 }, named).limits.gpuName, 'test adapter');
});

test("createEngine's decision: a GpuError for GPU layers on a device without a GPU, a ModelTooLargeError otherwise, 'auto' left to the loader", async () => {
  const m = await parse(models[1][1]);
  const check = (limits: DeviceLimits) => async (_model: string, o: { gpuLayers?: number | 'auto'; contextSize?: number }): Promise<FitReport> =>
    checkModelFit(m.fit, { gpuLayers: o.gpuLayers, contextSize: o.contextSize }, limits);
  const none = deviceLimits({ threads: 1, noGpu: 'no WebGPU adapter was found' }, { memoryBytes: GiB });
  await assert.rejects(decideFit(check(none), 'm.gguf', { gpuLayers: 3 }), (e: unknown) =>
    e instanceof GpuError && e.code === 'gpu/unavailable' && /no WebGPU adapter was found/.test(e.message));
  const auto = await decideFit(check(none), 'm.gguf', { gpuLayers: 'auto' });
  assert.deepEqual(auto?.settings, { contextSize: 4096 });
  const gpu = deviceLimits({ threads: 1, gpu: { maxBufferBytes: GiB, maxBindingBytes: GiB } }, { memoryBytes: GiB, gpuBytes: 48 * MiB });
  const withGpu = await decideFit(check(gpu), 'm.gguf', { gpuLayers: 'auto', contextSize: 2048 });
  assert.deepEqual(withGpu?.settings, { contextSize: 2048 }, "'auto' stays 'auto' for the loader");
  assert.ok(withGpu!.report.settings!.gpuLayers > 0 && withGpu!.report.settings!.gpuLayers < 6);
  // Too small a memory budget is still a ModelTooLargeError, GPU or not.
  const tight = deviceLimits({ threads: 1, noGpu: 'none' }, { memoryBytes: 8 * MiB });
  await assert.rejects(decideFit(check(tight), 'm.gguf', { gpuLayers: 2 }), (e: unknown) => e instanceof ModelTooLargeError);
});

test("Node's checkFit on a machine without a GPU adapter: 'auto' fits on the CPU and the report says why", async () => {
  // A Vulkan loader pointed at no driver: Dawn finds no adapter (without the
  // webgpu package, the reason is that it is missing). A child process, as
  // Dawn reads the variable once per process.
  const script = `
    import { checkFit } from ${JSON.stringify(new URL('../../src/node/index.ts', import.meta.url).href)};
    const path = ${JSON.stringify(join(testdataDir, 'llama-2-tiny-random.gguf'))};
    const auto = await checkFit(path, { gpuLayers: 'auto', contextSize: 64 });
    const one = await checkFit(path, { gpuLayers: 1, contextSize: 64 });
    process.stdout.write(JSON.stringify({ auto, one }));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, VK_ICD_FILENAMES: join(tmpdir(), 'no-such-driver.json') },
  });
  const { auto, one } = JSON.parse(stdout) as { auto: FitReport; one: FitReport };
  assert.equal(auto.verdict, 'fits');
  assert.equal(auto.settings!.gpuLayers, 0);
  assert.match(auto.limits.noGpu ?? '', /no WebGPU adapter|'webgpu' package/);
  assert.match(auto.reason, /; no GPU: /);
  assert.equal(one.verdict, 'fits-with-changes');
  assert.equal(one.settings!.gpuLayers, 0);
  assert.deepEqual(one.problems.map((p) => p.limit), ['gpu-unavailable']);
});
