// Kernels of the 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and
// IQ4_NL weights, and the Q8_0 / Q8_1 activations they are dotted with.
// Dots are integer dots on 8-bit activations, scaled once per block, with a
// WASM SIMD128 and an AVX2 path next to the portable loop. K-quants are in
// quants_k.cpp.
#include <cmath>

#include "quants_impl.h"

namespace hob {

const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

namespace qk {

// ---- activations ------------------------------------------------------------

// One block of 32 floats to int8 with scale d = amax / 127; returns d and
// writes sum(qs) to *isum. The multiplier is 127/amax (not 1/f16(d)) and
// rounding is to nearest even, as llama.cpp's x86 path computes them, so
// the same activations give the same bytes.
static float quantize_block_q8(const float* x, int8_t* qs, int32_t* isum) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
#if defined(__wasm_simd128__)
    const v128_t vid = wasm_f32x4_splat(id);
    v128_t vsum = wasm_i32x4_splat(0);
    for (int j = 0; j < 32; j += 8) {
        const v128_t a = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j), vid)));
        const v128_t c = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + j + 4), vid)));
        vsum = wasm_i32x4_add(vsum, wasm_i32x4_add(a, c));
        const v128_t s16 = wasm_i16x8_narrow_i32x4(a, c);
        wasm_v128_store64_lane(qs + j, wasm_i8x16_narrow_i16x8(s16, s16), 0);
    }
    sum = hsum_i32x4(vsum);
#else
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)std::nearbyint(x[j] * id);
        sum += qs[j];
    }
#endif
    *isum = sum;
    return d;
}

void quantize_row_q8_0(const float* x, void* vy, int64_t n) {
    BlockQ8_0* y = static_cast<BlockQ8_0*>(vy);
    int32_t isum;
    for (int64_t b = 0; b < n / kQK8_0; b++) y[b].d = f32_to_f16(quantize_block_q8(x + b * kQK8_0, y[b].qs, &isum));
}

void quantize_row_q8_1(const float* x, void* vy, int64_t n) {
    BlockQ8_1* y = static_cast<BlockQ8_1*>(vy);
    for (int64_t b = 0; b < n / kQK8_1; b++) {
        int32_t isum;
        const float d = quantize_block_q8(x + b * kQK8_1, y[b].qs, &isum);
        y[b].d = f32_to_f16(d);
        y[b].s = f32_to_f16(d * (float)isum);
    }
}

// ---- dequantization ---------------------------------------------------------

void dequantize_q8_0(const void* vx, float* y, int64_t n) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(vx);
    for (int64_t b = 0; b < n / kQK8_0; b++) {
        const float d = half(x[b].d);
        for (int j = 0; j < kQK8_0; j++) y[b * kQK8_0 + j] = x[b].qs[j] * d;
    }
}

void dequantize_q8_1(const void* vx, float* y, int64_t n) {
    const BlockQ8_1* x = static_cast<const BlockQ8_1*>(vx);
    for (int64_t b = 0; b < n / kQK8_1; b++) {
        const float d = half(x[b].d);
        for (int j = 0; j < kQK8_1; j++) y[b * kQK8_1 + j] = x[b].qs[j] * d;
    }
}

