// WordPiece (tokenizer model "bert") as llama.cpp runs it: BERT's basic
// normalizer cuts the text into words, then each word, behind the phantom
// space U+2581 the converter gave every word-initial piece, is covered by
// greedy longest matches; a word with any position no token matches becomes
// the unknown token. Loading, special tokens and pieces are in vocab.cpp.
#include "unicode.h"
#include "vocab.h"

namespace hob {

namespace {

// U+2581, the converter's mark of a piece that starts a word ("▁hello"; a
// continuation "##lo" is stored as "lo").
const char* const kPhantomSpace = "\xe2\x96\x81";

uint64_t edge_key(int32_t node, uint8_t byte) { return (uint64_t)(uint32_t)node << 8 | byte; }

}  // namespace

void Vocab::load_wpm(const GgufFile& g) {
    // BertNormalizer's options; accents are stripped when lower-casing
    // unless the file says otherwise (llama.cpp's defaults).
    wpm_lowercase_ = g.get_bool("tokenizer.ggml.normalizer.lowercase", true);
    wpm_strip_accents_ = g.get_bool("tokenizer.ggml.normalizer.strip_accents", wpm_lowercase_);
    // A byte trie of every token text: the longest token starting at a
    // position is one walk, however long the vocabulary's tokens are.
    wpm_trie_.edges.clear();
    wpm_trie_.token.assign(1, -1);
    for (int32_t id = 0; id < n_tokens(); id++) {
        int32_t node = 0;
        for (const char c : tokens_[(size_t)id].text) {
            const uint64_t key = edge_key(node, (uint8_t)c);
            auto it = wpm_trie_.edges.find(key);
            if (it == wpm_trie_.edges.end()) {
                it = wpm_trie_.edges.emplace(key, (int32_t)wpm_trie_.token.size()).first;
                wpm_trie_.token.push_back(-1);
            }
            node = it->second;
        }
        // Texts are unique (checked at load), so no node is claimed twice.
        wpm_trie_.token[(size_t)node] = id;
    }
}

// BERT's BasicTokenizer as llama.cpp's WordPiece preprocess has it: strip
// accents (first code point of the decomposition, marks dropped) and lower
// case as configured, drop NUL, U+FFFD and control characters, split at
// white space, and make every punctuation mark, ASCII symbol and Han
// ideograph a word of its own.
std::vector<std::string> Vocab::wpm_words(const std::string& text) const {
    std::vector<std::string> words(1);
    for (uint32_t cp : utf8_decode(text)) {
        if (wpm_strip_accents_) cp = unicode_nfd_first(cp);
        const uint8_t flags = unicode_flags(cp);
        if (flags & CP_WHITESPACE) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (flags & CP_CONTROL)) continue;
        if (wpm_strip_accents_ && (flags & CP_MARK)) continue;
        std::string s;
        utf8_append(s, wpm_lowercase_ ? unicode_lower(cp) : cp);
        if ((flags & CP_PUNCTUATION) || (cp < 0x7F && (flags & CP_SYMBOL)) || unicode_is_cjk(cp)) {
            if (!words.back().empty()) words.emplace_back();
            words.back() = std::move(s);
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

void Vocab::tokenize_wpm(const std::string& text, std::vector<int32_t>& out) const {
    // Trie steps are bounded by the text's length times the longest token
    // the file has; a vocabulary built to make that quadratic (tokens of
    // thousands of bytes) meets this budget instead of hanging the engine.
    const uint64_t budget = 64 * (uint64_t)text.size() + (1u << 20);
    uint64_t steps = 0;
    for (const std::string& word : wpm_words(text)) {
        const std::string w = kPhantomSpace + word;
        const size_t n = w.size();
        const size_t start = out.size();
        for (size_t i = 0; i < n;) {
            // The longest token that w[i ..] starts with.
            int32_t node = 0, best = -1;
            size_t best_end = i;
            for (size_t j = i; j < n; j++) {
                auto it = wpm_trie_.edges.find(edge_key(node, (uint8_t)w[j]));
                if (it == wpm_trie_.edges.end()) break;
                node = it->second;
                if (wpm_trie_.token[(size_t)node] >= 0) {
                    best = wpm_trie_.token[(size_t)node];
                    best_end = j + 1;
                }
                HOB_CHECK(++steps <= budget, HOB_ERR_INVALID_ARGUMENT,
                          "WordPiece matching of " + std::to_string(text.size()) +
                              " bytes exceeded its budget: the vocabulary's tokens are pathologically long");
            }
            if (best < 0) {
                // No token at i: the whole word is unknown.
                out.resize(start);
                break;
            }
            out.push_back(best);
            i = best_end;
        }
        if (out.size() == start) {
            HOB_CHECK(unk_ >= 0, HOB_ERR_MODEL_INVALID, "WordPiece needs an unknown token, and the vocabulary has none");
            out.push_back(unk_);
        }
    }
}

}  // namespace hob
