// Shared by the quants_*.cpp kernel files and nothing else: half lookups,
// the SIMD helpers every family uses, and the per-type kernels quants.cpp
// dispatches to. Each dot kernel takes `simd`: false runs only its portable
// loop, which the tests compare against the vector path.
#pragma once

#include <cstdint>

#include "common.h"
#include "quants.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#elif defined(__AVX2__)
#include <immintrin.h>
#endif

namespace hob {
namespace qk {

// Block scales are halves; converting them in the inner loop by bit
// manipulation costs more than the block's integer dot, so every half is
// converted once, at startup, into a table (256 KiB) at namespace scope: a
// function-local static would pay its initialization guard on every lookup.
struct HalfTable {
    float v[65536];
    HalfTable();
};
extern const HalfTable kHalf;

inline float half(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return kHalf.v[h];
#endif
}

#if defined(__wasm_simd128__)
inline float hsum_f32x4(v128_t v) {
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) +
           wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

inline int32_t hsum_i32x4(v128_t v) {
    return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
           wasm_i32x4_extract_lane(v, 3);
}

// Sum of products of two int8x16 vectors, as int32x4 partial sums.
inline v128_t dot_i8x16(v128_t a, v128_t b) {
    const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(a), wasm_i16x8_extend_low_i8x16(b));
    const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(a), wasm_i16x8_extend_high_i8x16(b));
    return wasm_i32x4_add(lo, hi);
}

// sum_j q[j] * a[j] * scale over 16 int8 pairs, as int32x4 partial sums; the
// 16-bit products must fit (|q| <= 64 against 8-bit activations does), and
// the scale rides on the 16-bit pairwise dot for free.
inline v128_t dot_i8x16_scaled(v128_t q, v128_t a, v128_t scale_i16) {
    const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extmul_low_i8x16(q, a), scale_i16);
    const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extmul_high_i8x16(q, a), scale_i16);
    return wasm_i32x4_add(lo, hi);
}

// 16 bits (one per element, starting at bit `first` of the little-endian
// word w) as bytes 0xff or 0x00.
inline v128_t bits_to_bytes_x16(uint32_t w, int first) {
    const uint32_t h = w >> first;
    const v128_t bytes = wasm_i8x16_swizzle(wasm_i16x8_splat((int16_t)h),
                                            wasm_i8x16_const(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const v128_t bit = wasm_u8x16_const(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    return wasm_i8x16_eq(wasm_v128_and(bytes, bit), bit);
}
#elif defined(__AVX2__)
inline float hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Products of signed bytes summed in pairs and quads, as 8 int32: the sign
// of x moves onto y so the unsigned-by-signed multiply can be used.
inline __m256i dot_i8x32_i32(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

inline __m256 dot_i8x32(__m256i x, __m256i y) { return _mm256_cvtepi32_ps(dot_i8x32_i32(x, y)); }

// 32 bits of a little-endian word as bytes 0xff or 0x00, bit j to byte j.
inline __m256i bits_to_bytes_x32(uint32_t w) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)w), _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
#endif

// ---- 32-element blocks (quants_q.cpp) -------------------------------------
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);
void dequantize_q4_0(const void* x, float* y, int64_t n);
void dequantize_q4_1(const void* x, float* y, int64_t n);
void dequantize_q5_0(const void* x, float* y, int64_t n);
void dequantize_q5_1(const void* x, float* y, int64_t n);
void dequantize_q8_0(const void* x, float* y, int64_t n);
void dequantize_q8_1(const void* x, float* y, int64_t n);
void dequantize_iq4_nl(const void* x, float* y, int64_t n);
float dot_q4_0(int64_t n, const void* w, const void* a, bool simd);
float dot_q4_1(int64_t n, const void* w, const void* a, bool simd);
float dot_q5_0(int64_t n, const void* w, const void* a, bool simd);
float dot_q5_1(int64_t n, const void* w, const void* a, bool simd);
float dot_q8_0(int64_t n, const void* w, const void* a, bool simd);
float dot_iq4_nl(int64_t n, const void* w, const void* a, bool simd);
// The tile kernels of the Q8_0- and Q8_1-activation types (see quants.h:
// vec_dot_tile).
void widen_q8_0_row(const void* x, int64_t n, int16_t* q16, float* side);
void widen_q8_1_row(const void* x, int64_t n, int16_t* q16, float* side);
bool has_tile_q(TypeId t);
void dot_tile_q(TypeId t, int64_t n, const void* w, const int16_t* a16, const float* side, int n_tok, float* out);

// ---- 256-element super-blocks (quants_k.cpp) ------------------------------
void quantize_row_q8_k(const float* x, void* y, int64_t n);
void dequantize_q2_k(const void* x, float* y, int64_t n);
void dequantize_q3_k(const void* x, float* y, int64_t n);
void dequantize_q4_k(const void* x, float* y, int64_t n);
void dequantize_q5_k(const void* x, float* y, int64_t n);
void dequantize_q6_k(const void* x, float* y, int64_t n);
void dequantize_q8_k(const void* x, float* y, int64_t n);
float dot_q2_k(int64_t n, const void* w, const void* a, bool simd);
float dot_q3_k(int64_t n, const void* w, const void* a, bool simd);
float dot_q4_k(int64_t n, const void* w, const void* a, bool simd);
float dot_q5_k(int64_t n, const void* w, const void* a, bool simd);
float dot_q6_k(int64_t n, const void* w, const void* a, bool simd);
// The K-quants' tile kernels; a widened Q8_K super-block is its 256 values
// then its 16 group sums, the side floats its scales.
void widen_q8_k_row(const void* x, int64_t n, int16_t* q16, float* side);
bool has_tile_k(TypeId t);
// Rows w + r * stride for r < n_rows; out[r * n_tok + j].
void dot_tile_k(TypeId t, int64_t n, const void* w, size_t stride, int n_rows, const int16_t* a16, const float* side,
                int n_tok, float* out);

}  // namespace qk
}  // namespace hob
