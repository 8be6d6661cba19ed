// Evaluation of a sequence in batches over the session's cache.
#include "session.h"

#include <algorithm>
#include <string>

namespace hob {

namespace {

// Tokens per forward pass: bounds the workspace, and so the memory a long
// prompt needs, at no cost to speed once matrices are this tall.
constexpr int32_t kBatch = 256;

// Checked before any member is built from the model's hyperparameters.
const Model& with_weights(const Model& model) {
    HOB_CHECK(!model.vocab_only(), HOB_ERR_VOCAB_ONLY,
              "this model was loaded as a vocabulary only (no weights): it can tokenize, not evaluate");
    return model;
}

}  // namespace

Session::Session(const Model& model, int32_t n_ctx, ThreadPool& pool, int32_t n_threads)
    : model_(with_weights(model)),
      kv_(model.n_kv_layers(), n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train, model.hparams().kv_dim()),
      rs_(model.hparams(), model.n_cpu_layers(), 0),
      pool_(pool),
      n_threads_(n_threads <= 0 || n_threads > pool.size() ? pool.size() : n_threads),
      logits_((size_t)model.hparams().n_vocab) {
    // A non-causal model sees a whole batch in one pass: room for all of it.
    const int32_t batch = model.hparams().causal ? std::min(kBatch, kv_.n_ctx()) : kv_.n_ctx();
    ws_.reserve(model.hparams(), batch, pool_.size());
}

template <typename F>
void Session::run_cpu_blocks(const int32_t* tokens, int32_t n, F&& each, const BatchLayout* layout, const float* embd) {
    HOB_CHECK(n > 0, HOB_ERR_INVALID_ARGUMENT, "eval needs at least one token");
    const int32_t n_vocab = model_.hparams().n_vocab;
    for (int32_t i = 0; i < n && !embd; i++) {
        HOB_CHECK(tokens[i] >= 0 && tokens[i] < n_vocab, HOB_ERR_OUT_OF_RANGE,
                  "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) + " out of range [0, " +
                      std::to_string(n_vocab) + ")");
    }
    const int32_t start = kv_.size();
    kv_.reserve(n, start);  // throws CONTEXT_FULL before anything is written
    has_logits_ = false;
    pool_.set_active(n_threads_);
    const int32_t batch = model_.hparams().causal ? kBatch : ws_.capacity;
    HOB_CHECK(model_.hparams().causal || n <= batch, HOB_ERR_CONTEXT_FULL,
              std::to_string(n) + " tokens of a non-causal model do not fit one pass of " + std::to_string(batch));
    try {
        for (int32_t i = 0; i < n; i += batch) {
            const int32_t T = std::min(batch, n - i);
            ws_.embd_rows = embd ? embd + (size_t)i * model_.hparams().n_embd : nullptr;
            model_.forward(pool_, kv_, ws_, tokens + i, T, start + i, start + i, &rs_, layout);
            ws_.embd_rows = nullptr;
            each(i, T);
        }
    } catch (...) {
        ws_.embd_rows = nullptr;
        kv_.truncate(start);  // the reserved cells were never committed
        // A recurrent state moved by part of the tokens cannot be taken
        // back: it becomes the state before any token, with the cache.
        if (model_.hparams().has_recurrent() && !rs_.empty()) {
            rs_.clear();
            kv_.truncate(0);
            rs_.forget_after(0);
        }
        throw;
    }
    kv_.commit(n);
}

void Session::eval(const int32_t* tokens, int32_t n) {
    HOB_CHECK(model_.has_head(), HOB_ERR_INVALID_ARGUMENT,
              "a " + model_.hparams().arch + " model computes embeddings, not next-token logits");
    HOB_CHECK(model_.n_cpu_layers() == model_.hparams().n_layer, HOB_ERR_INVALID_ARGUMENT,
              "eval needs every block on the CPU; " + std::to_string(model_.hparams().n_layer - model_.n_cpu_layers()) +
                  " are offloaded (use eval_hidden and run them there)");
    const int32_t E = model_.hparams().n_embd;
    run_cpu_blocks(tokens, n, [&](int32_t i, int32_t T) {
        if (i + T == n) model_.head(pool_, ws_, ws_.x.data() + (size_t)(T - 1) * E, logits_.data());
    });
    has_logits_ = true;
}

template <typename F>
void Session::run_embd(const float* embd, int32_t n, size_t count, bool non_causal, F&& each) {
    const int32_t E = model_.hparams().n_embd;
    HOB_CHECK(count == (size_t)n * (size_t)E, HOB_ERR_INVALID_ARGUMENT,
              std::to_string(count) + " floats are not " + std::to_string(n) + " rows of " + std::to_string(E));
    // forward() reads the rows, not the tokens; it still checks them, so
    // they are valid ids (0).
    const std::vector<int32_t> none((size_t)std::max(n, 0), 0);
    BatchLayout layout;
    if (non_causal) {
        HOB_CHECK(!model_.hparams().has_recurrent(), HOB_ERR_INVALID_ARGUMENT,
                  "a " + model_.hparams().arch + " model has recurrent blocks: its rows cannot attend both ways");
        // Every row sees every other: the batches of a causal evaluation
        // would hide the later rows from the earlier ones.
        HOB_CHECK(n > 0 && n <= ws_.capacity, HOB_ERR_INVALID_ARGUMENT,
                  std::to_string(n) + " rows attending both ways do not fit one pass of " + std::to_string(ws_.capacity) +
                      " (a context of " + std::to_string(kv_.n_ctx()) + ")");
        HOB_CHECK(kv_.size() + n <= kv_.n_ctx(), HOB_ERR_CONTEXT_FULL,
                  std::to_string(n) + " rows do not fit: " + std::to_string(kv_.size()) + " of " +
                      std::to_string(kv_.n_ctx()) + " context tokens are in use");
        layout = BatchLayout::image(model_.hparams(), kv_.size(), n);
    }
    run_cpu_blocks(none.data(), n, each, non_causal ? &layout : nullptr, embd);
}

void Session::eval_embd(const float* embd, int32_t n, size_t count, bool non_causal) {
    HOB_CHECK(model_.has_head() && model_.n_cpu_layers() == model_.hparams().n_layer, HOB_ERR_INVALID_ARGUMENT,
              "embedding rows need a generative model with every block on the CPU (use eval_embd_hidden)");
    const int32_t E = model_.hparams().n_embd;
    run_embd(embd, n, count, non_causal, [&](int32_t i, int32_t T) {
        if (i + T == n) model_.head(pool_, ws_, ws_.x.data() + (size_t)(T - 1) * E, logits_.data());
    });
    has_logits_ = true;
}

void Session::eval_embd_hidden(const float* embd, int32_t n, size_t count, bool non_causal, float* hidden) {
    const Hparams& hp = model_.hparams();
    HOB_CHECK(model_.has_head(), HOB_ERR_INVALID_ARGUMENT, "embedding rows need a generative model");
    // Per-layer inputs come from token ids, which image rows do not have.
    HOB_CHECK(hp.n_embd_per_layer == 0, HOB_ERR_INVALID_ARGUMENT,
              "a " + hp.arch + " model's offloaded blocks take per-layer inputs, which embedding rows do not give");
    const size_t E = (size_t)hp.n_embd;
    run_embd(embd, n, count, non_causal, [&](int32_t i, int32_t T) {
        std::copy(ws_.x.begin(), ws_.x.begin() + (ptrdiff_t)(T * E), hidden + (size_t)i * E);
    });
}

void Session::eval_hidden(const int32_t* tokens, int32_t n, float* hidden, float* per_layer) {
    const Hparams& hp = model_.hparams();
    const size_t E = (size_t)hp.n_embd, P = (size_t)hp.n_embd_per_layer, NL = (size_t)hp.n_layer;
    const size_t first = (size_t)model_.n_cpu_layers();
    HOB_CHECK(!per_layer || P > 0, HOB_ERR_INVALID_ARGUMENT, "a " + hp.arch + " model has no per-layer inputs");
    run_cpu_blocks(tokens, n, [&](int32_t i, int32_t T) {
        std::copy(ws_.x.begin(), ws_.x.begin() + (ptrdiff_t)(T * E), hidden + (size_t)i * E);
        if (!per_layer) return;
        // ws_.ple holds each token's values of every block; the offloaded
        // blocks take theirs block by block.
        for (size_t l = first; l < NL; l++) {
            float* dst = per_layer + (l - first) * (size_t)n * P + (size_t)i * P;
            for (int32_t t = 0; t < T; t++) {
                const float* src = ws_.ple.data() + (size_t)t * NL * P + l * P;
                std::copy(src, src + P, dst + (size_t)t * P);
            }
        }
    });
}

void Session::eval_packed(const int32_t* tokens, const int32_t* seq_lens, int32_t n_seqs, float* hidden) {
    const BatchLayout layout = BatchLayout::pack(model_.hparams(), seq_lens, n_seqs);
    const int32_t n = layout.n_tokens();
    HOB_CHECK(n <= kv_.n_ctx(), HOB_ERR_CONTEXT_FULL,
              "a batch of " + std::to_string(n) + " tokens does not fit the context of " + std::to_string(kv_.n_ctx()));
    // Packed sequences start at cell 0: whatever the cache held is gone.
    kv_.clear();
    has_logits_ = false;
    const size_t E = (size_t)model_.hparams().n_embd;
    run_cpu_blocks(
        tokens, n,
        [&](int32_t i, int32_t T) { std::copy(ws_.x.begin(), ws_.x.begin() + (ptrdiff_t)(T * E), hidden + (size_t)i * E); },
        &layout);
}

void Session::pool(const float* hidden, const int32_t* seq_lens, int32_t n_seqs, Pooling pooling, float* out) {
    pool_.set_active(n_threads_);
    model_.pool(pool_, ws_, hidden, seq_lens, n_seqs, pooling, out);
}

void Session::head(const float* hidden) {
    pool_.set_active(n_threads_);
    model_.head(pool_, ws_, hidden, logits_.data());
    has_logits_ = true;
}

const std::vector<float>& Session::logits() const {
    HOB_CHECK(has_logits_, HOB_ERR_INVALID_ARGUMENT, "no logits: nothing has been evaluated since the last change");
    return logits_;
}

void Session::check_recurrent_erase(int32_t start, int32_t end) const {
    const Hparams& hp = model_.hparams();
    if (!hp.has_recurrent() || end == start) return;
    bool delta = false;
    for (Mixer m : hp.mixers) delta = delta || m == Mixer::DeltaNet;
    if (delta) {
        fail(HOB_ERR_INVALID_ARGUMENT, "cannot erase tokens [" + std::to_string(start) + ", " + std::to_string(end) +
                                           "): a DeltaNet state remembers every token (restore a checkpoint and re-evaluate)");
    }
    const int32_t need = hp.rec.conv_kernel - 1;
    if (kv_.size() - end < need) {
        fail(HOB_ERR_INVALID_ARGUMENT, "cannot erase tokens [" + std::to_string(start) + ", " + std::to_string(end) + ") of " +
                                           std::to_string(kv_.size()) + ": the convolution state holds the last " +
                                           std::to_string(need) + " tokens, which must stay");
    }
}

void Session::erase(int32_t start, int32_t end) {
    kv_.check_span(start, end);
    check_recurrent_erase(start, end);
    // Every state of a non-causal model depends on every token: none can be kept.
    HOB_CHECK(model_.hparams().causal || start == end, HOB_ERR_INVALID_ARGUMENT,
              "a non-causal model's cache cannot be shifted or edited");
    const int32_t n = end - start;
    if (n == 0) return;
    const int32_t moved = kv_.size() - end;
    kv_.erase(start, end);
    rs_.forget_after(start);  // later checkpoints include evicted tokens
    const Hparams& hp = model_.hparams();
    pool_.set_active(n_threads_);
    for (int32_t l = 0; l < kv_.n_layer(); l++) {
        // Sliding-window layers may rotate with their own base (Gemma 3);
        // keys of NoPE layers hold no position and stay as they are. The
        // cache has layers for attention blocks only: l is one of those
        // (Gemma 4's blocks that share an earlier block's cache have none:
        // shifting that block's keys shifts what they read).
        const int32_t block = model_.kv_block(l);
        if (!hp.has_rope(block)) continue;
        rope_shift_k(pool_, kv_, l, start, moved, hp.n_head_kv_of(block), hp.head_dim_of(block), -n,
                     model_.rope_of(block, kv_.n_ctx()));
    }
    // The logits belonged to a context that no longer exists.
    has_logits_ = false;
}

void Session::append_cells(const int32_t* pos, int32_t n) {
    kv_.append_cells(pos, n);
    if (n > 0) has_logits_ = false;  // they belonged to the last token before these
}

void Session::truncate(int32_t n_keep) {
    const int32_t before = kv_.size();
    if (model_.hparams().has_recurrent() && n_keep != 0 && n_keep < before) {
        fail(HOB_ERR_INVALID_ARGUMENT, "cannot keep " + std::to_string(n_keep) + " of " + std::to_string(before) +
                                           " tokens: a recurrent state cannot drop tokens (restore a checkpoint)");
    }
    kv_.truncate(n_keep);
    if (n_keep == 0) {
        rs_.clear();
        rs_.forget_after(0);
    }
    if (n_keep < before) has_logits_ = false;  // they belonged to a removed token
}

void Session::reserve_checkpoints(int32_t n) {
    HOB_CHECK(rs_.n_checkpoints() == 0 && kv_.size() == 0, HOB_ERR_INVALID_ARGUMENT,
              "checkpoint slots are reserved once, before anything is evaluated");
    HOB_CHECK(model_.hparams().has_recurrent() || n == 0, HOB_ERR_INVALID_ARGUMENT,
              "checkpoints hold a recurrent state, and this model has none");
    rs_ = RecurrentState(model_.hparams(), model_.n_cpu_layers(), n);
}

void Session::checkpoint_save(int32_t slot) { rs_.save(slot, kv_.size()); }

int32_t Session::checkpoint_restore(int32_t slot) {
    const int32_t n = rs_.restore(slot);
    HOB_CHECK(n <= kv_.size(), HOB_ERR_INTERNAL, "a checkpoint past the cache's end");
    kv_.truncate(n);
    rs_.forget_after(n);
    has_logits_ = false;
    return n;
}

}  // namespace hob
