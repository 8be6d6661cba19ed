// The tokenizer: vocabulary, special tokens and the text <-> id mapping
// built from a GGUF's tokenizer.ggml.* metadata, for SentencePiece (`llama`,
// vocab_spm.cpp), byte-level BPE (`gpt2`, vocab_bpe.cpp) and WordPiece
// (`bert`, vocab_wpm.cpp) models, with llama.cpp's exact behaviour. Unigram
// and the rest are refused with UNSUPPORTED_ARCH naming the tokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "gguf.h"
#include "unicode_regex.h"

namespace hob {

// Token attributes, as llama.cpp's token types number them in GGUF.
enum class TokenType : int32_t {
    UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

class Vocab {
public:
    enum class Kind { SPM, BPE, WPM };

    // Reads tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,
    // *_token_id,add_bos_token,add_eos_token,add_space_prefix}. Throws
    // hob::Error.
    static Vocab load(const GgufFile& gguf);

    Kind kind() const { return kind_; }
    // The BPE pre-tokenizer (tokenizer.ggml.pre, "default" when absent); ""
    // for SentencePiece.
    const std::string& pre() const { return pre_; }
    // Every tokenizer.ggml.pre name this build tokenizes, sorted.
    static std::vector<std::string> bpe_pre_names();

    int32_t n_tokens() const { return (int32_t)tokens_.size(); }
    int32_t bos() const { return bos_; }  // -1 if none
    int32_t eos() const { return eos_; }  // -1 if none
    int32_t sep() const { return sep_; }  // -1 if none (WordPiece ends every sequence with it)
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    // llama.cpp's add_sep: a pair of texts (a reranker's query and document)
    // gets the separator between them. WordPiece's default.
    bool add_sep() const { return add_sep_; }
    // SentencePiece's leading "▁": text that starts a sequence gets a space
    // prepended when tokenized, which detokenizing the whole sequence drops.
    // WordPiece pieces that start a word carry one too. Always false for
    // BPE, which never adds one.
    bool add_space_prefix() const { return kind_ == Kind::WPM || (kind_ == Kind::SPM && add_space_prefix_); }
    // End of generation: EOS, EOT, EOM, the FIM pad/repo/separator tokens
    // and every token whose text llama.cpp takes for an end of turn
    // ("<|end|>", "<|im_end|>", ...). False for ids outside the vocabulary.
    bool is_eog(int32_t id) const;
    // The type the GGUF gives the token. This, text and token_to_piece throw
    // OUT_OF_RANGE for an id outside the vocabulary.
    TokenType type(int32_t id) const;
    const std::string& text(int32_t id) const;

    // add_special: prepend BOS / append EOS as the metadata asks (WordPiece:
    // always its BOS, [CLS], and its separator, [SEP], as llama.cpp does).
    // parse_special: the text of control and unknown tokens ("<s>") maps to
    // their ids; without it that text is tokenized as plain text.
    // User-defined tokens map to their ids either way, as in llama.cpp.
    std::vector<int32_t> tokenize(const std::string& utf8, bool add_special, bool parse_special) const;

    // The bytes this token stands for (may be part of a UTF-8 sequence):
    // SentencePiece's ▁ becomes a space, BPE's byte alphabet the bytes.
    // Control and unknown tokens give "" unless render_special; user-defined
    // tokens give their text, unused ones "".
    std::string token_to_piece(int32_t id, bool render_special) const;

private:
    // llama.cpp's token attributes: a bit set derived from the GGUF token
    // type, then amended by token text (EOG and FIM tokens become control,
    // phi-3's special tokens strip the whitespace after them).
    enum Attr : uint32_t {
        ATTR_UNKNOWN = 1u << 0, ATTR_UNUSED = 1u << 1, ATTR_NORMAL = 1u << 2, ATTR_CONTROL = 1u << 3,
        ATTR_USER_DEFINED = 1u << 4, ATTR_BYTE = 1u << 5, ATTR_LSTRIP = 1u << 7, ATTR_RSTRIP = 1u << 8,
    };

    struct Token {
        std::string text;
        float score = 0;
        TokenType type = TokenType::NORMAL;  // as the GGUF says
        uint32_t attr = ATTR_NORMAL;         // as llama.cpp derives it
    };

    // A span of the input: raw text [offset, offset + length), or a special
    // token matched in it (token >= 0).
    struct Fragment {
        int32_t token;
        size_t offset, length;
    };

    void derive_attributes(const GgufFile& gguf, int32_t fim_ids[6]);
    std::vector<Fragment> partition_special(const std::string& text, bool parse_special) const;
    void tokenize_spm(const std::string& text, std::vector<int32_t>& out) const;
    int32_t byte_token(uint8_t b) const;
    const Token& at(int32_t id) const;

    // vocab_bpe.cpp
    void load_bpe(const GgufFile& gguf);
    void tokenize_bpe(const std::string& text, std::vector<int32_t>& out) const;
    void merge_bpe_word(const std::string& word, std::vector<int32_t>& out) const;
    int32_t merge_rank(const std::string& key) const;
    std::string bpe_piece(const std::string& text) const;
    static std::string escape_spaces(const std::string& text);

    // vocab_wpm.cpp
    void load_wpm(const GgufFile& gguf);
    std::vector<std::string> wpm_words(const std::string& text) const;
    void tokenize_wpm(const std::string& text, std::vector<int32_t>& out) const;

    Kind kind_ = Kind::SPM;
    std::string model_, pre_;
    std::vector<Regex> pre_regexes_;  // applied in order, each splitting the pieces of the last
    bool ignore_merges_ = false;      // a pre-tokenized word that is a token stays whole
    // Gemma 4's BPE ("gemma4"): SentencePiece-style, spaces written as ▁, merges
    // over raw UTF-8 characters, <0xHH> tokens for bytes that are no token.
    bool spm_bpe_ = false;
    std::unordered_map<std::string, int32_t> merge_ranks_;  // "left right" -> rank (line of merges)
    std::vector<Token> tokens_;
    std::unordered_map<std::string, int32_t> ids_;
    std::vector<int32_t> special_ids_;  // control, user-defined and unknown; longest text first
    std::vector<int32_t> eog_ids_;      // sorted
    std::array<int32_t, 256> byte_ids_{};  // <0xHH> token (or the one-byte token) of each byte; -1 if none
    size_t max_token_bytes_ = 0;
    int32_t bos_ = -1, eos_ = -1, unk_ = -1, eot_ = -1, eom_ = -1, sep_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_sep_ = false, add_space_prefix_ = true;
    // WordPiece: BertNormalizer's options and a byte trie of the token texts
    // (edges keyed node << 8 | byte; the token a node spells, or -1).
    bool wpm_lowercase_ = true, wpm_strip_accents_ = true;
    struct {
        std::unordered_map<uint64_t, int32_t> edges;
        std::vector<int32_t> token;
    } wpm_trie_;
};

}  // namespace hob
