// The tokenizer: vocabulary, special tokens and the text <-> id mapping
// built from a GGUF's tokenizer.ggml.* metadata. SentencePiece (`llama`)
// models; BPE and WordPiece are refused with UNSUPPORTED_ARCH-style errors
// naming the tokenizer until they are implemented.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "gguf.h"

namespace hob {

// Token attributes, as llama.cpp's token types number them in GGUF.
enum class TokenType : int32_t {
    UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

class Vocab {
public:
    // Reads tokenizer.ggml.{model,tokens,scores,token_type,*_token_id,
    // add_bos_token,add_eos_token,add_space_prefix}. Throws hob::Error.
    static Vocab load(const GgufFile& gguf);

    int32_t n_tokens() const { return (int32_t)tokens_.size(); }
    int32_t bos() const { return bos_; }  // -1 if none
    int32_t eos() const { return eos_; }  // -1 if none
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    // End of generation: EOS, EOT and the like.
    bool is_eog(int32_t id) const;
    TokenType type(int32_t id) const;
    const std::string& text(int32_t id) const;

    // add_special: prepend BOS / append EOS as the metadata asks.
    // parse_special: text of control and user-defined tokens maps to their
    // ids; otherwise it is tokenized as plain text.
    std::vector<int32_t> tokenize(const std::string& utf8, bool add_special, bool parse_special) const;

    // The bytes this token stands for (may be part of a UTF-8 sequence).
    // Control tokens give "" unless render_special.
    std::string token_to_piece(int32_t id, bool render_special) const;

private:
    struct Token {
        std::string text;
        float score = 0;
        TokenType type = TokenType::NORMAL;
    };

    void tokenize_spm(const std::string& text, std::vector<int32_t>& out) const;
    int32_t byte_token(uint8_t b) const;

    std::string model_;
    std::vector<Token> tokens_;
    std::unordered_map<std::string, int32_t> ids_;
    std::vector<int32_t> special_ids_;  // control + user-defined, longest text first
    std::vector<int32_t> eog_ids_;
    int32_t bos_ = -1, eos_ = -1, unk_ = -1, eot_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = true;
};

}  // namespace hob
