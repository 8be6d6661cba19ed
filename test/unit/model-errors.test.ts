// Models that parse as GGUF but cannot run: each is a typed error that names
// what is wrong (architecture, tensor type, missing tensor, shape), and the
// engine stays usable afterwards.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Engine, HobError, Model, Session } from '../../src/node/index.js';
import { GgufWriter } from '../gguf/writer.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

const base = () => writeRandomLlama(makeSpec('tiny', { weightType: 'q4_0', nLayer: 1 }));
const enc = new TextEncoder();

function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('pattern not found');
}

function expectError(bytes: Uint8Array, code: string, message: RegExp) {
  assert.throws(
    () => Model.load(engine, bytes),
    (e: unknown) => e instanceof HobError && e.code === code && message.test(e.message),
  );
}

test('an architecture other than llama is refused, naming it', async () => {
  const w = new GgufWriter().addKv('general.architecture', 'rwkv6', 'string');
  expectError(w.toBytes(), 'model/unsupported-architecture', /architecture "rwkv6" is not supported/);
});

test('a tensor of a type the engine cannot compute is refused, naming tensor and type', async () => {
  const bytes = writeRandomLlama(makeSpec('tiny', { weightType: 'q3_k', nLayer: 1, nEmbd: 256, nFf: 768 }));
  // IQ3_S (21) has Q3_K's block geometry (256 elements in 110 bytes), so
  // only the type id changes.
  const name = indexOf(bytes, enc.encode('blk.0.ffn_down.weight'));
  const typeAt = name + 'blk.0.ffn_down.weight'.length + 4 + 2 * 8; // n_dims, two dims
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(typeAt, true), 11);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(typeAt, 21, true);
  expectError(bytes, 'model/unsupported-type', /blk\.0\.ffn_down\.weight has type IQ3_S, which is not supported/);
});

test('a missing tensor is refused, naming it', async () => {
  const bytes = base();
  bytes.set(enc.encode('blk.0.ffn_qq'), indexOf(bytes, enc.encode('blk.0.ffn_up')));
  expectError(bytes, 'model/invalid', /tensor blk\.0\.ffn_up\.weight is missing/);
});

test('metadata that disagrees with a tensor shape is refused with both shapes', async () => {
  const bytes = base();
  const key = indexOf(bytes, enc.encode('llama.feed_forward_length'));
  const valueAt = key + 'llama.feed_forward_length'.length + 4; // after the value type
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(dv.getUint32(valueAt, true), 192);
  dv.setUint32(valueAt, 160, true);
  expectError(bytes, 'model/invalid', /blk\.0\.ffn_gate\.weight has shape \[64, 192\], expected \[64, 160\]/);
});

test('missing required metadata is refused, naming the key', async () => {
  const bytes = base();
  bytes.set(enc.encode('llama.block_cnunt'), indexOf(bytes, enc.encode('llama.block_count')));
  expectError(bytes, 'model/invalid', /metadata llama\.block_count is missing/);
});

test('after refusing models the engine still loads and runs a good one', async () => {
  const model = Model.load(engine, base());
  const s = Session.create(model, { nCtx: 32 });
  await s.eval(model.tokenize('hello'));
  assert.equal(s.logits().length, model.info.nVocab);
  s.free();
  model.free();
});
