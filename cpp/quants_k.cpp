// Kernels of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: 256-element
// super-blocks with 16 or 8 sub-block scales) and of their activation type
// Q8_K. A dot sums sub-block scale x integer dot in int32 over the whole
// super-block and converts once; minimums come from Q8_K's group sums.
// WASM SIMD128 and AVX2 paths sit next to the portable loop.
#include <cmath>
#include <type_traits>

#include "quants_impl.h"

namespace hob {
namespace qk {

// ---- activations ------------------------------------------------------------

// As llama.cpp's quantize_row_q8_K_ref (which its x86 build uses too): the
// element of largest magnitude maps to -127 exactly (scale -127/max with its
// sign), rounding to nearest even, and d = 1/scale.
void quantize_row_q8_k(const float* x, void* vy, int64_t n) {
    BlockQ8_K* y = static_cast<BlockQ8_K*>(vy);
    for (int64_t b = 0; b < n / kQK_K; b++, x += kQK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQK_K; j++) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            std::memset(&y[b], 0, sizeof(BlockQ8_K));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < kQK_K; j++) {
            const int v = (int)std::nearbyint(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < kQK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[b].qs[16 * g + j];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void dequantize_q8_k(const void* vx, float* y, int64_t n) {
    const BlockQ8_K* x = static_cast<const BlockQ8_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++) {
        for (int j = 0; j < kQK_K; j++) y[b * kQK_K + j] = x[b].d * x[b].qs[j];
    }
}

// ---- dequantization ---------------------------------------------------------

void dequantize_q2_k(const void* vx, float* y, int64_t n) {
    const BlockQ2_K* x = static_cast<const BlockQ2_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, y += kQK_K) {
        const float d = half(x[b].d), dmin = half(x[b].dmin);
        for (int e = 0; e < kQK_K; e++) {
            const int h = e / 128, s = (e / 32) % 4, l = e % 32;
            const uint8_t sc = x[b].scales[e / 16];
            const int q = (x[b].qs[32 * h + l] >> (2 * s)) & 3;
            y[e] = d * (sc & 0xf) * q - dmin * (sc >> 4);
        }
    }
}

void dequantize_q3_k(const void* vx, float* y, int64_t n) {
    const BlockQ3_K* x = static_cast<const BlockQ3_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, y += kQK_K) {
        const float d = half(x[b].d);
        for (int e = 0; e < kQK_K; e++) {
            const int h = e / 128, s = (e / 32) % 4, l = e % 32;
            const int low = (x[b].qs[32 * h + l] >> (2 * s)) & 3;
            const int high = (x[b].hmask[l] >> (4 * h + s)) & 1;
            y[e] = d * (scale_q3_k(e / 16, x[b].scales) - 32) * (low - (high ? 0 : 4));
        }
    }
}

void dequantize_q4_k(const void* vx, float* y, int64_t n) {
    const BlockQ4_K* x = static_cast<const BlockQ4_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, y += kQK_K) {
        const float d = half(x[b].d), dmin = half(x[b].dmin);
        for (int g = 0; g < 8; g++) {
            uint8_t sc, m;
            scale_min_k4(g, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t* q = x[b].qs + 32 * (g / 2);
            const int shift = 4 * (g % 2);
            for (int l = 0; l < 32; l++) y[32 * g + l] = dl * ((q[l] >> shift) & 0xf) - ml;
        }
    }
}

void dequantize_q5_k(const void* vx, float* y, int64_t n) {
    const BlockQ5_K* x = static_cast<const BlockQ5_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, y += kQK_K) {
        const float d = half(x[b].d), dmin = half(x[b].dmin);
        for (int g = 0; g < 8; g++) {
            uint8_t sc, m;
            scale_min_k4(g, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t* q = x[b].qs + 32 * (g / 2);
            const int shift = 4 * (g % 2);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xf) | (((x[b].qh[l] >> g) & 1) << 4);
                y[32 * g + l] = dl * v - ml;
            }
        }
    }
}

