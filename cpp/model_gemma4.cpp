// Gemma 4's weights and forward pass. Its block is Gemma 3's (pre- and
// post-norms, per-head q/k norms, GeGLU, embeddings scaled by sqrt(n_embd))
// with these differences, each as llama.cpp's gemma4 graph computes it:
// - q.k is not scaled (the norms set the scores' size);
// - V is normed per head without a weight, and is K's projection (before
//   K's norm and rotation) in blocks without attn_v;
// - sliding blocks may have narrower heads (and other KV head counts) than
//   full ones, whose RoPE applies rope_freqs.weight (proportional RoPE);
// - the last attention.shared_kv_layers blocks compute only queries and
//   attend over the cache of an earlier block of their kind;
// - per-layer embeddings (E2B/E4B): every token gets one small vector per
//   block, from its own table and a projection of its embedding; after its
//   FFN each block adds proj(gelu(inp_gate(x)) * that vector), normed;
// - layer_output_scale multiplies the whole residual stream after a block;
// - image rows read both ways attend so in the sliding blocks only.
// Offloaded blocks get their per-layer inputs from the CPU (eval_hidden);
// an offloaded block may not read the cache of a CPU block.
#include <cmath>
#include <limits>
#include <vector>

#include "model.h"
#include "quants.h"

