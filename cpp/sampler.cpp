// The sampler chain. Every filter keeps at least one candidate.
#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace hob {

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

void Sampler::reseed(uint32_t seed) {
    p_.seed = seed;
    rng_.seed(seed);
}

void Sampler::accept(int32_t token) {
    history_.push_back(token);
    while ((int32_t)history_.size() > std::max(p_.repeat_last_n, 0)) history_.pop_front();
}

void Sampler::reset() {
    history_.clear();
    rng_.seed(p_.seed);
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
    cand_.resize((size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; i++) cand_[i] = {i, logits[i], 0.0f};

    // Repetition penalty: once per distinct recent token, shrinking its logit
    // towards (or further below) zero.
    if (p_.repeat_penalty != 1.0f && !history_.empty()) {
        std::unordered_set<int32_t> seen(history_.begin(), history_.end());
        for (int32_t id : seen) {
            if (id < 0 || id >= n_vocab) continue;
            float& l = cand_[id].logit;
            l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
        }
    }

    // Greedy: the first of the largest logits.
    if (p_.temperature <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; i++) {
            if (cand_[i].logit > cand_[best].logit) best = i;
        }
        return cand_[best].id;
    }

    auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
    size_t n = cand_.size();
    if (p_.top_k > 0 && (size_t)p_.top_k < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
        n = (size_t)p_.top_k;
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }

    auto softmax = [&](float temp) {
        const float max_l = cand_[0].logit;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            cand_[i].p = std::exp((cand_[i].logit - max_l) / temp);
            sum += cand_[i].p;
        }
        for (size_t i = 0; i < n; i++) cand_[i].p = (float)(cand_[i].p / sum);
    };

    softmax(1.0f);
    if (p_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += cand_[i].p;
            if (cum >= p_.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(1, keep);
    }
    if (p_.min_p > 0.0f) {
        const float threshold = cand_[0].p * p_.min_p;
        size_t keep = 1;
        while (keep < n && cand_[keep].p >= threshold) keep++;
        n = keep;
    }

    softmax(p_.temperature);
    // A uniform draw in [0, 1) from one 32-bit output.
    const double u = (double)rng_() * (1.0 / 4294967296.0);
    double cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += cand_[i].p;
        if (u < cum) return cand_[i].id;
    }
    return cand_[n - 1].id;
}

}  // namespace hob
