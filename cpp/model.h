// A transformer model built from a GGUF file: hyperparameters from the
// metadata, weight views into the file bytes (used in place, never copied
// unless misaligned), the tokenizer, and the forward pass over the blocks
// that run on the CPU. Blocks offloaded elsewhere (the GPU) keep their shapes
// and types checked here but no bytes in engine memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arch.h"
#include "gguf.h"
#include "kv_cache.h"
#include "ops/ops.h"
#include "recurrent_state.h"
#include "tensor.h"
#include "threadpool.h"
#include "vocab.h"

namespace hob {

// One block's weights. Matrices of a fused file (phi3's attn_qkv, ffn_up
// holding gate and up) are row views into the fused tensor, never copies.
// Optional vectors are empty when the file has none.
struct LayerWeights {
    std::vector<float> attn_norm;       // (n_embd); empty without pre-norms (OLMo 2)
    const Tensor* wq;                   // (n_embd -> n_head * head_dim)
    const Tensor* wk;                   // (n_embd -> n_head_kv * head_dim)
    const Tensor* wv;                   // (n_embd -> n_head_kv * head_dim)
    std::vector<float> bq, bk, bv;      // (n_head * head_dim), (kv_dim), (kv_dim): qwen2
    std::vector<float> q_norm, k_norm;  // (head_dim) per head (qwen3, gemma3), or whole rows (olmo2: q_dim, kv_dim)
    const Tensor* wo;                   // (n_head * head_dim -> n_embd)
    std::vector<float> post_attn_norm;  // (n_embd): gemma
    std::vector<float> ffn_norm;        // (n_embd); empty without pre-norms
    const Tensor* ffn_gate;             // (n_embd -> n_ff)
    const Tensor* ffn_up;               // (n_embd -> n_ff)
    const Tensor* ffn_down;             // (n_ff -> n_embd)
    std::vector<float> post_ffn_norm;   // (n_embd): gemma

    // A recurrent block's mixer (hybrids: Hparams::mixers), in place of the
    // attention weights above (then null or empty). model_hybrid.cpp.
    const Tensor* in_proj = nullptr;     // LFM2 shortconv.in_proj (n_embd -> 3 n_embd: b, c, x);
                                         // Qwen 3.5 attn_qkv (n_embd -> conv_channels: q, k, v)
    const Tensor* z_proj = nullptr;      // Qwen 3.5 attn_gate (n_embd -> value_dim): the output gate z
    const Tensor* beta_proj = nullptr;   // Qwen 3.5 ssm_beta (n_embd -> n_value_heads)
    const Tensor* alpha_proj = nullptr;  // Qwen 3.5 ssm_alpha (n_embd -> n_value_heads)
    std::vector<float> conv;             // (conv_channels, conv_kernel): one filter per channel
    std::vector<float> dt_bias, ssm_a;   // (n_value_heads): the decay's bias and rate (-exp(A_log))
    std::vector<float> ssm_norm;         // (head_dim): RMSNorm of each DeltaNet output head
    const Tensor* out_proj = nullptr;    // shortconv.out_proj (n_embd -> n_embd) / ssm_out (value_dim -> n_embd)

