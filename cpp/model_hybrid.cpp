// The recurrent blocks of hybrid models: their weights, under llama.cpp's
// tensor names, and the forward of their token mixers, which take the
// normed input ws.xb and leave the mixer's output in ws.xb2 as attention
// does (model.cpp adds it to the residual stream and runs the FFN):
// - LFM2's gated short convolution: b, c, x = in_proj(x); y = c * conv(b * x); out_proj(y).
// - Qwen 3.5's Gated DeltaNet: q, k, v = silu(conv(attn_qkv(x))); q, k L2-normed;
//   the delta rule over the per-head state (ops/ssm.h); RMSNorm of each head
//   times silu(z), z = attn_gate(x); ssm_out.
#include <algorithm>

#include "model.h"
#include "ops/ssm.h"
#include "quants.h"

namespace hob {

namespace {

// Row by row: add the sub-block's output ws.xb2 to the residual stream
// ws.x, and norm the sum into ws.xb for the next step (if there is one);
// model.cpp's residual step for blocks without post-norms.
void add_and_norm(ThreadPool& pool, Workspace& ws, int32_t T, int32_t E, float eps, const float* next_norm) {
    parallel_for(pool, T, (int64_t)T * E * 8, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* xt = ws.x.data() + (size_t)t * E;
            add(xt, ws.xb2.data() + (size_t)t * E, E);
            if (next_norm) rmsnorm(xt, next_norm, ws.xb.data() + (size_t)t * E, 1, E, eps);
        }
    });
}

}  // namespace

void Workspace::reserve_hybrid(const Hparams& hp, size_t T) {
    const size_t q_dim = (size_t)hp.n_head * hp.head_dim;
    if (hp.attn_gate) {
        qg.resize(T * q_dim * 2);
        gate.resize(T * q_dim);
    }
    if (hp.has_recurrent()) {
        const RecurrentHparams& r = hp.rec;
        const size_t C = (size_t)r.conv_channels;
        mix_in.resize(T * std::max(C, (size_t)hp.n_embd * 3));
        mix_a.resize(T * C);
        mix_b.resize(T * C);
        mix_z.resize(T * r.value_dim());
        mix_alpha.resize(T * r.n_value_heads);
        mix_beta.resize(T * r.n_value_heads);
    }
}

void Model::recurrent_block(ThreadPool& pool, Workspace& ws, RecurrentState* state, int32_t l, int32_t T) const {
    const Hparams& hp = hp_;
    const LayerWeights& L = layers_[l];
    const int32_t E = hp.n_embd;
    HOB_CHECK(state != nullptr, HOB_ERR_INTERNAL, "block " + std::to_string(l) + " is recurrent but the session has no state");
    HOB_CHECK(hp.traits->ffn_act == FfnAct::SiLU && hp.traits->pre_norms && L.post_attn_norm.empty() && L.post_ffn_norm.empty(),
              HOB_ERR_INTERNAL, "a recurrent block has pre-norms, a SwiGLU feed-forward and no post-norms");
    recurrent_mixer(pool, ws, *state, l, T);
    add_and_norm(pool, ws, T, E, hp.rms_eps, L.ffn_norm.data());
    // The feed-forward, SwiGLU, as model.cpp's.
    if (can_share_input(*L.ffn_gate, *L.ffn_up)) {
        matmul_many(pool, ws.scratch, {{L.ffn_gate, ws.hb.data()}, {L.ffn_up, ws.hb2.data()}}, ws.xb.data(), T);
    } else {
        matmul(pool, ws.scratch, *L.ffn_gate, ws.xb.data(), T, ws.hb.data());
        matmul(pool, ws.scratch, *L.ffn_up, ws.xb.data(), T, ws.hb2.data());
    }
    silu_mul(pool, ws.hb.data(), ws.hb2.data(), (int64_t)T * hp.n_ff);
    matmul(pool, ws.scratch, *L.ffn_down, ws.hb.data(), T, ws.xb2.data());
    add_and_norm(pool, ws, T, E, hp.rms_eps, l + 1 < n_cpu_layers_ ? layers_[l + 1].attn_norm.data() : nullptr);
}

