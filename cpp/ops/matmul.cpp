// Matrix products y = W x over weights of any supported type. Activations are
// converted once to the weights' vec-dot type (Q8_0, Q8_1 or Q8_K for the
// quantized ones, as llama.cpp pairs them); output rows are split into
// chunks across threads. Batches run tiled: each weight row meets a tile
// of tokens while both are in cache, through the tile kernels where the
// type has one. Several weights over one input (Q, K, V; gate, up) share
// the converted activations and one job.
#include <algorithm>
#include <cstdint>
#include <string>

#include "../quants.h"
#include "../quants_relaxed.h"
#include "ops.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace hob {

namespace {

// ---- float weights by many tokens ---------------------------------------------
// F16 and F32 weights have no tile kernel: one vec_dot per (row, token)
// pair would widen an f16 row again for every token (in software on
// wasm) and stream every token's activations past each row. For a batch,
// a chunk's rows are widened to f32 once, the activations once (rounded to
// f16 first for F16 weights, as their vec_dot does and as llama.cpp does),
// and a register block of R rows x C tokens runs over them: products of
// the f16 values summed in f32.

// y[c * ys + r] = w[r] . a[c] for R rows (stride ws) and C tokens (stride
// as), stored for the first nc tokens only, summed in the order of dot_f32 / dot_f16's SIMD128 loop (two
// 4-lane accumulators, one for the first and one for the second half of
// each 8 elements, then the tail): the same bits as one vec_dot per pair.
// The halves run as two passes, so that R x C sums fit the registers.
template <int R, int C>
void float_block(const float* w, size_t ws, const float* a, size_t as, int64_t n, float* y, size_t ys, int nc) {
    float sums[R][C];
    int64_t i = 0;
#if defined(__wasm_simd128__)
    const int64_t n8 = n / 8 * 8;
    v128_t half[2][R][C];
    for (int h = 0; h < 2; h++) {
        v128_t acc[R][C];
        for (int r = 0; r < R; r++) {
            for (int c = 0; c < C; c++) acc[r][c] = wasm_f32x4_splat(0.0f);
        }
        for (int64_t k = 4 * h; k < n8; k += 8) {
            v128_t wv[R];
            for (int r = 0; r < R; r++) wv[r] = wasm_v128_load(w + r * ws + k);
            for (int c = 0; c < C; c++) {
                const v128_t av = wasm_v128_load(a + c * as + k);
                for (int r = 0; r < R; r++) acc[r][c] = wasm_f32x4_add(acc[r][c], wasm_f32x4_mul(wv[r], av));
            }
        }
        for (int r = 0; r < R; r++) {
            for (int c = 0; c < C; c++) half[h][r][c] = acc[r][c];
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            const v128_t v = wasm_f32x4_add(half[0][r][c], half[1][r][c]);
            sums[r][c] = wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
                         wasm_f32x4_extract_lane(v, 3);
        }
    }
    i = n8;
#else
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) sums[r][c] = 0.0f;
    }
#endif
    for (; i < n; i++) {
        for (int r = 0; r < R; r++) {
            for (int c = 0; c < C; c++) sums[r][c] += w[r * ws + i] * a[c * as + i];
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < nc; c++) y[c * ys + r] = sums[r][c];
    }
}

// One register block of R rows by c tokens (1 or kC): a lone last token
// runs as two copies of itself, one instantiation less in the module.
constexpr int kR = 4, kC = 2;
template <int R>
void float_block_tokens(int c, const float* w, size_t s, const float* a, int64_t n, float* y, size_t ys) {
    float_block<R, kC>(w, s, a, c == kC ? s : 0, n, y, ys, c);
}

// Rows [0, nr) of w against tokens [0, nt) of a, into y (token-major, ys
// apart): tokens in tiles that stay in cache while the rows stream past,
// register blocks of kR rows x kC tokens (8 of the 16 vector registers
// hold sums, kR hold the rows).
void float_rows(const float* w, int64_t nr, const float* a, int32_t nt, int64_t n, float* y, size_t ys) {
    constexpr int32_t kTile = 16;
    const size_t s = (size_t)n;
    for (int32_t t0 = 0; t0 < nt; t0 += kTile) {
        const int32_t t1 = std::min(nt, t0 + kTile);
        for (int64_t r = 0; r < nr; r += kR) {
            const float* wr = w + (size_t)r * s;
            const int rows = (int)std::min<int64_t>(kR, nr - r);
            for (int32_t t = t0; t < t1; t += kC) {
                const int c = std::min(kC, t1 - t);
                const float* at = a + (size_t)t * s;
                float* yt = y + (size_t)t * ys + r;
                if (rows == kR) {
                    float_block_tokens<kR>(c, wr, s, at, n, yt, ys);
                } else {
                    // A matrix's last rows (chunks hold whole blocks): one
                    // at a time keeps the module an instantiation smaller.
                    for (int i = 0; i < rows; i++) float_block_tokens<1>(c, wr + (size_t)i * s, s, at, n, yt + i, ys);
                }
            }
        }
    }
}

