// The hob CLI as a user runs it: JSON outputs, and one-line errors with a
// non-zero exit status.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';
import { testdataDir as testdata } from '../data.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const tiny = join(testdata, 'llama-2-tiny-random.gguf');

async function hob(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // Offloaded blocks run on SwiftShader's Vulkan driver unless another is named.
    const env = { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json' };
    const { stdout, stderr } = await run('node', [join(root, 'bin/hob.mjs'), ...args], { maxBuffer: 64 << 20, env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('hob tokenize prints the ids with BOS as JSON', async () => {
  const r = await hob('tokenize', '--model', tiny, '--text', 'Hello world');
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), { ids: [1, 15043, 3186] });
});

test('hob complete --json gives ids, text and prefill/decode speeds, and greedy runs repeat exactly', async () => {
  const args = ['complete', '--model', tiny, '--prompt', 'The capital of France', '--n-predict', '12', '--temp', '0', '--ignore-eos', '--threads', '2', '--json'];
  const a = JSON.parse((await hob(...args)).stdout);
  const b = JSON.parse((await hob(...args)).stdout);
  assert.equal(a.ids.length, 12);
  assert.deepEqual(a.ids, b.ids);
  assert.equal(typeof a.text, 'string');
  assert.equal(a.promptIds[0], 1);
  assert.equal(a.backend, 'wasm-mt');
  assert.equal(a.threads, 2);
  assert.equal(a.timings.prefillTokens, a.promptIds.length);
  assert.equal(a.timings.decodeTokens, 11);
  assert.ok(a.timings.prefillTokensPerSecond > 0 && a.timings.decodeTokensPerSecond > 0);
});

test('hob complete past the context shifts it and logs every shift with its numbers', async () => {
  const r = await hob('complete', '--model', tiny, '--prompt', 'The capital of France', '--ctx-size', '32', '--n-predict', '60', '--temp', '0', '--ignore-eos', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).ids.length, 60);
  const shifts = r.stderr.split('\n').filter((l) => l.startsWith('hob: context shift: '));
  assert.ok(shifts.length >= 2, r.stderr);
  for (const line of shifts) assert.match(line, /^hob: context shift: evicted \d+ tokens at position 1 \(overflow, \d+ tokens remain\)$/);
});

test('hob complete --gpu-layers offloads blocks to WebGPU and generates the ids of the CPU run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cli-gpu-'));
  const path = join(dir, 'tiny-f32.gguf');
  writeFileSync(path, writeRandomLlama(makeSpec('tiny', { weightType: 'f32' })));
  const args = ['complete', '--model', path, '--prompt', 'a b c', '--n-predict', '16', '--temp', '0', '--ignore-eos', '--threads', '1', '--json'];
  const cpu = JSON.parse((await hob(...args)).stdout);
  const r = await hob(...args, '--gpu-layers', '2');
  assert.equal(r.code, 0, r.stderr);
  const gpu = JSON.parse(r.stdout);
  assert.equal(cpu.gpuLayers, 0);
  assert.equal(gpu.gpuLayers, 2);
  assert.deepEqual(gpu.ids, cpu.ids);
  const all = JSON.parse((await hob(...args, '-ngl', '99')).stdout);
  assert.equal(all.gpuLayers, 4);
  assert.deepEqual(all.ids, cpu.ids);
});

test('hob inspect prints metadata and the tensor table, arrays shortened unless --full', async () => {
  const r = await hob('inspect', '--model', tiny);
  assert.equal(r.code, 0);
  const h = JSON.parse(r.stdout);
  assert.equal(h.metadata['general.architecture'], 'llama');
  assert.equal(h.metadata['tokenizer.ggml.tokens'].length, 16);
  assert.equal(h.tensors.length, 12);
  const full = JSON.parse((await hob('inspect', '--model', tiny, '--full')).stdout);
  assert.equal(full.metadata['tokenizer.ggml.tokens'].length, 32000);
});

test('errors are one line on stderr with a non-zero exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cli-'));
  const bogus = join(dir, 'bogus.gguf');
  writeFileSync(bogus, 'this is not a gguf file');
  const cases: [string[], RegExp][] = [
    [['complete', '--model', join(dir, 'missing.gguf'), '--prompt', 'x'], /^hob: cannot open .*missing\.gguf/],
    [['complete', '--model', bogus, '--prompt', 'x'], /^hob: not a GGUF file.*\[gguf\/bad-magic\]$/],
    [['inspect', '--model', bogus], /^hob: not a GGUF file/],
    [['complete', '--prompt', 'x'], /^hob: --model is required/],
    [['frobnicate', '--model', tiny], /^hob: unknown command "frobnicate"/],
    [['complete', '--model', tiny, '--prompt', 'x', '--temp', 'hot'], /^hob: --temp must be a number/],
    [['complete', '--model', tiny, '--prompt', 'one two three four', '--ctx-size', '2', '--n-predict', '8'], /^hob: .*do not fit.*\[context\/overflow\]$/],
  ];
  for (const [args, pattern] of cases) {
    const r = await hob(...args);
    assert.notEqual(r.code, 0, `${args.join(' ')} must fail`);
    const first = r.stderr.split('\n')[0];
    assert.match(first, pattern, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('hob --help prints the usage and exits 0', async () => {
  const r = await hob('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: hob <command>/);
  assert.match(r.stdout, /complete/);
});
