// Will the model fit? The estimate from a GGUF header against the wasm heap
// a load and a session really take (the heap's end, measured after a batch
// was evaluated, fresh engine each), within 10%; the verdicts and their
// suggestions against chosen limits; the device's defaults; and createEngine
// refusing a model its budget cannot hold before downloading it (counted in
// bytes the server sent), or shortening an unasked context to fit.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { bytesSource, checkFit, createEngine, Engine, loadModelFromSource, ModelTooLargeError, Session } from '../../src/node/index.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { deviceLimits, MOBILE_MEMORY_BUDGET } from '../../src/runtime/device-limits.js';
import { checkModelFit, type DeviceLimits } from '../../src/runtime/fit.js';
import { estimateMemory, fitModelFromLayouts, WASM_MAX_BYTES, type FitModel } from '../../src/runtime/memory-estimate.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { testdataDir } from '../data.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const real = readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf'));
// 29 MB: weights dominate the heap (8000 tokens, 6 blocks of width 512, Q8_0).
const mid = writeRandomLlama(makeSpec('tiny', { nEmbd: 512, nLayer: 6, nHead: 8, nHeadKv: 8, nFf: 1536, nVocab: 8000, nCtxTrain: 8192, weightType: 'q8_0' }));

async function fitModel(bytes: Uint8Array): Promise<FitModel> {
  return fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);
}

/** The heap's end after loading and evaluating a batch of 300 tokens (fewer in a short context). */
async function measuredHeap(bytes: Uint8Array, nCtx: number, threads: number): Promise<number> {
  const engine = await Engine.create({ threads });
  try {
    const model = await loadModelFromSource(engine, bytesSource(bytes));
    const s = Session.create(model, { nCtx });
    await s.eval(Array.from({ length: Math.min(nCtx, 300) }, (_, i) => (i * 7 + 3) % 500));
    const used = engine.heapBytes();
    s.free();
    model.free();
    return used;
  } finally {
    engine.dispose();
  }
}

for (const [name, bytes, nCtx, threads] of [
  ['the llama.cpp-written model', real, 512, 1],
  ['the llama.cpp-written model', real, 4096, 1],
  ['a 29 MB Q8_0 model', mid, 256, 1],
  ['a 29 MB Q8_0 model', mid, 4096, 1],
  ['a 29 MB Q8_0 model', mid, 4096, 2],
] as const) {
  test(`the wasm estimate of ${name} at a context of ${nCtx} with ${threads} thread(s) is within 10% of the measured heap`, async (t) => {
    const est = estimateMemory(await fitModel(bytes), 0, nCtx, { threads });
    const used = await measuredHeap(bytes, nCtx, threads);
    const err = est.wasm.totalBytes / used - 1;
    t.diagnostic(`estimated ${est.wasm.totalBytes} bytes, measured ${used} (${(err * 100).toFixed(2)}%)`);
    assert.ok(Math.abs(err) < 0.1, `estimated ${(est.wasm.totalBytes / MiB).toFixed(2)} MiB, measured ${(used / MiB).toFixed(2)} MiB (${(err * 100).toFixed(1)}%)`);
    assert.equal(est.gpu.totalBytes, 0);
  });
}

const limits = (memoryBudgetBytes: number, gpu?: DeviceLimits['gpu']): DeviceLimits => ({
  memoryBudgetBytes, memoryBudgetSource: 'test', threads: 1, unifiedMemory: false, ...(gpu ? { gpu } : {}),
});

test('verdicts: fits; an unasked context is shortened to fit; an asked one is a suggestion; nothing fits is why, in bytes', async () => {
  const m = await fitModel(mid);
  const at = (ctx: number) => estimateMemory(m, 0, ctx).wasm.totalBytes;
  const roomy = checkModelFit(m, {}, limits(GiB));
  assert.equal(roomy.verdict, 'fits');
  assert.deepEqual(roomy.settings, { gpuLayers: 0, contextSize: 4096 }, 'min(training context, 4096)');
  assert.deepEqual(roomy.problems, []);

  // Room for a context of 2048 but not 4096 (the wasm memory starts at 64 MiB, so no budget below that fits).
  const budget = Math.floor((Math.max(at(2048), 64 * MiB) + at(4096)) / 2);
  const unasked = checkModelFit(m, {}, limits(budget));
  assert.equal(unasked.verdict, 'fits');
  assert.deepEqual(unasked.settings, { gpuLayers: 0, contextSize: 2048 });
  const asked = checkModelFit(m, { contextSize: 4096 }, limits(budget));
  assert.equal(asked.verdict, 'fits-with-changes');
  assert.deepEqual(asked.settings, { gpuLayers: 0, contextSize: 2048 });
  assert.equal(asked.problems[0].limit, 'memory-budget');
  assert.equal(asked.problems[0].neededBytes, Math.ceil(at(4096)));
  assert.equal(asked.problems[0].limitBytes, budget);

  const none = checkModelFit(m, {}, limits(20 * MiB));
  assert.equal(none.verdict, 'does-not-fit');
  assert.equal(none.settings, undefined);
  assert.match(none.reason, /budget is 20 MiB/);
});