void dequantize_q6_k(const void* vx, float* y, int64_t n) {
    const BlockQ6_K* x = static_cast<const BlockQ6_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, y += kQK_K) {
        const float d = half(x[b].d);
        for (int e = 0; e < kQK_K; e++) {
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const int low = (x[b].ql[64 * h + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0xf;
            const int high = (x[b].qh[32 * h + l] >> (2 * k)) & 3;
            y[e] = d * x[b].scales[e / 16] * ((low | (high << 4)) - 32);
        }
    }
}

// ---- SIMD helpers -------------------------------------------------------------

#if defined(__wasm_simd128__)
static inline v128_t splat_i16(int v) { return wasm_i16x8_splat((int16_t)v); }
#elif defined(__AVX2__)
// sum over 32 pairs of q[j] * a[j] * scale, scale lo for j < 16 and hi for
// the rest, as 8 int32. q is signed with |q| <= 64, so the pairwise 16-bit
// sums of the unsigned-by-signed multiply cannot saturate.
static inline __m256i dot_i8x32_scaled(__m256i q, __m256i a, int lo, int hi) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
    const __m256i sc = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)), _mm_set1_epi16((short)hi), 1);
    return _mm256_madd_epi16(p, sc);
}

// As dot_i8x32_scaled for unsigned q (< 128), one multiply shorter.
static inline __m256i dot_u8x32_scaled(__m256i q, __m256i a, int lo, int hi) {
    const __m256i sc = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)), _mm_set1_epi16((short)hi), 1);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), sc);
}

static inline __m256i load32(const void* p) { return _mm256_loadu_si256((const __m256i*)p); }
#endif

// ---- dot products -------------------------------------------------------------

// Q2_K: sum = d_a d sum_g (sc_g & 15) q.a_g - d_a dmin sum_g (sc_g >> 4) bsum_g.
float dot_q2_k(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ2_K* w = static_cast<const BlockQ2_K*>(vw);
    const BlockQ8_K* a = static_cast<const BlockQ8_K*>(va);
    const int64_t nb = n / kQK_K;
    int64_t b = 0;
    float sum = 0, sum_min = 0;
    auto mins = [&](int64_t i) {
        int32_t s = 0;
        for (int g = 0; g < 16; g++) s += a[i].bsums[g] * (w[i].scales[g] >> 4);
        return a[i].d * half(w[i].dmin) * (float)s;
    };
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t three = wasm_i8x16_splat(3);
        for (; b < nb; b++) {
            const uint8_t* sc = w[b].scales;
            v128_t isum = wasm_i32x4_splat(0);
            for (int h = 0; h < 2; h++) {
                const v128_t q0 = wasm_v128_load(w[b].qs + 32 * h);
                const v128_t q1 = wasm_v128_load(w[b].qs + 32 * h + 16);
                for (int s = 0; s < 4; s++) {
                    const int g = 8 * h + 2 * s;
                    const int8_t* ya = a[b].qs + 128 * h + 32 * s;
                    const v128_t w0 = wasm_v128_and(wasm_u8x16_shr(q0, 2 * s), three);
                    const v128_t w1 = wasm_v128_and(wasm_u8x16_shr(q1, 2 * s), three);
                    isum = wasm_i32x4_add(isum, dot_i8x16_scaled(w0, wasm_v128_load(ya), splat_i16(sc[g] & 0xf)));
                    isum = wasm_i32x4_add(isum, dot_i8x16_scaled(w1, wasm_v128_load(ya + 16), splat_i16(sc[g + 1] & 0xf)));
                }
            }
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(a[b].d * half(w[b].d))));
            sum_min += mins(b);
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i three = _mm256_set1_epi8(3);
        for (; b < nb; b++) {
            const uint8_t* sc = w[b].scales;
            __m256i isum = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                const __m256i q = load32(w[b].qs + 32 * h);
                for (int s = 0; s < 4; s++) {
                    const int g = 8 * h + 2 * s;
                    const __m256i x = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), three);
                    isum = _mm256_add_epi32(isum, dot_u8x32_scaled(x, load32(a[b].qs + 128 * h + 32 * s), sc[g] & 0xf, sc[g + 1] & 0xf));
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half(w[b].d)), _mm256_cvtepi32_ps(isum), acc);
            sum_min += mins(b);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            const int h = g / 8, s = (g / 2) % 4, part = g % 2;
            const uint8_t* q = w[b].qs + 32 * h + 16 * part;
            const int8_t* ya = a[b].qs + 16 * g;
            int32_t sg = 0;
            for (int l = 0; l < 16; l++) sg += ((q[l] >> (2 * s)) & 3) * ya[l];
            isum += (w[b].scales[g] & 0xf) * sg;
        }
        sum += a[b].d * half(w[b].d) * (float)isum;
        sum_min += mins(b);
    }
    return sum - sum_min;
}

