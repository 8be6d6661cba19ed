// Float32 to every tensor encoding the test GGUF writer can produce, and
// back: IEEE half and bfloat16 conversions, llama.cpp's 32-element block
// types and its K-quant super-blocks, byte for byte in GGML's layouts. The
// file layout around the tensor bytes is writer.ts's. No Node APIs, so it
// also runs in the browser tests.

import { GGML_TYPES } from '../../src/format/ggml-types.js';

// ---------------------------------------------------------------------------
// Float conversions (bit-exact with ggml's scalar code)

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of a float32 as an unsigned 32-bit integer. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** The float32 whose bits are `bits`. */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/**
 * float32 → IEEE binary16 bits, round to nearest even, overflow to ±inf,
 * gradual underflow to subnormals; NaN becomes the quiet NaN 0x7e00 with the
 * sign kept, as ggml's ggml_compute_fp32_to_fp16 does.
 */
export function f32ToF16(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  // 65520 (halfway between 65504 and 2^16) and above rounds to infinity.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // Normal half: rebias the exponent, keep 10 mantissa bits, round the 13
    // dropped bits to nearest even. A carry out of the mantissa correctly
    // bumps the exponent.
    let h = (((abs >>> 23) - 112) << 10) | ((abs >>> 13) & 0x3ff);
    const rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return sign | h;
  }
  // Subnormal half: the value in units of 2^-24, rounded to nearest even. The
  // scaling is exact in double precision; rounding up to 0x400 yields the
  // smallest normal, which is the right encoding.
  const units = f32FromBits(abs) * 16777216;
  let q = Math.floor(units);
  const frac = units - q;
  if (frac > 0.5 || (frac === 0.5 && (q & 1) === 1)) q++;
  return sign | q;
}

/** IEEE binary16 bits → the float value (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/**
 * float32 → bfloat16 bits as ggml's ggml_compute_fp32_to_bf16: round to
 * nearest even on the upper 16 bits (so overflow goes to ±inf and subnormals
 * are kept, not flushed), NaN made quiet by setting bit 6.
 */
export function f32ToBf16(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  // bits + 0x8000 stays below 2^32 for every non-NaN input, so >>> is safe.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits → the float value (exact). */
export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

// ---------------------------------------------------------------------------
// Tensor encodings: one entry per ggml type. Adding a quant type is adding an
// `encode` and a `decode` here and an entry in ENCODINGS.

export type TensorType =
  | 'f32' | 'f16' | 'bf16'
  | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'iq4_nl'
  | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';

interface Encoding {
  /** ggml_type id in the GGUF tensor info. */
  ggmlType: number;
  /** Elements per block; a row's length must be a multiple of it. */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
  /** Encodes `src` (a whole number of blocks) into `dst` (exactly its bytes). */
  encode(src: Float32Array, dst: DataView): void;
  /** Decodes `dst`-shaped bytes back to floats (for tests and references). */
  decode(src: DataView, out: Float32Array): void;
}

const fround = Math.fround;

function encodeF32(src: Float32Array, dst: DataView): void {
  for (let i = 0; i < src.length; i++) dst.setFloat32(i * 4, src[i], true);
}
function decodeF32(src: DataView, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = src.getFloat32(i * 4, true);
}

function encodeF16(src: Float32Array, dst: DataView): void {
  for (let i = 0; i < src.length; i++) dst.setUint16(i * 2, f32ToF16(src[i]), true);
}
function decodeF16(src: DataView, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = f16ToF32(src.getUint16(i * 2, true));
}

function encodeBf16(src: Float32Array, dst: DataView): void {
  for (let i = 0; i < src.length; i++) dst.setUint16(i * 2, f32ToBf16(src[i]), true);
}
function decodeBf16(src: DataView, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = bf16ToF32(src.getUint16(i * 2, true));
}

// Q8_0 block (34 bytes): f16 scale d, then 32 int8 quants; x ≈ d·q.
// As quantize_row_q8_0_ref: d = amax/127 and q = roundf(x·(1/d)), all in
// float32 (fround after each operation; double then float rounding is exact
// for one +,−,×,÷ of floats), roundf rounding halves away from zero.
function encodeQ8_0(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[x0 + j]));
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 34;
    dst.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) {
      const v = fround(src[x0 + j] * id);
      const q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
      dst.setInt8(o + 2 + j, q);
    }
  }
}
function decodeQ8_0(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 34, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = src.getInt8(b * 34 + 2 + j) * d;
  }
}

