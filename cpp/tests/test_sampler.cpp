// Sampler tests: each filter against its definition on fixed logits, and
// the seeded draw against the expected distribution.
#include <cmath>
#include <map>
#include <vector>

#include "../sampler.h"
#include "harness.h"

using namespace hob;

namespace {

SamplerParams plain(float temp) {
    SamplerParams p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

std::map<int32_t, int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
    std::map<int32_t, int> h;
    for (int i = 0; i < draws; i++) h[s.sample(logits.data(), (int32_t)logits.size())]++;
    return h;
}

}  // namespace

TEST("greedy picks the largest logit and the first of equal ones") {
    Sampler s(plain(0.0f));
    const std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f};
    CHECK_EQ(s.sample(l.data(), 4), 1);
}

TEST("seeded sampling follows softmax(logits / T) and repeats for the same seed") {
    const std::vector<float> l = {1.0f, 0.0f, -1.0f, 0.5f};
    SamplerParams p = plain(0.7f);
    p.seed = 1234;
    Sampler a(p), b(p);
    const int draws = 40000;
    const auto ha = histogram(a, l, draws);
    const auto hb = histogram(b, l, draws);
    CHECK(ha == hb);
    double z = 0;
    for (float x : l) z += std::exp(x / 0.7);
    for (int32_t i = 0; i < 4; i++) {
        const double expect = std::exp(l[i] / 0.7) / z;
        const double got = ha.count(i) ? (double)ha.at(i) / draws : 0.0;
        // Five standard deviations of a binomial proportion.
        CHECK_NEAR(got, expect, 5 * std::sqrt(expect * (1 - expect) / draws));
    }
}

TEST("top-k keeps only the k largest logits") {
    SamplerParams p = plain(1.0f);
    p.top_k = 2;
    p.seed = 1;
    Sampler s(p);
    const std::vector<float> l = {0.0f, 3.0f, 2.9f, 2.8f, -5.0f};
    const auto h = histogram(s, l, 3000);
    for (const auto& kv : h) CHECK(kv.first == 1 || kv.first == 2);
    CHECK(h.count(1) && h.count(2));
}

TEST("top-p keeps the smallest prefix whose mass reaches p") {
    SamplerParams p = plain(1.0f);
    p.top_p = 0.7f;
    p.seed = 2;
    Sampler s(p);
    // Probabilities 0.5, 0.3, 0.2 (log-space logits): 0.5 + 0.3 >= 0.7.
    const std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    const auto h = histogram(s, l, 3000);
    CHECK(!h.count(2));
    CHECK(h.count(0) && h.count(1));
}

TEST("min-p drops tokens below min_p times the top probability") {
    SamplerParams p = plain(1.0f);
    p.min_p = 0.5f;
    p.seed = 3;
    Sampler s(p);
    const std::vector<float> l = {std::log(0.4f), std::log(0.25f), std::log(0.19f), std::log(0.16f)};
    const auto h = histogram(s, l, 3000);
    CHECK(h.count(0) && h.count(1));
    CHECK(!h.count(2) && !h.count(3));
}

TEST("repetition penalty divides positive and multiplies negative logits of recent tokens") {
    SamplerParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    Sampler s(p);
    const std::vector<float> l = {3.0f, 2.0f, -1.0f};
    s.accept(0);
    CHECK_EQ(s.sample(l.data(), 3), 1);  // 3/2 = 1.5 < 2
    s.accept(1);
    CHECK_EQ(s.sample(l.data(), 3), 0);  // 1.5 vs 1.0
    s.accept(2);                         // history is now {1, 2}: token 0 left the window
    CHECK_EQ(s.sample(l.data(), 3), 0);
}
