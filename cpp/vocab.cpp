// The tokenizer's shared half, with llama.cpp's exact behaviour: metadata
// loading and validation, token attributes and end-of-generation ids, the
// special-token partition, and pieces for detokenization. The merges live in
// vocab_spm.cpp (SentencePiece) and vocab_bpe.cpp (BPE), WordPiece's matching
// in vocab_wpm.cpp; other tokenizer models are refused at load.
#include "vocab.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace hob {

namespace {

const char* const kModelKey = "tokenizer.ggml.model";
const char* const kTokensKey = "tokenizer.ggml.tokens";
const char* const kScoresKey = "tokenizer.ggml.scores";
const char* const kTypesKey = "tokenizer.ggml.token_type";

// U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's stand-in for a space.
const char* const kSpaceMark = "\xe2\x96\x81";
// DeepSeek's "<｜end▁of▁sentence｜>", with fullwidth bars.
const char* const kFullwidthEos = "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>";

// Token texts that llama.cpp treats as end of generation whatever their
// type (llama-vocab.cpp keeps this list; it grows with new model families).
const char* const kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", kFullwidthEos, "[e~[",
};

// Message-safe rendering of untrusted text: quoted, control bytes escaped,
// cut after 40 bytes.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size() && i < 40; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += (char)c;
        }
    }
    if (s.size() > 40) out += "...";
    return out + "\"";
}

std::string describe(const GgufValue& v) {
    if (!v.is_array()) return gguf_type_name(v.type);
    return std::string("an array of ") + gguf_type_name(v.elem_type);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The byte of a "<0xHH>" token text, or -1 if the text has another shape.
int parse_byte_text(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// "<0xHH>", upper-case: the text of byte b's token.
std::string byte_text(int b) {
    static const char* hex = "0123456789ABCDEF";
    return std::string("<0x") + hex[(b >> 4) & 15] + hex[b & 15] + ">";
}

// isspace() in the C locale, which is what llama.cpp's strip flags test.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

[[noreturn]] void invalid(const std::string& key, const std::string& what) {
    fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " " + what);
}

}  // namespace

