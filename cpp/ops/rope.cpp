// Rotary position embedding, both pairings: Normal rotates (x[2i], x[2i+1])
// (Llama), NeoX rotates (x[i], x[i + n_rot/2]) (GPT-NeoX, Qwen, Gemma).
// The angle of pair i is pos * base^(-2i/n_rot), built by repeated
// multiplication in float exactly as llama.cpp builds its cache, so both
// round the same way.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common.h"
#include "../quants.h"
#include "ops.h"

namespace hob {

void rope_angles(int32_t pos, const RopeParams& p, float* cs) {
    const int32_t half = p.n_rot / 2;
    const float theta_scale = std::pow(p.freq_base, -2.0f / (float)p.n_rot);
    float theta = (float)pos;
    for (int32_t i = 0; i < half; i++) {
        const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
        const float angle = p.freq_scale * (theta / ff);
        cs[2 * i] = std::cos(angle) * p.mscale;
        cs[2 * i + 1] = std::sin(angle) * p.mscale;
        theta *= theta_scale;
    }
}

void rope_apply(float* x, int32_t n_heads, int32_t head_dim, const float* cs, const RopeParams& p) {
    const int32_t half = p.n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float* v = x + (size_t)h * head_dim;
        if (p.style == RopeStyle::Normal) {
            for (int32_t i = 0; i < half; i++) {
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const float x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * c - x1 * s;
                v[2 * i + 1] = x0 * s + x1 * c;
            }
            continue;
        }
        int32_t i = 0;
#if defined(__wasm_simd128__)
        // NeoX pairs lie half a rotation apart: four pairs per step.
        for (; i + 4 <= half; i += 4) {
            const v128_t cs0 = wasm_v128_load(cs + 2 * i), cs1 = wasm_v128_load(cs + 2 * i + 4);
            const v128_t c = wasm_i32x4_shuffle(cs0, cs1, 0, 2, 4, 6);
            const v128_t s = wasm_i32x4_shuffle(cs0, cs1, 1, 3, 5, 7);
            const v128_t x0 = wasm_v128_load(v + i), x1 = wasm_v128_load(v + i + half);
            wasm_v128_store(v + i, wasm_f32x4_sub(wasm_f32x4_mul(x0, c), wasm_f32x4_mul(x1, s)));
            wasm_v128_store(v + i + half, wasm_f32x4_add(wasm_f32x4_mul(x0, s), wasm_f32x4_mul(x1, c)));
        }
#endif
        for (; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c - x1 * s;
            v[i + half] = x0 * s + x1 * c;
        }
    }
}

void rope(float* x, int32_t T, int32_t n_heads, int32_t head_dim, const int32_t* pos, const RopeParams& p) {
    HOB_CHECK(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim, HOB_ERR_INVALID_ARGUMENT,
              "RoPE over " + std::to_string(p.n_rot) + " of " + std::to_string(head_dim) + " dimensions");
    std::vector<float> cs((size_t)p.n_rot);  // cos, sin per pair
    for (int32_t t = 0; t < T; t++) {
        rope_angles(pos[t], p, cs.data());
        rope_apply(x + (size_t)t * n_heads * head_dim, n_heads, head_dim, cs.data(), p);
    }
}

void rope_shift_k(ThreadPool& pool, KvCache& kv, int32_t layer, int32_t cell0, int32_t n, int32_t n_heads,
                  int32_t head_dim, int32_t delta, const RopeParams& p) {
    if (n <= 0 || delta == 0) return;
    const int32_t d = n_heads * head_dim;
    HOB_CHECK(d <= kv.kv_dim(), HOB_ERR_OUT_OF_RANGE, "K shift over more dimensions than a cache row holds");
    kv.k_rows(layer, cell0, n);  // checks the whole range once
    RopeParams rotate = p;
    rotate.mscale = 1.0f;
    // Rows are independent: f16 -> f32, rotate by delta, round back to f16,
    // where llama.cpp's K shift rounds too.
    const int32_t per_task = 16;
    pool.run((n + per_task - 1) / per_task, [&](int task, int) {
        std::vector<float> row((size_t)d);
        const int32_t c1 = std::min(n, (task + 1) * per_task);
        for (int32_t c = task * per_task; c < c1; c++) {
            uint16_t* k = kv.k(layer, cell0 + c);
            f16_to_f32_row(k, row.data(), d);
            rope(row.data(), 1, n_heads, head_dim, &delta, rotate);
            f32_to_f16_row(row.data(), k, d);
        }
    });
}

}  // namespace hob
