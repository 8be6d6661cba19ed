// Choosing the next token from logits: repetition penalty, top-k, top-p,
// min-p, temperature and a seeded draw, in llama.cpp's default order. The
// random generator is our own mapping of mt19937 output, so a seed gives the
// same tokens natively and in every wasm build.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace hob {

struct SamplerParams {
    // llama.cpp's defaults (common_params_sampling).
    float temperature = 0.8f;
    int32_t top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    int32_t repeat_last_n = 64;
    uint32_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p = SamplerParams());

    SamplerParams& params() { return p_; }
    void reseed(uint32_t seed);
    int32_t sample(const float* logits, int32_t n_vocab);
    void accept(int32_t token);
    void reset();

private:
    struct Candidate {
        int32_t id;
        float logit;
        float p;
    };

    SamplerParams p_;
    std::mt19937 rng_;
    std::deque<int32_t> history_;
    std::vector<Candidate> cand_;
};

}  // namespace hob