    // Gemma 4 (model_gemma4.cpp). wv is null where V is K's projection; wk
    // and wv are null in a block reading an earlier block's cache.
    const Tensor* pl_gate = nullptr;     // inp_gate (n_embd -> n_embd_per_layer)
    const Tensor* pl_proj = nullptr;     // proj (n_embd_per_layer -> n_embd)
    std::vector<float> pl_post_norm;     // post_norm (n_embd)
    float out_scale = 1.0f;              // layer_output_scale: the whole residual stream after the block
};

// A BERT block's weights (encoder.cpp): post-norm LayerNorms with biases,
// biased projections (nomic-bert: fused Q/K/V, SwiGLU, no biases).
// Optional vectors are empty when the file has none.
struct EncoderLayerWeights {
    const Tensor* wq;                         // (n_embd -> n_embd)
    const Tensor* wk;                         // (n_embd -> n_embd)
    const Tensor* wv;                         // (n_embd -> n_embd)
    std::vector<float> bq, bk, bv;            // (n_embd) each
    const Tensor* wo;                         // (n_embd -> n_embd)
    std::vector<float> bo;                    // (n_embd)
    std::vector<float> attn_out_norm, attn_out_norm_b;  // (n_embd): LayerNorm after the attention's residual
    const Tensor* ffn_up;                     // (n_embd -> n_ff)
    std::vector<float> b_up;                  // (n_ff)
    const Tensor* ffn_gate;                   // (n_embd -> n_ff): nomic-bert's SwiGLU; null for BERT's GELU
    const Tensor* ffn_down;                   // (n_ff -> n_embd)
    std::vector<float> b_down;                // (n_embd)
    std::vector<float> out_norm, out_norm_b;  // (n_embd): LayerNorm after the FFN's residual
};

// The weights around the blocks that embeddings use: BERT's input
// (positions, token type 0, LayerNorm), the classifier head of rerankers,
// EmbeddingGemma's dense projections after pooling. Absent ones are null or
// empty.
struct EmbeddingWeights {
    const Tensor* pos_embd = nullptr;   // (n_embd, n_ctx_train): BERT's learned positions
    std::vector<float> type_embd0;      // (n_embd): row 0 of token_types, "sentence A"
    std::vector<float> tok_norm, tok_norm_b;  // (n_embd): LayerNorm of the input embeddings
    const Tensor* cls = nullptr;        // (n_embd -> n_embd), then tanh: the classifier's dense layer
    std::vector<float> cls_b;           // (n_embd)
    const Tensor* cls_out = nullptr;    // (n_embd -> n_cls_out): the scores
    std::vector<float> cls_out_b;       // (n_cls_out)
    const Tensor* dense2 = nullptr;     // (n_embd -> d): after pooling
    const Tensor* dense3 = nullptr;     // (d -> n_embd)
};

// Where the tokens of a batch of packed sequences sit (embeddings): each
// token's position in its sequence, and the cells each token attends to for
// full-attention and for sliding-window layers ([begin, end), cells counted
// from the first sequence's first token). Causal rows see their sequence up
// to themselves, non-causal ones all of it; windows narrow both.
struct BatchLayout {
    std::vector<int32_t> pos;
    std::vector<int32_t> begin, end;
    std::vector<int32_t> begin_swa, end_swa;

