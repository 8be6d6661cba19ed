// The architectures beyond llama: each loads from the tensors llama.cpp's
// converter writes, a missing or misshapen tensor of its own is an error
// naming it (in offloaded blocks too), unknown architectures are refused by
// name, and sliding-window layers never let a token outside the window
// change the logits, before and after a context shift. Models are tiny and
// random, written here by a small GGUF builder.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <string>
#include <vector>

#include "../api.h"
#include "../gguf.h"
#include "../quants.h"
#include "../model.h"
#include "../session.h"
#include "../threadpool.h"
#include "harness.h"

using namespace hob;

namespace {

// A GGUF v3 file of uint32/float32/string metadata, a string-array
// vocabulary and F32 tensors.
class ArchFile {
public:
    ArchFile& u32(const std::string& k, uint32_t v) { return kv(k, GgufType::UINT32, &v, 4); }
    ArchFile& f32(const std::string& k, float v) { return kv(k, GgufType::FLOAT32, &v, 4); }
    ArchFile& str(const std::string& k, const std::string& v) {
        key(k, GgufType::STRING);
        string(meta_, v);
        n_kv_++;
        return *this;
    }
    ArchFile& strs(const std::string& k, const std::vector<std::string>& v) {
        key(k, GgufType::ARRAY);
        put(meta_, (uint32_t)GgufType::STRING);
        put(meta_, (uint64_t)v.size());
        for (const std::string& s : v) string(meta_, s);
        n_kv_++;
        return *this;
    }
    ArchFile& tensor(const std::string& name, std::vector<uint64_t> dims, float mean, float std) {
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        std::mt19937 rng((uint32_t)std::hash<std::string>()(name) ^ seed);
        std::normal_distribution<float> z(mean, std);
        std::vector<float> v(n);
        for (float& x : v) x = z(rng);
        tensors_.push_back({name, std::move(dims), std::move(v)});
        return *this;
    }
    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> out;
        put(out, 0x46554747u);  // "GGUF"
        put(out, 3u);
        put(out, (uint64_t)tensors_.size());
        put(out, (uint64_t)n_kv_);
        out.insert(out.end(), meta_.begin(), meta_.end());
        uint64_t offset = 0;
        for (const T& t : tensors_) {
            string(out, t.name);
            put(out, (uint32_t)t.dims.size());
            for (uint64_t d : t.dims) put(out, d);
            put(out, 0u);  // F32
            put(out, offset);
            offset += (t.data.size() * 4 + 31) / 32 * 32;
        }
        out.resize((out.size() + 31) / 32 * 32, 0);
        for (const T& t : tensors_) {
            const size_t at = out.size();
            out.resize(at + (t.data.size() * 4 + 31) / 32 * 32, 0);
            std::memcpy(out.data() + at, t.data.data(), t.data.size() * 4);
        }
        return out;
    }
    uint32_t seed = 1;

private:
    struct T {
        std::string name;
        std::vector<uint64_t> dims;
        std::vector<float> data;
    };
    template <typename V>
    static void put(std::vector<uint8_t>& o, V v) {
        const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
        o.insert(o.end(), p, p + sizeof(V));
    }
    static void string(std::vector<uint8_t>& o, const std::string& s) {
        put(o, (uint64_t)s.size());
        o.insert(o.end(), s.begin(), s.end());
    }
    void key(const std::string& k, GgufType t) {
        string(meta_, k);
        put(meta_, (uint32_t)t);
    }
    ArchFile& kv(const std::string& k, GgufType t, const void* v, size_t n) {
        key(k, t);
        meta_.insert(meta_.end(), (const uint8_t*)v, (const uint8_t*)v + n);
        n_kv_++;
        return *this;
    }
    std::vector<uint8_t> meta_;
    size_t n_kv_ = 0;
    std::vector<T> tensors_;
};

constexpr int kVocab = 64, kEmbd = 32, kHead = 4, kHeadKv = 2, kFf = 64;

struct Options {
    int n_layer = 4;
    int window = 0;        // attention.sliding_window, when > 0
    int pattern = -1;      // attention.sliding_window_pattern, when >= 0
    std::string omit;      // a tensor left out
    std::string reshape;   // a tensor written one element longer
    // LongRoPE (phi3): rope_factors_long/short and these keys, when n_ctx_orig > 0.
    int n_ctx_orig = 0;
    float attn_factor = 1.0f;
};

