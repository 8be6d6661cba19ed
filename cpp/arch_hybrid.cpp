// The hyperparameters of the hybrid architectures, read under llama.cpp's
// keys with its defaults: which blocks are recurrent, the shapes of their
// mixers, and what else sets LFM2 and Qwen 3.5 apart from the attention-only
// architectures of arch.cpp.
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

// A per-block array of n numbers, or one number for every block.
std::vector<int64_t> per_block(const GgufFile& g, const std::string& key, int32_t n, int64_t fallback) {
    std::vector<int64_t> out((size_t)n, fallback);
    const GgufValue* v = g.find(key);
    if (!v) return out;
    if (!v->is_array()) {
        out.assign((size_t)n, g.get_int(key, fallback));
        return out;
    }
    if (v->elem_type == GgufType::STRING) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should hold numbers");
    if (v->count < (uint64_t)n) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " has " + std::to_string(v->count) + " elements for " +
                                        std::to_string(n) + " blocks");
    }
    for (int32_t l = 0; l < n; l++) out[(size_t)l] = (int64_t)v->array_number((uint64_t)l);
    return out;
}

}  // namespace

bool Hparams::has_recurrent() const {
    for (Mixer m : mixers) {
        if (m != Mixer::Attention) return true;
    }
    return false;
}

void read_layer_mixers(const GgufFile& g, Hparams& hp) {
    const std::string a = hp.arch + ".";
    hp.mixers.assign((size_t)hp.n_layer, Mixer::Attention);
    if (hp.arch == "lfm2") {
        // A block with no KV heads is a convolution block.
        const std::string key = a + "attention.head_count_kv";
        const std::vector<int64_t> kv = per_block(g, key, hp.n_layer, hp.n_head);
        for (int32_t l = 0; l < hp.n_layer; l++) {
            const int32_t n = checked(kv[(size_t)l], key, 0, hp.n_head);
            if (n == 0) {
                hp.mixers[(size_t)l] = Mixer::ShortConv;
            } else if (hp.n_head_kv != 0 && n != hp.n_head_kv) {
                fail(HOB_ERR_UNSUPPORTED_ARCH, "blocks with different KV head counts (" + std::to_string(hp.n_head_kv) + " and " +
                                                   std::to_string(n) + ") are not supported");
            } else {
                hp.n_head_kv = n;
            }
        }
        if (hp.n_head_kv == 0) hp.n_head_kv = hp.n_head;  // no attention block: unused
    } else if (hp.arch == "qwen35") {
        // Multi-token-prediction blocks follow the model's own; they only
        // draft tokens for speculative decoding, which Hob does not do, so
        // they are not part of the forward pass.
        const std::string nextn_key = a + "nextn_predict_layers";
        const int32_t nextn = checked(g.get_int(nextn_key, 0), nextn_key, 0, hp.n_layer - 1);
        const int32_t n_all = hp.n_layer;
        hp.n_layer -= nextn;
        hp.mixers.assign((size_t)hp.n_layer, Mixer::Attention);
        const std::string layers_key = a + "attention.recurrent_layers";
        if (g.has(layers_key)) {
            const std::vector<int64_t> rec = per_block(g, layers_key, n_all, 0);
            for (int32_t l = 0; l < hp.n_layer; l++) hp.mixers[(size_t)l] = rec[(size_t)l] ? Mixer::DeltaNet : Mixer::Attention;
        } else {
            // As llama.cpp: every interval-th block attends, the others are recurrent.
            const std::string key = a + "full_attention_interval";
            const int32_t interval = checked(g.get_int(key, 4), key, 1, 1 << 16);
            for (int32_t l = 0; l < hp.n_layer; l++) {
                hp.mixers[(size_t)l] = (l + 1) % interval != 0 ? Mixer::DeltaNet : Mixer::Attention;
            }
        }
    }
}

void read_recurrent_hparams(const GgufFile& g, Hparams& hp) {
    const std::string a = hp.arch + ".";
    RecurrentHparams& r = hp.rec;
    if (hp.arch == "lfm2") {
        hp.output_norm_name = "token_embd_norm";  // llama.cpp's name for LFM2's output norm
        r.conv_kernel = required(g, a + "shortconv.l_cache", 2, 64);
        r.conv_channels = hp.n_embd;
        // LFM2 files with a sliding window attend through it in llama.cpp;
        // none is published, and Hob would attend to the whole context.
        if (g.get_int(a + "attention.sliding_window", 0) > 0) {
            fail(HOB_ERR_UNSUPPORTED_ARCH, "LFM2 with a sliding window (" + a + "attention.sliding_window) is not supported");
        }
        if (hp.head_dim * hp.n_head != hp.n_embd) {
            fail(HOB_ERR_MODEL_INVALID, "LFM2 attention needs n_head * head_dim = n_embd, got " + std::to_string(hp.n_head) +
                                            " * " + std::to_string(hp.head_dim));
        }
    } else if (hp.arch == "qwen35") {
        hp.attn_gate = true;
        hp.ffn_norm_name = "post_attention_norm";
        r.conv_kernel = required(g, a + "ssm.conv_kernel", 2, 64);
        r.head_dim = required(g, a + "ssm.state_size", 1, 1024);
        r.n_key_heads = required(g, a + "ssm.group_count", 1, 1024);
        r.n_value_heads = required(g, a + "ssm.time_step_rank", 1, 1024);
        const int32_t inner = required(g, a + "ssm.inner_size", 1, 1 << 20);
        if (r.n_value_heads % r.n_key_heads != 0 || inner != r.value_dim()) {
            fail(HOB_ERR_MODEL_INVALID, "DeltaNet shapes do not agree: " + std::to_string(r.n_value_heads) + " value heads over " +
                                            std::to_string(r.n_key_heads) + " key heads of " + std::to_string(r.head_dim) +
                                            ", inner size " + std::to_string(inner));
        }
        r.conv_channels = 2 * r.key_dim() + r.value_dim();
        // Interleaved M-RoPE: pair i of the rotated dimensions takes its
        // position from section (i % sum) of the four; for text the first
        // three hold the token's position and the fourth 0. Sections that
        // cover every pair make it NeoX rotation, the only form Hob has.
        const std::string key = a + "rope.dimension_sections";
        const std::vector<int64_t> s = per_block(g, key, 4, 0);
        const int64_t total = s[0] + s[1] + s[2] + s[3];
        if (total <= 0) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " is missing or empty");
        for (int32_t i = 0; i < hp.rope.n_rot / 2; i++) {
            const int64_t sector = i % total;
            const bool positioned = (sector % 3 == 0 && sector < 3 * s[0]) || (sector % 3 == 1 && sector < 3 * s[1]) ||
                                    (sector % 3 == 2 && sector < 3 * s[2]);
            if (!positioned) {
                fail(HOB_ERR_UNSUPPORTED_ARCH, "RoPE sections leave rotated pair " + std::to_string(i) +
                                                   " without a text position, which is not supported");
            }
        }
    }
    if (hp.has_recurrent() && r.conv_kernel < 2) fail(HOB_ERR_MODEL_INVALID, "a recurrent block needs a convolution of 2 or more taps");
}

}  // namespace hob
