// GPU time of the quantized prefill matmul for each tile shape it takes,
// on Llama-1B's (or Qwen2-0.5B's) matrices, for both kernels: the
// workgroup-memory one (matmul_q8_tiled.wgsl, tiles RMxTNxKB) and, where the
// adapter has subgroups, the subgroup one (matmul_q8_sg.wgsl, tiles
// RxTPLxLxWG); `default` is each kernel's own pick per shape (what a forward
// runs). The measurement behind the defaults of KernelOptions.q8Tile and
// q8SgTile. Timestamp queries around 10 dispatches, median of 5 passes
// (--dispatches, --passes: fewer on a slow adapter); weights and activations
// are random bytes (the time does not depend on the values). Ends with a
// table of the two kernels' defaults side by side.
//
// The kernel `sgmat` is the int8 subgroup-matrix one (matmul_q8_sgmat.wgsl),
// measured where the device offers it (Dawn's unsafe APIs: this bench sets
// HOB_DAWN_UNSAFE_APIS=1 unless told otherwise) for the types it serves.
//
//   node --import tsx bench/gpu-matmul.ts [--kernels tiled,sg,sgmat] [--tiles default,4x2x1,...]
//        [--sg-tiles default,8x4x16x64,...] [--tokens 256,512] [--types q4_0,q4_k]
//        [--shapes llama-1b|qwen2-0.5b] [--passes 5] [--dispatches 10] [--out FILE]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Kernels, createQ8Acts, FRAME_BYTES } from '../src/gpu/kernels/index.js';
import { createWeightBuffers } from '../src/gpu/weights.js';
import { requestNodeGpu } from '../src/node/index.js';

