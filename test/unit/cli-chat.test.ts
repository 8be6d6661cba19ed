// hob run/chat, hob bench, per-command help, and the progress bar, as a user
// meets them: turns read from a pipe, Ctrl-C (SIGINT) stopping a reply
// without ending the chat, llama-bench style numbers, one-line errors.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { resolve, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { Engine, generate, loadModelFile, Sequence, Session } from '../../src/node/index.js';
import { commandHelp } from '../../src/node/cli/args.js';
import { ProgressBar, formatBytes, formatDuration } from '../../src/node/cli/progress.js';
import { testdataDir as testdata } from '../data.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const hobBin = join(root, 'bin/hob.mjs');
const tiny = join(testdata, 'llama-2-tiny-random.gguf');

async function hob(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('node', [hobBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

test('hob chat answers each piped line in turn and the second turn reuses the cache of the first', async () => {
  const args = ['chat', tiny, '--temp', '0', '-n', '6', '--threads', '2', '--timings'];
  const r = await hob(args, 'Hello there\nHow are you?\n');
  assert.equal(r.code, 0, r.stderr);
  const replies = r.stdout.split('\n').filter((l) => l.length > 0);
  assert.equal(replies.length, 2, r.stdout);
  const turns = [...r.stderr.matchAll(/prompt: (\d+) new tokens, (\d+) reused, .*reply: (\d+) tokens/g)].map((m) => m.slice(1).map(Number));
  assert.equal(turns.length, 2, r.stderr);
  assert.equal(turns[0][1], 0);
  assert.ok(turns[1][1] > turns[0][0] / 2, `second turn reused ${turns[1][1]} tokens`);
  // Greedy: the same conversation gives the same replies.
  const again = await hob(args, 'Hello there\nHow are you?\n');
  assert.equal(again.stdout, r.stdout);
  // /reset forgets the first turn: the second reply equals a first reply.
  const reset = await hob(args, 'How are you?\n/reset\nHow are you?\n');
  const [x, y] = reset.stdout.split('\n').filter((l) => l.length > 0);
  assert.equal(x, y);
});

test('hob chat runs through the engine worker: a reply past a small context shifts it, logged from the engine\'s shift event', async () => {
  const r = await hob(['chat', tiny, '--temp', '0', '-n', '40', '-c', '48', '--threads', '2', '--timings'], 'Hello there\n');
  assert.equal(r.code, 0, r.stderr);
  const shift = /hob: context shift: evicted (\d+) tokens at position (\d+) \(overflow, (\d+) tokens remain\)/.exec(r.stderr);
  assert.ok(shift, r.stderr);
  const [evicted, , remain] = shift.slice(1).map(Number);
  assert.ok(evicted > 0 && evicted + remain <= 48, r.stderr);
  // The usage of the request: 40 tokens replied though prompt and reply exceed the 48 of the context.
  const t = /prompt: (\d+) new tokens, 0 reused, .*reply: (\d+) tokens/.exec(r.stderr);
  assert.ok(t, r.stderr);
  assert.equal(Number(t[2]), 40);
  assert.ok(Number(t[1]) + 40 > 48);
});

test('SIGINT stops a reply in hob chat, which then takes the next turn', async () => {
  const child = spawn('node', [hobBin, 'chat', tiny, '--temp', '0', '-n', '4000', '-c', '4096', '--threads', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const firstOutput = new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
  child.stdin.write('Tell me a long story\n');
  await firstOutput;
  child.kill('SIGINT');
  while (!stderr.includes('(stopped)')) await new Promise((r) => setTimeout(r, 20));
  const stoppedAt = stdout.length;
  child.stdin.end('And another\n');
  assert.equal(await closed, 0, stderr);
  assert.ok(stdout.length > stoppedAt, 'the next turn got a reply');
  // Far fewer tokens than the 4000 allowed were written before the stop.
  assert.ok(stoppedAt < 4000 * 4, `${stoppedAt} characters before the stop`);
});

test('hob complete with a long prompt counts every prompt token as prefill and generates what one prefill does', async () => {
  const prompt = Array.from({ length: 60 }, (_, i) => `line ${i} of a long prompt`).join('\n');
  const r = await run('node', [hobBin, 'complete', tiny, '--prompt', prompt, '-n', '8', '--temp', '0', '--ignore-eos', '--threads', '2', '--json']);
  const got = JSON.parse(r.stdout);
  assert.ok(got.promptIds.length > 300, `${got.promptIds.length} prompt tokens`);
  assert.equal(got.timings.prefillTokens, got.promptIds.length);
  assert.equal(got.timings.reusedTokens, 0);
  assert.equal(r.stderr, '', 'no progress bar off a terminal');
  const engine = await Engine.create({ threads: 2 });
  const model = await loadModelFile(engine, tiny);
  const want = await generate(model, new Sequence(Session.create(model, { nCtx: 0, nThreads: 2 })), {
    temperature: 0, promptIds: got.promptIds, maxTokens: 8, ignoreEos: true,
  });
  assert.deepEqual(got.ids, want.ids);
  model.free();
});

test('hob bench measures pp and tg with the repetitions asked for, as JSON and as a table', async () => {
  const j = JSON.parse((await run('node', [hobBin, 'bench', tiny, '-p', '16', '-n', '4', '-r', '2', '-t', '1', '--json'])).stdout);
  assert.equal(j.backend, 'wasm-st'); // one thread needs no shared memory
  assert.equal(j.threads, 1);
  assert.deepEqual(
    j.results.map((r: { test: string; nTokens: number }) => [r.test, r.nTokens]),
    [
      ['pp16', 16],
      ['tg4', 4],
    ],
  );
  for (const r of j.results) {
    assert.equal(r.samplesTokensPerSecond.length, 2);
    assert.ok(r.avgTokensPerSecond > 0 && r.stddevTokensPerSecond >= 0);
  }
  const table = (await run('node', [hobBin, 'bench', tiny, '-p', '8', '-n', '0', '-r', '1'])).stdout.trim().split('\n');
  assert.equal(table.length, 3, table.join('\n'));
  assert.match(table[0], /\| test \|\s+t\/s \|$/);
  assert.match(table[2], /\| +pp8 \| +[\d.]+ ± [\d.]+ \|$/);
});

test('every command has --help, and mistakes are one line with a non-zero exit', async () => {
  for (const cmd of ['run', 'chat', 'complete', 'tokenize', 'inspect', 'bench']) {
    const r = await hob([cmd, '--help']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, commandHelp[cmd]);
    assert.match(r.stdout, new RegExp(`^usage: hob ${cmd === 'chat' ? 'run' : cmd} `));
  }
  const cases: [string[], RegExp][] = [
    [['run'], /^hob: --model is required$/],
    [['bench', tiny, '--n-gen', 'x'], /^hob: --n-gen must be a number, got "x"$/],
    [['bench', tiny, '-r', '0'], /^hob: --repetitions must be a whole number from 1 to 2147483647, got 0$/],
    [['chat', tiny, '--template', 'nope'], /^hob: --template must be one of chatml, llama3, gemma, phi3, mistral, got "nope"$/],
    [['complete', tiny, '--frobnicate'], /^hob: Unknown option '--frobnicate'$/],
    [['complete', tiny], /^hob: --prompt \(or --file\) is required$/],
    [['chat', join(testdata, 'missing.gguf')], /^hob: cannot open .*missing\.gguf/],
  ];
  for (const [args, pattern] of cases) {
    const r = await hob(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr.split('\n')[0], pattern, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('the progress bar redraws in place on a terminal and prints one plain line otherwise', () => {
  const fake = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, columns: 100, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
  };
  const tty = fake(true);
  const bar = new ProgressBar('download', { unit: 'bytes', stream: tty.stream });
  bar.update(512 << 10, 2 << 20, 256 << 10);
  bar.update(2 << 20, 2 << 20, 256 << 10);
  bar.finish();
  assert.match(tty.out[0], /^\r\x1b\[2Kdownload █+░+  25% 512 KiB\/2\.00 MiB 256 KiB\/s ETA 00:06$/);
  assert.match(tty.out.at(-1) as string, /^\r\x1b\[2Kdownload: 2\.00 MiB in \d+\.\d s\n$/);

  const pipe = fake(false);
  const quiet = new ProgressBar('load', { unit: 'bytes', stream: pipe.stream });
  quiet.update(10, 100);
  quiet.finish();
  assert.equal(pipe.out.length, 1);
  assert.match(pipe.out[0], /^load: 10 B in \d+\.\d s\n$/);
  const silent = fake(false);
  const none = new ProgressBar('prompt', { unit: 'tokens', stream: silent.stream, summary: false });
  none.update(5, 10);
  none.finish();
  assert.deepEqual(silent.out, []);

  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(3 * 1024 ** 3), '3.00 GiB');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(Infinity), '--:--');
});