void dequantize_q4_0(const void* vx, float* y, int64_t n) {
    const BlockQ4_0* x = static_cast<const BlockQ4_0*>(vx);
    for (int64_t b = 0; b < n / kQK4_0; b++, y += kQK4_0) {
        const float d = half(x[b].d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((x[b].qs[j] & 0xf) - 8) * d;
            y[j + 16] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const void* vx, float* y, int64_t n) {
    const BlockQ4_1* x = static_cast<const BlockQ4_1*>(vx);
    for (int64_t b = 0; b < n / kQK4_1; b++, y += kQK4_1) {
        const float d = half(x[b].d), m = half(x[b].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (x[b].qs[j] & 0xf) * d + m;
            y[j + 16] = (x[b].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_q5_0(const void* vx, float* y, int64_t n) {
    const BlockQ5_0* x = static_cast<const BlockQ5_0*>(vx);
    for (int64_t b = 0; b < n / kQK5_0; b++, y += kQK5_0) {
        const float d = half(x[b].d);
        uint32_t qh;
        std::memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int lo = (x[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
            const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = (lo - 16) * d;
            y[j + 16] = (hi - 16) * d;
        }
    }
}

void dequantize_q5_1(const void* vx, float* y, int64_t n) {
    const BlockQ5_1* x = static_cast<const BlockQ5_1*>(vx);
    for (int64_t b = 0; b < n / kQK5_1; b++, y += kQK5_1) {
        const float d = half(x[b].d), m = half(x[b].m);
        uint32_t qh;
        std::memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int lo = (x[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
            const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = lo * d + m;
            y[j + 16] = hi * d + m;
        }
    }
}

void dequantize_iq4_nl(const void* vx, float* y, int64_t n) {
    const BlockIQ4_NL* x = static_cast<const BlockIQ4_NL*>(vx);
    for (int64_t b = 0; b < n / kQK4_NL; b++, y += kQK4_NL) {
        const float d = half(x[b].d);
        for (int j = 0; j < 16; j++) {
            y[j] = kIq4nlValues[x[b].qs[j] & 0xf] * d;
            y[j + 16] = kIq4nlValues[x[b].qs[j] >> 4] * d;
        }
    }
}

// ---- dot products -------------------------------------------------------------
// Each kernel: a SIMD loop over blocks when `simd`, then the portable loop
// over whatever blocks remain (all of them when !simd). Per block the
// integer sum is exact in both; d_w * d_a scales it once.

float dot_q8_0(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ8_0* w = static_cast<const BlockQ8_0*>(vw);
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(va);
    const int64_t nb = n / kQK8_0;
    int64_t b = 0;
    float sum = 0;
    if (simd) {
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
    }
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < kQK8_0; j++) s += (int32_t)w[b].qs[j] * a[b].qs[j];
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}

#if defined(__AVX2__) && !defined(__wasm_simd128__)
// The 16 bytes of a 4-bit block as 32 values 0..15: low nibbles (elements
// 0..15) in the low lane, high nibbles (16..31) in the high lane.
static inline __m256i nibbles_x32(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128((const __m128i*)qs);
    const __m256i x = _mm256_insertf128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(x, _mm256_set1_epi8(0x0f));
}

// sum of u[j] * s[j] for unsigned bytes u (< 128) and signed bytes s, as 8 floats.
static inline __m256 dot_u8i8x32(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#endif

float dot_q4_0(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ4_0* w = static_cast<const BlockQ4_0*>(vw);
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(va);
    const int64_t nb = n / kQK4_0;
    int64_t b = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        const v128_t eight = wasm_i8x16_splat(8);
        for (; b < nb; b++) {
            const v128_t q = wasm_v128_load(w[b].qs);
            const v128_t lo = wasm_i8x16_sub(wasm_v128_and(q, m4), eight);
            const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), eight);
            const v128_t s = wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a[b].qs)), dot_i8x16(hi, wasm_v128_load(a[b].qs + 16)));
            const float d = half(w[b].d) * half(a[b].d);
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(d)));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i eight = _mm256_set1_epi8(8);
        for (; b < nb; b++) {
            const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
            const __m256i x = _mm256_sub_epi8(nibbles_x32(w[b].qs), eight);
            acc = _mm256_fmadd_ps(d, dot_i8x32(x, _mm256_loadu_si256((const __m256i*)a[b].qs)), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((w[b].qs[j] & 0x0f) - 8) * a[b].qs[j];
            s += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}

// Q4_1 against Q8_1: d_w d_a sum(q_w q_a) + m_w s_a, the minimum's share
// coming from the activations' precomputed s = d_a sum(q_a).
float dot_q4_1(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ4_1* w = static_cast<const BlockQ4_1*>(vw);
    const BlockQ8_1* a = static_cast<const BlockQ8_1*>(va);
    const int64_t nb = n / kQK4_1;
    int64_t b = 0;
    float sum = 0, summs = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        for (; b < nb; b++) {
            const v128_t q = wasm_v128_load(w[b].qs);
            const v128_t s = wasm_i32x4_add(dot_i8x16(wasm_v128_and(q, m4), wasm_v128_load(a[b].qs)),
                                            dot_i8x16(wasm_u8x16_shr(q, 4), wasm_v128_load(a[b].qs + 16)));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(half(w[b].d) * half(a[b].d))));
            summs += half(w[b].m) * half(a[b].s);
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        for (; b < nb; b++) {
            const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
            acc = _mm256_fmadd_ps(d, dot_u8i8x32(nibbles_x32(w[b].qs), _mm256_loadu_si256((const __m256i*)a[b].qs)), acc);
            summs += half(w[b].m) * half(a[b].s);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++) s += (w[b].qs[j] & 0x0f) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        sum += (float)s * (half(w[b].d) * half(a[b].d));
        summs += half(w[b].m) * half(a[b].s);
    }
    return sum + summs;
}

// Q5_0 against Q8_0: the fifth bits of qh complete the nibbles; the -16
// offset is folded in by subtracting 16 where the bit is clear.
float dot_q5_0(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ5_0* w = static_cast<const BlockQ5_0*>(vw);
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(va);
    const int64_t nb = n / kQK5_0;
    int64_t b = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        const v128_t sixteen = wasm_i8x16_splat(16);
        for (; b < nb; b++) {
            uint32_t qh;
            std::memcpy(&qh, w[b].qh, 4);
            const v128_t q = wasm_v128_load(w[b].qs);
            const v128_t lo = wasm_i8x16_sub(wasm_v128_and(q, m4), wasm_v128_andnot(sixteen, bits_to_bytes_x16(qh, 0)));
            const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), wasm_v128_andnot(sixteen, bits_to_bytes_x16(qh, 16)));
            const v128_t s = wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a[b].qs)), dot_i8x16(hi, wasm_v128_load(a[b].qs + 16)));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(half(w[b].d) * half(a[b].d))));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i sixteen = _mm256_set1_epi8(16);
        for (; b < nb; b++) {
            uint32_t qh;
            std::memcpy(&qh, w[b].qh, 4);
            const __m256i x = _mm256_sub_epi8(nibbles_x32(w[b].qs), _mm256_andnot_si256(bits_to_bytes_x32(qh), sixteen));
            const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
            acc = _mm256_fmadd_ps(d, dot_i8x32(x, _mm256_loadu_si256((const __m256i*)a[b].qs)), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        uint32_t qh;
        std::memcpy(&qh, w[b].qh, 4);
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = ((w[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4)) - 16;
            const int hi = ((w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            s += lo * a[b].qs[j] + hi * a[b].qs[j + 16];
        }
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}

// Q5_1 against Q8_1: Q4_1's scheme with the fifth bit added as 16.
float dot_q5_1(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ5_1* w = static_cast<const BlockQ5_1*>(vw);
    const BlockQ8_1* a = static_cast<const BlockQ8_1*>(va);
    const int64_t nb = n / kQK5_1;
    int64_t b = 0;
    float sum = 0, summs = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        const v128_t sixteen = wasm_i8x16_splat(16);
        for (; b < nb; b++) {
            uint32_t qh;
            std::memcpy(&qh, w[b].qh, 4);
            const v128_t q = wasm_v128_load(w[b].qs);
            const v128_t lo = wasm_v128_or(wasm_v128_and(q, m4), wasm_v128_and(sixteen, bits_to_bytes_x16(qh, 0)));
            const v128_t hi = wasm_v128_or(wasm_u8x16_shr(q, 4), wasm_v128_and(sixteen, bits_to_bytes_x16(qh, 16)));
            const v128_t s = wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a[b].qs)), dot_i8x16(hi, wasm_v128_load(a[b].qs + 16)));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(half(w[b].d) * half(a[b].d))));
            summs += half(w[b].m) * half(a[b].s);
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i sixteen = _mm256_set1_epi8(16);
        for (; b < nb; b++) {
            uint32_t qh;
            std::memcpy(&qh, w[b].qh, 4);
            const __m256i x = _mm256_or_si256(nibbles_x32(w[b].qs), _mm256_and_si256(bits_to_bytes_x32(qh), sixteen));
            const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
            acc = _mm256_fmadd_ps(d, dot_u8i8x32(x, _mm256_loadu_si256((const __m256i*)a[b].qs)), acc);
            summs += half(w[b].m) * half(a[b].s);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        uint32_t qh;
        std::memcpy(&qh, w[b].qh, 4);
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = (w[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
            const int hi = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            s += lo * a[b].qs[j] + hi * a[b].qs[j + 16];
        }
        sum += (float)s * (half(w[b].d) * half(a[b].d));
        summs += half(w[b].m) * half(a[b].s);
    }
    return sum + summs;
}

