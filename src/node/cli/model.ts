// Opening the model a command names: a file, or a URL fetched through the
// cache; loading it into the engine with its GPU layers; progress bars for
// both, and for the processing of long prompts.
import { HobError } from '../../shared/errors.js';
import type { Model } from '../../core/model.js';
import { Engine } from '../../core/wasm-engine.js';
import { describeShift } from '../../runtime/sequence.js';
import type { ShiftEvent } from '../../shared/types.js';
import type { GpuContext } from '../../gpu/device.js';
import { cachedModel, isUrl } from '../cache.js';
import { requestNodeGpu } from '../../gpu/node-device.js';
import { loadModelFile } from '../index.js';
import { gpuLayersOption, threadsOption, UsageError, type modelOptions, type Values } from './args.js';
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

/** A local path for --model: the file itself, or the cached download of a URL. */
export async function resolveModelPath(model: string, showProgress: boolean): Promise<string> {
  if (!isUrl(model)) return model;
  const bar = showProgress ? new ProgressBar('download', { unit: 'bytes', summary: false }) : undefined;
  try {
    const r = await cachedModel(model, { onProgress: (p) => bar?.update(p.loaded, p.total, p.bytesPerSecond) });
    if (r.hit) bar?.clear();
    else bar?.finish(`→ ${r.path}`);
    return r.path;
  } catch (e) {
    bar?.clear();
    throw e;
  }
}

/** An engine with the model loaded; `withGpu` false keeps every block on the CPU. */
export async function openModel(
  o: Values<typeof modelOptions>,
  positionals: string[],
  opts: { threads?: number; withGpu?: boolean } = {},
): Promise<OpenedModel> {
  const threads = opts.threads ?? threadsOption(o.threads);
  const gpuLayers = opts.withGpu === false ? 0 : gpuLayersOption(o['gpu-layers']);
  const progress = !o['no-progress'] && process.stderr.isTTY === true;
  const path = await resolveModelPath(modelArg(o, positionals), progress);
  const engine = await Engine.create({ threads });
  const gpu = gpuLayers !== 0 ? await requestNodeGpu() : undefined;
  const bar = progress ? new ProgressBar('load', { unit: 'bytes', summary: false }) : undefined;
  let model: Model;
  try {
    model = await loadModelFile(engine, path, { gpuLayers, gpu, onProgress: (p) => bar?.update(p.loaded, p.total) });
  } catch (e) {
    bar?.clear();
    gpu?.device.destroy();
    throw e;
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

export function describeError(e: unknown): string {
  if (e instanceof HobError) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}

/** Every context shift, on stderr with its numbers ("hob: context shift:
 * evicted 49 tokens at position 1 (overflow, 1999 tokens remain)"). */
export function logShift(e: ShiftEvent): void {
  process.stderr.write(`hob: context shift: ${describeShift(e)}\n`);
}
