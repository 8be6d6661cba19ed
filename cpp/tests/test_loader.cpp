// The piecewise loader and the CPU side of a split model: bytes arriving in
// any order build the same model as a whole file, offloaded blocks take no
// engine memory, and a CPU-side evaluation hands exactly the right hidden
// states to the blocks that run elsewhere.
#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include "../api.h"
#include "../loader.h"
#include "../quants.h"
#include "../session.h"
#include "../threadpool.h"
#include "harness.h"

using namespace hob;

namespace {

std::vector<uint8_t> read_tiny() {
    const std::string path = hobtest::testdata_dir() + "/llama-2-tiny-random.gguf";
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::vector<uint8_t> bytes((size_t)f.tellg());
    f.seekg(0);
    f.read(reinterpret_cast<char*>(bytes.data()), (std::streamsize)bytes.size());
    return bytes;
}

// Feeds the loader the file in chunks of `chunk` bytes, in a shuffled order.
std::unique_ptr<Model> load_in_pieces(const std::vector<uint8_t>& file, int32_t n_cpu_layers, size_t chunk,
                                      uint32_t seed, ModelLoader** keep = nullptr) {
    ModelLoader loader(file.data(), file.size(), file.size(), n_cpu_layers);
    std::vector<size_t> starts;
    for (size_t o = 0; o < file.size(); o += chunk) starts.push_back(o);
    std::mt19937 rng(seed);
    std::shuffle(starts.begin(), starts.end(), rng);
    for (size_t o : starts) loader.write(o, file.data() + o, std::min(chunk, file.size() - o));
    return loader.finish();
}

const std::vector<int32_t> kPrompt = {1, 450, 4996, 17354, 1701, 29916};

}  // namespace

TEST("a model loaded in shuffled pieces gives the logits of the whole file") {
    const std::vector<uint8_t> file = read_tiny();
    uint8_t* copy = static_cast<uint8_t*>(hob_alloc(file.size()));
    std::copy(file.begin(), file.end(), copy);
    std::unique_ptr<Model> whole = Model::load(copy, file.size(), true);
    std::unique_ptr<Model> pieces = load_in_pieces(file, -1, 4093, 7);
    CHECK_EQ(pieces->n_cpu_layers(), whole->hparams().n_layer);
    CHECK_EQ(pieces->weight_bytes(), whole->weight_bytes());

    ThreadPool pool(2);
    Session a(*whole, 64, pool, 2), b(*pieces, 64, pool, 2);
    a.eval(kPrompt.data(), (int32_t)kPrompt.size());
    b.eval(kPrompt.data(), (int32_t)kPrompt.size());
    CHECK(a.logits() == b.logits());
}

TEST("offloaded blocks are never kept: resident bytes shrink with every block moved out") {
    const std::vector<uint8_t> file = read_tiny();
    ModelLoader all(file.data(), file.size(), file.size(), -1);
    const int32_t n_layer = load_in_pieces(file, -1, 1 << 20, 5)->hparams().n_layer;
    uint64_t previous = all.resident_bytes();
    for (int32_t n_cpu = n_layer - 1; n_cpu >= 0; n_cpu--) {
        ModelLoader l(file.data(), file.size(), file.size(), n_cpu);
        CHECK(l.resident_bytes() < previous);
        previous = l.resident_bytes();
    }
    std::unique_ptr<Model> none = load_in_pieces(file, 0, 1 << 16, 3);
    CHECK(!none->head_on_cpu());
    CHECK_EQ(none->n_cpu_layers(), 0);
}

TEST("the loader lists only the ranges it needs, and reading just those is enough") {
    const std::vector<uint8_t> file = read_tiny();
    ModelLoader l(file.data(), file.size(), file.size(), 0);
    uint64_t listed = 0;
    for (const ModelLoader::Range& r : l.ranges()) {
        l.write(r.offset, file.data() + r.offset, (size_t)r.size);
        listed += r.size;
    }
    CHECK(listed < file.size());
    CHECK(listed >= l.resident_bytes());
    std::unique_ptr<Model> m = l.finish();
    CHECK_EQ(m->n_cpu_layers(), 0);
    CHECK(!m->head_on_cpu());
}

TEST("a missing byte is GGUF_TRUNCATED naming the range, and nothing is built") {
    const std::vector<uint8_t> file = read_tiny();
    ModelLoader l(file.data(), file.size(), file.size(), -1);
    const ModelLoader::Range r = l.ranges().back();
    // Everything but the last byte of the last range.
    l.write(0, file.data(), (size_t)(r.offset + r.size - 1));
    try {
        l.finish();
        CHECK(false);
    } catch (const Error& e) {
        CHECK_EQ(e.status(), HOB_ERR_GGUF_TRUNCATED);
        CHECK(std::string(e.what()).find("never written") != std::string::npos);
    }
    try {
        l.write(file.size() - 4, file.data(), 8);
        CHECK(false);
    } catch (const Error& e) {
        CHECK_EQ(e.status(), HOB_ERR_OUT_OF_RANGE);
    }
}

