// SentencePiece merges (tokenizer model "llama") as llama.cpp runs them:
// score-ordered bigram merges over the UTF-8 characters of a fragment whose
// spaces are already U+2581, with byte fallback. The rest of the tokenizer
// (loading, special tokens, pieces) is in vocab.cpp.
#include <algorithm>
#include <queue>

#include "unicode.h"
#include "vocab.h"

namespace hob {

// SentencePiece BPE as llama.cpp runs it: start from UTF-8 characters, merge
// the adjacent pair whose concatenation is the best-scoring token (leftmost
// on ties) until no pair is a token, then emit each symbol's token or, for a
// character outside the vocabulary, its bytes.
//
// llama.cpp also records every merge to "resegment" a final symbol that is
// not a token. Every merged symbol is a token by construction, so only
// unmerged characters ever reach that path, and they were never merged: the
// resegmentation can only fall through to the bytes, which is what we do.
void Vocab::tokenize_spm(const std::string& text, std::vector<int32_t>& out) const {
    struct Symbol {
        int32_t prev, next;
        uint32_t start, len;  // bytes of text; len 0 once merged into its left neighbour
    };
    struct Bigram {
        int32_t left, right;
        float score;
        uint32_t len;  // left.len + right.len when queued: stale if that changed
    };
    struct Lower {  // the queue's top is the best score, then the leftmost pair
        bool operator()(const Bigram& a, const Bigram& b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };
    HOB_CHECK(text.size() < UINT32_MAX, HOB_ERR_INVALID_ARGUMENT, "text too long to tokenize (4 GiB or more)");

    std::vector<Symbol> syms;
    syms.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t len = std::min(utf8_seq_len((uint8_t)text[off]), text.size() - off);
        const int32_t i = (int32_t)syms.size();
        syms.push_back({i - 1, off + len == text.size() ? -1 : i + 1, (uint32_t)off, (uint32_t)len});
        off += len;
    }
    if (syms.empty()) return;

    std::string key;  // reused so that lookups do not allocate
    const auto lookup = [&](uint32_t start, uint32_t len) -> int32_t {
        if (len > max_token_bytes_) return -1;
        key.assign(text, start, len);
        auto it = ids_.find(key);
        return it == ids_.end() ? -1 : it->second;
    };

    std::priority_queue<Bigram, std::vector<Bigram>, Lower> queue;
    const auto try_pair = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t len = syms[left].len + syms[right].len;
        const int32_t id = lookup(syms[left].start, len);
        if (id >= 0) queue.push({left, right, tokens_[id].score, len});
    };

    for (int32_t i = 1; i < (int32_t)syms.size(); i++) try_pair(i - 1, i);
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = syms[b.left];
        Symbol& r = syms[b.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = b.left;
        try_pair(l.prev, b.left);
        try_pair(b.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[i].next) {
        const int32_t id = lookup(syms[i].start, syms[i].len);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (uint32_t j = 0; j < syms[i].len; j++) out.push_back(byte_token((uint8_t)text[syms[i].start + j]));
    }
}

}  // namespace hob
