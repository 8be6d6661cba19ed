// KV cache storage and its bounds. The buffers are sized in the constructor
// and only ever written in place afterwards.
#include "kv_cache.h"

#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace hob {

KvCache::KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_dim)
    : n_layer_(n_layer), n_ctx_(n_ctx), kv_dim_(kv_dim) {
    HOB_CHECK(n_layer >= 0 && n_ctx > 0 && kv_dim > 0, HOB_ERR_INVALID_ARGUMENT,
              "KV cache needs n_ctx > 0 and kv_dim > 0 (got n_ctx " + std::to_string(n_ctx) + ", kv_dim " +
                  std::to_string(kv_dim) + ")");
    const uint64_t n = (uint64_t)n_layer * (uint64_t)n_ctx * (uint64_t)kv_dim;
    const std::string what = "a KV cache of " + std::to_string(2 * n * sizeof(uint16_t)) + " bytes for " +
                             std::to_string(n_ctx) + " tokens";
    // size_t has 32 bits in wasm32: a count past it would wrap to a small
    // cache that every later write runs past (n_layer 8, kv_dim 32 and 2^24
    // cells wrapped to none at all). Such a cache cannot exist in this build.
    constexpr uint64_t kMaxBytes = std::numeric_limits<size_t>::max();
    if (n > kMaxBytes / sizeof(uint16_t) / 2 || (uint64_t)n_ctx > kMaxBytes / sizeof(int32_t)) {
        fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what + ": more than this build can address");
    }
    try {
        k_.assign((size_t)n, 0);
        v_.assign((size_t)n, 0);
        pos_.assign((size_t)n_ctx, -1);
    } catch (const std::bad_alloc&) {
        fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what);
    } catch (const std::length_error&) {
        fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what);
    }
}

size_t KvCache::offset(int32_t layer, int32_t cell) const {
    HOB_CHECK(layer >= 0 && layer < n_layer_, HOB_ERR_OUT_OF_RANGE,
              "KV layer " + std::to_string(layer) + " out of range [0, " + std::to_string(n_layer_) + ")");
    HOB_CHECK(cell >= 0 && cell < n_ctx_, HOB_ERR_OUT_OF_RANGE,
              "KV cell " + std::to_string(cell) + " out of range [0, " + std::to_string(n_ctx_) + ")");
    return ((size_t)layer * n_ctx_ + cell) * kv_dim_;
}

size_t KvCache::range_offset(int32_t layer, int32_t cell0, int32_t n) const {
    HOB_CHECK(n > 0 && (int64_t)cell0 + n <= n_ctx_, HOB_ERR_OUT_OF_RANGE,
              "KV cells [" + std::to_string(cell0) + ", " + std::to_string((int64_t)cell0 + n) + ") out of range [0, " +
                  std::to_string(n_ctx_) + ")");
    return offset(layer, cell0);
}

const uint16_t* KvCache::k_rows(int32_t layer, int32_t cell0, int32_t n) const {
    return k_.data() + range_offset(layer, cell0, n);
}

const uint16_t* KvCache::v_rows(int32_t layer, int32_t cell0, int32_t n) const {
    return v_.data() + range_offset(layer, cell0, n);
}

int32_t KvCache::pos(int32_t cell) const {
    HOB_CHECK(cell >= 0 && cell < n_ctx_, HOB_ERR_OUT_OF_RANGE,
              "KV cell " + std::to_string(cell) + " out of range [0, " + std::to_string(n_ctx_) + ")");
    return pos_[cell];
}

void KvCache::reserve(int32_t n, int32_t pos0) {
    HOB_CHECK(n >= 0, HOB_ERR_INVALID_ARGUMENT, "cannot reserve " + std::to_string(n) + " cells");
    if ((int64_t)used_ + n > n_ctx_) {
        fail(HOB_ERR_CONTEXT_FULL, std::to_string(n) + " tokens do not fit: " + std::to_string(used_) + " of " +
                                       std::to_string(n_ctx_) + " context cells are in use");
    }
    for (int32_t i = 0; i < n; i++) pos_[used_ + i] = pos0 + i;
}

void KvCache::commit(int32_t n) {
    HOB_CHECK(n >= 0 && (int64_t)used_ + n <= n_ctx_, HOB_ERR_OUT_OF_RANGE,
              "cannot commit " + std::to_string(n) + " cells after " + std::to_string(used_));
    used_ += n;
}