// Q4_0 block (18 bytes): f16 scale d, then 16 bytes of 4-bit quants q in
// 0..15, x ≈ d·(q − 8). Byte j holds element j in its low nibble and element
// j+16 in its high nibble. As quantize_row_q4_0_ref: d = max/−8 where max is
// the element of largest magnitude with its sign (so that element maps to
// q = 0 exactly and the other end of the range gets the spare level), and
// q = min(15, trunc(x·(1/d) + 8.5)) in float32.
function encodeQ4_0(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x0 + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 18;
    dst.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(fround(fround(src[x0 + j] * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(fround(fround(src[x0 + 16 + j] * id) + 8.5)));
      dst.setUint8(o + 2 + j, lo | (hi << 4));
    }
  }
}
function decodeQ4_0(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const byte = src.getUint8(b * 18 + 2 + j);
      out[b * 32 + j] = ((byte & 15) - 8) * d;
      out[b * 32 + 16 + j] = ((byte >>> 4) - 8) * d;
    }
  }
}

// ---------------------------------------------------------------------------
// The other 32-element block types. Q4_1, Q5_0 and Q5_1 follow the arithmetic
// of llama.cpp's quantize_row_*_ref (float32 throughout, truncating casts);
// IQ4_NL searches a few scales as llama.cpp does, without importance weights.

/** Truncation toward zero of a float32 expression, as a C cast to int. */
const trunc = Math.trunc;

/** Smallest and largest value of 32 elements from `x0`. */
function minMax32(src: Float32Array, x0: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    min = Math.min(min, src[x0 + j]);
    max = Math.max(max, src[x0 + j]);
  }
  return [min, max];
}

/** The element of largest magnitude, with its sign (the first of equals). */
function signedMax(src: Float32Array, x0: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = src[x0 + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

// Q4_1 block (20 bytes): f16 d, f16 m, 16 bytes of nibbles (Q4_0's order);
// x ≈ d·q + m with q in 0..15, m the block minimum, d = (max − min)/15.
function encodeQ4_1(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    const [min, max] = minMax32(src, x0);
    const d = fround((max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 20;
    dst.setUint16(o, f32ToF16(d), true);
    dst.setUint16(o + 2, f32ToF16(min), true);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, trunc(fround(fround(fround(src[x0 + j] - min) * id) + 0.5)));
      const hi = Math.min(15, trunc(fround(fround(fround(src[x0 + 16 + j] - min) * id) + 0.5)));
      dst.setUint8(o + 4 + j, lo | (hi << 4));
    }
  }
}
function decodeQ4_1(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 20, true));
    const m = f16ToF32(src.getUint16(b * 20 + 2, true));
    for (let j = 0; j < 16; j++) {
      const byte = src.getUint8(b * 20 + 4 + j);
      out[b * 32 + j] = (byte & 15) * d + m;
      out[b * 32 + 16 + j] = (byte >>> 4) * d + m;
    }
  }
}

/** Writes 32 five-bit values: low nibbles in Q4_0's order at `qsAt`, the
 *  fifth bits as a little-endian u32 at `qhAt` (bit j for element j). */
function put5(dst: DataView, qsAt: number, qhAt: number, q: ArrayLike<number>): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    dst.setUint8(qsAt + j, (q[j] & 15) | ((q[j + 16] & 15) << 4));
    qh |= ((q[j] >>> 4) << j) | ((q[j + 16] >>> 4) << (j + 16));
  }
  dst.setUint32(qhAt, qh >>> 0, true);
}
function get5(src: DataView, qsAt: number, qhAt: number, j: number): number {
  const qh = src.getUint32(qhAt, true);
  const byte = src.getUint8(qsAt + (j & 15));
  return (j < 16 ? byte & 15 : byte >>> 4) | (((qh >>> j) & 1) << 4);
}

