// cpp/unicode_data.cpp is generated from Node's Unicode data by
// scripts/gen-unicode.mjs: it must be what the script writes today (a Node
// with newer Unicode data makes this fail until the file is regenerated).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '../..');

test('cpp/unicode_data.cpp is current with scripts/gen-unicode.mjs', () => {
  const r = spawnSync(process.execPath, [resolve(root, 'scripts/gen-unicode.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /is current \(\d+ runs\)/);
});
