// hob fit: the verdict from the header, with the GPU side when GPU layers are
// asked for (Dawn's adapter on SwiftShader, or why there is none), the
// settings to load with, and exit status 1 when the asked settings do not fit.
// Run from the source through tsx, as the command's code is under test here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import type { FitReport } from '../../src/shared/types.js';
import { testdataDir } from '../data.js';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../../src/node/cli.ts');
const model = join(testdataDir, 'llama-2-tiny-random.gguf');

async function hobFit(args: string[], vulkanDriver: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', cli, 'fit', model, ...args], { env: { ...process.env, VK_ICD_FILENAMES: vulkanDriver } });
    return { code: 0, stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, stdout: err.stdout };
  }
}

const swiftshader = process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json';

test('hob fit with --gpu-layers auto prints the wasm and GPU sides and the settings to load with', async () => {
  const r = await hobFit(['--gpu-layers', 'auto', '-c', '512', '--gpu-budget', '64'], swiftshader);
  assert.equal(r.code, 0, r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^fits: [\d.]+ MiB of wasm memory and [\d.]+ MiB of GPU memory \(1 of 1 blocks\) at a context of 512; auto: 1 of 1 blocks on the GPU at a context of 512/);
  assert.match(lines[1], /^wasm: [\d.]+ MiB \(weights [\d.]+ MiB, KV cache [\d.]+ MiB, scratch [\d.]+ MiB\); budget [\d.]+ MiB \(half of this machine's memory/);
  assert.match(lines[2], /^gpu: 1 blocks, [\d.]+ MiB \(weights .*\); budget 64 MiB, largest buffer [\d.]+ MiB on \S/);
  assert.equal(lines[3], 'load with: --gpu-layers 1 --ctx-size 512');
  const json = JSON.parse((await hobFit(['--gpu-layers', 'auto', '-c', '512', '--gpu-budget', '64', '--json'], swiftshader)).stdout) as FitReport;
  assert.equal(json.limits.gpuBudgetBytes, 64 * 2 ** 20);
  assert.deepEqual(json.settings, { gpuLayers: 1, contextSize: 512 });
});

test('hob fit without a GPU says why; GPU layers asked for then do not fit (exit status 1), and --memory-budget too small neither', async () => {
  const noDriver = join(tmpdir(), 'no-such-driver.json');
  const auto = await hobFit(['--gpu-layers', 'auto', '-c', '256'], noDriver);
  assert.equal(auto.code, 0);
  assert.match(auto.stdout, /\ngpu: none \((no WebGPU adapter was found|GPU layers in Node need the 'webgpu' package.*)\)\n/);
  assert.match(auto.stdout, /load with: --gpu-layers 0 --ctx-size 256/);
  const one = await hobFit(['--gpu-layers', '1', '-c', '256'], noDriver);
  assert.equal(one.code, 1);
  assert.match(one.stdout, /^fits-with-changes: does not fit as asked \(1 GPU layers need a GPU: /);
  const small = await hobFit(['--memory-budget', '8'], noDriver);
  assert.equal(small.code, 1);
  assert.match(small.stdout, /^does-not-fit: it needs [\d.]+ MiB of memory; the budget is 8.0 MiB \(budget.memoryBytes\)/);
  assert.doesNotMatch(small.stdout, /\ngpu:/, 'no GPU asked for, no GPU line');
});
