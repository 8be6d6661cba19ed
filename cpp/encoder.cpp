// BERT's encoder (architectures bert and nomic-bert): the input embedding
// (token, type 0 and learned position, then LayerNorm) and the post-norm
// block: attention with biased projections (nomic-bert: fused Q/K/V and
// RoPE) over the whole sequence, residual, LayerNorm; feed-forward (BERT:
// GELU; nomic-bert: SwiGLU), residual, LayerNorm. Weights are read with
// llama.cpp's tensor names. The decoder block is model.cpp's; pooling is
// pooling.cpp's.
#include <cmath>

#include "model.h"
#include "quants.h"

namespace hob {

namespace {

// Row by row: x = LayerNorm(x + y) with weight w and bias b.
void add_layernorm(ThreadPool& pool, float* x, const float* y, const std::vector<float>& w, const std::vector<float>& b,
                   int32_t T, int32_t E, float eps) {
    parallel_for(pool, T, (int64_t)T * E * 8, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* xt = x + (size_t)t * E;
            add(xt, y + (size_t)t * E, E);
            layernorm(xt, w.data(), b.data(), xt, 1, E, eps);
        }
    });
}

void add_bias_rows(float* x, const std::vector<float>& bias, int32_t T, int32_t n) {
    if (!bias.empty()) add_bias(x, bias.data(), T, n);
}

}  // namespace

void Model::init_encoder() {
    const Hparams& hp = hp_;
    const int64_t E = hp.n_embd;
    const GgufFile& g = gguf_;
    // The input: learned positions (BERT), the "sentence A" type row, LayerNorm.
    if (hp.arch == "bert") embd_.pos_embd = tensor("position_embd.weight", {E, hp.n_ctx_train});
    if (const GgufTensorInfo* types = g.find_tensor("token_types.weight")) {
        const int64_t n_types = types->ne[1];
        const Tensor* t = tensor("token_types.weight", {E, n_types});
        embd_.type_embd0.resize((size_t)E);
        dequantize_tensor_row(*t, 0, embd_.type_embd0.data());
    }
    embd_.tok_norm = vector_f32("token_embd_norm.weight", E);
    embd_.tok_norm_b = vector_f32("token_embd_norm.bias", E);

    layout_.fused_qkv = g.find_tensor("blk.0.attn_qkv.weight") != nullptr;
    layout_.qkv_bias = g.find_tensor(layout_.fused_qkv ? "blk.0.attn_qkv.bias" : "blk.0.attn_q.bias") != nullptr;
    enc_layers_.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; l++) load_encoder_block(l);
    enc_layers_.resize(n_cpu_layers_);  // offloaded blocks were checked; the CPU keeps only its own
}

void Model::load_encoder_block(int32_t l) {
    const Hparams& hp = hp_;
    const int64_t E = hp.n_embd, F = hp.n_ff;
    const std::string p = "blk." + std::to_string(l) + ".";
    EncoderLayerWeights& L = enc_layers_[(size_t)l];
    if (layout_.fused_qkv) {
        const Tensor* qkv = tensor(p + "attn_qkv.weight", {E, 3 * E});
        L.wq = rows_view(qkv, 0, E, p + "attn_qkv.weight[q]");
        L.wk = rows_view(qkv, E, E, p + "attn_qkv.weight[k]");
        L.wv = rows_view(qkv, 2 * E, E, p + "attn_qkv.weight[v]");
        const std::vector<float> b = vector_f32(p + "attn_qkv.bias", 3 * E, layout_.qkv_bias);
        if (!b.empty()) {
            L.bq.assign(b.begin(), b.begin() + E);
            L.bk.assign(b.begin() + E, b.begin() + 2 * E);
            L.bv.assign(b.begin() + 2 * E, b.end());
        }
    } else {
        L.wq = tensor(p + "attn_q.weight", {E, E});
        L.wk = tensor(p + "attn_k.weight", {E, E});
        L.wv = tensor(p + "attn_v.weight", {E, E});
        L.bq = vector_f32(p + "attn_q.bias", E, layout_.qkv_bias);
        L.bk = vector_f32(p + "attn_k.bias", E, layout_.qkv_bias);
        L.bv = vector_f32(p + "attn_v.bias", E, layout_.qkv_bias);
    }
    L.wo = tensor(p + "attn_output.weight", {E, E});
    L.bo = vector_f32(p + "attn_output.bias", E, false);
    L.attn_out_norm = vector_f32(p + "attn_output_norm.weight", E);
    L.attn_out_norm_b = vector_f32(p + "attn_output_norm.bias", E);
    L.ffn_up = tensor(p + "ffn_up.weight", {E, F});
    L.b_up = vector_f32(p + "ffn_up.bias", F, false);
    L.ffn_gate = hp.traits->ffn_act == FfnAct::SiLU ? tensor(p + "ffn_gate.weight", {E, F}) : nullptr;
    L.ffn_down = tensor(p + "ffn_down.weight", {F, E});
    L.b_down = vector_f32(p + "ffn_down.bias", E, false);
    L.out_norm = vector_f32(p + "layer_output_norm.weight", E);
    L.out_norm_b = vector_f32(p + "layer_output_norm.bias", E);
}

