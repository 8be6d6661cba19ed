// The test GGUF writer and random models: float conversions and quantizers
// bit-exact with llama.cpp's reference code, the byte layout of a file,
// deterministic random models, and the writer models recorded in
// test/fixtures/generation.json still regenerating byte for byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import {
  buildRandomLlama,
  makeSpec,
  Rng,
  syntheticVocab,
  TOKEN_TYPE,
  typeForRow,
  writeRandomLlama,
  type LlamaSpec,
} from '../gguf/random-model';
import {
  bf16ToF32,
  decodeTensor,
  encodeTensor,
  ENCODINGS,
  f16ToF32,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  GgufWriter,
  IQ4_NL_VALUES,
  type GgufKvType,
  type GgufValue,
  type TensorType,
} from '../gguf/writer';

const root = resolve(import.meta.dirname, '../..');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------
// A minimal GGUF reader, independent of the writer, to check what it wrote.

interface ReadGguf {
  version: number;
  kvs: Map<string, { type: number; value: unknown }>;
  tensors: { name: string; dims: number[]; type: number; offset: number }[];
  dataStart: number;
}

function readGguf(bytes: Uint8Array): ReadGguf {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u32 = (): number => { at += 4; return v.getUint32(at - 4, true); };
  const u64 = (): number => { at += 8; return Number(v.getBigUint64(at - 8, true)); };
  const str = (): string => {
    const n = u64();
    at += n;
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at - n, at));
  };
  const scalar = (type: number): unknown => {
    switch (type) {
      case 0: at += 1; return v.getUint8(at - 1);
      case 1: at += 1; return v.getInt8(at - 1);
      case 2: at += 2; return v.getUint16(at - 2, true);
      case 3: at += 2; return v.getInt16(at - 2, true);
      case 4: return u32();
      case 5: at += 4; return v.getInt32(at - 4, true);
      case 6: at += 4; return v.getFloat32(at - 4, true);
      case 7: at += 1; return v.getUint8(at - 1) !== 0;
      case 8: return str();
      case 10: at += 8; return v.getBigUint64(at - 8, true);
      case 11: at += 8; return v.getBigInt64(at - 8, true);
      case 12: at += 8; return v.getFloat64(at - 8, true);
      default: throw new Error(`bad value type ${type} at ${at}`);
    }
  };
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'GGUF');
  at = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kvs = new Map<string, { type: number; value: unknown }>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === 9) {
      const elem = u32();
      const n = u64();
      kvs.set(key, { type, value: Array.from({ length: n }, () => scalar(elem)) });
    } else {
      kvs.set(key, { type, value: scalar(type) });
    }
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32();
    const dims = Array.from({ length: nDims }, () => u64());
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const align = (kvs.get('general.alignment')?.value as number | undefined) ?? 32;
  return { version, kvs, tensors, dataStart: Math.ceil(at / align) * align };
}

// ---------------------------------------------------------------------------
// F16 and BF16

test('f32ToF16 rounds to nearest even, keeps subnormals and overflows to infinity', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [1 + 2 ** -11, 0x3c00], // tie, 0x3c00 is even: down
    [1 + 3 * 2 ** -11, 0x3c02], // tie, 0x3c01 is odd: up
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [65504, 0x7bff], // largest half
    [65519.99, 0x7bff],
    [65520, 0x7c00], // tie between 65504 and 2^16: rounds to even, i.e. infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -25, 0x0400], // largest subnormal rounds up into the normals
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even is 2
    [2 ** -25 * 1.0000001, 0x0001],
    [2 ** -149, 0x0000], // float32 subnormal underflows
    [-0, 0x8000],
    [NaN, 0x7e00],
    [f32FromBits(0xffc00001), 0xfe00], // negative NaN keeps its sign, as ggml's does
  ];
  for (const [x, bits] of cases) {
    assert.equal(f32ToF16(x), bits, `${x} → 0x${f32ToF16(x).toString(16)}, expected 0x${bits.toString(16)}`);
  }
});

test('every finite half converts to float and back to the same bits', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads are not kept
    assert.equal(f32ToF16(f16ToF32(h)), h);
  }
});

