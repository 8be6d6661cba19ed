// The recurrent state of one sequence in a hybrid model's CPU blocks: per
// recurrent block, the convolution's last inputs and (Gated DeltaNet) the
// per-head state matrices, which together summarise every token so far in
// a fixed size. Unlike a KV cache, nothing in it belongs to one token, so it
// cannot be shifted or truncated: it can only move forward, be cleared to
// the state before any token, or be put back to a checkpoint (a copy taken
// at some n_past). The live state and every checkpoint slot are allocated
// once, at creation; nothing is allocated afterwards.
#pragma once

#include <cstdint>
#include <vector>

#include "arch.h"

namespace hob {

class RecurrentState {
public:
    // The state of blocks [0, n_cpu_layers) of a model with these
    // hyperparameters (none when no such block is recurrent), and
    // n_checkpoints slots.
    RecurrentState(const Hparams& hp, int32_t n_cpu_layers, int32_t n_checkpoints);

    bool empty() const { return live_.empty(); }
    uint64_t bytes() const { return (uint64_t)(live_.size() + slots_.size()) * sizeof(float); }

    // The convolution state of block l: (conv_kernel - 1, channels), oldest row first.
    float* conv(int32_t layer);
    // The DeltaNet state of block l: (n_value_heads, head_dim, head_dim).
    float* ssm(int32_t layer);

    // The state before any token.
    void clear();

    int32_t n_checkpoints() const { return (int32_t)slot_pos_.size(); }
    // The n_past a slot was saved at, or -1 when it holds nothing.
    int32_t checkpoint_pos(int32_t slot) const;
    // Copies the live state into a slot, recording n_past.
    void save(int32_t slot, int32_t n_past);
    // Copies a slot back into the live state; returns its n_past. An empty
    // slot throws and changes nothing.
    int32_t restore(int32_t slot);
    // Empties every slot saved past n_past: they describe tokens that are gone.
    void forget_after(int32_t n_past);

private:
    size_t slot_index(int32_t slot) const;

    std::vector<int64_t> conv_off_;  // (n_cpu_layers) offset into live_, -1: none
    std::vector<int64_t> ssm_off_;
    std::vector<float> live_;
    std::vector<float> slots_;       // (n_checkpoints, live_.size())
    std::vector<int32_t> slot_pos_;  // (n_checkpoints)
};

}  // namespace hob
