// Vision encode benchmark: the time to encode one 512x512 image on the CPU
// with Hob's engine in Node (wasm, --threads threads, each SIMD build this
// Node runs: SIMD128 on Node 20, relaxed SIMD from Node 22's V8 on) and with
// llama.cpp's libmtmd (native, the same threads, mtmd_encode_chunk timed by
// scripts/oracle/mtmd-oracle.cpp) on the same random-weight files of real
// shapes (f16 matrices, as llama.cpp's converted mmproj files have them):
//   smolvlm-256m  idefics3, SigLIP 512 px tiles of 16 px patches, 12 blocks of
//                 width 768, pixel-shuffle 4 into 64 rows of 576; the file's
//                 longest edge is 512, so the image is one tile plus the
//                 overview (two encodes; the real file's 2048 makes 16 tiles);
//   gemma3-4b     gemma3, SigLIP 896 px of 14 px patches (4096), 27 blocks of
//                 width 1152, pooled 4 x 4 into 256 rows of 2560 (Gemma 3 4B;
//                 every Gemma 3 has this tower);
//   gemma3-4b-1block  the same tower cut to its first block, for a
//                 machine where the whole one takes too long: the blocks
//                 are alike, so 27x its time estimates the whole (the pool,
//                 norm and projection after them are under 1%).
// With the GPU peer (hob-gpu: --peers takes it by default) the ViT blocks
// run on WebGPU (Dawn in Node: src/gpu/vit.ts) and the patch embedding and
// projector in the engine on the CPU; its weights are uploaded once per
// encoder (upload time reported apart) and one untimed encode compiles the
// pipelines before the timed ones. Without build/mtmd/bin/mtmd-oracle the
// llama.cpp peer is skipped (said on stderr); without a GPU adapter, hob-gpu.
// Runs interleave (Hob, llama.cpp, Hob, ...). Each run reports its wall time
// and its CPU time (every thread of the process, user + system): on a
// machine shared with other work the CPU time is the steadier of the two
// (both engines' pools spin a little at their barriers, which it counts).
// Writes a JSON result and prints a Markdown table. A benchmark, not a test:
// it asserts nothing.
//
//   node --import tsx bench/vision.ts [--encoders smolvlm-256m,gemma3-4b] [--reps 2 | --reps smolvlm-256m=3,gemma3-4b=1]
//        [--threads 2] [--peers cpu,gpu,llama.cpp,llama.cpp-gpu] [--flash-attn] [--out bench/vision.json] [--dir DIR]
//        [--mtmd-gpu PATH]
// (the GPUs on a GPU machine: --peers gpu,llama.cpp-gpu --reps 3)
//
// The llama.cpp peer is build/mtmd/bin/mtmd-oracle (bash scripts/oracle/build-mtmd.sh);
// llama.cpp-gpu is the same oracle on llama.cpp's Vulkan backend
// (build/mtmd-vulkan/mtmd-oracle, bash scripts/oracle/build-mtmd-vulkan.sh,
// or --mtmd-gpu PATH), its encoder on the GPU after one untimed encode per
// process (pipeline compiles), the text model on the CPU; hob-gpu's ratio is
// against it;
// --flash-attn lets its encoder use flash attention (llama-mtmd-cli's
// default, auto); without it the encoder runs as for the fixtures.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { Projector } from '../src/core/vision.js';
import type { GpuContext } from '../src/gpu/device.js';
import { requestNodeGpu } from '../src/gpu/node-device.js';
import { openVisionEncoder, type VisionEncoder } from '../src/runtime/vision-encoder.js';
import { Engine, type WasmSimd } from '../src/node/index.js';
import { makeArchSpec } from '../test/gguf/arch-models.js';
import { makeSpec } from '../test/gguf/random-model.js';
import {
  buildGemma3TextModel, buildVisionProjector, buildVisionTextModel, makeGemma3VisionSpec, makeVisionSpec, testImage, toPpm,
  type VisionSpec,
} from '../test/gguf/vision-models.js';
import type { GgufWriter } from '../test/gguf/writer.js';