// A random model of `arch` with the tensor names and metadata keys of
// llama.cpp's converter (head_dim 16 for qwen3/gemma, via key_length).
std::vector<uint8_t> arch_file(const std::string& arch, const Options& o = {}) {
    const bool gemma = arch == "gemma2" || arch == "gemma3";
    const bool wide = gemma || arch == "qwen3";
    const uint64_t D = wide ? 16 : kEmbd / kHead, Q = kHead * D, KV = kHeadKv * D, E = kEmbd, F = kFf;
    ArchFile f;
    const std::string a = arch + ".";
    f.str("general.architecture", arch)
        .u32(a + "context_length", 256)
        .u32(a + "embedding_length", kEmbd)
        .u32(a + "block_count", o.n_layer)
        .u32(a + "feed_forward_length", kFf)
        .u32(a + "attention.head_count", kHead)
        .u32(a + "attention.head_count_kv", kHeadKv)
        .f32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
    if (wide) f.u32(a + "attention.key_length", (uint32_t)D).u32(a + "attention.value_length", (uint32_t)D);
    if (o.window > 0) f.u32(a + "attention.sliding_window", (uint32_t)o.window);
    if (o.pattern >= 0) f.u32(a + "attention.sliding_window_pattern", (uint32_t)o.pattern);
    if (o.n_ctx_orig > 0) {
        f.u32(a + "rope.scaling.original_context_length", (uint32_t)o.n_ctx_orig);
        f.f32(a + "rope.scaling.attn_factor", o.attn_factor);
    }
    if (arch == "granite") {
        f.f32(a + "logit_scale", 8).f32(a + "residual_scale", 0.25f).f32(a + "embedding_scale", 12);
        f.f32(a + "attention.scale", 0.5f);
    }
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    while ((int)tokens.size() < kVocab) tokens.push_back("t" + std::to_string(tokens.size()));
    f.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", tokens);

    auto t = [&](const std::string& name, std::vector<uint64_t> dims, float mean, float std) {
        if (name == o.omit) return;
        if (name == o.reshape) dims[0] += 1;
        f.tensor(name, dims, mean, std);
    };
    t("token_embd.weight", {E, kVocab}, 0, gemma ? 0.25f : 1.0f);
    t("output_norm.weight", {E}, 1, 0.1f);
    if (!gemma) t("output.weight", {E, kVocab}, 0, 0.5f);
    if (o.n_ctx_orig > 0) {
        t("rope_factors_long.weight", {D / 2}, 4, 0.5f);  // divisors around 4
        t("rope_factors_short.weight", {D / 2}, 1.2f, 0.1f);
    }
    const bool olmo = arch == "olmo2";
    for (int l = 0; l < o.n_layer; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        if (!olmo) t(p + "attn_norm.weight", {E}, 1, 0.1f);
        if (arch == "phi3") {
            t(p + "attn_qkv.weight", {E, Q + 2 * KV}, 0, 0.1f);
        } else {
            t(p + "attn_q.weight", {E, Q}, 0, 0.1f);
            t(p + "attn_k.weight", {E, KV}, 0, 0.1f);
            t(p + "attn_v.weight", {E, KV}, 0, 0.1f);
        }
        if (arch == "qwen2") {
            t(p + "attn_q.bias", {Q}, 0, 0.2f);
            t(p + "attn_k.bias", {KV}, 0, 0.2f);
            t(p + "attn_v.bias", {KV}, 0, 0.2f);
        }
        if (arch == "qwen3" || arch == "gemma3") {
            t(p + "attn_q_norm.weight", {D}, 1, 0.1f);
            t(p + "attn_k_norm.weight", {D}, 1, 0.1f);
        }
        if (olmo) {
            t(p + "attn_q_norm.weight", {Q}, 1, 0.1f);
            t(p + "attn_k_norm.weight", {KV}, 1, 0.1f);
        }
        t(p + "attn_output.weight", {Q, E}, 0, 0.1f);
        if (gemma || olmo) t(p + "post_attention_norm.weight", {E}, 1, 0.1f);
        if (!olmo) t(p + "ffn_norm.weight", {E}, 1, 0.1f);
        if (arch == "phi3") {
            t(p + "ffn_up.weight", {E, 2 * F}, 0, 0.1f);
        } else {
            t(p + "ffn_gate.weight", {E, F}, 0, 0.1f);
            t(p + "ffn_up.weight", {E, F}, 0, 0.1f);
        }
        t(p + "ffn_down.weight", {F, E}, 0, 0.1f);
        if (gemma || olmo) t(p + "post_ffw_norm.weight", {E}, 1, 0.1f);
    }
    return f.bytes();
}

