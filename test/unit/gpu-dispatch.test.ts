// The dispatch plumbing every GPU kernel shares (src/gpu/kernels/dispatch.ts),
// on a pass that records its commands: workgroup grids stay within the
// per-dimension limit and cover every workgroup, bad token counts and
// oversized grids are typed errors thrown before the pass is touched, and an
// empty batch dispatches nothing; the GPU pick checks its grid the same way.
// No GPU needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dispatch, gridStep, WorkgroupLimit } from '../../src/gpu/kernels/dispatch.js';
import { GpuPicker } from '../../src/gpu/pick.js';

type Command = [string, ...unknown[]];

function recordingPass(): { pass: GPUComputePassEncoder; commands: Command[] } {
  const commands: Command[] = [];
  const pass = {
    setPipeline: (p: unknown) => commands.push(['setPipeline', p]),
    setBindGroup: (i: number, g: unknown) => commands.push(['setBindGroup', i, g]),
    dispatchWorkgroups: (...xyz: number[]) => commands.push(['dispatchWorkgroups', ...xyz]),
  } as unknown as GPUComputePassEncoder;
  return { pass, commands };
}

const pipeline = { label: 'p' } as unknown as GPUComputePipeline;
const group = { label: 'g' } as unknown as GPUBindGroup;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('workgroup grids', () => {
  test('a count within the limit is one row; a larger one is the narrowest (x, y) grid that covers it, both within the limit', () => {
    for (const max of [1, 2, 3, 7, 100, 65535]) {
      const limit = new WorkgroupLimit(max);
      for (const n of [1, 2, 3, max - 1, max, max + 1, 2 * max, 2 * max + 1, max * max - 1, max * max]) {
        if (n < 1 || n > max * max) continue;
        const [x, y] = limit.grid('k', n);
        assert.ok(x >= 1 && x <= max && y >= 1 && y <= max, `n=${n} max=${max}: (${x}, ${y}) outside the limit`);
        assert.ok(x * y >= n, `n=${n} max=${max}: (${x}, ${y}) covers ${x * y}`);
        // No row of the grid is wasted: y rows are needed, and x is the
        // fewest columns that fit n in y rows.
        assert.equal(y, Math.ceil(n / max), `n=${n} max=${max}: ${y} rows`);
        assert.ok((x - 1) * y < n, `n=${n} max=${max}: (${x}, ${y}) has a spare column`);
        if (n <= max) assert.deepEqual([x, y], [n, 1]);
      }
    }
  });

  test('a count no (x, y) grid holds is a range error with the numbers', () => {
    const limit = new WorkgroupLimit(10);
    assert.equal(limit.dim('k', 10), 10);
    let err: unknown;
    try {
      limit.grid('attention', 10 * 10 + 1);
    } catch (e) {
      err = e;
    }
    const e = err as { code: string; message: string; details: Record<string, number> };
    assert.equal(e.code, 'range/out-of-bounds');
    assert.match(e.message, /^attention: 11 workgroups exceed the 10 a dimension allows$/);
    assert.deepEqual(e.details, { workgroups: 11 });
    assert.equal(codeOf(() => limit.dim('k', 11)), 'range/out-of-bounds');
  });
});

describe('dispatch and gridStep', () => {
  test('dispatch sets the pipeline and bind group 0, then dispatches the whole (x, y, z) grid', () => {
    const { pass, commands } = recordingPass();
    dispatch(pass, pipeline, group, 5, 2);
    dispatch(pass, pipeline, group, 3, 4, 7);
    assert.deepEqual(commands, [
      ['setPipeline', pipeline], ['setBindGroup', 0, group], ['dispatchWorkgroups', 5, 2, 1],
      ['setPipeline', pipeline], ['setBindGroup', 0, group], ['dispatchWorkgroups', 3, 4, 7],
    ]);
  });

  test('a grid step dispatches the workgroups of nTokens as a grid, nothing for an empty batch', () => {
    const step = gridStep('k', new WorkgroupLimit(4), 10, pipeline, group, (nTokens) => nTokens * 3);
    assert.equal(step.label, 'k');
    const { pass, commands } = recordingPass();
    step.encode(pass, 0);
    assert.deepEqual(commands, []);
    step.encode(pass, 1);
    step.encode(pass, 5); // 15 workgroups: 4 rows of 4
    assert.deepEqual(commands, [
      ['setPipeline', pipeline], ['setBindGroup', 0, group], ['dispatchWorkgroups', 3, 1, 1],
      ['setPipeline', pipeline], ['setBindGroup', 0, group], ['dispatchWorkgroups', 4, 4, 1],
    ]);
  });

  test('token counts outside the buffers and grids beyond the limit throw before the pass is touched', () => {
    const step = gridStep('k', new WorkgroupLimit(4), 10, pipeline, group, (nTokens) => nTokens * 2);
    const { pass, commands } = recordingPass();
    for (const nTokens of [11, -1, 1.5, NaN]) assert.equal(codeOf(() => step.encode(pass, nTokens)), 'range/out-of-bounds', `nTokens ${nTokens}`);
    // 10 tokens fit the buffers, but 20 workgroups need 5 rows of 4.
    assert.equal(codeOf(() => step.encode(pass, 10)), 'range/out-of-bounds');
    assert.deepEqual(commands, []);
  });
});

describe('the GPU pick', () => {
  test('a vocabulary of more 4096-logit chunks than a dispatch dimension holds is a range error before anything is created; as many fit', () => {
    const created: string[] = [];
    const device = new Proxy({ limits: { maxComputeWorkgroupsPerDimension: 3 } }, {
      get: (target, key) => (key in target ? target[key as 'limits'] : () => created.push(String(key))),
    }) as unknown as GPUDevice;
    const logits = { size: 4 * 4 * 4096 } as GPUBuffer;
    let err: unknown;
    try {
      new GpuPicker(device, logits, 3 * 4096 + 1);
    } catch (e) {
      err = e;
    }
    assert.equal((err as { code?: string }).code, 'range/out-of-bounds');
    assert.deepEqual((err as { details?: unknown }).details, { workgroups: 4 });
    assert.equal(created.length, 0, created.join());
    // Three chunks fit the three workgroups a dimension allows (the WebGPU
    // constants the picker reads, as the spec numbers them).
    const g = globalThis as Record<string, unknown>;
    g.GPUShaderStage ??= { VERTEX: 1, FRAGMENT: 2, COMPUTE: 4 };
    g.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
    new GpuPicker(device, logits, 3 * 4096);
    assert.ok(created.includes('createComputePipeline') && created.includes('createBuffer'), created.join());
  });
});
