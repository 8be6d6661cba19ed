// The GPU kernels against the engine's CPU ops, in Node (Dawn on
// SwiftShader). The cases live in cases.ts and run in Chromium too
// (test/browser/gpu-ops.test.ts). No adapter is a failure, not a skip.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Kernels } from '../../src/gpu/kernels/index.js';
import { gpuCases } from './cases.js';
import { CpuOps } from './cpu-ops.js';
import { watchUncaptured, type GpuTestEnv } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

describe('GPU kernels against the CPU ops (Dawn in Node)', () => {
  let env: GpuTestEnv;

  before(async () => {
    const [ctx, cpu] = await Promise.all([requestNodeGpu(), CpuOps.load()]);
    env = {
      ctx,
      cpu,
      // The subgroup-matrix matmul where the device has it (it is opt-in):
      // the matmul cases then compare its bits with the tiled kernel's.
      kernels: new Kernels(ctx, { int8Matrix: true }),
      uncaptured: watchUncaptured(ctx.device),
      report: (line) => console.log(`  ${line}`),
    };
    console.log(`  adapter: ${ctx.caps.adapterName}; subgroups ${ctx.caps.hasSubgroups}, f16 ${ctx.caps.hasF16}`);
  });
  after(() => {
    env?.kernels.destroy();
    env?.ctx.device.destroy();
  });

  for (const c of gpuCases) {
    test(c.name, async () => {
      await c.run(env);
      await env.ctx.device.queue.onSubmittedWorkDone();
      assert.deepEqual(env.uncaptured.splice(0), [], 'uncaptured WebGPU errors');
    });
  }
});
