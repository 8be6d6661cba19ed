// Saved sessions on the CPU: for every architecture, a sequence saved to
// bytes (also after several context shifts) and restored into a fresh
// session gives the next token the very logits the saved one gives, bit for
// bit. A session of another model, context size, layer count or cache type
// is a SessionError naming the field and changes nothing; damaged bytes are
// 'session/invalid' naming where; only the used cells are written.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Engine, loadModelFromSource, bytesSource, Sequence, Session, type Model } from '../../src/node/index.js';
import { checkIdentity, decodeSessionFile, encodeSessionFile, type SessionFile } from '../../src/runtime/session-file.js';
import { ARCHS, makeArchSpec, writeArchModel, type ArchName } from '../gguf/arch-models.js';

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 2 });
});
after(() => engine?.dispose());

const ids = (first: number, n: number) => Array.from({ length: n }, (_, i) => 3 + ((first + 37 * i) % 500));

async function load(arch: ArchName, seed = 1): Promise<Model> {
  return loadModelFromSource(engine, bytesSource(writeArchModel(makeArchSpec(arch, { seed }))));
}

async function saveFile(model: Model, seq: Sequence, meta?: string): Promise<SessionFile> {
  const state = await seq.save();
  return { identity: model.identity!, kv: state.kv, tokens: state.tokens, savedAtMs: 1, ...(meta ? { meta } : {}) };
}

