// Context shifting on the CPU cache: erasing a span keeps the later tokens'
// entries, re-rotates their keys to the new positions in the same buffers,
// and refuses bad ranges without touching anything.
#include <cmath>
#include <fstream>
#include <memory>
#include <vector>

#include "../model.h"
#include "../session.h"
#include "harness.h"

using namespace hob;

namespace {

std::unique_ptr<Model> load_tiny() {
    const std::string path = hobtest::testdata_dir() + "/llama-2-tiny-random.gguf";
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open " + path);
    const size_t n = (size_t)f.tellg();
    f.seekg(0);
    uint8_t* data = static_cast<uint8_t*>(hob_alloc(n));
    f.read(reinterpret_cast<char*>(data), (std::streamsize)n);
    return Model::load(data, n, true);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

std::vector<int32_t> ids(int32_t first, int32_t n) {
    std::vector<int32_t> v;
    for (int32_t i = 0; i < n; i++) v.push_back(first + 37 * i);
    return v;
}

}  // namespace

TEST("erasing a span gives the logits of evaluating the sequence without it") {
    auto model = load_tiny();
    ThreadPool pool(2);
    const std::vector<int32_t> a = {1, 450, 4996, 17354}, b = ids(1000, 49), c = ids(3000, 5);
    Session shifted(*model, 128, pool, 2), fresh(*model, 128, pool, 2);
    std::vector<int32_t> ab = a;
    ab.insert(ab.end(), b.begin(), b.end());
    shifted.eval(ab.data(), (int32_t)ab.size());
    const uint16_t* k_before = shifted.kv().k_rows(0, 0, 1);
    shifted.erase((int32_t)a.size(), (int32_t)ab.size());
    CHECK_EQ(shifted.n_past(), (int32_t)a.size());
    CHECK(shifted.kv().k_rows(0, 0, 1) == k_before);  // same buffer, not reallocated
    shifted.eval(c.data(), (int32_t)c.size());
    std::vector<int32_t> ac = a;
    ac.insert(ac.end(), c.begin(), c.end());
    fresh.eval(ac.data(), (int32_t)ac.size());
    CHECK(max_abs_diff(shifted.logits(), fresh.logits()) < 1e-4f);
}

TEST("erasing from the middle re-rotates the moved keys to their new positions") {
    // Layer-0 keys depend only on the token and its position, so after the
    // shift they must equal the keys a fresh evaluation stores at the new
    // positions, up to one more f16 rounding. (Deeper layers legitimately
    // differ: the moved tokens once attended to the evicted ones.)
    auto model = load_tiny();
    ThreadPool pool(1);
    const std::vector<int32_t> seq = ids(100, 40);
    Session shifted(*model, 64, pool, 1), original(*model, 64, pool, 1), fresh(*model, 64, pool, 1);
    shifted.eval(seq.data(), 40);
    original.eval(seq.data(), 40);
    shifted.erase(5, 12);  // later tokens move down by 7
    std::vector<int32_t> kept(seq.begin(), seq.begin() + 5);
    kept.insert(kept.end(), seq.begin() + 12, seq.end());
    fresh.eval(kept.data(), (int32_t)kept.size());
    REQUIRE(shifted.n_past() == fresh.n_past());
    auto rel = [](const uint16_t* a, const uint16_t* b, int32_t d) {
        float m = 0;
        for (int32_t i = 0; i < d; i++) {
            const float x = f16_to_f32(a[i]), y = f16_to_f32(b[i]);
            m = std::max(m, std::fabs(x - y) / (std::fabs(y) + 1e-2f));
        }
        return m;
    };
    const int32_t d = shifted.kv().kv_dim();
    float after_shift = 0, unrotated = 0;
    for (int32_t c = 0; c < shifted.n_past(); c++) {
        CHECK_EQ(shifted.kv().pos(c), c);
        after_shift = std::max(after_shift, rel(shifted.kv().k_rows(0, c, 1), fresh.kv().k_rows(0, c, 1), d));
        // What the cache would hold had the keys only been moved.
        if (c >= 5) unrotated = std::max(unrotated, rel(original.kv().k_rows(0, c + 7, 1), fresh.kv().k_rows(0, c, 1), d));
    }
    CHECK(after_shift < 5e-3f);  // a couple of f16 steps
    CHECK(unrotated > 0.1f);     // so the check above would catch a missing rotation
}

TEST("bad erase ranges are refused with the numbers and change nothing") {
    auto model = load_tiny();
    ThreadPool pool(1);
    Session s(*model, 32, pool, 1);
    const std::vector<int32_t> seq = ids(10, 10);
    s.eval(seq.data(), 10);
    const std::vector<float> before = s.logits();
    CHECK_THROWS_STATUS(s.erase(5, 3), HOB_ERR_OUT_OF_RANGE, "[5, 3)");
    CHECK_THROWS_STATUS(s.erase(4, 11), HOB_ERR_OUT_OF_RANGE, "the 10 tokens");
    CHECK_THROWS_STATUS(s.erase(-1, 2), HOB_ERR_OUT_OF_RANGE, "[-1, 2)");
    CHECK_EQ(s.n_past(), 10);
    CHECK(s.logits() == before);
    s.erase(3, 3);  // empty: nothing happens
    CHECK_EQ(s.n_past(), 10);
    CHECK(s.logits() == before);
}

TEST("repeated shifts let a session run far past its context in the same buffers") {
    auto model = load_tiny();
    ThreadPool pool(2);
    Session s(*model, 64, pool, 2);
    const uint16_t* k0 = s.kv().k_rows(0, 0, 64);
    const uint16_t* v0 = s.kv().v_rows(0, 0, 64);
    int32_t tok = 1, shifts = 0;
    for (int step = 0; step < 500; step++) {
        if (s.n_past() == s.n_ctx()) {
            // llama.cpp's overflow shift: keep 4, discard half of the rest.
            const int32_t keep = 4, discard = (s.n_past() - keep) / 2;
            s.erase(keep, keep + discard);
            shifts++;
        }
        s.eval(&tok, 1);
        const std::vector<float>& l = s.logits();
        tok = (int32_t)(std::max_element(l.begin(), l.end()) - l.begin());
    }
    CHECK(shifts >= 15);
    CHECK(s.kv().k_rows(0, 0, 64) == k0);
    CHECK(s.kv().v_rows(0, 0, 64) == v0);
}