test('past the 4 GiB wasm32 can address is a wasm-heap problem; GPU layers make it fit; the GPU buffer limit is judged', async () => {
  const base = await fitModel(mid);
  // The same model with every block weight 300 times larger: 6 GiB of blocks.
  const big: FitModel = { ...base, tensors: base.tensors.map((t) => (t.name.startsWith('blk.') && t.dims.length === 2 ? { ...t, sizeBytes: t.sizeBytes * 300 } : t)) };
  const gpu = { budgetBytes: 64 * GiB, maxBufferBytes: 4 * GiB, maxBindingBytes: 2 * GiB };
  const cpuOnly = checkModelFit(big, { contextSize: 512 }, limits(16 * GiB));
  assert.equal(cpuOnly.verdict, 'does-not-fit');
  assert.equal(cpuOnly.problems[0].limit, 'wasm-heap');
  assert.equal(cpuOnly.problems[0].limitBytes, WASM_MAX_BYTES);
  const withGpu = checkModelFit(big, { contextSize: 512 }, limits(16 * GiB, gpu));
  assert.equal(withGpu.verdict, 'fits-with-changes');
  assert.ok(withGpu.settings!.gpuLayers > 0 && withGpu.settings!.gpuLayers <= 6);
  assert.ok(withGpu.estimate.wasm.totalBytes <= WASM_MAX_BYTES);
  const auto = checkModelFit(big, { contextSize: 512, gpuLayers: 'auto' }, limits(16 * GiB, gpu));
  assert.equal(auto.verdict, 'fits');
  assert.equal(auto.settings!.gpuLayers, 6, "'auto' takes every block the GPU holds");
  const tinyBuffers = checkModelFit(await fitModel(mid), { contextSize: 512, gpuLayers: 6 }, limits(GiB, { budgetBytes: GiB, maxBufferBytes: 64 << 10, maxBindingBytes: 64 << 10 }));
  assert.notEqual(tinyBuffers.verdict, 'fits');
  // Weights are split into parts that fit a binding; a batch's feed-forward activations (256 x 1536 floats) are not.
  assert.deepEqual(tinyBuffers.problems.map((p) => p.limit), ['gpu-buffer']);
  assert.equal(tinyBuffers.problems[0].neededBytes, 256 * 1536 * 4);
});