Vocab Vocab::load(const GgufFile& g) {
    Vocab v;

    if (!g.has(kModelKey)) invalid(kModelKey, "is missing");
    v.model_ = g.get_string(kModelKey, "");
    if (v.model_ == "llama") {
        v.kind_ = Kind::SPM;
    } else if (v.model_ == "gpt2") {
        v.kind_ = Kind::BPE;
    } else if (v.model_ == "bert") {
        v.kind_ = Kind::WPM;
    } else if (v.model_ == "gemma4") {
        v.kind_ = Kind::BPE;
        v.spm_bpe_ = true;
    } else {
        fail(HOB_ERR_UNSUPPORTED_ARCH, "tokenizer model " + quoted(v.model_) +
                                           " is not supported yet (only \"llama\", SentencePiece, \"gpt2\" and \"gemma4\", "
                                           "BPE, and \"bert\", WordPiece)");
    }

    // ---- token texts, scores and types --------------------------------------
    const GgufValue* texts = g.find(kTokensKey);
    if (!texts) invalid(kTokensKey, "is missing");
    if (!texts->is_array() || texts->elem_type != GgufType::STRING) {
        invalid(kTokensKey, "should be an array of string but is " + describe(*texts));
    }
    const size_t n = texts->strs.size();
    if (n == 0) invalid(kTokensKey, "is empty: the vocabulary has no tokens");
    if (n > (size_t)INT32_MAX) invalid(kTokensKey, "has too many tokens");

    // llama.cpp also takes int32 scores (converted to float).
    const GgufValue* scores = g.find(kScoresKey);
    if (scores && (!scores->is_array() ||
                   (scores->elem_type != GgufType::FLOAT32 && scores->elem_type != GgufType::INT32))) {
        invalid(kScoresKey, "should be an array of float32 but is " + describe(*scores));
    }
    const GgufValue* types = g.find(kTypesKey);
    if (types && (!types->is_array() || types->elem_type != GgufType::INT32)) {
        invalid(kTypesKey, "should be an array of int32 but is " + describe(*types));
    }
    for (const GgufValue* a : {scores, types}) {
        if (a && a->count != n) {
            invalid(a == scores ? kScoresKey : kTypesKey, "has " + std::to_string(a->count) + " elements but " +
                                                              kTokensKey + " has " + std::to_string(n));
        }
    }

    v.tokens_.resize(n);
    v.ids_.reserve(n);
    for (size_t i = 0; i < n; i++) {
        Token& t = v.tokens_[i];
        const std::string at_i = "[" + std::to_string(i) + "]";
        t.text = texts->strs[i];
        // An empty text could never be matched; llama.cpp renames it.
        if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]";
        if (scores) {
            t.score = (float)scores->array_number(i);
            if (std::isnan(t.score)) invalid(kScoresKey + at_i, "is nan");
        }
        if (types) {
            const double ty = types->array_number(i);
            t.type = ty >= 0 && ty <= 6 ? (TokenType)(int32_t)ty : TokenType::UNDEFINED;
            switch (t.type) {
                case TokenType::NORMAL: t.attr = ATTR_NORMAL; break;
                case TokenType::UNKNOWN: t.attr = ATTR_UNKNOWN; break;
                case TokenType::CONTROL: t.attr = ATTR_CONTROL; break;
                case TokenType::USER_DEFINED: t.attr = ATTR_USER_DEFINED; break;
                case TokenType::UNUSED: t.attr = ATTR_UNUSED; break;
                case TokenType::BYTE: t.attr = ATTR_BYTE; break;
                case TokenType::UNDEFINED: t.attr = 0; break;
            }
        }
        // A byte token's text is parsed on every detokenization: its shape
        // is checked once here (malformed ones like "<0x-1>" broke loaders).
        if (t.type == TokenType::BYTE && parse_byte_text(t.text) < 0) {
            invalid(kTokensKey + at_i, "is a byte token but its text " + quoted(t.text) + " is not <0xHH>");
        }
        const auto ins = v.ids_.emplace(t.text, (int32_t)i);
        if (!ins.second) {
            invalid(kTokensKey + at_i, quoted(t.text) + " repeats token " + std::to_string(ins.first->second));
        }
        v.max_token_bytes_ = std::max(v.max_token_bytes_, t.text.size());
    }

    // The pre-tokenizer and merges; they set BPE's default add_bos.
    if (v.kind_ == Kind::BPE) v.load_bpe(g);
    if (v.kind_ == Kind::WPM) v.load_wpm(g);

    // ---- special token ids ----------------------------------------------------
    // llama.cpp's defaults (SPM: <unk> <s> </s> = 0 1 2; BPE: 11 for both
    // BOS and EOS, GPT-2's habit; WordPiece: BERT's [CLS] 101 as BOS, [SEP]
    // 102, [UNK] 100, [PAD] 0, [MASK] 103 and no EOS), dropped when the
    // vocabulary is too small for them. An id given in the metadata must be a token; llama.cpp only
    // warns and keeps the default, we refuse the file.
    int32_t pad = -1, mask = -1;
    int32_t fim[6] = {-1, -1, -1, -1, -1, -1};  // pre, suf, mid, pad, rep, sep
    if (v.kind_ == Kind::SPM) {
        v.bos_ = 1;
        v.eos_ = 2;
        v.unk_ = 0;
        v.add_bos_ = true;
    } else if (v.kind_ == Kind::WPM) {
        v.bos_ = 101;
        v.unk_ = 100;
        v.sep_ = 102;
        pad = 0;
        mask = 103;
        v.add_bos_ = true;
    } else {
        v.bos_ = v.eos_ = 11;
        v.unk_ = -1;
        // ChatGLM's BPE has no BOS at all; Gemma 4's ids all come from the metadata.
        if (v.pre_ == "chatglm-bpe" || v.pre_ == "glm4") v.bos_ = -1;
        if (v.spm_bpe_) v.bos_ = v.eos_ = -1;
    }
    const std::pair<const char*, int32_t*> id_keys[] = {
        {"tokenizer.ggml.bos_token_id", &v.bos_},        {"tokenizer.ggml.eos_token_id", &v.eos_},
        {"tokenizer.ggml.eot_token_id", &v.eot_},        {"tokenizer.ggml.eom_token_id", &v.eom_},
        {"tokenizer.ggml.unknown_token_id", &v.unk_},    {"tokenizer.ggml.seperator_token_id", &v.sep_},
        {"tokenizer.ggml.padding_token_id", &pad},       {"tokenizer.ggml.mask_token_id", &mask},
        {"tokenizer.ggml.fim_pre_token_id", &fim[0]},    {"tokenizer.ggml.fim_suf_token_id", &fim[1]},
        {"tokenizer.ggml.fim_mid_token_id", &fim[2]},    {"tokenizer.ggml.fim_pad_token_id", &fim[3]},
        {"tokenizer.ggml.fim_rep_token_id", &fim[4]},    {"tokenizer.ggml.fim_sep_token_id", &fim[5]},
        // Deprecated names, read last so they win, as in llama.cpp.
        {"tokenizer.ggml.prefix_token_id", &fim[0]},     {"tokenizer.ggml.suffix_token_id", &fim[1]},
        {"tokenizer.ggml.middle_token_id", &fim[2]},
    };
    for (const auto& k : id_keys) {
        int32_t& id = *k.second;
        if (id >= (int64_t)n) id = -1;
        if (!g.has(k.first)) continue;
        const int64_t given = g.get_int(k.first, -1);
        if (given < 0 || given >= (int64_t)n) {
            invalid(k.first, "is " + std::to_string(given) + ", outside the vocabulary of " + std::to_string(n) + " tokens");
        }
        id = (int32_t)given;
    }

    v.add_bos_ = g.get_bool("tokenizer.ggml.add_bos_token", v.add_bos_);
    // llama.cpp adds BOS for Gemma 4 whatever the file says (its files said false).
    if (v.spm_bpe_) v.add_bos_ = true;
    v.add_eos_ = g.get_bool("tokenizer.ggml.add_eos_token", false);
    v.add_sep_ = g.get_bool("tokenizer.ggml.add_sep_token", v.kind_ == Kind::WPM);
    v.add_space_prefix_ = g.get_bool("tokenizer.ggml.add_space_prefix", true);

    v.derive_attributes(g, fim);

    // ---- byte fallback -------------------------------------------------------
    // "<0xHH>" by text, whatever its type, else the one-byte token itself
    // (llama.cpp looks that up as a C string, so byte 0 has none).
    for (int b = 0; b < 256; b++) {
        auto it = v.ids_.find(byte_text(b));
        if (it == v.ids_.end() && b != 0) it = v.ids_.find(std::string(1, (char)b));
        v.byte_ids_[b] = it == v.ids_.end() ? -1 : it->second;
    }
    return v;
}