void Model::forward_encoder(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T,
                            int32_t cell0, const BatchLayout* layout) const {
    const Hparams& hp = hp_;
    HOB_CHECK(layout != nullptr, HOB_ERR_INVALID_ARGUMENT, "an encoder evaluates packed sequences only");
    const int32_t E = hp.n_embd;
    float* x = ws.x.data();
    if (embd_.pos_embd) {
        for (int32_t t = 0; t < T; t++) {
            HOB_CHECK(ws.pos[t] >= 0 && ws.pos[t] < embd_.pos_embd->ne[1], HOB_ERR_OUT_OF_RANGE,
                      "position " + std::to_string(ws.pos[t]) + " is beyond the model's " +
                          std::to_string(embd_.pos_embd->ne[1]) + " learned positions");
        }
    }

    // Embed: token row + type row 0 (+ position row), then LayerNorm.
    parallel_for(pool, T, (int64_t)T * E * 6, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* xt = x + (size_t)t * E;
            dequantize_tensor_row(*tok_embd_, tokens[t], xt);
            if (!embd_.type_embd0.empty()) add(xt, embd_.type_embd0.data(), E);
            if (embd_.pos_embd) {
                float* pt = ws.xb.data() + (size_t)t * E;
                dequantize_tensor_row(*embd_.pos_embd, ws.pos[t], pt);
                add(xt, pt, E);
            }
            layernorm(xt, embd_.tok_norm.data(), embd_.tok_norm_b.data(), xt, 1, E, hp.norm_eps);
        }
    });

    const RopeParams& rp = hp.rope;
    const int32_t D = hp.head_dim;
    for (int32_t l = 0; l < n_cpu_layers_; l++) {
        const EncoderLayerWeights& L = enc_layers_[(size_t)l];

        // Attention: project (+ biases), rotate (nomic-bert), cache, attend
        // over the sequence, project back (+ bias), residual, LayerNorm.
        if (can_share_input(*L.wq, *L.wk) && can_share_input(*L.wq, *L.wv)) {
            matmul_many(pool, ws.scratch, {{L.wq, ws.q.data()}, {L.wk, ws.k.data()}, {L.wv, ws.v.data()}}, x, T);
        } else {
            matmul(pool, ws.scratch, *L.wq, x, T, ws.q.data());
            matmul(pool, ws.scratch, *L.wk, x, T, ws.k.data());
            matmul(pool, ws.scratch, *L.wv, x, T, ws.v.data());
        }
        kv.k_rows(l, cell0, T);  // checks the cells once
        parallel_for(pool, T, (int64_t)T * (3 * E * 2 + rp.n_rot * 20), 1, [&](int64_t t0, int64_t t1) {
            std::vector<float> cs((size_t)std::max(rp.n_rot, 2));
            for (int64_t t = t0; t < t1; t++) {
                float* qt = ws.q.data() + (size_t)t * E;
                float* kt = ws.k.data() + (size_t)t * E;
                float* vt = ws.v.data() + (size_t)t * E;
                if (!L.bq.empty()) {
                    add(qt, L.bq.data(), E);
                    add(kt, L.bk.data(), E);
                    add(vt, L.bv.data(), E);
                }
                if (rp.n_rot > 0) {
                    rope_angles(ws.pos[t], rp, cs.data());
                    rope_apply(qt, hp.n_head, D, cs.data(), rp);
                    rope_apply(kt, hp.n_head_kv, D, cs.data(), rp);
                }
                kv_store(kv, l, cell0 + (int32_t)t, 1, kt, vt);
            }
        });
        AttentionShape shape{hp.n_head, hp.n_head_kv, D, hp.attn_scale};
        shape.row_begin = layout->begin.data() + cell0;
        shape.row_end = layout->end.data() + cell0;
        attention(pool, ws.scratch, kv, l, cell0, T, shape, ws.q.data(), ws.att.data());
        matmul(pool, ws.scratch, *L.wo, ws.att.data(), T, ws.xb2.data());
        add_bias_rows(ws.xb2.data(), L.bo, T, E);
        add_layernorm(pool, x, ws.xb2.data(), L.attn_out_norm, L.attn_out_norm_b, T, E, hp.norm_eps);

        // Feed-forward: up (+ bias) and GELU, or SwiGLU; down (+ bias);
        // residual, LayerNorm.
        if (L.ffn_gate) {
            if (can_share_input(*L.ffn_gate, *L.ffn_up)) {
                matmul_many(pool, ws.scratch, {{L.ffn_gate, ws.hb.data()}, {L.ffn_up, ws.hb2.data()}}, x, T);
            } else {
                matmul(pool, ws.scratch, *L.ffn_gate, x, T, ws.hb.data());
                matmul(pool, ws.scratch, *L.ffn_up, x, T, ws.hb2.data());
            }
            silu_mul(pool, ws.hb.data(), ws.hb2.data(), (int64_t)T * hp.n_ff);
        } else {
            matmul(pool, ws.scratch, *L.ffn_up, x, T, ws.hb.data());
            add_bias_rows(ws.hb.data(), L.b_up, T, hp.n_ff);
            gelu(pool, ws.hb.data(), (int64_t)T * hp.n_ff);
        }
        matmul(pool, ws.scratch, *L.ffn_down, ws.hb.data(), T, ws.xb2.data());
        add_bias_rows(ws.xb2.data(), L.b_down, T, E);
        add_layernorm(pool, x, ws.xb2.data(), L.out_norm, L.out_norm_b, T, E, hp.norm_eps);
    }
}

}  // namespace hob
