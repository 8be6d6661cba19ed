// matmul_q8_sgmat.wgsl where no device has subgroup matrices (SwiftShader):
// its multiply-and-store is swapped for scalar code that computes what the
// builtins are defined to (left row-major, right column-major, i8 elements
// four to an i32, offsets and strides in elements; the result row-major),
// so its loads, tiling, bounds and f32 scaling are checked against the
// CPU op and against matmul_q8_tiled.wgsl's bits by the matmul op cases.
// The H100 runs the real builtins in test/gpu/ops.test.ts (with
// HOB_DAWN_UNSAFE_APIS=1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kernels } from '../../src/gpu/kernels/index.js';
import { Pipelines } from '../../src/gpu/kernels/pipelines.js';
import { gpuCases } from './cases.js';
import { CpuOps } from './cpu-ops.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

// The scalar stand-in for one subgroup's sub-tile: its SG invocations
// compute the SM x SN dots of block kk.
const EMU = `      for (var e = lid % SG; e < SM * SN; e += SG) {
        let m = e / SN;
        let n = e % SN;
        var s = 0;
        for (var k = 0u; k < 32u; k++) {
          let wi = (mi * SM + m) * WS * 4u + kk * 32u + k;
          let ai = (ni * SN + n) * WS * 4u + kk * 32u + k;
          let wb = (w_sh[wi / 4u] << (24u - 8u * (wi % 4u))) >> 24u;
          let ab = (a_sh[ai / 4u] << (24u - 8u * (ai % 4u))) >> 24u;
          s += wb * ab;
        }
        dot_sh[kk * BM * BN + (mi * SM + m) * BN + ni * SN + n] = s;
      }
`;
// Pipelines.get with the stand-in spliced into the kernel (and the
// builtins' name gone, so no extension is enabled).
const orig = Pipelines.prototype.get;
let emulated = 0;
Pipelines.prototype.get = function (key, parts, entry, constants, layout) {
  if (entry === 'matmul_q8_sgmat') {
    emulated++;
    parts = parts.map((p) => {
      if (!p.includes('subgroupMatrixLoad')) return p;
      const a = p.indexOf('      var d = subgroup_matrix_result');
      const b = p.indexOf('    }\n    workgroupBarrier();\n    for (var kk');
      assert.ok(a > 0 && b > a);
      // lid / SG for the subgroup index: SwiftShader's subgroups are not SG wide.
      return (p.slice(0, a) + EMU + p.slice(b)).replace(/subgroupMatrix/g, 'sgMat')
        .replace(', @builtin(subgroup_id) sgid: u32', '').replace('let sg = sgid;', 'let sg = lid / SG;');
    });
  }
  return orig.call(this, key, parts, entry, constants, layout);
};

test('the subgroup-matrix prefill matmul, its matrix builtins emulated, gives the tiled kernel\'s bits and matches the CPU op', async () => {
  const [ctx, cpu] = await Promise.all([requestNodeGpu(), CpuOps.load()]);
  // A shape as NVIDIA's; SG only groups invocations here (no subgroup op runs).
  ctx.caps.int8Matrix = { M: 16, N: 16, K: 32, subgroupSize: 32 };
  const env = { ctx, cpu, kernels: new Kernels(ctx, { int8Matrix: true }), uncaptured: watchUncaptured(ctx.device), report: (l: string) => console.log(l) };
  assert.ok(env.kernels.int8Matrix);
  for (const c of gpuCases.filter((c) => /matmul over (q4_0|q4_1) |stacked/.test(c.name))) {
    await c.run(env as never);
    await ctx.device.queue.onSubmittedWorkDone();
    assert.deepEqual(env.uncaptured.splice(0), []);
  }
  env.kernels.destroy();
  ctx.device.destroy();
  assert.ok(emulated > 0, 'the subgroup-matrix kernel was used');
});
