// GPU benchmark: Hob with every block offloaded (Node, WebGPU through Dawn)
// against llama.cpp's Vulkan backend (node-llama-cpp) on the same GGUF
// files, same prompt, same number of generated tokens, runs interleaved, each
// in its own process. Writes a JSON result and prints a Markdown table with
// the ratio Hob / llama.cpp and the fraction of the bandwidth roofline. A
// benchmark, not a test: it asserts nothing.
//
//   node --import tsx bench/gpu.ts [--models llama-1b:q4_0,qwen2-0.5b:q4_0,llama-1b:q4_k_m,qwen2-0.5b:q4_k]
//        [--prompt 512] [--decode 128] [--depths 1,512,2048] [--reps 3]
//        [--out bench/gpu.json] [--dir DIR]
//
// --depths: decode again with that many cells already filled (decode at
// long context), each measured from a fresh prefill of that many tokens.
// A model is preset:type, the type one the test writer knows (every 2-D
// weight of it, where the rows allow), or q4_k_m: Q4_K blocks with a Q6_K
// embedding and head, as llama.cpp's Q4_K_M files of tied models have.
// Prefill is timed PREFILL_REPS times per run after the warm-up (each from
// an empty cache), the median reported and every sample kept: one sample
// per process swung by 2x between processes.
//
// Random models of real shapes come from the test writer; node-llama-cpp is
// resolved from scripts/oracle (cd scripts/oracle && npm ci) or --peer-modules.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import type { StepLogits } from '../src/core/logits.js';
import type { Session } from '../src/core/session.js';
import type { Step } from '../src/gpu/kernels/index.js';
import type { GpuRunner } from '../src/gpu/runner.js';

