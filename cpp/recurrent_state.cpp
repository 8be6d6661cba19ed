// Recurrent state storage and its checkpoints. Sizes are fixed in the
// constructor; later calls only copy within the buffers made there.
#include "recurrent_state.h"

#include <algorithm>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace hob {

RecurrentState::RecurrentState(const Hparams& hp, int32_t n_cpu_layers, int32_t n_checkpoints) {
    HOB_CHECK(n_checkpoints >= 0 && n_checkpoints <= 64, HOB_ERR_INVALID_ARGUMENT,
              "checkpoint slots must be in [0, 64], got " + std::to_string(n_checkpoints));
    const RecurrentHparams& r = hp.rec;
    uint64_t total = 0;
    conv_off_.assign((size_t)std::max(0, n_cpu_layers), -1);
    ssm_off_.assign((size_t)std::max(0, n_cpu_layers), -1);
    for (int32_t l = 0; l < n_cpu_layers; l++) {
        const Mixer m = hp.mixer(l);
        if (m == Mixer::Attention) continue;
        conv_off_[(size_t)l] = (int64_t)total;
        total += (uint64_t)(r.conv_kernel - 1) * r.conv_channels;
        if (m == Mixer::DeltaNet) {
            ssm_off_[(size_t)l] = (int64_t)total;
            total += (uint64_t)r.n_value_heads * r.head_dim * r.head_dim;
        }
    }
    const std::string what = "a recurrent state of " + std::to_string(total * sizeof(float)) + " bytes with " +
                             std::to_string(n_checkpoints) + " checkpoints";
    constexpr uint64_t kMaxFloats = std::numeric_limits<size_t>::max() / sizeof(float) / 65;
    if (total > kMaxFloats) fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what + ": more than this build can address");
    try {
        live_.assign((size_t)total, 0.0f);
        slots_.assign((size_t)total * n_checkpoints, 0.0f);
        slot_pos_.assign((size_t)n_checkpoints, -1);
    } catch (const std::bad_alloc&) {
        fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what);
    } catch (const std::length_error&) {
        fail(HOB_ERR_OUT_OF_MEMORY, "cannot allocate " + what);
    }
}

float* RecurrentState::conv(int32_t layer) {
    HOB_CHECK(layer >= 0 && (size_t)layer < conv_off_.size() && conv_off_[(size_t)layer] >= 0, HOB_ERR_INTERNAL,
              "block " + std::to_string(layer) + " has no convolution state");
    return live_.data() + conv_off_[(size_t)layer];
}

float* RecurrentState::ssm(int32_t layer) {
    HOB_CHECK(layer >= 0 && (size_t)layer < ssm_off_.size() && ssm_off_[(size_t)layer] >= 0, HOB_ERR_INTERNAL,
              "block " + std::to_string(layer) + " has no DeltaNet state");
    return live_.data() + ssm_off_[(size_t)layer];
}

void RecurrentState::clear() { std::fill(live_.begin(), live_.end(), 0.0f); }

size_t RecurrentState::slot_index(int32_t slot) const {
    HOB_CHECK(slot >= 0 && slot < n_checkpoints(), HOB_ERR_OUT_OF_RANGE,
              "checkpoint slot " + std::to_string(slot) + " out of range [0, " + std::to_string(n_checkpoints()) + ")");
    return (size_t)slot;
}

int32_t RecurrentState::checkpoint_pos(int32_t slot) const { return slot_pos_[slot_index(slot)]; }

void RecurrentState::save(int32_t slot, int32_t n_past) {
    const size_t s = slot_index(slot);
    HOB_CHECK(n_past >= 0, HOB_ERR_INVALID_ARGUMENT, "a checkpoint needs n_past >= 0");
    std::copy(live_.begin(), live_.end(), slots_.begin() + (ptrdiff_t)(s * live_.size()));
    slot_pos_[s] = n_past;
}

int32_t RecurrentState::restore(int32_t slot) {
    const size_t s = slot_index(slot);
    HOB_CHECK(slot_pos_[s] >= 0, HOB_ERR_INVALID_ARGUMENT, "checkpoint slot " + std::to_string(slot) + " is empty");
    const auto from = slots_.begin() + (ptrdiff_t)(s * live_.size());
    std::copy(from, from + (ptrdiff_t)live_.size(), live_.begin());
    return slot_pos_[s];
}

void RecurrentState::forget_after(int32_t n_past) {
    for (int32_t& p : slot_pos_) {
        if (p > n_past) p = -1;
    }
}

}  // namespace hob
