// The architectures Hob runs and what sets them apart: one table row per
// architecture (RoPE pairing, extra norms, activation, sliding-window rule)
// and the reading of their hyperparameters from GGUF metadata into Hparams.
// Weights and the forward pass are model.cpp's; this file reads no tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"
#include "ops/ops.h"

namespace hob {

// The gated activation of the feed-forward block: act(gate) * up (BERT's
// ungated FFN: act(up)).
enum class FfnAct { SiLU, GeLU };

// How a block is built: the decoder block of model.cpp (pre-norm RMSNorm,
// gated FFN), or BERT's (encoder.cpp: post-norm LayerNorm with biases).
enum class BlockKind { Decoder, Bert };

// How per-token states become one embedding, numbered as llama.cpp's
// pooling_type: none (per token), mean, first token (CLS), last token, and
// rank (a classifier head over the first token, or the last for qwen3).
enum class Pooling : int32_t { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };

// Fixed traits of an architecture, as llama.cpp builds its graph.
struct ArchTraits {
    const char* name;
    RopeStyle rope_style;
    bool qk_norm;      // attn_q_norm / attn_k_norm: RMSNorm of every q and k head before RoPE
    bool post_norms;   // post_attention_norm / post_ffw_norm on each sub-block's output
    bool embd_scale;   // token embeddings multiplied by sqrt(n_embd)
    bool q_prescale;   // the attention scale multiplies q before q.k (else the scores)
    FfnAct ffn_act;
    BlockKind block = BlockKind::Decoder;
    bool embedding_only = false;  // no output head: embeddings, never logits
};

// The architecture called `name`, or an UNSUPPORTED_ARCH error naming it and
// the supported ones.
const ArchTraits& find_arch(const std::string& name);

struct Hparams {
    std::string arch;
    const ArchTraits* traits = nullptr;
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;
    int32_t n_ff = 0;
    float rms_eps = 1e-5f;
    RopeParams rope;      // RoPE of the full-attention layers
    RopeParams rope_swa;  // RoPE of the sliding-window layers (Gemma 3 uses another base)

    float embd_scale = 1.0f;     // token embeddings are multiplied by this
    float attn_scale = 1.0f;     // on q.k (or on q first, when traits->q_prescale)
    float attn_softcap = 0.0f;   // scores become c * tanh(s / c); 0: off
    float final_softcap = 0.0f;  // logits become c * tanh(l / c); 0: off
    int32_t n_swa = 0;           // sliding window in tokens (0: none): a query sees the last n_swa positions
    std::vector<uint8_t> swa_layers;  // (n_layer) 1 where a layer attends through the window
    bool swa_symmetric = false;  // the window spans n_swa / 2 positions each side instead (non-causal)

    // Embeddings (encoders, and decoders asked for them).
    bool causal = true;             // attention.causal: false, every token sees its whole sequence
    Pooling pooling = Pooling::None;  // pooling_type the file asks for
    int32_t n_cls_out = 1;          // classifier.output_labels: scores of the rank head
    float norm_eps = 1e-12f;        // attention.layer_norm_epsilon (BERT's LayerNorm)

    int32_t kv_dim() const { return n_head_kv * head_dim; }
    bool is_swa(int32_t layer) const { return n_swa > 0 && swa_layers[(size_t)layer] != 0; }
    // The window of a layer in tokens, 0 for full causal attention.
    int32_t window(int32_t layer) const { return is_swa(layer) ? n_swa : 0; }
    const RopeParams& rope_of(int32_t layer) const { return is_swa(layer) ? rope_swa : rope; }
};

// Reads every hyperparameter but n_vocab (the vocabulary's) from the
// metadata; a missing or out-of-range value is a MODEL_INVALID error naming
// its key. RoPE frequency factors (a tensor) are left to the model.
Hparams read_hparams(const GgufFile& g);

}  // namespace hob