const { values: opts } = parseArgs({
  options: {
    kernels: { type: 'string', default: 'tiled,sg,sgmat' },
    tiles: { type: 'string', default: 'default,4x2x1,4x2x2,2x2x4,4x4x1,4x4x2,8x2x1,8x4x1,2x4x2' },
    'sg-tiles': { type: 'string', default: 'default,8x4x16x64,4x2x16x64,16x4x16x64,8x4x32x128,8x2x16x64,4x4x16x64,16x2x32x64' },
    tokens: { type: 'string', default: '256,512' },
    types: { type: 'string', default: 'q4_0,q4_k' },
    shapes: { type: 'string', default: 'llama-1b' },
    // Timed passes (after one warm-up) and dispatches a pass: fewer for a
    // slow adapter such as SwiftShader.
    passes: { type: 'string', default: '5' },
    dispatches: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});

// GGUF type ids, block elements and bytes of the weight types measured.
const TYPES: Record<string, [number, number, number]> = { q4_0: [2, 32, 18], q8_0: [8, 32, 34], q4_k: [12, 256, 144], q6_k: [14, 256, 210] };
// Llama-1B: q/o, k/v, gate/up, down; Qwen2-0.5B as its forward runs them:
// q, k and v stacked, o, gate and up stacked, down.
const MODEL_SHAPES: Record<string, [string, number, number][]> = {
  'llama-1b': [['q, o', 2048, 2048], ['k, v', 512, 2048], ['gate, up', 8192, 2048], ['down', 2048, 8192]],
  'qwen2-0.5b': [['qkv', 1152, 896], ['o', 896, 896], ['gate+up', 9728, 896], ['down', 896, 4864]],
};
const SHAPES = MODEL_SHAPES[opts.shapes!];
if (!SHAPES) throw new Error(`--shapes takes ${Object.keys(MODEL_SHAPES).join(' or ')}`);

process.env.HOB_DAWN_UNSAFE_APIS ??= '1';
const ctx = await requestNodeGpu();
const im = ctx.caps.int8Matrix;
console.error(`adapter: ${ctx.caps.adapterName}; int8 subgroup matrix: ${im ? `${im.M}x${im.N}x${im.K}, subgroup ${im.subgroupSize}` : 'none'}`);
const { device } = ctx;
if (!device.features.has('timestamp-query')) throw new Error('this adapter has no timestamp queries');
const passes = Number(opts.passes);
const dispatches = Number(opts.dispatches);
const tokenCounts = opts.tokens!.split(',').map(Number);
const maxT = Math.max(...tokenCounts);
const rows: { type: string; matrix: string; rows: number; cols: number; tokens: number; kernel: string; tile: string; micros: number; tops: number }[] = [];
const kernelNames = opts.kernels!.split(',');
if (kernelNames.includes('sg') && !ctx.caps.hasSubgroups) console.error('this adapter has no subgroups: the sg rows are left out');

/** The Kernels of one kernel and tile ('default': the kernel's own pick). */
function kernelsFor(kernel: string, tile: string): Kernels {
  const d = tile.split('x').map(Number);
  if (kernel === 'sgmat') return new Kernels(ctx);
  if (kernel === 'tiled') return new Kernels(ctx, { int8Matrix: false, q8Subgroups: false, ...(tile === 'default' ? {} : { q8Tile: { rows: d[0], tokens: d[1], blocks: d[2] } }) });
  return new Kernels(ctx, { int8Matrix: false, q8Subgroups: true, ...(tile === 'default' ? {} : { q8SgTile: { rows: d[0], tokens: d[1], lanes: d[2], workgroup: d[3] } }) });
}
const variants = kernelNames.flatMap((k) => {
  if (k !== 'tiled' && k !== 'sg' && k !== 'sgmat') throw new Error(`--kernels takes tiled, sg and sgmat, got ${k}`);
  if (k === 'sg' && !ctx.caps.hasSubgroups) return [];
  if (k === 'sgmat') return [{ kernel: k, tile: 'default' }];
  return (k === 'tiled' ? opts.tiles! : opts['sg-tiles']!).split(',').map((tile) => ({ kernel: k, tile }));
});

const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const frame = device.createBuffer({ size: FRAME_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });

for (const typeName of opts.types!.split(',')) {
  const [type, blockElems, blockBytes] = TYPES[typeName];
  for (const [matrix, nRows, nCols] of SHAPES) {
    // Qwen2-0.5B's 896 columns are no whole number of K-quant blocks: its
    // converter stores those matrices in another type.
    if (nCols % blockElems !== 0) {
      console.error(`${typeName} ${matrix} ${nRows}x${nCols}: skipped (columns not a multiple of ${blockElems})`);
      continue;
    }
    const bytes = new Uint8Array((nRows * nCols / blockElems) * blockBytes);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i & 0x3f;
    const w = createWeightBuffers(ctx, matrix, type, nRows, nCols, bytes);
    const actType = blockElems === 256 ? 'q8_k' : 'q8_0';
    const acts = createQ8Acts(device, 'x', maxT, nCols, actType);
    const y = device.createBuffer({ size: maxT * nRows * 4, usage: GPUBufferUsage.STORAGE });
    for (const { kernel, tile } of variants) {
      const kernels = kernelsFor(kernel, tile);
      if (kernel === 'sgmat' && (!kernels.int8Matrix || typeName.endsWith('_k'))) {
        kernels.destroy();
        continue;
      }
      const step = kernels.matmul(w, acts, y, frame);
      for (const T of tokenCounts) {
        device.queue.writeBuffer(frame, 0, new Uint32Array([T, 0, T, 0]));
        const times: number[] = [];
        for (let rep = 0; rep <= passes; rep++) {
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
          for (let i = 0; i < dispatches; i++) step.encode(pass, T);
          pass.end();
          enc.resolveQuerySet(querySet, 0, 2, resolved, 0);
          enc.copyBufferToBuffer(resolved, 0, read, 0, 16);
          device.queue.submit([enc.finish()]);
          await read.mapAsync(GPUMapMode.READ);
          const t = new BigUint64Array(read.getMappedRange().slice(0));
          read.unmap();
          if (rep > 0) times.push(Number(t[1] - t[0]) / 1000 / dispatches);
        }
        times.sort((a, b) => a - b);
        const micros = times[Math.floor(times.length / 2)];
        const tops = (2 * nRows * nCols * T) / (micros * 1e-6) / 1e12;
        rows.push({ type: typeName, matrix, rows: nRows, cols: nCols, tokens: T, kernel, tile, micros, tops });
        console.log(`${typeName} ${matrix} ${nRows}x${nCols}, ${T} tokens, ${kernel} tile ${tile}: ${micros.toFixed(1)} us (${tops.toFixed(1)} TOP/s)`);
      }
      kernels.destroy();
    }
    y.destroy();
    acts.quants.destroy();
    acts.scales.destroy();
    acts.sums?.destroy();
    for (const p of w.parts) for (const b of p.buffers) b.destroy();
  }
}
// The two kernels' defaults side by side, and each kernel's best tile.
const pick = (r: (typeof rows)[number], kernel: string, tile?: string) => rows.filter((o) => o.type === r.type && o.matrix === r.matrix && o.tokens === r.tokens && o.kernel === kernel && (tile === undefined || o.tile === tile));
const best = (list: typeof rows) => (list.length ? list.reduce((a, b) => (b.micros < a.micros ? b : a)) : undefined);
const us = (r: (typeof rows)[number] | undefined) => (r ? `${r.micros.toFixed(1)}` : '-');
console.log('\n| type | matrix | tokens | tiled default us | sg default us | sg / tiled | tiled best (tile) | sg best (tile) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows.filter((o, i) => rows.findIndex((p) => p.type === o.type && p.matrix === o.matrix && p.tokens === o.tokens) === i)) {
  const [td, sd] = [pick(r, 'tiled', 'default')[0], pick(r, 'sg', 'default')[0]];
  const [tb, sb] = [best(pick(r, 'tiled')), best(pick(r, 'sg'))];
  const ratio = td && sd ? (sd.micros / td.micros).toFixed(2) : '-';
  console.log(`| ${r.type} | ${r.matrix} ${r.rows}x${r.cols} | ${r.tokens} | ${us(td)} | ${us(sd)} | ${ratio} | ${us(tb)} (${tb?.tile ?? '-'}) | ${us(sb)} (${sb?.tile ?? '-'}) |`);
}
if (opts.out) writeFileSync(opts.out, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, rows }, null, 2) + '\n');
device.destroy();
