// The numeric kernels of recurrent token mixers (hybrid architectures): a
// causal depthwise convolution that continues from a state of the last
// inputs (LFM2's short convolution, Qwen 3.5's conv1d), the Gated DeltaNet
// recurrence over a per-head state matrix, and the small element-wise steps
// around them, computed as llama.cpp's CPU ops compute them. The states
// themselves belong to RecurrentState (recurrent_state.h).
#pragma once

#include <cstdint>

#include "../threadpool.h"

namespace hob {

// Causal convolution over time, one filter of `kernel` taps per channel, of
// T rows of n channels x (row t is token t): y[t][c] = sum_k w[c][k] * in[t + k][c],
// where `in` is the state's kernel - 1 rows (oldest first) followed by x.
// On return the state holds the last kernel - 1 rows of `in`, so the next
// call continues the sequence. w is (n, kernel), as GGUF stores it.
void causal_conv(ThreadPool& pool, const float* x, int32_t T, int32_t n, const float* w, int32_t kernel, float* state,
                 float* y);

// The Gated DeltaNet recurrence over T tokens, per value head h (its key
// head h % n_k_heads, llama.cpp's tiled broadcast), with state S_h (d x d;
// row j is value dimension j, over key dimensions), key k and query q
// already L2-normalized:
//   S_h = exp(g) S_h;  delta = beta (v - S_h k);  S_h += delta k^T;  out = S_h q / sqrt(d)
// q, k: (T, n_k_heads, d); v, out: (T, n_v_heads, d); g, beta: (T, n_v_heads);
// state: (n_v_heads, d, d).
void delta_net(ThreadPool& pool, const float* q, const float* k, const float* v, const float* g, const float* beta,
               int32_t T, int32_t n_k_heads, int32_t n_v_heads, int32_t d, float* state, float* out);

// x[r] /= max(||x[r]||, eps) for n_rows rows of n (the sum of squares in
// double, as llama.cpp's l2_norm).
void l2_norm(float* x, int64_t n_rows, int32_t n, float eps);

// x[i] *= y[i]
void mul(float* x, const float* y, int64_t n);

// x[i] = 1 / (1 + exp(-x[i]))
void sigmoid(float* x, int64_t n);

// x[i] = x[i] / (1 + exp(-x[i]))
void silu(float* x, int64_t n);

// x[i] = y[i] * (1 / (1 + exp(-x[i]))): a sigmoid gate on y, written into x.
void sigmoid_gate(float* x, const float* y, int64_t n);

// Qwen 3.5's decay: g[t][h] = softplus(alpha[t][h] + dt_bias[h]) * a[h]
// (a = -exp(A_log) < 0, so exp(g) is in (0, 1)), in place over alpha.
void delta_decay(float* alpha, const float* dt_bias, const float* a, int32_t T, int32_t n_heads);

}  // namespace hob
