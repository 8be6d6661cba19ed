// Images in a request's prompt, through the runtime: the ids and marker
// tokens against llama.cpp's (test/fixtures/vision-*.json), the logits and
// greedy tokens through prepareRequest + generate, and an image as a unit
// of the cache: reused whole by a follow-up question (never encoded again),
// evaluated again when its pixels differ, and kept or evicted whole by
// overflow and prompt-edit shifts, with the positions right after them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Projector } from '../../src/core/vision.js';
import { flattenContent, pixelKey, type ImageEncoder, type PromptImages } from '../../src/runtime/image-prompt.js';
import { prepareRequest } from '../../src/runtime/request.js';
import { Engine, generate, type HobError, Model, Sequence, Session } from '../../src/node/index.js';
import type { RgbImage, ShiftEvent } from '../../src/shared/types.js';
import { testImage } from '../gguf/vision-models.js';
import { fixtures } from './vision-fixtures.js';
import { closeVisionRuntime, openVisionRuntime } from './vision-setup.js';

/** The projector, counting its encodes. */
function counting(p: Projector): ImageEncoder & { encodes: number } {
  const c = {
    encodes: 0,
    nEmbd: p.nEmbd,
    layout: (w: number, h: number) => p.layout(w, h),
    encode(rgb: Uint8Array, w: number, h: number) {
      c.encodes++;
      return p.encode(rgb, w, h);
    },
  };
  return c;
}

/** Evaluates ids on a bare session the way a sequence does, an image's
 *  sub-images as embedding rows: the reference for shifts. */
async function evalByHand(s: Session, ids: readonly number[], images: PromptImages): Promise<void> {
  const done = new Map<number, number>();
  for (let i = 0; i < ids.length;) {
    let end = i + 1;
    while (end < ids.length && (ids[i] < 0 ? ids[end] === ids[i] : ids[end] >= 0)) end++;
    if (ids[i] < 0) {
      const img = images.get(ids[i])!;
      const from = done.get(img.id) ?? 0;
      done.set(img.id, from + end - i);
      await s.evalEmbeddings(img.rows().subarray(from * s.model.info.nEmbd, (from + end - i) * s.model.info.nEmbd));
    } else {
      await s.eval(ids.slice(i, end));
    }
    i = end;
  }
}

const imagePart = (img: RgbImage) => ({ type: 'image_url' as const, image_url: { url: img } });
const greedy = { temperature: 0, seed: 0 };