const { values: opts } = parseArgs({
  options: {
    encoders: { type: 'string', default: 'smolvlm-256m,gemma3-4b' },
    reps: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    peers: { type: 'string', default: 'cpu,gpu,llama.cpp' },
    'flash-attn': { type: 'boolean', default: false },
    'mtmd-gpu': { type: 'string' },
    out: { type: 'string' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
  },
});
// One count for all, or per encoder (the Gemma 3 tower takes minutes an image).
const repsOf = (name: string): number => {
  if (!opts.reps!.includes('=')) return Number(opts.reps);
  const hit = opts.reps!.split(',').map((p) => p.split('=')).find(([n]) => n === name);
  return hit ? Number(hit[1]) : 1;
};
const threads = Number(opts.threads);
const root = resolve(import.meta.dirname, '..');
const oracle = join(root, 'build/mtmd/bin/mtmd-oracle');
const oracleGpu = opts['mtmd-gpu'] ?? join(root, 'build/mtmd-vulkan/mtmd-oracle');
const SIDE = 512;

// Small weights keep a deep random tower finite; the values do not change the work.
const common = { std: 0.02, patchStd: 0.02, posStd: 0.02, projStd: 0.02, normStd: 0.02, weightType: 'f16' as const };
interface Encoder {
  vision: VisionSpec;
  text: () => GgufWriter;
}
const ENCODERS: Record<string, Encoder> = {
  'smolvlm-256m': {
    vision: makeVisionSpec({
      ...common, name: 'bench-smolvlm-256m-mmproj', imageSize: 512, patchSize: 16, longestEdge: 512, scaleFactor: 4,
      nEmbd: 768, nHead: 12, nFf: 3072, nLayer: 12, projectionDim: 576, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
    }),
    text: () => buildVisionTextModel(makeSpec('tiny', { name: 'bench-smolvlm-text', nEmbd: 576, nHead: 9, nHeadKv: 3, nFf: 256, nLayer: 1, weightType: 'f32' })),
  },
  'gemma3-4b': {
    vision: makeGemma3VisionSpec({
      ...common, name: 'bench-gemma3-4b-mmproj', imageSize: 896, patchSize: 14, scaleFactor: 4,
      nEmbd: 1152, nHead: 16, nFf: 4304, nLayer: 27, projectionDim: 2560,
    }),
    text: () => buildGemma3TextModel(makeArchSpec('gemma3', { name: 'bench-gemma3-text', nEmbd: 2560, nHead: 8, nHeadKv: 4, headDim: 64, nFf: 256, nLayer: 1 })),
  },
};
ENCODERS['gemma3-4b-1block'] = {
  vision: { ...ENCODERS['gemma3-4b'].vision, name: 'bench-gemma3-4b-1block-mmproj', nLayer: 1 },
  text: ENCODERS['gemma3-4b'].text,
};

function cached(name: string, build: () => GgufWriter): string {
  mkdirSync(opts.dir!, { recursive: true });
  const path = join(opts.dir!, `${name}.gguf`);
  if (!existsSync(path)) {
    const fd = openSync(path + '.part', 'w');
    for (const chunk of build().chunks()) writeSync(fd, chunk);
    closeSync(fd);
    renameSync(path + '.part', path);
  }
  return path;
}

/** The SIMD builds this Node runs. */
async function builds(): Promise<WasmSimd[]> {
  const out: WasmSimd[] = ['simd128'];
  try {
    const e = await Engine.create({ threads: 1, simd: 'relaxed' });
    if (e.simd === 'relaxed') out.unshift('relaxed');
    e.dispose();
  } catch { /* this Node has no relaxed SIMD (Node 20) */ }
  return out;
}

interface Row {
  encoder: string;
  peer: string;
  subImages: number;
  /** Wall time of the whole image's encode, per repetition. */
  ms: number[];
  /** CPU time of the process meanwhile (all threads), per repetition. */
  cpuMs: number[];
}

interface Run {
  ms: number;
  cpuMs: number;
  subImages: number;
}

async function hobRun(simd: WasmSimd, projPath: string, rgb: Uint8Array): Promise<Run> {
  const engine = await Engine.create({ threads, simd });
  try {
    const projector = Projector.load(engine, readFileSync(projPath));
    try {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const enc = projector.encode(rgb, SIDE, SIDE);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      return { ms, cpuMs: (c.user + c.system) / 1000, subImages: enc.nRows / projector.tokensPerImage };
    } finally {
      projector.free();
    }
  } finally {
    engine.dispose();
  }
}

/** The GPU peer of one encoder: the engine, projector and GPU copy of the
 *  blocks, made once; each run times one encode. */
interface GpuPeer {
  engine: Engine;
  projector: Projector;
  encoder: VisionEncoder;
  uploadMs: number;
  firstMs: number;
}

async function gpuPeer(ctx: GpuContext, projPath: string, rgb: Uint8Array): Promise<GpuPeer> {
  const engine = await Engine.create({ threads });
  const bytes = readFileSync(projPath);
  const projector = Projector.load(engine, bytes);
  const t0 = performance.now();
  const encoder = await openVisionEncoder(projector, bytes, ctx, { device: 'gpu' });
  await ctx.device.queue.onSubmittedWorkDone();
  const uploadMs = performance.now() - t0;
  const t1 = performance.now();
  await encoder.encodeAsync!(rgb, SIDE, SIDE);
  return { engine, projector, encoder, uploadMs, firstMs: performance.now() - t1 };
}

async function gpuRun(peer: GpuPeer, rgb: Uint8Array): Promise<Run> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const enc = await peer.encoder.encodeAsync!(rgb, SIDE, SIDE);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000, subImages: enc.embeddings.length / (peer.projector.tokensPerImage * peer.projector.nEmbd) };
}

