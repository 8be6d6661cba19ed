// The architecture table and the hyperparameters of each architecture, read
// from GGUF metadata under the keys and with the defaults llama.cpp uses, so
// a file means the same model to both.
#include "arch.h"

#include <algorithm>
#include <cmath>

#include "common.h"

namespace hob {

namespace {

constexpr QkNorm kNoQk = QkNorm::None, kHeadQk = QkNorm::Head, kRowQk = QkNorm::Row;
//                                   rope style        qk_norm  pre_norms post_norms embd_scale q_prescale act
const ArchTraits kArchs[] = {
    {"llama",   RopeStyle::Normal, kNoQk,   true,     false,     false,     false,     FfnAct::SiLU},
    {"qwen2",   RopeStyle::NeoX,   kNoQk,   true,     false,     false,     false,     FfnAct::SiLU},
    {"qwen3",   RopeStyle::NeoX,   kHeadQk, true,     false,     false,     false,     FfnAct::SiLU},
    {"phi3",    RopeStyle::NeoX,   kNoQk,   true,     false,     false,     false,     FfnAct::SiLU},
    {"gemma2",  RopeStyle::NeoX,   kNoQk,   true,     true,      true,      true,      FfnAct::GeLU},
    {"gemma3",  RopeStyle::NeoX,   kHeadQk, true,     true,      true,      true,      FfnAct::GeLU},
    // Gemma 4's scale of q.k is 1: nothing to put on q.
    {"gemma4",  RopeStyle::NeoX,   kHeadQk, true,     true,      true,      false,     FfnAct::GeLU},
    {"smollm3", RopeStyle::Normal, kNoQk,   true,     false,     false,     false,     FfnAct::SiLU},
    {"granite", RopeStyle::Normal, kNoQk,   true,     false,     false,     false,     FfnAct::SiLU},
    {"olmo2",   RopeStyle::NeoX,   kRowQk,  false,    true,      false,     false,     FfnAct::SiLU},
    // Hybrids: their recurrent blocks are arch_hybrid.cpp's. Qwen 3.5's
    // interleaved M-RoPE is NeoX rotation for text (every position stream
    // holds the token's position).
    {"lfm2",    RopeStyle::NeoX,   kHeadQk, true,     false,     false,     false,     FfnAct::SiLU},
    {"qwen35",  RopeStyle::NeoX,   kHeadQk, true,     false,     false,     false,     FfnAct::SiLU},
    // Embedding models: EmbeddingGemma is Gemma 3's block attending both
    // ways; BERT and nomic-bert have blocks of their own (encoder.cpp).
    {"gemma-embedding", RopeStyle::NeoX, kHeadQk, true, true, true, true, FfnAct::GeLU, BlockKind::Decoder, true},
    {"bert",       RopeStyle::NeoX, kNoQk, true, false, false, false, FfnAct::GeLU, BlockKind::Bert, true},
    {"nomic-bert", RopeStyle::NeoX, kNoQk, true, false, false, false, FfnAct::SiLU, BlockKind::Bert, true},
};

std::string supported_list() {
    std::string s;
    for (const ArchTraits& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
    return s;
}

int32_t to_i32(int64_t v, const std::string& key, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " = " + std::to_string(v) + " is outside [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return (int32_t)v;
}

float positive_float(const GgufFile& g, const std::string& key, double fallback) {
    const double v = g.get_float(key, fallback);
    if (!(v >= 0 && std::isfinite(v))) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " must be a finite number >= 0");
    return (float)v;
}

// Which layers use the sliding window. The pattern key is either a period p
// (layer l slides unless l % p == p - 1, so the last of every p layers is
// global; p = 0 means every layer slides), as llama.cpp's set_swa_pattern
// reads it, or one boolean per layer.
std::vector<uint8_t> swa_layers(const GgufFile& g, const std::string& key, int32_t n_layer, int64_t default_period) {
    std::vector<uint8_t> out((size_t)n_layer, 0);
    const GgufValue* v = g.find(key);
    if (v && v->is_array()) {
        if (v->count != (uint64_t)n_layer) {
            fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " has " + std::to_string(v->count) + " elements for " +
                                            std::to_string(n_layer) + " blocks");
        }
        if (v->elem_type == GgufType::STRING) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should hold booleans");
        for (int32_t l = 0; l < n_layer; l++) out[(size_t)l] = v->array_number((uint64_t)l) != 0;
        return out;
    }
    const int32_t period = to_i32(g.get_int(key, default_period), key, 0, 1 << 20);
    for (int32_t l = 0; l < n_layer; l++) out[(size_t)l] = period == 0 || l % period < period - 1;
    return out;
}

// What embeddings need, under llama.cpp's keys: the attention's direction,
// the pooling, the classifier's outputs and, for the encoders, LayerNorm's
// epsilon, RoPE (nomic-bert) or none (BERT's learned positions) and
// EmbeddingGemma's two-sided window.
void read_embedding_hparams(const GgufFile& g, Hparams& hp) {
    const std::string a = hp.arch + ".";
    hp.causal = g.get_bool(a + "attention.causal", true);
    const int64_t pooling = g.get_int(a + "pooling_type", 0);
    // llama.cpp's UNSPECIFIED (-1) means the model's default: none.
    if (pooling < -1 || pooling > (int64_t)Pooling::Rank) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "pooling_type = " + std::to_string(pooling) + " is not a pooling type");
    }
    hp.pooling = pooling < 0 ? Pooling::None : (Pooling)pooling;
    const GgufValue* labels = g.find(a + "classifier.output_labels");
    if (labels && labels->is_array() && labels->count > 0) {
        hp.n_cls_out = to_i32((int64_t)labels->count, a + "classifier.output_labels", 1, 1 << 16);
    }
    if (hp.traits->block == BlockKind::Bert) {
        const std::string eps_key = a + "attention.layer_norm_epsilon";
        if (!g.has(eps_key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + eps_key + " is missing");
        hp.norm_eps = (float)g.get_float(eps_key, 1e-12);
        if (!(hp.norm_eps > 0 && hp.norm_eps < 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + eps_key + " is not in (0, 1)");
        if (hp.n_head_kv != hp.n_head || hp.head_dim * hp.n_head != hp.n_embd) {
            fail(HOB_ERR_MODEL_INVALID, hp.arch + " needs n_embd = n_head x head_dim and no grouped KV heads");
        }
        // BERT adds learned position embeddings; nomic-bert rotates (NeoX).
        if (hp.arch == "bert") hp.rope.n_rot = 0;
        // A BERT file states its token type count; llama.cpp refuses one that does not.
        if (g.get_int("tokenizer.ggml.token_type_count", 0) <= 0) {
            fail(HOB_ERR_MODEL_INVALID, hp.arch + " needs tokenizer.ggml.token_type_count");
        }
    }
    if (hp.arch == "gemma-embedding") {
        // Gemma 3's block without the causal mask: sliding layers (five in
        // six by default) see n_swa / 2 positions either side.
        hp.causal = false;
        hp.embd_scale = std::sqrt((float)hp.n_embd);
        const std::string window_key = a + "attention.sliding_window";
        if (!g.has(window_key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + window_key + " is missing");
        hp.n_swa = to_i32(g.get_int(window_key, 0), window_key, 0, 1 << 24);
        hp.swa_symmetric = true;
        if (hp.n_swa > 0) {
            hp.swa_layers = swa_layers(g, a + "attention.sliding_window_pattern", hp.n_layer, 6);
            hp.rope_swa.freq_base = (float)g.get_float(a + "rope.freq_base_swa", 10000.0);
            hp.rope_swa.freq_scale = 1.0f;
        }
    }
}

}  // namespace

int32_t Hparams::kv_dim() const {
    if (head_kv_layers.empty() && head_dim_swa == 0) return n_head_kv * head_dim;
    int32_t widest = 0;
    for (int32_t l = 0; l < n_layer; l++) widest = std::max(widest, kv_dim_of(l));
    return widest;
}

const ArchTraits& find_arch(const std::string& name) {
    for (const ArchTraits& a : kArchs) {
        if (name == a.name) return a;
    }
    fail(HOB_ERR_UNSUPPORTED_ARCH, "architecture \"" + name + "\" is not supported (supported: " + supported_list() + ")");
}

Hparams read_hparams(const GgufFile& g) {
    Hparams hp;
    if (!g.has("general.architecture")) fail(HOB_ERR_MODEL_INVALID, "metadata general.architecture is missing");
    hp.arch = g.get_string("general.architecture", "");
    hp.traits = &find_arch(hp.arch);
    const ArchTraits& tr = *hp.traits;
    const std::string a = hp.arch + ".";
    auto required_int = [&](const std::string& key, int64_t lo, int64_t hi) {
        if (!g.has(key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " is missing");
        return to_i32(g.get_int(key, 0), key, lo, hi);
    };

    // Shapes.
    hp.n_ctx_train = required_int(a + "context_length", 1, 1 << 24);
    hp.n_embd = required_int(a + "embedding_length", 1, 1 << 20);
    hp.n_layer = required_int(a + "block_count", 1, 4096);
    hp.n_head = required_int(a + "attention.head_count", 1, 1 << 14);
    if (hp.arch == "gemma4") {
        read_gemma4_shapes(g, hp);  // n_ff and n_head_kv may be per block
    } else {
        hp.n_ff = required_int(a + "feed_forward_length", 1, 1 << 22);
    }
    read_layer_mixers(g, hp);  // LFM2 sets n_head_kv from its per-block list
    if (hp.n_head_kv == 0) {
        hp.n_head_kv = to_i32(g.get_int(a + "attention.head_count_kv", hp.n_head), a + "attention.head_count_kv", 1, hp.n_head);
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        fail(HOB_ERR_MODEL_INVALID, "attention.head_count " + std::to_string(hp.n_head) +
                                        " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
    }
    // Gemma and Qwen3 heads are wider than n_embd / n_head; key_length says so.
    const int64_t default_head_dim = hp.n_embd % hp.n_head == 0 ? hp.n_embd / hp.n_head : 0;
    hp.head_dim = to_i32(g.get_int(a + "attention.key_length", default_head_dim), a + "attention.key_length", 1, 1 << 14);
    const int32_t v_dim = to_i32(g.get_int(a + "attention.value_length", hp.head_dim), a + "attention.value_length", 1, 1 << 14);
    if (v_dim != hp.head_dim) {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "attention.key_length " + std::to_string(hp.head_dim) + " differs from value_length " +
                                           std::to_string(v_dim) + ", which is not supported");
    }
    hp.rms_eps = (float)g.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
    if (!(hp.rms_eps > 0 && hp.rms_eps < 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "attention.layer_norm_rms_epsilon is not in (0, 1)");

    // RoPE.
    hp.rope.style = tr.rope_style;
    hp.rope.n_rot = to_i32(g.get_int(a + "rope.dimension_count", hp.head_dim), a + "rope.dimension_count", 2, hp.head_dim);
    if (hp.rope.n_rot % 2 != 0) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.dimension_count is odd");
    hp.rope.freq_base = (float)g.get_float(a + "rope.freq_base", 10000.0);
    if (!(hp.rope.freq_base > 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.freq_base must be > 1");
    // As llama.cpp: without a type, a scaling factor alone means linear.
    // LongRoPE (Phi-3.5, Phi-4-mini) is frequency factors (tensors the model
    // reads) and an attention factor; its files often name no type at all.
    const std::string scaling = g.get_string(a + "rope.scaling.type", "linear");
    if (scaling == "linear" || scaling == "longrope") {
        const double factor = g.get_float(a + "rope.scaling.factor", 1.0);
        if (!(factor >= 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.scaling.factor must be >= 1");
        hp.rope.freq_scale = (float)(1.0 / factor);
    } else if (scaling != "none") {
        fail(HOB_ERR_UNSUPPORTED_ARCH,
             "RoPE scaling \"" + scaling + "\" is not supported (supported: none, linear, longrope)");
    }
    hp.rope.mscale = positive_float(g, a + "rope.scaling.attn_factor", 1.0);
    if (!(hp.rope.mscale > 0)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.scaling.attn_factor must be > 0");
    hp.n_ctx_orig = to_i32(g.get_int(a + "rope.scaling.original_context_length", hp.n_ctx_train),
                           a + "rope.scaling.original_context_length", 1, 1 << 24);
    hp.rope_layers.assign((size_t)hp.n_layer, 1);

    // Attention: the scale of q.k, soft-capping, and the sliding window.
    hp.attn_scale = 1.0f / std::sqrt((float)hp.head_dim);
    hp.rope_swa = hp.rope;
    hp.swa_layers.assign((size_t)hp.n_layer, 0);
    const std::string window_key = a + "attention.sliding_window";
    const std::string pattern_key = a + "attention.sliding_window_pattern";
    if (tr.embd_scale) hp.embd_scale = std::sqrt((float)hp.n_embd);
    if (hp.arch == "gemma2" || hp.arch == "gemma3") {
        // The 27B models were trained with a query scale of 1/sqrt(n_embd /
        // n_head), not 1/sqrt(head_dim). Their files do not say so; llama.cpp
        // recognises them by their block count, and so do we.
        const bool is_27b = hp.n_layer == (hp.arch == "gemma2" ? 46 : 62);
        if (is_27b) hp.attn_scale = 1.0f / std::sqrt((float)(hp.n_embd / hp.n_head));
        hp.final_softcap = positive_float(g, a + "final_logit_softcapping", hp.arch == "gemma2" ? 30.0 : 0.0);
    }
    if (hp.arch == "gemma2") {
        // Gemma 2 always soft-caps scores and alternates local and global
        // layers (local first); its window defaults to 4096 as llama.cpp's.
        hp.attn_softcap = positive_float(g, a + "attn_logit_softcapping", 50.0);
        hp.n_swa = to_i32(g.get_int(window_key, 4096), window_key, 0, 1 << 24);
        hp.swa_layers = swa_layers(g, pattern_key, hp.n_layer, 2);
        hp.rope_swa.freq_base = (float)g.get_float(a + "rope.freq_base_swa", hp.rope.freq_base);
    } else if (hp.arch == "gemma3") {
        // Gemma 3: five local layers to one global; local layers rotate with
        // their own base (10000 unless stated) and no scaling.
        hp.n_swa = to_i32(g.get_int(window_key, 0), window_key, 0, 1 << 24);
        if (hp.n_swa > 0) {
            hp.swa_layers = swa_layers(g, pattern_key, hp.n_layer, 6);
            hp.rope_swa.freq_base = (float)g.get_float(a + "rope.freq_base_swa", 10000.0);
            hp.rope_swa.freq_scale = 1.0f;
        }
    } else if (hp.arch == "gemma4") {
        read_gemma4_hparams(g, hp);
    } else if (hp.arch == "llama") {
        // Mistral-style window on every layer (or those the pattern names).
        // llama.cpp's converter never writes a positive window for llama, so
        // files from it behave as llama.cpp runs them: full causal attention.
        hp.n_swa = to_i32(g.get_int(window_key, 0), window_key, 0, 1 << 24);
        if (hp.n_swa > 0) hp.swa_layers = swa_layers(g, pattern_key, hp.n_layer, 0);
    } else if (hp.arch == "olmo2") {
        // OLMo 2 has no window; files that give one (OLMo 3's layout) get
        // llama.cpp's reading: every fourth layer global, the local ones
        // rotating with the same base (llama.cpp's olmo2 graph ignores
        // freq_base_swa) but neither scaling nor attention factor.
        hp.n_swa = to_i32(g.get_int(window_key, 0), window_key, 0, 1 << 24);
        if (hp.n_swa > 0) {
            hp.swa_layers = swa_layers(g, pattern_key, hp.n_layer, 4);
            hp.rope_swa.freq_scale = 1.0f;
            hp.rope_swa.mscale = 1.0f;
        }
    } else if (hp.arch == "smollm3") {
        // NoPE every fourth layer (3, 7, ...), fixed by the architecture as
        // llama.cpp fixes it; the files do not say.
        for (int32_t l = 0; l < hp.n_layer; l++) hp.rope_layers[(size_t)l] = (l + 1) % 4 != 0;
    } else if (hp.arch == "granite") {
        // Granite 3.x: muP multipliers on the embeddings, each sub-block's
        // output, the scores and the logits. rope.scaling.finetuned = false
        // turns RoPE off on every layer (llama.cpp reads it so for granite).
        const std::string logit_key = a + "logit_scale";
        if (!g.has(logit_key)) fail(HOB_ERR_MODEL_INVALID, "metadata " + logit_key + " is missing");
        const float logit_scale = positive_float(g, logit_key, 1.0);
        if (!(logit_scale > 0)) fail(HOB_ERR_MODEL_INVALID, "metadata " + logit_key + " must be > 0");
        hp.logit_scale = 1.0f / logit_scale;  // llama.cpp multiplies by this float reciprocal
        const float residual = positive_float(g, a + "residual_scale", 0.0);
        if (residual > 0) hp.residual_scale = residual;
        const float embedding = positive_float(g, a + "embedding_scale", 0.0);
        if (embedding > 0) hp.embd_scale = embedding;
        const float attention = positive_float(g, a + "attention.scale", 0.0);
        if (attention > 0) hp.attn_scale = attention;
        const bool rope_on = g.get_bool(a + "rope.scaling.finetuned", true);
        hp.rope_layers.assign((size_t)hp.n_layer, rope_on ? 1 : 0);
    }
    // phi3 and qwen2 files may carry a sliding_window too; llama.cpp ignores
    // it for them (for phi3 because converted values are unreliable), so
    // full causal attention is what matches it.
    read_embedding_hparams(g, hp);
    if (!(hp.rope_swa.freq_base > 1)) fail(HOB_ERR_MODEL_INVALID, "metadata " + a + "rope.freq_base_swa must be > 1");
    if (hp.n_swa == 0) hp.swa_layers.assign((size_t)hp.n_layer, 0);
    read_recurrent_hparams(g, hp);
    return hp;
}

}  // namespace hob
