// The hob CLI under careless or hostile use: numbers past their range are
// refused with the range (never wrapped), threads are capped at the
// hardware's, a prompt longer than the context is reported with its real
// length, a directory or a FIFO as the model is a one-line error, -ngl auto
// without a GPU runs on the CPU, and a closed stdout ends the command
// quietly instead of dumping the wasm glue.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

import { Engine } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const root = resolve(import.meta.dirname, '../..');
const hobBin = join(root, 'bin/hob.mjs');
const tiny = join(testdata, 'llama-2-tiny-random.gguf');
const swiftshader = process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs hob; `readBytes` closes its stdout after that many bytes (as `| head -c N` does). */
function hob(args: string[], opts: { env?: Record<string, string>; readBytes?: number; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn('node', [hobBin, ...args], { env: { ...process.env, VK_ICD_FILENAMES: swiftshader, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (opts.readBytes !== undefined && stdout.length >= opts.readBytes) child.stdout.destroy();
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
    child.stdin.end(opts.input ?? '');
  });
}

test('integer options past their range are refused with the option and the range, not wrapped or ignored', async () => {
  const complete = ['complete', tiny, '--prompt', 'Hello world', '-n', '2', '--temp', '0'];
  const cases: [string[], RegExp][] = [
    [[...complete, '--ctx-size', '4294967298'], /^hob: --ctx-size must be a whole number from 0 to 2147483647, got 4294967298$/],
    [[...complete, '--ctx-size', '2147483648'], /^hob: --ctx-size must be a whole number from 0 to 2147483647, got 2147483648$/],
    [[...complete, '--ctx-size', '1e300'], /^hob: --ctx-size must be a whole number from 0 to 2147483647, got 1e300$/],
    [[...complete, '--ctx-size=-1'], /^hob: --ctx-size must be a whole number from 0 to 2147483647, got -1$/],
    [[...complete, '--n-predict', '1e300'], /^hob: --n-predict must be a whole number from 0 to 2147483647, got 1e300$/],
    [[...complete, '--threads', '1e300'], /^hob: --threads must be a whole number from 1 to 2147483647, got 1e300$/],
    [[...complete, '--gpu-layers=-1'], /^hob: --gpu-layers must be a whole number from 0 to 2147483647, got -1$/],
    [[...complete, '--seed', '4294967296'], /^hob: --seed must be a whole number from 0 to 4294967295, got 4294967296$/],
    [[...complete, '--top-k', '1.5'], /^hob: --top-k must be a whole number from 0 to 2147483647, got 1.5$/],
    [[...complete, '--repeat-last-n=-2'], /^hob: --repeat-last-n must be a whole number from -1 to 2147483647, got -2$/],
    [['run', tiny, '--ctx-size', '4294967298'], /^hob: --ctx-size must be a whole number from 0 to 2147483647, got 4294967298$/],
    [['bench', tiny, '--n-prompt', '1e300'], /^hob: --n-prompt must be a whole number from 0 to 2147483647, got 1e300$/],
    [['bench', tiny, '-r', '0'], /^hob: --repetitions must be a whole number from 1 to 2147483647, got 0$/],
  ];
  for (const [args, pattern] of cases) {
    const r = await hob(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0], pattern, args.join(' '));
  }
});

test('more threads than the hardware has are capped at its count, and hob says so', async () => {
  const hardware = availableParallelism();
  const asked = hardware * 8;
  const r = await hob(['complete', tiny, '--prompt', 'Hello', '-n', '2', '--threads', String(asked), '--json'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).threads, hardware);
  assert.equal(r.stderr, `hob: --threads ${asked} is more than the ${hardware} hardware threads here; using ${hardware}\n`);
});

test('a prompt longer than the context is reported with its real length before anything is evaluated', async () => {
  const prompt = Array.from({ length: 1500 }, (_, i) => `word${i}`).join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'hob-cli-'));
  writeFileSync(join(dir, 'prompt.txt'), prompt);
  const nTokens = JSON.parse(execFileSync('node', [hobBin, 'tokenize', tiny, '--text', prompt], { encoding: 'utf8' })).ids.length;
  assert.ok(nTokens > 3 * 512, `${nTokens} tokens`);
  const r = await hob(['complete', tiny, '-f', join(dir, 'prompt.txt'), '--ctx-size', '512', '-n', '4']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `hob: the prompt's ${nTokens} tokens do not fit in a context of 512 [context/overflow]\n`);
});