const { values: opts } = parseArgs({
  options: {
    models: { type: 'string', default: 'llama-1b:q4_0,qwen2-0.5b:q4_0,llama-1b:q4_k_m,qwen2-0.5b:q4_k' },
    prompt: { type: 'string', default: '512' },
    decode: { type: 'string', default: '128' },
    depths: { type: 'string', default: '1,512,2048' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string', default: 'bench/gpu.json' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
    'peer-modules': { type: 'string', default: 'scripts/oracle/node_modules' },
    // Internal: run one backend on one model and print one JSON line.
    child: { type: 'string' },
    model: { type: 'string' },
    vocab: { type: 'string' },
  },
});

// Dawn's unsafe APIs carry the int8 subgroup-matrix feature the quantized
// prefill matmul uses where offered (src/gpu/node-device.ts): on unless the
// environment says HOB_DAWN_UNSAFE_APIS=0 (to measure without it). The
// child processes inherit it.
process.env.HOB_DAWN_UNSAFE_APIS ??= '1';

const nPrompt = Number(opts.prompt);
// Timed prefills of the prompt per run, after the warm-up; the median is reported.
const PREFILL_REPS = 5;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const nDecode = Number(opts.decode);
const depths = opts.depths!.split(',').filter(Boolean).map(Number);
/** Cells a session needs: the prompt or the deepest depth, then the decoded tokens. */
const nCtxNeeded = Math.max(nPrompt, ...depths) + nDecode + 8;

interface RunResult {
  backend: string;
  device: string;
  prefillTokens: number;
  prefillTokensPerSecond: number;
  decodeTokens: number;
  decodeTokensPerSecond: number;
  /** Decode tokens/s with that many cells filled first (--depths), by depth. */
  decodeAtDepth?: Record<string, number>;
  /** Hob only: compute dispatches of one decode step. */
  dispatchesPerToken?: number;
  /** Hob only: bytes read back from the GPU per decode step (greedy: the best logit, not the vocabulary). */
  readbackBytesPerToken?: number;
  /** Hob only: read bandwidth of a compute shader on this device, GB/s. */
  readGBps?: number;
  /** Hob only: GPU time of one decode step per kernel family (timestamp
   * queries, one pass per dispatch group), microseconds. */
  kernelMicros?: Record<string, number>;
  /** Hob only: the same for one prefill forward of prefillProfileTokens tokens. */
  prefillKernelMicros?: Record<string, number>;
  prefillProfileTokens?: number;
  /** Hob only: the same for the prompt's last batch (its rows see every
   * earlier cell), and the prompt's batches as (tokens, first cell). */
  lastBatchKernelMicros?: Record<string, number>;
  /** Hob only: the last batch's GPU time per step label (kernel and sizes), summed over the layers. */
  lastBatchStepMicros?: Record<string, number>;
  prefillBatches?: [number, number][];
  /** Every timed prefill after the warm-up, tokens/s in order (the
   * reported rate is their median): a rate still rising here means the
   * warm-up did not cover something. */
  prefillSamples?: number[];
  /** Hob only: host time to record one decode step's dispatches, microseconds. */
  encodeMicrosPerToken?: number;
  /** Hob only: whether decode ran its greedy steps ahead on the GPU
   * (Session.evalAhead, as generate() does), and the host time each such
   * step took to record and submit (microseconds; it overlaps the GPU's
   * work on the step before). */
  decodeAhead?: boolean;
  hostRecordMicrosPerToken?: number;
  /** Hob only: decode one evaluation and readback per token (the path
   * before decoding ahead, and the one for samplers that need the CPU). */
  decodeOneStepTokensPerSecond?: number;
}

/** Times each recorded step of one forward of T tokens at cell0 with
 * timestamp queries: every step in its own pass, so the sum is a little above
 * the fused forward's time. */
async function profileSteps(session: Session, T: number, cell0: number, byLabel?: Record<string, number>): Promise<Record<string, number>> {
  // The runner's recorded steps and frame buffer, read for profiling only.
  const runner = session.offload as GpuRunner;
  const r = runner.graph;
  const device = (runner as unknown as { model: { ctx: { device: GPUDevice } } }).model.ctx.device;
  if (!device.features.has('timestamp-query')) return {};
  const steps = [...r.blockSteps, ...r.headSteps];
  const n = steps.length * 2;
  const querySet = device.createQuerySet({ type: 'timestamp', count: n });
  const resolved = device.createBuffer({ size: n * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(r.frame, 0, new Uint32Array([T, cell0, cell0 + T, 0]));
  const totals: Record<string, number> = {};
  for (let rep = 0; rep < 5; rep++) {
    const enc = device.createCommandEncoder();
    steps.forEach((s, i) => {
      const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      // As in a forward: the head's norm picks the last row, and the steps
      // after it run on that one row.
      s.encode(pass, i > r.blockSteps.length ? 1 : T, i < r.blockSteps.length ? cell0 + T : undefined);
      pass.end();
    });
    enc.resolveQuerySet(querySet, 0, n, resolved, 0);
    enc.copyBufferToBuffer(resolved, 0, read, 0, n * 8);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    if (rep === 0) continue; // warm-up
    steps.forEach((s, i) => {
      // Kernel family: the label up to its sizes ("matmul q4_0", "attention").
      const family = s.label.replace(/\s+[\d/x()].*$/, '');
      const us = Number(t[2 * i + 1] - t[2 * i]) / 1000 / 4;
      totals[family] = (totals[family] ?? 0) + us;
      // With its sizes, summed over the layers: which matrix costs what.
      if (byLabel) byLabel[s.label] = (byLabel[s.label] ?? 0) + us;
    });
  }
  querySet.destroy();
  resolved.destroy();
  read.destroy();
  return totals;
}

/** Host time to record one decode step (every dispatch of the forward into
 * a pass that is never submitted), median of 20. */
function encodeMicros(session: Session): number {
  const runner = session.offload as GpuRunner;
  const r = runner.graph;
  const device = (runner as unknown as { model: { ctx: { device: GPUDevice } } }).model.ctx.device;
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const s of r.blockSteps) s.encode(pass, 1, session.nPast + 1);
    for (const s of r.headSteps) s.encode(pass, 1);
    pass.end();
    enc.finish();
    if (i > 0) times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[10];
}

/** The same deterministic prompt for both backends: ids spread over the vocabulary. */
function promptIds(n = nPrompt): number[] {
  const nVocab = Number(opts.vocab);
  return Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + 13) % (nVocab - 3)));
}

/** Decode tokens/s after `depth` cells are filled: `fill` clears the cache,
 * evaluates the first depth prompt tokens and returns the next token; `step`
 * evaluates one token and returns the next. */
async function decodeAtDepths(
  fill: (ids: number[]) => Promise<number>,
  step: (t: number) => Promise<number>,
  many?: (t: number, n: number) => Promise<number>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of depths) {
    let token = await fill(promptIds(d));
    const t0 = performance.now();
    if (many) token = await many(token, nDecode - 1);
    else for (let i = 1; i < nDecode; i++) token = await step(token);
    out[d] = (nDecode - 1) / ((performance.now() - t0) / 1000);
  }
  return out;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