const char* const kArchs[] = {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "smollm3", "granite", "olmo2"};

// Loads a copy of `file` (the model owns it) with its first n_cpu_layers
// blocks on the CPU (-1: all), the rest checked but offloaded.
std::unique_ptr<Model> load(const std::vector<uint8_t>& file, int32_t n_cpu_layers = -1) {
    uint8_t* base = static_cast<uint8_t*>(hob_alloc(file.size()));
    std::copy(file.begin(), file.end(), base);
    GgufFile g = GgufFile::parse(base, file.size(), file.size());
    const uint64_t off = g.data_offset;
    return Model::build(std::move(g), n_cpu_layers,
                        [base, off](const GgufTensorInfo& info) { return base + off + info.offset; }, base);
}

// The error a load fails with: its status and message.
std::pair<hob_status, std::string> load_error(const std::vector<uint8_t>& file, int32_t n_cpu_layers = -1) {
    try {
        load(file, n_cpu_layers);
    } catch (const Error& e) {
        return {e.status(), e.what()};
    }
    return {HOB_OK, ""};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> last_logits(const Model& m, const std::vector<int32_t>& tokens) {
    ThreadPool pool(2);
    Session s(m, 64, pool, 2);
    s.eval(tokens.data(), (int32_t)tokens.size());
    return s.logits();
}

std::vector<int32_t> sequence(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids = {1};
    while ((int)ids.size() < n) ids.push_back(3 + (int32_t)(rng() % (kVocab - 3)));
    return ids;
}

}  // namespace

TEST("every architecture loads, runs and gives finite logits that depend on the prompt") {
    for (const char* arch : kArchs) {
        const std::vector<uint8_t> file = arch_file(arch);
        std::unique_ptr<Model> m = load(file);
        CHECK_EQ(m->hparams().arch, std::string(arch));
        const std::vector<float> a = last_logits(*m, sequence(10, 1)), b = last_logits(*m, sequence(10, 2));
        bool finite = true;
        for (float x : a) finite = finite && std::isfinite(x);
        CHECK(finite);
        CHECK(a != b);
    }
}

TEST("an unknown architecture is UNSUPPORTED_ARCH naming it and every supported one") {
    std::vector<uint8_t> file = arch_file("llama");
    // Same length, so the rest of the file stays valid: "llama" -> "mamba".
    const std::string from = "llama", to = "mamba";
    auto it = std::search(file.begin(), file.end(), from.begin(), from.end());
    REQUIRE(it != file.end());
    std::copy(to.begin(), to.end(), it);
    const auto [status, msg] = load_error(file);
    CHECK_EQ(status, HOB_ERR_UNSUPPORTED_ARCH);
    CHECK(contains(msg, "\"mamba\""));
    for (const char* arch : kArchs) CHECK(contains(msg, arch));
}

