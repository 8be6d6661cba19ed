// Quantized tensor types the engine computes with: block layouts (byte for
// byte those of GGUF files), the conversion of activations to each weight
// type's dot-product partner (the "vec-dot type", as llama.cpp pairs them),
// row dequantization, and the dot product of one weight row with one
// converted activation row. Kernels live in quants_q.cpp (32-element blocks)
// and quants_k.cpp (256-element super-blocks); this header is their surface.
#pragma once

#include <cstddef>
#include <cstdint>

#include "types.h"

namespace hob {

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK4_NL = 32;
constexpr int kQK_K = 256;  // elements of a K-quant super-block
constexpr int kKScaleBytes = 12;

// ---- 32-element blocks ----------------------------------------------------
// In the 4- and 5-bit types byte j of qs holds element j in its low nibble
// and element j + 16 in its high nibble; in the 5-bit types bit j of the
// little-endian word qh is the fifth bit of element j.

// element = d * (q - 8), q in 0..15.
struct BlockQ4_0 {
    uint16_t d;  // f16 scale
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");

// element = d * q + m, q in 0..15.
struct BlockQ4_1 {
    uint16_t d;  // f16 scale
    uint16_t m;  // f16 minimum
    uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block is 20 bytes");

// element = d * (q - 16), q in 0..31.
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block is 22 bytes");

// element = d * q + m, q in 0..31.
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block is 24 bytes");

// 8-bit weights or activations: element j is qs[j] * d.
struct BlockQ8_0 {
    uint16_t d;  // f16 scale
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");

// Activations for weights with a minimum (Q4_1, Q5_1): Q8_0 plus s = d * sum(qs),
// which turns the minimum's share of a dot product into one multiply.
struct BlockQ8_1 {
    uint16_t d;  // f16 scale
    uint16_t s;  // f16 of d * sum(qs)
    int8_t qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block is 36 bytes");

// Non-linear 4-bit: element = d * kIq4nlValues[q], q in 0..15.
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[kQK4_NL / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "IQ4_NL block is 18 bytes");

// The 16 levels of IQ4_NL (ggml's kvalues_iq4nl): denser near zero, where
// trained weights are.
extern const int8_t kIq4nlValues[16];

// ---- 256-element super-blocks (K-quants) ------------------------------------

// 16 groups of 16: element = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3,
// sc = scales[group]. Element 128h + 32s + l is bits 2s..2s+1 of qs[32h + l].
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];
    uint8_t qs[kQK_K / 4];
    uint16_t d;
    uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block is 84 bytes");

// 16 groups of 16: element = d * (scale - 32) * (q - 4 * !hbit), q in 0..3
// placed as in Q2_K; the high bit of element 128h + 32s + l is bit 4h + s of
// hmask[l]. The 16 six-bit scales are packed into 12 bytes: low nibbles of
// scales 0..7 then high nibbles (scales 8..15), their top two bits in bytes
// 8..11 (scale i: bits 2(i/4) of byte 8 + i%4).
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];
    uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block is 110 bytes");

// 8 groups of 32: element = d * sc * q - dmin * m, q in 0..15; element
// 64j + l is the low nibble of qs[32j + l], 64j + 32 + l the high one. The
// eight six-bit scales and mins are packed into 12 bytes (see scale_min_k4).
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block is 144 bytes");

// Q4_K with a fifth bit: bit 2j of qh[l] for element 64j + l, bit 2j + 1 for
// element 64j + 32 + l.
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block is 176 bytes");

// 16 groups of 16: element = d * scales[group] * (q - 32), q in 0..63. In
// half h, element 128h + 32k + l (k 0..3, l 0..31) takes its low four bits
// from ql[64h + l + 32(k & 1)] (low nibble for k < 2, high otherwise) and its
// top two from bits 2k..2k+1 of qh[32h + l].
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block is 210 bytes");

// Activations for the K-quants: element = d * qs[j], plus the sums of qs in
// groups of 16, which fold the K-quants' minimums into a few multiplies.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block is 292 bytes");

// Scale j (0..7) and minimum j of a Q4_K/Q5_K block's packed scales: j < 4
// are the low six bits of bytes j and j + 4; j >= 4 take their low four bits
// from byte j + 4 (scale: low nibble, min: high nibble) and their top two
// from the spare top bits of bytes j - 4 and j.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Scale i (0..15) of a Q3_K block, as stored (subtract 32 for its value).
inline int scale_q3_k(int i, const uint8_t* s) {
    const int low = i < 8 ? (s[i] & 0xf) : (s[i - 8] >> 4);
    const int high = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return low | (high << 4);
}

// ---- operations -------------------------------------------------------------

// Every half as a float, indexed by its bits (exact; built on first use).
// Faster than converting by bit manipulation where there is no F16C.
const float* half_table();

// True if matmuls over weights of this type are implemented.
bool type_supported(TypeId t);

// The supported weight types as a list for messages: "F32, F16, ..., IQ4_NL".
const char* supported_types_text();

// The type activations are converted to before a dot with weights of type t:
// F32, F16 and BF16 for themselves; Q8_0 for Q4_0, Q5_0, Q8_0 and IQ4_NL;
// Q8_1 for Q4_1 and Q5_1; Q8_K for the K-quants.
TypeId vec_dot_type(TypeId weights);

// Bytes of one row of n elements; fails if n is not a multiple of the
// type's block size.
size_t row_size(TypeId t, int64_t n);

// Converts n floats to type t (an activation type from vec_dot_type).
void quantize_row(TypeId t, const float* x, void* out, int64_t n);

// Expands n elements of type t to floats.
void dequantize_row(TypeId t, const void* x, float* y, int64_t n);

// sum_i w[i] * a[i] over n elements, w a row of type t and a a row of
// vec_dot_type(t).
float vec_dot(TypeId t, int64_t n, const void* w, const void* a);

// Tiled dots for prefill: one weight row against n_tok tokens at once,
// each weight block decoded once per few tokens. Exists for the quantized
// types (all but F32, F16, BF16) where SIMD128 is on. Their activations
// (rows of vec_dot_type) are widened once per matmul: per token, `q16`
// int16 values (Q8_0, Q8_1: the n values; Q8_K: per super-block its 256
// values then its 16 group sums) and `side` floats (Q8_0: the n / 32 block
// scales; Q8_1: those, then the n / 32 block sums s; Q8_K: the n / 256
// scales). Token j's widened row starts j * q16 and j * side in. The
// weights are n_rows rows, row r at w + r * w_stride bytes; out[r * n_tok
// + j] equals vec_dot of row r with token j's row, bit for bit.
struct WidenedSize {
    size_t q16, side;
};
bool has_tile_kernel(TypeId weights);
WidenedSize widened_size(TypeId act, int64_t n);
void widen_activations(TypeId act, const void* row, int64_t n, int16_t* q16, float* side);
void vec_dot_tile(TypeId t, int64_t n, const void* w, size_t w_stride, int n_rows, const int16_t* a16, const float* side,
                  int n_tok, float* out);

// vec_dot without SIMD: the portable path the SIMD ones are tested against.
// Block sums are the same integers; only the float summation order differs.
float vec_dot_scalar(TypeId t, int64_t n, const void* w, const void* a);

}  // namespace hob