// IQ4_NL against Q8_0: the nibbles index the 16 levels with a byte shuffle.
float dot_iq4_nl(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockIQ4_NL* w = static_cast<const BlockIQ4_NL*>(vw);
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(va);
    const int64_t nb = n / kQK4_NL;
    int64_t b = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t values = wasm_v128_load(kIq4nlValues);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        for (; b < nb; b++) {
            const v128_t q = wasm_v128_load(w[b].qs);
            const v128_t lo = wasm_i8x16_swizzle(values, wasm_v128_and(q, m4));
            const v128_t hi = wasm_i8x16_swizzle(values, wasm_u8x16_shr(q, 4));
            const v128_t s = wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a[b].qs)), dot_i8x16(hi, wasm_v128_load(a[b].qs + 16)));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(half(w[b].d) * half(a[b].d))));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)kIq4nlValues));
        for (; b < nb; b++) {
            const __m256i x = _mm256_shuffle_epi8(values, nibbles_x32(w[b].qs));
            const __m256 d = _mm256_set1_ps(half(w[b].d) * half(a[b].d));
            acc = _mm256_fmadd_ps(d, dot_i8x32(x, _mm256_loadu_si256((const __m256i*)a[b].qs)), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            s += kIq4nlValues[w[b].qs[j] & 0xf] * a[b].qs[j] + kIq4nlValues[w[b].qs[j] >> 4] * a[b].qs[j + 16];
        }
        sum += (float)s * (half(w[b].d) * half(a[b].d));
    }
    return sum;
}


