// Loading a model from GGUF metadata and tensors, and its forward pass. The
// forward pass reads top to bottom like the paper: embed, then per layer
// RMSNorm -> QKV -> RoPE -> attention over the cache -> output -> RMSNorm ->
// SwiGLU FFN, then the final norm and the output head.
#include "model.h"

#include <cmath>

#include "api.h"
#include "quants.h"

namespace hob {

namespace {

const char* kSupportedArchs = "llama";

std::string shape_str(const int64_t* ne, int n) {
    std::string s = "[";
    for (int i = 0; i < n; i++) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

int32_t to_i32(int64_t v, const std::string& key, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " = " + std::to_string(v) + " is outside [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return (int32_t)v;
}

}  // namespace

bool cpu_uses_tensor(const std::string& name, int32_t n_layer, int32_t n_cpu_layers) {
    if (name.compare(0, 4, "blk.") == 0) {
        const size_t dot = name.find('.', 4);
        if (dot == std::string::npos || dot == 4) return true;
        int64_t block = 0;
        for (size_t i = 4; i < dot; i++) {
            if (name[i] < '0' || name[i] > '9' || block > (1 << 20)) return true;
            block = block * 10 + (name[i] - '0');
        }
        return block < n_cpu_layers;
    }
    if (name == "output.weight" || name == "output_norm.weight") return n_cpu_layers > 0 || n_layer == 0;
    return true;
}

void Workspace::reserve(const Hparams& hp, int32_t n_tokens, int32_t n_threads) {
    if (n_tokens <= capacity) return;
    const size_t T = (size_t)n_tokens;
    const size_t q_dim = (size_t)hp.n_head * hp.head_dim;
    x.resize(T * hp.n_embd);
    xb.resize(T * hp.n_embd);
    xb2.resize(T * hp.n_embd);
    q.resize(T * q_dim);
    k.resize(T * hp.kv_dim());
    v.resize(T * hp.kv_dim());
    att.resize(T * q_dim);
    hb.resize(T * hp.n_ff);
    hb2.resize(T * hp.n_ff);
    pos.resize(T);
    if ((int32_t)scratch.per_thread.size() < n_threads) scratch.per_thread.resize(n_threads);
    capacity = n_tokens;
}

Model::~Model() { hob_free(owned_); }

const Tensor* Model::tensor(const std::string& name, std::initializer_list<int64_t> shape, bool required) {
    const GgufTensorInfo* info = gguf_.find_tensor(name);
    if (!info) {
        if (required) fail(HOB_ERR_MODEL_INVALID, "tensor " + name + " is missing");
        return nullptr;
    }
    int64_t want[4] = {1, 1, 1, 1};
    int i = 0;
    for (int64_t d : shape) want[i++] = d;
    for (int d = 0; d < 4; d++) {
        if (info->ne[d] != want[d]) {
            fail(HOB_ERR_MODEL_INVALID, "tensor " + name + " has shape " + shape_str(info->ne, info->n_dims) +
                                            ", expected " + shape_str(want, (int)shape.size()));
        }
    }
    if (!type_supported(info->type)) {
        fail(HOB_ERR_UNSUPPORTED_TYPE, "tensor " + name + " has type " + type_name(info->type) +
                                           ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0)");
    }
    auto t = std::make_unique<Tensor>();
    t->name = name;
    t->type = info->type;
    for (int d = 0; d < 4; d++) t->ne[d] = info->ne[d];
    t->row_bytes = row_size(info->type, info->ne[0]);
    t->n_bytes = (size_t)info->size;
    if (!cpu_uses_tensor(name, hp_.n_layer, n_cpu_layers_)) {
        tensors_.push_back(std::move(t));  // offloaded: shape and type checked, no bytes here
        return tensors_.back().get();
    }
    t->data = locate_(*info);
    HOB_CHECK(t->data != nullptr, HOB_ERR_INTERNAL, "the bytes of tensor " + name + " were not loaded");
    // Kernels load F32/F16 elements directly; a file with a small alignment
    // can place them off their natural boundary, so such tensors get a copy.
    if (reinterpret_cast<uintptr_t>(t->data) % 4 != 0) {
        auto copy = std::make_unique<std::vector<uint8_t>>(t->data, t->data + t->n_bytes);
        t->data = copy->data();
        realigned_.push_back(std::move(copy));
    }
    weight_bytes_ += t->n_bytes;
    tensors_.push_back(std::move(t));
    return tensors_.back().get();
}

std::vector<float> Model::vector_f32(const std::string& name, int64_t n) {
    const Tensor* t = tensor(name, {n});
    std::vector<float> out((size_t)n);
    dequantize_row(t->type, t->data, out.data(), n);
    return out;
}

std::unique_ptr<Model> Model::load(uint8_t* data, size_t size, bool owns_data) {
    std::unique_ptr<Model> m(new Model());
    // Own the bytes first, so they are freed if anything below throws.
    if (owns_data) m->owned_ = data;
    m->gguf_ = GgufFile::parse(data, size, size);
    const uint64_t base = m->gguf_.data_offset;
    m->init([data, base](const GgufTensorInfo& info) { return data + base + info.offset; }, -1);
    return m;
}

std::unique_ptr<Model> Model::build(GgufFile gguf, int32_t n_cpu_layers, const TensorLocator& locate, uint8_t* owned) {
    std::unique_ptr<Model> m(new Model());
    m->owned_ = owned;
    m->gguf_ = std::move(gguf);
    m->init(locate, n_cpu_layers);
    return m;
}

void Model::init(const TensorLocator& locate, int32_t n_cpu_layers) {
    const GgufFile& g = gguf_;
    Hparams& hp = hp_;
    if (!g.has("general.architecture")) fail(HOB_ERR_MODEL_INVALID, "metadata general.architecture is missing");
    hp.arch = g.get_string("general.architecture", "");
    if (hp.arch != "llama") {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "architecture \"" + hp.arch + "\" is not supported (supported: " +
                                           kSupportedArchs + ")");
    }
    const std::string a = hp.arch + ".";
    auto required_int = [&](const std::string& key, int64_t lo, int64_t hi) {
        if (!g.has(key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " is missing");
        return to_i32(g.get_int(key, 0), key, lo, hi);
    };
    hp.n_ctx_train = required_int(a + "context_length", 1, 1 << 24);
    hp.n_embd = required_int(a + "embedding_length", 1, 1 << 20);
    hp.n_layer = required_int(a + "block_count", 1, 4096);
    hp.n_ff = required_int(a + "feed_forward_length", 1, 1 << 22);
    hp.n_head = required_int(a + "attention.head_count", 1, 1 << 14);
    hp.n_head_kv = to_i32(g.get_int(a + "attention.head_count_kv", hp.n_head), a + "attention.head_count_kv", 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv != 0) {
        fail(HOB_ERR_MODEL_INVALID, "attention.head_count " + std::to_string(hp.n_head) +
                                        " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
    }
    const int64_t default_head_dim = hp.n_embd % hp.n_head == 0 ? hp.n_embd / hp.n_head : 0;
    hp.head_dim = to_i32(g.get_int(a + "attention.key_length", default_head_dim), a + "attention.key_length", 1, 1 << 14);
    const int32_t v_dim = to_i32(g.get_int(a + "attention.value_length", hp.head_dim), a + "attention.value_length", 1, 1 << 14);
    if (v_dim != hp.head_dim) {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "attention.key_length " + std::to_string(hp.head_dim) + " differs from value_length " +
                                           std::to_string(v_dim) + ", which is not supported");
    }
    hp.rms_eps = (float)g.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
    if (!(hp.rms_eps > 0 && hp.rms_eps < 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "attention.layer_norm_rms_epsilon is not in (0, 1)");

    hp.rope.style = RopeStyle::Normal;
    hp.rope.n_rot = to_i32(g.get_int(a + "rope.dimension_count", hp.head_dim), a + "rope.dimension_count", 2, hp.head_dim);
    if (hp.rope.n_rot % 2 != 0) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.dimension_count is odd");
    hp.rope.freq_base = (float)g.get_float(a + "rope.freq_base", 10000.0);
    if (!(hp.rope.freq_base > 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.freq_base must be > 1");
    const std::string scaling = g.get_string(a + "rope.scaling.type", "none");
    if (scaling == "linear") {
        const double factor = g.get_float(a + "rope.scaling.factor", 1.0);
        if (!(factor >= 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.scaling.factor must be >= 1");
        hp.rope.freq_scale = (float)(1.0 / factor);
    } else if (scaling != "none") {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "RoPE scaling \"" + scaling + "\" is not supported (supported: none, linear)");
    }

    n_cpu_layers_ = n_cpu_layers < 0 || n_cpu_layers > hp.n_layer ? hp.n_layer : n_cpu_layers;
    locate_ = locate;
    vocab_ = Vocab::load(g);
    hp.n_vocab = vocab_.n_tokens();

    // Weights, with the shapes llama.cpp's converter writes.
    const int64_t E = hp.n_embd, Q = (int64_t)hp.n_head * hp.head_dim, KV = hp.kv_dim();
    tok_embd_ = tensor("token_embd.weight", {E, hp.n_vocab});
    const bool head_here = cpu_uses_tensor("output.weight", hp.n_layer, n_cpu_layers_);
    const Tensor* output = tensor("output.weight", {E, hp.n_vocab}, false);
    if (head_here) {
        output_norm_ = vector_f32("output_norm.weight", E);
        output_ = output ? output : tok_embd_;  // tied embeddings
    } else {
        tensor("output_norm.weight", {E});
    }
    if (g.find_tensor("rope_freqs.weight")) {
        rope_freqs_ = vector_f32("rope_freqs.weight", hp.rope.n_rot / 2);
        hp.rope.freq_factors = rope_freqs_.data();
    }
    layers_.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = layers_[l];
        const bool here = l < n_cpu_layers_;
        if (here) {
            L.attn_norm = vector_f32(p + "attn_norm.weight", E);
            L.ffn_norm = vector_f32(p + "ffn_norm.weight", E);
        } else {
            tensor(p + "attn_norm.weight", {E});
            tensor(p + "ffn_norm.weight", {E});
        }
        L.wq = tensor(p + "attn_q.weight", {E, Q});
        L.wk = tensor(p + "attn_k.weight", {E, KV});
        L.wv = tensor(p + "attn_v.weight", {E, KV});
        L.wo = tensor(p + "attn_output.weight", {Q, E});
        L.ffn_gate = tensor(p + "ffn_gate.weight", {E, hp.n_ff});
        L.ffn_up = tensor(p + "ffn_up.weight", {E, hp.n_ff});
        L.ffn_down = tensor(p + "ffn_down.weight", {hp.n_ff, E});
    }
    layers_.resize(n_cpu_layers_);  // offloaded blocks were checked; the CPU keeps only its own
    locate_ = nullptr;
}

void Model::forward(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T, int32_t cell0,
                    int32_t pos0) const {
    const Hparams& hp = hp_;
    HOB_CHECK(T > 0 && T <= ws.capacity, HOB_ERR_INTERNAL,
              "batch of " + std::to_string(T) + " tokens exceeds the workspace (" + std::to_string(ws.capacity) + ")");
    const int32_t E = hp.n_embd;
    for (int32_t t = 0; t < T; t++) {
        HOB_CHECK(tokens[t] >= 0 && tokens[t] < hp.n_vocab, HOB_ERR_OUT_OF_RANGE,
                  "token id " + std::to_string(tokens[t]) + " out of range [0, " + std::to_string(hp.n_vocab) + ")");
        ws.pos[t] = pos0 + t;
    }
    const AttentionShape shape{hp.n_head, hp.n_head_kv, hp.head_dim, 1.0f / std::sqrt((float)hp.head_dim)};
    float* x = ws.x.data();

    // Embed: one row of the token embedding per token.
    for (int32_t t = 0; t < T; t++) dequantize_row(tok_embd_->type, tok_embd_->row(tokens[t]), x + (size_t)t * E, E);

    for (int32_t l = 0; l < n_cpu_layers_; l++) {
        const LayerWeights& L = layers_[l];

        // Attention: norm, project, rotate, cache, attend, project back.
        rmsnorm(x, L.attn_norm.data(), ws.xb.data(), T, E, hp.rms_eps);
        matmul(pool, ws.scratch, *L.wq, ws.xb.data(), T, ws.q.data());
        matmul(pool, ws.scratch, *L.wk, ws.xb.data(), T, ws.k.data());
        matmul(pool, ws.scratch, *L.wv, ws.xb.data(), T, ws.v.data());
        rope(ws.q.data(), T, hp.n_head, hp.head_dim, ws.pos.data(), hp.rope);
        rope(ws.k.data(), T, hp.n_head_kv, hp.head_dim, ws.pos.data(), hp.rope);
        kv_store(kv, l, cell0, T, ws.k.data(), ws.v.data());
        attention(pool, ws.scratch, kv, l, cell0, T, shape, ws.q.data(), ws.att.data());
        matmul(pool, ws.scratch, *L.wo, ws.att.data(), T, ws.xb2.data());
        add(x, ws.xb2.data(), (int64_t)T * E);

        // Feed-forward: norm, SwiGLU, project back.
        rmsnorm(x, L.ffn_norm.data(), ws.xb.data(), T, E, hp.rms_eps);
        matmul(pool, ws.scratch, *L.ffn_gate, ws.xb.data(), T, ws.hb.data());
        matmul(pool, ws.scratch, *L.ffn_up, ws.xb.data(), T, ws.hb2.data());
        silu_mul(ws.hb.data(), ws.hb2.data(), (int64_t)T * hp.n_ff);
        matmul(pool, ws.scratch, *L.ffn_down, ws.hb.data(), T, ws.xb2.data());
        add(x, ws.xb2.data(), (int64_t)T * E);
    }
}

void Model::head(ThreadPool& pool, Workspace& ws, const float* hidden, float* logits) const {
    HOB_CHECK(head_on_cpu(), HOB_ERR_INVALID_ARGUMENT, "the output head of this model is offloaded, not on the CPU");
    rmsnorm(hidden, output_norm_.data(), ws.xb.data(), 1, hp_.n_embd, hp_.rms_eps);
    matmul(pool, ws.scratch, *output_, ws.xb.data(), 1, logits);
}

}  // namespace hob
