// Crafted GGUF files, as an attacker would write them: a valid model from our
// writer, then byte surgery on one field at a time (magic, version, counts,
// lengths, types, dims, offsets, vocabulary, hyperparameters, truncations).
// Every one must be a clean typed error (a gguf/* or model/* HobError, never
// 'internal', a raw Error or a trap) within 2 s, through both the whole-file
// loader and the streaming one the CLI and the worker use, and the engine
// must load a good model afterwards. The classes that held when the loader
// was attacked; kept here so that they keep holding.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { bytesSource, Engine, HobError, loadModelFromSource, Model, Session } from '../../src/node/index.js';
import { GgufWriter } from '../gguf/writer.js';
import { makeSpec, writeRandomLlama } from '../gguf/random-model.js';

const GGUF_STRING = 8;
const GGUF_ARRAY = 9;
const FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

interface KvAt {
  keyLenAt: number;
  typeAt: number;
  /** The value (for an array: its element type, then its count, then the elements). */
  valueAt: number;
}
interface TensorAt {
  nameLenAt: number;
  nDimsAt: number;
  dimsAt: number[];
  typeAt: number;
  offsetAt: number;
}

/** Where each field of a well-formed GGUF sits, for surgery. */
function fieldsOf(bytes: Uint8Array): { kv: Map<string, KvAt>; tensors: Map<string, TensorAt>; kvEnd: number; dataOffset: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  const u32 = () => ((p += 4), dv.getUint32(p - 4, true));
  const u64 = () => ((p += 8), Number(dv.getBigUint64(p - 8, true)));
  const str = () => {
    const n = u64();
    p += n;
    return new TextDecoder().decode(bytes.subarray(p - n, p));
  };
  const nTensors = u64();
  const nKv = u64();
  const kv = new Map<string, KvAt>();
  const skip = (type: number) => {
    if (type === GGUF_STRING) str();
    else p += FIXED[type];
  };
  for (let i = 0; i < nKv; i++) {
    const keyLenAt = p;
    const key = str();
    const typeAt = p;
    const type = u32();
    kv.set(key, { keyLenAt, typeAt, valueAt: p });
    if (type === GGUF_ARRAY) {
      const elem = u32();
      const n = u64();
      for (let j = 0; j < n; j++) skip(elem);
    } else {
      skip(type);
    }
  }
  const kvEnd = p;
  const tensors = new Map<string, TensorAt>();
  for (let i = 0; i < nTensors; i++) {
    const nameLenAt = p;
    const name = str();
    const nDimsAt = p;
    const nDims = u32();
    const dimsAt = Array.from({ length: nDims }, (_, d) => p + 8 * d);
    p += 8 * nDims;
    tensors.set(name, { nameLenAt, nDimsAt, dimsAt, typeAt: p, offsetAt: p + 4 });
    p += 12;
  }
  return { kv, tensors, kvEnd, dataOffset: Math.ceil(p / 32) * 32 };
}

const base = writeRandomLlama(makeSpec('tiny', { nLayer: 1, weightType: 'q4_0' }));
const f = fieldsOf(base);
const kvAt = (key: string): KvAt => {
  const k = f.kv.get(key);
  if (!k) throw new Error(`no ${key}`);
  return k;
};
const tensorAt = (name: string): TensorAt => {
  const t = f.tensors.get(name);
  if (!t) throw new Error(`no ${name}`);
  return t;
};