// Q3_K: sum = d d_a sum_g (scale_g - 32) (q - 4 * !hbit).a_g.
float dot_q3_k(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ3_K* w = static_cast<const BlockQ3_K*>(vw);
    const BlockQ8_K* a = static_cast<const BlockQ8_K*>(va);
    const int64_t nb = n / kQK_K;
    int64_t b = 0;
    float sum = 0;
    [[maybe_unused]] int sc[16];  // the SIMD paths' sub-block scales
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t three = wasm_i8x16_splat(3);
        const v128_t one = wasm_i8x16_splat(1);
        for (; b < nb; b++) {
            for (int g = 0; g < 16; g++) sc[g] = scale_q3_k(g, w[b].scales) - 32;
            const v128_t hm0 = wasm_v128_load(w[b].hmask);
            const v128_t hm1 = wasm_v128_load(w[b].hmask + 16);
            v128_t isum = wasm_i32x4_splat(0);
            for (int h = 0; h < 2; h++) {
                const v128_t q0 = wasm_v128_load(w[b].qs + 32 * h);
                const v128_t q1 = wasm_v128_load(w[b].qs + 32 * h + 16);
                for (int s = 0; s < 4; s++) {
                    const int g = 8 * h + 2 * s, bit = 4 * h + s;
                    const int8_t* ya = a[b].qs + 128 * h + 32 * s;
                    // 4 where the high bit is clear, 0 where it is set.
                    const v128_t off0 = wasm_i8x16_shl(wasm_v128_andnot(one, wasm_u8x16_shr(hm0, bit)), 2);
                    const v128_t off1 = wasm_i8x16_shl(wasm_v128_andnot(one, wasm_u8x16_shr(hm1, bit)), 2);
                    const v128_t w0 = wasm_i8x16_sub(wasm_v128_and(wasm_u8x16_shr(q0, 2 * s), three), off0);
                    const v128_t w1 = wasm_i8x16_sub(wasm_v128_and(wasm_u8x16_shr(q1, 2 * s), three), off1);
                    isum = wasm_i32x4_add(isum, dot_i8x16_scaled(w0, wasm_v128_load(ya), splat_i16(sc[g])));
                    isum = wasm_i32x4_add(isum, dot_i8x16_scaled(w1, wasm_v128_load(ya + 16), splat_i16(sc[g + 1])));
                }
            }
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(half(w[b].d) * a[b].d)));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i three = _mm256_set1_epi8(3);
        const __m256i one = _mm256_set1_epi8(1);
        for (; b < nb; b++) {
            for (int g = 0; g < 16; g++) sc[g] = scale_q3_k(g, w[b].scales) - 32;
            const __m256i hm = load32(w[b].hmask);
            __m256i isum = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                const __m256i q = load32(w[b].qs + 32 * h);
                for (int s = 0; s < 4; s++) {
                    const int g = 8 * h + 2 * s, bit = 4 * h + s;
                    const __m256i off = _mm256_slli_epi16(_mm256_andnot_si256(_mm256_srli_epi16(hm, bit), one), 2);
                    const __m256i x = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(q, 2 * s), three), off);
                    isum = _mm256_add_epi32(isum, dot_i8x32_scaled(x, load32(a[b].qs + 128 * h + 32 * s), sc[g], sc[g + 1]));
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            const int h = g / 8, s = (g / 2) % 4, part = g % 2;
            const uint8_t* q = w[b].qs + 32 * h + 16 * part;
            const uint8_t* hm = w[b].hmask + 16 * part;
            const int8_t* ya = a[b].qs + 16 * g;
            int32_t sg = 0;
            for (int l = 0; l < 16; l++) {
                const int v = ((q[l] >> (2 * s)) & 3) - (((hm[l] >> (4 * h + s)) & 1) ? 0 : 4);
                sg += v * ya[l];
            }
            isum += (scale_q3_k(g, w[b].scales) - 32) * sg;
        }
        sum += half(w[b].d) * a[b].d * (float)isum;
    }
    return sum;
}

// The fifth bits of a Q5_K block; Q4_K has none.
static inline const uint8_t* qh_of(const BlockQ4_K&) { return nullptr; }
static inline const uint8_t* qh_of(const BlockQ5_K& x) { return x.qh; }