test('device defaults: 1 GiB on a phone, half of deviceMemory, half of the machine, the budget option over all', () => {
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148';
  assert.equal(deviceLimits({ userAgent: iphone, deviceMemoryGiB: 8, threads: 4 }).memoryBudgetBytes, MOBILE_MEMORY_BUDGET);
  assert.equal(deviceLimits({ userAgent: iphone, threads: 4 }).unifiedMemory, true);
  assert.equal(deviceLimits({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64)', deviceMemoryGiB: 4, threads: 4 }).memoryBudgetBytes, 2 * GiB);
  assert.equal(deviceLimits({ deviceMemoryGiB: 16, threads: 4 }).memoryBudgetBytes, WASM_MAX_BYTES);
  assert.equal(deviceLimits({ totalMemoryBytes: 6 * GiB, threads: 1 }).memoryBudgetBytes, 3 * GiB);
  assert.equal(deviceLimits({ threads: 1 }, { memoryBytes: 123 }).memoryBudgetBytes, 123);
  assert.equal(deviceLimits({ threads: 1, gpu: { maxBufferBytes: 1, maxBindingBytes: 1 } }, { gpuBytes: 5 }).gpu?.budgetBytes, 5);
});

// ---- createEngine against a server that counts what it sends ------------------

let served = 0;
let base = '';
const server = createServer((req, res) => {
  if (req.url !== '/mid.gguf') return void res.writeHead(404).end();
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Number(range[2]) + 1 : mid.byteLength;
  served += end - start;
  const headers: Record<string, string | number> = { 'Content-Length': end - start, 'Accept-Ranges': 'bytes', ETag: '"m"' };
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${mid.byteLength}`;
  res.writeHead(range ? 206 : 200, headers).end(mid.subarray(start, end));
});
let cacheDir = '';
let savedCache: string | undefined;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cacheDir = mkdtempSync(join(tmpdir(), 'hob-fit-'));
  savedCache = process.env.HOB_CACHE_DIR;
  process.env.HOB_CACHE_DIR = cacheDir;
});
after(() => {
  server.close();
  if (savedCache === undefined) delete process.env.HOB_CACHE_DIR;
  else process.env.HOB_CACHE_DIR = savedCache;
});

test('a budget too small is a ModelTooLargeError before the download: only the header was sent, nothing cached', async () => {
  served = 0;
  await assert.rejects(createEngine({ model: `${base}/mid.gguf`, budget: { memoryBytes: 24 * MiB }, threads: 1 }), (e: unknown) => {
    assert.ok(e instanceof ModelTooLargeError, String(e));
    assert.equal(e.code, 'model/too-large');
    assert.equal(e.details.limit, 'memory-budget');
    assert.equal(e.details.limitBytes, 24 * MiB);
    assert.ok(Number(e.details.neededBytes) > 24 * MiB);
    assert.equal(e.details.verdict, 'does-not-fit');
    return true;
  });
  assert.ok(served > 0 && served <= MiB + 1, `${served} bytes sent of ${mid.byteLength}`);
  assert.deepEqual(readdirSync(cacheDir), []);
  // An asked context that does not fit names the one that would.
  await assert.rejects(createEngine({ model: `${base}/mid.gguf`, contextSize: 4096, budget: { memoryBytes: 78 * MiB }, threads: 1 }), (e: unknown) =>
    e instanceof ModelTooLargeError && e.details.verdict === 'fits-with-changes' && e.details.suggestedContextSize === 2048 && e.details.suggestedGpuLayers === 0);
  assert.deepEqual(readdirSync(cacheDir), []);
});

test('createEngine shortens an unasked context to fit the budget, and info() shows the estimate next to the heap it took', async () => {
  const report = await checkFit(`${base}/mid.gguf`, { budget: { memoryBytes: 78 * MiB }, threads: 1 });
  assert.equal(report.verdict, 'fits');
  assert.equal(report.settings!.contextSize, 2048);
  const engine = await createEngine({ model: `${base}/mid.gguf`, budget: { memoryBytes: 78 * MiB }, threads: 1 });
  try {
    const info = await engine.info();
    assert.equal(info.contextSize, report.settings!.contextSize);
    await engine.completions.create({ prompt: 'Hello', max_tokens: 4, temperature: 0 });
    const est = info.load.estimate!.wasm.totalBytes;
    const used = (await engine.info()).load.wasmHeapUsedBytes;
    assert.ok(Math.abs(est / used - 1) < 0.1, `estimated ${est}, used ${used}`);
    assert.ok(used <= 78 * MiB);
  } finally {
    await engine.unload();
  }
  assert.ok(existsSync(cacheDir) && readdirSync(cacheDir).some((n) => n.endsWith('mid.gguf')));
  // fitCheck: false loads whatever it costs.
  const free = await createEngine({ model: `${base}/mid.gguf`, budget: { memoryBytes: MiB }, fitCheck: false, contextSize: 128, threads: 1 });
  assert.equal((await free.info()).load.estimate, undefined);
  await free.unload();
});

test('a header claiming a billion blocks is judged on the blocks its tensor table holds, at once', async () => {
  const layout = await readGgufLayout(bytesSource(mid));
  const lying = { ...layout, meta: new Map(layout.meta).set('llama.block_count', 1e9) };
  const m = fitModelFromLayouts([lying], [mid.byteLength]);
  assert.equal(m.nLayer, 6);
  const t0 = Date.now();
  const r = checkModelFit(m, { gpuLayers: 'auto' }, limits(GiB, { budgetBytes: GiB, maxBufferBytes: GiB, maxBindingBytes: GiB }));
  assert.equal(r.verdict, 'fits');
  assert.equal(r.settings!.gpuLayers, 6);
  assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
});
