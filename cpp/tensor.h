// A read-only view of one weight tensor inside the loaded file: its type,
// shape (innermost first, as GGUF stores it) and bytes. The model owns the
// bytes; a Tensor never does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "types.h"

namespace hob {

struct Tensor {
    std::string name;
    TypeId type = TypeId::F32;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0]: elements per row
    const uint8_t* data = nullptr;
    size_t row_bytes = 0;
    size_t n_bytes = 0;
    // The blocks' bytes are in the relaxed kernels' order (quants_relaxed.h),
    // put there at load; read such rows through matmul and dequantize_tensor_row.
    bool repacked = false;

    int64_t cols() const { return ne[0]; }
    int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
    const uint8_t* row(int64_t r) const { return data + (size_t)r * row_bytes; }
};

// Row r of t as floats (cols() of them), whatever its layout.
void dequantize_tensor_row(const Tensor& t, int64_t r, float* out);

}  // namespace hob
