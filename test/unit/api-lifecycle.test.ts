// The engine's lifetime as a caller sees it: every call after unload() (or
// in flight when it happens) settles with EngineClosedError instead of
// hanging; an abort early in createEngine stops the load; an engine that is
// never unloaded does not keep a Node process alive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

import { createEngine, EngineClosedError } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const root = resolve(import.meta.dirname, '../..');
const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');

/** Resolves with what `p` settles to, or 'pending' after `ms`. */
async function settled<T>(p: Promise<T>, ms = 2000): Promise<{ ok: T } | { error: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([p.then((ok) => ({ ok }), (error: unknown) => ({ error })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

function assertClosed(r: Awaited<ReturnType<typeof settled>>, what: string): void {
  assert.notEqual(r, 'pending', `${what} never settled`);
  assert.ok(typeof r === 'object' && 'error' in r, `${what} resolved after unload`);
  const e = r.error as { code?: string; name?: string };
  assert.equal(e.code, 'engine/closed', `${what}: ${String(r.error)}`);
  assert.ok(r.error instanceof EngineClosedError, what);
}

test('every call after unload() rejects at once with EngineClosedError', async () => {
  const engine = await createEngine({ model: tinyPath, contextSize: 64, threads: 1 });
  await engine.unload();
  const messages = [{ role: 'user' as const, content: 'hi' }];
  const calls: [string, () => Promise<unknown>][] = [
    ['tokenize', () => engine.tokenize('hello')],
    ['detokenize', () => engine.detokenize([1, 2])],
    ['applyChatTemplate', () => engine.applyChatTemplate(messages)],
    ['info', () => engine.info()],
    ['contextUsed', () => engine.contextUsed()],
    ['resetContext', () => engine.resetContext()],
    ['chat.completions.create', () => engine.chat.completions.create({ messages })],
    ['completions.create', () => engine.completions.create({ prompt: 'a', stream: true })],
  ];
  for (const [name, call] of calls) assertClosed(await settled(call()), name);
  await engine.unload(); // a second unload is a no-op
});

test('calls in flight when unload() runs settle: finished, stopped or EngineClosedError', async () => {
  const engine = await createEngine({ model: tinyPath, contextSize: 256, threads: 1 });
  const inFlight: Promise<unknown>[] = [
    engine.completions.create({ prompt: 'Once upon a time', max_tokens: 200, ignore_eos: true }),
    engine.completions.create({ prompt: 'And then', max_tokens: 200, ignore_eos: true }),
    engine.tokenize('x'.repeat(10_000)),
    engine.info(),
  ];
  const unloading = engine.unload();
  for (const p of inFlight) {
    const r = await settled(p, 10_000);
    if (r === 'pending') assert.fail('a call in flight never settled');
    if ('error' in r) assert.equal((r.error as { code: string }).code, 'engine/closed');
  }
  await unloading;
});

test('an abort in the first 100 ms of createEngine cancels it: AbortError, and no model is loaded', async () => {
  for (const ms of [0, 1, 10, 30, 60, 100]) {
    const ac = new AbortController();
    const t0 = performance.now();
    const opening = createEngine({ model: tinyPath, contextSize: 64, threads: 1, signal: ac.signal });
    if (ms === 0) ac.abort();
    else setTimeout(() => ac.abort(), ms);
    const r = await settled(opening, 10_000);
    if (r === 'pending') assert.fail(`abort at ${ms} ms: createEngine never settled`);
    if ('ok' in r) {
      await r.ok.unload();
      assert.fail(`abort at ${ms} ms was ignored: the model loaded after ${(performance.now() - t0).toFixed(0)} ms`);
    }
    assert.equal((r.error as { code: string }).code, 'request/aborted', `abort at ${ms} ms`);
    assert.ok(performance.now() - t0 < ms + 1000, `abort at ${ms} ms settled after ${(performance.now() - t0).toFixed(0)} ms`);
  }
});

test('a Node script that never unloads its engine still exits when its work is done', async () => {
  const script = `
    const { createEngine } = await import(${JSON.stringify(join(root, 'src/node/index.ts'))});
    const engine = await createEngine({ model: ${JSON.stringify(tinyPath)}, contextSize: 64, threads: 2 });
    const r = await engine.completions.create({ prompt: 'Hello', max_tokens: 4, temperature: 0 });
    console.log('done', r.usage.completion_tokens);
  `;
  // A file, not -e: worker threads inherit the flags, and --input-type would stop them.
  const file = join(mkdtempSync(join(tmpdir(), 'hob-exit-')), 'script.mts');
  writeFileSync(file, script);
  const child = spawn('node', ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const r = await settled(exited, 20_000);
  if (r === 'pending') child.kill('SIGKILL');
  assert.notEqual(r, 'pending', `the process stayed alive: ${out}`);
  assert.match(out, /^done 4$/m);
  assert.deepEqual(r, { ok: 0 });
});

test('a worker that dies (out of memory, a crash) settles every pending call with EngineClosedError', async () => {
  // A stand-in for the worker: it opens, then never answers a request; its
  // death is reported through the hook the Node entry wires to the
  // worker's 'exit' and 'error' events.
  let died: (why: string) => void = () => {};
  let terminated = 0;
  const remote = {
    open: async (_opts: unknown, events: MessagePort) => {
      events.postMessage({ kind: 'loaded' });
      return { model: { name: 'fake' }, contextSize: 64, threads: 1 };
    },
    generate: () => new Promise(() => {}),
    tokenize: () => new Promise(() => {}),
    stop: async () => {},
    unload: () => new Promise(() => {}),
  };
  const { openEngine } = await import('../../src/api/remote-engine.js');
  // As the Node entry refs its worker while calls wait on it: this keeps the event loop alive.
  let busy: NodeJS.Timeout | undefined;
  const engine = await openEngine(remote as never, { path: 'fake.gguf' }, { model: '' }, () => terminated++, {
    onExit: (listener) => (died = listener),
    setBusy: (b) => (b ? (busy = setInterval(() => {}, 1000)) : clearInterval(busy)),
  });
  const pending: Promise<unknown>[] = [
    engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }),
    engine.completions.create({ prompt: 'queued behind the first' }),
    engine.tokenize('hello'),
  ];
  died('ERR_WORKER_OUT_OF_MEMORY');
  for (const p of pending) {
    const r = await settled(p, 2000);
    if (r === 'pending') assert.fail('a call never settled after the worker died');
    assert.ok('error' in r);
    assert.equal((r.error as { code: string }).code, 'engine/closed');
    assert.match((r.error as Error).message, /the engine's worker stopped: ERR_WORKER_OUT_OF_MEMORY/);
  }
  assertClosed(await settled(engine.info()), 'info after the worker died');
  await engine.unload();
  assert.equal(terminated, 1);
});
