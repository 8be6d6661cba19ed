// Embeddings after the blocks: how packed sequences are laid out in one
// batch (positions, and the cells each token attends to), and how the last
// hidden states become embeddings as llama.cpp's build_pooling makes them:
// the final norm (decoders), then mean, first token, last token or every
// token, and for rerankers the classifier head (dense + tanh, then the
// scores; softmax over them for qwen3) or for EmbeddingGemma the dense
// projections. Normalization (L2, truncation) is the caller's.
#include <algorithm>
#include <cmath>

#include "model.h"

namespace hob {

BatchLayout BatchLayout::pack(const Hparams& hp, const int32_t* seq_lens, int32_t n_seqs) {
    HOB_CHECK(n_seqs > 0, HOB_ERR_INVALID_ARGUMENT, "a batch needs one sequence at least");
    int64_t total = 0;
    for (int32_t s = 0; s < n_seqs; s++) {
        HOB_CHECK(seq_lens[s] > 0, HOB_ERR_INVALID_ARGUMENT,
                  "sequence " + std::to_string(s) + " of the batch has " + std::to_string(seq_lens[s]) + " tokens");
        total += seq_lens[s];
        HOB_CHECK(total <= (1 << 24), HOB_ERR_INVALID_ARGUMENT, "a batch of more than 2^24 tokens");
    }
    BatchLayout b;
    for (auto* v : {&b.pos, &b.begin, &b.end, &b.begin_swa, &b.end_swa}) v->resize((size_t)total);
    // A sliding window of n positions: causal rows see the last n
    // (themselves included); EmbeddingGemma's two-sided window sees n / 2
    // either side.
    const int32_t w = hp.n_swa;
    const int32_t half = w / 2;
    int32_t start = 0;
    for (int32_t s = 0; s < n_seqs; s++) {
        const int32_t end = start + seq_lens[s];
        for (int32_t c = start; c < end; c++) {
            const size_t i = (size_t)c;
            b.pos[i] = c - start;
            b.begin[i] = start;
            b.end[i] = hp.causal ? c + 1 : end;
            if (w > 0 && hp.swa_symmetric) {
                b.begin_swa[i] = std::max(start, c - half);
                b.end_swa[i] = std::min(b.end[i], c + half + 1);
            } else if (w > 0) {
                b.begin_swa[i] = std::max(start, c - w + 1);
                b.end_swa[i] = b.end[i];
            } else {
                b.begin_swa[i] = b.begin[i];
                b.end_swa[i] = b.end[i];
            }
        }
        start = end;
    }
    return b;
}

BatchLayout BatchLayout::image(const Hparams& hp, int32_t start, int32_t n) {
    HOB_CHECK(start >= 0 && n > 0 && (int64_t)start + n <= (1 << 24), HOB_ERR_INVALID_ARGUMENT,
              "bad image rows: " + std::to_string(n) + " at " + std::to_string(start));
    const int32_t total = start + n;
    BatchLayout b;
    b.image_rows = true;
    for (auto* v : {&b.pos, &b.begin, &b.end, &b.begin_swa, &b.end_swa}) v->resize((size_t)total);
    const int32_t w = hp.n_swa;
    for (int32_t c = 0; c < total; c++) {
        const size_t i = (size_t)c;
        b.pos[i] = c;
        b.begin[i] = 0;
        b.end[i] = c < start ? c + 1 : total;
        // llama.cpp masks a cell p0 for a row at p1 when p1 - p0 >= n_swa
        // (symmetric windows: |p1 - p0| > n_swa / 2): a later cell of the
        // image is never too far back.
        if (w > 0 && hp.swa_symmetric) {
            b.begin_swa[i] = std::max(0, c - w / 2);
            b.end_swa[i] = std::min(b.end[i], c + w / 2 + 1);
        } else if (w > 0) {
            b.begin_swa[i] = std::max(0, c - w + 1);
            b.end_swa[i] = b.end[i];
        } else {
            b.begin_swa[i] = b.begin[i];
            b.end_swa[i] = b.end[i];
        }
    }
    return b;
}

void Model::load_embedding_head() {
    const Hparams& hp = hp_;
    const int64_t E = hp.n_embd;
    const GgufFile& g = gguf_;
    // The classifier: BERT-style rerankers have dense + tanh, then the
    // output layer; Qwen3-Reranker only the output layer (its yes/no rows).
    if (g.find_tensor("cls.weight")) {
        embd_.cls = tensor("cls.weight", {E, E});
        embd_.cls_b = vector_f32("cls.bias", E, false);
    }
    if (g.find_tensor("cls.output.weight")) {
        embd_.cls_out = tensor("cls.output.weight", {E, hp.n_cls_out});
        embd_.cls_out_b = vector_f32("cls.output.bias", hp.n_cls_out, false);
    }
    // EmbeddingGemma's sentence-transformers projections, E -> d -> E.
    if (const GgufTensorInfo* d2 = g.find_tensor("dense_2.weight")) {
        const int64_t d = d2->ne[1];
        HOB_CHECK(d > 0 && d <= (1 << 20), HOB_ERR_MODEL_INVALID, "tensor dense_2.weight has " + std::to_string(d) + " rows");
        embd_.dense2 = tensor("dense_2.weight", {E, d});
        embd_.dense3 = tensor("dense_3.weight", {d, E});
    }
}

int64_t Model::pooled_size(Pooling pooling, int64_t n_tokens, int32_t n_seqs) const {
    switch (pooling) {
        case Pooling::None: return n_tokens * hp_.n_embd;
        case Pooling::Rank:
            HOB_CHECK(embd_.cls || embd_.cls_out, HOB_ERR_INVALID_ARGUMENT,
                      "this model has no classifier head (cls.weight, cls.output.weight): it cannot rank");
            return (int64_t)n_seqs * (embd_.cls_out ? hp_.n_cls_out : hp_.n_embd);
        case Pooling::Mean:
        case Pooling::Cls:
        case Pooling::Last: return (int64_t)n_seqs * hp_.n_embd;
    }
    fail(HOB_ERR_INVALID_ARGUMENT, "unknown pooling type " + std::to_string((int)pooling));
}

void Model::pool(ThreadPool& pool, Workspace& ws, const float* hidden, const int32_t* seq_lens, int32_t n_seqs,
                 Pooling pooling, float* out) const {
    const Hparams& hp = hp_;
    const int32_t E = hp.n_embd;
    int64_t n_tokens = 0;
    for (int32_t s = 0; s < n_seqs; s++) {
        HOB_CHECK(seq_lens[s] > 0, HOB_ERR_INVALID_ARGUMENT, "sequence " + std::to_string(s) + " is empty");
        n_tokens += seq_lens[s];
    }
    pooled_size(pooling, n_tokens, n_seqs);  // refuses what this model cannot do
    HOB_CHECK(hp.traits->block == BlockKind::Bert || !output_norm_.empty(), HOB_ERR_INTERNAL, "the output norm is not loaded");
    // The hidden state the pooling reads: decoders end with their output
    // norm (llama.cpp pools result_norm); BERT's last block ends in a LayerNorm.
    std::vector<float> row((size_t)E);
    const auto final_row = [&](int64_t t, float* dst) {
        const float* h = hidden + (size_t)t * E;
        if (hp.traits->block == BlockKind::Bert) std::copy(h, h + E, dst);
        else rmsnorm(h, output_norm_.data(), dst, 1, E, hp.rms_eps);
    };
    // EmbeddingGemma projects every output vector E -> d -> E.
    std::vector<float> mid(embd_.dense2 ? (size_t)embd_.dense2->ne[1] : 0);
    const auto project = [&](float* v) {
        if (!embd_.dense2) return;
        matmul(pool, ws.scratch, *embd_.dense2, v, 1, mid.data());
        matmul(pool, ws.scratch, *embd_.dense3, mid.data(), 1, v);
    };

    int64_t t0 = 0;
    for (int32_t s = 0; s < n_seqs; t0 += seq_lens[s], s++) {
        const int32_t n = seq_lens[s];
        switch (pooling) {
            case Pooling::None:
                for (int32_t t = 0; t < n; t++) {
                    float* o = out + (size_t)(t0 + t) * E;
                    final_row(t0 + t, o);
                    project(o);
                }
                break;
            case Pooling::Mean: {
                // As llama.cpp's product with a column of 1/n: each state
                // scaled, then summed in order.
                float* o = out + (size_t)s * E;
                std::fill(o, o + E, 0.0f);
                const float inv = 1.0f / (float)n;
                for (int32_t t = 0; t < n; t++) {
                    final_row(t0 + t, row.data());
                    for (int32_t i = 0; i < E; i++) o[i] += row[(size_t)i] * inv;
                }
                project(o);
                break;
            }
            case Pooling::Cls:
            case Pooling::Last: {
                float* o = out + (size_t)s * E;
                final_row(pooling == Pooling::Cls ? t0 : t0 + n - 1, o);
                project(o);
                break;
            }
            case Pooling::Rank: {
                // The first token, or the last for Qwen 3 (whose reranker
                // answers yes or no after the prompt), through the head.
                const bool last = hp.arch == "qwen3";
                final_row(last ? t0 + n - 1 : t0, row.data());
                std::vector<float> h = row;
                if (embd_.cls) {
                    matmul(pool, ws.scratch, *embd_.cls, row.data(), 1, h.data());
                    if (!embd_.cls_b.empty()) add(h.data(), embd_.cls_b.data(), E);
                    for (float& v : h) v = std::tanh(v);
                }
                const int32_t n_out = embd_.cls_out ? hp.n_cls_out : E;
                float* o = out + (size_t)s * n_out;
                if (embd_.cls_out) {
                    matmul(pool, ws.scratch, *embd_.cls_out, h.data(), 1, o);
                    if (!embd_.cls_out_b.empty()) add(o, embd_.cls_out_b.data(), n_out);
                } else {
                    std::copy(h.begin(), h.end(), o);
                }
                if (last) {
                    // Qwen 3's scores are a softmax over its labels (yes, no).
                    float mx = o[0];
                    for (int32_t i = 1; i < n_out; i++) mx = std::max(mx, o[i]);
                    double sum = 0;
                    for (int32_t i = 0; i < n_out; i++) sum += o[i] = std::exp(o[i] - mx);
                    for (int32_t i = 0; i < n_out; i++) o[i] = (float)(o[i] / sum);
                }
                break;
            }
        }
    }
}

}  // namespace hob
