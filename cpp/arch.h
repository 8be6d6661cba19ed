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

// RMSNorm of q and k before RoPE: none, of each head (attn_{q,k}_norm of
// head_dim: Qwen 3, Gemma 3), or of each token's whole q and k rows (of
// n_head * head_dim and kv_dim: OLMo 2).
enum class QkNorm { None, Head, Row };

// What mixes tokens in a block: attention over the KV cache, or (hybrid
// architectures) a recurrent mixer whose state summarises every earlier
// token in a fixed size: LFM2's gated short convolution, Qwen 3.5's Gated
// DeltaNet (a convolution, then a delta-rule recurrence).
enum class Mixer : uint8_t { Attention = 0, ShortConv = 1, DeltaNet = 2 };

// Shapes of the recurrent mixers (arch_hybrid.cpp reads them).
struct RecurrentHparams {
    int32_t conv_kernel = 0;    // taps of the causal convolution; its state keeps conv_kernel - 1 inputs
    int32_t conv_channels = 0;  // LFM2: n_embd; Qwen 3.5: 2 key_dim + value_dim (q, k and v are convolved)
    int32_t head_dim = 0;       // DeltaNet: width of a key and a value head (ssm.state_size)
    int32_t n_key_heads = 0;    // DeltaNet: ssm.group_count
    int32_t n_value_heads = 0;  // DeltaNet: ssm.time_step_rank, a multiple of n_key_heads
    int32_t key_dim() const { return head_dim * n_key_heads; }
    int32_t value_dim() const { return head_dim * n_value_heads; }
};

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
    QkNorm qk_norm;    // attn_q_norm / attn_k_norm before RoPE
    bool pre_norms;    // attn_norm / ffn_norm on each sub-block's input (OLMo 2 has none)
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
    // rope.scaling.original_context_length: the context LongRoPE's short
    // factors serve; a session of more cells rotates with the long ones.
    int32_t n_ctx_orig = 0;
    std::vector<uint8_t> rope_layers;  // (n_layer) 0 where a layer has no position encoding (SmolLM3's NoPE)

    float embd_scale = 1.0f;     // token embeddings are multiplied by this
    float residual_scale = 1.0f; // each sub-block's output is multiplied by this before the residual add (Granite)
    float logit_scale = 1.0f;    // logits are multiplied by this (Granite: 1 / logit_scale)
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

    // Hybrids (arch_hybrid.cpp): each block's mixer, the recurrent shapes,
    // Qwen 3.5's gated attention (its q projection gives each head's query
    // then a gate; the attention output is multiplied by sigmoid(gate)) and
    // the names some hybrids give shared tensors.
    std::vector<Mixer> mixers;        // (n_layer)
    RecurrentHparams rec;
    bool attn_gate = false;
    std::string ffn_norm_name = "ffn_norm";        // Qwen 3.5: post_attention_norm
    std::string output_norm_name = "output_norm";  // LFM2: token_embd_norm

    // Gemma 4 (arch_gemma4.cpp): sliding layers with heads of their own
    // width, per-block KV head counts and FFN widths (head_dim, n_head_kv
    // and n_ff are then the widest), per-layer token embeddings of
    // n_embd_per_layer floats per block, and the last blocks reading the
    // K/V cache of an earlier block of their kind instead of their own.
    int32_t head_dim_swa = 0;              // 0: head_dim
    std::vector<int32_t> head_kv_layers;   // (n_layer) or empty: n_head_kv everywhere
    std::vector<int32_t> ff_layers;        // (n_layer) or empty: n_ff everywhere
    int32_t n_embd_per_layer = 0;          // 0: no per-layer embeddings
    std::vector<int32_t> kv_source;        // (n_layer) or empty: the block whose K/V block l attends over

    int32_t head_dim_of(int32_t layer) const { return is_swa(layer) && head_dim_swa > 0 ? head_dim_swa : head_dim; }
    int32_t n_head_kv_of(int32_t layer) const { return head_kv_layers.empty() ? n_head_kv : head_kv_layers[(size_t)layer]; }
    int32_t n_ff_of(int32_t layer) const { return ff_layers.empty() ? n_ff : ff_layers[(size_t)layer]; }
    int32_t kv_dim_of(int32_t layer) const { return n_head_kv_of(layer) * head_dim_of(layer); }
    int32_t kv_source_of(int32_t layer) const { return kv_source.empty() ? layer : kv_source[(size_t)layer]; }
    // The widest block's head and K/V row (the cache's row: narrower blocks use its start).
    int32_t head_dim_max() const { return head_dim_swa > head_dim ? head_dim_swa : head_dim; }
    int32_t kv_dim() const;
    bool is_swa(int32_t layer) const { return n_swa > 0 && swa_layers[(size_t)layer] != 0; }
    // The window of a layer in tokens, 0 for full causal attention.
    int32_t window(int32_t layer) const { return is_swa(layer) ? n_swa : 0; }
    const RopeParams& rope_of(int32_t layer) const { return is_swa(layer) ? rope_swa : rope; }
    bool has_rope(int32_t layer) const { return rope_layers[(size_t)layer] != 0; }
    Mixer mixer(int32_t layer) const { return mixers.empty() ? Mixer::Attention : mixers[(size_t)layer]; }
    bool has_recurrent() const;
};

// Hybrids (arch_hybrid.cpp), in two steps of read_hparams. First, once
// n_layer is known: each block's mixer (attention for every block of the
// other architectures); LFM2 lists head_count_kv per block (0 for a
// convolution block), so n_head_kv is set here for it and left 0 otherwise.
void read_layer_mixers(const GgufFile& g, Hparams& hp);
// Last: the recurrent shapes, gated attention, tensor names, and the checks
// that need the attention shapes (Qwen 3.5's RoPE sections).
void read_recurrent_hparams(const GgufFile& g, Hparams& hp);

// Gemma 4 (arch_gemma4.cpp), in two steps of read_hparams: the per-block
// shapes (FFN widths, KV heads: numbers or arrays) once n_layer and n_head
// are known, then the rest (windows, SWA heads and RoPE, shared KV blocks,
// per-layer embeddings, soft-capping). A mixture-of-experts file is an
// UNSUPPORTED_ARCH error.
void read_gemma4_shapes(const GgufFile& g, Hparams& hp);
void read_gemma4_hparams(const GgufFile& g, Hparams& hp);

// Reads every hyperparameter but n_vocab (the vocabulary's) from the
// metadata; a missing or out-of-range value is a MODEL_INVALID error naming
// its key. RoPE frequency factors (a tensor) are left to the model.
Hparams read_hparams(const GgufFile& g);

}  // namespace hob
