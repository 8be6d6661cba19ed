// Recurrent mixers' kernels: the causal convolution with its state and the
// Gated DeltaNet recurrence, in the order llama.cpp's CPU ops (ssm_conv,
// gated_delta_net) compute them, so that results agree to float rounding.
#include "ssm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common.h"
#include "ops.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace hob {

namespace {

// Taps a convolution may have: the state of one channel lives on the stack.
constexpr int32_t kMaxKernel = 64;

float dot(const float* a, const float* b, int32_t n) {
    int32_t i = 0;
    float sum = 0.0f;
#if defined(__wasm_simd128__)
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = wasm_f32x4_splat(0.0f);
    for (; i + 8 <= n; i += 8) {
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    }
    const v128_t s = wasm_f32x4_add(s0, s1);
    sum = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
          wasm_f32x4_extract_lane(s, 3);
#else
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8) {
        for (int32_t j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    }
    sum = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
#endif
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

// y[i] += x[i] * s
void mad(float* y, const float* x, float s, int32_t n) {
    int32_t i = 0;
#if defined(__wasm_simd128__)
    const v128_t vs = wasm_f32x4_splat(s);
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_f32x4_mul(wasm_v128_load(x + i), vs)));
#endif
    for (; i < n; i++) y[i] += x[i] * s;
}

}  // namespace

void causal_conv(ThreadPool& pool, const float* x, int32_t T, int32_t n, const float* w, int32_t kernel, float* state,
                 float* y) {
    HOB_CHECK(kernel >= 2 && kernel <= kMaxKernel && T >= 0 && n > 0, HOB_ERR_INVALID_ARGUMENT,
              "convolution of " + std::to_string(kernel) + " taps over " + std::to_string(n) + " channels");
    const int32_t m = kernel - 1;  // rows of state
    parallel_for(pool, n, (int64_t)n * T * kernel * 2, 16, [&](int64_t c0, int64_t c1) {
        float win[2 * kMaxKernel];
        for (int64_t c = c0; c < c1; c++) {
            const float* wc = w + (size_t)c * kernel;
            // The window slides over state rows, then x rows; it is refilled
            // every m tokens so that each token reads its taps contiguously.
            for (int32_t i = 0; i < m; i++) win[i] = state[(size_t)i * n + c];
            for (int32_t t0 = 0; t0 < T; t0 += m + 1) {
                const int32_t tn = std::min(m + 1, T - t0);
                for (int32_t i = 0; i < tn; i++) win[m + i] = x[(size_t)(t0 + i) * n + c];
                for (int32_t i = 0; i < tn; i++) {
                    float sum = 0.0f;
                    for (int32_t j = 0; j < kernel; j++) sum += win[i + j] * wc[j];
                    y[(size_t)(t0 + i) * n + c] = sum;
                }
                for (int32_t i = 0; i < m; i++) win[i] = win[tn + i];
            }
            for (int32_t i = 0; i < m; i++) state[(size_t)i * n + c] = win[i];
        }
    });
}

void delta_net(ThreadPool& pool, const float* q, const float* k, const float* v, const float* g, const float* beta,
               int32_t T, int32_t n_k_heads, int32_t n_v_heads, int32_t d, float* state, float* out) {
    HOB_CHECK(n_k_heads > 0 && n_v_heads % n_k_heads == 0 && d > 0, HOB_ERR_INVALID_ARGUMENT,
              "DeltaNet of " + std::to_string(n_v_heads) + " value heads over " + std::to_string(n_k_heads) + " key heads");
    const float scale = 1.0f / std::sqrt((float)d);
    const size_t dd = (size_t)d * d;
    parallel_for(pool, n_v_heads, (int64_t)n_v_heads * T * dd * 6, 1, [&](int64_t h0, int64_t h1) {
        std::vector<float> delta((size_t)d);
        for (int64_t h = h0; h < h1; h++) {
            float* S = state + (size_t)h * dd;
            const int64_t hk = h % n_k_heads;
            for (int32_t t = 0; t < T; t++) {
                const float* qt = q + ((size_t)t * n_k_heads + hk) * d;
                const float* kt = k + ((size_t)t * n_k_heads + hk) * d;
                const float* vt = v + ((size_t)t * n_v_heads + h) * d;
                const float decay = std::exp(g[(size_t)t * n_v_heads + h]);
                const float b = beta[(size_t)t * n_v_heads + h];
                // Decay the whole state first, then read it with k: llama.cpp's order.
                for (size_t i = 0; i < dd; i++) S[i] *= decay;
                for (int32_t j = 0; j < d; j++) delta[j] = (vt[j] - dot(S + (size_t)j * d, kt, d)) * b;
                for (int32_t j = 0; j < d; j++) mad(S + (size_t)j * d, kt, delta[j], d);
                float* ot = out + ((size_t)t * n_v_heads + h) * d;
                for (int32_t j = 0; j < d; j++) ot[j] = dot(S + (size_t)j * d, qt, d) * scale;
            }
        }
    });
}

void l2_norm(float* x, int64_t n_rows, int32_t n, float eps) {
    for (int64_t r = 0; r < n_rows; r++) {
        float* xr = x + (size_t)r * n;
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += (double)(xr[i] * xr[i]);
        const float s = 1.0f / std::max(std::sqrt((float)sum), eps);
        for (int32_t i = 0; i < n; i++) xr[i] *= s;
    }
}

void mul(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= y[i];
}

void sigmoid(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void silu(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void sigmoid_gate(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = y[i] * (1.0f / (1.0f + std::exp(-x[i])));
}

void delta_decay(float* alpha, const float* dt_bias, const float* a, int32_t T, int32_t n_heads) {
    for (int32_t t = 0; t < T; t++) {
        float* at = alpha + (size_t)t * n_heads;
        for (int32_t h = 0; h < n_heads; h++) {
            const float x = at[h] + dt_bias[h];
            // llama.cpp's softplus: linear past 20, where log1p(exp(x)) = x in float.
            const float sp = x > 20.0f ? x : std::log(1.0f + std::exp(x));
            at[h] = sp * a[h];
        }
    }
}

}  // namespace hob