TEST("each architecture's own tensors are required: missing or misshapen ones are MODEL_INVALID naming them, offloaded too") {
    const std::vector<std::pair<std::string, std::string>> own = {
        {"llama", "blk.2.ffn_gate.weight"},          {"qwen2", "blk.1.attn_k.bias"},
        {"qwen3", "blk.3.attn_q_norm.weight"},       {"phi3", "blk.1.attn_qkv.weight"},
        {"gemma2", "blk.3.post_ffw_norm.weight"},    {"gemma3", "blk.0.attn_k_norm.weight"},
        {"olmo2", "blk.2.attn_q_norm.weight"},       {"olmo2", "blk.1.post_ffw_norm.weight"},
    };
    for (const auto& [arch, name] : own) {
        for (int32_t n_cpu : {-1, 0}) {
            Options missing;
            missing.omit = name;
            auto [status, msg] = load_error(arch_file(arch, missing), n_cpu);
            CHECK_EQ(status, HOB_ERR_MODEL_INVALID);
            CHECK(contains(msg, name) && contains(msg, "missing"));
            Options misshapen;
            misshapen.reshape = name;
            std::tie(status, msg) = load_error(arch_file(arch, misshapen), n_cpu);
            CHECK_EQ(status, HOB_ERR_MODEL_INVALID);
            CHECK(contains(msg, name) && contains(msg, "shape"));
        }
    }
}

TEST("phi3's fused tensors are split as views: no bytes are copied, and offloaded blocks hold none") {
    const std::vector<uint8_t> file = arch_file("phi3");
    std::unique_ptr<Model> all = load(file), half = load(file, 2);
    uint64_t block_bytes = 0;  // one block's matrices and norms, all F32
    const uint64_t D = kEmbd / kHead;
    block_bytes += 4 * (2 * kEmbd + kEmbd * (kHead * D + 2 * kHeadKv * D) + kHead * D * kEmbd + kEmbd * 2 * kFf + kFf * kEmbd);
    CHECK_EQ(all->weight_bytes() - half->weight_bytes(), 2 * block_bytes);
    CHECK(all->layout().fused_qkv && all->layout().fused_ffn);
}

TEST("sliding-window layers follow each architecture's pattern and RoPE bases") {
    Options w;
    w.window = 4;
    w.n_layer = 6;
    std::unique_ptr<Model> g2 = load(arch_file("gemma2", w)), g3 = load(arch_file("gemma3", w)),
                           phi = load(arch_file("phi3", w)), ll = load(arch_file("llama", w));
    for (int l = 0; l < 6; l++) {
        CHECK_EQ(g2->hparams().is_swa(l), l % 2 == 0);  // local, global, local, ...
        CHECK_EQ(g3->hparams().is_swa(l), l != 5);      // five local, one global
        CHECK(!phi->hparams().is_swa(l));               // llama.cpp ignores phi3's window
        CHECK(ll->hparams().is_swa(l));                 // a llama window covers every layer
    }
    CHECK_EQ(g3->hparams().rope_of(0).freq_base, 10000.0f);
    CHECK_EQ(g3->hparams().rope_of(5).freq_base, 10000.0f);  // no rope.freq_base in the file: the default
    // Without a window key gemma3 is global everywhere; gemma2 defaults to 4096.
    CHECK(!load(arch_file("gemma3"))->hparams().is_swa(0));
    const std::unique_ptr<Model> g2_default = load(arch_file("gemma2"));
    CHECK_EQ(g2_default->hparams().n_swa, 4096);

    double v = -1;
    std::vector<uint8_t> bytes = arch_file("gemma3", w);
    hob_model* hm = nullptr;
    REQUIRE(hob_model_load(bytes.data(), bytes.size(), 0, &hm) == HOB_OK);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_N_SWA, &v) == HOB_OK && v == 4);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_SWA + 4, &v) == HOB_OK && v == 1);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_SWA + 5, &v) == HOB_OK && v == 0);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_SWA + 6, &v) == HOB_ERR_INVALID_ARGUMENT);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_FFN_ACT, &v) == HOB_OK && v == 1);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_EMBD_SCALE, &v) == HOB_OK && std::fabs(v - std::sqrt(32.0)) < 1e-5);
    hob_model_free(hm);
}

// With every layer sliding (pattern 0), a token influences the last
// position only through a chain of windows: L layers of window w reach
// L * (w - 1) positions back. Past that, changing it changes nothing.
TEST("a token outside every layer's window has no influence on the logits; one inside has") {
    for (const char* arch : {"llama", "gemma2", "gemma3"}) {
        Options o;
        o.window = 4;
        o.pattern = 0;
        std::unique_ptr<Model> m = load(arch_file(arch, o));
        const int n = 20, reach = 4 * (4 - 1);  // the last position (19) sees back to 19 - 12 = 7
        const std::vector<int32_t> base = sequence(n, 3);
        const std::vector<float> ref = last_logits(*m, base);
        std::vector<int32_t> far = base, near = base;
        far[n - 1 - reach - 1] = far[n - 1 - reach - 1] == 5 ? 6 : 5;  // position 6: out of reach
        near[n - 1 - reach] = near[n - 1 - reach] == 5 ? 6 : 5;        // position 7: just in reach
        CHECK(last_logits(*m, far) == ref);
        CHECK(last_logits(*m, near) != ref);
    }
}