void Model::split_query_gate(Workspace& ws, int64_t t) const {
    const int32_t D = hp_.head_dim;
    const size_t q_dim = (size_t)hp_.n_head * D;
    const float* src = ws.qg.data() + (size_t)t * q_dim * 2;
    float* qt = ws.q.data() + (size_t)t * q_dim;
    float* gt = ws.gate.data() + (size_t)t * q_dim;
    for (int32_t h = 0; h < hp_.n_head; h++) {
        std::copy(src + (size_t)2 * h * D, src + (size_t)(2 * h + 1) * D, qt + (size_t)h * D);
        std::copy(src + (size_t)(2 * h + 1) * D, src + (size_t)(2 * h + 2) * D, gt + (size_t)h * D);
    }
}

void Model::gate_attention(ThreadPool& pool, Workspace& ws, int32_t T) const {
    const int64_t q_dim = (int64_t)hp_.n_head * hp_.head_dim;
    parallel_for(pool, T, (int64_t)T * q_dim * 20, 1, [&](int64_t t0, int64_t t1) {
        sigmoid_gate(ws.gate.data() + t0 * q_dim, ws.att.data() + t0 * q_dim, (t1 - t0) * q_dim);
    });
}

void Model::load_recurrent_mixer(int32_t l) {
    const Hparams& hp = hp_;
    const RecurrentHparams& r = hp.rec;
    const int64_t E = hp.n_embd, C = r.conv_channels, K = r.conv_kernel;
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = layers_[l];
    // The filters, (channels, taps), as floats (llama.cpp's ssm_conv reads F32 only).
    auto filters = [&](const std::string& name) {
        const Tensor* t = tensor(name, {K, C});
        if (t->type != TypeId::F32) fail(HOB_ERR_UNSUPPORTED_TYPE, "tensor " + name + " must be F32, as llama.cpp requires");
        if (t->data) L.conv.assign((const float*)t->data, (const float*)t->data + C * K);
    };
    if (hp.mixer(l) == Mixer::ShortConv) {
        L.in_proj = tensor(p + "shortconv.in_proj.weight", {E, 3 * E});
        filters(p + "shortconv.conv.weight");
        L.out_proj = tensor(p + "shortconv.out_proj.weight", {E, E});
        return;
    }
    const int64_t H = r.n_value_heads, V = r.value_dim();
    L.in_proj = tensor(p + "attn_qkv.weight", {E, C});
    L.z_proj = tensor(p + "attn_gate.weight", {E, V});
    L.beta_proj = tensor(p + "ssm_beta.weight", {E, H});
    L.alpha_proj = tensor(p + "ssm_alpha.weight", {E, H});
    filters(p + "ssm_conv1d.weight");
    L.dt_bias = vector_f32(p + "ssm_dt.bias", H);
    L.ssm_a = vector_f32(p + "ssm_a", H);
    L.ssm_norm = vector_f32(p + "ssm_norm.weight", r.head_dim);
    L.out_proj = tensor(p + "ssm_out.weight", {V, E});
}

