// Attention over the f16 KV cache. Per query row and head: scores against
// every visible cell (causal, optionally within a sliding window), optional
// soft-capping, softmax, weighted sum of V rows. The query and the
// probabilities are rounded to f16 before their products with the f16 cache,
// which is where llama.cpp's CPU path rounds them too.
#include <cmath>
#include <string>

#include "../common.h"
#include "../quants.h"
#include "ops.h"

namespace hob {

void kv_store(KvCache& kv, int32_t layer, int32_t cell0, int32_t T, const float* k, const float* v) {
    const int32_t d = kv.kv_dim();
    for (int32_t t = 0; t < T; t++) {
        uint16_t* kr = kv.k(layer, cell0 + t);
        uint16_t* vr = kv.v(layer, cell0 + t);
        for (int32_t i = 0; i < d; i++) {
            kr[i] = f32_to_f16(k[(size_t)t * d + i]);
            vr[i] = f32_to_f16(v[(size_t)t * d + i]);
        }
    }
}

void attention(ThreadPool& pool, Scratch& scratch, const KvCache& kv, int32_t layer, int32_t cell0, int32_t T,
               const AttentionShape& s, const float* q, float* out) {
    HOB_CHECK(s.n_head_kv > 0 && s.n_head % s.n_head_kv == 0, HOB_ERR_INVALID_ARGUMENT,
              "attention needs n_head (" + std::to_string(s.n_head) + ") to be a multiple of n_head_kv (" +
                  std::to_string(s.n_head_kv) + ")");
    const int32_t hd = s.head_dim;
    const int32_t kv_dim = kv.kv_dim();
    const int32_t group = s.n_head / s.n_head_kv;
    const int32_t n_cells_max = cell0 + T;
    const float* ht = half_table();
    // Checks the whole range once; the loops below index inside it.
    const uint16_t* k_base = kv.k_rows(layer, 0, n_cells_max);
    const uint16_t* v_base = kv.v_rows(layer, 0, n_cells_max);
    HOB_CHECK((int64_t)s.n_head_kv * hd <= kv_dim, HOB_ERR_OUT_OF_RANGE, "attention heads exceed the KV row");
    // The window is a distance in positions. Cell c holds position c (the
    // cache renumbers positions 0..size-1 when a shift erases cells, moving
    // positions and windows together), so the visible cells of the query in
    // cell q are [q - window + 1, q]. Check that invariant where it matters.
    HOB_CHECK(s.window >= 0, HOB_ERR_INVALID_ARGUMENT, "negative attention window " + std::to_string(s.window));
    if (s.window > 0) {
        HOB_CHECK(kv.pos(0) == 0 && kv.pos(n_cells_max - 1) == n_cells_max - 1, HOB_ERR_INTERNAL,
                  "sliding-window attention needs cell index == position; cell " + std::to_string(n_cells_max - 1) +
                      " holds position " + std::to_string(kv.pos(n_cells_max - 1)));
    }
    const float inv_cap = s.softcap > 0 ? 1.0f / s.softcap : 0.0f;

    pool.run(T * s.n_head, [&](int task, int thread) {
        const int32_t t = task / s.n_head;
        const int32_t h = task % s.n_head;
        const int32_t n_cells = cell0 + t + 1;  // causal: cells up to this token's own
        const int32_t first = s.window > 0 && n_cells > s.window ? n_cells - s.window : 0;
        const int32_t kvh = h / group;

        // Per-thread scratch: scores, the f16 query, the output accumulator.
        float* buf = scratch.thread_buffer(thread, (size_t)n_cells_max + (size_t)hd + (size_t)hd);
        float* scores = buf;
        uint16_t* q16 = reinterpret_cast<uint16_t*>(buf + n_cells_max);
        float* vrow = buf + n_cells_max + hd;

        const float* qh = q + ((size_t)t * s.n_head + h) * hd;
        for (int32_t i = 0; i < hd; i++) q16[i] = f32_to_f16(qh[i]);

        float max_score = -INFINITY;
        for (int32_t c = first; c < n_cells; c++) {
            const uint16_t* kr = k_base + (size_t)c * kv_dim + (size_t)kvh * hd;
            float sc = vec_dot(TypeId::F16, hd, kr, q16) * s.scale;
            if (s.softcap > 0) sc = std::tanh(sc * inv_cap) * s.softcap;
            scores[c] = sc;
            if (sc > max_score) max_score = sc;
        }
        double sum = 0;
        for (int32_t c = first; c < n_cells; c++) {
            const float e = std::exp(scores[c] - max_score);
            scores[c] = e;
            sum += e;
        }
        const float inv = (float)(1.0 / sum);

        float* o = out + ((size_t)t * s.n_head + h) * hd;
        for (int32_t i = 0; i < hd; i++) vrow[i] = 0;
        for (int32_t c = first; c < n_cells; c++) {
            const float pc = ht[f32_to_f16(scores[c] * inv)];
            if (pc == 0.0f) continue;
            const uint16_t* vr = v_base + (size_t)c * kv_dim + (size_t)kvh * hd;
            for (int32_t i = 0; i < hd; i++) vrow[i] += pc * ht[vr[i]];
        }
        for (int32_t i = 0; i < hd; i++) o[i] = vrow[i];
    });
}

}  // namespace hob