    // Sequences of seq_lens[i] tokens, back to back from cell 0; throws
    // INVALID_ARGUMENT for an empty sequence.
    static BatchLayout pack(const Hparams& hp, const int32_t* seq_lens, int32_t n_seqs);
    // n rows appended at cells (and positions) start .. start + n - 1 of a
    // cached sequence that attend to one another both ways and to every
    // earlier cell (Gemma 3's image rows), windows narrowing the past only,
    // as llama.cpp's mask does with causal attention off. Cells before
    // start are described too (causally) so that cell indices stay absolute.
    static BatchLayout image(const Hparams& hp, int32_t start, int32_t n);
    int32_t n_tokens() const { return (int32_t)pos.size(); }
    // Made by image(): rows appended to one cached sequence.
    bool image_rows = false;
};

// How the blocks of a file store their weights, found from its tensors (the
// same in every block; a block that differs is an error).
struct WeightLayout {
    bool qkv_bias = false;   // attn_{q,k,v}.bias (or attn_qkv.bias) present
    bool fused_qkv = false;  // attn_qkv.weight: (n_embd -> q_dim + 2 kv_dim), rows q, k, v
    bool fused_ffn = false;  // ffn_up.weight: (n_embd -> 2 n_ff), rows gate then up; no ffn_gate
};

// Activations of one batch of up to `capacity` tokens; sized once per session.
struct Workspace {
    int32_t capacity = 0;
    std::vector<float> x;     // (T, n_embd) residual stream
    std::vector<float> xb;    // (T, n_embd) normed input of a sub-block
    std::vector<float> xb2;   // (T, n_embd) sub-block output
    std::vector<float> q;     // (T, n_head * head_dim)
    std::vector<float> k;     // (T, kv_dim)
    std::vector<float> v;     // (T, kv_dim)
    std::vector<float> att;   // (T, n_head * head_dim)
    std::vector<float> hb;    // (T, n_ff)
    std::vector<float> hb2;   // (T, n_ff)
    std::vector<int32_t> pos; // (T)
    // When set, the batch's input rows (T, n_embd) instead of its tokens'
    // embeddings: an image's rows from its projector (clip.h).
    const float* embd_rows = nullptr;
    // Hybrids only (empty otherwise).
    std::vector<float> qg;     // (T, 2 q_dim): Qwen 3.5's queries and gates, interleaved per head
    std::vector<float> gate;   // (T, q_dim): the gates, de-interleaved
    std::vector<float> mix_in; // (T, max(3 n_embd, conv_channels)): a recurrent mixer's projected input
    std::vector<float> mix_a;  // (T, conv_channels): the convolution's input, later the DeltaNet output
    std::vector<float> mix_b;  // (T, conv_channels): the convolution's output
    std::vector<float> mix_z;  // (T, value_dim): Qwen 3.5's output gate
    std::vector<float> mix_alpha, mix_beta;  // (T, n_value_heads)
    // Gemma 4 only (empty otherwise).
    std::vector<float> ple;    // (T, n_layer * n_embd_per_layer): each block's per-layer input
    std::vector<float> ple_h;  // (T, n_embd_per_layer): a block's gated per-layer input
    Scratch scratch;

    void reserve(const Hparams& hp, int32_t n_tokens, int32_t n_threads);
    // The buffers above that only hybrids use (model_hybrid.cpp), or Gemma 4 (model_gemma4.cpp).
    void reserve_hybrid(const Hparams& hp, size_t n_tokens);
    void reserve_gemma4(const Hparams& hp, size_t n_tokens);
};

// Where the bytes of a tensor live in engine memory, or null when the CPU
// does not hold it (an offloaded block).
using TensorLocator = std::function<const uint8_t*(const GgufTensorInfo&)>;

// Whether the CPU computes with tensor `name` when the first n_cpu_layers of
// n_layer blocks run on it: the embedding always (tokens are embedded here),
// the blocks below n_cpu_layers, and the output norm and head unless every
// block is offloaded (then the head runs after them, on the GPU).
bool cpu_uses_tensor(const std::string& name, int32_t n_layer, int32_t n_cpu_layers);

class Model {
public:
    // Builds the model over a whole GGUF file in memory, every block on the
    // CPU. With owns_data the model frees `data` (from hob_alloc) when
    // destroyed.
    static std::unique_ptr<Model> load(uint8_t* data, size_t size, bool owns_data);
    // Builds the model from a parsed header, with its first n_cpu_layers
    // blocks on the CPU (clamped to [0, n_layer]); `locate` finds the bytes
    // of each tensor the CPU uses. `owned` (from hob_alloc, may be null) is
    // freed with the model, or here if building fails.
    static std::unique_ptr<Model> build(GgufFile gguf, int32_t n_cpu_layers, const TensorLocator& locate,
                                        uint8_t* owned);
    // A model of the vocabulary alone (no hyperparameters beyond what the
    // tokenizer needs, no tensor read): it tokenizes, and sessions refuse it.
    static std::unique_ptr<Model> load_vocab(GgufFile gguf);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const Hparams& hparams() const { return hp_; }
    const WeightLayout& layout() const { return layout_; }
    const Vocab& vocab() const { return vocab_; }
    const GgufFile& gguf() const { return gguf_; }
    // Bytes of the weights the CPU holds (offloaded blocks not counted).
    uint64_t weight_bytes() const { return weight_bytes_; }
    // Blocks [0, n_cpu_layers) run here; the rest are offloaded.
    int32_t n_cpu_layers() const { return n_cpu_layers_; }
    // True for load_vocab's models: no weights.
    bool vocab_only() const { return vocab_only_; }
    // Whether the output norm and head run here (false when every block is
    // offloaded, and for embedding models, which have no head).
    bool head_on_cpu() const { return output_ != nullptr; }
    // False for embedding models: they give embeddings, never logits.
    bool has_head() const { return !hp_.traits->embedding_only; }