test('f32ToBf16 rounds to nearest even like ggml: subnormals kept, NaN made quiet', () => {
  const cases: [number, number][] = [
    [1, 0x3f80],
    [1 + 2 ** -8, 0x3f80], // tie, even: down
    [1 + 3 * 2 ** -8, 0x3f82], // tie, odd: up
    [f32FromBits(0x7f7fffff), 0x7f80], // largest float32 rounds to infinity
    [-Infinity, 0xff80],
    [f32FromBits(0x00018000), 0x0002], // subnormal tie rounds to even, not flushed to zero
    [f32FromBits(0x00008000), 0x0000],
    [2 ** -149, 0x0000],
    [f32FromBits(0x7f800001), 0x7fc0], // signalling NaN made quiet
    [f32FromBits(0xffc00001), 0xffc0],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToBf16(x), bits, `${x}`);
  assert.equal(bf16ToF32(0x3f82), 1 + 2 ** -6);
});

// ---------------------------------------------------------------------------
// Q8_0 and Q4_0: blocks quantized by llama.cpp's quantize_row_q8_0_ref and
// quantize_row_q4_0_ref (ggml-quants.c, compiled from node-llama-cpp 3.21.1's
// llama.cpp source), bytes as hex.

const BLOCK_RAMP = Array.from({ length: 32 }, (_, j) => (j - 12.3) * 0.37); // largest magnitude positive
const BLOCK_NEG_MAX = Array.from({ length: 32 }, (_, j) => (((j * 7) % 32) - 20) * 0.11); // largest magnitude negative
const BLOCK_ZERO = new Array<number>(32).fill(0);
const BLOCK_TIES = Array.from({ length: 32 }, (_, j) => [0.5, 1.5, -0.5, -2.5, 2.5, 127, -126.5, 3.49999][j % 8]);

const LLAMA_CPP_Q8_0 = [
  'f92aacb3bac1c8ced5dce3eaf0f7fe050c121920272e343b42494f565d646b71787f',
  '6f2481adda063394c0ed1946a7d4002c8ebae71340a1cdfa2687b4e00d399ac7f320',
  '00000000000000000000000000000000000000000000000000000000000000000000',
  '003c0102fffd037f81030102fffd037f81030102fffd037f81030102fffd037f8103',
];
const LLAMA_CPP_Q4_0 = [
  'ebba6d6d6c5c5c4b4b3a3a39292918180707',
  '66346093c6285b81a4073a6c92c5284b71a4',
  '008088888888888888888888888888888888', // d = −0: max/−8 with max = 0
  'f0cb888888888800ff88888888888800ff88',
];
const BLOCKS = [BLOCK_RAMP, BLOCK_NEG_MAX, BLOCK_ZERO, BLOCK_TIES];

test('q8_0 blocks are byte-identical to llama.cpp reference quantization', () => {
  BLOCKS.forEach((b, i) => assert.equal(hex(encodeTensor('q8_0', Float32Array.from(b))), LLAMA_CPP_Q8_0[i], `block ${i}`));
  // roundf semantics: halves go away from zero (2.5 → 3, −2.5 → −3), not to even.
  const q = encodeTensor('q8_0', Float32Array.from(BLOCK_TIES)).subarray(2, 10);
  assert.deepEqual(Array.from(new Int8Array(q.buffer, q.byteOffset, 8)), [1, 2, -1, -3, 3, 127, -127, 3]);
});

test('q4_0 blocks are byte-identical to llama.cpp reference quantization', () => {
  BLOCKS.forEach((b, i) => assert.equal(hex(encodeTensor('q4_0', Float32Array.from(b))), LLAMA_CPP_Q4_0[i], `block ${i}`));
});

/** Random blocks with standard deviations from 2^-20 (scales among the f16
 *  subnormals) to 2^12 (scales near the f16 maximum), and the special ones. */
function testBlocks(): Float32Array {
  const rng = new Rng(123, 'quant-blocks');
  const blocks: number[] = [];
  for (let b = 0; b < 2000; b++) {
    const block = new Float32Array(32);
    rng.fillNormal(block, 0, 2 ** Math.floor(rng.uniform() * 33 - 20));
    blocks.push(...block);
  }
  for (const b of BLOCKS) blocks.push(...b);
  return Float32Array.from(blocks);
}

/** Largest error of a block scale d stored as f16: half an ulp, relative
 *  2^-11 for normals, absolute 2^-25 among the subnormals. */
