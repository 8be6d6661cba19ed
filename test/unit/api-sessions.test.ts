// Saved sessions through the public API in Node (files in a folder):
// saveSession / restoreSession / listSessions / deleteSession, and the
// `session` of a request, which restores a conversation's cache after a
// reload and saves it after each reply. A restored engine continues exactly
// as the saved one; a damaged file is 'store/corrupt' (and a request then
// evaluates its prompt as usual); another context size is a mismatch.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createEngine, type HobEngine, type SessionEvent } from '../../src/node/index.js';
import { testdataDir as testdata } from '../data.js';

const tinyPath = join(testdata, 'llama-2-tiny-random.gguf');
const prompt = 'Once upon a time, there was a little girl who lived in a house';
const greedy = { temperature: 0, max_tokens: 12, ignore_eos: true } as const;

/** The next event of `kind` (or a failure) the engine emits. An idle
 * engine does not keep Node running, so the wait does. */
function nextEvent(engine: HobEngine, kind: SessionEvent['kind']): Promise<SessionEvent> {
  const alive = setInterval(() => {}, 1000);
  return new Promise<SessionEvent>((resolve) => {
    const off = engine.on('session', (e) => {
      if (e.kind === kind || e.kind === 'failed') {
        off();
        resolve(e);
      }
    });
  }).finally(() => clearInterval(alive));
}

describe('saved sessions through the API (Node: files)', () => {
  let dir: string;
  const open = (contextSize = 256) => createEngine({ model: tinyPath, contextSize, threads: 1, sessionDir: dir });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-sessions-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a restored engine continues exactly as the saved one; list, meta and delete', async () => {
    const a = await open();
    const b = await open();
    try {
      await a.completions.create({ prompt, ...greedy });
      const used = await a.contextUsed();
      const saved = await a.saveSession('story', { meta: '{"turns":1}' });
      assert.equal(saved.nTokens, used);
      assert.equal(saved.contextSize, 256);
      assert.equal(saved.meta, '{"turns":1}');
      assert.equal(statSync(join(dir, 'story')).size > saved.sizeBytes, true);
      assert.deepEqual((await b.listSessions()).map((s) => [s.name, s.nTokens]), [['story', used]]);

      const restored = await b.restoreSession('story');
      assert.equal(restored.nTokens, used);
      assert.equal(restored.meta, '{"turns":1}');
      assert.equal(await b.contextUsed(), used);
      const more = `${prompt} with her mother`;
      const ra = await a.completions.create({ prompt: more, ...greedy });
      const rb = await b.completions.create({ prompt: more, ...greedy });
      assert.equal(rb.choices[0].text, ra.choices[0].text);
      assert.equal(rb.usage.cached_tokens, ra.usage.cached_tokens);
      assert.ok(rb.usage.cached_tokens >= 14, `cached ${rb.usage.cached_tokens}`);

      assert.equal(await b.deleteSession('story'), true);
      assert.equal(await b.deleteSession('story'), false);
      assert.deepEqual(await b.listSessions(), []);
      await assert.rejects(b.restoreSession('story'), { code: 'store/not-found' });
    } finally {
      await Promise.all([a.unload(), b.unload()]);
    }
  });

  test("a request's session is saved after the reply and restored after a reload", async () => {
    const first = await open();
    let reply: string;
    try {
      const saved = nextEvent(first, 'saved');
      const r = await first.completions.create({ prompt, ...greedy, session: 'chat' });
      reply = r.choices[0].text;
      const e = await saved;
      assert.equal(e.kind, 'saved', e.message);
      assert.equal(e.nTokens, r.usage.prompt_tokens + r.usage.completion_tokens - 1);
    } finally {
      await first.unload();
    }
    // A reload: a new engine, an empty cache, the same conversation.
    const second = await open();
    try {
      const restored = nextEvent(second, 'restored');
      const r = await second.completions.create({ prompt: `${prompt}${reply} Then`, ...greedy, session: 'chat' });
      assert.equal((await restored).kind, 'restored');
      assert.ok(r.usage.cached_tokens >= 20, `only ${r.usage.cached_tokens} tokens came from the restored session`);
      assert.ok(r.usage.prompt_tokens - r.usage.cached_tokens < 6);
    } finally {
      await second.unload();
    }
  });

  test('storage that refuses the save fails it as an event; the request and the next one answer as usual', async () => {
    // A file where the folder should be: every write fails, as a full disk does.
    const blocked = join(dir, 'not-a-folder');
    writeFileSync(blocked, 'x');
    const engine = await createEngine({ model: tinyPath, contextSize: 256, threads: 1, sessionDir: blocked });
    try {
      const failed = nextEvent(engine, 'failed');
      const r = await engine.completions.create({ prompt, ...greedy, session: 'full' });
      assert.equal(r.choices[0].finish_reason, 'length');
      const e = await failed;
      assert.equal(e.kind, 'failed');
      assert.equal(e.name, 'full');
      assert.ok(e.code, JSON.stringify(e));
      const next = await engine.completions.create({ prompt: `${prompt}${r.choices[0].text}`, ...greedy, session: 'full' });
      assert.ok(next.usage.cached_tokens > 20, 'the cache stays usable');
    } finally {
      await engine.unload();
    }
  });

  test('unload writes a session whose save was still waiting', async () => {
    const engine = await open();
    await engine.completions.create({ prompt, ...greedy, max_tokens: 2, session: 'quick' });
    await engine.unload();
    const other = await open();
    try {
      assert.ok((await other.listSessions()).some((s) => s.name === 'quick'));
    } finally {
      await other.unload();
    }
  });

  test('a damaged file is store/corrupt; a request then evaluates its whole prompt', async () => {
    const engine = await open();
    try {
      await engine.completions.create({ prompt, ...greedy });
      await engine.saveSession('damaged');
      const path = join(dir, 'damaged');
      const bytes = readFileSync(path);
      bytes[100] ^= 0xff;
      writeFileSync(path, bytes);
      await engine.resetContext();
      await assert.rejects(engine.restoreSession('damaged'), { code: 'store/corrupt' });
      const failed = nextEvent(engine, 'restored');
      const r = await engine.completions.create({ prompt: `${prompt} and`, ...greedy, session: 'damaged' });
      const e = await failed;
      assert.equal(e.kind, 'failed');
      assert.equal(e.code, 'store/corrupt');
      assert.equal(r.usage.cached_tokens, 0);
      assert.equal(r.choices[0].finish_reason, 'length');
    } finally {
      await engine.unload();
    }
  });

  test('another context size is a mismatch naming it, and the cache stays', async () => {
    const a = await open();
    const b = await open(128);
    try {
      await a.completions.create({ prompt, ...greedy });
      await a.saveSession('wide');
      await b.completions.create({ prompt: 'Hello', ...greedy, max_tokens: 1 });
      const before = await b.contextUsed();
      await assert.rejects(b.restoreSession('wide'), (e: { code?: string; details?: Record<string, unknown> }) =>
        e.code === 'session/mismatch' && e.details?.field === 'contextSize' && e.details.saved === 256 && e.details.current === 128);
      assert.equal(await b.contextUsed(), before);
    } finally {
      await Promise.all([a.unload(), b.unload()]);
    }
  });
});