describe('vision: images in a prompt, through the runtime', () => {
  let engine: Engine;
  let model: Model;
  let projector: Projector;

  before(async () => ({ engine, model, projector } = await openVisionRuntime()));
  after(() => closeVisionRuntime({ engine, model, projector }));

  for (const f of fixtures) {
    test(`${f.image.name}: ids, logits and greedy tokens of a prompt with the image are llama.cpp's`, async () => {
      const img = testImage(f.image.width, f.image.height, f.image.seed);
      const enc = counting(projector);
      const p = prepareRequest(model, { prompt: f.prompt, images: [img], ...greedy }, enc);
      // The text chunks' ids where llama.cpp has them, an image's rows where it has its chunks.
      const expected: number[] = [];
      for (const c of f.chunks) expected.push(...(c.type === 'text' ? c.tokens : new Array<number>(c.nTokens).fill(-1)));
      assert.deepEqual(p.promptIds.map((t) => (t < 0 ? -1 : t)), expected);
      assert.equal(p.imageTokens, projector.layout(img.width, img.height).nRows);
      assert.equal(enc.encodes, 0, 'nothing is encoded before the sequence needs it');

      const s = new Sequence(Session.create(model, { nCtx: 512 }));
      try {
        const pre = await s.prefill(p.promptIds, { images: p.images });
        const logits = await pre.logits.all();
        for (const [id, logit] of f.top) assert.ok(Math.abs(logits[id] - logit) < 2e-3, `logit of ${id}: ${logits[id]} vs ${logit}`);
        const r = await generate(model, s, { ...p.generation, promptIds: p.promptIds, maxTokens: f.greedy.length });
        assert.deepEqual(r.ids, f.greedy.slice(0, r.ids.length));
        assert.ok(r.ids.length === f.greedy.length || model.isEog(f.greedy[r.ids.length]));
        assert.equal(r.cachedTokens, p.promptIds.length - 1, 'the second prefill evaluates the last token alone');
        assert.equal(enc.encodes, 1);
      } finally {
        s.session.free();
      }
    });
  }

  test('a follow-up question about the same image evaluates only the new text; another image of the same size is evaluated again', async () => {
    const enc = counting(projector);
    const img = testImage(40, 96, 1);
    const other = testImage(40, 96, 7);
    const s = new Sequence(Session.create(model, { nCtx: 1024 }));
    try {
      const turn1 = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is this?' }, imagePart(img)] }];
      const p1 = prepareRequest(model, { messages: turn1, ...greedy }, enc);
      const r1 = await generate(model, s, { ...p1.generation, promptIds: p1.promptIds, maxTokens: 4 });
      assert.equal(enc.encodes, 1);
      const turn2 = [...turn1, { role: 'assistant' as const, content: r1.text }, { role: 'user' as const, content: 'And the colour?' }];
      const p2 = prepareRequest(model, { messages: turn2, ...greedy }, enc);
      const before = s.tokens.length;
      const r2 = await generate(model, s, { ...p2.generation, promptIds: p2.promptIds, maxTokens: 2 });
      assert.equal(enc.encodes, 1, 'the cached image is not encoded again');
      const firstImageRow = p2.promptIds.findIndex((t) => t < 0);
      const lastImageRow = p2.promptIds.findLastIndex((t) => t < 0);
      assert.ok(r2.cachedTokens > lastImageRow && r2.cachedTokens >= before - 1, `reused ${r2.cachedTokens} of ${before}`);
      assert.equal(r2.promptTokens - r2.cachedTokens, p2.promptIds.length - r2.cachedTokens);

      // The same question about another image of the same size: its ids
      // differ, so the cache is cut before its markers and it is encoded.
      const p3 = prepareRequest(model, { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, imagePart(other)] }], ...greedy }, enc);
      assert.notEqual(pixelKey(img), pixelKey(other));
      const r3 = await generate(model, s, { ...p3.generation, promptIds: p3.promptIds, maxTokens: 1 });
      assert.equal(enc.encodes, 2);
      assert.equal(r3.cachedTokens, firstImageRow, 'reused up to the image (its leading markers are the same tokens)');

      // Sessions with images are refused, typed; so is a cut through an image.
      await assert.rejects(s.save(), (e: HobError) => e.code === 'session/unsupported');
      const row = s.tokens.findIndex((t) => t < 0);
      assert.throws(() => s.erase(row + 1, row + 5), (e: HobError) => e.code === 'range/out-of-bounds');
      assert.throws(() => s.shift(row - 1, 3), (e: HobError) => e.code === 'range/out-of-bounds');
    } finally {
      s.session.free();
    }
  });

  test('an overflow shift evicts a whole image with its markers, and the cache is what shifting by hand gives', async () => {
    const img = testImage(5, 3, 2);
    const events: ShiftEvent[] = [];
    // The default shift evicts half of what follows the BOS: a cut inside the image.
    const p = prepareRequest(model, { prompt: 'Look at this picture:<__media__> then tell me a long story about it', images: [img], ...greedy }, projector);
    const nCtx = p.promptIds.length + 6;
    const s = new Sequence(Session.create(model, { nCtx }), { onShift: (e) => events.push(e) });
    try {
      await s.prefill(p.promptIds, { images: p.images });
      const ref = Session.create(model, { nCtx });
      await evalByHand(ref, p.promptIds, p.images!);
      const span = [...p.images!.values()][0];
      const first = p.promptIds.indexOf(span.id) - span.lead;
      const end = p.promptIds.lastIndexOf(span.id) + 1 + span.trail;
      assert.ok(first > 1 && 1 + Math.floor((nCtx - 1) / 2) < end, 'the default cut falls inside the image');
      let logits: Float32Array = new Float32Array(0);
      for (let i = 0; events.length === 0; i++) {
        logits = await (await s.append([3 + i])).all();
        if (ref.nPast === nCtx) ref.shift(1, end - 1);
        await ref.eval([3 + i]);
      }
      assert.equal(events.length, 1);
      assert.equal(events[0].position, 1);
      assert.equal(events[0].evicted, end - 1, 'evicted up to the end of the image and its markers');
      assert.ok(s.tokens.every((t) => t >= 0));
      assert.deepEqual(s.session.positions(), Int32Array.from({ length: s.tokens.length }, (_, i) => i));
      assert.deepEqual(logits, ref.logits());
      ref.free();
    } finally {
      s.session.free();
    }
  });

  test('an overflow shift keeps an image it cannot evict whole, and a prompt-edit shift keeps it in the cache', async () => {
    const img = testImage(5, 3, 2);
    const enc = counting(projector);
    // The image starts right after the BOS: nKeep 3 cuts it, so the kept head grows past it.
    const text = ' A long text after the picture, so that the cache has room to shift.'.repeat(4);
    const p = prepareRequest(model, { prompt: text, images: [img], ...greedy }, enc);
    const nCtx = p.promptIds.length + 4;
    const events: ShiftEvent[] = [];
    const s = new Sequence(Session.create(model, { nCtx }), { onShift: (e) => events.push(e), contextShift: { nKeep: 3, nDiscard: 4 } });
    try {
      await s.prefill(p.promptIds, { images: p.images });
      const rows = p.promptIds.filter((t) => t < 0).length;
      for (let i = 0; events.length === 0; i++) await s.append([3 + i]);
      const end = p.promptIds.lastIndexOf(p.promptIds.find((t) => t < 0)!) + 1 + [...p.images!.values()][0].trail;
      assert.deepEqual(events.map((e) => [e.position, e.evicted]), [[end, 4]], 'the kept head grew by the image');
      assert.equal(s.tokens.filter((t) => t < 0).length, rows);

      // A prompt-edit: the same image, a span of text dropped after it.
      const kept = s.tokens.slice(0, end).concat(s.tokens.slice(end + 20));
      const r = await s.prefill(kept, { images: p.images });
      assert.equal(r.evaluated, 1, 'the image and the text after the dropped span were kept');
      assert.equal(enc.encodes, 1);
      assert.deepEqual(s.session.positions(), Int32Array.from({ length: kept.length }, (_, i) => i));
    } finally {
      s.session.free();
    }
  });

  test('images without a projector, malformed parts and markers in text are typed errors', () => {
    const img = testImage(5, 3, 2);
    const code = (fn: () => unknown, c: string) => assert.throws(fn, (e: HobError) => e.code === c);
    code(() => prepareRequest(model, { messages: [{ role: 'user', content: [imagePart(img)] }] }), 'image/unsupported');
    code(() => prepareRequest(model, { prompt: 'x', images: [img] }), 'image/unsupported');
    code(() => flattenContent([{ role: 'user', content: [{ type: 'text', text: 'a <__media__> b' }] }]), 'argument/invalid');
    code(() => flattenContent([{ role: 'user', content: [{ type: 'image_url', image_url: { url: { width: 2, height: 2, rgb: new Uint8Array(3) } } }] }]), 'image/invalid');
    code(() => flattenContent([{ role: 'user', content: [{ type: 'video' } as never] }]), 'argument/invalid');
    // Text parts are joined by newlines, none next to an image (llama.cpp's server).
    const flat = flattenContent([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }, imagePart(img), { type: 'text', text: 'c' }] }]);
    assert.equal(flat.messages[0].content, 'a\nb<__media__>c');
    assert.equal(flat.images.length, 1);
  });
});