type Surgery = (b: Uint8Array, dv: DataView) => Uint8Array | void;
const u32 = (at: number, v: number): Surgery => (_b, dv) => dv.setUint32(at, v >>> 0, true);
const u64 = (at: number, v: bigint): Surgery => (_b, dv) => dv.setBigUint64(at, v, true);
const f32 = (at: number, v: number): Surgery => (_b, dv) => dv.setFloat32(at, v, true);
const cut = (n: number): Surgery => (b) => b.slice(0, n);
const text = (at: number, s: string): Surgery => (b) => b.set(new TextEncoder().encode(s), at);
/** The i-th string of a string array value (after its element type and count). */
function arrayString(key: string, index: number): number {
  const dv = new DataView(base.buffer, base.byteOffset);
  let p = kvAt(key).valueAt + 12;
  for (let i = 0; i < index; i++) p += 8 + Number(dv.getBigUint64(p, true));
  return p + 8;
}
const value = (key: string) => kvAt(key).valueAt;
const firstTensor = [...f.tensors.keys()][0];
const lastTensor = [...f.tensors.keys()].at(-1)!;

const cases: [string, Surgery][] = [
  // The file's start.
  ['an empty file', cut(0)],
  ['three bytes', cut(3)],
  ['magic GGUX', text(0, 'GGUX')],
  ['magic in lower case', text(0, 'gguf')],
  ['magic of zeros', u32(0, 0)],
  ['version 0', u32(4, 0)],
  ['version 1', u32(4, 1)],
  ['version 4', u32(4, 4)],
  ['version 2^32-1', u32(4, 0xffffffff)],
  ['tensor count 2^63', u64(8, 2n ** 63n)],
  ['tensor count 2^64-1', u64(8, 2n ** 64n - 1n)],
  ['one tensor more than written', u64(8, BigInt(f.tensors.size + 1))],
  ['metadata count 2^63', u64(16, 2n ** 63n)],
  ['one metadata entry more than written', u64(16, BigInt(f.kv.size + 1))],
  ['no metadata at all', u64(16, 0n)],
  // Truncations.
  ...[8, 16, 24, 30, Math.floor(f.kvEnd / 2), f.kvEnd - 1, f.kvEnd + 5, f.dataOffset - 1, f.dataOffset, f.dataOffset + 100, base.length - 1].map(
    (n): [string, Surgery] => [`cut after ${n} bytes`, cut(n)],
  ),
  // Metadata keys, types and values.
  ['a key length of 2^63', u64(kvAt('general.architecture').keyLenAt, 2n ** 63n)],
  ['a key length past the end of the file', u64(kvAt('general.architecture').keyLenAt, BigInt(base.length))],
  ['value type 13', u32(kvAt('general.architecture').typeAt, 13)],
  ['value type 2^32-1', u32(kvAt('general.architecture').typeAt, 0xffffffff)],
  ['a string value length of 2^62', u64(value('general.architecture'), 2n ** 62n)],
  ['a token array count of 2^62', u64(value('tokenizer.ggml.tokens') + 4, 2n ** 62n)],
  ['a token array count of 2^32', u64(value('tokenizer.ggml.tokens') + 4, 2n ** 32n)],
  ['an array of arrays', u32(value('tokenizer.ggml.tokens'), GGUF_ARRAY)],
  ['array element type 13', u32(value('tokenizer.ggml.tokens'), 13)],
  ['tokens as an array of u32', u32(value('tokenizer.ggml.tokens'), 4)],
  // (int32 scores are legal: llama.cpp converts them too.)
  ['scores as an array of u16', u32(value('tokenizer.ggml.scores'), 2)],
  ['token types as an array of f32', u32(value('tokenizer.ggml.token_type'), 6)],
  ['one token fewer than scores', u64(value('tokenizer.ggml.tokens') + 4, 511n)],
  ['the architecture as a u32', u32(kvAt('general.architecture').typeAt, 4)],
  ['an unknown architecture', text(value('general.architecture') + 8, 'llamb')],
  ['an unknown tokenizer model', text(value('tokenizer.ggml.model') + 8, 'nope!')],
  // Tensor infos.
  ['a tensor name length of 2^63', u64(tensorAt(firstTensor).nameLenAt, 2n ** 63n)],
  ['n_dims 0', u32(tensorAt(firstTensor).nDimsAt, 0)],
  ['n_dims 5', u32(tensorAt(firstTensor).nDimsAt, 5)],
  ['n_dims 2^32-1', u32(tensorAt(firstTensor).nDimsAt, 0xffffffff)],
  ['a dimension of 0', u64(tensorAt(firstTensor).dimsAt[0], 0n)],
  ['a dimension of 2^63', u64(tensorAt(firstTensor).dimsAt[0], 2n ** 63n)],
  ['dims whose product wraps to 0 in 64 bits', (b, dv) => {
    const t = tensorAt(firstTensor);
    dv.setBigUint64(t.dimsAt[0], 2n ** 32n, true);
    dv.setBigUint64(t.dimsAt[1], 2n ** 32n, true);
  }],
  ['dims whose product overflows 2^53', (b, dv) => {
    const t = tensorAt(firstTensor);
    dv.setBigUint64(t.dimsAt[0], 2n ** 40n, true);
    dv.setBigUint64(t.dimsAt[1], 2n ** 30n, true);
  }],
  ['a row of 33 q4_0 elements (not whole blocks)', u64(tensorAt('blk.0.attn_q.weight').dimsAt[0], 33n)],
  ['tensor type 999', u32(tensorAt(firstTensor).typeAt, 999)],
  ['tensor type 2^32-1', u32(tensorAt(firstTensor).typeAt, 0xffffffff)],
  ['a q4_0 tensor declared f32 (its data runs past the end)', u32(tensorAt('blk.0.ffn_down.weight').typeAt, 0)],
  ['a tensor type the engine cannot compute (IQ3_S)', u32(tensorAt('blk.0.attn_q.weight').typeAt, 21)],
  ['a tensor offset of 2^63', u64(tensorAt(firstTensor).offsetAt, 2n ** 63n)],
  ['a tensor offset past the end', u64(tensorAt(lastTensor).offsetAt, BigInt(base.length))],
  ['a misaligned tensor offset', (b, dv) => dv.setBigUint64(tensorAt(lastTensor).offsetAt, dv.getBigUint64(tensorAt(lastTensor).offsetAt, true) + 1n, true)],
  ['the last tensor ending one byte past the file', cut(base.length - 1)],
  ['two tensors with one name', text(tensorAt('blk.0.attn_k.weight').nameLenAt + 8, 'blk.0.attn_q.weight'.slice(0, 'blk.0.attn_k.weight'.length))],
  ['a required tensor missing (renamed)', text(tensorAt('blk.0.ffn_up.weight').nameLenAt + 8 + 6, 'ffn_qq')],
  // Vocabulary.
  ['a BOS id of 2^32-1', u32(value('tokenizer.ggml.bos_token_id'), 0xffffffff)],
  ['a BOS id equal to the vocabulary size', u32(value('tokenizer.ggml.bos_token_id'), 512)],
  ['an EOS id of 2^31', u32(value('tokenizer.ggml.eos_token_id'), 2 ** 31)],
  ['an unknown-token id past the vocabulary', u32(value('tokenizer.ggml.unknown_token_id'), 100_000)],
  ['a byte token <0x-1>', text(arrayString('tokenizer.ggml.tokens', 3), '<0x-1>')],
  ['a byte token <0xZZ>', text(arrayString('tokenizer.ggml.tokens', 3), '<0xZZ>')],
  // Hyperparameters.
  ['block_count 0', u32(value('llama.block_count'), 0)],
  ['block_count 2^31', u32(value('llama.block_count'), 2 ** 31)],
  ['embedding_length 0', u32(value('llama.embedding_length'), 0)],
  ['embedding_length 63 (disagrees with the tensors)', u32(value('llama.embedding_length'), 63)],
  ['head_count 0', u32(value('llama.attention.head_count'), 0)],
  ['head_count_kv 0', u32(value('llama.attention.head_count_kv'), 0)],
  ['head_count_kv 3 (does not divide head_count 4)', u32(value('llama.attention.head_count_kv'), 3)],
  ['head_count 2^31', u32(value('llama.attention.head_count'), 2 ** 31)],
  ['context_length 0', u32(value('llama.context_length'), 0)],
  ['context_length 2^31-1', u32(value('llama.context_length'), 2 ** 31 - 1)],
  ['rope dimension_count 0', u32(value('llama.rope.dimension_count'), 0)],
  ['rope dimension_count 1000', u32(value('llama.rope.dimension_count'), 1000)],
  ['feed_forward_length 160 (disagrees with the tensors)', u32(value('llama.feed_forward_length'), 160)],
  ['an output head one row short of the vocabulary', u64(tensorAt('output.weight').dimsAt[1], 511n)],
  ['a NaN rms epsilon', f32(value('llama.attention.layer_norm_rms_epsilon'), Number.NaN)],
];

