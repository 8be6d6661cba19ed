// A model whose chat template loops, allocates or raises: the API rejects the
// request with the TemplateError (the pending promise settles, the engine
// stays usable), and hob run prints it on one line and exits non-zero.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, type HobEngine } from '../../src/node/index.js';
import { buildRandomLlama, makeSpec } from '../gguf/random-model.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'hob-template-'));

const TEMPLATES = {
  // V8 dies on an array this long ("invalid size error"), whatever the caller catches.
  huge: '{% for i in range(1000000000) %}{{ i }}{% endfor %}',
  busy: '{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}',
  raises: '{{ raise_exception("This model does not talk to strangers") }}',
};

function modelWithTemplate(name: keyof typeof TEMPLATES): string {
  const w = buildRandomLlama(makeSpec('tiny'));
  w.addKv('tokenizer.chat_template', TEMPLATES[name], 'string');
  const path = join(dir, `${name}.gguf`);
  writeFileSync(path, w.toBytes());
  return path;
}

const paths = Object.fromEntries(Object.keys(TEMPLATES).map((k) => [k, modelWithTemplate(k as keyof typeof TEMPLATES)])) as Record<keyof typeof TEMPLATES, string>;

function hobRun(model: string, input: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn('node', [join(root, 'bin/hob.mjs'), 'run', model, '-n', '4', '--threads', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
    child.stdin.end(input);
  });
}

describe('a hostile chat template through the API', { timeout: 60_000 }, () => {
  let engine: HobEngine;
  before(async () => {
    engine = await createEngine({ model: paths.huge, contextSize: 128, threads: 1 });
  });
  after(async () => {
    await engine?.unload();
  });

  test('chat.completions.create rejects with template/limit, and the engine keeps serving', async () => {
    const messages = [{ role: 'user' as const, content: 'hi' }];
    await assert.rejects(engine.chat.completions.create({ messages }), (e: unknown) => {
      const err = e as { name: string; code: string; details: { budget: string } };
      assert.equal(err.name, 'TemplateError');
      assert.equal(err.code, 'template/limit');
      assert.equal(err.details.budget, 'items');
      return true;
    });
    const stream = await engine.chat.completions.create({ messages, stream: true });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, { code: 'template/limit' });
    await assert.rejects(engine.applyChatTemplate(messages), { code: 'template/limit' });
    const r = await engine.completions.create({ prompt: 'a b c', max_tokens: 3, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 3);
  });
});

describe('a hostile chat template in hob run', { timeout: 120_000 }, () => {
  test('a template that would allocate a billion numbers is one line on stderr and exit status 1', async () => {
    const r = await hobRun(paths.huge, 'hello\n');
    assert.equal(r.signal, null, r.stderr.slice(0, 500));
    assert.equal(r.code, 1, r.stderr.slice(0, 500));
    assert.match(r.stderr, /^hob: the chat template ran past its budget of 100000 list items .* \[template\/limit\]$/m);
    assert.ok(r.stderr.length < 1000, r.stderr.slice(0, 500));
  });

  test('a template that loops for hours stops on its budget, and the chat ends with status 1', async () => {
    const r = await hobRun(paths.busy, 'hello\nhello again\n');
    assert.equal(r.code, 1, r.stderr.slice(0, 500));
    assert.match(r.stderr, /\[template\/limit\]/);
    // Two turns, each stopped by the step budget: seconds on an idle machine, so a
    // minute is a loose bound that a loop running for hours still fails.
    assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
  });

  test('raise_exception in the template gives its message and exit status 1', async () => {
    const r = await hobRun(paths.raises, 'hello\n');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^hob: the chat template raised an exception: This model does not talk to strangers \[template\/error\]$/m);
  });
});
