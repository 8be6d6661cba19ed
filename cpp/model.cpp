// Loading a model's weights from GGUF tensors, and its forward pass. The
// forward pass reads top to bottom like the paper: embed, then per layer
// RMSNorm -> QKV -> RoPE -> attention over the cache -> output -> RMSNorm ->
// gated FFN, then the final norm and the output head. What differs between
// architectures (arch.h) shows as optional steps: biases, q/k norms,
// post-norms, embedding scale, soft-capping, sliding windows.
#include "model.h"

#include <cmath>
#include <vector>

#include "api.h"
#include "quants.h"
#include "quants_relaxed.h"

namespace hob {

namespace {

// Row by row: post-norm the block's output ws.xb2 (if the architecture has
// one), scale it (Granite's residual multiplier), add it to the residual
// stream ws.x, norm the sum into ws.xb for the next step (if there is one).
void residual(ThreadPool& pool, Workspace& ws, int32_t T, int32_t E, float eps, const std::vector<float>& post_norm,
              float out_scale, const float* next_norm) {
    parallel_for(pool, T, (int64_t)T * E * 8, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* xt = ws.x.data() + (size_t)t * E;
            float* ot = ws.xb2.data() + (size_t)t * E;
            if (!post_norm.empty()) rmsnorm(ot, post_norm.data(), ot, 1, E, eps);
            if (out_scale != 1.0f) scale(ot, out_scale, E);
            add(xt, ot, E);
            if (next_norm) rmsnorm(xt, next_norm, ws.xb.data() + (size_t)t * E, 1, E, eps);
        }
    });
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
    // The output norm (LFM2: token_embd_norm) stays too: embeddings pool
    // after it on the CPU.
    if (name == "output.weight") return n_cpu_layers > 0 || n_layer == 0;
    return true;
}

void Workspace::reserve(const Hparams& hp, int32_t n_tokens, int32_t n_threads) {
    if (n_tokens <= capacity) return;
    const size_t T = (size_t)n_tokens;
    const size_t q_dim = (size_t)hp.n_head * hp.head_dim_max();
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
    reserve_hybrid(hp, T);
    reserve_gemma4(hp, T);
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
                                           ", which is not supported (supported: " + supported_types_text() + ")");
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
    // The relaxed-SIMD builds reorder the bytes of each block for their
    // kernels, in place: the bytes are this model's own copy.
    if (owned_ && repack_wanted(t->type)) {
        repack_rows(t->type, const_cast<uint8_t*>(t->data), t->rows(), t->cols());
        t->repacked = true;
    }
    weight_bytes_ += t->n_bytes;
    tensors_.push_back(std::move(t));
    return tensors_.back().get();
}

const Tensor* Model::rows_view(const Tensor* whole, int64_t row0, int64_t n_rows, const std::string& name) {
    HOB_CHECK(whole->ne[2] == 1 && whole->ne[3] == 1 && row0 >= 0 && row0 + n_rows <= whole->ne[1], HOB_ERR_INTERNAL,
              "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + n_rows) + ") outside tensor " + whole->name);
    auto t = std::make_unique<Tensor>(*whole);
    t->name = name;
    t->ne[1] = n_rows;
    t->n_bytes = (size_t)n_rows * whole->row_bytes;
    if (whole->data) t->data = whole->row(row0);  // null stays null: an offloaded block
    tensors_.push_back(std::move(t));
    return tensors_.back().get();
}