void KvCache::check_span(int32_t start, int32_t end) const {
    // A reversed or oversized range must never reach the memory moves below
    // (llama.cpp's equivalent was a heap overflow: CVE-2026-21869).
    if (start < 0 || end < start || end > used_) {
        fail(HOB_ERR_OUT_OF_RANGE, "cannot erase tokens [" + std::to_string(start) + ", " + std::to_string(end) +
                                       "): the range must lie within the " + std::to_string(used_) +
                                       " tokens in the cache, start <= end");
    }
}

void KvCache::erase(int32_t start, int32_t end) {
    check_span(start, end);
    const int32_t n = end - start;
    if (n == 0) return;
    const size_t row = (size_t)kv_dim_;
    const size_t moved = (size_t)(used_ - end) * row;
    for (int32_t l = 0; l < n_layer_; l++) {
        const size_t base = (size_t)l * n_ctx_ * row;
        std::memmove(k_.data() + base + (size_t)start * row, k_.data() + base + (size_t)end * row, moved * sizeof(uint16_t));
        std::memmove(v_.data() + base + (size_t)start * row, v_.data() + base + (size_t)end * row, moved * sizeof(uint16_t));
    }
    used_ -= n;
    for (int32_t c = start; c < used_; c++) pos_[c] = c;
    for (int32_t c = used_; c < used_ + n; c++) pos_[c] = -1;
}

void KvCache::read_rows(int32_t layer, int32_t cell0, int32_t n, uint16_t* k, uint16_t* v) const {
    HOB_CHECK(n >= 0 && cell0 >= 0 && (int64_t)cell0 + n <= used_, HOB_ERR_OUT_OF_RANGE,
              "cannot read KV cells [" + std::to_string(cell0) + ", " + std::to_string((int64_t)cell0 + n) + "): " +
                  std::to_string(used_) + " cells are used");
    if (n == 0) return;
    const size_t count = (size_t)n * kv_dim_;
    std::memcpy(k, k_rows(layer, cell0, n), count * sizeof(uint16_t));
    std::memcpy(v, v_rows(layer, cell0, n), count * sizeof(uint16_t));
}

void KvCache::write_rows(int32_t layer, int32_t cell0, int32_t n, const uint16_t* k, const uint16_t* v) {
    // Used cells change only through the forward pass and erase: a restore
    // writes past them, after truncating.
    HOB_CHECK(n >= 0 && cell0 >= used_ && (int64_t)cell0 + n <= n_ctx_, HOB_ERR_OUT_OF_RANGE,
              "cannot write KV cells [" + std::to_string(cell0) + ", " + std::to_string((int64_t)cell0 + n) +
                  "): only unused cells [" + std::to_string(used_) + ", " + std::to_string(n_ctx_) + ") can be written");
    if (n == 0) return;
    const size_t at = range_offset(layer, cell0, n);
    const size_t count = (size_t)n * kv_dim_;
    std::memcpy(k_.data() + at, k, count * sizeof(uint16_t));
    std::memcpy(v_.data() + at, v, count * sizeof(uint16_t));
}

void KvCache::append_cells(const int32_t* pos, int32_t n) {
    HOB_CHECK(n >= 0, HOB_ERR_INVALID_ARGUMENT, "cannot append " + std::to_string(n) + " cells");
    if ((int64_t)used_ + n > n_ctx_) {
        fail(HOB_ERR_CONTEXT_FULL, std::to_string(n) + " restored cells do not fit: " + std::to_string(used_) + " of " +
                                       std::to_string(n_ctx_) + " context cells are in use");
    }
    for (int32_t i = 0; i < n; i++) {
        HOB_CHECK(pos[i] == used_ + i, HOB_ERR_INVALID_ARGUMENT,
                  "restored cell " + std::to_string(used_ + i) + " has position " + std::to_string(pos[i]) +
                      "; this cache keeps cell i at position i");
    }
    for (int32_t i = 0; i < n; i++) pos_[used_ + i] = pos[i];
    used_ += n;
}

void KvCache::truncate(int32_t n_keep) {
    HOB_CHECK(n_keep >= 0 && n_keep <= used_, HOB_ERR_OUT_OF_RANGE,
              "cannot keep " + std::to_string(n_keep) + " tokens: the cache holds " + std::to_string(used_));
    for (int32_t c = n_keep; c < used_; c++) pos_[c] = -1;
    used_ = n_keep;
}

}  // namespace hob