// ---- one weight row against a tile of tokens ----------------------------------
// Prefill multiplies every weight row with a batch of tokens. Here the batch's
// Q8_0 (or Q8_1) activations come widened to int16 once per matmul, and each weight
// block is decoded (nibbles, fifth bits, levels) and widened once for up to
// four tokens, whose partial sums stay in registers: per token and block
// the inner loop is four pairwise 16-bit dots. The lanes and the float
// accumulation are those of the one-row kernels above, so the results are
// bit-identical to vec_dot.

void widen_q8_0_row(const void* vx, int64_t n, int16_t* q16, float* scales) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(vx);
    for (int64_t b = 0; b < n / kQK8_0; b++) {
        scales[b] = half(x[b].d);
        for (int j = 0; j < kQK8_0; j++) q16[b * kQK8_0 + j] = x[b].qs[j];
    }
}

// Q8_1 rows widen as Q8_0's do; the side floats are the block scales d
// (n / 32 of them) followed by the block sums s (as many).
void widen_q8_1_row(const void* vx, int64_t n, int16_t* q16, float* side) {
    const BlockQ8_1* x = static_cast<const BlockQ8_1*>(vx);
    const int64_t nb = n / kQK8_1;
    for (int64_t b = 0; b < nb; b++) {
        side[b] = half(x[b].d);
        side[nb + b] = half(x[b].s);
        for (int j = 0; j < kQK8_1; j++) q16[b * kQK8_1 + j] = x[b].qs[j];
    }
}

#if defined(__wasm_simd128__)
namespace {

// A weight block as two int8x16 halves (elements 0..15, 16..31) of its
// signed levels, and its scale.
struct DecodeQ8_0 {
    static constexpr size_t kBytes = sizeof(BlockQ8_0);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(p);
        *lo = wasm_v128_load(b->qs);
        *hi = wasm_v128_load(b->qs + 16);
        return half(b->d);
    }
};

struct DecodeQ4_0 {
    static constexpr size_t kBytes = sizeof(BlockQ4_0);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi) {
        const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(p);
        const v128_t q = wasm_v128_load(b->qs);
        *lo = wasm_i8x16_sub(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), wasm_i8x16_splat(8));
        *hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), wasm_i8x16_splat(8));
        return half(b->d);
    }
};

struct DecodeQ5_0 {
    static constexpr size_t kBytes = sizeof(BlockQ5_0);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi) {
        const BlockQ5_0* b = reinterpret_cast<const BlockQ5_0*>(p);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        const v128_t q = wasm_v128_load(b->qs);
        const v128_t sixteen = wasm_i8x16_splat(16);
        *lo = wasm_i8x16_sub(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), wasm_v128_andnot(sixteen, bits_to_bytes_x16(qh, 0)));
        *hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), wasm_v128_andnot(sixteen, bits_to_bytes_x16(qh, 16)));
        return half(b->d);
    }
};

