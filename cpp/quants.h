// Quantized tensor types the engine computes with: block layouts, the
// conversion of activations to each weight type's dot-product partner (the
// "vec-dot type", as llama.cpp pairs them), row dequantization, and the
// dot product of one weight row with one converted activation row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "types.h"

namespace hob {

constexpr int kQK4_0 = 32;
constexpr int kQK8_0 = 32;

// 4-bit weights: element j of the block is (qs[j] & 15) - 8 for j < 16 and
// (qs[j - 16] >> 4) - 8 otherwise, times d.
struct BlockQ4_0 {
    uint16_t d;  // f16 scale
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");

// 8-bit weights or activations: element j is qs[j] * d.
struct BlockQ8_0 {
    uint16_t d;  // f16 scale
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");

// Every half as a float, indexed by its bits (exact; built on first use).
// Faster than converting by bit manipulation where there is no F16C.
const float* half_table();

// True if matmuls over weights of this type are implemented.
bool type_supported(TypeId t);

// The type activations are converted to before a dot with weights of type t:
// F32 for F32, F16 for F16, BF16 for BF16, Q8_0 for Q4_0 and Q8_0.
TypeId vec_dot_type(TypeId weights);

// Bytes of one row of n elements (n a multiple of the block size).
size_t row_size(TypeId t, int64_t n);

// Converts n floats to type t (an activation type from vec_dot_type).
void quantize_row(TypeId t, const float* x, void* out, int64_t n);

// Expands n elements of type t to floats.
void dequantize_row(TypeId t, const void* x, float* y, int64_t n);

// sum_i w[i] * a[i] over n elements, w a row of type t and a a row of
// vec_dot_type(t).
float vec_dot(TypeId t, int64_t n, const void* w, const void* a);

}  // namespace hob
