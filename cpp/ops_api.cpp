// The plain-C test door onto single CPU ops (ops_api.h). Each call builds
// the engine objects an op needs (a Tensor view, a one-layer KvCache, a
// one-thread pool), runs the op exactly as the forward pass would, and
// copies results out. Errors are caught here like api.cpp catches them.
#include "ops_api.h"

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "kv_cache.h"
#include "ops/ops.h"
#include "quants.h"
#include "quants_relaxed.h"
#include "tensor.h"
#include "threadpool.h"
#include "types.h"

namespace {

thread_local std::string g_op_error;

hob_status op_error(hob_status s, const std::string& msg) {
    g_op_error = msg;
    return s;
}

// The catch-everything wrapper every entry point runs its body in; the same
// policy as api.cpp's (including the untyped catch of the threaded build).
template <typename F>
hob_status guard(F&& fn) {
    hob::last_thrown() = {};
    g_op_error.clear();
    try {
        fn();
        return HOB_OK;
    } catch (const hob::Error& e) {
        return op_error(e.status(), e.what());
    } catch (const std::bad_alloc&) {
        return op_error(HOB_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return op_error(HOB_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        const hob::ThrownError& t = hob::last_thrown();
        if (t.status != HOB_OK) return op_error(t.status, t.message);
        return op_error(HOB_ERR_OUT_OF_MEMORY, "out of memory (or an unexpected engine error)");
    }
}

// One thread: op results must not depend on how work is split, and a test
// harness should not start workers.
hob::ThreadPool& pool() {
    static hob::ThreadPool p(1);
    return p;
}

hob::Scratch make_scratch() {
    hob::Scratch s;
    s.per_thread.resize((size_t)pool().size());
    return s;
}

const hob::TypeTraits& checked_traits(int32_t type, int64_t n) {
    const hob::TypeTraits* tr = hob::type_traits((uint32_t)type);
    HOB_CHECK(tr && tr->name, HOB_ERR_UNSUPPORTED_TYPE, "unknown tensor type " + std::to_string(type));
    HOB_CHECK(n > 0 && n % tr->block_size == 0, HOB_ERR_INVALID_ARGUMENT,
              std::string("a row of ") + tr->name + " needs a positive multiple of " +
                  std::to_string(tr->block_size) + " elements, got " + std::to_string(n));
    return *tr;
}

hob::RopeParams rope_params(int32_t style, int32_t n_rot, float freq_base, float freq_scale, const float* ff) {
    HOB_CHECK(style == 0 || style == 1, HOB_ERR_INVALID_ARGUMENT, "RoPE style " + std::to_string(style));
    hob::RopeParams p;
    p.style = style == 0 ? hob::RopeStyle::Normal : hob::RopeStyle::NeoX;
    p.n_rot = n_rot;
    p.freq_base = freq_base;
    p.freq_scale = freq_scale;
    p.freq_factors = ff;
    return p;
}

// A one-layer cache holding `n` cells of the given halves.
void fill_cache(hob::KvCache& kv, const uint16_t* k, const uint16_t* v, int32_t n) {
    const size_t d = (size_t)kv.kv_dim();
    for (int32_t c = 0; c < n; c++) {
        std::copy(k + c * d, k + (c + 1) * d, kv.k(0, c));
        std::copy(v + c * d, v + (c + 1) * d, kv.v(0, c));
    }
}

}  // namespace

extern "C" {

const char* hob_op_last_error(void) { return g_op_error.c_str(); }

hob_status hob_op_matmul(int32_t type, const uint8_t* w, int64_t rows, int64_t cols, const float* x, int32_t T,
                         float* y) {
    return hob_op_matmul_tile(type, w, rows, cols, x, T, y, 0, 0, 1);
}

hob_status hob_op_matmul_tile(int32_t type, const uint8_t* w, int64_t rows, int64_t cols, const float* x, int32_t T,
                              float* y, int32_t tile_rows, int32_t tile_tokens, int32_t reps) {
    if (!w || !x || !y || rows <= 0 || T <= 0 || reps < 1) {
        return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_matmul: bad arguments");
    }
    const hob_status st = guard([&] {
        hob::set_relaxed_tile(tile_rows, tile_tokens);
        const hob::TypeTraits& tr = checked_traits(type, cols);
        HOB_CHECK(hob::type_supported((hob::TypeId)type), HOB_ERR_UNSUPPORTED_TYPE,
                  std::string("no CPU matmul for ") + tr.name);
        hob::Tensor t;
        t.name = "op";
        t.type = (hob::TypeId)type;
        t.ne[0] = cols;
        t.ne[1] = rows;
        t.data = w;
        t.row_bytes = hob::row_size(t.type, cols);
        t.n_bytes = t.row_bytes * (size_t)rows;
        // The relaxed builds repack weights at load; so does this op, on a
        // copy, so their tests reach the same kernels.
        std::vector<uint8_t> packed;
        if (hob::repack_wanted(t.type)) {
            packed.assign(w, w + t.n_bytes);
            hob::repack_rows(t.type, packed.data(), rows, cols);
            t.data = packed.data();
            t.repacked = true;
        }
        hob::Scratch scratch = make_scratch();
        for (int32_t i = 0; i < reps; i++) hob::matmul(pool(), scratch, t, x, T, y);
    });
    hob::set_relaxed_tile(0, 0);
    return st;
}

hob_status hob_op_quantize_row(int32_t type, const float* x, int64_t n, uint8_t* out) {
    if (!x || !out) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_quantize_row: null buffer");
    return guard([&] {
        checked_traits(type, n);
        hob::quantize_row((hob::TypeId)type, x, out, n);
    });
}

hob_status hob_op_dequantize_row(int32_t type, const uint8_t* x, int64_t n, float* y) {
    if (!x || !y) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_dequantize_row: null buffer");
    return guard([&] {
        checked_traits(type, n);
        hob::dequantize_row((hob::TypeId)type, x, y, n);
    });
}

hob_status hob_op_rmsnorm(const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps) {
    if (!x || !weight || !y || T <= 0 || n <= 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_rmsnorm: bad arguments");
    return guard([&] { hob::rmsnorm(x, weight, y, T, n, eps); });
}

hob_status hob_op_rope(float* x, int32_t T, int32_t n_heads, int32_t head_dim, const int32_t* pos, int32_t style,
                       int32_t n_rot, float freq_base, float freq_scale, const float* freq_factors) {
    if (!x || !pos || T <= 0 || n_heads <= 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_rope: bad arguments");
    return guard([&] {
        hob::rope(x, T, n_heads, head_dim, pos, rope_params(style, n_rot, freq_base, freq_scale, freq_factors));
    });
}

hob_status hob_op_kv_store(const float* k, const float* v, int32_t T, int32_t kv_dim, uint16_t* k_out,
                           uint16_t* v_out) {
    if (!k || !v || !k_out || !v_out || T <= 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_kv_store: bad arguments");
    return guard([&] {
        hob::KvCache kv(1, T, kv_dim);
        hob::kv_store(kv, 0, 0, T, k, v);
        const size_t n = (size_t)T * kv_dim;
        std::copy(kv.k(0, 0), kv.k(0, 0) + n, k_out);
        std::copy(kv.v(0, 0), kv.v(0, 0) + n, v_out);
    });
}

hob_status hob_op_attention(const float* q, const float* k, const float* v, int32_t cell0, int32_t T,
                            int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, float* out) {
    if (!q || !k || !v || !out || T <= 0 || cell0 < 0 || n_head_kv <= 0 || head_dim <= 0) {
        return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_attention: bad arguments");
    }
    return guard([&] {
        const int32_t n_cells = cell0 + T;
        hob::KvCache kv(1, n_cells, n_head_kv * head_dim);
        hob::kv_store(kv, 0, 0, n_cells, k, v);
        hob::Scratch scratch = make_scratch();
        hob::attention(pool(), scratch, kv, 0, cell0, T, {n_head, n_head_kv, head_dim, scale}, q, out);
    });
}

hob_status hob_op_rope_shift_k(uint16_t* k, int32_t n_cells, int32_t kv_dim, int32_t cell0, int32_t n,
                               int32_t n_heads, int32_t head_dim, int32_t delta, int32_t style, int32_t n_rot,
                               float freq_base, float freq_scale, const float* freq_factors) {
    if (!k || n_cells <= 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_rope_shift_k: bad arguments");
    return guard([&] {
        hob::KvCache kv(1, n_cells, kv_dim);
        std::vector<uint16_t> zeros((size_t)n_cells * kv_dim, 0);
        fill_cache(kv, k, zeros.data(), n_cells);
        hob::rope_shift_k(pool(), kv, 0, cell0, n, n_heads, head_dim, delta,
                          rope_params(style, n_rot, freq_base, freq_scale, freq_factors));
        std::copy(kv.k(0, 0), kv.k(0, 0) + (size_t)n_cells * kv_dim, k);
    });
}

hob_status hob_op_kv_erase(uint16_t* k, uint16_t* v, int32_t n_ctx, int32_t kv_dim, int32_t used, int32_t start,
                           int32_t end, int32_t n_heads, int32_t head_dim, int32_t style, int32_t n_rot,
                           float freq_base, float freq_scale, const float* freq_factors) {
    if (!k || !v || n_ctx <= 0 || used < 0 || used > n_ctx) {
        return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_kv_erase: bad arguments");
    }
    return guard([&] {
        hob::KvCache kv(1, n_ctx, kv_dim);
        fill_cache(kv, k, v, n_ctx);
        kv.reserve(used, 0);
        kv.commit(used);
        // The order of Session::erase: check, move, then re-rotate the moved keys.
        kv.check_span(start, end);
        const int32_t moved = used - end;
        kv.erase(start, end);
        hob::rope_shift_k(pool(), kv, 0, start, moved, n_heads, head_dim, -(end - start),
                          rope_params(style, n_rot, freq_base, freq_scale, freq_factors));
        const size_t n = (size_t)n_ctx * kv_dim;
        std::copy(kv.k(0, 0), kv.k(0, 0) + n, k);
        std::copy(kv.v(0, 0), kv.v(0, 0) + n, v);
    });
}

hob_status hob_op_silu_mul(float* x, const float* up, int64_t n) {
    if (!x || !up || n < 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_silu_mul: bad arguments");
    return guard([&] { hob::silu_mul(x, up, n); });
}

hob_status hob_op_add(float* x, const float* y, int64_t n) {
    if (!x || !y || n < 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_add: bad arguments");
    return guard([&] { hob::add(x, y, n); });
}

hob_status hob_op_attention_window(const float* q, const float* k, const float* v, int32_t cell0, int32_t T,
                                   int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, int32_t window,
                                   float softcap, float* out) {
    if (!q || !k || !v || !out || T <= 0 || cell0 < 0 || n_head_kv <= 0 || head_dim <= 0 || window < 0 || softcap < 0) {
        return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_attention_window: bad arguments");
    }
    return guard([&] {
        const int32_t n_cells = cell0 + T;
        hob::KvCache kv(1, n_cells, n_head_kv * head_dim);
        kv.reserve(n_cells, 0);  // cell c holds position c, as the window needs
        kv.commit(n_cells);
        hob::kv_store(kv, 0, 0, n_cells, k, v);
        hob::Scratch scratch = make_scratch();
        hob::AttentionShape shape{n_head, n_head_kv, head_dim, scale};
        shape.window = window;
        shape.softcap = softcap;
        hob::attention(pool(), scratch, kv, 0, cell0, T, shape, q, out);
    });
}

hob_status hob_op_gelu_mul(float* x, const float* up, int64_t n) {
    if (!x || !up || n < 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_gelu_mul: bad arguments");
    return guard([&] { hob::gelu_mul(x, up, n); });
}

hob_status hob_op_add_bias(float* x, const float* bias, int32_t T, int32_t n) {
    if (!x || !bias || T < 0 || n < 0) return op_error(HOB_ERR_INVALID_ARGUMENT, "hob_op_add_bias: bad arguments");
    return guard([&] { hob::add_bias(x, bias, T, n); });
}

}  // extern "C"