// The GPU oracle's folder first on the library path: libmtmd's own
// run path names the CPU build it came from, and its libraries must be the
// Vulkan ones beside the oracle.
function gpuOracleEnv(): Record<string, string> {
  const dir = dirname(oracleGpu);
  return { MTMD_ORACLE_GPU: '1', LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

function llamaRun(textPath: string, projPath: string, ppmPath: string, onGpu = false): Run {
  const env = { ...process.env, ...(opts['flash-attn'] ? { MTMD_ORACLE_FLASH_ATTN: 'auto' } : {}), ...(onGpu ? gpuOracleEnv() : {}) };
  const json = execFileSync(onGpu ? oracleGpu : oracle, [textPath, projPath, ppmPath, 'Describe <__media__>', '-1', join(opts.dir!, 'bench-embd.f32')], {
    encoding: 'utf8', env, maxBuffer: 64 << 20,
  });
  const out = JSON.parse(json) as { encodeMs: number[]; encodeCpuMs: number[] };
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return { ms: sum(out.encodeMs), cpuMs: sum(out.encodeCpuMs), subImages: out.encodeMs.length };
}

async function main(): Promise<void> {
  const wanted = new Set(opts.peers!.split(','));
  if (wanted.has('llama.cpp') && !existsSync(oracle)) {
    process.stderr.write(`no ${oracle} (bash scripts/oracle/build-mtmd.sh builds it): llama.cpp skipped\n`);
    wanted.delete('llama.cpp');
  }
  if (wanted.has('llama.cpp-gpu') && !existsSync(oracleGpu)) {
    process.stderr.write(`no ${oracleGpu} (bash scripts/oracle/build-mtmd-vulkan.sh builds it): llama.cpp-gpu skipped\n`);
    wanted.delete('llama.cpp-gpu');
  }
  let gpu: GpuContext | undefined;
  if (wanted.has('gpu')) {
    try {
      gpu = await requestNodeGpu();
      process.stderr.write(`GPU: ${gpu.caps.adapterName}\n`);
    } catch (e) {
      process.stderr.write(`no GPU (${(e as Error).message}): hob-gpu skipped\n`);
      wanted.delete('gpu');
    }
  }
  const img = testImage(SIDE, SIDE, 5);
  mkdirSync(opts.dir!, { recursive: true });
  const ppmPath = join(opts.dir!, `bench-${SIDE}.ppm`);
  writeFileSync(ppmPath, toPpm(img));
  const simds = wanted.has('cpu') ? await builds() : [];
  const gpuSetup: Record<string, { uploadMs: number; firstMs: number; weightBytes?: number }> = {};
  const load0 = loadavg()[0];
  const rows: Row[] = [];
  for (const name of opts.encoders!.split(',')) {
    const enc = ENCODERS[name];
    if (!enc) throw new Error(`unknown encoder ${name} (${Object.keys(ENCODERS).join(', ')})`);
    const projPath = cached(enc.vision.name, () => buildVisionProjector(enc.vision));
    const textPath = cached(`${enc.vision.name}-text`, enc.text);
    const peers = [...simds.map((s) => `hob-${s}`), ...(gpu ? ['hob-gpu'] : []), ...(wanted.has('llama.cpp') ? ['llama.cpp'] : []),
      ...(wanted.has('llama.cpp-gpu') ? ['llama.cpp-gpu'] : [])];
    const byPeer = new Map(peers.map((p): [string, Row] => [p, { encoder: name, peer: p, subImages: 0, ms: [], cpuMs: [] }]));
    const gp = gpu ? await gpuPeer(gpu, projPath, img.rgb) : undefined;
    if (gp) {
      gpuSetup[name] = { uploadMs: gp.uploadMs, firstMs: gp.firstMs };
      process.stderr.write(`${name} hob-gpu: upload ${(gp.uploadMs / 1000).toFixed(2)} s, first encode (compiles) ${(gp.firstMs / 1000).toFixed(2)} s\n`);
    }
    for (let r = 0; r < repsOf(name); r++) {
      for (const p of peers) {
        const res = p.startsWith('llama.cpp') ? llamaRun(textPath, projPath, ppmPath, p === 'llama.cpp-gpu')
          : p === 'hob-gpu' ? await gpuRun(gp!, img.rgb) : await hobRun(p.slice(4) as WasmSimd, projPath, img.rgb);
        const row = byPeer.get(p)!;
        row.subImages = res.subImages;
        row.ms.push(res.ms);
        row.cpuMs.push(res.cpuMs);
        process.stderr.write(`${name} ${p} rep ${r + 1}: ${(res.ms / 1000).toFixed(2)} s, CPU ${(res.cpuMs / 1000).toFixed(2)} s (${res.subImages} sub-images, load ${loadavg()[0].toFixed(1)})\n`);
      }
    }
    rows.push(...byPeer.values());
    if (gp) {
      gp.encoder.destroy();
      gp.projector.free();
      gp.engine.dispose();
    }
  }
  gpu?.device.destroy();
  const result = {
    date: new Date().toISOString().slice(0, 10),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, load1: [load0, loadavg()[0]] },
    threads, image: `${SIDE}x${SIDE}`, gpu: gpu ? { adapter: gpu.caps.adapterName, setup: gpuSetup } : null, llamaCppFlashAttn: opts['flash-attn'] ? 'auto' : 'off',
    encoders: Object.fromEntries(opts.encoders!.split(',').map((n) => [n, ENCODERS[n].vision])),
    rows,
  };
  if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n');
  const best = (a: number[]) => Math.min(...a);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    '| encoder | peer | sub-images | wall s (best; all) | CPU s (best; all) | time / llama.cpp\'s (wall, CPU) |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const refPeer = r.peer === 'hob-gpu' ? 'llama.cpp-gpu' : 'llama.cpp';
    const ref = rows.find((x) => x.encoder === r.encoder && x.peer === refPeer);
    const ratio = ref && !r.peer.startsWith('llama.cpp')
      ? `${(best(r.ms) / best(ref.ms)).toFixed(2)}x, ${(best(r.cpuMs) / best(ref.cpuMs)).toFixed(2)}x` : '';
    lines.push(`| ${r.encoder} | ${r.peer} | ${r.subImages} | ${s(best(r.ms))}; ${r.ms.map(s).join(', ')} | ${s(best(r.cpuMs))}; ${r.cpuMs.map(s).join(', ')} | ${ratio} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