// Q4_K and Q5_K share their scales, minimums and nibble order.
// sum = d_a d sum_g sc_g q.a_g - d_a dmin sum_g m_g bsum_g.
template <bool kFive, typename Block>
static float dot_q45_k(int64_t n, const Block* w, const BlockQ8_K* a, bool simd) {
    const int64_t nb = n / kQK_K;
    int64_t b = 0;
    float sum = 0, sum_min = 0;
    uint8_t sc[8], m[8];
    auto unpack = [&](int64_t i) {
        int32_t s = 0;
        for (int g = 0; g < 8; g++) {
            scale_min_k4(g, w[i].scales, &sc[g], &m[g]);
            s += m[g] * (a[i].bsums[2 * g] + a[i].bsums[2 * g + 1]);
        }
        sum_min += a[i].d * half(w[i].dmin) * (float)s;
    };
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        const v128_t one = wasm_i8x16_splat(1);
        for (; b < nb; b++) {
            unpack(b);
            v128_t hb0 = wasm_i8x16_splat(0), hb1 = hb0;
            if (kFive) {
                hb0 = wasm_v128_load(qh_of(w[b]));
                hb1 = wasm_v128_load(qh_of(w[b]) + 16);
            }
            v128_t isum = wasm_i32x4_splat(0);
            for (int j = 0; j < 4; j++) {
                const v128_t q0 = wasm_v128_load(w[b].qs + 32 * j);
                const v128_t q1 = wasm_v128_load(w[b].qs + 32 * j + 16);
                v128_t lo0 = wasm_v128_and(q0, m4), lo1 = wasm_v128_and(q1, m4);
                v128_t hi0 = wasm_u8x16_shr(q0, 4), hi1 = wasm_u8x16_shr(q1, 4);
                if (kFive) {
                    lo0 = wasm_v128_or(lo0, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb0, 2 * j), one), 4));
                    lo1 = wasm_v128_or(lo1, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb1, 2 * j), one), 4));
                    hi0 = wasm_v128_or(hi0, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb0, 2 * j + 1), one), 4));
                    hi1 = wasm_v128_or(hi1, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb1, 2 * j + 1), one), 4));
                }
                const int8_t* ya = a[b].qs + 64 * j;
                const v128_t s_lo = splat_i16(sc[2 * j]), s_hi = splat_i16(sc[2 * j + 1]);
                isum = wasm_i32x4_add(isum, dot_i8x16_scaled(lo0, wasm_v128_load(ya), s_lo));
                isum = wasm_i32x4_add(isum, dot_i8x16_scaled(lo1, wasm_v128_load(ya + 16), s_lo));
                isum = wasm_i32x4_add(isum, dot_i8x16_scaled(hi0, wasm_v128_load(ya + 32), s_hi));
                isum = wasm_i32x4_add(isum, dot_i8x16_scaled(hi1, wasm_v128_load(ya + 48), s_hi));
            }
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(a[b].d * half(w[b].d))));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i m4 = _mm256_set1_epi8(0x0f);
        const __m256i one = _mm256_set1_epi8(1);
        for (; b < nb; b++) {
            unpack(b);
            const __m256i hb = kFive ? load32(qh_of(w[b])) : _mm256_setzero_si256();
            __m256i isum = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                const __m256i q = load32(w[b].qs + 32 * j);
                __m256i lo = _mm256_and_si256(q, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (kFive) {
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4));
                }
                const int8_t* ya = a[b].qs + 64 * j;
                isum = _mm256_add_epi32(isum, dot_u8x32_scaled(lo, load32(ya), sc[2 * j], sc[2 * j]));
                isum = _mm256_add_epi32(isum, dot_u8x32_scaled(hi, load32(ya + 32), sc[2 * j + 1], sc[2 * j + 1]));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half(w[b].d)), _mm256_cvtepi32_ps(isum), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        unpack(b);
        const uint8_t* qh = kFive ? qh_of(w[b]) : nullptr;
        int32_t isum = 0;
        for (int g = 0; g < 8; g++) {
            const uint8_t* q = w[b].qs + 32 * (g / 2);
            const int8_t* ya = a[b].qs + 32 * g;
            const int shift = 4 * (g % 2);
            int32_t sg = 0;
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xf) | (kFive ? ((qh[l] >> g) & 1) << 4 : 0);
                sg += v * ya[l];
            }
            isum += sc[g] * sg;
        }
        sum += a[b].d * half(w[b].d) * (float)isum;
    }
    return sum - sum_min;
}

float dot_q4_k(int64_t n, const void* w, const void* a, bool simd) {
    return dot_q45_k<false>(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a), simd);
}

float dot_q5_k(int64_t n, const void* w, const void* a, bool simd) {
    return dot_q45_k<true>(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a), simd);
}

