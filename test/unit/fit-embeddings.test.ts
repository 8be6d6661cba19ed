// An untied model's token embeddings on the GPU, for decoding ahead there
// (src/gpu/memory.ts's embedBytes, counted by runtime/memory-estimate.ts):
// counted only with every block and the head offloaded and only where the
// GPU budget has room for them; never for a tied model (its head is its
// embedding matrix) or one whose steps need the CPU; and the loader's
// choice (runtime/load.ts gpuEmbeddingBytes) is the estimate's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { readGgufHeaderFrom } from '../../src/core/gguf-header.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { readGgufLayout } from '../../src/format/gguf-layout.js';
import { bytesSource } from '../../src/format/source.js';
import { gpuBytes } from '../../src/gpu/memory.js';
import { gpuEmbeddingBytes } from '../../src/runtime/load.js';
import { estimateMemory, fitModelFromLayouts } from '../../src/runtime/memory-estimate.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

const spec = { nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 512, nVocab: 3000, weightType: 'q4_k' as const, embdType: 'q6_k' as const };
const untied = writeRandomLlama(makeSpec('tiny', { ...spec, tiedOutput: false }));
const tied = writeRandomLlama(makeSpec('tiny', { ...spec, tiedOutput: true }));
const BIND = 128 * 2 ** 20;

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

const fitOf = async (bytes: Uint8Array) => fitModelFromLayouts([await readGgufLayout(bytesSource(bytes))], [bytes.byteLength]);

test('untied: counted with the head on the GPU where the budget has room, and nowhere else', async () => {
  const fit = await fitOf(untied);
  const bare = estimateMemory(fit, 4, 512, { maxBindingBytes: BIND });
  assert.equal(bare.gpu.embedBytes, undefined, 'no budget, no embeddings');
  // Q6_K in the GPU's layout: 28 bytes per 32 elements, vocab x n_embd.
  const embed = gpuBytes(fit, fit.tensors, 4, 512, BIND).embedBytes;
  assert.equal(embed, (3000 * 256 / 32) * 12 + (3000 * 256 / 32) * 16);
  const room = estimateMemory(fit, 4, 512, { maxBindingBytes: BIND, gpuBudgetBytes: bare.gpu.totalBytes + embed });
  assert.equal(room.gpu.embedBytes, embed);
  assert.equal(room.gpu.weightBytes, bare.gpu.weightBytes + embed);
  assert.equal(room.gpu.totalBytes, bare.gpu.totalBytes + embed);
  const short = estimateMemory(fit, 4, 512, { maxBindingBytes: BIND, gpuBudgetBytes: bare.gpu.totalBytes + embed - 1 });
  assert.equal(short.gpu.embedBytes, undefined);
  assert.equal(short.gpu.totalBytes, bare.gpu.totalBytes);
  // Three blocks of four: the head (and the need) stays on the CPU.
  assert.equal(estimateMemory(fit, 3, 512, { maxBindingBytes: BIND, gpuBudgetBytes: 2 ** 40 }).gpu.embedBytes, undefined);

  // The loader decides as the estimate does.
  const { header } = await readGgufHeaderFrom(engine, bytesSource(untied), { maxArray: 0 });
  const gpu = { caps: { maxBindingBytes: BIND } } as never;
  const opts = (gpuBudgetBytes: number) => ({ gpu, contextSize: 512, gpuBudgetBytes });
  assert.equal(gpuEmbeddingBytes(header, untied.byteLength, 4, 4, opts(bare.gpu.totalBytes + embed)), embed);
  assert.equal(gpuEmbeddingBytes(header, untied.byteLength, 4, 4, opts(bare.gpu.totalBytes + embed - 1)), 0);
  assert.equal(gpuEmbeddingBytes(header, untied.byteLength, 3, 4, opts(2 ** 40)), 0);
});

test('tied: the head is the embedding matrix, nothing more goes up', async () => {
  const fit = await fitOf(tied);
  assert.equal(gpuBytes(fit, fit.tensors, 4, 512, BIND).embedBytes, 0);
  assert.equal(estimateMemory(fit, 4, 512, { maxBindingBytes: BIND, gpuBudgetBytes: 2 ** 40 }).gpu.embedBytes, undefined);
  const { header } = await readGgufHeaderFrom(engine, bytesSource(tied), { maxArray: 0 });
  assert.equal(gpuEmbeddingBytes(header, tied.byteLength, 4, 4, { gpu: { caps: { maxBindingBytes: BIND } } as never, gpuBudgetBytes: 2 ** 40 }), 0);
});

test('a model whose steps need the CPU (recurrent blocks, per-layer inputs) gets none', async () => {
  const fit = await fitOf(untied);
  const recurrent = [...fit.tensors, { name: 'blk.1.ssm_conv1d.weight', typeId: 0, dims: [4, 256], sizeBytes: 4096 }];
  assert.equal(gpuBytes(fit, recurrent, 4, 512, BIND).embedBytes, 0);
  assert.equal(gpuBytes({ ...fit, nEmbdPerLayer: 64 }, fit.tensors, 4, 512, BIND).embedBytes, 0);
});
