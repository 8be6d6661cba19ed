// Whether a model fits this device with given settings, before a byte of
// its weights is downloaded or loaded: the estimate (memory-estimate.ts)
// against the wasm ceiling, the memory budget, the GPU's budget and buffer
// limits and the storage left; when the asked settings do not fit, the
// nearest that do (GPU layers first, then a shorter context). createEngine
// refuses early with ModelTooLargeError on its verdict, and gpuLayers
// 'auto' takes its choice. The device's numbers come from device-limits.ts.
import { readGgufLayout } from '../format/gguf-layout.js';
import type { ByteSource } from '../format/source.js';
import { ModelTooLargeError } from '../shared/errors.js';
import type { FitLimit, FitProblem, FitReport, FitSettings } from '../shared/types.js';
import { estimateMemory, fitModelFromLayouts, WASM_INITIAL_BYTES, WASM_MAX_BYTES, type FitModel, type MemoryEstimate } from './memory-estimate.js';

/** What the device offers, and what the model may take of it. */
export interface DeviceLimits {
  /** Bytes the wasm heap may take: the memory budget (option, or a default from the device). */
  memoryBudgetBytes: number;
  /** Where the memory budget comes from, in words. */
  memoryBudgetSource: string;
  /** Engine threads (each a stack in the heap). */
  threads: number;
  /** Mobile devices share one memory between the CPU and the GPU: the budget covers both. */
  unifiedMemory: boolean;
  /** The GPU, when there is one to offload to. */
  gpu?: {
    /** Bytes the offloaded part may take (option, or a default). */
    budgetBytes: number;
    maxBufferBytes: number;
    maxBindingBytes: number;
    name?: string;
  };
  /** Why there is no GPU (no adapter, no WebGPU, no 'webgpu' package in
   * Node), when GPU layers were asked for and none was found: 'auto' then
   * takes 0 blocks, and a number of them does not fit. */
  noGpu?: string;
  /** Bytes of storage the origin has left, when the browser says (a download needs room). */
  storageFreeBytes?: number;
}

export interface FitRequest {
  /** As createEngine takes it; undefined: min(training context, 4096), shortened if that does not fit. */
  contextSize?: number;
  /** As createEngine takes it; undefined is 0. */
  gpuLayers?: number | 'auto';
  /** Bytes still to download (0 or absent when the model is stored already). */
  downloadBytes?: number;
}

/** The default context: the training context, at most 4096 (the worker's default). */
export const DEFAULT_CONTEXT = 4096;
/** Contexts are not shortened below this to make a model fit. */
export const MIN_SUGGESTED_CONTEXT = 256;

/** The context a session gets when none is asked for (the worker's default, and the loader's). */
export function defaultContextSize(nCtxTrain: number): number {
  return nCtxTrain > 0 ? Math.min(nCtxTrain, DEFAULT_CONTEXT) : DEFAULT_CONTEXT;
}

/** Bytes in MiB for people: whole ones, with a tenth below 10 MiB (a small model's parts are not all 0). */
export function formatMiB(n: number): string {
  const m = n / 2 ** 20;
  return `${m > 0 && m < 10 ? m.toFixed(1) : m.toFixed(0)} MiB`;
}
const mib = formatMiB;

/** The problems of one estimate against the limits (empty: it fits). */
function problemsOf(e: MemoryEstimate, limits: DeviceLimits): FitProblem[] {
  const out: FitProblem[] = [];
  const push = (limit: FitLimit, neededBytes: number, limitBytes: number, message: string) =>
    out.push({ limit, neededBytes: Math.ceil(neededBytes), limitBytes: Math.floor(limitBytes), message });
  // The wasm memory never shrinks below its initial size.
  const wasm = Math.max(WASM_INITIAL_BYTES, e.wasm.totalBytes);
  if (e.wasm.totalBytes > WASM_MAX_BYTES) {
    push('wasm-heap', e.wasm.totalBytes, WASM_MAX_BYTES, `the CPU part needs ${mib(e.wasm.totalBytes)} of wasm memory, more than the ${mib(WASM_MAX_BYTES)} wasm32 can address`);
  }
  const cpuAndGpu = limits.unifiedMemory ? wasm + e.gpu.totalBytes : wasm;
  if (cpuAndGpu > limits.memoryBudgetBytes && e.wasm.totalBytes <= WASM_MAX_BYTES) {
    push('memory-budget', cpuAndGpu, limits.memoryBudgetBytes,
      `it needs ${mib(cpuAndGpu)} of memory${limits.unifiedMemory && e.gpu.totalBytes > 0 ? ' (CPU and GPU share it here)' : ''}; the budget is ${mib(limits.memoryBudgetBytes)} (${limits.memoryBudgetSource})`);
  }
  if (limits.gpu) out.push(...gpuProblemsOf(e, limits.gpu));
  else if (limits.noGpu !== undefined && e.gpuLayers > 0) push('gpu-unavailable', e.gpu.totalBytes, 0, `${e.gpuLayers} GPU layers need a GPU: ${limits.noGpu}`);
  // Otherwise the GPU's numbers are unknown and its side is not judged: the
  // loader says itself when there is no GPU (GpuError 'gpu/unavailable').
  return out;
}