// Q5_0 block (22 bytes): f16 d, u32 of fifth bits, 16 bytes of nibbles;
// x ≈ d·(q − 16). As Q4_0: d = max/−16 for the signed extreme max.
function encodeQ5_0(src: Float32Array, dst: DataView): void {
  const q = new Uint8Array(32);
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    const d = fround(signedMax(src, x0, 32) / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    for (let j = 0; j < 32; j++) q[j] = Math.min(31, trunc(fround(fround(src[x0 + j] * id) + 16.5)));
    dst.setUint16(b * 22, f32ToF16(d), true);
    put5(dst, b * 22 + 6, b * 22 + 2, q);
  }
}
function decodeQ5_0(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 22, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = (get5(src, b * 22 + 6, b * 22 + 2, j) - 16) * d;
  }
}

// Q5_1 block (24 bytes): f16 d, f16 m, u32 of fifth bits, 16 bytes of
// nibbles; x ≈ d·q + m, d = (max − min)/31.
function encodeQ5_1(src: Float32Array, dst: DataView): void {
  const q = new Uint8Array(32);
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    const [min, max] = minMax32(src, x0);
    const d = fround((max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    for (let j = 0; j < 32; j++) q[j] = Math.min(31, trunc(fround(fround(fround(src[x0 + j] - min) * id) + 0.5)));
    dst.setUint16(b * 24, f32ToF16(d), true);
    dst.setUint16(b * 24 + 2, f32ToF16(min), true);
    put5(dst, b * 24 + 8, b * 24 + 4, q);
  }
}
function decodeQ5_1(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 24, true));
    const m = f16ToF32(src.getUint16(b * 24 + 2, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = get5(src, b * 24 + 8, b * 24 + 4, j) * d + m;
  }
}

/** The 16 levels of IQ4_NL (ggml's kvalues_iq4nl). */
export const IQ4_NL_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** Index of the IQ4_NL level nearest to v (levels ascend). */
function nearestIq4nl(v: number): number {
  let best = 0;
  for (let i = 1; i < 16; i++) if (Math.abs(IQ4_NL_VALUES[i] - v) < Math.abs(IQ4_NL_VALUES[best] - v)) best = i;
  return best;
}

// IQ4_NL block (18 bytes): f16 d, 16 bytes of nibbles (Q4_0's order) that
// index the levels; x ≈ d·level. Scales that put the extreme near each of
// the outer levels are tried; each is refined by least squares on its
// assignment, and the one with the smallest squared error wins.
function encodeIq4nl(src: Float32Array, dst: DataView): void {
  const idx = new Uint8Array(32);
  const bestIdx = new Uint8Array(32);
  for (let b = 0; b * 32 < src.length; b++) {
    const x0 = b * 32;
    const max = signedMax(src, x0, 32);
    let bestD = 0;
    bestIdx.fill(8); // level 1: with d = 0 every level decodes to 0
    if (max !== 0) {
      let bestErr = Infinity;
      for (let t = -7; t <= 7; t++) {
        const id = (IQ4_NL_VALUES[0] + t) / max;
        let sxv = 0;
        let svv = 0;
        for (let j = 0; j < 32; j++) {
          idx[j] = nearestIq4nl(src[x0 + j] * id);
          const v = IQ4_NL_VALUES[idx[j]];
          sxv += src[x0 + j] * v;
          svv += v * v;
        }
        const d = f16ToF32(f32ToF16(sxv / svv));
        let err = 0;
        for (let j = 0; j < 32; j++) err += (src[x0 + j] - d * IQ4_NL_VALUES[idx[j]]) ** 2;
        if (err < bestErr) {
          bestErr = err;
          bestD = d;
          bestIdx.set(idx);
        }
      }
    }
    dst.setUint16(b * 18, f32ToF16(bestD), true);
    for (let j = 0; j < 16; j++) dst.setUint8(b * 18 + 2 + j, bestIdx[j] | (bestIdx[j + 16] << 4));
  }
}
function decodeIq4nl(src: DataView, out: Float32Array): void {
  for (let b = 0; b * 32 < out.length; b++) {
    const d = f16ToF32(src.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const byte = src.getUint8(b * 18 + 2 + j);
      out[b * 32 + j] = IQ4_NL_VALUES[byte & 15] * d;
      out[b * 32 + 16 + j] = IQ4_NL_VALUES[byte >>> 4] * d;
    }
  }
}