struct DecodeIQ4_NL {
    static constexpr size_t kBytes = sizeof(BlockIQ4_NL);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi) {
        const BlockIQ4_NL* b = reinterpret_cast<const BlockIQ4_NL*>(p);
        const v128_t values = wasm_v128_load(kIq4nlValues);
        const v128_t q = wasm_v128_load(b->qs);
        *lo = wasm_i8x16_swizzle(values, wasm_v128_and(q, wasm_i8x16_splat(0x0f)));
        *hi = wasm_i8x16_swizzle(values, wasm_u8x16_shr(q, 4));
        return half(b->d);
    }
};

// The types with a minimum: levels 0..31 and the block's scale and minimum.
struct DecodeQ4_1 {
    static constexpr size_t kBytes = sizeof(BlockQ4_1);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi, float* m) {
        const BlockQ4_1* b = reinterpret_cast<const BlockQ4_1*>(p);
        const v128_t q = wasm_v128_load(b->qs);
        *lo = wasm_v128_and(q, wasm_i8x16_splat(0x0f));
        *hi = wasm_u8x16_shr(q, 4);
        *m = half(b->m);
        return half(b->d);
    }
};

struct DecodeQ5_1 {
    static constexpr size_t kBytes = sizeof(BlockQ5_1);
    static float decode(const uint8_t* p, v128_t* lo, v128_t* hi, float* m) {
        const BlockQ5_1* b = reinterpret_cast<const BlockQ5_1*>(p);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        const v128_t q = wasm_v128_load(b->qs);
        const v128_t sixteen = wasm_i8x16_splat(16);
        *lo = wasm_v128_or(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), wasm_v128_and(sixteen, bits_to_bytes_x16(qh, 0)));
        *hi = wasm_v128_or(wasm_u8x16_shr(q, 4), wasm_v128_and(sixteen, bits_to_bytes_x16(qh, 16)));
        *m = half(b->m);
        return half(b->d);
    }
};

template <typename D, int NT>
void tile_q8_0(int64_t nb, const uint8_t* w, const int16_t* a16, const float* as, int64_t n, float* out) {
    v128_t acc[NT];
    for (int j = 0; j < NT; j++) acc[j] = wasm_f32x4_splat(0);
    for (int64_t b = 0; b < nb; b++, w += D::kBytes) {
        v128_t lo, hi;
        const float dw = D::decode(w, &lo, &hi);
        const v128_t w0 = wasm_i16x8_extend_low_i8x16(lo), w1 = wasm_i16x8_extend_high_i8x16(lo);
        const v128_t w2 = wasm_i16x8_extend_low_i8x16(hi), w3 = wasm_i16x8_extend_high_i8x16(hi);
        for (int j = 0; j < NT; j++) {
            const int16_t* p = a16 + j * n + b * kQK8_0;
            const v128_t s0 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w0, wasm_v128_load(p)), wasm_i32x4_dot_i16x8(w1, wasm_v128_load(p + 8)));
            const v128_t s1 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w2, wasm_v128_load(p + 16)), wasm_i32x4_dot_i16x8(w3, wasm_v128_load(p + 24)));
            const float d = dw * as[j * nb + b];
            acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_add(s0, s1)), wasm_f32x4_splat(d)));
        }
    }
    for (int j = 0; j < NT; j++) out[j] = hsum_f32x4(acc[j]);
}