std::vector<float> Model::vector_f32(const std::string& name, int64_t n, bool required) {
    const Tensor* t = tensor(name, {n}, required);
    if (!t || !t->data) return {};
    std::vector<float> out((size_t)n);
    dequantize_tensor_row(*t, 0, out.data());
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

std::unique_ptr<Model> Model::load_vocab(GgufFile gguf) {
    std::unique_ptr<Model> m(new Model());
    m->gguf_ = std::move(gguf);
    m->vocab_only_ = true;
    m->vocab_ = Vocab::load(m->gguf_);
    Hparams& hp = m->hp_;
    hp.arch = m->gguf_.get_string("general.architecture", "");
    hp.n_vocab = m->vocab_.n_tokens();
    // Informative only (a vocabulary file may lack it); nothing evaluates.
    const int64_t n_ctx = m->gguf_.get_int(hp.arch + ".context_length", 0);
    hp.n_ctx_train = n_ctx > 0 && n_ctx <= (1 << 24) ? (int32_t)n_ctx : 0;
    return m;
}

void Model::init(const TensorLocator& locate, int32_t n_cpu_layers) {
    const GgufFile& g = gguf_;
    hp_ = read_hparams(g);
    Hparams& hp = hp_;
    n_cpu_layers_ = n_cpu_layers < 0 || n_cpu_layers > hp.n_layer ? hp.n_layer : n_cpu_layers;
    locate_ = locate;
    vocab_ = Vocab::load(g);
    hp.n_vocab = vocab_.n_tokens();

    // Weights, with the names and shapes llama.cpp's converter writes.
    const int64_t E = hp.n_embd;
    tok_embd_ = tensor("token_embd.weight", {E, hp.n_vocab});
    // The KV cache has a layer for each attention block on the CPU.
    for (int32_t l = 0; l < n_cpu_layers_; l++) {
        if (hp.mixer(l) != Mixer::Attention) {
            kv_layer_.push_back(-1);
            continue;
        }
        if (hp.kv_source_of(l) != l) {  // Gemma 4: an earlier block's cache
            kv_layer_.push_back(kv_layer_[(size_t)hp.kv_source_of(l)]);
            continue;
        }
        kv_layer_.push_back((int32_t)kv_blocks_.size());
        kv_blocks_.push_back(l);
    }
    load_embedding_head();
    if (hp.traits->block == BlockKind::Bert) {
        init_encoder();
        locate_ = nullptr;
        return;
    }
    output_norm_ = vector_f32(hp.output_norm_name + ".weight", E);
    // Embedding models compute no logits, so their head (tied or not) is never read.
    const Tensor* output = has_head() ? tensor("output.weight", {E, hp.n_vocab}, false) : nullptr;
    if (has_head() && cpu_uses_tensor("output.weight", hp.n_layer, n_cpu_layers_)) output_ = output ? output : tok_embd_;  // tied
    if (g.find_tensor("rope_freqs.weight")) {
        rope_freqs_ = vector_f32("rope_freqs.weight", hp.rope.n_rot / 2);
        hp.rope.freq_factors = rope_freqs_.data();
        hp.rope_swa.freq_factors = rope_freqs_.data();
    } else if (g.find_tensor("rope_factors_long.weight") || g.find_tensor("rope_factors_short.weight")) {
        // LongRoPE: both sets or neither (rope_of picks one per session).
        rope_long_ = vector_f32("rope_factors_long.weight", hp.rope.n_rot / 2);
        rope_short_ = vector_f32("rope_factors_short.weight", hp.rope.n_rot / 2);
    }
    // The first attention block decides the layout; every one must have the
    // same. (A hybrid's recurrent blocks have an attn_qkv of their own.)
    int32_t first_attn = 0;
    while (first_attn + 1 < hp.n_layer && hp.mixer(first_attn) != Mixer::Attention) first_attn++;
    const std::string b0 = "blk." + std::to_string(first_attn) + ".";
    layout_.fused_qkv = g.find_tensor(b0 + "attn_qkv.weight") != nullptr;
    layout_.qkv_bias = g.find_tensor(b0 + (layout_.fused_qkv ? "attn_qkv.bias" : "attn_q.bias")) != nullptr;
    layout_.fused_ffn = hp.arch == "phi3";  // llama.cpp's phi3 reads only the fused form
    if (hp.attn_gate && layout_.fused_qkv) fail(HOB_ERR_UNSUPPORTED_ARCH, "gated attention with a fused attn_qkv is not supported");
    layers_.resize(hp.n_layer);
    if (hp.arch == "gemma4") init_gemma4();
    for (int32_t l = 0; l < hp.n_layer; l++) {
        if (hp.arch == "gemma4") {
            load_gemma4_block(l);
        } else {
            load_block(l);
        }
    }
    layers_.resize(n_cpu_layers_);  // offloaded blocks were checked; the CPU keeps only its own
    locate_ = nullptr;
}

void Model::load_block(int32_t l) {
    const Hparams& hp = hp_;
    const ArchTraits& tr = *hp.traits;
    const int64_t E = hp.n_embd, Q = (int64_t)hp.n_head * hp.head_dim, KV = hp.kv_dim(), D = hp.head_dim;
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = layers_[l];
    if (tr.pre_norms) L.attn_norm = vector_f32(p + "attn_norm.weight", E);
    if (hp.mixer(l) != Mixer::Attention) {
        load_recurrent_mixer(l);
        load_ffn(l);
        return;
    }
    for (const char* other : {"attn_qkv.weight", "attn_q.weight"}) {
        const bool fused = std::string(other) == "attn_qkv.weight";
        if (fused != layout_.fused_qkv && gguf_.find_tensor(p + other)) {
            fail(HOB_ERR_MODEL_INVALID, "tensor " + p + other + " is present but block 0 stores Q, K and V " +
                                            (layout_.fused_qkv ? "fused" : "separately"));
        }
    }

    if (layout_.fused_qkv) {
        const Tensor* qkv = tensor(p + "attn_qkv.weight", {E, Q + 2 * KV});
        L.wq = rows_view(qkv, 0, Q, p + "attn_qkv.weight[q]");
        L.wk = rows_view(qkv, Q, KV, p + "attn_qkv.weight[k]");
        L.wv = rows_view(qkv, Q + KV, KV, p + "attn_qkv.weight[v]");
        const std::vector<float> b = vector_f32(p + "attn_qkv.bias", Q + 2 * KV, layout_.qkv_bias);
        if (!b.empty()) {
            L.bq.assign(b.begin(), b.begin() + Q);
            L.bk.assign(b.begin() + Q, b.begin() + Q + KV);
            L.bv.assign(b.begin() + Q + KV, b.end());
        }
    } else {
        L.wq = tensor(p + "attn_q.weight", {E, hp.attn_gate ? 2 * Q : Q});  // Qwen 3.5: a gate after each head
        L.wk = tensor(p + "attn_k.weight", {E, KV});
        L.wv = tensor(p + "attn_v.weight", {E, KV});
        L.bq = vector_f32(p + "attn_q.bias", Q, layout_.qkv_bias);
        L.bk = vector_f32(p + "attn_k.bias", KV, layout_.qkv_bias);
        L.bv = vector_f32(p + "attn_v.bias", KV, layout_.qkv_bias);
    }
    if (!layout_.qkv_bias && gguf_.find_tensor(p + (layout_.fused_qkv ? "attn_qkv.bias" : "attn_q.bias"))) {
        fail(HOB_ERR_MODEL_INVALID, "block " + std::to_string(l) + " has Q/K/V biases but block 0 has none");
    }
    if (tr.qk_norm != QkNorm::None) {
        const bool row = tr.qk_norm == QkNorm::Row;
        L.q_norm = vector_f32(p + "attn_q_norm.weight", row ? Q : D);
        L.k_norm = vector_f32(p + "attn_k_norm.weight", row ? KV : D);
    }
    L.wo = tensor(p + "attn_output.weight", {Q, E});
    if (tr.post_norms) L.post_attn_norm = vector_f32(p + "post_attention_norm.weight", E);
    load_ffn(l);
}

void Model::load_ffn(int32_t l) {
    const Hparams& hp = hp_;
    const ArchTraits& tr = *hp.traits;
    const int64_t E = hp.n_embd, F = hp.n_ff;
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = layers_[l];
    if (tr.pre_norms) L.ffn_norm = vector_f32(p + hp.ffn_norm_name + ".weight", E);
    if (layout_.fused_ffn) {
        const Tensor* gate_up = tensor(p + "ffn_up.weight", {E, 2 * F});
        L.ffn_gate = rows_view(gate_up, 0, F, p + "ffn_up.weight[gate]");
        L.ffn_up = rows_view(gate_up, F, F, p + "ffn_up.weight[up]");
    } else {
        L.ffn_gate = tensor(p + "ffn_gate.weight", {E, F});
        L.ffn_up = tensor(p + "ffn_up.weight", {E, F});
    }
    L.ffn_down = tensor(p + "ffn_down.weight", {F, E});
    if (tr.post_norms) L.post_ffn_norm = vector_f32(p + "post_ffw_norm.weight", E);
}

void Model::forward(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T, int32_t cell0,
                    int32_t pos0, RecurrentState* state, const BatchLayout* layout) const {
    const Hparams& hp = hp_;
    const ArchTraits& tr = *hp.traits;
    HOB_CHECK(T > 0 && T <= ws.capacity, HOB_ERR_INTERNAL,
              "batch of " + std::to_string(T) + " tokens exceeds the workspace (" + std::to_string(ws.capacity) + ")");
    HOB_CHECK(!layout || (cell0 >= 0 && cell0 + T <= layout->n_tokens()), HOB_ERR_INTERNAL,
              "rows [" + std::to_string(cell0) + ", " + std::to_string(cell0 + T) + ") outside the batch layout");
    HOB_CHECK(layout || hp.causal, HOB_ERR_INVALID_ARGUMENT,
              "a non-causal model evaluates whole sequences only (embeddings), not tokens appended to a cache");
    const int32_t E = hp.n_embd;
    const int64_t q_dim = (int64_t)hp.n_head * hp.head_dim;
    for (int32_t t = 0; t < T; t++) {
        HOB_CHECK(tokens[t] >= 0 && tokens[t] < hp.n_vocab, HOB_ERR_OUT_OF_RANGE,
                  "token id " + std::to_string(tokens[t]) + " out of range [0, " + std::to_string(hp.n_vocab) + ")");
        ws.pos[t] = layout ? layout->pos[(size_t)(cell0 + t)] : pos0 + t;
    }
    HOB_CHECK(!ws.embd_rows || tr.block != BlockKind::Bert, HOB_ERR_INVALID_ARGUMENT,
              "a " + hp.arch + " model takes tokens only, not embedding rows");
    if (tr.block == BlockKind::Bert) {
        forward_encoder(pool, kv, ws, tokens, T, cell0, layout);
        return;
    }
    if (hp.arch == "gemma4") {
        HOB_CHECK(!layout || layout->image_rows, HOB_ERR_INVALID_ARGUMENT,
                  "Gemma 4 evaluates tokens or image rows appended to a cache, not packed sequences (embeddings)");
        forward_gemma4(pool, kv, ws, tokens, T, cell0, layout);
        return;
    }
    float* x = ws.x.data();
    const int32_t n_layers = n_cpu_layers_;

    // Embed: one row of the token embedding per token (Gemma scales it),
    // or the given rows as they are (llama.cpp scales token rows only).
    if (ws.embd_rows) {
        std::copy(ws.embd_rows, ws.embd_rows + (size_t)T * E, x);
    } else {
        parallel_for(pool, T, (int64_t)T * E * 4, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                float* xt = x + (size_t)t * E;
                dequantize_tensor_row(*tok_embd_, tokens[t], xt);
                if (hp.embd_scale != 1.0f) scale(xt, hp.embd_scale, E);
            }
        });
    }
    if (n_layers > 0 && tr.pre_norms) rmsnorm(pool, x, layers_[0].attn_norm.data(), ws.xb.data(), T, E, hp.rms_eps);
    // Each sub-block reads its input normed (ws.xb), or, without pre-norms,
    // straight from the residual stream, which changes only after it.
    const float* in = tr.pre_norms ? ws.xb.data() : x;

    const int32_t kv_dim = hp.kv_dim();
    for (int32_t l = 0; l < n_layers; l++) {
        const LayerWeights& L = layers_[l];
        if (hp.mixer(l) != Mixer::Attention) {
            recurrent_block(pool, ws, state, l, T);  // hybrids: model_hybrid.cpp
            continue;
        }
        const int32_t kl = kv_layer_[(size_t)l];  // the cache has layers for attention blocks only
        // Qwen 3.5 projects each head's query and gate together.
        float* q_out = hp.attn_gate ? ws.qg.data() : ws.q.data();

        // Attention: (norm, done by the step before) project (+ bias), norm
        // heads, rotate, cache, attend (within the layer's window), project
        // back (+ post-norm).
        if (can_share_input(*L.wq, *L.wk) && can_share_input(*L.wq, *L.wv)) {
            matmul_many(pool, ws.scratch, {{L.wq, q_out}, {L.wk, ws.k.data()}, {L.wv, ws.v.data()}}, in, T);
        } else {
            matmul(pool, ws.scratch, *L.wq, in, T, q_out);
            matmul(pool, ws.scratch, *L.wk, in, T, ws.k.data());
            matmul(pool, ws.scratch, *L.wv, in, T, ws.v.data());
        }
        // Per token, in one pass over its q, k and v rows: biases, q/k
        // norms, rotation (none on NoPE layers), Gemma's q scaling (before
        // its f16 rounding, as its reference does) and the store into the cache.
        const RopeParams rp = rope_of(l, kv.n_ctx());
        const bool rotate = hp.has_rope(l);
        HOB_CHECK(!rotate || (rp.n_rot > 0 && rp.n_rot % 2 == 0 && rp.n_rot <= hp.head_dim), HOB_ERR_INVALID_ARGUMENT,
                  "RoPE over " + std::to_string(rp.n_rot) + " of " + std::to_string(hp.head_dim) + " dimensions");
        kv.k_rows(kl, cell0, T);  // checks the cells once
        const int64_t row_cost = (q_dim + 2 * (int64_t)kv_dim) * 8 + rp.n_rot * 20;
        parallel_for(pool, T, T * row_cost, 1, [&](int64_t t0, int64_t t1) {
            float cs_local[256];
            float* cs = rp.n_rot <= 256 ? cs_local : nullptr;
            std::vector<float> cs_big;
            if (!cs) {
                cs_big.resize((size_t)rp.n_rot);
                cs = cs_big.data();
            }
            for (int64_t t = t0; t < t1; t++) {
                float* qt = ws.q.data() + (size_t)t * q_dim;
                if (hp.attn_gate) split_query_gate(ws, t);
                float* kt = ws.k.data() + (size_t)t * kv_dim;
                float* vt = ws.v.data() + (size_t)t * kv_dim;
                if (!L.bq.empty()) {
                    add(qt, L.bq.data(), q_dim);
                    add(kt, L.bk.data(), kv_dim);
                    add(vt, L.bv.data(), kv_dim);
                }
                if (tr.qk_norm == QkNorm::Head) {
                    rmsnorm(qt, L.q_norm.data(), qt, hp.n_head, hp.head_dim, hp.rms_eps);
                    rmsnorm(kt, L.k_norm.data(), kt, hp.n_head_kv, hp.head_dim, hp.rms_eps);
                } else if (tr.qk_norm == QkNorm::Row) {
                    rmsnorm(qt, L.q_norm.data(), qt, 1, (int32_t)q_dim, hp.rms_eps);
                    rmsnorm(kt, L.k_norm.data(), kt, 1, kv_dim, hp.rms_eps);
                }
                if (rotate) {
                    rope_angles(ws.pos[t], rp, cs);
                    rope_apply(qt, hp.n_head, hp.head_dim, cs, rp);
                    rope_apply(kt, hp.n_head_kv, hp.head_dim, cs, rp);
                }
                if (tr.q_prescale) scale(qt, hp.attn_scale, q_dim);
                kv_store(kv, kl, cell0 + (int32_t)t, 1, kt, vt);
            }
        });
        AttentionShape shape{hp.n_head, hp.n_head_kv, hp.head_dim, tr.q_prescale ? 1.0f : hp.attn_scale};
        shape.window = hp.window(l);
        shape.softcap = hp.attn_softcap;
        if (layout) {
            // Packed sequences: each row's cells, its window included.
            const bool swa = hp.is_swa(l);
            shape.row_begin = (swa ? layout->begin_swa : layout->begin).data() + cell0;
            shape.row_end = (swa ? layout->end_swa : layout->end).data() + cell0;
            shape.window = 0;
        }
        attention(pool, ws.scratch, kv, kl, cell0, T, shape, ws.q.data(), ws.att.data());
        if (hp.attn_gate) gate_attention(pool, ws, T);  // into ws.gate
        matmul(pool, ws.scratch, *L.wo, hp.attn_gate ? ws.gate.data() : ws.att.data(), T, ws.xb2.data());
        residual(pool, ws, T, E, hp.rms_eps, L.post_attn_norm, hp.residual_scale,
                 tr.pre_norms ? L.ffn_norm.data() : nullptr);

        // Feed-forward: (norm, done by the residual step) gated activation
        // (SwiGLU or GeGLU), project back (+ post-norm), then the next
        // block's norm.
        if (can_share_input(*L.ffn_gate, *L.ffn_up)) {
            matmul_many(pool, ws.scratch, {{L.ffn_gate, ws.hb.data()}, {L.ffn_up, ws.hb2.data()}}, in, T);
        } else {
            matmul(pool, ws.scratch, *L.ffn_gate, in, T, ws.hb.data());
            matmul(pool, ws.scratch, *L.ffn_up, in, T, ws.hb2.data());
        }
        if (tr.ffn_act == FfnAct::GeLU) {
            gelu_mul(pool, ws.hb.data(), ws.hb2.data(), (int64_t)T * hp.n_ff);
        } else {
            silu_mul(pool, ws.hb.data(), ws.hb2.data(), (int64_t)T * hp.n_ff);
        }
        matmul(pool, ws.scratch, *L.ffn_down, ws.hb.data(), T, ws.xb2.data());
        residual(pool, ws, T, E, hp.rms_eps, L.post_ffn_norm, hp.residual_scale,
                 l + 1 < n_layers && tr.pre_norms ? layers_[l + 1].attn_norm.data() : nullptr);
    }
}

RopeParams Model::rope_of(int32_t layer, int32_t n_ctx) const {
    RopeParams p = hp_.rope_of(layer);
    if (!rope_long_.empty()) p.freq_factors = n_ctx > hp_.n_ctx_orig ? rope_long_.data() : rope_short_.data();
    return p;
}

void Model::head(ThreadPool& pool, Workspace& ws, const float* hidden, float* logits) const {
    HOB_CHECK(head_on_cpu(), HOB_ERR_INVALID_ARGUMENT, "the output head of this model is offloaded, not on the CPU");
    rmsnorm(hidden, output_norm_.data(), ws.xb.data(), 1, hp_.n_embd, hp_.rms_eps);
    matmul(pool, ws.scratch, *output_, ws.xb.data(), 1, logits);
    if (hp_.logit_scale != 1.0f) scale(logits, hp_.logit_scale, hp_.n_vocab);
    if (hp_.final_softcap > 0) softcap(logits, hp_.final_softcap, hp_.n_vocab);
}

}  // namespace hob