// ---------------------------------------------------------------------------
// K-quants: 256-element super-blocks of 16 or 8 groups, each group with a
// small integer scale (and minimum) under one f16 super-scale. These are not
// llama.cpp's importance-searched quantizers: each group takes the plain
// range of its values, the group scales are rounded to the super-scale's
// grid, and elements are rounded against the scale they will decode with.
// The layouts are exactly llama.cpp's (ggml-common.h).

const QK_K = 256;

/** Round half away from zero, clamped to [lo, hi]. */
const clampRound = (v: number, lo: number, hi: number): number =>
  Math.min(hi, Math.max(lo, v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5)));

/**
 * Affine groups (Q2_K, Q4_K, Q5_K): x ≈ d·sc·q − dmin·m with q in
 * 0..nLevels−1 and sc, m in 0..maxSc. Returns the f16 bits of d and dmin,
 * the group scales and minimums, and q for every element.
 */
function affineSuperBlock(
  src: Float32Array, x0: number, groupSize: number, nLevels: number, maxSc: number,
): { d: number; dmin: number; sc: Uint8Array; m: Uint8Array; q: Uint8Array } {
  const nGroups = QK_K / groupSize;
  const scale = new Float64Array(nGroups);
  const minv = new Float64Array(nGroups);
  for (let g = 0; g < nGroups; g++) {
    let lo = 0; // the minimum is stored as a non-negative amount subtracted
    let hi = -Infinity;
    for (let l = 0; l < groupSize; l++) {
      lo = Math.min(lo, src[x0 + g * groupSize + l]);
      hi = Math.max(hi, src[x0 + g * groupSize + l]);
    }
    scale[g] = (hi - lo) / (nLevels - 1);
    minv[g] = -lo;
  }
  const d = f32ToF16(Math.max(...scale) / maxSc);
  const dmin = f32ToF16(Math.max(...minv) / maxSc);
  const dq = f16ToF32(d);
  const dminq = f16ToF32(dmin);
  const sc = new Uint8Array(nGroups);
  const m = new Uint8Array(nGroups);
  const q = new Uint8Array(QK_K);
  for (let g = 0; g < nGroups; g++) {
    sc[g] = dq > 0 ? clampRound(scale[g] / dq, 0, maxSc) : 0;
    m[g] = dminq > 0 ? clampRound(minv[g] / dminq, 0, maxSc) : 0;
    const step = dq * sc[g];
    const off = dminq * m[g];
    for (let l = 0; l < groupSize; l++) {
      const e = g * groupSize + l;
      q[e] = step > 0 ? clampRound((src[x0 + e] + off) / step, 0, nLevels - 1) : 0;
    }
  }
  return { d, dmin, sc, m, q };
}

/**
 * Symmetric groups of 16 (Q3_K, Q6_K): x ≈ d·sc·q with q in −half..half−1
 * and sc in scMin..scMax, as llama.cpp makes them: each group's extreme maps
 * to −half, the super-block's extreme group scale to scMin.
 */
function symmetricSuperBlock(
  src: Float32Array, x0: number, half: number, scMin: number, scMax: number,
): { d: number; sc: Int8Array; q: Int8Array } {
  const scale = new Float64Array(16);
  let maxScale = 0;
  for (let g = 0; g < 16; g++) {
    scale[g] = signedMax(src, x0 + 16 * g, 16) / -half;
    if (Math.abs(scale[g]) > Math.abs(maxScale)) maxScale = scale[g];
  }
  const d = f32ToF16(maxScale / scMin);
  const dq = f16ToF32(d);
  const sc = new Int8Array(16);
  const q = new Int8Array(QK_K);
  for (let g = 0; g < 16; g++) {
    sc[g] = dq !== 0 ? clampRound(scale[g] / dq, scMin, scMax) : 0;
    const step = dq * sc[g];
    for (let l = 0; l < 16; l++) {
      const e = 16 * g + l;
      q[e] = step !== 0 ? clampRound(src[x0 + e] / step, -half, half - 1) : 0;
    }
  }
  return { d, sc, q };
}