    // Embeds T tokens at positions pos0.. and runs them through the CPU
    // blocks, writing their K/V into cache cells [cell0, cell0 + T) and
    // moving the recurrent blocks' state (hybrids: required then) past
    // them; the hidden states are left in ws.x (T x n_embd). With a layout,
    // the tokens are rows cell0 .. cell0 + T - 1 of its packed sequences
    // instead (embeddings: positions and visible cells from there; pos0
    // unused).
    void forward(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T, int32_t cell0,
                 int32_t pos0, RecurrentState* state = nullptr, const BatchLayout* layout = nullptr) const;
    // The KV cache has a layer for each attention block on the CPU only:
    // the cache layer of CPU block l (-1 for a recurrent block), their
    // count, and the block of each cache layer.
    int32_t kv_layer(int32_t l) const { return kv_layer_[(size_t)l]; }
    int32_t n_kv_layers() const { return (int32_t)kv_blocks_.size(); }
    int32_t kv_block(int32_t kv_layer) const { return kv_blocks_[(size_t)kv_layer]; }
    // The output norm and head over one hidden state (n_embd floats) into
    // `logits` (n_vocab floats). Requires head_on_cpu().
    void head(ThreadPool& pool, Workspace& ws, const float* hidden, float* logits) const;
    // The RoPE of a layer in a session of n_ctx cells: LongRoPE's long
    // factors when n_ctx exceeds rope.scaling.original_context_length, its
    // short ones otherwise (as llama.cpp chooses by context size).
    RopeParams rope_of(int32_t layer, int32_t n_ctx) const;