test('a directory or a FIFO as the model is a one-line error, at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-cli-'));
  const fifo = join(dir, 'model.fifo');
  execFileSync('mkfifo', [fifo]);
  for (const cmd of [['tokenize', '--text', 'x'], ['inspect'], ['complete', '--prompt', 'x'], ['run']]) {
    const d = await hob([cmd[0], dir, ...cmd.slice(1)]);
    assert.equal(d.code, 1, d.stderr);
    assert.equal(d.stderr, `hob: ${dir} is a directory, not a model file [argument/invalid]\n`, cmd.join(' '));
    const f = await hob([cmd[0], fifo, ...cmd.slice(1)], { timeoutMs: 20_000 });
    assert.equal(f.code, 1, `${cmd.join(' ')} on a FIFO: ${f.signal ?? ''} ${f.stderr}`);
    assert.equal(f.stderr, `hob: ${fifo} is not a regular file (a FIFO, a device or a socket), not a model file [argument/invalid]\n`);
  }
});

test('-ngl auto without any GPU adapter runs every block on the CPU, as auto promises', async () => {
  const env = { VK_ICD_FILENAMES: join(tmpdir(), 'no-such-icd.json') };
  const r = await hob(['complete', tiny, '--prompt', 'Hello', '-n', '3', '--temp', '0', '-ngl', 'auto', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).gpuLayers, 0);
  const chat = await hob(['run', tiny, '-n', '3', '--temp', '0', '-ngl', 'auto'], { env, input: 'Hello\n' });
  assert.equal(chat.code, 0, chat.stderr);
  assert.ok(chat.stdout.trim().length > 0);
  // A number of layers is a request for the GPU: without one it fails, naming why.
  const asked = await hob(['complete', tiny, '--prompt', 'Hello', '-n', '3', '-ngl', '2'], { env });
  assert.equal(asked.code, 1);
  assert.match(asked.stderr, /\[gpu\/unavailable\]\n$/);
});

test('a closed stdout (| head -c 10) ends the command quietly: no glue, no stack, exit 0', async () => {
  const runs = [
    await hob(['complete', tiny, '--prompt', 'Once upon a time', '-n', '400', '--ignore-eos', '--temp', '0', '--threads', '1'], { readBytes: 10 }),
    await hob(['inspect', tiny, '--full'], { readBytes: 10 }),
  ];
  for (const r of runs) {
    assert.equal(r.signal, null);
    assert.equal(r.code, 0, r.stderr.slice(0, 300));
    assert.equal(r.stderr.replace(/^prefill: .*\n$/, ''), '', r.stderr.slice(0, 300));
  }
});

test('loading the engine leaves the process handlers as they were; an uncaught error in hob is one line with its code', async () => {
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const before = events.map((e) => process.listenerCount(e));
  const engine = await Engine.create({ threads: 2 });
  engine.dispose();
  assert.deepEqual(events.map((e) => process.listenerCount(e)), before, "the wasm glue's handlers were left installed");

  const dir = mkdtempSync(join(tmpdir(), 'hob-cli-'));
  const script = join(dir, 'uncaught.mts');
  writeFileSync(script, `
    import { installProcessGuards } from ${JSON.stringify(join(root, 'src/node/cli/process-guard.ts'))};
    import { Engine, HobError } from ${JSON.stringify(join(root, 'src/node/index.ts'))};
    installProcessGuards();
    await Engine.create({ threads: 2 });
    setTimeout(() => { throw new HobError('internal', 'something broke'); }, 10);
    setTimeout(() => Promise.reject(new Error('never reached')), 1000);
  `);
  const r = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn('node', ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
  assert.equal(r.stderr, 'hob: something broke [internal]\n');
  assert.equal(r.code, 1);
});
