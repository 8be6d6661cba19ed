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

void rope(float* x, int32_t T, int32_t n_heads, int32_t head_dim, const int32_t* pos, const RopeParams& p) {
    HOB_CHECK(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim, HOB_ERR_INVALID_ARGUMENT,
              "RoPE over " + std::to_string(p.n_rot) + " of " + std::to_string(head_dim) + " dimensions");
    const int32_t half = p.n_rot / 2;
    const float theta_scale = std::pow(p.freq_base, -2.0f / (float)p.n_rot);
    std::vector<float> cs((size_t)p.n_rot);  // cos, sin per pair

    for (int32_t t = 0; t < T; t++) {
        float theta = (float)pos[t];
        for (int32_t i = 0; i < half; i++) {
            const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
            const float angle = p.freq_scale * (theta / ff);
            cs[2 * i] = std::cos(angle);
            cs[2 * i + 1] = std::sin(angle);
            theta *= theta_scale;
        }
        for (int32_t h = 0; h < n_heads; h++) {
            float* v = x + ((size_t)t * n_heads + h) * head_dim;
            for (int32_t i = 0; i < half; i++) {
                const int32_t a = p.style == RopeStyle::Normal ? 2 * i : i;
                const int32_t b = p.style == RopeStyle::Normal ? 2 * i + 1 : i + half;
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
    }
}

void rope_shift_k(ThreadPool& pool, KvCache& kv, int32_t layer, int32_t cell0, int32_t n, int32_t n_heads,
                  int32_t head_dim, int32_t delta, const RopeParams& p) {
    if (n <= 0 || delta == 0) return;
    const int32_t d = n_heads * head_dim;
    HOB_CHECK(d <= kv.kv_dim(), HOB_ERR_OUT_OF_RANGE, "K shift over more dimensions than a cache row holds");
    kv.k_rows(layer, cell0, n);  // checks the whole range once
    // Rows are independent: f16 -> f32, rotate by delta, round back to f16,
    // where llama.cpp's K shift rounds too.
    const int32_t per_task = 16;
    pool.run((n + per_task - 1) / per_task, [&](int task, int) {
        std::vector<float> row((size_t)d);
        const int32_t c1 = std::min(n, (task + 1) * per_task);
        for (int32_t c = task * per_task; c < c1; c++) {
            uint16_t* k = kv.k(layer, cell0 + c);
            dequantize_row(TypeId::F16, k, row.data(), d);
            rope(row.data(), 1, n_heads, head_dim, &delta, p);
            for (int32_t i = 0; i < d; i++) k[i] = f32_to_f16(row[i]);
        }
    });
}

}  // namespace hob