// Q2_K block (84 bytes): scales[16] (low nibble: scale, high: minimum),
// qs[64] (element 128h + 32s + l in bits 2s of qs[32h + l]), f16 d, f16 dmin.
function encodeQ2K(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * QK_K < src.length; b++) {
    const o = b * 84;
    const { d, dmin, sc, m, q } = affineSuperBlock(src, b * QK_K, 16, 4, 15);
    for (let g = 0; g < 16; g++) dst.setUint8(o + g, sc[g] | (m[g] << 4));
    for (let i = 0; i < 64; i++) dst.setUint8(o + 16 + i, 0);
    for (let e = 0; e < QK_K; e++) {
      const at = o + 16 + 32 * (e >> 7) + (e & 31);
      dst.setUint8(at, dst.getUint8(at) | (q[e] << (2 * ((e >> 5) & 3))));
    }
    dst.setUint16(o + 80, d, true);
    dst.setUint16(o + 82, dmin, true);
  }
}
function decodeQ2K(src: DataView, out: Float32Array): void {
  for (let b = 0; b * QK_K < out.length; b++) {
    const o = b * 84;
    const d = f16ToF32(src.getUint16(o + 80, true));
    const dmin = f16ToF32(src.getUint16(o + 82, true));
    for (let e = 0; e < QK_K; e++) {
      const s = src.getUint8(o + (e >> 4));
      const q = (src.getUint8(o + 16 + 32 * (e >> 7) + (e & 31)) >>> (2 * ((e >> 5) & 3))) & 3;
      out[b * QK_K + e] = d * (s & 15) * q - dmin * (s >>> 4);
    }
  }
}

/** Scale i of a Q3_K block's 12 packed bytes at `at` (0..63, bias 32). */
function q3kScale(src: DataView, at: number, i: number): number {
  const low = i < 8 ? src.getUint8(at + i) & 15 : src.getUint8(at + i - 8) >>> 4;
  return low | (((src.getUint8(at + 8 + (i & 3)) >>> (2 * (i >> 2))) & 3) << 4);
}

// Q3_K block (110 bytes): hmask[32], qs[64], 12 bytes of 6-bit scales, f16 d;
// x ≈ d·(scale − 32)·q with q in −4..3 stored as q + 4: its low two bits in
// qs (Q2_K's order), its third in bit 4h + s of hmask[l].
function encodeQ3K(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * QK_K < src.length; b++) {
    const o = b * 110;
    const { d, sc, q } = symmetricSuperBlock(src, b * QK_K, 4, -32, 31);
    for (let i = 0; i < 108; i++) dst.setUint8(o + i, 0);
    const or = (at: number, v: number): void => dst.setUint8(at, dst.getUint8(at) | v);
    for (let e = 0; e < QK_K; e++) {
      const v = q[e] + 4;
      const h = e >> 7, s = (e >> 5) & 3, l = e & 31;
      or(o + 32 + 32 * h + l, (v & 3) << (2 * s));
      or(o + l, (v >>> 2) << (4 * h + s));
    }
    for (let i = 0; i < 16; i++) {
      const v = sc[i] + 32;
      or(o + 96 + (i & 7), (v & 15) << (i < 8 ? 0 : 4));
      or(o + 96 + 8 + (i & 3), (v >>> 4) << (2 * (i >> 2)));
    }
    dst.setUint16(o + 108, d, true);
  }
}
function decodeQ3K(src: DataView, out: Float32Array): void {
  for (let b = 0; b * QK_K < out.length; b++) {
    const o = b * 110;
    const d = f16ToF32(src.getUint16(o + 108, true));
    for (let e = 0; e < QK_K; e++) {
      const h = e >> 7, s = (e >> 5) & 3, l = e & 31;
      const low = (src.getUint8(o + 32 + 32 * h + l) >>> (2 * s)) & 3;
      const high = (src.getUint8(o + l) >>> (4 * h + s)) & 1;
      out[b * QK_K + e] = d * (q3kScale(src, o + 96, e >> 4) - 32) * (low - (high ? 0 : 4));
    }
  }
}