// Q6_K: sum = d d_a sum_g scales_g (q - 32).a_g.
float dot_q6_k(int64_t n, const void* vw, const void* va, bool simd) {
    const BlockQ6_K* w = static_cast<const BlockQ6_K*>(vw);
    const BlockQ8_K* a = static_cast<const BlockQ8_K*>(va);
    const int64_t nb = n / kQK_K;
    int64_t b = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc = wasm_f32x4_splat(0);
        const v128_t m4 = wasm_i8x16_splat(0x0f);
        const v128_t three = wasm_i8x16_splat(3);
        const v128_t off = wasm_i8x16_splat(32);
        for (; b < nb; b++) {
            v128_t isum = wasm_i32x4_splat(0);
            for (int h = 0; h < 2; h++) {
                const uint8_t* ql = w[b].ql + 64 * h;
                const int8_t* sc = w[b].scales + 8 * h;
                const int8_t* ya = a[b].qs + 128 * h;
                for (int part = 0; part < 2; part++) {
                    const v128_t l0 = wasm_v128_load(ql + 16 * part);       // elements k = 0, 2
                    const v128_t l1 = wasm_v128_load(ql + 32 + 16 * part);  // elements k = 1, 3
                    const v128_t qh = wasm_v128_load(w[b].qh + 32 * h + 16 * part);
                    const v128_t lows[4] = {wasm_v128_and(l0, m4), wasm_v128_and(l1, m4), wasm_u8x16_shr(l0, 4),
                                            wasm_u8x16_shr(l1, 4)};
                    for (int k = 0; k < 4; k++) {
                        const v128_t top = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(qh, 2 * k), three), 4);
                        const v128_t x = wasm_i8x16_sub(wasm_v128_or(lows[k], top), off);
                        const int o = 32 * k + 16 * part;
                        isum = wasm_i32x4_add(isum, dot_i8x16_scaled(x, wasm_v128_load(ya + o), splat_i16(sc[2 * k + part])));
                    }
                }
            }
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(half(w[b].d) * a[b].d)));
        }
        sum = hsum_f32x4(acc);
#elif defined(__AVX2__)
        __m256 acc = _mm256_setzero_ps();
        const __m256i m4 = _mm256_set1_epi8(0x0f);
        const __m256i three = _mm256_set1_epi8(3);
        const __m256i off = _mm256_set1_epi8(32);
        for (; b < nb; b++) {
            __m256i isum = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                const __m256i l0 = load32(w[b].ql + 64 * h);
                const __m256i l1 = load32(w[b].ql + 64 * h + 32);
                const __m256i qh = load32(w[b].qh + 32 * h);
                const int8_t* sc = w[b].scales + 8 * h;
                const __m256i lows[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                         _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
                for (int k = 0; k < 4; k++) {
                    const __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), three), 4);
                    const __m256i x = _mm256_sub_epi8(_mm256_or_si256(lows[k], top), off);
                    isum = _mm256_add_epi32(isum, dot_i8x32_scaled(x, load32(a[b].qs + 128 * h + 32 * k), sc[2 * k], sc[2 * k + 1]));
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        }
        sum = hsum_f32x8(acc);
#endif
    }
    for (; b < nb; b++) {
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            const int h = g / 8, k = (g / 2) % 4, part = g % 2;
            const uint8_t* ql = w[b].ql + 64 * h + 32 * (k & 1) + 16 * part;
            const uint8_t* qh = w[b].qh + 32 * h + 16 * part;
            const int8_t* ya = a[b].qs + 16 * g;
            int32_t sg = 0;
            for (int l = 0; l < 16; l++) {
                const int v = (((ql[l] >> (4 * (k >> 1))) & 0xf) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                sg += v * ya[l];
            }
            isum += w[b].scales[g] * sg;
        }
        sum += half(w[b].d) * a[b].d * (float)isum;
    }
    return sum;
}

// ---- one weight row against a tile of tokens ----------------------------------
// As for the 32-element types (quants_q.cpp): the batch's Q8_K activations
// are widened to int16 once per matmul, each super-block of weights is
// decoded once for up to four tokens. Decoding multiplies every level by its
// sub-block scale in 16 bits (|q * scale| <= 4096 for every type), so per
// token the inner loop is one pairwise 16-bit dot per 8 elements. Each lane
// sums the same integer products as the one-row kernel's lane, and the float
// accumulation per super-block is the same, so the results are bit-identical
// to vec_dot.

// A widened Q8_K super-block: its 256 values, then its 16 group sums.
constexpr int64_t kWideQ8K = kQK_K + kQK_K / 16;

