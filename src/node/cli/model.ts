// Opening the model a command names: a file, or a URL fetched through the
// cache; loading it into the engine with its GPU layers; progress bars for
// both, and for the processing of long prompts.
import { HobError } from '../../shared/errors.js';
import type { Model } from '../../core/model.js';
import { Engine } from '../../core/wasm-engine.js';
import { describeShift } from '../../runtime/sequence.js';
import type { ShiftEvent } from '../../shared/types.js';
import type { GpuContext } from '../../gpu/device.js';
import { gpuForLayers } from '../../gpu/node-device.js';
import { cachedModel, explainCachedFailure, isUrl } from '../../store/file-cache.js';
import { isHubRef, resolveHubModel } from '../../store/hub.js';
import { splitPartUrls } from '../../store/store.js';
import { loadModelFile } from '../index.js';
import { gpuLayersOption, num, threadsOption, UsageError, type modelOptions, type Values } from './args.js';
import { ProgressBar } from './progress.js';

export interface OpenedModel {
  engine: Engine;
  model: Model;
  gpu?: GpuContext;
  path: string;
  threads: number;
  close(): void;
}

/** The --model argument, or the first positional one. */
export function modelArg(o: { model?: string }, positionals: string[]): string {
  const m = o.model ?? positionals[0];
  if (!m) throw new UsageError('--model is required');
  return m;
}

/** --net-timeout in milliseconds (default 30 s). */
export function netTimeoutMs(o: { 'net-timeout'?: string }): number {
  return num(o['net-timeout'], 'net-timeout', 30, { min: 0.001, max: 86_400 }) * 1000;
}

/** A local path for --model: the file itself, or the cached download of a
 * URL or of an hf:OWNER/REPO[:QUANT] model (HF_ENDPOINT names the Hub); a
 * split model's parts are all downloaded, and the first one's path returned. */
export async function resolveModelPath(model: string, showProgress: boolean, o: { 'net-timeout'?: string } = {}): Promise<string> {
  const idleTimeoutMs = netTimeoutMs(o);
  let urls: string[];
  if (isHubRef(model)) {
    const m = await resolveHubModel(model, { idleTimeoutMs });
    if (showProgress) process.stderr.write(`hob: ${model} is ${m.ref} (${(m.sizeBytes / 2 ** 20).toFixed(0)} MiB)\n`);
    urls = m.parts.map((p) => p.url);
  } else if (isUrl(model)) {
    urls = splitPartUrls(model);
  } else {
    return model;
  }
  const paths: string[] = [];
  for (const url of urls) {
    const bar = showProgress ? new ProgressBar('download', { unit: 'bytes', summary: false }) : undefined;
    try {
      const r = await cachedModel(url, {
        idleTimeoutMs,
        onProgress: (p) => bar?.update(p.loaded, p.total, p.bytesPerSecond),
        onWait: (pid) => process.stderr.write(`hob: another process (pid ${pid}) is downloading ${url}; waiting for it\n`),
      });
      if (r.hit) bar?.clear();
      else bar?.finish(`→ ${r.path}`);
      paths.push(r.path);
    } catch (e) {
      bar?.clear();
      throw e;
    }
  }
  return paths[0];
}

/** An engine with the model loaded; `withGpu` false keeps every block on the
 * CPU. `contextSize` is the context the command's session will have (0: the
 * training context): -ngl auto sizes the offloaded blocks' cache for it. */
export async function openModel(
  o: Values<typeof modelOptions>,
  positionals: string[],
  opts: { threads?: number; withGpu?: boolean; contextSize?: number } = {},
): Promise<OpenedModel> {
  const threads = opts.threads ?? threadsOption(o.threads);
  const gpuLayers = opts.withGpu === false ? 0 : gpuLayersOption(o['gpu-layers']);
  const progress = !o['no-progress'] && process.stderr.isTTY === true;
  const arg = modelArg(o, positionals);
  const path = await resolveModelPath(arg, progress, o);
  const engine = await Engine.create({ threads });
  const gpu = await gpuForLayers(gpuLayers, {
    onCpuFallback: (e) => process.stderr.write(`hob: ${e.message}; -ngl auto runs every block on the CPU\n`),
  });
  const bar = progress ? new ProgressBar('load', { unit: 'bytes', summary: false }) : undefined;
  let model: Model;
  try {
    model = await loadModelFile(engine, path, { gpuLayers, gpu, contextSize: opts.contextSize, onProgress: (p) => bar?.update(p.loaded, p.total) });
  } catch (e) {
    bar?.clear();
    gpu?.device.destroy();
    throw cachedModelFailure(e, arg, path);
  }
  bar?.clear();
  return {
    engine,
    model,
    gpu,
    path,
    threads,
    close() {
      model.free();
      gpu?.device.destroy();
    },
  };
}

/** Prompts of more than twice this many new tokens show a progress bar. */
export const PROMPT_PROGRESS_MIN = 128;

/** An error loading --model, naming the cached file when the model came from a URL. */
export function cachedModelFailure(e: unknown, model: string, path: string): unknown {
  return isUrl(model) || isHubRef(model) ? explainCachedFailure(e, model, path) : e;
}

export function describeError(e: unknown): string {
  if (e instanceof HobError) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}

/** Every context shift, on stderr with its numbers ("hob: context shift:
 * evicted 49 tokens at position 1 (overflow, 1999 tokens remain)"). */
export function logShift(e: ShiftEvent): void {
  process.stderr.write(`hob: context shift: ${describeShift(e)}\n`);
}
