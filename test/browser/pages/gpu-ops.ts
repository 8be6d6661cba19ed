// Test page: runs the GPU op cases of test/gpu/cases.ts in the browser's
// WebGPU against the engine's CPU ops (single-thread wasm), one case per
// call of window.gpuOps.run, for test/browser/gpu-ops.test.ts.
import { requestGpu, type GpuContext } from '../../../src/gpu/device.js';
import { Kernels } from '../../../src/gpu/kernels/index.js';
import { gpuCases } from '../../gpu/cases.js';
import { CpuOps } from '../../gpu/cpu-ops.js';
import { watchUncaptured, type GpuTestEnv } from '../../gpu/harness.js';

export interface CaseResult {
  error: string | null;
  reports: string[];
  uncaptured: string[];
}

let env: GpuTestEnv | null = null;
const reports: string[] = [];

const api = {
  /** Requests the device (failing if there is no adapter) and loads the CPU ops. */
  async init(): Promise<{ adapter: string; subgroups: boolean; f16: boolean }> {
    const [ctx, cpu]: [GpuContext, CpuOps] = await Promise.all([requestGpu(), CpuOps.load()]);
    env = { ctx, cpu, kernels: new Kernels(ctx), uncaptured: watchUncaptured(ctx.device), report: (l) => reports.push(l), brief: true };
    return { adapter: ctx.caps.adapterName, subgroups: ctx.caps.hasSubgroups, f16: ctx.caps.hasF16 };
  },
  async run(name: string): Promise<CaseResult> {
    const c = gpuCases.find((g) => g.name === name);
    if (!env || !c) return { error: env ? `no case named ${name}` : 'init() was not called', reports: [], uncaptured: [] };
    reports.length = 0;
    let error: string | null = null;
    try {
      await c.run(env);
      await env.ctx.device.queue.onSubmittedWorkDone();
    } catch (e) {
      error = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    }
    return { error, reports: reports.splice(0), uncaptured: env.uncaptured.splice(0) };
  },
};

(window as unknown as { gpuOps: typeof api }).gpuOps = api;
document.title = 'ready';
