// Saving and restoring a session's cache through the C API: the rows of
// every used cell copied out and into a fresh session give the next token
// the same logits, bit for bit, also after shifts; and every call refuses a
// bad range, layer, size or position without changing anything.
#include <cstring>
#include <fstream>
#include <vector>

#include "../api.h"
#include "harness.h"

namespace {

struct Handles {
    hob_model* model = nullptr;
    std::vector<hob_session*> sessions;
    ~Handles() {
        for (hob_session* s : sessions) hob_session_free(s);
        hob_model_free(model);
    }
    hob_session* session(int32_t n_ctx) {
        hob_session* s = nullptr;
        if (hob_session_create(model, n_ctx, 1, &s) != HOB_OK) throw std::runtime_error(hob_last_error());
        sessions.push_back(s);
        return s;
    }
};

void load_tiny(Handles& h) {
    const std::string path = hobtest::testdata_dir() + "/llama-2-tiny-random.gguf";
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open " + path);
    const size_t n = (size_t)f.tellg();
    f.seekg(0);
    uint8_t* data = static_cast<uint8_t*>(hob_alloc(n));
    f.read(reinterpret_cast<char*>(data), (std::streamsize)n);
    if (hob_model_load(data, n, 1, &h.model) != HOB_OK) throw std::runtime_error(hob_last_error());
}

std::vector<int32_t> ids(int32_t first, int32_t n) {
    std::vector<int32_t> v;
    for (int32_t i = 0; i < n; i++) v.push_back(first + 37 * i);
    return v;
}

void eval(hob_session* s, const std::vector<int32_t>& t) {
    if (hob_session_eval(s, t.data(), t.size()) != HOB_OK) throw std::runtime_error(hob_last_error());
}

std::vector<float> logits(hob_model* m, hob_session* s) {
    std::vector<float> l((size_t)hob_model_n_vocab(m));
    if (hob_session_logits(s, l.data(), l.size()) != HOB_OK) throw std::runtime_error(hob_last_error());
    return l;
}

// Every used cell of `from` into the empty session `to`, layer by layer, as
// a save followed by a restore does it.
void copy_state(hob_session* from, hob_session* to) {
    const int32_t n = hob_session_n_past(from);
    const size_t count = (size_t)n * (size_t)hob_session_kv_dim(from);
    std::vector<uint16_t> k(count), v(count);
    for (int32_t l = 0; l < hob_session_kv_layers(from); l++) {
        if (hob_session_kv_read(from, l, 0, n, k.data(), v.data(), count) != HOB_OK) throw std::runtime_error(hob_last_error());
        if (hob_session_kv_write(to, l, 0, n, k.data(), v.data(), count) != HOB_OK) throw std::runtime_error(hob_last_error());
    }
    std::vector<int32_t> pos((size_t)std::max(n, 1));
    if (hob_session_positions(from, pos.data(), pos.size()) != HOB_OK) throw std::runtime_error(hob_last_error());
    if (hob_session_kv_append(to, pos.data(), n) != HOB_OK) throw std::runtime_error(hob_last_error());
}

}  // namespace

TEST("a restored cache gives the next token the logits of the saved session, bit for bit") {
    Handles h;
    load_tiny(h);
    hob_session* saved = h.session(128);
    hob_session* restored = h.session(128);
    eval(saved, ids(100, 60));
    CHECK_EQ(hob_session_kv_type(saved), 1);
    copy_state(saved, restored);
    CHECK_EQ(hob_session_n_past(restored), 60);
    // No logits until something is evaluated: the restored cells carry none.
    std::vector<float> none(32000);
    CHECK_EQ(hob_session_logits(restored, none.data(), none.size()), HOB_ERR_INVALID_ARGUMENT);
    const std::vector<int32_t> next = {29871};
    eval(saved, next);
    eval(restored, next);
    const std::vector<float> a = logits(h.model, saved), b = logits(h.model, restored);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST("a cache saved after several shifts restores to the same next-token logits") {
    Handles h;
    load_tiny(h);
    hob_session* saved = h.session(64);
    hob_session* restored = h.session(64);
    eval(saved, ids(200, 60));
    for (int32_t discard : {49, 7, 1}) {
        CHECK_EQ(hob_session_shift(saved, 1, discard), HOB_OK);
        eval(saved, ids(300 + discard, 3));
    }
    copy_state(saved, restored);
    CHECK_EQ(hob_session_n_past(restored), hob_session_n_past(saved));
    eval(saved, {4000, 4037});
    eval(restored, {4000, 4037});
    const std::vector<float> a = logits(h.model, saved), b = logits(h.model, restored);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST("state calls refuse bad ranges, layers, sizes and positions and change nothing") {
    Handles h;
    load_tiny(h);
    hob_session* s = h.session(16);
    eval(s, ids(10, 8));
    const int32_t dim = hob_session_kv_dim(s);
    std::vector<uint16_t> k((size_t)dim * 16), v((size_t)dim * 16);
    // Reads: only used cells, an existing layer, a buffer that fits.
    CHECK_EQ(hob_session_kv_read(s, 0, 4, 5, k.data(), v.data(), k.size()), HOB_ERR_OUT_OF_RANGE);
    CHECK_EQ(hob_session_kv_read(s, 0, -1, 2, k.data(), v.data(), k.size()), HOB_ERR_OUT_OF_RANGE);
    CHECK_EQ(hob_session_kv_read(s, 1, 0, 2, k.data(), v.data(), k.size()), HOB_ERR_OUT_OF_RANGE);
    CHECK_EQ(hob_session_kv_read(s, 0, 0, 8, k.data(), v.data(), (size_t)dim * 7), HOB_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(hob_session_kv_read(s, 0, 0, 8, k.data(), v.data(), k.size()), HOB_OK);
    // Writes: never into used cells, never past the context.
    CHECK_EQ(hob_session_kv_write(s, 0, 7, 1, k.data(), v.data(), (size_t)dim), HOB_ERR_OUT_OF_RANGE);
    CHECK_EQ(hob_session_kv_write(s, 0, 8, 9, k.data(), v.data(), (size_t)dim * 9), HOB_ERR_OUT_OF_RANGE);
    CHECK_EQ(hob_session_kv_write(s, 0, 8, 2, k.data(), v.data(), (size_t)dim * 3), HOB_ERR_INVALID_ARGUMENT);
    CHECK_EQ(hob_session_kv_write(s, 0, 8, 2, k.data(), v.data(), (size_t)dim * 2), HOB_OK);
    // Appends: positions continue the cache; no more cells than the context holds.
    const std::vector<int32_t> gap = {9, 10}, fits = {8, 9};
    std::vector<int32_t> many(9);
    for (int32_t i = 0; i < 9; i++) many[(size_t)i] = 8 + i;
    CHECK_EQ(hob_session_kv_append(s, gap.data(), 2), HOB_ERR_INVALID_ARGUMENT);
    CHECK_EQ(hob_session_kv_append(s, many.data(), 9), HOB_ERR_CONTEXT_FULL);
    CHECK_EQ(hob_session_kv_append(s, nullptr, 1), HOB_ERR_INVALID_ARGUMENT);
    CHECK_EQ(hob_session_n_past(s), 8);
    CHECK_EQ(hob_session_kv_append(s, fits.data(), 2), HOB_OK);
    CHECK_EQ(hob_session_n_past(s), 10);
}
