// The hyperparameters of Gemma 4, under llama.cpp's keys and with its
// defaults: per-block FFN widths and KV head counts, sliding-window blocks
// with their own head width and RoPE, the blocks that share an earlier
// block's K/V cache, per-layer token embeddings and the final soft-cap.
#include <algorithm>
#include <cmath>
#include <string>

#include "arch.h"
#include "common.h"

namespace hob {

namespace {

int32_t checked(int64_t v, const std::string& key, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) +
                                        ", " + std::to_string(hi) + "]");
    }
    return (int32_t)v;
}

int32_t required(const GgufFile& g, const std::string& key, int64_t lo, int64_t hi) {
    if (!g.has(key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " is missing");
    return checked(g.get_int(key, 0), key, lo, hi);
}

// One number per block: an array of n_layer, or one number for all (then
// `out` stays empty). Returns the largest.
int32_t per_block(const GgufFile& g, const std::string& key, int32_t n_layer, int64_t fallback, int64_t lo, int64_t hi,
                  std::vector<int32_t>& out) {
    out.clear();
    const GgufValue* v = g.find(key);
    if (!v || !v->is_array()) return checked(g.get_int(key, fallback), key, lo, hi);
    if (v->elem_type == GgufType::STRING) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should hold numbers");
    if (v->count != (uint64_t)n_layer) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " has " + std::to_string(v->count) + " elements for " +
                                        std::to_string(n_layer) + " blocks");
    }
    int32_t widest = 0;
    for (int32_t l = 0; l < n_layer; l++) {
        out.push_back(checked((int64_t)v->array_number((uint64_t)l), key, lo, hi));
        widest = std::max(widest, out.back());
    }
    return widest;
}

}  // namespace

void read_gemma4_shapes(const GgufFile& g, Hparams& hp) {
    const std::string a = hp.arch + ".";
    // The 26B-A4B model routes its FFN through experts, which Hob does not run.
    if (g.get_int(a + "expert_count", 0) > 0) {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "Gemma 4 mixture-of-experts models (" + a +
                                           "expert_count > 0, e.g. 26B-A4B) are not supported: only the dense ones are");
    }
    const std::string ff_key = a + "feed_forward_length";
    if (!g.has(ff_key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + ff_key + " is missing");
    hp.n_ff = per_block(g, ff_key, hp.n_layer, 0, 1, 1 << 22, hp.ff_layers);
    // Full-attention blocks may have fewer KV heads than sliding ones.
    const std::string kv_key = a + "attention.head_count_kv";
    hp.n_head_kv = per_block(g, kv_key, hp.n_layer, hp.n_head, 1, hp.n_head, hp.head_kv_layers);
    for (int32_t l = 0; l < hp.n_layer; l++) {
        if (hp.n_head % hp.n_head_kv_of(l) != 0) {
            fail(HOB_ERR_MODEL_INVALID, "block " + std::to_string(l) + ": attention.head_count " + std::to_string(hp.n_head) +
                                            " is not a multiple of its " + std::to_string(hp.n_head_kv_of(l)) + " KV heads");
        }
    }
}