const f16Err = (d: number): number => Math.max(Math.abs(d) * 2 ** -11, 2 ** -25);

test('q8_0 dequantizes within half a step of each value, zero blocks exactly', () => {
  const x = testBlocks();
  const y = decodeTensor('q8_0', encodeTensor('q8_0', x), x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const block = x.subarray(b * 32, b * 32 + 32);
    const amax = Math.max(...block.map(Math.abs));
    // Rounding to the step d = amax/127, plus the f16 error of d on up to 127 steps.
    const bound = (amax / 127) * 0.5 + 127 * f16Err(amax / 127);
    for (let j = 0; j < 32; j++) {
      const err = Math.abs(block[j] - y[b * 32 + j]);
      assert.ok(err <= bound, `block ${b} element ${j}: ${block[j]} → ${y[b * 32 + j]}, error ${err} > ${bound}`);
    }
  }
  assert.deepEqual(Array.from(decodeTensor('q8_0', encodeTensor('q8_0', new Float32Array(32)), 32)), new Array(32).fill(0));
});

test('q4_0 maps the largest-magnitude value exactly and the rest within one step', () => {
  const x = testBlocks();
  const y = decodeTensor('q4_0', encodeTensor('q4_0', x), x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const block = x.subarray(b * 32, b * 32 + 32);
    const amax = Math.max(...block.map(Math.abs));
    if (amax === 0) {
      assert.ok(y.subarray(b * 32, b * 32 + 32).every((v) => v === 0), `block ${b}: zeros stay zero`);
      continue;
    }
    const j0 = block.findIndex((v) => Math.abs(v) === amax);
    // The extreme value maps to level 0 (−8·d): exact up to the f16 scale.
    const step = amax / 8;
    const extremeErr = Math.abs(y[b * 32 + j0] - block[j0]);
    assert.ok(extremeErr <= 8 * f16Err(step), `block ${b}: extreme ${block[j0]} → ${y[b * 32 + j0]}`);
    // Step |d| = amax/8. Same-sign values round to within |d|/2; the opposite
    // end of the range has one level fewer (+7d), so up to |d| off there.
    for (let j = 0; j < 32; j++) {
      const err = Math.abs(block[j] - y[b * 32 + j]);
      const sameSide = Math.sign(block[j]) === Math.sign(block[j0]) || Math.abs(block[j]) <= 6.5 * step;
      const bound = (sameSide ? step / 2 : step) + 8 * f16Err(step);
      assert.ok(err <= bound, `block ${b} element ${j}: ${block[j]} → ${y[b * 32 + j]}, error ${err} > ${bound}`);
    }
  }
});

// ---------------------------------------------------------------------------
// Every quant type: round trips from float

/** Largest relative RMS error of a super-block (256 values) after a round
 *  trip, by type: what each format's bits allow, with some margin (measured
 *  0.093, 0.086, 0.045, 0.040, 0.007, 0.080, 0.35, 0.17, 0.084, 0.041, 0.020). */
const RMS_BOUND: Partial<Record<TensorType, number>> = {
  q4_0: 0.12, q4_1: 0.11, q5_0: 0.06, q5_1: 0.055, q8_0: 0.01, iq4_nl: 0.1,
  q2_k: 0.42, q3_k: 0.21, q4_k: 0.11, q5_k: 0.055, q6_k: 0.03,
};

/** 64 super-blocks of normals, standard deviations from 2^-8 to 2^7 (below
 *  that the K-quants' super-scales become f16 subnormals and lose bits, in
 *  llama.cpp too). */
function superBlocks(seed: number): Float32Array {
  const rng = new Rng(seed, 'super-blocks');
  const x = new Float32Array(64 * 256);
  for (let b = 0; b < 64; b++) rng.fillNormal(x.subarray(b * 256, b * 256 + 256), 0, 2 ** Math.floor(rng.uniform() * 16 - 8));
  return x;
}