/** The file's bytes cut into pieces of odd sizes, as chunks come back from a store. */
function roundTrip(file: SessionFile, pieceBytes = 999): SessionFile {
  const { pieces, sizeBytes } = encodeSessionFile(file);
  const whole = new Uint8Array(sizeBytes);
  let at = 0;
  for (const p of pieces) {
    whole.set(p, at);
    at += p.byteLength;
  }
  const cut: Uint8Array[] = [];
  for (let i = 0; i < whole.length; i += pieceBytes) cut.push(whole.slice(i, i + pieceBytes));
  return decodeSessionFile(cut);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('a restored session gives the next token the logits of the saved one, bit for bit', () => {
  for (const arch of ARCHS) {
    test(`${arch}: after a prompt and a reply, and after three shifts`, async () => {
      const model = await load(arch);
      const shifts: number[] = [];
      const saved = new Sequence(Session.create(model, { nCtx: 64 }), { contextShift: { nKeep: 1, nDiscard: 13 }, onShift: (e) => shifts.push(e.evicted) });
      try {
        await saved.prefill([1, ...ids(7, 30)]);
        for (const t of ids(40, 10)) await saved.append([t]);
        for (let step = 0; step < 2; step++) {
          const restored = new Sequence(Session.create(model, { nCtx: 64 }));
          try {
            const file = roundTrip(await saveFile(model, saved));
            await restored.restore({ kv: file.kv, tokens: file.tokens });
            assert.deepEqual(restored.tokens, saved.tokens);
            const next = ids(90 + step, 1);
            await saved.append(next);
            await restored.append(next);
            assert.ok(sameBits(saved.session.logits(), restored.session.logits()), `${arch} step ${step}: logits differ`);
          } finally {
            restored.session.free();
          }
          // Then past the window, three times, before the second save.
          for (let i = 0; step === 0 && shifts.length < 3; i++) await saved.append(ids(200 + i, 1));
        }
        assert.equal(shifts.length, 3);
      } finally {
        saved.session.free();
        model.free();
      }
    });
  }
});

describe('restoring checks what the session was saved with', () => {
  let model: Model;
  let file: SessionFile;
  before(async () => {
    model = await load('llama');
    const seq = new Sequence(Session.create(model, { nCtx: 64 }));
    await seq.prefill([1, ...ids(3, 20)]);
    file = await saveFile(model, seq, 'a note');
    seq.session.free();
  });
  after(() => model?.free());

  async function restoreInto(m: Model, f: SessionFile, nCtx = 64) {
    const seq = new Sequence(Session.create(m, { nCtx }));
    await seq.prefill([1, 2, 3]);
    try {
      checkIdentity(f.identity, m.identity);
      await seq.restore({ kv: f.kv, tokens: f.tokens });
      return { code: 'none', tokens: seq.tokens.length };
    } catch (e) {
      const err = e as { code: string; details: Record<string, unknown> };
      // A refused restore leaves the sequence as it was.
      assert.deepEqual(seq.tokens, [1, 2, 3]);
      assert.equal(seq.session.nPast, 3);
      return { code: err.code, field: err.details.field, saved: err.details.saved, current: err.details.current };
    } finally {
      seq.session.free();
    }
  }

  test('the same model restores; meta and the token ids come back', async () => {
    const f = roundTrip(file);
    assert.equal(f.meta, 'a note');
    assert.deepEqual(await restoreInto(model, f), { code: 'none', tokens: 21 });
  });

  test('another file of the same architecture and shape is a mismatch of the model', async () => {
    const other = await load('llama', 2);
    try {
      assert.equal(other.identity!.name, model.identity!.name);
      assert.notEqual(other.identity!.fingerprint, model.identity!.fingerprint);
      assert.deepEqual(await restoreInto(other, file), { code: 'session/mismatch', field: 'model', saved: file.identity.fingerprint, current: other.identity!.fingerprint });
    } finally {
      other.free();
    }
  });

  test('another context size, layer count or cache type is a mismatch naming it', async () => {
    assert.deepEqual(await restoreInto(model, file, 128), { code: 'session/mismatch', field: 'contextSize', saved: 64, current: 128 });
    const layers = { ...file, kv: { ...file.kv, nLayer: 3, layers: file.kv.layers.slice(0, 3) } };
    assert.deepEqual(await restoreInto(model, layers), { code: 'session/mismatch', field: 'nLayer', saved: 3, current: 4 });
    const q8 = { ...file, kv: { ...file.kv, kvType: 8 } };
    assert.deepEqual(await restoreInto(model, q8), { code: 'session/mismatch', field: 'kvType', saved: 8, current: 1 });
  });

  test('token ids outside the vocabulary are refused', async () => {
    const bad = { ...file, tokens: Int32Array.from(file.tokens, (t, i) => (i === 5 ? 9999 : t)) };
    assert.equal((await restoreInto(model, bad)).code, 'session/invalid');
  });

  test('only the used cells are written', () => {
    const { sizeBytes, pieces } = encodeSessionFile(file);
    const n = 21;
    const kvDim = file.kv.kvDim;
    assert.equal(sizeBytes, pieces[0].byteLength + 8 * n + 4 * 2 * n * kvDim * 2);
  });

  test('damaged bytes are session/invalid naming where, never a crash', () => {
    const { pieces, sizeBytes } = encodeSessionFile(file);
    const whole = new Uint8Array(sizeBytes);
    let at = 0;
    for (const p of pieces) (whole.set(p, at), (at += p.byteLength));
    const cases: [string, Uint8Array][] = [
      ['truncated', whole.subarray(0, sizeBytes - 2)],
      ['one byte more', Uint8Array.from([...whole, 0])],
      ['bad magic', Uint8Array.from(whole, (b, i) => (i === 0 ? 0x47 : b))],
      ['version 2', Uint8Array.from(whole, (b, i) => (i === 4 ? 2 : b))],
      ['header length past the end', Uint8Array.from(whole, (b, i) => (i === 11 ? 0x7f : b))],
      ['empty', new Uint8Array(0)],
    ];
    for (const [what, bytes] of cases) {
      assert.throws(() => decodeSessionFile([bytes]), (e: { code?: string }) => e.code === 'session/invalid', what);
    }
    // A header that lies about the cell count.
    const json = new TextDecoder().decode(pieces[0].subarray(12)).replace(/"nCells":21/, '"nCells":22');
    const lied = new Uint8Array(whole);
    lied.set(new TextEncoder().encode(json), 12);
    assert.throws(() => decodeSessionFile([lied]), (e: { code?: string }) => e.code === 'session/invalid');
  });
});