void read_gemma4_hparams(const GgufFile& g, Hparams& hp) {
    const std::string a = hp.arch + ".";
    // Scores are q.k unscaled: the q/k norms set their size.
    hp.attn_scale = 1.0f;
    hp.final_softcap = (float)g.get_float(a + "final_logit_softcapping", 30.0);
    if (!(hp.final_softcap >= 0 && std::isfinite(hp.final_softcap))) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "final_logit_softcapping must be a finite number >= 0");
    }
    // A window of 0 would make the sliding blocks' head widths and RoPE
    // (which follow the pattern) apply to full attention: refused.
    hp.n_swa = required(g, a + "attention.sliding_window", 1, 1 << 24);
    // The pattern is one boolean per block (or a period, as Gemma 3's).
    const std::string pattern_key = a + "attention.sliding_window_pattern";
    const GgufValue* pattern = g.find(pattern_key);
    if (pattern && pattern->is_array()) {
        if (pattern->count != (uint64_t)hp.n_layer || pattern->elem_type == GgufType::STRING) {
            fail(HOB_ERR_MODEL_INVALID, "metadata " + pattern_key + " should hold one boolean per block");
        }
        for (int32_t l = 0; l < hp.n_layer; l++) hp.swa_layers[(size_t)l] = pattern->array_number((uint64_t)l) != 0;
    } else {
        const int32_t period = checked(g.get_int(pattern_key, 0), pattern_key, 0, 1 << 20);
        for (int32_t l = 0; l < hp.n_layer; l++) hp.swa_layers[(size_t)l] = period == 0 || l % period < period - 1;
    }

    // Sliding blocks: their own head width (keys and values alike) and
    // RoPE (base 10000 and no scaling unless stated; all their dimensions
    // unless rope.dimension_count_swa says fewer). Full blocks rotate with
    // rope_freqs.weight (the model reads it), sliding ones without.
    hp.head_dim_swa = required(g, a + "attention.key_length_swa", 1, 1 << 14);
    const int32_t v_swa = required(g, a + "attention.value_length_swa", 1, 1 << 14);
    if (v_swa != hp.head_dim_swa) {
        fail(HOB_ERR_MODEL_INVALID, "Gemma 4 needs attention.key_length_swa = value_length_swa (" +
                                        std::to_string(hp.head_dim_swa) + " and " + std::to_string(v_swa) + ")");
    }
    hp.rope_swa.n_rot = checked(g.get_int(a + "rope.dimension_count_swa", hp.rope.n_rot), a + "rope.dimension_count_swa", 2,
                                hp.head_dim_swa);
    if (hp.rope_swa.n_rot % 2 != 0) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.dimension_count_swa is odd");
    hp.rope_swa.freq_base = (float)g.get_float(a + "rope.freq_base_swa", 10000.0);
    hp.rope_swa.freq_scale = 1.0f;

    // Shared KV: the last n blocks attend over the cache of the last block
    // of their kind before them, as llama.cpp maps them (block
    // n_layer - n - 2 for sliding ones, n_layer - n - 1 for full ones).
    const std::string shared_key = a + "attention.shared_kv_layers";
    const int32_t n_shared = checked(g.get_int(shared_key, 0), shared_key, 0, hp.n_layer);
    if (n_shared > 0) {
        const int32_t first = hp.n_layer - n_shared;
        if (first < 2) fail(HOB_ERR_MODEL_INVALID, "metadata " + shared_key + " leaves fewer than 2 blocks with a cache");
        hp.kv_source.resize((size_t)hp.n_layer);
        for (int32_t l = 0; l < hp.n_layer; l++) {
            const int32_t src = l < first ? l : first - (hp.is_swa(l) ? 2 : 1);
            if (hp.is_swa(src) != hp.is_swa(l) || hp.kv_dim_of(src) != hp.kv_dim_of(l)) {
                fail(HOB_ERR_MODEL_INVALID, "block " + std::to_string(l) + " shares the KV cache of block " +
                                                std::to_string(src) + ", which is not of its kind (sliding or full) and shape");
            }
            hp.kv_source[(size_t)l] = src;
        }
    }
    const std::string pl_key = a + "embedding_length_per_layer_input";
    if (!g.has(pl_key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + pl_key + " is missing");
    hp.n_embd_per_layer = checked(g.get_int(pl_key, 0), pl_key, 0, 1 << 16);
    // Each token carries n_layer of them through the whole pass (E2B: 35 x
    // 256): a file asking for more than 2^24 floats a token is refused
    // before any buffer is sized from it.
    if ((int64_t)hp.n_layer * hp.n_embd_per_layer > (1 << 24)) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + pl_key + " = " + std::to_string(hp.n_embd_per_layer) + " over " +
                                        std::to_string(hp.n_layer) + " blocks is more than 2^24 values a token");
    }
}

}  // namespace hob