test('every quant type round-trips random super-blocks within its precision', () => {
  const x = superBlocks(9);
  for (const [type, bound] of Object.entries(RMS_BOUND) as [TensorType, number][]) {
    const bytes = encodeTensor(type, x);
    assert.equal(bytes.length, (x.length / ENCODINGS[type].blockSize) * ENCODINGS[type].blockBytes, type);
    const y = decodeTensor(type, bytes, x.length);
    for (let b = 0; b < 64; b++) {
      let se = 0;
      let sx = 0;
      for (let i = b * 256; i < b * 256 + 256; i++) {
        assert.ok(Number.isFinite(y[i]), `${type}: element ${i} decodes to ${y[i]}`);
        se += (x[i] - y[i]) ** 2;
        sx += x[i] ** 2;
      }
      const rel = Math.sqrt(se / sx);
      assert.ok(rel <= bound, `${type} super-block ${b}: relative RMS error ${rel.toFixed(4)} > ${bound}`);
    }
    // All-zero data stays exactly zero.
    assert.ok(decodeTensor(type, encodeTensor(type, new Float32Array(256)), 256).every((v) => v === 0), `${type}: zeros`);
  }
});

test('q4_1 and q5_1 keep every value within half a step of its block range', () => {
  const x = testBlocks();
  for (const [type, levels] of [['q4_1', 15], ['q5_1', 31]] as const) {
    const y = decodeTensor(type, encodeTensor(type, x), x.length);
    for (let b = 0; b < x.length / 32; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const min = Math.min(...block);
      const d = (Math.max(...block) - min) / levels;
      // Half a step, plus the f16 errors of d (on up to `levels` steps) and of m.
      const bound = d / 2 + levels * f16Err(d) + f16Err(min);
      for (let j = 0; j < 32; j++) {
        const err = Math.abs(block[j] - y[b * 32 + j]);
        assert.ok(err <= bound, `${type} block ${b} element ${j}: ${block[j]} → ${y[b * 32 + j]}, error ${err} > ${bound}`);
      }
    }
  }
});

test('q5_0 maps the largest-magnitude value exactly and the rest within one step', () => {
  const x = testBlocks();
  const y = decodeTensor('q5_0', encodeTensor('q5_0', x), x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const block = x.subarray(b * 32, b * 32 + 32);
    const amax = Math.max(...block.map(Math.abs));
    const step = amax / 16;
    for (let j = 0; j < 32; j++) {
      const err = Math.abs(block[j] - y[b * 32 + j]);
      const bound = (Math.abs(block[j]) === amax ? 0 : step) + 16 * f16Err(step);
      assert.ok(err <= bound, `block ${b} element ${j}: ${block[j]} → ${y[b * 32 + j]}, error ${err} > ${bound}`);
    }
  }
});

test('values on each K-quant grid come back up to the f16 rounding of the super-scales', () => {
  // Every group of 16 holds its format's lowest and highest level, the rest
  // scattered between, so each group's range is the whole grid: only the
  // f16 super-scale (and the integer group scales under it) round. A layout
  // slip (a bit or nibble in the wrong place) moves values by whole steps.
  const grid = (lo: number, hi: number, step: number): Float32Array =>
    Float32Array.from({ length: 256 }, (_, e) => {
      const l = e % 16;
      const level = l === 0 ? lo : l === 1 ? hi : lo + ((e * 7 + (e >> 4) * 3) % (hi - lo + 1));
      return level * step;
    });
  const cases: [TensorType, Float32Array][] = [
    ['q6_k', grid(-32, 31, 2 ** -9)],
    ['q5_k', grid(0, 31, 2 ** -8)],
    ['q4_k', grid(0, 15, 2 ** -7)],
    ['q3_k', grid(-4, 3, 2 ** -6)],
    ['q2_k', grid(0, 3, 2 ** -5)],
    ['iq4_nl', Float32Array.from({ length: 256 }, (_, e) => IQ4_NL_VALUES[e % 16 === 0 ? 0 : (e * 5) % 16] * 2 ** -10)],
  ];
  for (const [type, x] of cases) {
    const y = decodeTensor(type, encodeTensor(type, x), 256);
    const amax = Math.max(...x.map(Math.abs));
    for (let e = 0; e < 256; e++) {
      assert.ok(Math.abs(y[e] - x[e]) <= amax * 2 ** -10, `${type} element ${e}: ${x[e]} → ${y[e]}`);
    }
  }
});