async function runHob(modelPath: string): Promise<RunResult> {
  const { Engine, Session, loadModelFile, requestNodeGpu } = await import('../src/node/index.js');
  const engine = await Engine.create({ threads: Math.min(8, cpus().length) });
  const gpu = await requestNodeGpu();
  const errors: string[] = [];
  gpu.device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
  const model = await loadModelFile(engine, modelPath, { gpuLayers: Number.MAX_SAFE_INTEGER, gpu });
  const session = Session.create(model, { nCtx: nCtxNeeded });
  const runner = session.offload as GpuRunner;
  // Greedy (argmax below, NaN never wins): a step reads back only the best logit.
  const pick = { pick: { k: 1, tieFree: false, nanFree: true } };
  const next = async (l: StepLogits) => (l.picked ? l.picked.ids[0] : argmax(await l.all()));
  const ids = promptIds();
  // Greedy decoding of `count` tokens after `token`: steps run ahead on the
  // GPU where the model allows it (as generate() runs them), else one
  // evaluation per token; returns the last token.
  const decode = async (token: number, count: number, ahead = true): Promise<number> => {
    for (let done = 0; done < count;) {
      const steps = ahead ? await session.evalAhead(token, Math.min(16, count - done), pick.pick) : null;
      if (steps) {
        token = steps[steps.length - 1].picked!.ids[0];
        done += steps.length;
      } else {
        token = await next(await session.eval([token], pick));
        done++;
      }
    }
    return token;
  };

  // Warm-up, as llama-bench does: the whole prompt and a few steps, so
  // pipelines are compiled, every buffer touched and the GPU out of its idle
  // clocks before anything is timed (the same for both backends).
  await decode(await next(await session.eval(ids, pick)), 20);
  session.truncate(0);
  await decode(await next(await session.eval(ids, pick)), 20, false);
  session.truncate(0);

  // The prompt PREFILL_REPS times from an empty cache, the median timed.
  const prefillSamples: number[] = [];
  let token = 0;
  for (let rep = 0; rep < PREFILL_REPS; rep++) {
    session.truncate(0);
    const t0 = performance.now();
    token = await next(await session.eval(ids, pick));
    prefillSamples.push(ids.length / ((performance.now() - t0) / 1000));
  }
  let t0 = performance.now();
  const first = token;
  t0 = performance.now();
  const readBefore = runner.stats.readbackBytes;
  const aheadBefore = { steps: runner.stats.aheadSteps, ms: runner.aheadHostMs };
  token = await decode(token, nDecode - 1);
  const decodeMs = performance.now() - t0;
  const readbackBytesPerToken = (runner.stats.readbackBytes - readBefore) / Math.max(1, nDecode - 1);
  const aheadSteps = runner.stats.aheadSteps - aheadBefore.steps;
  const hostRecordMicrosPerToken = aheadSteps > 0 ? ((runner.aheadHostMs - aheadBefore.ms) * 1000) / aheadSteps : undefined;
  // The same tokens again, one evaluation and readback each.
  session.truncate(ids.length);
  t0 = performance.now();
  await decode(first, nDecode - 1, false);
  const decodeOneStepMs = performance.now() - t0;
  // One token at the next free cell: what the next decode step would run;
  // then the largest batch a forward takes, recomputing cells from 0.
  const kernelMicros = await profileSteps(session, 1, session.nPast);
  const prefillProfileTokens = Math.min(ids.length, 256);
  const prefillKernelMicros = await profileSteps(session, prefillProfileTokens, 0);
  const maxBatch = runner.maxBatch;
  const prefillBatches: [number, number][] = [];
  for (let c = 0; c < ids.length; c += maxBatch) prefillBatches.push([Math.min(maxBatch, ids.length - c), c]);
  const [lastT, lastCell] = prefillBatches[prefillBatches.length - 1];
  const lastBatchStepMicros: Record<string, number> = {};
  const lastBatchKernelMicros = await profileSteps(session, lastT, lastCell, lastBatchStepMicros);
  const encodeMicrosPerToken = encodeMicros(session);
  const decodeAtDepth = await decodeAtDepths(
    async (d) => {
      session.truncate(0);
      return next(await session.eval(d, pick));
    },
    async (t) => decode(t, 1),
    async (t, n) => decode(t, n),
  );
  if (errors.length) throw new Error(`WebGPU errors: ${errors.join('; ')}`);
  const result: RunResult = {
    backend: 'hob (WebGPU, Dawn)',
    device: gpu.caps.adapterName + (gpu.caps.int8Matrix ? ` (int8 subgroup matrix ${gpu.caps.int8Matrix.M}x${gpu.caps.int8Matrix.N}x${gpu.caps.int8Matrix.K})` : ''),
    prefillTokens: ids.length,
    prefillTokensPerSecond: median(prefillSamples),
    prefillSamples,
    decodeTokens: nDecode - 1,
    decodeTokensPerSecond: (nDecode - 1) / (decodeMs / 1000),
    decodeAtDepth,
    decodeAhead: aheadSteps > 0,
    hostRecordMicrosPerToken,
    decodeOneStepTokensPerSecond: (nDecode - 1) / (decodeOneStepMs / 1000),
    // At the context the profiled decode step sees.
    dispatchesPerToken: runner.dispatches(1, session.nPast + 1),
    readbackBytesPerToken,
    readGBps: await readBandwidth(gpu.device),
    kernelMicros,
    prefillKernelMicros,
    prefillProfileTokens,
    lastBatchKernelMicros,
    lastBatchStepMicros,
    prefillBatches,
    encodeMicrosPerToken,
  };
  session.free();
  model.free();
  gpu.device.destroy();
  engine.dispose();
  return result;
}

