// Row kernels for F32, F16, BF16, Q8_0 and Q4_0: conversion of activations,
// dequantization and dot products, with WASM SIMD128 and AVX2 paths next to
// the portable one. Quantized dots are integer dots on 8-bit activations,
// scaled once per block, as llama.cpp computes them.
#include "quants.h"

#include <cmath>
#include <string>

#include "common.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#elif defined(__AVX2__)
#include <immintrin.h>
#endif

namespace hob {

namespace {

// Block scales are halves; converting them in the inner loop by bit
// manipulation costs more than the block's integer dot, so every half is
// converted once, at startup, into this table (256 KiB). It lives at
// namespace scope: a function-local static would pay its initialization
// guard on every lookup.
struct HalfTable {
    float v[65536];
    HalfTable() {
        for (uint32_t h = 0; h < 65536; h++) v[h] = f16_to_f32((uint16_t)h);
    }
};

const HalfTable kHalf;

inline float half(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return kHalf.v[h];
#endif
}

}  // namespace

const float* half_table() { return kHalf.v; }

bool type_supported(TypeId t) {
    switch (t) {
        case TypeId::F32: case TypeId::F16: case TypeId::BF16: case TypeId::Q8_0: case TypeId::Q4_0:
            return true;
        default:
            return false;
    }
}

TypeId vec_dot_type(TypeId w) {
    switch (w) {
        case TypeId::F32: return TypeId::F32;
        case TypeId::F16: return TypeId::F16;
        case TypeId::BF16: return TypeId::BF16;
        case TypeId::Q8_0: case TypeId::Q4_0: return TypeId::Q8_0;
        default: fail(HOB_ERR_UNSUPPORTED_TYPE, std::string("no dot product for tensor type ") + type_name(w));
    }
}

size_t row_size(TypeId t, int64_t n) {
    const TypeTraits* tr = type_traits((uint32_t)t);
    return (size_t)(n / tr->block_size) * tr->type_size;
}

// ---- activation conversion -------------------------------------------------

static void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK8_0; b++, x += kQK8_0) {
        float amax = 0;
        for (int j = 0; j < kQK8_0; j++) amax = std::fmax(amax, std::fabs(x[j]));
        // Scale stored as f16; the multiplier is 127/amax (not 1/f16(d)) and
        // rounding is to nearest even, matching llama.cpp's x86 path.
        y[b].d = f32_to_f16(amax / 127.0f);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
#if defined(__wasm_simd128__)
        const v128_t vid = wasm_f32x4_splat(id);
        for (int j = 0; j < kQK8_0; j += 8) {
            v128_t a = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j), vid)));
            v128_t c = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 4), vid)));
            v128_t s16 = wasm_i16x8_narrow_i32x4(a, c);
            v128_t s8 = wasm_i8x16_narrow_i16x8(s16, s16);
            wasm_v128_store64_lane(y[b].qs + j, s8, 0);
        }
#else
        for (int j = 0; j < kQK8_0; j++) y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
#endif
    }
}

void quantize_row(TypeId t, const float* x, void* out, int64_t n) {
    switch (t) {
        case TypeId::F32: std::memcpy(out, x, (size_t)n * 4); return;
        case TypeId::F16: {
            uint16_t* y = static_cast<uint16_t*>(out);
            for (int64_t i = 0; i < n; i++) y[i] = f32_to_f16(x[i]);
            return;
        }
        case TypeId::BF16: {
            uint16_t* y = static_cast<uint16_t*>(out);
            for (int64_t i = 0; i < n; i++) y[i] = f32_to_bf16(x[i]);
            return;
        }
        case TypeId::Q8_0: quantize_row_q8_0(x, static_cast<BlockQ8_0*>(out), n); return;
        default: fail(HOB_ERR_UNSUPPORTED_TYPE, std::string("cannot convert activations to ") + type_name(t));
    }
}

// ---- dequantization ---------------------------------------------------------