function fits(e: MemoryEstimate, limits: DeviceLimits): boolean {
  return problemsOf(e, limits).length === 0;
}

/** The GPU's side of DeviceLimits: what gpuLayers 'auto' is chosen against. */
export type GpuLimits = NonNullable<DeviceLimits['gpu']>;

/** The GPU's problems of one estimate (budget, buffer size, kernel types). */
function gpuProblemsOf(e: MemoryEstimate, gpu: GpuLimits): FitProblem[] {
  const out: FitProblem[] = [];
  if (e.gpuLayers === 0) return out;
  const push = (limit: FitLimit, neededBytes: number, limitBytes: number, message: string) =>
    out.push({ limit, neededBytes: Math.ceil(neededBytes), limitBytes: Math.floor(limitBytes), message });
  if (e.gpu.unsupported) push('gpu-type', e.gpu.totalBytes, 0, `tensor ${e.gpu.unsupported} has a type the GPU kernels lack`);
  if (e.gpu.totalBytes > gpu.budgetBytes) {
    push('gpu-budget', e.gpu.totalBytes, gpu.budgetBytes, `${e.gpuLayers} GPU layers need ${mib(e.gpu.totalBytes)} of GPU memory; the GPU budget is ${mib(gpu.budgetBytes)}`);
  }
  const maxBuffer = Math.min(gpu.maxBufferBytes, gpu.maxBindingBytes);
  if (e.gpu.largestBufferBytes > maxBuffer) {
    push('gpu-buffer', e.gpu.largestBufferBytes, maxBuffer, `a GPU buffer of ${mib(e.gpu.largestBufferBytes)} is larger than the adapter's limit of ${mib(maxBuffer)}`);
  }
  return out;
}

/** What gpuLayers 'auto' takes: the count, its estimate, and why not one more. */
export interface AutoGpuLayers {
  gpuLayers: number;
  /** The estimate with `gpuLayers` offloaded at the context asked. */
  estimate: MemoryEstimate;
  /** Why one more block does not fit (absent when every block does). */
  stoppedBy?: FitProblem;
}

/**
 * gpuLayers 'auto': the most blocks (from the last) whose GPU side
 * (weights, KV cache and scratch of the offloaded blocks, at a context of
 * nCtx) fits the GPU budget and the adapter's buffer limits. checkFit and
 * the loader both choose with it, so they agree on the number.
 */
export function autoGpuLayers(model: FitModel, nCtx: number, gpu: GpuLimits, threads = 1): AutoGpuLayers {
  const est = (k: number) => estimateMemory(model, k, nCtx, { threads, maxBindingBytes: gpu.maxBindingBytes, gpuBudgetBytes: gpu.budgetBytes });
  let k = 0;
  let estimate = est(0);
  while (k < model.nLayer) {
    // Gemma 4's shared KV: an offload takes at least minGpuLayers blocks.
    const more = Math.max(k + 1, Math.min(model.minGpuLayers ?? 1, model.nLayer));
    const next = est(more);
    const p = gpuProblemsOf(next, gpu);
    if (p.length > 0) return { gpuLayers: k, estimate, stoppedBy: p[0] };
    k = more;
    estimate = next;
  }
  return { gpuLayers: k, estimate };
}

/** One line on an 'auto' choice, in MiB, for engine.info().load.reason and checkFit's reason. */
export function describeAutoGpuLayers(auto: AutoGpuLayers, nLayer: number, gpu: GpuLimits): string {
  const g = auto.estimate.gpu;
  const parts = `weights ${mib(g.weightBytes)}, KV cache ${mib(g.kvBytes)}, scratch ${mib(g.scratchBytes)}`;
  const head = `auto: ${auto.gpuLayers} of ${nLayer} blocks on the GPU at a context of ${auto.estimate.contextSize}`;
  const budget = `the GPU budget of ${mib(gpu.budgetBytes)} (largest buffer ${mib(Math.min(gpu.maxBufferBytes, gpu.maxBindingBytes))})`;
  const why = auto.stoppedBy ? `; one more: ${auto.stoppedBy.message}` : '';
  return `${head} take ${mib(g.totalBytes)} (${parts}) of ${budget}${why}`;
}

