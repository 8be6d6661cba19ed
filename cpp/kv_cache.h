// The KV cache of one sequence: K and V rows (f16) for every layer and cell,
// allocated once for the whole context and never reallocated, plus the
// position each used cell holds. Cells [0, size()) are used, in sequence
// order. Every accessor checks its indices: an out-of-range cell or layer is
// an error with the numbers, never a read of memory that is not ours.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace hob {

class KvCache {
public:
    // One K row and one V row of kv_dim halves per layer and cell.
    KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_dim);

    int32_t n_layer() const { return n_layer_; }
    int32_t n_ctx() const { return n_ctx_; }
    int32_t kv_dim() const { return kv_dim_; }
    int32_t size() const { return used_; }
    uint64_t bytes() const { return (uint64_t)(k_.size() + v_.size()) * sizeof(uint16_t); }

    // Rows of a cell (used or about to be written by the current batch).
    uint16_t* k(int32_t layer, int32_t cell) { return k_.data() + offset(layer, cell); }
    uint16_t* v(int32_t layer, int32_t cell) { return v_.data() + offset(layer, cell); }
    const uint16_t* k(int32_t layer, int32_t cell) const { return k_.data() + offset(layer, cell); }
    const uint16_t* v(int32_t layer, int32_t cell) const { return v_.data() + offset(layer, cell); }

    // Rows [cell0, cell0 + n) of one layer, contiguous; the whole range is
    // checked once so kernels can index it freely.
    const uint16_t* k_rows(int32_t layer, int32_t cell0, int32_t n) const;
    const uint16_t* v_rows(int32_t layer, int32_t cell0, int32_t n) const;

    int32_t pos(int32_t cell) const;

    // Claims the next n cells for positions pos0 .. pos0+n-1 (their rows are
    // written by the forward pass that follows). Throws CONTEXT_FULL if they
    // do not fit, before anything changes.
    void reserve(int32_t n, int32_t pos0);
    // Marks the cells claimed by reserve as used.
    void commit(int32_t n);
    // Forgets the cells from n_keep on.
    void truncate(int32_t n_keep);
    // Removes cells [start, end): later cells move down in place (same
    // buffers) and their positions drop by end - start, so positions stay
    // 0..size()-1. The caller re-rotates the moved K rows by that delta.
    // The range is checked first; a bad one throws and changes nothing.
    void erase(int32_t start, int32_t end);
    // Throws OUT_OF_RANGE unless 0 <= start <= end <= size().
    void check_span(int32_t start, int32_t end) const;
    void clear() { used_ = 0; }

    // Saving and restoring (session_state): rows of used cells are copied
    // out; rows are copied in only to cells past the used ones, which
    // append_cells then marks used. Every call checks its range first and
    // changes nothing when it is bad.
    // Copies the K and V rows of used cells [cell0, cell0 + n) of a layer.
    void read_rows(int32_t layer, int32_t cell0, int32_t n, uint16_t* k, uint16_t* v) const;
    // Writes the K and V rows of unused cells [cell0, cell0 + n) of a layer.
    void write_rows(int32_t layer, int32_t cell0, int32_t n, const uint16_t* k, const uint16_t* v);
    // Marks the next n cells used, with positions pos[0..n). This cache keeps
    // cell i at position i (shifts renumber), so pos must continue that.
    void append_cells(const int32_t* pos, int32_t n);

private:
    size_t offset(int32_t layer, int32_t cell) const;
    size_t range_offset(int32_t layer, int32_t cell0, int32_t n) const;

    int32_t n_layer_, n_ctx_, kv_dim_;
    int32_t used_ = 0;
    std::vector<uint16_t> k_;  // (layer, cell, kv_dim)
    std::vector<uint16_t> v_;  // (layer, cell, kv_dim)
    std::vector<int32_t> pos_;  // (cell)
};

}  // namespace hob
