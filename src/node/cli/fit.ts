// hob fit: will a model fit this machine? checkFit's verdict from the GGUF
// header alone (a URL or an hf: model is not downloaded: Range requests read
// its header), with the GPU side judged against the adapter the `webgpu`
// package offers when GPU layers are asked for. Exit status 0 when the asked
// settings fit, 1 when they do not (the settings that would are printed).
import { formatMiB } from '../../runtime/fit.js';
import type { FitReport } from '../../shared/types.js';
import { checkFit } from '../check-fit.js';
import { gpuLayersOption, modelOptions, num, parseCommand, threadsOption } from './args.js';
import { modelArg } from './model.js';

const mib = formatMiB;

/** The report for people: the verdict, the wasm side, the GPU side, and what to load with. */
export function describeFit(r: FitReport): string {
  const e = r.estimate;
  const l = r.limits;
  // The reason's own "fits:" or "does not fit:" would repeat the verdict.
  const lines = [`${r.verdict}: ${r.reason.replace(/^(fits|does not fit): /, '')}`];
  lines.push(`wasm: ${mib(e.wasm.totalBytes)} (weights ${mib(e.wasm.weightBytes)}, KV cache ${mib(e.wasm.kvBytes)}, scratch ${mib(e.wasm.scratchBytes)}); budget ${mib(l.memoryBudgetBytes)} (${l.memoryBudgetSource}), wasm32 ceiling ${mib(l.wasmMaxBytes)}`);
  if (l.gpuBudgetBytes !== undefined) {
    lines.push(`gpu: ${e.gpuLayers} blocks, ${mib(e.gpu.totalBytes)} (weights ${mib(e.gpu.weightBytes)}, KV cache ${mib(e.gpu.kvBytes)}, scratch ${mib(e.gpu.scratchBytes)}); budget ${mib(l.gpuBudgetBytes)}, largest buffer ${mib(l.gpuMaxBufferBytes ?? 0)}${l.gpuName ? ` on ${l.gpuName}` : ''}`);
  } else if (l.noGpu !== undefined) {
    lines.push(`gpu: none (${l.noGpu})`);
  }
  if (r.settings) lines.push(`load with: --gpu-layers ${r.settings.gpuLayers} --ctx-size ${r.settings.contextSize}`);
  return lines.join('\n') + '\n';
}

export async function fitCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    'memory-budget': { type: 'string' },
    'gpu-budget': { type: 'string' },
    json: { type: 'boolean' },
  });
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const megabytes = (name: 'memory-budget' | 'gpu-budget') =>
    o[name] === undefined ? undefined : num(o[name], name, 0, { min: 1 }) * 2 ** 20;
  const memoryBytes = megabytes('memory-budget');
  const gpuBytes = megabytes('gpu-budget');
  const report = await checkFit(modelArg(o, positionals), {
    contextSize: nCtx > 0 ? nCtx : undefined,
    gpuLayers: gpuLayersOption(o['gpu-layers']),
    threads: threadsOption(o.threads),
    budget: { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(gpuBytes !== undefined ? { gpuBytes } : {}) },
  });
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : describeFit(report));
  if (report.verdict !== 'fits') process.exitCode = 1;
}