// Weight rows and tokens per tile kernel call. Two rows per call (each
// activation load feeding both) measured no faster than one under V8's
// SIMD code generation, and slower for Q4_K and Q2_K (more live vectors
// than x64 has registers); the kernels keep the row count a parameter.
// Eight tokens per call measured faster than four on rows that stay in L1
// (Q2_K, Q3_K, Q6_K) but 12% slower in a whole prefill of a Llama-1B-shaped
// Q4_K model, whose activation rows do not: four it is.
constexpr int kTileRowsK = 1;
constexpr int kTileTokensK = 4;

void widen_q8_k_row(const void* vx, int64_t n, int16_t* q16, float* side) {
    const BlockQ8_K* x = static_cast<const BlockQ8_K*>(vx);
    for (int64_t b = 0; b < n / kQK_K; b++, q16 += kWideQ8K) {
        side[b] = x[b].d;
        for (int j = 0; j < kQK_K; j++) q16[j] = x[b].qs[j];
        for (int g = 0; g < kQK_K / 16; g++) q16[kQK_K + g] = x[b].bsums[g];
    }
}

#if defined(__wasm_simd128__)
namespace {

// Each type's decoder: init(block) reads what the sub-blocks share;
// chunk(c) gives elements 16c..16c+15 as levels times their sub-block scale
// in int16 (two halves); mins() the per-group minimum multipliers for the
// types with minimums.
struct TileQ2_K {
    using Block = BlockQ2_K;
    static constexpr bool kMin = true;
    const Block* w;
    void init(const Block& b) { w = &b; }
    inline void chunk(int c, v128_t* w0, v128_t* w1) const {
        const int h = c >> 3, s = (c >> 1) & 3, part = c & 1;
        const v128_t q = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(w->qs + 32 * h + 16 * part), 2 * s), wasm_i8x16_splat(3));
        const v128_t sc = wasm_u8x16_splat(w->scales[c] & 0xf);
        *w0 = wasm_u16x8_extmul_low_u8x16(q, sc);
        *w1 = wasm_u16x8_extmul_high_u8x16(q, sc);
    }
    inline void mins(v128_t* m0, v128_t* m1) const {
        const v128_t m = wasm_u8x16_shr(wasm_v128_load(w->scales), 4);
        *m0 = wasm_u16x8_extend_low_u8x16(m);
        *m1 = wasm_u16x8_extend_high_u8x16(m);
    }
};

struct TileQ3_K {
    using Block = BlockQ3_K;
    static constexpr bool kMin = false;
    const Block* w;
    int8_t sc[16];
    void init(const Block& b) {
        w = &b;
        for (int g = 0; g < 16; g++) sc[g] = (int8_t)(scale_q3_k(g, b.scales) - 32);
    }
    inline void chunk(int c, v128_t* w0, v128_t* w1) const {
        const int h = c >> 3, s = (c >> 1) & 3, part = c & 1, bit = 4 * h + s;
        const v128_t q = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(w->qs + 32 * h + 16 * part), 2 * s), wasm_i8x16_splat(3));
        // 4 where the high bit is clear, 0 where it is set.
        const v128_t off = wasm_i8x16_shl(wasm_v128_andnot(wasm_i8x16_splat(1), wasm_u8x16_shr(wasm_v128_load(w->hmask + 16 * part), bit)), 2);
        const v128_t x = wasm_i8x16_sub(q, off);
        const v128_t scale = wasm_i8x16_splat(sc[c]);
        *w0 = wasm_i16x8_extmul_low_i8x16(x, scale);
        *w1 = wasm_i16x8_extmul_high_i8x16(x, scale);
    }
    inline void mins(v128_t*, v128_t*) const {}
};