/** The most GPU layers (from the last block) whose GPU side fits, at nCtx. */
function mostGpuLayers(model: FitModel, nCtx: number, limits: DeviceLimits): number {
  return limits.gpu ? autoGpuLayers(model, nCtx, limits.gpu, limits.threads).gpuLayers : 0;
}

/** The fewest GPU layers, from `from` up, that make the whole fit at nCtx; undefined if none. */
function fewestGpuLayersThatFit(model: FitModel, nCtx: number, from: number, limits: DeviceLimits): number | undefined {
  const most = mostGpuLayers(model, nCtx, limits);
  for (let k = from; k <= most; k++) {
    if (fits(estimateMemory(model, k, nCtx, { threads: limits.threads, maxBindingBytes: limits.gpu?.maxBindingBytes, gpuBudgetBytes: limits.gpu?.budgetBytes }), limits)) return k;
  }
  return undefined;
}

/** The settings that fit at nCtx keeping as many GPU layers of `asked` as possible; undefined if none. */
function layersAt(model: FitModel, nCtx: number, asked: number | 'auto', limits: DeviceLimits): number | undefined {
  const most = mostGpuLayers(model, nCtx, limits);
  const opts = { threads: limits.threads, maxBindingBytes: limits.gpu?.maxBindingBytes, gpuBudgetBytes: limits.gpu?.budgetBytes };
  if (asked === 'auto') return fits(estimateMemory(model, most, nCtx, opts), limits) ? most : undefined;
  const k = Math.min(asked, model.nLayer);
  if (fits(estimateMemory(model, k, nCtx, opts), limits)) return k;
  // Too much on the CPU: more layers to the GPU; too much on the GPU: fewer.
  const more = fewestGpuLayersThatFit(model, nCtx, k + 1, limits);
  if (more !== undefined) return more;
  for (let j = Math.min(k - 1, most); j >= 0; j--) if (fits(estimateMemory(model, j, nCtx, opts), limits)) return j;
  return undefined;
}

/**
 * The verdict on loading `model` with `request` on a device with `limits`.
 * 'fits': the settings in `settings` work (gpuLayers 'auto' and an unset
 * context resolved to numbers); 'fits-with-changes': the asked ones do not,
 * `settings` do (more or fewer GPU layers, or a shorter context);
 * 'does-not-fit': nothing does (the model is too large even with a context
 * of 256, or storage is short). `problems` says why the asked settings fail.
 */
