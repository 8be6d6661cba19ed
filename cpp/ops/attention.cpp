// Attention over the f16 KV cache. Per query row and head: scores against
// every visible cell (causal, optionally within a sliding window, or the
// cells a batch of packed sequences gives each row), optional
// soft-capping, softmax, weighted sum of V rows. The query and the
// probabilities are rounded to f16 before their products with the f16 cache,
// which is where llama.cpp's CPU path rounds them too.
#include <algorithm>
#include <cmath>
#include <string>

#include "../common.h"
#include "../quants.h"
#include "ops.h"

namespace hob {

void kv_store(KvCache& kv, int32_t layer, int32_t cell0, int32_t T, const float* k, const float* v) {
    const int32_t d = kv.kv_dim();
    for (int32_t t = 0; t < T; t++) {
        f32_to_f16_row(k + (size_t)t * d, kv.k(layer, cell0 + t), d);
        f32_to_f16_row(v + (size_t)t * d, kv.v(layer, cell0 + t), d);
    }
}

namespace {

// Query rows attended together against each cache row, so a K or V row is
// read (and widened to floats) once for all of them.
constexpr int32_t kRowsPerTask = 4;

// scores[r][c - c0] = f16(q_r) . K[c] for c in [c0, c1) and the n query rows
// of a task. In SIMD this is the F16 dot product of quants.cpp, step for step
// (two four-lane accumulators, their lane sum, then a scalar tail), with the
// query widened once instead of per cell; elsewhere it is that dot product.
template <int N>
void scores_block(const uint16_t* k, size_t k_stride, int32_t c0, int32_t c1, int32_t hd, const float* qf,
                  const uint16_t* q16, float* scores, size_t s_stride) {
    for (int32_t c = c0; c < c1; c++) {
        const uint16_t* kr = k + (size_t)c * k_stride;
#if defined(__wasm_simd128__)
        (void)q16;
        v128_t acc0[N], acc1[N];
        for (int r = 0; r < N; r++) acc0[r] = acc1[r] = wasm_f32x4_splat(0);
        int32_t i = 0;
        for (; i + 8 <= hd; i += 8) {
            v128_t k0, k1;
            f16x8_to_f32x4x2(wasm_v128_load(kr + i), &k0, &k1);
            for (int r = 0; r < N; r++) {
                const float* q = qf + (size_t)r * hd + i;
                acc0[r] = wasm_f32x4_add(acc0[r], wasm_f32x4_mul(k0, wasm_v128_load(q)));
                acc1[r] = wasm_f32x4_add(acc1[r], wasm_f32x4_mul(k1, wasm_v128_load(q + 4)));
            }
        }
        for (int r = 0; r < N; r++) {
            const v128_t a = wasm_f32x4_add(acc0[r], acc1[r]);
            float sum = wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) +
                        wasm_f32x4_extract_lane(a, 3);
            for (int32_t j = i; j < hd; j++) sum += f16_to_f32(kr[j]) * qf[(size_t)r * hd + j];
            scores[(size_t)r * s_stride + (c - c0)] = sum;
        }
#else
        (void)qf;
        for (int r = 0; r < N; r++) {
            scores[(size_t)r * s_stride + (c - c0)] = vec_dot(TypeId::F16, hd, kr, q16 + (size_t)r * hd);
        }
#endif
    }
}

// acc[i] += p * v[i]: one multiply and one add per element, as the scalar
// loop, so the sum over cells rounds identically.
inline void accumulate_pv(float* acc, float p, const float* v, int32_t hd) {
    int32_t i = 0;
#if defined(__wasm_simd128__)
    const v128_t vp = wasm_f32x4_splat(p);
    for (; i + 4 <= hd; i += 4) {
        wasm_v128_store(acc + i, wasm_f32x4_add(wasm_v128_load(acc + i), wasm_f32x4_mul(vp, wasm_v128_load(v + i))));
    }
#endif
    for (; i < hd; i++) acc[i] += p * v[i];
}

}  // namespace

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
    const bool ranged = s.row_begin != nullptr;
    HOB_CHECK(ranged == (s.row_end != nullptr), HOB_ERR_INVALID_ARGUMENT, "attention row ranges need both bounds");
    if (ranged) {
        // Explicit ranges replace the causal rule; each must be a non-empty
        // run of the cells this batch can see.
        for (int32_t t = 0; t < T; t++) {
            HOB_CHECK(s.row_begin[t] >= 0 && s.row_begin[t] < s.row_end[t] && s.row_end[t] <= n_cells_max,
                      HOB_ERR_OUT_OF_RANGE,
                      "attention row " + std::to_string(t) + " sees cells [" + std::to_string(s.row_begin[t]) + ", " +
                          std::to_string(s.row_end[t]) + "), outside [0, " + std::to_string(n_cells_max) + ")");
        }
    }
    // The window is a distance in positions. Cell c holds position c (the
    // cache renumbers positions 0..size-1 when a shift erases cells, moving
    // positions and windows together), so the visible cells of the query in
    // cell q are [q - window + 1, q]. Check that invariant where it matters.
    HOB_CHECK(s.window >= 0, HOB_ERR_INVALID_ARGUMENT, "negative attention window " + std::to_string(s.window));
    if (s.window > 0 && !ranged) {
        HOB_CHECK(kv.pos(0) == 0 && kv.pos(n_cells_max - 1) == n_cells_max - 1, HOB_ERR_INTERNAL,
                  "sliding-window attention needs cell index == position; cell " + std::to_string(n_cells_max - 1) +
                      " holds position " + std::to_string(kv.pos(n_cells_max - 1)));
    }
    const float inv_cap = s.softcap > 0 ? 1.0f / s.softcap : 0.0f;

    // A task: up to kRowsPerTask (token, head) rows that read the same KV
    // head, numbered j = t * group + g within that head, so the rows of one
    // task are the group's heads of neighbouring tokens.
    const int32_t rows_per_kv = T * group;
    const int32_t tasks_per_kv = (rows_per_kv + kRowsPerTask - 1) / kRowsPerTask;
    pool.run(tasks_per_kv * s.n_head_kv, [&](int task, int thread) {
        const int32_t kvh = task / tasks_per_kv;
        const int32_t j0 = (task % tasks_per_kv) * kRowsPerTask;
        const int32_t n_rows = std::min(kRowsPerTask, rows_per_kv - j0);
        int32_t t_of[kRowsPerTask], h_of[kRowsPerTask], first_of[kRowsPerTask] = {}, end_of[kRowsPerTask] = {};
        for (int32_t r = 0; r < n_rows; r++) {
            t_of[r] = (j0 + r) / group;
            h_of[r] = kvh * group + (j0 + r) % group;
            if (ranged) {
                first_of[r] = s.row_begin[t_of[r]];
                end_of[r] = s.row_end[t_of[r]];
            } else {
                end_of[r] = cell0 + t_of[r] + 1;  // causal: cells up to this token's own
                first_of[r] = s.window > 0 && end_of[r] > s.window ? end_of[r] - s.window : 0;
            }
        }
        // The cells any row of the task sees (causal rows are in token
        // order: the first has the first cell, the last the last).
        int32_t c0 = first_of[0], c1 = end_of[n_rows - 1];
        for (int32_t r = 0; r < n_rows; r++) {
            c0 = std::min(c0, first_of[r]);
            c1 = std::max(c1, end_of[r]);
        }
        const int32_t span = c1 - c0;

        // Per-thread scratch: scores per row, the queries (f16 values, as
        // floats and as halves), the output accumulators.
        const size_t s_stride = ((size_t)span + 3) & ~(size_t)3;
        float* buf =
            scratch.thread_buffer(thread, kRowsPerTask * (s_stride + 2 * (size_t)hd + (size_t)hd / 2 + 1) + (size_t)hd);
        float* scores = buf;
        float* qf = scores + kRowsPerTask * s_stride;
        float* acc = qf + (size_t)kRowsPerTask * hd;
        float* vf = acc + (size_t)kRowsPerTask * hd;  // one V row, widened
        uint16_t* q16 = reinterpret_cast<uint16_t*>(vf + hd);

        for (int32_t r = 0; r < n_rows; r++) {
            const float* qh = q + ((size_t)t_of[r] * s.n_head + h_of[r]) * hd;
            f32_to_f16_row(qh, q16 + (size_t)r * hd, hd);
            f16_to_f32_row(q16 + (size_t)r * hd, qf + (size_t)r * hd, hd);
        }
        const uint16_t* k_head = k_base + (size_t)kvh * hd;
        switch (n_rows) {
            case 1: scores_block<1>(k_head, kv_dim, c0, c1, hd, qf, q16, scores, s_stride); break;
            case 2: scores_block<2>(k_head, kv_dim, c0, c1, hd, qf, q16, scores, s_stride); break;
            case 3: scores_block<3>(k_head, kv_dim, c0, c1, hd, qf, q16, scores, s_stride); break;
            default: scores_block<4>(k_head, kv_dim, c0, c1, hd, qf, q16, scores, s_stride); break;
        }

        // Softmax per row over its own cells; probabilities rounded to f16.
        for (int32_t r = 0; r < n_rows; r++) {
            float* sr = scores + (size_t)r * s_stride - c0;  // indexed by cell
            float max_score = -INFINITY;
            for (int32_t c = first_of[r]; c < end_of[r]; c++) {
                float sc = sr[c] * s.scale;
                if (s.softcap > 0) sc = std::tanh(sc * inv_cap) * s.softcap;
                sr[c] = sc;
                if (sc > max_score) max_score = sc;
            }
            double sum = 0;
            for (int32_t c = first_of[r]; c < end_of[r]; c++) {
                const float e = std::exp(sr[c] - max_score);
                sr[c] = e;
                sum += e;
            }
            const float inv = (float)(1.0 / sum);
            int32_t c = first_of[r];
#if defined(__wasm_simd128__)
            const v128_t vinv = wasm_f32x4_splat(inv);
            for (; c + 8 <= end_of[r]; c += 8) {
                v128_t lo, hi;
                const v128_t h = f32x4x2_to_f16x8(wasm_f32x4_mul(wasm_v128_load(sr + c), vinv),
                                                  wasm_f32x4_mul(wasm_v128_load(sr + c + 4), vinv));
                f16x8_to_f32x4x2(h, &lo, &hi);
                wasm_v128_store(sr + c, lo);
                wasm_v128_store(sr + c + 4, hi);
            }
#endif
            for (; c < end_of[r]; c++) sr[c] = ht[f32_to_f16(sr[c] * inv)];
            float* ar = acc + (size_t)r * hd;
            for (int32_t i = 0; i < hd; i++) ar[i] = 0;
        }

        // Weighted sum of V rows, cell by cell for every row of the task;
        // each V row is widened once for all of them.
        const uint16_t* v_head = v_base + (size_t)kvh * hd;
        for (int32_t c = c0; c < c1; c++) {
            bool widened = false;
            for (int32_t r = 0; r < n_rows; r++) {
                if (c < first_of[r] || c >= end_of[r]) continue;
                const float pc = scores[(size_t)r * s_stride + (c - c0)];
                if (pc == 0.0f) continue;
                if (!widened) {
                    f16_to_f32_row(v_head + (size_t)c * kv_dim, vf, hd);
                    widened = true;
                }
                accumulate_pv(acc + (size_t)r * hd, pc, vf, hd);
            }
        }
        for (int32_t r = 0; r < n_rows; r++) {
            float* o = out + ((size_t)t_of[r] * s.n_head + h_of[r]) * hd;
            for (int32_t i = 0; i < hd; i++) o[i] = acc[(size_t)r * hd + i];
        }
    });
}

}  // namespace hob
