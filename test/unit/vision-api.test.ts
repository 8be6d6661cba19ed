// Images through the public API in Node: createEngine({ model, projector }),
// OpenAI content parts with data: URLs (PNG, JPEG, PPM), http(s) URLs,
// (downloaded once into the file cache; a cut download stores nothing),
// Blobs and pixels, decoded on the caller's side and sent as RGB; the
// reply matches the runtime's with the same pixels, usage counts the image
// tokens and the cache reuses the image; and the typed errors: a text-only
// engine, formats Hob does not decode, the caps, saved sessions.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

import { MAX_IMAGE_BYTES, sniffFormat } from '../../src/api/images.js';
import { createEngine, type HobEngine, type HobError } from '../../src/node/index.js';
import type { ChatMessageInput, LoadProgressEvent, RgbImage } from '../../src/shared/types.js';
import { testImage, toPpm } from '../gguf/vision-models.js';
import { runtimeReply, visionFiles } from './vision-setup.js';

const { textBytes, projectorBytes } = visionFiles();

function png(img: RgbImage): Uint8Array {
  const p = new PNG({ width: img.width, height: img.height });
  for (let i = 0, j = 0; i < img.rgb.length; i += 3, j += 4) {
    p.data[j] = img.rgb[i];
    p.data[j + 1] = img.rgb[i + 1];
    p.data[j + 2] = img.rgb[i + 2];
    p.data[j + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(p));
}

const dataUrl = (bytes: Uint8Array, mime: string) => `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
const ask = (url: unknown, text = 'What is in the picture?'): ChatMessageInput[] => [
  { role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: url as string } }] },
];
const greedy = { temperature: 0, max_tokens: 6 };
const code = (c: string) => (e: HobError) => e.code === c;

describe('vision: images through the public API', () => {
  let engine: HobEngine;
  let server: Server;
  let base = '';
  let cacheDir = '';
  const hits = new Map<string, number>();
  let cutting = true;
  const img = testImage(40, 96, 1);
  /** The cache's image files, partial ones included. */
  const cachedImages = () => (existsSync(join(cacheDir, 'files')) ? readdirSync(join(cacheDir, 'files')).filter((n) => !n.endsWith('.lock')) : []);

  before(async () => {
    engine = await createEngine({ model: { bytes: textBytes }, projector: { bytes: projectorBytes }, threads: 2, contextSize: 1024, fitCheck: false });
    // http(s) images are cached in the file cache: a folder of this test's own.
    cacheDir = mkdtempSync(join(tmpdir(), 'hob-vision-api-'));
    process.env.HOB_CACHE_DIR = cacheDir;
    const pngBytes = png(img);
    server = createServer((req, res) => {
      const name = req.url ?? '';
      hits.set(name, (hits.get(name) ?? 0) + 1);
      if (name === '/a.png' || name === '/once.png') res.end(pngBytes);
      else if (name === '/mmproj.gguf') res.writeHead(200, { 'Content-Length': projectorBytes.byteLength }).end(projectorBytes);
      else if (name === '/cut.png' && cutting) {
        // Half the announced body, then a dead socket.
        res.writeHead(200, { 'Content-Length': pngBytes.byteLength, ETag: '"cut"' });
        res.write(pngBytes.subarray(0, pngBytes.byteLength >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
      } else if (name === '/cut.png') res.end(pngBytes);
      else if (name === '/login.png') res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>sign in</html>');
      else if (name === '/huge.png') {
        res.writeHead(200, { 'Content-Length': MAX_IMAGE_BYTES + 1 });
        res.write(pngBytes.subarray(0, 64), () => setTimeout(() => res.socket?.destroy(), 20));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  after(async () => {
    await engine?.unload();
    server?.close();
    delete process.env.HOB_CACHE_DIR;
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  test('info says images are accepted, and by which projector', async () => {
    const info = await engine.info();
    assert.equal(info.images, true);
    assert.equal(info.projector, 'idefics3');
  });

  test('a PNG data: URL gives the reply the runtime gives for its pixels, with the image tokens in usage', async () => {
    // The runtime, in this thread, on the same files and pixels.
    const { ids: expected, imageTokens: nRows } = await runtimeReply({ messages: ask(img), ...greedy }, { maxTokens: 6 });
    await engine.resetContext();
    const r = await engine.chat.completions.create({ messages: ask(dataUrl(png(img), 'image/png')), ...greedy });
    assert.equal(r.choices[0].message.content, await engine.detokenize(expected));
    assert.equal(r.usage.prompt_tokens_details?.image_tokens, nRows);
    assert.ok(r.usage.prompt_tokens > nRows);
  });

  test('the same image as PPM bytes in a Blob, as pixels and from an http URL is reused from the cache; another image is not', async () => {
    await engine.resetContext();
    const first = await engine.chat.completions.create({ messages: ask(new Blob([toPpm(img) as BlobPart])), ...greedy });
    assert.equal(first.usage.cached_tokens, 0);
    const again = await engine.chat.completions.create({ messages: ask(img), ...greedy });
    assert.equal(again.usage.cached_tokens, again.usage.prompt_tokens - 1);
    const fetched = await engine.chat.completions.create({ messages: ask(`${base}/a.png`), ...greedy });
    assert.equal(fetched.usage.cached_tokens, fetched.usage.prompt_tokens - 1);
    assert.equal(fetched.choices[0].message.content, first.choices[0].message.content);
    const other = await engine.chat.completions.create({ messages: ask(testImage(40, 96, 9)), ...greedy });
    assert.ok(other.usage.cached_tokens < other.usage.prompt_tokens - (other.usage.prompt_tokens_details?.image_tokens ?? 0));
  });

  test('an http image is downloaded once into the cache: the same URL again makes no request and gives the same reply', async () => {
    await engine.resetContext();
    const first = await engine.chat.completions.create({ messages: ask(`${base}/once.png`), ...greedy });
    assert.equal(hits.get('/once.png'), 1);
    assert.equal(cachedImages().filter((n) => n.endsWith('once.png')).length, 1);
    await engine.resetContext();
    const again = await engine.chat.completions.create({ messages: ask(`${base}/once.png`), ...greedy });
    assert.equal(hits.get('/once.png'), 1, 'the second request read the stored bytes');
    assert.equal(again.choices[0].message.content, first.choices[0].message.content);
    assert.equal(again.usage.cached_tokens, 0);
  });

  test('a cut http download is network/interrupted and leaves nothing stored; asked again, it downloads whole', async () => {
    await assert.rejects(engine.chat.completions.create({ messages: ask(`${base}/cut.png`), ...greedy }), code('network/interrupted'));
    assert.deepEqual(cachedImages().filter((n) => n.includes('cut.png')), []);
    cutting = false;
    const r = await engine.chat.completions.create({ messages: ask(`${base}/cut.png`), ...greedy });
    assert.ok((r.usage.prompt_tokens_details?.image_tokens ?? 0) > 0);
    assert.equal(hits.get('/cut.png'), 2);
    assert.equal(cachedImages().filter((n) => n.includes('cut.png')).length, 1);
  });

  test('an http page that is no image, and one announced over the byte cap, are refused and not stored', async () => {
    await assert.rejects(engine.chat.completions.create({ messages: ask(`${base}/login.png`) }), (e: HobError) => e.code === 'image/invalid' && e.details.format === 'unknown');
    await assert.rejects(engine.chat.completions.create({ messages: ask(`${base}/huge.png`) }), (e: HobError) => e.code === 'image/too-large' && e.details.bytes === MAX_IMAGE_BYTES + 1);
    assert.deepEqual(cachedImages().filter((n) => /login|huge/.test(n)), []);
  });

  test('a JPEG data: URL decodes, and streams', async () => {
    const j = jpeg.encode({ width: img.width, height: img.height, data: rgba(img) }, 90).data;
    assert.equal(sniffFormat(new Uint8Array(j)), 'jpeg');
    const chunks = await engine.chat.completions.create({ messages: ask(dataUrl(new Uint8Array(j), 'image/jpeg')), ...greedy, stream: true });
    let usage;
    for await (const c of chunks) usage = c.usage ?? usage;
    assert.ok((usage?.prompt_tokens_details?.image_tokens ?? 0) > 0);
  });

  test('formats Hob does not decode, the caps and bad URLs are typed errors; sessions refuse images', async () => {
    const gif = new TextEncoder().encode('GIF89a\x01\x00\x01\x00');
    await assert.rejects(engine.chat.completions.create({ messages: ask(dataUrl(gif, 'image/gif')) }), (e: HobError) => e.code === 'image/invalid' && e.details.format === 'gif');
    await assert.rejects(engine.chat.completions.create({ messages: ask(new Blob([new Uint8Array(16)])) }), (e: HobError) => e.code === 'image/invalid' && e.details.format === 'unknown');
    const huge = new TextEncoder().encode('P6\n5000 5000\n255\n');
    await assert.rejects(engine.chat.completions.create({ messages: ask(new Blob([huge])) }), code('image/too-large'));
    await assert.rejects(engine.chat.completions.create({ messages: ask(new Blob([new Uint8Array(MAX_IMAGE_BYTES + 1)])) }), code('image/too-large'));
    await assert.rejects(engine.chat.completions.create({ messages: ask('ftp://example.com/a.png') }), code('image/invalid'));
    await assert.rejects(engine.chat.completions.create({ messages: ask(`${base}/missing.png`) }), code('network/http-status'));
    await assert.rejects(engine.chat.completions.create({ messages: ask(img), session: 'with-image' }), code('session/unsupported'));
    // The engine still answers.
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hello' }], ...greedy });
    assert.equal(r.usage.prompt_tokens_details, undefined);
  });

  test('a projector loaded by URL reports its download and load as the model does, marked file: projector, after the model', async () => {
    const events: LoadProgressEvent[] = [];
    const e = await createEngine({ model: { bytes: textBytes }, projector: `${base}/mmproj.gguf`, threads: 1, contextSize: 256, fitCheck: false, onProgress: (p) => events.push(p) });
    try {
      assert.equal((await e.info()).images, true);
    } finally {
      await e.unload();
    }
    const first = events.findIndex((p) => p.file === 'projector');
    assert.ok(first > 0, 'the model reported first');
    assert.ok(events.slice(0, first).every((p) => p.file === undefined));
    const mine = events.slice(first);
    assert.ok(mine.every((p) => p.file === 'projector'), 'nothing of the model after the projector began');
    const download = mine.filter((p) => p.phase === 'download');
    assert.ok(download.length > 0);
    assert.deepEqual(download.at(-1), { ...download.at(-1), loaded: projectorBytes.byteLength, total: projectorBytes.byteLength });
    for (let i = 1; i < download.length; i++) assert.ok(download[i].loaded >= download[i - 1].loaded);
    assert.deepEqual(mine.at(-1), { loaded: projectorBytes.byteLength, total: projectorBytes.byteLength, phase: 'load', file: 'projector' });
  });

  test('a projector leaves the split alone: gpuLayers auto takes the blocks it takes without one', async () => {
    const opts = { model: { bytes: textBytes }, gpuLayers: 'auto' as const, threads: 1, contextSize: 256, fitCheck: false };
    const withProjector = await createEngine({ ...opts, projector: { bytes: projectorBytes } });
    const without = await createEngine(opts);
    try {
      assert.equal((await withProjector.info()).images, true);
      assert.equal((await withProjector.info()).load.gpuLayers, (await without.info()).load.gpuLayers);
    } finally {
      await withProjector.unload();
      await without.unload();
    }
  });

  test('a text-only engine given an image is image/unsupported', async () => {
    const plain = await createEngine({ model: { bytes: textBytes }, threads: 1, contextSize: 256, fitCheck: false });
    try {
      assert.equal((await plain.info()).images, false);
      await assert.rejects(plain.chat.completions.create({ messages: ask(img) }), code('image/unsupported'));
    } finally {
      await plain.unload();
    }
  });
});

function rgba(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.rgb.length; i += 3, j += 4) {
    out.set(img.rgb.subarray(i, i + 3), j);
    out[j + 3] = 255;
  }
  return out;
}