/** Bytes a compute shader reads per second from a 1 GiB buffer (16-byte
 * loads, every byte once per pass; median of 5 passes). */
async function readBandwidth(device: GPUDevice): Promise<number> {
  const size = Math.min(1 << 30, device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const src = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
  const sink = device.createBuffer({ size: 4 * 65536, usage: GPUBufferUsage.STORAGE });
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  var acc = vec4<u32>(0u);
  let stride = n.x * 256u;
  for (var i = g.x; i < arrayLength(&src); i += stride) { acc ^= src[i]; }
  if (acc.x == 0xdeadbeefu) { sink[g.x % 65536u] = acc.y; }
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: sink } }] });
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    for (let j = 0; j < 4; j++) pass.dispatchWorkgroups(8192);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i > 0) times.push(performance.now() - t0);
  }
  src.destroy();
  sink.destroy();
  times.sort((x, y) => x - y);
  return (4 * size) / (times[2] / 1000) / 1e9;
}

async function runLlamaCpp(modelPath: string): Promise<RunResult> {
  const require = createRequire(pathToFileURL(resolve(opts['peer-modules']!, 'x.js')));
  const { getLlama } = await import(pathToFileURL(require.resolve('node-llama-cpp')).href);
  const llama = await getLlama({ gpu: 'vulkan', build: 'never' });
  const model = await llama.loadModel({ modelPath, gpuLayers: 'max' });
  const context = await model.createContext({ contextSize: nCtxNeeded, batchSize: nPrompt, flashAttention: false });
  const seq = context.getSequence();
  const ids = promptIds();
  const step = async (tokens: number[]): Promise<number> => {
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: { token: true } }] : t));
    const res = await seq.controlledEvaluate(input, { temperature: 0 });
    return res[res.length - 1].next.token;
  };
  // Warm-up as for Hob: llama.cpp compiles its pipelines on first use.
  await step(ids);
  for (let i = 0; i < 4; i++) await step([ids[i]]);
  await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);

  const prefillSamples: number[] = [];
  let token = 0;
  for (let rep = 0; rep < PREFILL_REPS; rep++) {
    await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
    const t0 = performance.now();
    token = await step(ids);
    prefillSamples.push(ids.length / ((performance.now() - t0) / 1000));
  }
  let t0 = performance.now();
  for (let i = 1; i < nDecode; i++) token = await step([token]);
  const decodeMs = performance.now() - t0;
  const decodeAtDepth = await decodeAtDepths(
    async (d) => {
      await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
      return step(d);
    },
    (t) => step([t]),
  );
  const device = (await llama.getGpuDeviceNames()).join(', ');
  return {
    backend: `llama.cpp Vulkan (node-llama-cpp)`,
    device,
    prefillTokens: ids.length,
    prefillTokensPerSecond: median(prefillSamples),
    prefillSamples,
    decodeTokens: nDecode - 1,
    decodeTokensPerSecond: (nDecode - 1) / (decodeMs / 1000),
    decodeAtDepth,
  };
}