TEST("after a context shift the window is measured in the new positions") {
    Options o;
    o.window = 4;
    o.pattern = 0;
    std::unique_ptr<Model> m = load(arch_file("gemma2", o));
    ThreadPool pool(2);
    // 20 tokens, erase [2, 6): cells 0..15 hold positions 0..15. The next
    // token (position 16) reaches back to position 16 - 12 = 4; cell 1 is
    // out of reach now, and its old neighbours (positions 14..19 before)
    // never saw it either, so changing it leaves the next logits unchanged.
    auto next_logits = [&](int32_t token1, int32_t token10) {
        Session s(*m, 64, pool, 2);
        std::vector<int32_t> ids = sequence(20, 4);
        ids[1] = token1;
        ids[10] = token10;
        s.eval(ids.data(), (int32_t)ids.size());
        s.erase(2, 6);
        const int32_t next = 7;
        s.eval(&next, 1);
        return s.logits();
    };
    const std::vector<float> ref = next_logits(5, 5);
    CHECK(next_logits(9, 5) == ref);   // cell 1: outside the window chain
    CHECK(next_logits(5, 9) != ref);   // old position 10, now 6: inside it
}

TEST("granite's multipliers, smollm3's NoPE layers and olmo2's missing pre-norms are read as llama.cpp reads them") {
    std::unique_ptr<Model> g = load(arch_file("granite"));
    const Hparams& hp = g->hparams();
    CHECK_EQ(hp.logit_scale, 1.0f / 8.0f);
    CHECK_EQ(hp.residual_scale, 0.25f);
    CHECK_EQ(hp.embd_scale, 12.0f);
    CHECK_EQ(hp.attn_scale, 0.5f);
    for (int l = 0; l < hp.n_layer; l++) CHECK(hp.has_rope(l));
    // llama.cpp requires logit_scale for granite.
    std::vector<uint8_t> bad = arch_file("granite");
    const std::string from = "granite.logit_scale", to = "granite.logit_scalx";
    auto it = std::search(bad.begin(), bad.end(), from.begin(), from.end());
    REQUIRE(it != bad.end());
    std::copy(to.begin(), to.end(), it);
    const auto [status, msg] = load_error(bad);
    CHECK_EQ(status, HOB_ERR_MODEL_INVALID);
    CHECK(contains(msg, "granite.logit_scale"));

    Options eight;
    eight.n_layer = 8;
    std::unique_ptr<Model> smol = load(arch_file("smollm3", eight));
    for (int l = 0; l < 8; l++) CHECK_EQ(smol->hparams().has_rope(l), l != 3 && l != 7);
    double v = -1;
    std::vector<uint8_t> bytes = arch_file("smollm3", eight);
    hob_model* hm = nullptr;
    REQUIRE(hob_model_load(bytes.data(), bytes.size(), 0, &hm) == HOB_OK);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_ROPE + 3, &v) == HOB_OK && v == 0);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_ROPE + 4, &v) == HOB_OK && v == 1);
    CHECK(hob_model_hparam(hm, HOB_HPARAM_LAYER_ROPE + 8, &v) == HOB_ERR_INVALID_ARGUMENT);
    hob_model_free(hm);

    std::unique_ptr<Model> olmo = load(arch_file("olmo2"));
    CHECK(!olmo->hparams().traits->pre_norms);
    CHECK(olmo->hparams().traits->qk_norm == QkNorm::Row);
}