TEST("with every block offloaded, the hidden states handed over are the token embeddings") {
    const std::vector<uint8_t> file = read_tiny();
    std::unique_ptr<Model> m = load_in_pieces(file, 0, 1 << 20, 1);
    const int32_t E = m->hparams().n_embd;
    ThreadPool pool(1);
    Session s(*m, 32, pool, 1);
    std::vector<float> hidden(kPrompt.size() * (size_t)E);
    s.eval_hidden(kPrompt.data(), (int32_t)kPrompt.size(), hidden.data());
    CHECK_EQ(s.n_past(), (int32_t)kPrompt.size());

    // The embedding rows, decoded straight from the file's bytes.
    const GgufTensorInfo* emb = m->gguf().find_tensor("token_embd.weight");
    REQUIRE(emb != nullptr);
    const uint8_t* table = file.data() + m->gguf().data_offset + emb->offset;
    const size_t row_bytes = row_size(emb->type, E);
    std::vector<float> row((size_t)E);
    bool same = true;
    for (size_t t = 0; t < kPrompt.size(); t++) {
        dequantize_row(emb->type, table + (size_t)kPrompt[t] * row_bytes, row.data(), E);
        for (int32_t i = 0; i < E; i++) same = same && hidden[t * E + i] == row[(size_t)i];
    }
    CHECK(same);
    // Logits come only from the offloaded head; eval refuses.
    try {
        s.eval(kPrompt.data(), 1);
        CHECK(false);
    } catch (const Error& e) {
        CHECK_EQ(e.status(), HOB_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find(std::to_string(m->hparams().n_layer) + " are offloaded") != std::string::npos);
    }
    CHECK_EQ(s.n_past(), (int32_t)kPrompt.size());
}

TEST("eval_hidden then head on the CPU equals eval") {
    const std::vector<uint8_t> file = read_tiny();
    std::unique_ptr<Model> m = load_in_pieces(file, -1, 1 << 20, 2);
    const int32_t E = m->hparams().n_embd;
    ThreadPool pool(2);
    Session a(*m, 32, pool, 2), b(*m, 32, pool, 2);
    a.eval(kPrompt.data(), (int32_t)kPrompt.size());
    std::vector<float> hidden(kPrompt.size() * (size_t)E);
    b.eval_hidden(kPrompt.data(), (int32_t)kPrompt.size(), hidden.data());
    b.head(hidden.data() + (kPrompt.size() - 1) * E);
    CHECK(a.logits() == b.logits());
}

TEST("a vocabulary-only load from the header alone tokenizes as the whole model, and sessions refuse it") {
    const std::vector<uint8_t> file = read_tiny();
    hob_gguf* g = nullptr;
    CHECK(hob_gguf_open(file.data(), file.size(), file.size(), &g) == HOB_OK);
    const size_t header = (size_t)hob_gguf_data_offset(g);
    hob_gguf_close(g);
    // Only the header's bytes: no tensor data at all.
    const std::vector<uint8_t> head(file.begin(), file.begin() + (ptrdiff_t)header);
    hob_model* vocab = nullptr;
    CHECK(hob_model_load_vocab(head.data(), head.size(), file.size(), &vocab) == HOB_OK);
    std::vector<uint8_t> copy = file;
    hob_model* full = nullptr;
    CHECK(hob_model_load(copy.data(), copy.size(), 0, &full) == HOB_OK);
    CHECK_EQ(hob_model_vocab_only(vocab), 1);
    CHECK_EQ(hob_model_vocab_only(full), 0);
    CHECK_EQ(hob_model_n_vocab(vocab), hob_model_n_vocab(full));
    CHECK_EQ(hob_model_token_bos(vocab), hob_model_token_bos(full));
    const std::string text = "Hello world, the vocabulary alone <s> tokenizes ✓";
    int32_t a[64], b[64];
    size_t na = 0, nb = 0;
    CHECK(hob_tokenize(vocab, text.data(), text.size(), 1, 1, a, 64, &na) == HOB_OK);
    CHECK(hob_tokenize(full, text.data(), text.size(), 1, 1, b, 64, &nb) == HOB_OK);
    CHECK_EQ(na, nb);
    CHECK(std::equal(a, a + na, b));
    hob_session* s = nullptr;
    CHECK(hob_session_create(vocab, 64, 1, &s) == HOB_ERR_VOCAB_ONLY);
    CHECK(s == nullptr);
    CHECK(std::string(hob_last_error()).find("vocabulary only") != std::string::npos);
    hob_model_free(vocab);
    hob_model_free(full);
}