test('rows that are not whole K-quant blocks fall back as llama.cpp quantizes them', () => {
  assert.equal(typeForRow('q4_k', 4864), 'q4_k');
  assert.equal(typeForRow('q4_k', 896), 'q5_0');
  assert.equal(typeForRow('q5_k', 896), 'q5_1');
  assert.equal(typeForRow('q6_k', 896), 'q8_0');
  assert.equal(typeForRow('q2_k', 896), 'iq4_nl');
  assert.equal(typeForRow('q3_k', 64), 'iq4_nl');
  assert.equal(typeForRow('q4_0', 64), 'q4_0');
  assert.throws(() => typeForRow('q4_k', 48), /48 elements fit neither q4_k nor its fallback/);
  const r = readGguf(writeRandomLlama(makeSpec('tiny', { weightType: 'q4_k', nLayer: 1, nFf: 256 })));
  const types = new Map(r.tensors.map((t) => [t.name, t.type]));
  assert.equal(types.get('blk.0.ffn_down.weight'), 12, 'rows of 256: Q4_K');
  assert.equal(types.get('blk.0.attn_q.weight'), 6, 'rows of 64: Q5_0');
  assert.equal(r.kvs.get('general.file_type')!.value, 14);
});

// ---------------------------------------------------------------------------
// File layout

test('a tiny file has the GGUF v3 header, length-prefixed strings and 32-byte aligned data', () => {
  const w = new GgufWriter();
  w.addKv('a.u8', 200, 'uint8');
  w.addKv('a.s', 'hé', 'string');
  w.addTensor('t', [3], 'f32', Float32Array.from([1, 2, 3]));
  const b = w.toBytes();
  const v = new DataView(b.buffer);
  let at = 0;
  const expect = (hexBytes: string, what: string): void => {
    const n = hexBytes.length / 2;
    assert.equal(hex(b.subarray(at, at + n)), hexBytes, `${what} at offset ${at}`);
    at += n;
  };
  expect('47475546', 'magic "GGUF"');
  expect('03000000', 'version 3');
  expect('0100000000000000', 'tensor count (u64)');
  expect('0200000000000000', 'kv count (u64)');
  expect('0400000000000000' + hex(Buffer.from('a.u8')), 'key: u64 length, bytes, no NUL');
  expect('00000000', 'type uint8');
  expect('c8', 'value 200');
  expect('0300000000000000' + hex(Buffer.from('a.s')), 'key');
  expect('08000000', 'type string');
  expect('0300000000000000' + '68c3a9', 'value "hé": UTF-8 byte length 3');
  expect('0100000000000000' + '74', 'tensor name "t"');
  expect('01000000', 'n_dims');
  expect('0300000000000000', 'ne[0]');
  expect('00000000', 'type F32');
  expect('0000000000000000', 'offset within the data section');
  assert.equal(at, 100);
  assert.equal(hex(b.subarray(at, 128)), '00'.repeat(128 - at), 'zero padding up to the 32-byte boundary');
  assert.deepEqual([v.getFloat32(128, true), v.getFloat32(132, true), v.getFloat32(136, true)], [1, 2, 3]);
  assert.equal(b.length, 160, 'the last tensor is padded to the alignment too');
});

test('metadata of every value type reads back as written', () => {
  const w = new GgufWriter();
  const kvs: [string, GgufValue, GgufKvType, number][] = [
    ['k.uint8', 255, 'uint8', 0],
    ['k.int8', -128, 'int8', 1],
    ['k.uint16', 65535, 'uint16', 2],
    ['k.int16', -32768, 'int16', 3],
    ['k.uint32', 4294967295, 'uint32', 4],
    ['k.int32', -2147483648, 'int32', 5],
    ['k.float32', 0.5, 'float32', 6],
    ['k.bool', true, 'bool', 7],
    ['k.string', 'ünïcödé ▁', 'string', 8],
    ['k.uint64', 2n ** 64n - 1n, 'uint64', 10],
    ['k.int64', -(2n ** 63n), 'int64', 11],
    ['k.float64', Math.PI, 'float64', 12],
    ['k.arr.int32', [1, -2, 3], 'int32[]', 9],
    ['k.arr.float32', [0.25, -1.5], 'float32[]', 9],
    ['k.arr.string', ['a', '', '<0x0A>'], 'string[]', 9],
    ['k.arr.bool', [true, false], 'bool[]', 9],
    ['k.arr.empty', [], 'uint8[]', 9],
  ];
  for (const [key, value, type] of kvs) w.addKv(key, value, type);
  const r = readGguf(w.toBytes());
  assert.equal(r.version, 3);
  assert.deepEqual([...r.kvs.keys()], kvs.map(([k]) => k), 'keys keep insertion order');
  for (const [key, value, , typeId] of kvs) {
    assert.equal(r.kvs.get(key)!.type, typeId, key);
    assert.deepEqual(r.kvs.get(key)!.value, value, key);
  }
});

