// A session: one sequence evaluated against a model, with its KV cache
// (allocated once, here), activation workspace and the logits of the last
// evaluated token. Threads come from a pool shared across sessions.
#pragma once

#include <cstdint>
#include <vector>

#include "kv_cache.h"
#include "model.h"
#include "recurrent_state.h"
#include "threadpool.h"

namespace hob {

class Session {
public:
    // n_ctx <= 0 takes the model's training context. The pool is shared by
    // every session of an engine (threads are made once); this session uses
    // n_threads of it (<= 0 or more than it has: all).
    Session(const Model& model, int32_t n_ctx, ThreadPool& pool, int32_t n_threads);

    const Model& model() const { return model_; }
    int32_t n_ctx() const { return kv_.n_ctx(); }
    int32_t n_past() const { return kv_.size(); }
    int32_t n_threads() const { return n_threads_; }
    const KvCache& kv() const { return kv_; }
    const RecurrentState& recurrent() const { return rs_; }

    // Appends tokens at the end of the sequence and computes the logits of
    // the last. Nothing changes if they do not fit (CONTEXT_FULL). Needs
    // every block on the CPU.
    void eval(const int32_t* tokens, int32_t n);
    // eval() for n rows of input embeddings (n x n_embd floats, count in
    // all: an image's rows from its projector) in place of tokens'
    // embeddings, at the next n positions. non_causal: the rows attend to
    // one another both ways (Gemma 3's images), so they run in one pass and
    // must fit one (the workspace's batch); not for recurrent models.
    void eval_embd(const float* embd, int32_t n, size_t count, bool non_causal = false);
    // eval_embd through the CPU blocks only, for a model with offloaded
    // blocks: as eval_hidden, the rows' hidden states (n x n_embd floats) go
    // to `hidden` for the offloaded blocks to run on the same cells (with
    // the same both-ways window when non_causal). No per-layer inputs.
    void eval_embd_hidden(const float* embd, int32_t n, size_t count, bool non_causal, float* hidden);
    // Appends tokens and runs them through the embedding and the CPU blocks
    // only, copying their hidden states (n x n_embd floats) to `hidden`: the
    // input of the offloaded blocks, which the caller runs on the same cells
    // (positions n_past .. n_past + n - 1 before the call). No logits until
    // head() (an offloaded head keeps its logits on its device).
    // With per_layer (Gemma 4), also the offloaded blocks' per-layer
    // inputs: block by block, each n x n_embd_per_layer floats.
    void eval_hidden(const int32_t* tokens, int32_t n, float* hidden, float* per_layer = nullptr);
    // The output norm and head on the CPU over one hidden state (n_embd
    // floats) coming back from the offloaded blocks.
    void head(const float* hidden);
    // Embeddings: empties the cache, then runs n_seqs sequences of
    // seq_lens[i] tokens, packed back to back, through the embedding and
    // the CPU blocks (each token sees only its own sequence), copying the
    // hidden states (n x n_embd floats) to `hidden`. Offloaded blocks run on
    // the same cells with the layout BatchLayout::pack gives. Non-causal
    // models take the whole batch at once, so it must fit n_ctx tokens.
    void eval_packed(const int32_t* tokens, const int32_t* seq_lens, int32_t n_seqs, float* hidden);
    // The last blocks' hidden states of such a batch to embeddings
    // (Model::pool).
    void pool(const float* hidden, const int32_t* seq_lens, int32_t n_seqs, Pooling pooling, float* out);
    // Logits of the last evaluated token; throws if there is none.
    const std::vector<float>& logits() const;
    // A hybrid model's recurrent state cannot drop tokens from its end:
    // it truncates only to n_past or to 0 (restore a checkpoint otherwise).
    void truncate(int32_t n_keep);
    // Evicts tokens [start, end): the tokens after them keep their cache
    // entries, move down and have their keys re-rotated to their new
    // positions, all in the buffers allocated at creation. A bad range
    // throws and changes nothing. Hybrids: LFM2's convolution state holds
    // only the last conv_kernel - 1 tokens' inputs, so it survives an
    // erase that keeps at least those after the span (and is refused
    // otherwise); a DeltaNet state remembers every token, so Qwen 3.5
    // refuses every erase (re-evaluate from a checkpoint instead).
    void erase(int32_t start, int32_t end);
    // Throws what erase(start, end) would refuse for the recurrent state.
    void check_recurrent_erase(int32_t start, int32_t end) const;

    // Checkpoints of the recurrent state (hybrids). n slots are allocated
    // once, before anything is evaluated; a slot saves the state at n_past,
    // and restoring it puts the state back and truncates the cache to that
    // n_past (the KV entries before it are still those of the same tokens).
    void reserve_checkpoints(int32_t n);
    void checkpoint_save(int32_t slot);
    int32_t checkpoint_restore(int32_t slot);

    // Saving and restoring the cache (KvCache::read_rows, write_rows,
    // append_cells): appended cells have no logits until the next eval.
    void read_kv(int32_t layer, int32_t cell0, int32_t n, uint16_t* k, uint16_t* v) const {
        kv_.read_rows(layer, cell0, n, k, v);
    }
    void write_kv(int32_t layer, int32_t cell0, int32_t n, const uint16_t* k, const uint16_t* v) {
        kv_.write_rows(layer, cell0, n, k, v);
    }
    void append_cells(const int32_t* pos, int32_t n);

private:
    // Reserves n cells, runs the CPU blocks over them batch by batch and
    // calls each(batch_start, T) after each batch; commits on success and
    // leaves the cache as it was on failure.
    // With embd, its rows (n x n_embd) are the input and tokens are unused.
    template <typename F>
    void run_cpu_blocks(const int32_t* tokens, int32_t n, F&& each, const BatchLayout* layout = nullptr,
                        const float* embd = nullptr);
    // The rows of eval_embd through the CPU blocks (in one pass when
    // non_causal, with the image's both-ways window), `each` as above.
    template <typename F>
    void run_embd(const float* embd, int32_t n, size_t count, bool non_causal, F&& each);

    const Model& model_;
    KvCache kv_;
    RecurrentState rs_;
    ThreadPool& pool_;
    int32_t n_threads_;
    Workspace ws_;
    std::vector<float> logits_;
    bool has_logits_ = false;
};

}  // namespace hob