namespace {

// Largest difference between two f16 rows relative to b's largest element
// (two f16 roundings move an element by about 1e-3 of that).
float rel_f16(const uint16_t* a, const uint16_t* b, int32_t d) {
    float diff = 0, scale = 1e-6f;
    for (int32_t i = 0; i < d; i++) {
        const float x = f16_to_f32(a[i]), y = f16_to_f32(b[i]);
        diff = std::max(diff, std::fabs(x - y));
        scale = std::max(scale, std::fabs(y));
    }
    return diff / scale;
}

// Evaluates 40 tokens in three sessions of n_ctx cells, erases [5, 12) from
// the first and evaluates the kept tokens afresh in the third.
struct ShiftRun {
    ThreadPool pool{1};
    std::unique_ptr<Session> shifted, original, fresh;
    ShiftRun(const Model& m, int32_t n_ctx) {
        const std::vector<int32_t> seq = sequence(40, 9);
        shifted = std::make_unique<Session>(m, n_ctx, pool, 1);
        original = std::make_unique<Session>(m, n_ctx, pool, 1);
        fresh = std::make_unique<Session>(m, n_ctx, pool, 1);
        shifted->eval(seq.data(), 40);
        original->eval(seq.data(), 40);
        shifted->erase(5, 12);
        std::vector<int32_t> kept(seq.begin(), seq.begin() + 5);
        kept.insert(kept.end(), seq.begin() + 12, seq.end());
        fresh->eval(kept.data(), (int32_t)kept.size());
    }
};

}  // namespace

TEST("a shift moves a NoPE layer's keys untouched and re-rotates the others (smollm3)") {
    // llama.cpp rotates every smollm3 layer's keys on a shift (its has_rope
    // is true for all of them); the NoPE layer's keys never held a position.
    std::unique_ptr<Model> m = load(arch_file("smollm3"));
    ShiftRun r(*m, 64);
    const int32_t d = r.shifted->kv().kv_dim();
    float nope_moved = 0, rope0 = 0;
    for (int32_t c = 5; c < r.shifted->n_past(); c++) {
        nope_moved = std::max(nope_moved, rel_f16(r.shifted->kv().k_rows(3, c, 1), r.original->kv().k_rows(3, c + 7, 1), d));
        rope0 = std::max(rope0, rel_f16(r.shifted->kv().k_rows(0, c, 1), r.fresh->kv().k_rows(0, c, 1), d));
    }
    CHECK_EQ(nope_moved, 0.0f);  // bit for bit: moved, not rotated
    CHECK(rope0 < 5e-3f);        // layer 0: as a fresh evaluation at the new positions
}

TEST("LongRoPE: long factors past the original context, short ones within it, the attention factor once") {
    Options o;
    o.n_ctx_orig = 48;
    o.attn_factor = 1.5f;
    std::unique_ptr<Model> m = load(arch_file("phi3", o));
    Options plain;
    std::unique_ptr<Model> without = load(arch_file("phi3", plain));
    CHECK_EQ(m->hparams().rope.mscale, 1.5f);
    CHECK_EQ(m->hparams().n_ctx_orig, 48);
    const float* short_f = m->rope_of(0, 48).freq_factors;
    const float* long_f = m->rope_of(0, 49).freq_factors;
    REQUIRE(short_f && long_f && short_f != long_f);
    CHECK(std::fabs(long_f[0] - 4) < 2 && std::fabs(short_f[0] - 1.2f) < 0.5f);
    CHECK(without->rope_of(0, 64).freq_factors == nullptr);
    // The session's size picks the set: the same tokens give other logits.
    ThreadPool pool(1);
    const std::vector<int32_t> seq = sequence(12, 5);
    Session small(*m, 48, pool, 1), big(*m, 64, pool, 1);
    small.eval(seq.data(), 12);
    big.eval(seq.data(), 12);
    CHECK(small.logits() != big.logits());
    // Keys of layer 0 carry the factor once: a shifted key equals a fresh
    // one at its new position (llama.cpp's shift multiplies by it again).
    ShiftRun r(*m, 64);
    const int32_t d = r.shifted->kv().kv_dim();
    float after = 0;
    for (int32_t c = 0; c < r.shifted->n_past(); c++) {
        after = std::max(after, rel_f16(r.shifted->kv().k_rows(0, c, 1), r.fresh->kv().k_rows(0, c, 1), d));
    }
    CHECK(after < 5e-3f);
}