test('a non-default alignment is recorded and every tensor offset honours it', () => {
  const w = new GgufWriter({ alignment: 64 });
  w.addTensor('a', [5], 'f32', new Float32Array(5).fill(1));
  w.addTensor('b', [32, 2], 'q8_0', new Float32Array(64).fill(-1));
  w.addTensor('c', [3], 'f16', new Float32Array(3));
  const bytes = w.toBytes();
  const r = readGguf(bytes);
  assert.equal(r.kvs.get('general.alignment')!.value, 64);
  assert.equal(r.kvs.get('general.alignment')!.type, 4, 'uint32');
  assert.deepEqual(r.tensors.map((t) => t.offset), [0, 64, 192]);
  assert.deepEqual(r.tensors.map((t) => t.type), [0, 8, 1]);
  assert.equal(r.dataStart % 64, 0);
  assert.equal(bytes.length, r.dataStart + 256);
  assert.equal(new GgufWriter().toBytes().length, 32, 'an empty file is a padded header');
  assert.ok(!readGguf(new GgufWriter().toBytes()).kvs.has('general.alignment'), 'the default 32 is not written');
});

test('streamed chunks concatenate to the same bytes as toBytes', () => {
  const w = buildRandomLlama(makeSpec('tiny', { weightType: 'q4_0', nLayer: 1 }));
  const parts = [...w.chunks()];
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { joined.set(p, at); at += p.length; }
  assert.equal(sha256(joined), sha256(w.toBytes()));
  assert.equal(joined.length, w.sizeBytes());
});

test('the writer refuses what would make a file llama.cpp rejects', () => {
  const w = new GgufWriter();
  w.addKv('x', 1, 'uint32');
  assert.throws(() => w.addKv('x', 2, 'uint32'), /duplicate key/);
  assert.throws(() => w.addKv('y', 256, 'uint8'), /out of range/);
  assert.throws(() => w.addKv('y', 1.5, 'int32'), /not a safe integer/);
  assert.throws(() => w.addKv('y', 'a', 'bool'), /not a boolean/);
  assert.throws(() => w.addKv('y', [1, 'a'], 'int32[]'), /y\[1\]/);
  assert.throws(() => w.addTensor('t', [48], 'q4_0', new Float32Array(48)), /multiple of the q4_0 block size 32/);
  assert.throws(() => w.addTensor('t', [4, 2], 'f32', new Float32Array(4)), /4 values for dims \[4, 2\] \(8\)/);
  assert.throws(() => w.addTensor('t', [1, 1, 1, 1, 1], 'f32', new Float32Array(1)), /5 dims/);
  w.addTensor('t', [1], 'f32', new Float32Array(1));
  assert.throws(() => w.addTensor('t', [1], 'f32', new Float32Array(1)), /duplicate name/);
  assert.throws(() => new GgufWriter({ alignment: 48 }), /power of two/);
});

// ---------------------------------------------------------------------------
// Random models

test('the PRNG gives the same numbers on every machine', () => {
  const r = new Rng(1, 'x');
  assert.deepEqual([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()], [2469715394, 2669263088, 2635799514, 2697058285]);
  const z = new Float32Array(4);
  new Rng(0).fillNormal(z, 0, 1);
  assert.deepEqual(Array.from(z), [0.04209630563855171, 0.47376272082328796, 0.3141103684902191, -1.5645525455474854]);
  const big = new Float32Array(1 << 18);
  new Rng(7, 's').fillNormal(big, 3, 2);
  const mean = big.reduce((a, b) => a + b, 0) / big.length;
  const sd = Math.sqrt(big.reduce((a, b) => a + (b - mean) ** 2, 0) / big.length);
  assert.ok(Math.abs(mean - 3) < 0.02 && Math.abs(sd - 2) < 0.02, `mean ${mean}, sd ${sd}`);
});