bool is_float_weight(const Tensor& w) { return !w.repacked && (w.type == TypeId::F16 || w.type == TypeId::F32); }

// Batches shorter than this keep one vec_dot per (row, token): widening a
// row costs about one token's products. Native builds keep vec_dot too:
// their F16C + FMA dots convert in hardware, and the blocks here are SIMD
// only on wasm.
#if defined(__wasm_simd128__)
constexpr int32_t kFloatTokens = 4;
#else
constexpr int32_t kFloatTokens = INT32_MAX;
#endif

}  // namespace

float* Scratch::thread_buffer(int thread, size_t n) {
    HOB_CHECK(thread >= 0 && (size_t)thread < per_thread.size(), HOB_ERR_INTERNAL,
              "scratch has no buffer for thread " + std::to_string(thread));
    std::vector<float>& b = per_thread[thread];
    if (b.size() < n) b.resize(n);
    return b.data();
}

void matmul_many(ThreadPool& pool, Scratch& scratch, std::initializer_list<MatmulOut> outs, const float* x, int32_t T) {
    const MatmulOut* mo = outs.begin();
    const int n_m = (int)outs.size();
    HOB_CHECK(n_m > 0, HOB_ERR_INTERNAL, "matmul with no weights");
    const Tensor& w0 = *mo[0].w;
    const int64_t n_in = w0.cols();
    const TypeId at = vec_dot_type(w0.type);
    // Repacked weights run the relaxed kernels on activations of their own
    // form; the others the tile kernels where every one has one.
    bool tiled = T > 1, relaxed = false, floats = T >= kFloatTokens;
    for (int m = 0; m < n_m; m++) {
        const Tensor& w = *mo[m].w;
        // Kernels read whole blocks: a row that is not whole blocks (refused
        // by row_size, naming the weight type) or a stride that disagrees
        // would read past the tensor.
        HOB_CHECK(row_size(w.type, w.cols()) == w.row_bytes, HOB_ERR_INTERNAL,
                  "tensor " + w.name + " has row stride " + std::to_string(w.row_bytes) + " for " +
                      std::to_string(w.cols()) + " elements of " + type_name(w.type));
        HOB_CHECK(w.cols() == n_in && vec_dot_type(w.type) == at, HOB_ERR_INTERNAL,
                  "tensors " + w0.name + " and " + w.name + " cannot share converted activations");
        if (w.repacked) {
            relaxed = true;
        } else {
            tiled = tiled && has_tile_kernel(w.type);
        }
        floats = floats && is_float_weight(w);
    }
    const size_t a_row = row_size(at, n_in);

    // Activations are converted once for all the weights; a batch against
    // types with a tile kernel also gets them widened, once for every row.
    const WidenedSize wide = tiled ? widened_size(at, n_in) : WidenedSize{0, 0};
    if (tiled) {
        if (scratch.act16.size() < (size_t)T * wide.q16) scratch.act16.resize((size_t)T * wide.q16);
        if (scratch.act_scales.size() < (size_t)T * wide.side) scratch.act_scales.resize((size_t)T * wide.side);
    }
    const size_t relaxed_row = relaxed ? relaxed_act_bytes(at, n_in) : 0;
    if (relaxed && scratch.act_relaxed.size() < relaxed_row * T) scratch.act_relaxed.resize(relaxed_row * T);
    // Float weights' activations as f32, rounded through f16 for F16.
    std::vector<float> act_f32;
    const float* actf = x;
    if (floats && at == TypeId::F16) {
        act_f32.resize((size_t)T * n_in);
        if (scratch.act.size() < a_row * T) scratch.act.resize(a_row * T);
        uint8_t* half_rows = scratch.act.data();
        pool.run(T, [&](int t, int) {
            quantize_row(at, x + (size_t)t * n_in, half_rows + (size_t)t * a_row, n_in);
            dequantize_row(at, half_rows + (size_t)t * a_row, act_f32.data() + (size_t)t * n_in, n_in);
        });
        actf = act_f32.data();
    }
    const uint8_t* act = nullptr;
    if (floats) {
        // The float path reads actf.
    } else if (at == TypeId::F32) {
        act = reinterpret_cast<const uint8_t*>(x);
    } else {
        if (scratch.act.size() < a_row * T) scratch.act.resize(a_row * T);
        uint8_t* dst = scratch.act.data();
        pool.run(T, [&](int t, int) {
            quantize_row(at, x + (size_t)t * n_in, dst + (size_t)t * a_row, n_in);
            if (relaxed) relax_activations(at, dst + (size_t)t * a_row, n_in, scratch.act_relaxed.data() + (size_t)t * relaxed_row);
            if (tiled) {
                widen_activations(at, dst + (size_t)t * a_row, n_in, scratch.act16.data() + (size_t)t * wide.q16,
                                  scratch.act_scales.data() + (size_t)t * wide.side);
            }
        });
        act = dst;
    }

    // Enough chunks to balance the threads, few enough that claiming one
    // costs little next to computing it; all weights' rows in one job, so
    // the threads meet once.
    int64_t total_rows = 0;
    for (int m = 0; m < n_m; m++) total_rows += mo[m].w->rows();
    int64_t per_chunk = std::max<int64_t>(1, std::min<int64_t>(64, total_rows / (pool.size() * 4)));
    // A chunk's widened f16 rows stay within about 256 kB (L2).
    if (floats && at == TypeId::F16) per_chunk = std::min<int64_t>(per_chunk, 65536 / n_in);
    // Float chunks hold whole blocks of rows.
    if (floats) per_chunk = std::max<int64_t>(4, per_chunk / 4 * 4);
    std::vector<std::vector<float>> widened(floats && at == TypeId::F16 ? (size_t)pool.size() : 0);
    std::vector<MatmulChunk>& chunks = scratch.chunks;
    chunks.clear();
    for (int m = 0; m < n_m; m++) {
        for (int64_t r = 0; r < mo[m].w->rows(); r += per_chunk) chunks.push_back({m, r, std::min(mo[m].w->rows(), r + per_chunk)});
    }
    pool.run((int)chunks.size(), [&](int c, int thread) {
        const Tensor& w = *mo[chunks[c].m].w;
        float* y = mo[chunks[c].m].y;
        const int64_t n_out = w.rows();
        const int64_t r0 = chunks[c].r0, r1 = chunks[c].r1;
        if (floats) {
            const float* wf = reinterpret_cast<const float*>(w.row(r0));
            if (w.type == TypeId::F16) {
                std::vector<float>& buf = widened[(size_t)thread];
                buf.resize((size_t)(r1 - r0) * n_in);
                for (int64_t r = r0; r < r1; r++) dequantize_row(TypeId::F16, w.row(r), buf.data() + (size_t)(r - r0) * n_in, n_in);
                wf = buf.data();
            }
            float_rows(wf, r1 - r0, actf, T, n_in, y + r0, (size_t)n_out);
            return;
        }
        if (w.repacked) {
            const uint8_t* ar = scratch.act_relaxed.data();
            if (T == 1) {
                dot_relaxed(w.type, n_in, w.row(r0), w.row_bytes, (int)(r1 - r0), ar, 1, y + r0);
                return;
            }
            // As the tiled path below: a tile of tokens against the chunk's rows.
            // 12 rows a call: whole register tiles of 1 to 4 rows.
            constexpr int32_t kTile = 16;
            constexpr int64_t kRows = 12;
            float dots[kRows * kTile];
            for (int32_t t0 = 0; t0 < T; t0 += kTile) {
                const int32_t nt = std::min(kTile, T - t0);
                for (int64_t r = r0; r < r1; r += kRows) {
                    const int nr = (int)std::min(kRows, r1 - r);
                    dot_relaxed(w.type, n_in, w.row(r), w.row_bytes, nr, ar + (size_t)t0 * relaxed_row, nt, dots);
                    for (int i = 0; i < nr; i++) {
                        for (int32_t j = 0; j < nt; j++) y[(size_t)(t0 + j) * n_out + r + i] = dots[i * nt + j];
                    }
                }
            }
            return;
        }
        if (tiled) {
            // Tokens in tiles of kTile, rows inside: the tile's activations
            // stay in cache while the chunk's rows stream past them.
            // Rows go to the kernels kRows at a time, one dispatch for
            // them all.
            constexpr int32_t kTile = 16;
            constexpr int64_t kRows = 2;
            float dots[kRows * kTile];
            for (int32_t t0 = 0; t0 < T; t0 += kTile) {
                const int32_t nt = std::min(kTile, T - t0);
                const int16_t* a16 = scratch.act16.data() + (size_t)t0 * wide.q16;
                const float* as = scratch.act_scales.data() + (size_t)t0 * wide.side;
                for (int64_t r = r0; r < r1; r += kRows) {
                    const int nr = (int)std::min(kRows, r1 - r);
                    vec_dot_tile(w.type, n_in, w.row(r), w.row_bytes, nr, a16, as, nt, dots);
                    for (int i = 0; i < nr; i++) {
                        for (int32_t j = 0; j < nt; j++) y[(size_t)(t0 + j) * n_out + r + i] = dots[i * nt + j];
                    }
                }
            }
            return;
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t* wr = w.row(r);
            for (int32_t t = 0; t < T; t++) {
                y[(size_t)t * n_out + r] = vec_dot(w.type, n_in, wr, act + (size_t)t * a_row);
            }
        }
    });
}

void matmul(ThreadPool& pool, Scratch& scratch, const Tensor& w, const float* x, int32_t T, float* y) {
    matmul_many(pool, scratch, {MatmulOut{&w, y}}, x, T);
}

bool can_share_input(const Tensor& a, const Tensor& b) {
    return a.cols() == b.cols() && vec_dot_type(a.type) == vec_dot_type(b.type);
}

}  // namespace hob
