// hob run --session FILE, as llama.cpp's --prompt-cache: a conversation
// continued in a second run from the file (the cache restored, so the new
// turn evaluates only its own tokens) answers as one run of both turns
// does; a file saved with another context size is reported, not resumed,
// and replaced.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

import { testdataDir as testdata } from '../data.js';

const hobBin = join(resolve(import.meta.dirname, '../..'), 'bin/hob.mjs');
const tiny = join(testdata, 'llama-2-tiny-random.gguf');
const dir = mkdtempSync(join(tmpdir(), 'hob-cli-session-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function hob(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('node', [hobBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);
const turns = (stderr: string) => [...stderr.matchAll(/prompt: (\d+) new tokens, (\d+) reused/g)].map((m) => [Number(m[1]), Number(m[2])]);

test('a second run resumes the conversation from the file and answers as one run of both turns', async () => {
  const file = join(dir, 'chat.hob');
  const args = ['run', tiny, '--temp', '0', '-n', '6', '--threads', '1', '--timings', '-c', '256'];
  const both = await hob(args, 'Hello there\nHow are you?\n');
  assert.equal(both.code, 0, both.stderr);

  const first = await hob([...args, '--session', file], 'Hello there\n');
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(file));
  const second = await hob([...args, '--session', file], 'How are you?\n');
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /resumed 1 turn \(\d+ tokens of cache\)/);
  assert.deepEqual(lines(second.stdout), [lines(both.stdout)[1]]);
  // Only the new turn is evaluated: as much is reused as in the one run.
  assert.deepEqual(turns(second.stderr), [turns(both.stderr)[1]]);
});

test('a file saved with another context size is not resumed, and the run replaces it', async () => {
  const file = join(dir, 'other.hob');
  const base = ['run', tiny, '--temp', '0', '-n', '4', '--threads', '1', '--session', file];
  assert.equal((await hob([...base, '-c', '256'], 'Hello there\n')).code, 0);
  const other = await hob([...base, '-c', '128', '--timings'], 'How are you?\n');
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stderr, /not resuming .*context size of 256, this engine 128.*\[session\/mismatch\]/);
  assert.equal(turns(other.stderr)[0][1], 0);
  const again = await hob([...base, '-c', '128'], 'And then?\n');
  assert.match(again.stderr, /resumed 1 turn/);
});
