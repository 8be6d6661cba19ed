// RMSNorm and LayerNorm. Sums are accumulated in double, as llama.cpp does,
// so long rows lose no precision and results agree with it closely.
#include <cmath>

#include "../common.h"
#include "ops.h"

namespace hob {

void rmsnorm(const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps) {
    for (int32_t t = 0; t < T; t++) {
        const float* xr = x + (size_t)t * n;
        float* yr = y + (size_t)t * n;
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / n);
        const float scale = 1.0f / std::sqrt(mean + eps);
        int32_t i = 0;
#if defined(__wasm_simd128__)
        const v128_t vs = wasm_f32x4_splat(scale);
        for (; i + 4 <= n; i += 4) {
            wasm_v128_store(yr + i, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(xr + i), vs), wasm_v128_load(weight + i)));
        }
#endif
        for (; i < n; i++) yr[i] = xr[i] * scale * weight[i];
    }
}

void rmsnorm(ThreadPool& pool, const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps) {
    parallel_for(pool, T, (int64_t)T * n * 3, 1, [&](int64_t t0, int64_t t1) {
        rmsnorm(x + t0 * n, weight, y + t0 * n, (int32_t)(t1 - t0), n, eps);
    });
}

void layernorm(const float* x, const float* weight, const float* bias, float* y, int32_t T, int32_t n, float eps) {
    for (int32_t t = 0; t < T; t++) {
        const float* xr = x + (size_t)t * n;
        float* yr = y + (size_t)t * n;
        // As ggml_norm: the mean in double, then the variance of the
        // centred values (each rounded to float) in double.
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += xr[i];
        const float mean = (float)(sum / n);
        double sum2 = 0;
        for (int32_t i = 0; i < n; i++) {
            const float v = xr[i] - mean;
            sum2 += (double)(v * v);
        }
        const float scale = 1.0f / std::sqrt((float)(sum2 / n) + eps);
        for (int32_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * scale * weight[i] + bias[i];
    }
}

void layernorm(ThreadPool& pool, const float* x, const float* weight, const float* bias, float* y, int32_t T, int32_t n,
               float eps) {
    parallel_for(pool, T, (int64_t)T * n * 6, 1, [&](int64_t t0, int64_t t1) {
        layernorm(x + t0 * n, weight, bias, y + t0 * n, (int32_t)(t1 - t0), n, eps);
    });
}

}  // namespace hob
