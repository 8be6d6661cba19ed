// Element-wise steps of a block: gated activations, biases, scaling,
// soft-capping and the residual add.
#include <cmath>
#include <vector>

#include "../common.h"
#include "ops.h"

namespace hob {

void silu_mul(float* x, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + std::exp(-x[i])) * up[i];
}

namespace {

float gelu_tanh(float x) {
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

// llama.cpp's CPU GELU reads a table indexed by the f16 input and holding
// f16 results, saturating outside [-10, 10]; the same table (as floats,
// 256 kB, filled on first use) keeps GELU models on its outputs to float
// precision, and costs a lookup where tanh cost most of a vision
// encoder's GELU time.
struct GeluTable {
    std::vector<float> v;
    GeluTable() : v(65536) {
        for (uint32_t h = 0; h < 65536; h++) v[h] = f16_to_f32(f32_to_f16(gelu_tanh(f16_to_f32((uint16_t)h))));
    }
};

const float* gelu_table() {
    static const GeluTable table;
    return table.v.data();
}

float gelu_f16(const float* table, float v) {
    if (v <= -10.0f) return 0.0f;
    if (v >= 10.0f) return v;
    return table[f32_to_f16(v)];
}

}  // namespace

void gelu_mul(float* x, const float* up, int64_t n) {
    const float* table = gelu_table();
    for (int64_t i = 0; i < n; i++) x[i] = gelu_f16(table, x[i]) * up[i];
}

void gelu(float* x, int64_t n) {
    const float* table = gelu_table();
    for (int64_t i = 0; i < n; i++) x[i] = gelu_f16(table, x[i]);
}

void gelu(ThreadPool& pool, float* x, int64_t n) {
    parallel_for(pool, n, n * 20, 64, [&](int64_t i0, int64_t i1) { gelu(x + i0, i1 - i0); });
}

void silu_mul(ThreadPool& pool, float* x, const float* up, int64_t n) {
    // std::exp dominates: some twenty float operations per element.
    parallel_for(pool, n, n * 20, 64, [&](int64_t i0, int64_t i1) { silu_mul(x + i0, up + i0, i1 - i0); });
}

void gelu_mul(ThreadPool& pool, float* x, const float* up, int64_t n) {
    parallel_for(pool, n, n * 20, 64, [&](int64_t i0, int64_t i1) { gelu_mul(x + i0, up + i0, i1 - i0); });
}

void add_bias(float* x, const float* bias, int32_t T, int32_t n) {
    for (int32_t t = 0; t < T; t++) add(x + (size_t)t * n, bias, n);
}

void scale(float* x, float s, int64_t n) {
    int64_t i = 0;
#if defined(__wasm_simd128__)
    const v128_t vs = wasm_f32x4_splat(s);
    for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_mul(wasm_v128_load(x + i), vs));
#endif
    for (; i < n; i++) x[i] *= s;
}

void softcap(float* x, float cap, int64_t n) {
    // Multiplying by 1/cap (not dividing) rounds as llama.cpp's scale op does.
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; i++) x[i] = std::tanh(x[i] * inv) * cap;
}

void add(float* x, const float* y, int64_t n) {
    int64_t i = 0;
#if defined(__wasm_simd128__)
    for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_add(wasm_v128_load(x + i), wasm_v128_load(y + i)));
#endif
    for (; i < n; i++) x[i] += y[i];
}

}  // namespace hob