void dequantize_row(TypeId t, const void* vx, float* y, int64_t n) {
    switch (t) {
        case TypeId::F32: std::memcpy(y, vx, (size_t)n * 4); return;
        case TypeId::F16: {
            const uint8_t* x = static_cast<const uint8_t*>(vx);
            for (int64_t i = 0; i < n; i++) y[i] = half(load_u16(x + 2 * i));
            return;
        }
        case TypeId::BF16: {
            const uint8_t* x = static_cast<const uint8_t*>(vx);
            for (int64_t i = 0; i < n; i++) y[i] = bf16_to_f32(load_u16(x + 2 * i));
            return;
        }
        case TypeId::Q8_0: {
            const BlockQ8_0* x = static_cast<const BlockQ8_0*>(vx);
            for (int64_t b = 0; b < n / kQK8_0; b++) {
                const float d = half(x[b].d);
                for (int j = 0; j < kQK8_0; j++) y[b * kQK8_0 + j] = x[b].qs[j] * d;
            }
            return;
        }
        case TypeId::Q4_0: {
            const BlockQ4_0* x = static_cast<const BlockQ4_0*>(vx);
            for (int64_t b = 0; b < n / kQK4_0; b++) {
                const float d = half(x[b].d);
                float* yb = y + b * kQK4_0;
                for (int j = 0; j < kQK4_0 / 2; j++) {
                    yb[j] = ((x[b].qs[j] & 0x0f) - 8) * d;
                    yb[j + kQK4_0 / 2] = ((x[b].qs[j] >> 4) - 8) * d;
                }
            }
            return;
        }
        default: fail(HOB_ERR_UNSUPPORTED_TYPE, std::string("cannot dequantize ") + type_name(t));
    }
}

// ---- dot products -------------------------------------------------------------

#if defined(__wasm_simd128__)
static inline float hsum_f32x4(v128_t v) {
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) +
           wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

// Sum of products of two int8x16 vectors, as int32x4 partial sums.
static inline v128_t dot_i8x16(v128_t a, v128_t b) {
    const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(a), wasm_i16x8_extend_low_i8x16(b));
    const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(a), wasm_i16x8_extend_high_i8x16(b));
    return wasm_i32x4_add(lo, hi);
}

// Eight halves to two float vectors, by moving the exponent and letting a
// multiply rebias it (subnormals come out right); inf/nan are patched.
static inline void f16x8_to_f32(v128_t h, v128_t* lo, v128_t* hi) {
    const v128_t magic = wasm_f32x4_splat(5.192296858534828e+33f);  // 2^112
    const v128_t inf_in = wasm_i32x4_splat(0x7c00 << 13);
    for (int half = 0; half < 2; half++) {
        const v128_t w = half ? wasm_u32x4_extend_high_u16x8(h) : wasm_u32x4_extend_low_u16x8(h);
        const v128_t sign = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x8000)), 16);
        const v128_t em = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x7fff)), 13);
        v128_t f = wasm_f32x4_mul(em, magic);
        const v128_t is_special = wasm_i32x4_ge(em, inf_in);
        f = wasm_v128_bitselect(wasm_v128_or(em, wasm_i32x4_splat(0x7f800000)), f, is_special);
        f = wasm_v128_or(f, sign);
        if (half) *hi = f; else *lo = f;
    }
}
#elif defined(__AVX2__)
static inline float hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Products of signed bytes summed in pairs and quads, as 8 floats: the sign
// of x moves onto y so the unsigned-by-signed multiply can be used.
static inline __m256 dot_i8x32(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}
#endif

static float dot_f32(int64_t n, const float* w, const float* a) {
    int64_t i = 0;
    float sum = 0;
#if defined(__wasm_simd128__)
    v128_t acc0 = wasm_f32x4_splat(0), acc1 = wasm_f32x4_splat(0);
    for (; i + 8 <= n; i += 8) {
        acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(w + i), wasm_v128_load(a + i)));
        acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(w + i + 4), wasm_v128_load(a + i + 4)));
    }
    sum = hsum_f32x4(wasm_f32x4_add(acc0, acc1));
#elif defined(__AVX2__)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
    }
    sum = hsum_f32x8(_mm256_add_ps(acc0, acc1));
#endif
    for (; i < n; i++) sum += w[i] * a[i];
    return sum;
}

static float dot_f16(int64_t n, const uint8_t* w, const uint8_t* a) {
    int64_t i = 0;
    float sum = 0;
#if defined(__wasm_simd128__)
    v128_t acc0 = wasm_f32x4_splat(0), acc1 = wasm_f32x4_splat(0);
    for (; i + 8 <= n; i += 8) {
        v128_t w0, w1, a0, a1;
        f16x8_to_f32(wasm_v128_load(w + 2 * i), &w0, &w1);
        f16x8_to_f32(wasm_v128_load(a + 2 * i), &a0, &a1);
        acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(w0, a0));
        acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(w1, a1));
    }
    sum = hsum_f32x4(wasm_f32x4_add(acc0, acc1));