test('the same spec writes the same bytes and another seed does not', () => {
  const spec = makeSpec('tiny', { weightType: 'q8_0' });
  const a = sha256(writeRandomLlama(spec));
  assert.equal(sha256(writeRandomLlama({ ...spec })), a);
  assert.notEqual(sha256(writeRandomLlama({ ...spec, seed: spec.seed + 1 })), a);
});

test('a random llama has llama.cpp tensor names, GGUF shapes and the metadata it needs', () => {
  const spec = makeSpec('tiny', { weightType: 'q4_0' });
  const r = readGguf(writeRandomLlama(spec));
  const kv = (k: string): unknown => r.kvs.get(k)?.value;
  assert.equal(kv('general.architecture'), 'llama');
  assert.equal(kv('general.file_type'), 2);
  assert.equal(kv('llama.embedding_length'), 64);
  assert.equal(kv('llama.block_count'), 4);
  assert.equal(kv('llama.attention.head_count'), 4);
  assert.equal(kv('llama.attention.head_count_kv'), 2);
  assert.equal(kv('llama.feed_forward_length'), 192);
  assert.equal(kv('llama.rope.dimension_count'), 16);
  assert.equal(kv('llama.vocab_size'), 512);
  assert.equal((kv('tokenizer.ggml.tokens') as string[]).length, 512);
  const shapes = new Map(r.tensors.map((t) => [t.name, t.dims]));
  assert.deepEqual(shapes.get('token_embd.weight'), [64, 512]);
  assert.deepEqual(shapes.get('output.weight'), [64, 512]);
  assert.deepEqual(shapes.get('blk.3.attn_q.weight'), [64, 64]);
  assert.deepEqual(shapes.get('blk.3.attn_k.weight'), [64, 32]);
  assert.deepEqual(shapes.get('blk.3.attn_v.weight'), [64, 32]);
  assert.deepEqual(shapes.get('blk.0.ffn_gate.weight'), [64, 192]);
  assert.deepEqual(shapes.get('blk.0.ffn_down.weight'), [192, 64]);
  assert.equal(r.tensors.length, 3 + 9 * 4);
  const types = new Map(r.tensors.map((t) => [t.name, t.type]));
  assert.equal(types.get('blk.0.attn_norm.weight'), 0, 'norms stay F32');
  assert.equal(types.get('blk.0.attn_q.weight'), 2, 'Q4_0');
  const tied = readGguf(writeRandomLlama({ ...spec, tiedOutput: true }));
  assert.ok(!tied.tensors.some((t) => t.name === 'output.weight'), 'a tied model has no output.weight');
});

test('the synthetic vocabulary is SentencePiece-shaped with strictly ordered scores', () => {
  for (const n of [512, 151936]) {
    const v = syntheticVocab(n);
    assert.equal(v.tokens.length, n);
    assert.equal(new Set(v.tokens).size, n, 'no duplicate tokens');
    assert.deepEqual(v.tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
    assert.deepEqual(v.types.slice(0, 3), [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control]);
    assert.equal(v.tokens[3], '<0x00>');
    assert.equal(v.tokens[3 + 0x0a], '<0x0A>');
    assert.equal(v.tokens[258], '<0xFF>');
    assert.ok(v.types.slice(3, 259).every((t) => t === TOKEN_TYPE.byte));
    const normal = v.scores.filter((_, i) => v.types[i] === TOKEN_TYPE.normal);
    assert.ok(normal.every((s, i) => i === 0 || s < normal[i - 1]), 'scores strictly decrease');
    assert.ok(v.tokens.includes('\u2581the') && v.tokens.includes('\u2581'));
  }
});

// ---------------------------------------------------------------------------
// Fixtures

test('every writer model in generation.json regenerates to its recorded sha256', () => {
  const fixture = JSON.parse(readFileSync(resolve(root, 'test/fixtures/generation.json'), 'utf8')) as {
    models: { name: string; source: { kind: string; spec?: LlamaSpec; sha256?: string } }[];
  };
  const writerModels = fixture.models.filter((m) => m.source.kind === 'writer');
  assert.ok(writerModels.length >= 5, `${writerModels.length} writer models`);
  for (const m of writerModels) {
    assert.equal(sha256(writeRandomLlama(m.source.spec!)), m.source.sha256, m.name);
  }
});
