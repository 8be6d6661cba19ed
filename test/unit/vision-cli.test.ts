// hob complete and hob run with --mmproj and --image, as a user runs them:
// the images before the prompt's text, the same tokens as the runtime gives
// for the same pixels, image tokens in --json's usage, the cache reusing the
// image in a chat, and one-line errors for what cannot work.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PNG } from 'pngjs';

import { testImage, toPpm } from '../gguf/vision-models.js';
import { runtimeReply, visionFiles } from './vision-setup.js';

const root = resolve(import.meta.dirname, '../..');

function hob(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('node', [join(root, 'bin/hob.mjs'), ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('vision: hob complete and hob run with --mmproj and --image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-vision-cli-'));
  const { textBytes, projectorBytes } = visionFiles();
  const img = testImage(40, 96, 1);
  const files = { model: join(dir, 'text.gguf'), mmproj: join(dir, 'mmproj.gguf'), ppm: join(dir, 'a.ppm'), png: join(dir, 'a.png'), gif: join(dir, 'a.gif') };
  let expected: { ids: number[]; imageTokens: number };

  before(async () => {
    writeFileSync(files.model, textBytes);
    writeFileSync(files.mmproj, projectorBytes);
    writeFileSync(files.ppm, toPpm(img));
    const p = new PNG({ width: img.width, height: img.height });
    for (let i = 0, j = 0; i < img.rgb.length; i += 3, j += 4) p.data.set([img.rgb[i], img.rgb[i + 1], img.rgb[i + 2], 255], j);
    writeFileSync(files.png, PNG.sync.write(p));
    writeFileSync(files.gif, 'GIF89a\x01\x00\x01\x00');
    // The runtime on the same files: images before the text.
    expected = await runtimeReply({ prompt: 'Describe it.', images: [img], temperature: 0 }, { maxTokens: 6, ignoreEos: true, nCtx: 512 });
  });
  after(() => undefined);

  test('hob complete --image gives the runtime\'s tokens for PPM and PNG files, and image tokens in --json usage', async () => {
    for (const image of [files.ppm, files.png]) {
      const r = await hob(['complete', files.model, '--mmproj', files.mmproj, '--image', image, '-p', 'Describe it.', '-n', '6', '--temp', '0', '--ignore-eos', '-c', '512', '-t', '2', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.ids, expected.ids);
      assert.deepEqual(out.usage, { prompt_tokens_details: { image_tokens: expected.imageTokens } });
      assert.equal(out.promptIds.filter((t: number) => t < 0).length, expected.imageTokens);
    }
    // Without images, the output has no usage field.
    const plain = JSON.parse((await hob(['complete', files.model, '-p', 'Describe it.', '-n', '2', '--temp', '0', '-t', '2', '--json'])).stdout);
    assert.equal(plain.usage, undefined);
  });

  test('hob run --image answers about the image, and the next turn reuses it from the cache', async () => {
    const r = await hob(['run', files.model, '--mmproj', files.mmproj, '--image', files.ppm, '-n', '4', '--temp', '0', '-c', '512', '-t', '2', '--timings'], 'What is it?\nAnd the colour?\n');
    assert.equal(r.code, 0, r.stderr);
    const turns = [...r.stderr.matchAll(/prompt: (\d+) new tokens, (\d+) reused/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.equal(turns.length, 2, r.stderr);
    assert.ok(turns[0][0] > expected.imageTokens, `first turn: ${turns[0]}`);
    // The whole first prompt, image included, is reused.
    assert.ok(turns[1][1] >= turns[0][0] + turns[0][1] - 1, `second turn: ${turns[1]}`);
  });

  test('what cannot work is one line with its code', async () => {
    const noProjector = await hob(['complete', files.model, '--image', files.ppm, '-p', 'x']);
    assert.notEqual(noProjector.code, 0);
    assert.match(noProjector.stderr, /--image needs --mmproj/);
    const gif = await hob(['complete', files.model, '--mmproj', files.mmproj, '--image', files.gif, '-p', 'x']);
    assert.notEqual(gif.code, 0);
    assert.match(gif.stderr, /a\.gif: a GIF image cannot be decoded here .*\[image\/invalid\]/);
    const gpu = await hob(['complete', files.model, '--mmproj', files.mmproj, '-ngl', '2', '-p', 'x']);
    assert.notEqual(gpu.code, 0);
    assert.match(gpu.stderr, /--mmproj runs with every block on the CPU/);
    const session = await hob(['run', files.model, '--mmproj', files.mmproj, '--image', files.ppm, '--session', join(dir, 's.json')]);
    assert.notEqual(session.code, 0);
    assert.match(session.stderr, /--image cannot go with --session/);
  });
});