if (opts.child) {
  const r = opts.child === 'hob' ? await runHob(opts.model!) : await runLlamaCpp(opts.model!);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}

// ---- the parent: make the models, run both backends interleaved ----------

async function ensureModel(preset: string, type: string): Promise<{ path: string; nVocab: number }> {
  const { buildRandomLlama, makeSpec } = await import('../test/gguf/random-model.js');
  mkdirSync(opts.dir!, { recursive: true });
  const path = join(opts.dir!, `${preset}-${type}.gguf`);
  const spec = makeSpec(preset as never, type === 'q4_k_m' ? { weightType: 'q4_k', embdType: 'q6_k', outputType: 'q6_k' } : { weightType: type as never });
  if (existsSync(path)) return { path, nVocab: spec.nVocab };
  const fd = openSync(path + '.part', 'w');
  try {
    for (const chunk of buildRandomLlama(spec).chunks()) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  spawnSync('mv', [path + '.part', path]);
  return { path, nVocab: spec.nVocab };
}

function runChild(backend: string, modelPath: string, nVocab: number): RunResult {
  const args = [...process.execArgv, process.argv[1], '--child', backend, '--model', modelPath, '--vocab', String(nVocab), '--prompt', String(nPrompt),
    '--decode', String(nDecode), '--depths', depths.join(','), '--peer-modules', opts['peer-modules']!];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`${backend} failed on ${modelPath}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as RunResult;
}

const rows: Record<string, unknown>[] = [];
for (const entry of opts.models!.split(',')) {
  const [preset, type] = entry.split(':');
  const { path, nVocab } = await ensureModel(preset, type);
  const weightBytes = statSync(path).size;
  const runs: Record<string, RunResult[]> = { hob: [], llama: [] };
  for (let rep = 0; rep < Number(opts.reps); rep++) {
    for (const b of rep % 2 === 0 ? ['hob', 'llama'] : ['llama', 'hob']) {
      const r = runChild(b, path, nVocab);
      runs[b].push(r);
      console.error(`${preset} ${type} ${b} rep ${rep}: prefill ${r.prefillTokensPerSecond.toFixed(0)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(1)} tok/s`);
    }
  }
  const pick = (b: string, k: 'prefillTokensPerSecond' | 'decodeTokensPerSecond') => median(runs[b].map((r) => r[k]));
  const atDepth = (b: string) => Object.fromEntries(depths.map((d) => [d, median(runs[b].map((r) => r.decodeAtDepth?.[d] ?? 0))]));
  const readGBps = median(runs.hob.map((r) => r.readGBps ?? 0));
  const rooflineTokensPerSecond = (readGBps * 1e9) / weightBytes;
  rows.push({
    model: `${preset} ${type}`,
    fileBytes: weightBytes,
    device: runs.hob[0].device,
    hob: {
      prefillTokensPerSecond: pick('hob', 'prefillTokensPerSecond'),
      decodeTokensPerSecond: pick('hob', 'decodeTokensPerSecond'),
      dispatchesPerToken: runs.hob[0].dispatchesPerToken,
      readbackBytesPerToken: runs.hob[0].readbackBytesPerToken,
      kernelMicros: runs.hob[runs.hob.length - 1].kernelMicros,
      prefillKernelMicros: runs.hob[runs.hob.length - 1].prefillKernelMicros,
      prefillProfileTokens: runs.hob[runs.hob.length - 1].prefillProfileTokens,
      lastBatchKernelMicros: runs.hob[runs.hob.length - 1].lastBatchKernelMicros,
      lastBatchStepMicros: runs.hob[runs.hob.length - 1].lastBatchStepMicros,
      prefillBatches: runs.hob[runs.hob.length - 1].prefillBatches,
      encodeMicrosPerToken: runs.hob[runs.hob.length - 1].encodeMicrosPerToken,
      decodeAhead: runs.hob[0].decodeAhead,
      hostRecordMicrosPerToken: runs.hob[runs.hob.length - 1].hostRecordMicrosPerToken,
      decodeOneStepTokensPerSecond: median(runs.hob.map((r) => r.decodeOneStepTokensPerSecond ?? 0)),
      decodeAtDepth: atDepth('hob'),
    },
    llamaCpp: {
      prefillTokensPerSecond: pick('llama', 'prefillTokensPerSecond'),
      decodeTokensPerSecond: pick('llama', 'decodeTokensPerSecond'),
      decodeAtDepth: atDepth('llama'),
      device: runs.llama[0].device,
    },
    decodeRatioAtDepth: Object.fromEntries(depths.map((d) => [d, atDepth('hob')[d] / atDepth('llama')[d]])),
    decodeRatio: pick('hob', 'decodeTokensPerSecond') / pick('llama', 'decodeTokensPerSecond'),
    prefillRatio: pick('hob', 'prefillTokensPerSecond') / pick('llama', 'prefillTokensPerSecond'),
    readGBps,
    decodeRooflineTokensPerSecond: rooflineTokensPerSecond,
    decodeRooflineFraction: pick('hob', 'decodeTokensPerSecond') / rooflineTokensPerSecond,
    runs,
  });
}

const profile = (micros: Record<string, number> | undefined) => {
  const k = Object.entries(micros ?? {}) as [string, number][];
  const total = k.reduce((n, [, v]) => n + v, 0);
  return `${total.toFixed(0)} us: ` + k.sort((a, b) => b[1] - a[1]).map(([name, v]) => `${name} ${v.toFixed(0)}`).join(', ');
};
for (const r of rows as any[]) {
  console.error(`${r.model}: ${r.hob.dispatchesPerToken} dispatches and ${r.hob.readbackBytesPerToken} bytes read back per token; GPU time of one decode step ${profile(r.hob.kernelMicros)}`);
  console.error(`${r.model}: GPU time of a ${r.hob.prefillProfileTokens}-token prefill forward ${profile(r.hob.prefillKernelMicros)}`);
  const [t, c] = r.hob.prefillBatches.at(-1);
  console.error(`${r.model}: GPU time of the prompt's last batch (${t} tokens after ${c}) ${profile(r.hob.lastBatchKernelMicros)}`);
  const top = Object.entries(r.hob.lastBatchStepMicros ?? {}).sort((a: any, b: any) => b[1] - a[1]).slice(0, 8);
  console.error(`${r.model}: its costliest steps (all layers) ${top.map(([l, v]: any) => `${l} ${v.toFixed(0)}`).join(', ')}`);
  console.error(`${r.model}: prefill samples, Hob ${r.runs.hob.map((x: RunResult) => x.prefillSamples?.map((v) => v.toFixed(0)).join(' ')).join(' | ')}; llama.cpp ${r.runs.llama.map((x: RunResult) => x.prefillSamples?.map((v) => v.toFixed(0)).join(' ')).join(' | ')}`);
  console.error(`${r.model}: host time to record a decode step ${r.hob.encodeMicrosPerToken.toFixed(0)} us` +
    (r.hob.decodeAhead ? `; decoding ahead: ${r.hob.hostRecordMicrosPerToken.toFixed(0)} us a step to record and submit, ${r.hob.decodeOneStepTokensPerSecond.toFixed(1)} tok/s one step at a time` : ''));
}
const result = { date: new Date().toISOString(), promptTokens: nPrompt, decodeTokens: nDecode, depths, reps: Number(opts.reps), rows };
mkdirSync(dirname(opts.out!), { recursive: true });
writeFileSync(opts.out!, JSON.stringify(result, null, 2) + '\n');
const f = (n: number, d = 0) => n.toFixed(d);
console.log(`| model | Hob prefill tok/s | llama.cpp Vulkan prefill | ratio | Hob decode tok/s | llama.cpp Vulkan decode | ratio | roofline fraction |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const r of rows as any[]) {
  console.log(`| ${r.model} | ${f(r.hob.prefillTokensPerSecond)} | ${f(r.llamaCpp.prefillTokensPerSecond)} | ${f(r.prefillRatio, 2)} | ${f(r.hob.decodeTokensPerSecond, 1)} | ${f(r.llamaCpp.decodeTokensPerSecond, 1)} | ${f(r.decodeRatio, 2)} | ${f(r.decodeRooflineFraction, 3)} |`);
}
if (depths.length > 0) {
  console.log('');
  console.log(`| model | ${depths.map((d) => `decode at ${d} cells: Hob / llama.cpp tok/s (ratio)`).join(' | ')} |`);
  console.log(`|---|${depths.map(() => '---').join('|')}|`);
  for (const r of rows as any[]) {
    console.log(`| ${r.model} | ${depths.map((d) => `${f(r.hob.decodeAtDepth[d], 1)} / ${f(r.llamaCpp.decodeAtDepth[d], 1)} (${f(r.decodeRatioAtDepth[d], 2)})`).join(' | ')} |`);
  }
}