#elif defined(__AVX2__) && defined(__F16C__)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + 2 * i)));
        const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + 2 * i + 16)));
        const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(a + 2 * i)));
        const __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(a + 2 * i + 16)));
        acc0 = _mm256_fmadd_ps(w0, a0, acc0);
        acc1 = _mm256_fmadd_ps(w1, a1, acc1);
    }
    sum = hsum_f32x8(_mm256_add_ps(acc0, acc1));
#endif
    for (; i < n; i++) sum += half(load_u16(w + 2 * i)) * half(load_u16(a + 2 * i));
    return sum;
}

static float dot_bf16(int64_t n, const uint8_t* w, const uint8_t* a) {
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += bf16_to_f32(load_u16(w + 2 * i)) * bf16_to_f32(load_u16(a + 2 * i));
    return sum;
}

static float dot_q8_0(int64_t n, const BlockQ8_0* w, const BlockQ8_0* a) {
    const int64_t nb = n / kQK8_0;
    int64_t b = 0;
    float sum = 0;
#if defined(__wasm_simd128__)
    v128_t acc = wasm_f32x4_splat(0);
    for (; b < nb; b++) {
        const v128_t s = wasm_i32x4_add(dot_i8x16(wasm_v128_load(w[b].qs), wasm_v128_load(a[b].qs)),
                                        dot_i8x16(wasm_v128_load(w[b].qs + 16), wasm_v128_load(a[b].qs + 16)));
        const float d = half(w[b].d) * half(a[b].d);
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(d)));
    }
    sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
    __m256 acc = _mm256_setzero_ps();
    for (; b < nb; b++) {
        const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        const __m256 q = dot_i8x32(_mm256_loadu_si256((const __m256i*)w[b].qs), _mm256_loadu_si256((const __m256i*)a[b].qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    sum = hsum_f32x8(acc);
#endif
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < kQK8_0; j++) s += (int32_t)w[b].qs[j] * a[b].qs[j];
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}

static float dot_q4_0(int64_t n, const BlockQ4_0* w, const BlockQ8_0* a) {
    const int64_t nb = n / kQK4_0;
    int64_t b = 0;
    float sum = 0;
#if defined(__wasm_simd128__)
    v128_t acc = wasm_f32x4_splat(0);
    const v128_t m4 = wasm_i8x16_splat(0x0f);
    const v128_t eight = wasm_i8x16_splat(8);
    for (; b < nb; b++) {
        const v128_t q = wasm_v128_load(w[b].qs);
        const v128_t lo = wasm_i8x16_sub(wasm_v128_and(q, m4), eight);
        const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), eight);
        const v128_t s = wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a[b].qs)),
                                        dot_i8x16(hi, wasm_v128_load(a[b].qs + 16)));
        const float d = half(w[b].d) * half(a[b].d);
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(d)));
    }
    sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i eight = _mm256_set1_epi8(8);
    for (; b < nb; b++) {
        const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
        const __m128i q = _mm_loadu_si128((const __m128i*)w[b].qs);
        // Low nibbles in the low lane (elements 0..15), high in the high lane.
        __m256i x = _mm256_insertf128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
        x = _mm256_sub_epi8(_mm256_and_si256(x, m4), eight);
        const __m256 p = dot_i8x32(x, _mm256_loadu_si256((const __m256i*)a[b].qs));
        acc = _mm256_fmadd_ps(d, p, acc);
    }
    sum = hsum_f32x8(acc);
#endif
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < kQK4_0 / 2; j++) {
            s += ((w[b].qs[j] & 0x0f) - 8) * a[b].qs[j];
            s += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + kQK4_0 / 2];
        }
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}

float vec_dot(TypeId t, int64_t n, const void* w, const void* a) {
    switch (t) {
        case TypeId::F32: return dot_f32(n, static_cast<const float*>(w), static_cast<const float*>(a));
        case TypeId::F16: return dot_f16(n, static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a));
        case TypeId::BF16: return dot_bf16(n, static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a));
        case TypeId::Q8_0: return dot_q8_0(n, static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(a));
        case TypeId::Q4_0: return dot_q4_0(n, static_cast<const BlockQ4_0*>(w), static_cast<const BlockQ8_0*>(a));
        default: fail(HOB_ERR_UNSUPPORTED_TYPE, std::string("no dot product for tensor type ") + type_name(t));
    }
}

}  // namespace hob