namespace hob {

void Workspace::reserve_gemma4(const Hparams& hp, size_t n_tokens) {
    if (hp.arch != "gemma4" || hp.n_embd_per_layer == 0) return;
    // In 64 bits: size_t has 32 in wasm, where a wrapped count would size a
    // buffer that every later write runs past.
    const uint64_t n = (uint64_t)n_tokens * (uint64_t)hp.n_layer * (uint64_t)hp.n_embd_per_layer;
    if (n > std::numeric_limits<size_t>::max() / sizeof(float)) {
        fail(HOB_ERR_OUT_OF_MEMORY, "the per-layer inputs of " + std::to_string(n_tokens) + " tokens need more memory than this build can address");
    }
    ple.resize((size_t)n);
    ple_h.resize(n_tokens * (size_t)hp.n_embd_per_layer);
}

void Model::init_gemma4() {
    Hparams& hp = hp_;
    // Shared KV across the split would need the CPU's rows on the GPU at
    // every step: the split must leave each shared cache on one side.
    for (int32_t l = n_cpu_layers_; l < hp.n_layer; l++) {
        const int32_t src = hp.kv_source_of(l);
        if (src >= n_cpu_layers_) continue;
        // The fewest blocks that would do: offloading a source may bring in
        // blocks reading still earlier ones (at most n_layer rounds).
        int32_t first = src;
        for (bool moved = true; moved;) {
            moved = false;
            for (int32_t b = first; b < hp.n_layer; b++) {
                if (hp.kv_source_of(b) < first) {
                    first = hp.kv_source_of(b);
                    moved = true;
                }
            }
        }
        fail(HOB_ERR_UNSUPPORTED_ARCH, "Gemma 4 block " + std::to_string(l) + " on the GPU would attend over the cache of block " +
                                           std::to_string(src) + " on the CPU: offload at least " +
                                           std::to_string(hp.n_layer - first) + " blocks, or none");
    }
    // The frequency factors are the full blocks' (their head width); the
    // sliding blocks rotate without.
    bool any_full = false;
    for (int32_t l = 0; l < hp.n_layer; l++) any_full = any_full || !hp.is_swa(l);
    if (any_full && rope_freqs_.empty()) fail(HOB_ERR_MODEL_INVALID, "tensor rope_freqs.weight is missing");
    hp.rope_swa.freq_factors = nullptr;
    for (int32_t l = 0; l < hp.n_layer; l++) {
        if (gguf_.find_tensor("blk." + std::to_string(l) + ".ffn_gate_inp.weight")) {
            fail(HOB_ERR_UNSUPPORTED_ARCH, "Gemma 4 mixture-of-experts blocks (blk." + std::to_string(l) +
                                               ".ffn_gate_inp.weight) are not supported: only the dense models are");
        }
    }
    const int64_t E = hp.n_embd, P = hp.n_embd_per_layer, LP = (int64_t)hp.n_layer * P;
    if (P > 0) {
        pl_tok_embd_ = tensor("per_layer_token_embd.weight", {LP, hp.n_vocab});
        pl_model_proj_ = tensor("per_layer_model_proj.weight", {E, LP});
        pl_proj_norm_ = vector_f32("per_layer_proj_norm.weight", P);
    }
}

void Model::load_gemma4_block(int32_t l) {
    const Hparams& hp = hp_;
    const int64_t E = hp.n_embd, D = hp.head_dim_of(l), Q = (int64_t)hp.n_head * D, KV = hp.kv_dim_of(l),
                  F = hp.n_ff_of(l), P = hp.n_embd_per_layer;
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool own_kv = hp.kv_source_of(l) == l;
    LayerWeights& L = layers_[l];
    L.attn_norm = vector_f32(p + "attn_norm.weight", E);
    L.wq = tensor(p + "attn_q.weight", {E, Q});
    L.q_norm = vector_f32(p + "attn_q_norm.weight", D);
    // A block reading another's cache needs no K or V of its own (a file
    // may still carry them; they are not used, as in llama.cpp).
    L.wk = own_kv ? tensor(p + "attn_k.weight", {E, KV}) : nullptr;
    L.wv = own_kv ? tensor(p + "attn_v.weight", {E, KV}, false) : nullptr;
    if (own_kv) L.k_norm = vector_f32(p + "attn_k_norm.weight", D);
    L.wo = tensor(p + "attn_output.weight", {Q, E});
    L.post_attn_norm = vector_f32(p + "post_attention_norm.weight", E);
    L.ffn_norm = vector_f32(p + "ffn_norm.weight", E);
    L.ffn_gate = tensor(p + "ffn_gate.weight", {E, F});
    L.ffn_up = tensor(p + "ffn_up.weight", {E, F});
    L.ffn_down = tensor(p + "ffn_down.weight", {F, E});
    L.post_ffn_norm = vector_f32(p + "post_ffw_norm.weight", E);
    const std::vector<float> s = vector_f32(p + "layer_output_scale.weight", 1, false);
    if (!s.empty()) L.out_scale = s[0];
    if (P > 0) {
        L.pl_gate = tensor(p + "inp_gate.weight", {E, P});
        L.pl_proj = tensor(p + "proj.weight", {P, E});
        L.pl_post_norm = vector_f32(p + "post_norm.weight", E);
    }
}

void Model::gemma4_per_layer_inputs(ThreadPool& pool, Workspace& ws, const int32_t* tokens, int32_t T) const {
    const Hparams& hp = hp_;
    const int32_t E = hp.n_embd, P = hp.n_embd_per_layer, NL = hp.n_layer;
    const size_t LP = (size_t)NL * P;
    // The projection of the (scaled) embedding, scaled by 1/sqrt(n_embd),
    // normed per block; plus the token's row of the per-layer table scaled
    // by sqrt(n_embd_per_layer); the sum scaled by 1/sqrt(2).
    matmul(pool, ws.scratch, *pl_model_proj_, ws.x.data(), T, ws.ple.data());
    const float proj_scale = 1.0f / std::sqrt((float)E);
    const float tok_scale = std::sqrt((float)P);
    const float sum_scale = 1.0f / std::sqrt(2.0f);
    parallel_for(pool, T, (int64_t)T * (int64_t)LP * 8, 1, [&](int64_t t0, int64_t t1) {
        std::vector<float> row(LP);
        for (int64_t t = t0; t < t1; t++) {
            float* pt = ws.ple.data() + (size_t)t * LP;
            scale(pt, proj_scale, (int64_t)LP);
            rmsnorm(pt, pl_proj_norm_.data(), pt, NL, P, hp.rms_eps);
            dequantize_tensor_row(*pl_tok_embd_, tokens[t], row.data());
            for (size_t i = 0; i < LP; i++) pt[i] = (pt[i] + row[i] * tok_scale) * sum_scale;
        }
    });
}

void Model::forward_gemma4(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T,
                           int32_t cell0, const BatchLayout* layout) const {
    const Hparams& hp = hp_;
    const int32_t E = hp.n_embd, P = hp.n_embd_per_layer, NL = hp.n_layer;
    const int32_t row = kv.kv_dim();  // a cache row: the widest block's K (or V)
    float* x = ws.x.data();

    // Image rows (embd_rows) go in as they are: llama.cpp scales token rows
    // only. Their per-layer inputs are token 0's table row (the tokens are
    // 0 then), as llama.cpp pads them, plus the projection of the rows.
    if (ws.embd_rows) {
        std::copy(ws.embd_rows, ws.embd_rows + (size_t)T * E, x);
    } else {
        parallel_for(pool, T, (int64_t)T * E * 4, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                float* xt = x + (size_t)t * E;
                dequantize_tensor_row(*tok_embd_, tokens[t], xt);
                scale(xt, hp.embd_scale, E);
            }
        });
    }
    if (P > 0) gemma4_per_layer_inputs(pool, ws, tokens, T);
    const std::vector<float> ones((size_t)hp.head_dim_max(), 1.0f);  // V's norm has no weight

    for (int32_t l = 0; l < n_cpu_layers_; l++) {
        const LayerWeights& L = layers_[l];
        const int32_t D = hp.head_dim_of(l), n_kv = hp.n_head_kv_of(l), kv_dim = n_kv * D;
        const int64_t q_dim = (int64_t)hp.n_head * D;
        const int32_t kl = kv_layer_[(size_t)l];
        const bool own_kv = L.wk != nullptr;
        rmsnorm(pool, x, L.attn_norm.data(), ws.xb.data(), T, E, hp.rms_eps);
        const float* in = ws.xb.data();

        // Queries; keys and values only where the block has its own cache
        // (V is K's projection without attn_v). Rows are packed at this
        // block's widths; the cache rows are `row` wide.
        matmul(pool, ws.scratch, *L.wq, in, T, ws.q.data());
        if (own_kv) {
            matmul(pool, ws.scratch, *L.wk, in, T, ws.k.data());
            if (L.wv) matmul(pool, ws.scratch, *L.wv, in, T, ws.v.data());
            kv.k_rows(kl, cell0, T);  // checks the cells once
        }
        const RopeParams rp = rope_of(l, kv.n_ctx());
        const int64_t row_cost = (q_dim + 2 * (int64_t)kv_dim) * 10 + rp.n_rot * 20;
        parallel_for(pool, T, T * row_cost, 1, [&](int64_t t0, int64_t t1) {
            std::vector<float> cs((size_t)rp.n_rot), k_row((size_t)row, 0.0f), v_row((size_t)row, 0.0f);
            for (int64_t t = t0; t < t1; t++) {
                float* qt = ws.q.data() + (size_t)t * q_dim;
                rope_angles(ws.pos[t], rp, cs.data());
                rmsnorm(qt, L.q_norm.data(), qt, hp.n_head, D, hp.rms_eps);
                rope_apply(qt, hp.n_head, D, cs.data(), rp);
                if (!own_kv) continue;
                const float* kt = ws.k.data() + (size_t)t * kv_dim;
                const float* vt = L.wv ? ws.v.data() + (size_t)t * kv_dim : kt;  // unnormed K
                rmsnorm(vt, ones.data(), v_row.data(), n_kv, D, hp.rms_eps);
                rmsnorm(kt, L.k_norm.data(), k_row.data(), n_kv, D, hp.rms_eps);
                rope_apply(k_row.data(), n_kv, D, cs.data(), rp);
                kv_store(kv, kl, cell0 + (int32_t)t, 1, k_row.data(), v_row.data());
            }
        });
        AttentionShape shape{hp.n_head, n_kv, D, hp.attn_scale};
        shape.window = hp.window(l);
        // Image rows read both ways (llama.cpp's non-causal type for Gemma
        // 4): the sliding blocks see every row of the image, and the past
        // through their window; the full blocks stay causal.
        if (layout && hp.is_swa(l)) {
            shape.row_begin = layout->begin_swa.data() + cell0;
            shape.row_end = layout->end_swa.data() + cell0;
            shape.window = 0;
        }
        attention(pool, ws.scratch, kv, kl, cell0, T, shape, ws.q.data(), ws.att.data());
        matmul(pool, ws.scratch, *L.wo, ws.att.data(), T, ws.xb2.data());
        // x += post_norm(attention); then the FFN's input.
        parallel_for(pool, T, (int64_t)T * E * 8, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                float* xt = x + (size_t)t * E;
                float* ot = ws.xb2.data() + (size_t)t * E;
                rmsnorm(ot, L.post_attn_norm.data(), ot, 1, E, hp.rms_eps);
                add(xt, ot, E);
                rmsnorm(xt, L.ffn_norm.data(), ws.xb.data() + (size_t)t * E, 1, E, hp.rms_eps);
            }
        });

        const int64_t F = hp.n_ff_of(l);
        matmul(pool, ws.scratch, *L.ffn_gate, in, T, ws.hb.data());
        matmul(pool, ws.scratch, *L.ffn_up, in, T, ws.hb2.data());
        gelu_mul(pool, ws.hb.data(), ws.hb2.data(), (int64_t)T * F);
        matmul(pool, ws.scratch, *L.ffn_down, ws.hb.data(), T, ws.xb2.data());
        parallel_for(pool, T, (int64_t)T * E * 4, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                float* ot = ws.xb2.data() + (size_t)t * E;
                rmsnorm(ot, L.post_ffn_norm.data(), ot, 1, E, hp.rms_eps);
                add(x + (size_t)t * E, ot, E);
            }
        });

        // Per-layer input: x += post_norm(proj(gelu(inp_gate(x)) * ple[l])).
        if (P > 0) {
            matmul(pool, ws.scratch, *L.pl_gate, x, T, ws.ple_h.data());
            gelu(pool, ws.ple_h.data(), (int64_t)T * P);
            const size_t LP = (size_t)NL * P;
            for (int32_t t = 0; t < T; t++) {
                float* h = ws.ple_h.data() + (size_t)t * P;
                const float* e = ws.ple.data() + (size_t)t * LP + (size_t)l * P;
                for (int32_t i = 0; i < P; i++) h[i] *= e[i];
            }
            matmul(pool, ws.scratch, *L.pl_proj, ws.ple_h.data(), T, ws.xb2.data());
            parallel_for(pool, T, (int64_t)T * E * 4, 1, [&](int64_t t0, int64_t t1) {
                for (int64_t t = t0; t < t1; t++) {
                    float* ot = ws.xb2.data() + (size_t)t * E;
                    rmsnorm(ot, L.pl_post_norm.data(), ot, 1, E, hp.rms_eps);
                    add(x + (size_t)t * E, ot, E);
                }
            });
        }
        if (L.out_scale != 1.0f) scale(x, L.out_scale, (int64_t)T * E);
    }
}

}  // namespace hob
