// Element-wise steps of a block: gated activation and residual add.
#include <cmath>

#include "ops.h"

namespace hob {

void silu_mul(float* x, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + std::exp(-x[i])) * up[i];
}

void add(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

}  // namespace hob
