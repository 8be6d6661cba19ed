// Matrix products y = W x over weights of any supported type. Activations are
// converted once to the weights' vec-dot type (Q8_0, Q8_1 or Q8_K for the
// quantized ones, as llama.cpp pairs them); output rows are split into
// chunks across threads, and each weight row is reused for every token of
// the batch while it is in cache.
#include <algorithm>
#include <string>

#include "../quants.h"
#include "ops.h"

namespace hob {

float* Scratch::thread_buffer(int thread, size_t n) {
    HOB_CHECK(thread >= 0 && (size_t)thread < per_thread.size(), HOB_ERR_INTERNAL,
              "scratch has no buffer for thread " + std::to_string(thread));
    std::vector<float>& b = per_thread[thread];
    if (b.size() < n) b.resize(n);
    return b.data();
}

void matmul(ThreadPool& pool, Scratch& scratch, const Tensor& w, const float* x, int32_t T, float* y) {
    const int64_t n_in = w.cols();
    const int64_t n_out = w.rows();
    // Kernels read whole blocks: a row that is not whole blocks (refused by
    // row_size, naming the weight type) or a stride that disagrees would
    // read past the tensor.
    HOB_CHECK(row_size(w.type, n_in) == w.row_bytes, HOB_ERR_INTERNAL,
              "tensor " + w.name + " has row stride " + std::to_string(w.row_bytes) + " for " + std::to_string(n_in) +
                  " elements of " + type_name(w.type));
    const TypeId at = vec_dot_type(w.type);
    const size_t a_row = row_size(at, n_in);

    const uint8_t* act;
    if (at == TypeId::F32) {
        act = reinterpret_cast<const uint8_t*>(x);
    } else {
        if (scratch.act.size() < a_row * T) scratch.act.resize(a_row * T);
        uint8_t* dst = scratch.act.data();
        pool.run(T, [&](int t, int) { quantize_row(at, x + (size_t)t * n_in, dst + (size_t)t * a_row, n_in); });
        act = dst;
    }

    // Enough chunks to balance the threads, few enough that claiming one
    // costs little next to computing it.
    const int64_t per_chunk = std::max<int64_t>(1, std::min<int64_t>(64, n_out / (pool.size() * 4)));
    const int n_chunks = (int)((n_out + per_chunk - 1) / per_chunk);
    pool.run(n_chunks, [&](int c, int) {
        const int64_t r0 = c * per_chunk;
        const int64_t r1 = std::min(n_out, r0 + per_chunk);
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t* wr = w.row(r);
            for (int32_t t = 0; t < T; t++) {
                y[(size_t)t * n_out + r] = vec_dot(w.type, n_in, wr, act + (size_t)t * a_row);
            }
        }
    });
}

}  // namespace hob