void Model::recurrent_mixer(ThreadPool& pool, Workspace& ws, RecurrentState& state, int32_t l, int32_t T) const {
    const Hparams& hp = hp_;
    const RecurrentHparams& r = hp.rec;
    const LayerWeights& L = layers_[l];
    const int32_t E = hp.n_embd, C = r.conv_channels;

    if (hp.mixer(l) == Mixer::ShortConv) {
        // b, c, x = in_proj(x); the convolution runs over b * x.
        float* bcx = ws.mix_in.data();
        matmul(pool, ws.scratch, *L.in_proj, ws.xb.data(), T, bcx);
        for (int32_t t = 0; t < T; t++) {
            const float* row = bcx + (size_t)t * 3 * E;
            float* bx = ws.mix_a.data() + (size_t)t * E;
            for (int32_t i = 0; i < E; i++) bx[i] = row[i] * row[2 * E + i];
        }
        causal_conv(pool, ws.mix_a.data(), T, E, L.conv.data(), r.conv_kernel, state.conv(l), ws.mix_b.data());
        // y = c * conv(b * x), then the output projection.
        for (int32_t t = 0; t < T; t++) mul(ws.mix_b.data() + (size_t)t * E, bcx + (size_t)t * 3 * E + E, E);
        matmul(pool, ws.scratch, *L.out_proj, ws.mix_b.data(), T, ws.xb2.data());
        return;
    }

    // Gated DeltaNet. Projections: the convolved q, k, v; the output gate z;
    // the write strength beta and the decay's input alpha, one per value head.
    const int32_t H = r.n_value_heads, Hk = r.n_key_heads, D = r.head_dim, V = r.value_dim(), kd = r.key_dim();
    if (can_share_input(*L.in_proj, *L.z_proj) && can_share_input(*L.in_proj, *L.beta_proj) &&
        can_share_input(*L.in_proj, *L.alpha_proj)) {
        matmul_many(pool, ws.scratch,
                    {{L.in_proj, ws.mix_in.data()}, {L.z_proj, ws.mix_z.data()}, {L.beta_proj, ws.mix_beta.data()},
                     {L.alpha_proj, ws.mix_alpha.data()}},
                    ws.xb.data(), T);
    } else {
        matmul(pool, ws.scratch, *L.in_proj, ws.xb.data(), T, ws.mix_in.data());
        matmul(pool, ws.scratch, *L.z_proj, ws.xb.data(), T, ws.mix_z.data());
        matmul(pool, ws.scratch, *L.beta_proj, ws.xb.data(), T, ws.mix_beta.data());
        matmul(pool, ws.scratch, *L.alpha_proj, ws.xb.data(), T, ws.mix_alpha.data());
    }
    sigmoid(ws.mix_beta.data(), (int64_t)T * H);
    delta_decay(ws.mix_alpha.data(), L.dt_bias.data(), L.ssm_a.data(), T, H);

    // Convolve q, k and v together, SiLU, then L2-normalize each q and k head.
    float* qkv = ws.mix_b.data();
    causal_conv(pool, ws.mix_in.data(), T, C, L.conv.data(), r.conv_kernel, state.conv(l), qkv);
    parallel_for(pool, T, (int64_t)T * C * 24, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* row = qkv + (size_t)t * C;
            silu(row, C);
            l2_norm(row, Hk, D, hp.rms_eps);       // q
            l2_norm(row + kd, Hk, D, hp.rms_eps);  // k
        }
    });
    // The recurrence reads q, k, v as rows of C: pack them per token.
    float* q = ws.mix_a.data();  // (T, key_dim) | (T, key_dim) | (T, value_dim), one after the other
    float* k = q + (size_t)T * kd;
    float* v = k + (size_t)T * kd;
    for (int32_t t = 0; t < T; t++) {
        const float* row = qkv + (size_t)t * C;
        std::copy(row, row + kd, q + (size_t)t * kd);
        std::copy(row + kd, row + 2 * kd, k + (size_t)t * kd);
        std::copy(row + 2 * kd, row + C, v + (size_t)t * V);
    }
    float* o = ws.mix_b.data();  // (T, value_dim): the convolution output is no longer needed
    delta_net(pool, q, k, v, ws.mix_alpha.data(), ws.mix_beta.data(), T, Hk, H, D, state.ssm(l), o);

    // RMSNorm of each head, times silu(z) (into z), then the output projection.
    rmsnorm(pool, o, L.ssm_norm.data(), o, T * H, D, hp.rms_eps);
    silu_mul(pool, ws.mix_z.data(), o, (int64_t)T * V);
    matmul(pool, ws.scratch, *L.out_proj, ws.mix_z.data(), T, ws.xb2.data());
}

}  // namespace hob