// As tile_q8_0 against Q8_1 tokens, whose side floats are d then s: the
// minimum's share m_w s_a is summed per block apart, as dot_q4_1 sums it.
template <typename D, int NT>
void tile_q8_1(int64_t nb, const uint8_t* w, const int16_t* a16, const float* as, int64_t n, float* out) {
    v128_t acc[NT];
    float summs[NT];
    for (int j = 0; j < NT; j++) {
        acc[j] = wasm_f32x4_splat(0);
        summs[j] = 0;
    }
    for (int64_t b = 0; b < nb; b++, w += D::kBytes) {
        v128_t lo, hi;
        float mw;
        const float dw = D::decode(w, &lo, &hi, &mw);
        const v128_t w0 = wasm_i16x8_extend_low_i8x16(lo), w1 = wasm_i16x8_extend_high_i8x16(lo);
        const v128_t w2 = wasm_i16x8_extend_low_i8x16(hi), w3 = wasm_i16x8_extend_high_i8x16(hi);
        for (int j = 0; j < NT; j++) {
            const int16_t* p = a16 + j * n + b * kQK8_1;
            const float* sj = as + j * 2 * nb;
            const v128_t s0 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w0, wasm_v128_load(p)), wasm_i32x4_dot_i16x8(w1, wasm_v128_load(p + 8)));
            const v128_t s1 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w2, wasm_v128_load(p + 16)), wasm_i32x4_dot_i16x8(w3, wasm_v128_load(p + 24)));
            acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_add(s0, s1)), wasm_f32x4_splat(dw * sj[b])));
            summs[j] += mw * sj[nb + b];
        }
    }
    for (int j = 0; j < NT; j++) out[j] = hsum_f32x4(acc[j]) + summs[j];
}

template <typename D>
void tile_q8_1_any(int64_t n, const void* w, const int16_t* a16, const float* as, int n_tok, float* out) {
    const int64_t nb = n / kQK8_1;
    const uint8_t* wb = static_cast<const uint8_t*>(w);
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) tile_q8_1<D, 4>(nb, wb, a16 + t * n, as + t * 2 * nb, n, out + t);
    switch (n_tok - t) {
        case 3: tile_q8_1<D, 3>(nb, wb, a16 + t * n, as + t * 2 * nb, n, out + t); break;
        case 2: tile_q8_1<D, 2>(nb, wb, a16 + t * n, as + t * 2 * nb, n, out + t); break;
        case 1: tile_q8_1<D, 1>(nb, wb, a16 + t * n, as + t * 2 * nb, n, out + t); break;
        default: break;
    }
}

template <typename D>
void tile_q8_0_any(int64_t n, const void* w, const int16_t* a16, const float* as, int n_tok, float* out) {
    const int64_t nb = n / kQK8_0;
    const uint8_t* wb = static_cast<const uint8_t*>(w);
    int t = 0;
    for (; t + 4 <= n_tok; t += 4) tile_q8_0<D, 4>(nb, wb, a16 + t * n, as + t * nb, n, out + t);
    switch (n_tok - t) {
        case 3: tile_q8_0<D, 3>(nb, wb, a16 + t * n, as + t * nb, n, out + t); break;
        case 2: tile_q8_0<D, 2>(nb, wb, a16 + t * n, as + t * nb, n, out + t); break;
        case 1: tile_q8_0<D, 1>(nb, wb, a16 + t * n, as + t * nb, n, out + t); break;
        default: break;
    }
}

}  // namespace

bool has_tile_q(TypeId t) {
    return t == TypeId::Q4_0 || t == TypeId::Q5_0 || t == TypeId::Q8_0 || t == TypeId::IQ4_NL || t == TypeId::Q4_1 ||
           t == TypeId::Q5_1;
}

void dot_tile_q(TypeId t, int64_t n, const void* w, const int16_t* a16, const float* as, int n_tok, float* out) {
    switch (t) {
        case TypeId::Q4_0: return tile_q8_0_any<DecodeQ4_0>(n, w, a16, as, n_tok, out);
        case TypeId::Q5_0: return tile_q8_0_any<DecodeQ5_0>(n, w, a16, as, n_tok, out);
        case TypeId::Q8_0: return tile_q8_0_any<DecodeQ8_0>(n, w, a16, as, n_tok, out);
        case TypeId::IQ4_NL: return tile_q8_0_any<DecodeIQ4_NL>(n, w, a16, as, n_tok, out);
        case TypeId::Q4_1: return tile_q8_1_any<DecodeQ4_1>(n, w, a16, as, n_tok, out);
        case TypeId::Q5_1: return tile_q8_1_any<DecodeQ5_1>(n, w, a16, as, n_tok, out);
        default: return;
    }
}
#else
bool has_tile_q(TypeId) { return false; }
void dot_tile_q(TypeId, int64_t, const void*, const int16_t*, const float*, int, float*) {}
#endif

}  // namespace qk
}  // namespace hob