export function checkModelFit(model: FitModel, request: FitRequest, limits: DeviceLimits): FitReport {
  const asked = request.gpuLayers ?? 0;
  const defaultCtx = defaultContextSize(model.nCtxTrain);
  const ctxAsked = request.contextSize ?? defaultCtx;
  const opts = { threads: limits.threads, maxBindingBytes: limits.gpu?.maxBindingBytes, gpuBudgetBytes: limits.gpu?.budgetBytes };
  const kAsked = asked === 'auto' ? mostGpuLayers(model, ctxAsked, limits) : Math.min(asked, model.nLayer);
  const askedEstimate = estimateMemory(model, kAsked, ctxAsked, opts);
  const problems = problemsOf(askedEstimate, limits);

  const storage = request.downloadBytes && limits.storageFreeBytes !== undefined && request.downloadBytes > limits.storageFreeBytes
    ? { limit: 'storage' as const, neededBytes: request.downloadBytes, limitBytes: limits.storageFreeBytes, message: `the download needs ${mib(request.downloadBytes)} of storage; this site has ${mib(limits.storageFreeBytes)} left` }
    : undefined;
  const report = (verdict: FitReport['verdict'], settings: FitSettings | undefined, estimate: MemoryEstimate, reason: string): FitReport => ({
    verdict,
    asked: { gpuLayers: asked, contextSize: ctxAsked },
    ...(settings ? { settings } : {}),
    estimate: { gpuLayers: estimate.gpuLayers, contextSize: estimate.contextSize, wasm: estimate.wasm, gpu: estimate.gpu },
    problems: storage ? [...problems, storage] : problems,
    limits: {
      wasmMaxBytes: WASM_MAX_BYTES,
      memoryBudgetBytes: limits.memoryBudgetBytes,
      memoryBudgetSource: limits.memoryBudgetSource,
      unifiedMemory: limits.unifiedMemory,
      ...(limits.gpu ? { gpuBudgetBytes: limits.gpu.budgetBytes, gpuMaxBufferBytes: Math.min(limits.gpu.maxBufferBytes, limits.gpu.maxBindingBytes) } : {}),
      ...(limits.gpu?.name ? { gpuName: limits.gpu.name } : {}),
      ...(!limits.gpu && limits.noGpu !== undefined ? { noGpu: limits.noGpu } : {}),
      ...(limits.storageFreeBytes !== undefined ? { storageFreeBytes: limits.storageFreeBytes } : {}),
    },
    reason,
  });
  const describe = (e: MemoryEstimate) =>
    `${mib(e.wasm.totalBytes)} of wasm memory${e.gpuLayers > 0 ? ` and ${mib(e.gpu.totalBytes)} of GPU memory (${e.gpuLayers} of ${model.nLayer} blocks)` : ''} at a context of ${e.contextSize}`;

  if (storage) return report('does-not-fit', undefined, askedEstimate, storage.message);
  // How 'auto' chose, in the reason (the loader reports the same line).
  const autoNote = (ctx: number) => {
    if (asked !== 'auto') return '';
    if (!limits.gpu) return limits.noGpu !== undefined ? `; no GPU: ${limits.noGpu}` : '';
    return `; ${describeAutoGpuLayers(autoGpuLayers(model, ctx, limits.gpu, limits.threads), model.nLayer, limits.gpu)}`;
  };
  if (problems.length === 0) {
    return report('fits', { gpuLayers: kAsked, contextSize: ctxAsked }, askedEstimate, `fits: ${describe(askedEstimate)}${autoNote(ctxAsked)}`);
  }

  // Keep the context, move layers; then shorten the context, halving.
  for (let ctx = ctxAsked; ctx >= Math.min(MIN_SUGGESTED_CONTEXT, ctxAsked); ctx = ctx > MIN_SUGGESTED_CONTEXT ? Math.max(MIN_SUGGESTED_CONTEXT, Math.floor(ctx / 2)) : 0) {
    const k = layersAt(model, ctx, asked, limits);
    if (k !== undefined) {
      const e = estimateMemory(model, k, ctx, opts);
      // Choices the caller left to Hob ('auto', no context) are made, not suggested.
      const chosen = (asked === 'auto' || k === kAsked) && (ctx === ctxAsked || request.contextSize === undefined);
      const why = problems[0].message;
      return report(
        chosen ? 'fits' : 'fits-with-changes',
        { gpuLayers: k, contextSize: ctx },
        e,
        chosen
          ? `fits with a context of ${ctx} (${describe(e)}); ${defaultCtx} would not: ${why}${autoNote(ctx)}`
          : `does not fit as asked (${why}); it fits with gpuLayers ${k} and contextSize ${ctx}: ${describe(e)}`,
      );
    }
    if (ctx <= MIN_SUGGESTED_CONTEXT) break;
  }
  return report('does-not-fit', undefined, askedEstimate, `does not fit: ${problems.map((p) => p.message).join('; ')}`);
}

/** The verdict on a model read from its parts (every part of a split model, in order): only their headers are read. */
export async function checkPartsFit(parts: readonly ByteSource[], request: FitRequest, limits: DeviceLimits): Promise<FitReport> {
  const layouts = [];
  for (const p of parts) layouts.push(await readGgufLayout(p));
  return checkModelFit(fitModelFromLayouts(layouts, parts.map((p) => p.sizeBytes)), request, limits);
}

/** The error createEngine throws on a verdict it cannot load with: the report's numbers in `details`. */
export function tooLargeError(report: FitReport): ModelTooLargeError {
  const p = report.problems[0];
  return new ModelTooLargeError('model/too-large', `the model does not fit this device: ${report.reason}`, {
    verdict: report.verdict,
    limit: p?.limit ?? 'memory-budget',
    neededBytes: p?.neededBytes ?? 0,
    limitBytes: p?.limitBytes ?? 0,
    wasmBytes: report.estimate.wasm.totalBytes,
    gpuBytes: report.estimate.gpu.totalBytes,
    memoryBudgetBytes: report.limits.memoryBudgetBytes,
    ...(report.settings ? { suggestedGpuLayers: report.settings.gpuLayers, suggestedContextSize: report.settings.contextSize } : {}),
  });
}

/**
 * What createEngine loads with, given checkFit's report: the asked settings
 * when they fit, the choices it made for what the caller left open ('auto',
 * no context); a ModelTooLargeError when the asked settings do not fit
 * (with the settings that would, if any, in its details).
 */
export function settingsToLoad(report: FitReport): FitSettings {
  if (report.verdict !== 'fits' || !report.settings) throw tooLargeError(report);
  return report.settings;
}
