/* Single CPU ops of the engine behind plain C functions, for tests and
 * diagnostics: the GPU kernels are checked op by op against exactly these
 * (the kernels of cpp/ops/ and cpp/quants.h, with the engine's own rounding
 * points). Not part of the model/session API in api.h; nothing here keeps
 * state between calls. Every function returns a hob_status and leaves its
 * message behind hob_op_last_error(). Buffers are the caller's; shapes are
 * row-major with the innermost dimension last in the comments. */
#ifndef HOB_OPS_API_H
#define HOB_OPS_API_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message of the last failed hob_op_ call on this thread ("" if none). */
const char* hob_op_last_error(void);

/* out = the n floats of x converted to the activation type `type` (Q8_0,
 * F16, BF16 ...: what a matmul converts its input to, through
 * hob::quantize_row); out holds row_size(type, n) bytes. */
hob_status hob_op_quantize_row(int32_t type, const float* x, int64_t n, uint8_t* out);

/* y (T, rows) = x (T, cols) times the transposed weight w (rows, cols) of GGUF
 * type `type`, raw GGUF block bytes. Runs hob::matmul, which converts
 * activations to the weight's vec-dot type (Q8_0 for Q4_0 and Q8_0) as the
 * forward pass does. */
hob_status hob_op_matmul(int32_t type, const uint8_t* w, int64_t rows, int64_t cols, const float* x, int32_t T,
                         float* y);

/* hob_op_matmul with the relaxed kernels' register tile set to tile_rows x
 * tile_tokens (1..4 x 1..4; 0 x 0: the defaults, as hob_op_matmul and the
 * engine use) for this call, the product run reps times (1 or
 * more) on one repacked copy of w, so that a benchmark times the kernels
 * apart from the repacking: results equal hob_op_matmul's, the speed may
 * not (benchmarks compare shapes with it). Builds without relaxed SIMD
 * ignore the tile. */
hob_status hob_op_matmul_tile(int32_t type, const uint8_t* w, int64_t rows, int64_t cols, const float* x, int32_t T,
                              float* y, int32_t tile_rows, int32_t tile_tokens, int32_t reps);

/* y (n) = the n elements of one row of type `type` as floats. */
hob_status hob_op_dequantize_row(int32_t type, const uint8_t* x, int64_t n, float* y);

/* y (T, n) = rmsnorm of x (T, n) times weight (n). */
hob_status hob_op_rmsnorm(const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps);

/* Rotates x (T, n_heads, head_dim) in place, row t at position pos[t].
 * style: 0 normal (Llama pairs 2i, 2i+1), 1 NeoX (pairs i, i + n_rot/2).
 * freq_factors: n_rot/2 divisors, or null. */
hob_status hob_op_rope(float* x, int32_t T, int32_t n_heads, int32_t head_dim, const int32_t* pos, int32_t style,
                       int32_t n_rot, float freq_base, float freq_scale, const float* freq_factors);

/* Rounds k and v (T, kv_dim) f32 to the cache's f16, through hob::kv_store:
 * k_out and v_out receive (T, kv_dim) halves. */
hob_status hob_op_kv_store(const float* k, const float* v, int32_t T, int32_t kv_dim, uint16_t* k_out,
                           uint16_t* v_out);

/* Causal attention of q (T, n_head, head_dim) over a one-layer cache whose
 * cells [0, cell0 + T) are filled from k and v (cell0 + T, n_head_kv *
 * head_dim) f32 through kv_store; row t sees cells [0, cell0 + t].
 * out has q's shape. */
hob_status hob_op_attention(const float* q, const float* k, const float* v, int32_t cell0, int32_t T,
                            int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, float* out);

/* Re-rotates K rows [cell0, cell0 + n) of a cache k (n_cells, kv_dim) halves
 * by `delta` positions, in place, through hob::rope_shift_k. */
hob_status hob_op_rope_shift_k(uint16_t* k, int32_t n_cells, int32_t kv_dim, int32_t cell0, int32_t n,
                               int32_t n_heads, int32_t head_dim, int32_t delta, int32_t style, int32_t n_rot,
                               float freq_base, float freq_scale, const float* freq_factors);

/* The context shift of one layer as a session runs it: a cache k, v
 * (n_ctx, kv_dim) halves with `used` cells erases cells [start, end) (later
 * cells move down) and re-rotates the moved K rows by -(end - start). A bad
 * range returns HOB_ERR_OUT_OF_RANGE and changes nothing. */
hob_status hob_op_kv_erase(uint16_t* k, uint16_t* v, int32_t n_ctx, int32_t kv_dim, int32_t used, int32_t start,
                           int32_t end, int32_t n_heads, int32_t head_dim, int32_t style, int32_t n_rot,
                           float freq_base, float freq_scale, const float* freq_factors);

/* x[i] = silu(x[i]) * up[i] for i < n. */
hob_status hob_op_silu_mul(float* x, const float* up, int64_t n);

/* x[i] += y[i] for i < n. */
hob_status hob_op_add(float* x, const float* y, int64_t n);

/* hob_op_attention with a sliding window (cells; 0: none) and a score
 * soft-cap (0: off), as Gemma's layers attend. */
hob_status hob_op_attention_window(const float* q, const float* k, const float* v, int32_t cell0, int32_t T,
                                   int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, int32_t window,
                                   float softcap, float* out);

/* x[i] = gelu(x[i]) * up[i] for i < n (GeGLU, with llama.cpp's f16 table). */
hob_status hob_op_gelu_mul(float* x, const float* up, int64_t n);

/* x[t, i] += bias[i] for T rows of n. */
hob_status hob_op_add_bias(float* x, const float* bias, int32_t T, int32_t n);

#ifdef __cplusplus
}
#endif

#endif
