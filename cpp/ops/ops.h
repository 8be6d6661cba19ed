// The numeric kernels of a forward pass, behind small functions: matrix
// products over quantized weights, RMSNorm, RoPE, attention over the KV
// cache and the element-wise steps. model.cpp calls these and nothing lower.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "../kv_cache.h"
#include "../tensor.h"
#include "../threadpool.h"

namespace hob {

// A matmul's work item: rows [r0, r1) of weight m.
struct MatmulChunk {
    int m;
    int64_t r0, r1;
};

// Reusable per-session buffers for kernels, so the forward pass does not
// allocate. Grown on first use, then kept.
struct Scratch {
    std::vector<uint8_t> act;                 // activations converted for a matmul
    std::vector<int16_t> act16;               // ... and widened for the tile kernels
    std::vector<float> act_scales;            // their block scales (and Q8_1 / Q8_K sums)
    std::vector<uint8_t> act_relaxed;         // ... and for repacked weights (quants_relaxed.h)
    std::vector<MatmulChunk> chunks;          // a matmul's work items
    std::vector<std::vector<float>> per_thread;  // one float buffer per thread
    float* thread_buffer(int thread, size_t n);
};

// Calls fn(i0, i1) over [0, n) in contiguous ranges, spread over the pool
// when there is enough work: `cost` estimates the whole loop in simple float
// operations, and each task gets at least kMinTaskCost of it, since a pool
// job costs a few microseconds. Ranges start at multiples of `align`.
constexpr int64_t kMinTaskCost = 16384;
template <typename F>
void parallel_for(ThreadPool& pool, int64_t n, int64_t cost, int64_t align, F&& fn) {
    if (n <= 0) return;
    const int64_t units = (n + align - 1) / align;
    int64_t tasks = std::min<int64_t>({(int64_t)pool.active() * 4, units, cost / kMinTaskCost});
    if (pool.active() <= 1 || tasks <= 1) {
        fn((int64_t)0, n);
        return;
    }
    const int64_t per = (units + tasks - 1) / tasks;
    tasks = (units + per - 1) / per;
    pool.run((int)tasks, [&](int task, int) {
        const int64_t i0 = (int64_t)task * per * align;
        fn(i0, std::min(n, i0 + per * align));
    });
}

// y[t][r] = W[r] . x[t] for T rows x of W.cols() floats; y is T x W.rows().
void matmul(ThreadPool& pool, Scratch& scratch, const Tensor& w, const float* x, int32_t T, float* y);

// Several matmuls over the same input x, for weights that can_share_input:
// the activations are converted once and all rows run in one job.
struct MatmulOut {
    const Tensor* w;
    float* y;
};
void matmul_many(ThreadPool& pool, Scratch& scratch, std::initializer_list<MatmulOut> outs, const float* x, int32_t T);
bool can_share_input(const Tensor& a, const Tensor& b);

// y = x / sqrt(mean(x^2) + eps) * weight, for each of T rows of n.
void rmsnorm(const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps);

// The same, over the pool's threads for large batches.
void rmsnorm(ThreadPool& pool, const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps);

// y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias, for each of T rows
// of n (BERT's LayerNorm); y may be x.
void layernorm(const float* x, const float* weight, const float* bias, float* y, int32_t T, int32_t n, float eps);
void layernorm(ThreadPool& pool, const float* x, const float* weight, const float* bias, float* y, int32_t T, int32_t n,
               float eps);

enum class RopeStyle { Normal, NeoX };

struct RopeParams {
    RopeStyle style = RopeStyle::Normal;
    int32_t n_rot = 0;            // rotated dimensions per head (even)
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;      // 1 / linear scaling factor
    const float* freq_factors = nullptr;  // n_rot / 2 divisors (llama 3, LongRoPE), or null
    // cos and sin are multiplied by this (rope.scaling.attn_factor: LongRoPE's
    // attention factor), so rotated q and k grow by it, as in llama.cpp.
    float mscale = 1.0f;
};

// Rotates T rows of n_heads heads of head_dim, row t at position pos[t].
void rope(float* x, int32_t T, int32_t n_heads, int32_t head_dim, const int32_t* pos, const RopeParams& p);

// One token's rotation, in two steps: rope_angles fills cs (n_rot floats:
// cos, sin per pair) for position pos; rope_apply rotates n_heads heads of
// one row with them. rope() is these two for each row.
void rope_angles(int32_t pos, const RopeParams& p, float* cs);
void rope_apply(float* x, int32_t n_heads, int32_t head_dim, const float* cs, const RopeParams& p);

// Re-rotates cached K rows (f16) of one layer, cells [cell0, cell0 + n), by
// `delta` positions: what a context shift does to keys whose tokens moved.
// A pure rotation: p.mscale is not applied again (the keys carry it from
// their first rotation; llama.cpp's shift multiplies them by it once more).
void rope_shift_k(ThreadPool& pool, KvCache& kv, int32_t layer, int32_t cell0, int32_t n, int32_t n_heads,
                  int32_t head_dim, int32_t delta, const RopeParams& p);

struct AttentionShape {
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    float scale;           // applied to q.k
    int32_t window = 0;    // sliding window in positions; 0: every earlier cell is visible
    float softcap = 0.0f;  // scores become softcap * tanh(score / softcap); 0: off
    // Explicit visible cells [row_begin[t], row_end[t]) of query row t, for
    // batches of several sequences or non-causal attention (embeddings); the
    // window is then already in them. Null: causal, as above.
    const int32_t* row_begin = nullptr;
    const int32_t* row_end = nullptr;
};

// Attention of T query rows (q: T x n_head*head_dim) against the layer's
// cache: causal, row t sees cells [0, cell0 + t] (with a window w, only cells
// [cell0 + t - w + 1, cell0 + t]), or the cells the shape's row ranges give,
// which must lie in [0, cell0 + T) and hold one cell at least; out has q's
// shape.
void attention(ThreadPool& pool, Scratch& scratch, const KvCache& kv, int32_t layer, int32_t cell0, int32_t T,
               const AttentionShape& s, const float* q, float* out);

// x[i] = silu(x[i]) * up[i]
void silu_mul(float* x, const float* up, int64_t n);

// x[i] = gelu(x[i]) * up[i], gelu by its tanh approximation (GeGLU).
void gelu_mul(float* x, const float* up, int64_t n);

// x[i] = gelu(x[i]) (BERT's feed-forward), over the pool's threads.
void gelu(float* x, int64_t n);
void gelu(ThreadPool& pool, float* x, int64_t n);

// Both, over the pool's threads when n is large.
void silu_mul(ThreadPool& pool, float* x, const float* up, int64_t n);
void gelu_mul(ThreadPool& pool, float* x, const float* up, int64_t n);

// x[t][i] += bias[i] for T rows of n.
void add_bias(float* x, const float* bias, int32_t T, int32_t n);

// x[i] *= s
void scale(float* x, float s, int64_t n);

// x[i] = cap * tanh(x[i] / cap): bounds x to (-cap, cap), near-identity for small x.
void softcap(float* x, float cap, int64_t n);

// x[i] += y[i]
void add(float* x, const float* y, int64_t n);

// Stores T rows of K and V (f32) into the layer's cache cells [cell0, cell0 + T).
void kv_store(KvCache& kv, int32_t layer, int32_t cell0, int32_t T, const float* k, const float* v);

}  // namespace hob