    // pooling.cpp: the last blocks' hidden states of packed sequences
    // (n_tokens x n_embd, as forward leaves them) to embeddings: the final
    // norm (decoders), `pooling`, then the classifier head (Rank) or the
    // dense projections; pooled_size() floats into `out`.
    void pool(ThreadPool& pool, Workspace& ws, const float* hidden, const int32_t* seq_lens, int32_t n_seqs,
              Pooling pooling, float* out) const;
    // Floats pool() writes: n_tokens x n_embd for None, n_seqs x n_cls_out
    // for Rank, n_seqs x n_embd otherwise. Throws if the model cannot pool
    // that way (Rank without a classifier head).
    int64_t pooled_size(Pooling pooling, int64_t n_tokens, int32_t n_seqs) const;
    // Which classifier weights the file has: 1 cls.weight, 2 cls.output.weight.
    int32_t cls_head_bits() const { return (embd_.cls ? 1 : 0) | (embd_.cls_out ? 2 : 0); }

private:
    Model() = default;
    void init(const TensorLocator& locate, int32_t n_cpu_layers);
    const Tensor* tensor(const std::string& name, std::initializer_list<int64_t> shape, bool required = true);
    // Rows [row0, row0 + n_rows) of a matrix, sharing its bytes.
    const Tensor* rows_view(const Tensor* whole, int64_t row0, int64_t n_rows, const std::string& name);
    // A norm or bias vector as floats; empty when the CPU does not use it
    // (an offloaded block: then only checked) or when optional and absent.
    std::vector<float> vector_f32(const std::string& name, int64_t n, bool required = true);
    void load_block(int32_t l);
    void load_ffn(int32_t l);
    // model_hybrid.cpp: a recurrent block's mixer weights, and its forward
    // from the normed input ws.xb to the mixer's output ws.xb2.
    void load_recurrent_mixer(int32_t l);
    void recurrent_mixer(ThreadPool& pool, Workspace& ws, RecurrentState& state, int32_t l, int32_t T) const;
    // model_hybrid.cpp: the whole of a recurrent block (its mixer, then the
    // feed-forward, each added to the residual stream), leaving the next
    // block's normed input in ws.xb as an attention block does.
    void recurrent_block(ThreadPool& pool, Workspace& ws, RecurrentState* state, int32_t l, int32_t T) const;
    // Qwen 3.5's gated attention: token t's projected queries and gates
    // (ws.qg, interleaved per head) into ws.q and ws.gate; after attention,
    // ws.gate = ws.att * sigmoid(ws.gate).
    void split_query_gate(Workspace& ws, int64_t t) const;
    void gate_attention(ThreadPool& pool, Workspace& ws, int32_t T) const;
    // encoder.cpp: BERT's input weights and blocks, and its forward pass.
    void init_encoder();
    void load_encoder_block(int32_t l);
    void forward_encoder(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T,
                         int32_t cell0, const BatchLayout* layout) const;
    // pooling.cpp: the classifier head and dense projections, when present.
    void load_embedding_head();
    // model_gemma4.cpp: Gemma 4's model-wide weights (per-layer embeddings,
    // RoPE factors of the full blocks only), a block's weights, and its
    // forward pass.
    void init_gemma4();
    void load_gemma4_block(int32_t l);
    void forward_gemma4(ThreadPool& pool, KvCache& kv, Workspace& ws, const int32_t* tokens, int32_t T,
                        int32_t cell0, const BatchLayout* layout = nullptr) const;
    // Each token's per-layer inputs (ws.ple) from its embedding in ws.x.
    void gemma4_per_layer_inputs(ThreadPool& pool, Workspace& ws, const int32_t* tokens, int32_t T) const;

    uint8_t* owned_ = nullptr;  // freed with the model
    TensorLocator locate_;     // set while building
    int32_t n_cpu_layers_ = 0;
    bool vocab_only_ = false;
    GgufFile gguf_;
    Vocab vocab_;
    Hparams hp_;
    WeightLayout layout_;
    std::vector<std::unique_ptr<Tensor>> tensors_;
    std::vector<std::unique_ptr<std::vector<uint8_t>>> realigned_;  // copies of misaligned tensors
    std::vector<float> rope_freqs_;
    std::vector<float> rope_long_, rope_short_;  // (n_rot / 2): LongRoPE's factors, when the file has them
    uint64_t weight_bytes_ = 0;

    const Tensor* tok_embd_ = nullptr;  // (n_embd, n_vocab)
    // Gemma 4's per-layer embeddings (null without them).
    const Tensor* pl_tok_embd_ = nullptr;    // (n_layer * n_embd_per_layer, n_vocab)
    const Tensor* pl_model_proj_ = nullptr;  // (n_embd -> n_layer * n_embd_per_layer)
    std::vector<float> pl_proj_norm_;        // (n_embd_per_layer)
    std::vector<float> output_norm_;    // (n_embd)
    const Tensor* output_ = nullptr;    // (n_embd -> n_vocab); tok_embd_ when tied; null when offloaded
    std::vector<LayerWeights> layers_;  // the CPU blocks only
    std::vector<int32_t> kv_layer_;     // (n_cpu_layers) cache layer of each CPU block, -1: recurrent
    std::vector<int32_t> kv_blocks_;    // (cache layers) the CPU block of each
    std::vector<EncoderLayerWeights> enc_layers_;  // BERT's CPU blocks, instead of layers_
    EmbeddingWeights embd_;
};

}  // namespace hob
