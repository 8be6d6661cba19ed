// Which subgroup-matrix config the int8 prefill matmul takes from an
// adapter's info (src/gpu/device.ts int8MatrixShape): only an i8 -> i32
// config it can tile, only with the feature on the device and one fixed
// subgroup size. Plain objects stand in for Dawn's adapter and device.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { int8MatrixShape } from '../../src/gpu/device.js';

const FEATURE = 'chromium-experimental-subgroup-matrix';
const cfg = (componentType: string, resultComponentType: string, M: number, N: number, K: number) => ({ componentType, resultComponentType, M, N, K });
const adapter = (configs: object[], min = 32, max = 32) =>
  ({ info: { subgroupMinSize: min, subgroupMaxSize: max, subgroupMatrixConfigs: configs } }) as unknown as GPUAdapter;
const device = (features: string[]) => ({ features: new Set(features) }) as unknown as GPUDevice;

test('the i8 -> i32 config is taken, float and u8 ones are not', () => {
  const a = adapter([cfg('f32', 'f32', 16, 16, 8), cfg('u8', 'u32', 16, 16, 32), cfg('i8', 'i32', 16, 16, 32)]);
  assert.deepEqual(int8MatrixShape(a, device([FEATURE])), { M: 16, N: 16, K: 32, subgroupSize: 32 });
});

test('no shape without the feature on the device, an i8 config, a fixed subgroup size or a shape that tiles 64 x 32', () => {
  const good = [cfg('i8', 'i32', 16, 16, 32)];
  assert.equal(int8MatrixShape(adapter(good), device([])), undefined);
  assert.equal(int8MatrixShape(adapter([cfg('f16', 'f32', 16, 16, 16)]), device([FEATURE])), undefined);
  assert.equal(int8MatrixShape(adapter(good, 16, 32), device([FEATURE])), undefined);
  assert.equal(int8MatrixShape(adapter([cfg('i8', 'i32', 12, 16, 32)]), device([FEATURE])), undefined);
  assert.equal(int8MatrixShape(adapter([cfg('i8', 'i32', 16, 16, 64)]), device([FEATURE])), undefined);
  assert.equal(int8MatrixShape({ info: undefined } as unknown as GPUAdapter, device([FEATURE])), undefined);
});