// Q4_K and Q5_K: element 64j + l is the low nibble of qs[32j + l], 64j + 32 + l
// the high one; chunk c is j = c / 4, nibble (c / 2) % 2, bytes 16 (c % 2).
template <bool kFive>
struct TileQ45_K {
    using Block = typename std::conditional<kFive, BlockQ5_K, BlockQ4_K>::type;
    static constexpr bool kMin = true;
    const Block* w;
    uint8_t sc[8], m[8];
    void init(const Block& b) {
        w = &b;
        for (int g = 0; g < 8; g++) scale_min_k4(g, b.scales, &sc[g], &m[g]);
    }
    inline void chunk(int c, v128_t* w0, v128_t* w1) const {
        const int j = c >> 2, high = (c >> 1) & 1, part = c & 1;
        v128_t q = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(w->qs + 32 * j + 16 * part), 4 * high), wasm_i8x16_splat(0x0f));
        if (kFive) {
            const v128_t hb = wasm_u8x16_shr(wasm_v128_load(qh_of(*w) + 16 * part), 2 * j + high);
            q = wasm_v128_or(q, wasm_i8x16_shl(wasm_v128_and(hb, wasm_i8x16_splat(1)), 4));
        }
        const v128_t scale = wasm_u8x16_splat(sc[c >> 1]);
        *w0 = wasm_u16x8_extmul_low_u8x16(q, scale);
        *w1 = wasm_u16x8_extmul_high_u8x16(q, scale);
    }
    // Minimum g covers groups of 16 2g and 2g + 1.
    inline void mins(v128_t* m0, v128_t* m1) const {
        *m0 = wasm_i16x8_make(m[0], m[0], m[1], m[1], m[2], m[2], m[3], m[3]);
        *m1 = wasm_i16x8_make(m[4], m[4], m[5], m[5], m[6], m[6], m[7], m[7]);
    }
};

// Q6_K: chunk c is half h = c / 8, k = (c / 2) % 4, bytes 16 (c % 2); its
// scale is scales[c].
struct TileQ6_K {
    using Block = BlockQ6_K;
    static constexpr bool kMin = false;
    const Block* w;
    void init(const Block& b) { w = &b; }
    inline void chunk(int c, v128_t* w0, v128_t* w1) const {
        const int h = c >> 3, k = (c >> 1) & 3, part = c & 1;
        const v128_t lo = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(w->ql + 64 * h + 32 * (k & 1) + 16 * part), 4 * (k >> 1)),
                                        wasm_i8x16_splat(0x0f));
        const v128_t top = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(w->qh + 32 * h + 16 * part), 2 * k),
                                                        wasm_i8x16_splat(3)), 4);
        const v128_t x = wasm_i8x16_sub(wasm_v128_or(lo, top), wasm_i8x16_splat(32));
        const v128_t scale = wasm_i8x16_splat(w->scales[c]);
        *w0 = wasm_i16x8_extmul_low_i8x16(x, scale);
        *w1 = wasm_i16x8_extmul_high_i8x16(x, scale);
    }
    inline void mins(v128_t*, v128_t*) const {}
};

// The minimums' scale of the types that have one.
inline float dmin_of(const BlockQ2_K& x) { return half(x.dmin); }
inline float dmin_of(const BlockQ4_K& x) { return half(x.dmin); }
inline float dmin_of(const BlockQ5_K& x) { return half(x.dmin); }
inline float dmin_of(const BlockQ3_K&) { return 0; }
inline float dmin_of(const BlockQ6_K&) { return 0; }

// R weight rows (row r at w + r * stride bytes) against NT tokens. Per
// super-block: integer lanes per row and token (every activation load
// feeds the R rows), then the weight scale times the token scale on them
// as the one-row kernels accumulate; the minimums summed apart and
// subtracted at the end.
template <typename K, int R, int NT>
void tile_k(int64_t nb, const uint8_t* w, size_t stride, const int16_t* a16, const float* ad, float* out, int out_stride) {
    using Block = typename K::Block;
    v128_t acc[R][NT];
    float sum_min[R][NT];
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < NT; j++) {
            acc[r][j] = wasm_f32x4_splat(0);
            sum_min[r][j] = 0;
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        const int16_t* a[NT];
        for (int j = 0; j < NT; j++) a[j] = a16 + (j * nb + b) * kWideQ8K;
        const Block* blk[R];
        for (int r = 0; r < R; r++) blk[r] = reinterpret_cast<const Block*>(w + r * stride) + b;
        K dec[R];
        for (int r = 0; r < R; r++) dec[r].init(*blk[r]);
        v128_t isum[R][NT];
        for (int r = 0; r < R; r++) {
            for (int j = 0; j < NT; j++) isum[r][j] = wasm_i32x4_splat(0);
        }
        // Unrolled: chunks that share bytes share their loads.
#pragma clang loop unroll(full)
        for (int c = 0; c < kQK_K / 16; c++) {
            v128_t w0[R], w1[R];
            for (int r = 0; r < R; r++) dec[r].chunk(c, &w0[r], &w1[r]);
            for (int j = 0; j < NT; j++) {
                const v128_t a0 = wasm_v128_load(a[j] + 16 * c), a1 = wasm_v128_load(a[j] + 16 * c + 8);
                for (int r = 0; r < R; r++) {
                    isum[r][j] = wasm_i32x4_add(isum[r][j], wasm_i32x4_add(wasm_i32x4_dot_i16x8(w0[r], a0), wasm_i32x4_dot_i16x8(w1[r], a1)));
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float dw = half(blk[r]->d);
            for (int j = 0; j < NT; j++) {
                acc[r][j] = wasm_f32x4_add(acc[r][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum[r][j]), wasm_f32x4_splat(ad[j * nb + b] * dw)));
            }
            if (K::kMin) {
                v128_t m0, m1;
                dec[r].mins(&m0, &m1);
                const float dmin = dmin_of(*blk[r]);
                for (int j = 0; j < NT; j++) {
                    const int32_t imin = hsum_i32x4(wasm_i32x4_add(wasm_i32x4_dot_i16x8(m0, wasm_v128_load(a[j] + kQK_K)),
                                                                   wasm_i32x4_dot_i16x8(m1, wasm_v128_load(a[j] + kQK_K + 8))));
                    sum_min[r][j] += ad[j * nb + b] * dmin * (float)imin;
                }
            }
        }
    }
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < NT; j++) out[r * out_stride + j] = K::kMin ? hsum_f32x4(acc[r][j]) - sum_min[r][j] : hsum_f32x4(acc[r][j]);
    }
}

