// RMSNorm. The sum of squares is accumulated in double, as llama.cpp does,
// so long rows lose no precision and results agree with it closely.
#include <cmath>

#include "ops.h"

namespace hob {

void rmsnorm(const float* x, const float* weight, float* y, int32_t T, int32_t n, float eps) {
    for (int32_t t = 0; t < T; t++) {
        const float* xr = x + (size_t)t * n;
        float* yr = y + (size_t)t * n;
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / n);
        const float scale = 1.0f / std::sqrt(mean + eps);
        for (int32_t i = 0; i < n; i++) yr[i] = xr[i] * scale * weight[i];
    }
}

}  // namespace hob
