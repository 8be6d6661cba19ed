// Weights repacked at load for relaxed SIMD's 8-bit dot product
// (i32x4.relaxed_dot_i8x16_i7x16_add_s), the activations those kernels read,
// and the kernels. The instruction sums four byte products per int32 lane
// (bytes 4k..4k+3 into lane k); the SIMD128 kernels (quants_q.cpp) sum
// elements {2k, 2k+1, 2k+8, 2k+9} of each 16 into lane k. Repacking puts
// each block's elements in that lane order (the same for weights and
// activations), so every lane holds the same integers and the results are
// bit-identical to the SIMD128 build's. The layout is per block, so a
// repacked row is still a row: views of rows and the byte size stay as
// they were.
#pragma once

#include <cstddef>
#include <cstdint>

#include "types.h"

namespace hob {

// True when this build repacks weights of type t at load: the relaxed-SIMD
// builds do for the types with a relaxed kernel (Q4_0, Q4_K, Q6_K); the
// others never.
bool repack_wanted(TypeId t);

// Repacks n_rows rows of cols elements of type t (one repack_wanted) in
// place.
void repack_rows(TypeId t, uint8_t* data, int64_t n_rows, int64_t cols);

// The natural (GGUF) layout of one repacked row, written to out.
void unpack_row(TypeId t, const uint8_t* row, int64_t cols, uint8_t* out);

// Activations for the relaxed kernels, from one row of n elements of the
// weights' activation type at (Q8_0 for Q4_0, Q8_K for Q4_K and Q6_K): the n values
// in repacked order, then per block what the kernel adds besides the dot
// products: Q8_0, four int32 lane sums times -8 (the Q4_0 offset), then
// the n / 32 scales as floats; Q8_K, the scales as floats, then per block
// eight int32 sums of 32 values (Q4_K's minimums), then per block and group
// of 16 four int32 lane sums times -32 (Q6_K's offset).
// relaxed_act_bytes(at, n) bytes per token.
size_t relaxed_act_bytes(TypeId at, int64_t n);
void relax_activations(TypeId at, const void* row, int64_t n, uint8_t* out);

// out[r * n_tok + j] = the dot of repacked row r (at w + r * stride) with
// token j's relaxed activations (at act + j * relaxed_act_bytes(at, n)),
// equal bit for bit to vec_dot on the natural layout. Relaxed-SIMD builds
// only.
void dot_relaxed(TypeId t, int64_t n, const uint8_t* w, size_t stride, int n_rows, const uint8_t* act, int n_tok,
                 float* out);

// The kernels' register tile: rows x tokens per call of the inner kernel.
// By default 4 x 4 (K-quants: 2 x 4), except one token (decode): Q4_0 2
// rows against rows shorter than kRelaxedShortRow elements, Q6_K 1 row. Decode streams the weights from memory
// once, and there, measured in Chromium on x86 (bench/relaxed-tiles.ts,
// --tokens 1 on shapes larger than the caches), 2 rows ran 1.13-1.23x as
// fast as 4 on rows of 896 elements and 0.91x on rows of 4864.
// set_relaxed_tile fixes the shape (1..4 rows, 1..4 tokens; 0 x 0 restores
// the defaults; anything else is HOB_ERR_INVALID_ARGUMENT) for benchmarks
// comparing shapes, never while a matmul runs; results are the same for
// every shape. No-op in builds without relaxed SIMD.
constexpr int kRelaxedTileRows = 4, kRelaxedTileTokens = 4, kRelaxedShortRow = 2048;
void set_relaxed_tile(int rows, int tokens);

// The order of the 16 elements of each half block in the repacked layout:
// position p holds element kRelaxedOrder[p].
extern const uint8_t kRelaxedOrder[16];

}  // namespace hob