// The last n_tok < N tokens, N - 1 or fewer at once.
template <typename K, int R, int N>
void tile_k_rest(int64_t nb, const uint8_t* w, size_t stride, const int16_t* a16, const float* ad, int n_tok, float* out,
                 int out_stride) {
    if constexpr (N > 1) {
        if (n_tok == N - 1) {
            tile_k<K, R, N - 1>(nb, w, stride, a16, ad, out, out_stride);
        } else {
            tile_k_rest<K, R, N - 1>(nb, w, stride, a16, ad, n_tok, out, out_stride);
        }
    }
}

template <typename K, int R>
void tile_k_rows(int64_t nb, const uint8_t* w, size_t stride, const int16_t* a16, const float* ad, int n_tok, float* out) {
    constexpr int G = kTileTokensK;
    int t = 0;
    for (; t + G <= n_tok; t += G) tile_k<K, R, G>(nb, w, stride, a16 + t * nb * kWideQ8K, ad + t * nb, out + t, n_tok);
    if (t < n_tok) tile_k_rest<K, R, G>(nb, w, stride, a16 + t * nb * kWideQ8K, ad + t * nb, n_tok - t, out + t, n_tok);
}

template <typename K>
void tile_k_any(int64_t n, const void* w, size_t stride, int n_rows, const int16_t* a16, const float* ad, int n_tok, float* out) {
    const int64_t nb = n / kQK_K;
    const uint8_t* wb = static_cast<const uint8_t*>(w);
    int r = 0;
    for (; r + kTileRowsK <= n_rows; r += kTileRowsK) {
        tile_k_rows<K, kTileRowsK>(nb, wb + r * stride, stride, a16, ad, n_tok, out + r * n_tok);
    }
    for (; r < n_rows; r++) tile_k_rows<K, 1>(nb, wb + r * stride, stride, a16, ad, n_tok, out + r * n_tok);
}

}  // namespace

bool has_tile_k(TypeId t) {
    return t == TypeId::Q2_K || t == TypeId::Q3_K || t == TypeId::Q4_K || t == TypeId::Q5_K || t == TypeId::Q6_K;
}

void dot_tile_k(TypeId t, int64_t n, const void* w, size_t stride, int n_rows, const int16_t* a16, const float* ad, int n_tok,
                float* out) {
    switch (t) {
        case TypeId::Q2_K: return tile_k_any<TileQ2_K>(n, w, stride, n_rows, a16, ad, n_tok, out);
        case TypeId::Q3_K: return tile_k_any<TileQ3_K>(n, w, stride, n_rows, a16, ad, n_tok, out);
        case TypeId::Q4_K: return tile_k_any<TileQ45_K<false>>(n, w, stride, n_rows, a16, ad, n_tok, out);
        case TypeId::Q5_K: return tile_k_any<TileQ45_K<true>>(n, w, stride, n_rows, a16, ad, n_tok, out);
        case TypeId::Q6_K: return tile_k_any<TileQ6_K>(n, w, stride, n_rows, a16, ad, n_tok, out);
        default: return;
    }
}
#else
bool has_tile_k(TypeId) { return false; }
void dot_tile_k(TypeId, int64_t, const void*, size_t, int, const int16_t*, const float*, int, float*) {}
#endif

}  // namespace qk
}  // namespace hob