/** Packs eight 6-bit scales and minimums into 12 bytes (Q4_K, Q5_K). */
function packScalesK4(dst: DataView, at: number, sc: Uint8Array, m: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    dst.setUint8(at + j, (sc[j] & 63) | ((sc[j + 4] >>> 4) << 6));
    dst.setUint8(at + j + 4, (m[j] & 63) | ((m[j + 4] >>> 4) << 6));
    dst.setUint8(at + j + 8, (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}
/** Scale and minimum j of 12 packed bytes at `at`. */
function scaleMinK4(src: DataView, at: number, j: number): [number, number] {
  const u = (i: number): number => src.getUint8(at + i);
  if (j < 4) return [u(j) & 63, u(j + 4) & 63];
  return [(u(j + 4) & 15) | ((u(j - 4) >>> 6) << 4), (u(j + 4) >>> 4) | ((u(j) >>> 6) << 4)];
}

// Q4_K block (144 bytes): f16 d, f16 dmin, 12 bytes of scales and minimums,
// qs[128]; 8 groups of 32, x ≈ d·sc·q − dmin·m, q in 0..15; element 64j + l
// in the low nibble of qs[32j + l], element 64j + 32 + l in its high nibble.
// Q5_K (176 bytes) adds qh[32] after the scales: bit g of qh[l] is the fifth
// bit of element 32g + l.
function encodeQ45K(five: boolean) {
  const size = five ? 176 : 144;
  const qsAt = five ? 48 : 16;
  return (src: Float32Array, dst: DataView): void => {
    for (let b = 0; b * QK_K < src.length; b++) {
      const o = b * size;
      const { d, dmin, sc, m, q } = affineSuperBlock(src, b * QK_K, 32, five ? 32 : 16, 63);
      dst.setUint16(o, d, true);
      dst.setUint16(o + 2, dmin, true);
      packScalesK4(dst, o + 4, sc, m);
      for (let i = 16; i < size; i++) dst.setUint8(o + i, 0);
      for (let e = 0; e < QK_K; e++) {
        const g = e >> 5, l = e & 31;
        const at = o + qsAt + 32 * (g >> 1) + l;
        dst.setUint8(at, dst.getUint8(at) | ((q[e] & 15) << (4 * (g & 1))));
        if (five) dst.setUint8(o + 16 + l, dst.getUint8(o + 16 + l) | ((q[e] >>> 4) << g));
      }
    }
  };
}
function decodeQ45K(five: boolean) {
  const size = five ? 176 : 144;
  const qsAt = five ? 48 : 16;
  return (src: DataView, out: Float32Array): void => {
    for (let b = 0; b * QK_K < out.length; b++) {
      const o = b * size;
      const d = f16ToF32(src.getUint16(o, true));
      const dmin = f16ToF32(src.getUint16(o + 2, true));
      for (let e = 0; e < QK_K; e++) {
        const g = e >> 5, l = e & 31;
        const [sc, m] = scaleMinK4(src, o + 4, g);
        let q = (src.getUint8(o + qsAt + 32 * (g >> 1) + l) >>> (4 * (g & 1))) & 15;
        if (five) q |= ((src.getUint8(o + 16 + l) >>> g) & 1) << 4;
        out[b * QK_K + e] = d * sc * q - dmin * m;
      }
    }
  };
}

// Q6_K block (210 bytes): ql[128], qh[64], int8 scales[16], f16 d; x ≈
// d·scale·q with q in −32..31 stored as q + 32. In half h, element
// 128h + 32k + l keeps its low nibble in ql[64h + 32(k & 1) + l] (low for
// k < 2) and its top two bits in bits 2k of qh[32h + l].
function encodeQ6K(src: Float32Array, dst: DataView): void {
  for (let b = 0; b * QK_K < src.length; b++) {
    const o = b * 210;
    const { d, sc, q } = symmetricSuperBlock(src, b * QK_K, 32, -128, 127);
    for (let i = 0; i < 192; i++) dst.setUint8(o + i, 0);
    for (let e = 0; e < QK_K; e++) {
      const v = q[e] + 32;
      const h = e >> 7, k = (e >> 5) & 3, l = e & 31;
      const lAt = o + 64 * h + 32 * (k & 1) + l;
      const hAt = o + 128 + 32 * h + l;
      dst.setUint8(lAt, dst.getUint8(lAt) | ((v & 15) << (4 * (k >> 1))));
      dst.setUint8(hAt, dst.getUint8(hAt) | ((v >>> 4) << (2 * k)));
    }
    for (let g = 0; g < 16; g++) dst.setInt8(o + 192 + g, sc[g]);
    dst.setUint16(o + 208, d, true);
  }
}
function decodeQ6K(src: DataView, out: Float32Array): void {
  for (let b = 0; b * QK_K < out.length; b++) {
    const o = b * 210;
    const d = f16ToF32(src.getUint16(o + 208, true));
    for (let e = 0; e < QK_K; e++) {
      const h = e >> 7, k = (e >> 5) & 3, l = e & 31;
      const low = (src.getUint8(o + 64 * h + 32 * (k & 1) + l) >>> (4 * (k >> 1))) & 15;
      const high = (src.getUint8(o + 128 + 32 * h + l) >>> (2 * k)) & 3;
      out[b * QK_K + e] = d * src.getInt8(o + 192 + (e >> 4)) * ((low | (high << 4)) - 32);
    }
  }
}

/** Elements and bytes per block of a type id, from the engine's table (src/format/ggml-types.ts). */
function geometry(ggmlType: number): { blockSize: number; blockBytes: number } {
  const [, blockSize, blockBytes] = GGML_TYPES[ggmlType];
  return { blockSize, blockBytes };
}

export const ENCODINGS: Readonly<Record<TensorType, Encoding>> = {
  f32: { ggmlType: 0, ...geometry(0), encode: encodeF32, decode: decodeF32 },
  f16: { ggmlType: 1, ...geometry(1), encode: encodeF16, decode: decodeF16 },
  q4_0: { ggmlType: 2, ...geometry(2), encode: encodeQ4_0, decode: decodeQ4_0 },
  q4_1: { ggmlType: 3, ...geometry(3), encode: encodeQ4_1, decode: decodeQ4_1 },
  q5_0: { ggmlType: 6, ...geometry(6), encode: encodeQ5_0, decode: decodeQ5_0 },
  q5_1: { ggmlType: 7, ...geometry(7), encode: encodeQ5_1, decode: decodeQ5_1 },
  q8_0: { ggmlType: 8, ...geometry(8), encode: encodeQ8_0, decode: decodeQ8_0 },
  q2_k: { ggmlType: 10, ...geometry(10), encode: encodeQ2K, decode: decodeQ2K },
  q3_k: { ggmlType: 11, ...geometry(11), encode: encodeQ3K, decode: decodeQ3K },
  q4_k: { ggmlType: 12, ...geometry(12), encode: encodeQ45K(false), decode: decodeQ45K(false) },
  q5_k: { ggmlType: 13, ...geometry(13), encode: encodeQ45K(true), decode: decodeQ45K(true) },
  q6_k: { ggmlType: 14, ...geometry(14), encode: encodeQ6K, decode: decodeQ6K },
  iq4_nl: { ggmlType: 20, ...geometry(20), encode: encodeIq4nl, decode: decodeIq4nl },
  bf16: { ggmlType: 30, ...geometry(30), encode: encodeBf16, decode: decodeBf16 },
};

/** Encodes floats (a whole number of blocks) as `type`; returns the bytes. */
export function encodeTensor(type: TensorType, src: Float32Array): Uint8Array {
  const enc = ENCODINGS[type];
  if (src.length % enc.blockSize !== 0) {
    throw new Error(`${type}: ${src.length} elements is not a multiple of the block size ${enc.blockSize}`);
  }
  const out = new Uint8Array((src.length / enc.blockSize) * enc.blockBytes);
  enc.encode(src, new DataView(out.buffer));
  return out;
}

/** Decodes `nElements` floats of `type` from `bytes`. */
export function decodeTensor(type: TensorType, bytes: Uint8Array, nElements: number): Float32Array {
  const enc = ENCODINGS[type];
  const out = new Float32Array(nElements);
  enc.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), out);
  return out;
}