// llama.cpp amends token attributes by text, for converters that did not
// mark end-of-generation and fill-in-the-middle tokens as control. Where
// several texts qualify for one role, llama.cpp takes whichever its hash map
// yields first; we take the lowest id.
void Vocab::derive_attributes(const GgufFile& g, int32_t fim[6]) {
    const auto id_of = [&](const char* text) {
        auto it = ids_.find(text);
        return it == ids_.end() ? -1 : it->second;
    };
    const auto detect = [&](int32_t& id, std::initializer_list<const char*> candidates) {
        if (id >= 0) return;
        for (const char* c : candidates) {
            const int32_t t = id_of(c);
            if (t >= 0 && (id < 0 || t < id)) id = t;
        }
        if (id >= 0) tokens_[id].attr |= ATTR_CONTROL;
    };
    detect(eot_, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                  "<EOT>", "_<EOT>", "[EOT]", kFullwidthEos, "<end_of_utterance>"});
    detect(eom_, {"<|eom_id|>"});
    detect(fim[0], {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
                    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"});
    detect(fim[1], {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
                    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"});
    detect(fim[2], {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
                    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"});
    detect(fim[3], {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
    detect(fim[4], {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
    detect(fim[5], {"<|file_sep|>"});

    // End of generation: the FIM pad/repo/separator tokens, every token with
    // an end-of-generation text (made control), EOS, EOT and EOM.
    std::vector<int32_t> eog = {fim[3], fim[4], fim[5], eos_, eot_, eom_};
    for (const char* text : kEogTexts) {
        const int32_t id = id_of(text);
        if (id < 0) continue;
        eog.push_back(id);
        tokens_[id].attr |= ATTR_CONTROL;
    }
    eog.erase(std::remove(eog.begin(), eog.end(), -1), eog.end());
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    const auto eog_with = [&](std::initializer_list<const char*> texts) {
        for (int32_t id : eog) {
            for (const char* t : texts) if (tokens_[id].text == t) return id;
        }
        return -1;
    };
    // gpt-oss and solar-open end a message with <|end|> without ending the
    // generation; gemma4 uses </s> inside tool calls.
    const int32_t end = eog_with({"<|end|>"});
    const bool has_call = eog_with({"<|call|>", "<|calls|>"}) >= 0;
    if (end >= 0 && has_call && (eog_with({"<|return|>"}) >= 0 || eog_with({"<|flush|>"}) >= 0)) {
        eog.erase(std::find(eog.begin(), eog.end(), end));
        tokens_[end].attr = ATTR_USER_DEFINED;
    }
    const int32_t s_close = eog_with({"</s>"});
    if (s_close >= 0 && eog_with({"<|tool_response>"}) >= 0) {
        eog.erase(std::find(eog.begin(), eog.end(), s_close));
        tokens_[s_close].attr = ATTR_NORMAL;
    }
    eog_ids_ = std::move(eog);

    // gpt-oss's channel markers are always rendered.
    for (const char* text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        const int32_t id = id_of(text);
        if (id >= 0) tokens_[id].attr = ATTR_USER_DEFINED;
    }

    // Tokens matched in raw text before the merges, longest first so that a
    // token containing another one wins.
    for (int32_t id = 0; id < n_tokens(); id++) {
        if (tokens_[id].attr & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) special_ids_.push_back(id);
    }
    std::stable_sort(special_ids_.begin(), special_ids_.end(), [&](int32_t a, int32_t b) {
        return tokens_[a].text.size() > tokens_[b].text.size();
    });

    // Phi-3 (recognised by general.name, as llama.cpp does) drops the
    // whitespace after its special tokens, except after <unk>, <s> and
    // <|endoftext|>.
    const GgufValue* name = g.find("general.name");
    std::string lname = name && name->type == GgufType::STRING ? name->str : "";
    for (char& c : lname) c = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    if (lname.find("phi-3") != std::string::npos || lname.find("phi3") != std::string::npos) {
        for (int32_t id : special_ids_) tokens_[id].attr |= ATTR_RSTRIP;
        const int32_t s = id_of("</s>");
        if (s >= 0) tokens_[s].attr |= ATTR_RSTRIP;
        for (const char* text : {"<unk>", "<s>", "<|endoftext|>"}) {
            const int32_t id = id_of(text);
            if (id >= 0) tokens_[id].attr &= ~(uint32_t)ATTR_RSTRIP;
        }
    }
}

const Vocab::Token& Vocab::at(int32_t id) const {
    if (id < 0 || id >= n_tokens()) {
        fail(HOB_ERR_OUT_OF_RANGE, "token id " + std::to_string(id) + " is out of range (vocabulary of " +
                                       std::to_string(n_tokens()) + " tokens)");
    }
    return tokens_[(size_t)id];
}

bool Vocab::is_eog(int32_t id) const { return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id); }

TokenType Vocab::type(int32_t id) const { return at(id).type; }

const std::string& Vocab::text(int32_t id) const { return at(id).text; }

int32_t Vocab::byte_token(uint8_t b) const {
    if (byte_ids_[b] >= 0) return byte_ids_[b];
    // llama.cpp throws here; the unknown token is the gentler answer.
    if (unk_ >= 0) return unk_;
    fail(HOB_ERR_MODEL_INVALID, "the vocabulary has neither the byte token " + byte_text(b) + " nor an unknown token");
}

// Splits the text at every occurrence of a special token, one token at a
// time in special_ids_ order, as llama.cpp's tokenizer_st_partition does.
// Control and unknown tokens are matched only when parse_special;
// user-defined tokens always are.
std::vector<Vocab::Fragment> Vocab::partition_special(const std::string& text, bool parse_special) const {
    std::vector<Fragment> frags, next;
    if (!text.empty()) frags.push_back({-1, 0, text.size()});
    for (int32_t id : special_ids_) {
        const Token& tok = tokens_[id];
        if (!parse_special && (tok.attr & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
        next.clear();
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t pos = f.offset;
            const size_t end = f.offset + f.length;
            const std::string_view window(text.data(), end);
            while (pos < end) {
                const size_t m = window.find(tok.text, pos);
                if (m == std::string_view::npos) break;
                size_t left_end = m;
                if (tok.attr & ATTR_LSTRIP) {
                    while (left_end > pos && is_space(text[left_end - 1])) left_end--;
                }
                if (left_end > pos) next.push_back({-1, pos, left_end - pos});
                next.push_back({id, 0, 0});
                pos = m + tok.text.size();
                if (tok.attr & ATTR_RSTRIP) {
                    while (pos < end && is_space(text[pos])) pos++;
                }
            }
            if (pos < end) next.push_back({-1, pos, end - pos});
        }
        frags.swap(next);
    }
    return frags;
}

std::vector<int32_t> Vocab::tokenize(const std::string& utf8, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    if (kind_ == Kind::WPM) {
        // WordPiece wraps every sequence in [CLS] ... [SEP] whatever the
        // add_* flags say, as llama.cpp does.
        if (add_special) {
            HOB_CHECK(bos_ >= 0 && sep_ >= 0, HOB_ERR_MODEL_INVALID,
                      "a WordPiece vocabulary needs a BOS ([CLS]) and a separator ([SEP]) token");
            out.push_back(bos_);
        }
        for (const Fragment& f : partition_special(utf8, parse_special)) {
            if (f.token >= 0) out.push_back(f.token);
            else tokenize_wpm(utf8.substr(f.offset, f.length), out);
        }
        if (add_special) out.push_back(sep_);
        return out;
    }
    if (add_special && add_bos_) {
        HOB_CHECK(bos_ >= 0, HOB_ERR_MODEL_INVALID, "the model asks for a BOS token but its vocabulary has none");
        out.push_back(bos_);
    }
    // SentencePiece: llama.cpp puts a space before the text and again before
    // the text after every special token (the "dummy prefix"), then writes
    // every space as U+2581. BPE takes each fragment as it is.
    bool prev_special = true;
    std::string escaped;
    for (const Fragment& f : partition_special(utf8, parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            prev_special = true;
            continue;
        }
        if (kind_ == Kind::BPE) {
            tokenize_bpe(utf8.substr(f.offset, f.length), out);
            continue;
        }
        escaped.clear();
        if (add_space_prefix_ && prev_special) escaped += kSpaceMark;
        for (size_t i = f.offset; i < f.offset + f.length; i++) {
            if (utf8[i] == ' ') escaped += kSpaceMark;
            else escaped += utf8[i];
        }
        tokenize_spm(escaped, out);
        prev_special = false;
    }
    if (add_special && add_eos_) {
        HOB_CHECK(eos_ >= 0, HOB_ERR_MODEL_INVALID, "the model asks for an EOS token but its vocabulary has none");
        out.push_back(eos_);
    }
    return out;
}

std::string Vocab::token_to_piece(int32_t id, bool render_special) const {
    const Token& t = at(id);
    if (t.attr & (ATTR_CONTROL | ATTR_UNKNOWN)) return render_special ? t.text : std::string();
    if (t.attr & ATTR_USER_DEFINED) return t.text;
    if ((t.attr & ATTR_NORMAL) && kind_ == Kind::BPE && !spm_bpe_) return bpe_piece(t.text);
    if (t.attr & ATTR_NORMAL) {
        std::string piece;
        piece.reserve(t.text.size());
        for (size_t i = 0; i < t.text.size(); i++) {
            if (t.text.compare(i, 3, kSpaceMark) == 0) {
                piece += ' ';
                i += 2;
            } else {
                piece += t.text[i];
            }
        }
        return piece;
    }
    if (t.attr & ATTR_BYTE) return std::string(1, (char)parse_byte_text(t.text));  // shape checked at load
    // Unused and undefined tokens render as nothing, as in llama.cpp.
    return std::string();
}

}  // namespace hob