/** A small file with a tensor and general.alignment, then patched to `alignment`. */
function withAlignment(alignment: number): Uint8Array {
  const bytes = new GgufWriter({ alignment: 64 })
    .addKv('general.architecture', 'llama', 'string')
    .addTensor('token_embd.weight', [32, 4], 'f32', new Float32Array(128))
    .toBytes();
  const at = fieldsOf(bytes).kv.get('general.alignment')!.valueAt;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, alignment, true);
  return bytes;
}

let engine: Engine;
before(async () => {
  engine = await Engine.create({ threads: 1 });
});
after(() => engine?.dispose());

function expectTypedError(run: () => unknown): Promise<HobError> {
  return Promise.resolve()
    .then(run)
    .then(
      () => assert.fail('the crafted file loaded'),
      (e: unknown) => {
        assert.ok(e instanceof HobError, `a raw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        assert.match(e.code, /^(gguf|model)\//, `${e.code}: ${e.message}`);
        assert.ok(e.message.length > 10);
        return e;
      },
    );
}

describe('crafted GGUF files are clean typed errors', () => {
  test(`the base file loads, and there are ${cases.length + 3} crafted ones`, () => {
    Model.load(engine, base).free();
    assert.ok(cases.length + 3 >= 75);
  });

  const all: [string, () => Uint8Array][] = [
    ...cases.map(([name, surgery]): [string, () => Uint8Array] => [name, () => {
      const b = base.slice();
      return surgery(b, new DataView(b.buffer, b.byteOffset, b.byteLength)) ?? b;
    }]),
    ['general.alignment 0', () => withAlignment(0)],
    ['general.alignment 3', () => withAlignment(3)],
    ['general.alignment 2^31', () => withAlignment(2 ** 31)],
  ];
  for (const [name, make] of all) {
    test(name, async () => {
      const bytes = make();
      const t0 = performance.now();
      await expectTypedError(() => Model.load(engine, bytes));
      await expectTypedError(() => loadModelFromSource(engine, bytesSource(bytes)));
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
    });
  }

  test('a context whose KV cache this build cannot address is a typed out-of-memory error, not a cache of the wrong size', async () => {
    // 8 blocks × 2^24 cells × 32 values: 2^32 halves, which wrapped to an
    // empty cache in wasm32 that the first evaluation wrote past.
    const model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { nLayer: 8, nCtxTrain: 2 ** 24 })));
    try {
      for (const nCtx of [undefined, 2 ** 24, 3 * 2 ** 22]) {
        assert.throws(() => Session.create(model, { nCtx }), (e: unknown) => {
          assert.ok(e instanceof HobError, String(e));
          assert.equal(e.code, 'memory/out-of-memory', e.message);
          assert.match(e.message, /cannot allocate a KV cache of \d+ bytes for \d+ tokens/);
          return true;
        });
      }
    } finally {
      model.free();
    }
  });

  test('after every crafted file the engine loads and runs the good one', async () => {
    const model = Model.load(engine, base);
    const s = Session.create(model, { nCtx: 32 });
    await s.eval(model.tokenize('hello'));
    assert.equal(s.logits().length, model.info.nVocab);
    s.free();
    model.free();
  });
});
