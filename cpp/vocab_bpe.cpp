// Byte-level BPE (tokenizer model "gpt2") as llama.cpp runs it: the
// pre-tokenizer named by tokenizer.ggml.pre splits a fragment into words with
// its regular expressions, each word's UTF-8 bytes are written in GPT-2's
// byte alphabet, and the merges of tokenizer.ggml.merges apply in rank order.
// Gemma 4's BPE ("gemma4") is the same over raw UTF-8 with spaces as ▁.
// Loading, special tokens and the rest of the tokenizer are in vocab.cpp.
#include <algorithm>
#include <queue>

#include "unicode.h"
#include "vocab.h"

namespace hob {

namespace {

enum PreFlags : uint8_t {
    IGNORE_MERGES = 1 << 0,  // a word that is a token is kept whole (tiktoken-style vocabularies)
    ADD_BOS = 1 << 1,        // add_bos_token defaults to true
};

struct PreTokenizer {
    std::vector<std::string> names;  // tokenizer.ggml.pre values
    std::vector<std::string> regexes;
    uint8_t flags;
};

// The patterns are the tokenizers' own (their tokenizer.json), with the
// case-insensitive group (?i:...) spelt out, as llama.cpp does, because
// ECMAScript has none.
const std::string kContractions = R"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";
const std::string kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const std::string kLlama3 = "(" + kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen2 = "(" + kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Upper-then-lower and lower-only letter runs, with the classes written as
// lookaheads: a letter that is not a-z (resp. A-Z), so that a non-ASCII
// letter counts as both.
const std::string kUpperRun = R"(((?=[\p{L}])([^a-z])))";
const std::string kLowerRun = R"(((?=[\p{L}])([^A-Z])))";
const std::string kTekken = R"([^\r\n\p{L}\p{N}]?)" + kUpperRun + "*" + kLowerRun + R"(+|[^\r\n\p{L}\p{N}]?)" + kUpperRun +
                            "+" + kLowerRun + R"(*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kGpt4o = R"([^\r\n\p{L}\p{N}]?)" + kUpperRun + "*" + kLowerRun + "+(" + kContractions +
                           R"(?|[^\r\n\p{L}\p{N}]?)" + kUpperRun + "+" + kLowerRun + "*(" + kContractions +
                           R"(?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
const std::string kBloom = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";

const std::vector<PreTokenizer>& pre_tokenizers() {
    static const std::vector<PreTokenizer> table = {
        {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, 0},
        {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
         {kLlama3}, IGNORE_MERGES | ADD_BOS},
        {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {kLlama3}, 0},
        {{"deepseek-llm"},
         {"[\r\n]", "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+", "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$",
          kCjk, R"(\p{N}+)"},
         0},
        {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}, 0},
        {{"deepseek-v3", "hunyuan-dense", "joyai-llm"},
         {R"(\p{N}{1,3})", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
          R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         0},
        {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, 0},
        {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
         {R"(\p{N})", kGpt2}, 0},
        {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
          "modern-bert", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"},
         {kGpt2}, 0},
        {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"},
         {kQwen2}, 0},
        {{"qwen35"},
         {"(" + kContractions +
          R"(|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         0},
        {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}, 0},
        {{"viking"}, {kBloom, R"(\p{N})"}, 0},
        {{"tekken"}, {kTekken}, IGNORE_MERGES | ADD_BOS},
        {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}, 0},
        {{"seed-coder"},
         {"(" + kContractions +
          R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         0},
        {{"bailingmoe", "bailingmoe2", "llada-moe"},
         {R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"},
         0},
        {{"minicpm5"},
         {R"(\p{N}{1,3})", "(" + kContractions +
                               R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
         IGNORE_MERGES},
        {{"exaone-moe"},
         {"(" + kContractions +
          R"(|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)"},
         0},
        {{"gemma4"}, {"[^\n]+|[\n]+"}, 0},
        {{"chameleon"},
         {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\t\n]|    |  )", R"(\p{N})",
          R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
         ADD_BOS},
    };
    return table;
}

}  // namespace

std::vector<std::string> Vocab::bpe_pre_names() {
    std::vector<std::string> names;
    for (const PreTokenizer& p : pre_tokenizers()) names.insert(names.end(), p.names.begin(), p.names.end());
    std::sort(names.begin(), names.end());
    return names;
}

void Vocab::load_bpe(const GgufFile& g) {
    // llama.cpp warns and falls back to "default" when the name is missing.
    const char* const pre_key = "tokenizer.ggml.pre";
    const GgufValue* pre = g.find(pre_key);
    if (pre && pre->type != GgufType::STRING) {
        fail(HOB_ERR_MODEL_INVALID, std::string("metadata ") + pre_key + " should be a string");
    }
    pre_ = pre ? pre->str : "default";
    // Gemma 4 ignores the file's name: its text is split at newlines only
    // (the merges run over each line, spaces already written as ▁).
    if (spm_bpe_) pre_ = "gemma4";
    const PreTokenizer* spec = nullptr;
    for (const PreTokenizer& p : pre_tokenizers()) {
        if (std::find(p.names.begin(), p.names.end(), pre_) != p.names.end()) spec = &p;
    }
    if (!spec) {
        std::string shown = pre_.substr(0, 40);
        for (char& c : shown) if ((unsigned char)c < 0x20) c = '?';
        fail(HOB_ERR_UNSUPPORTED_ARCH, "BPE pre-tokenizer \"" + shown + "\" (tokenizer.ggml.pre) is not supported");
    }
    for (const std::string& r : spec->regexes) pre_regexes_.emplace_back(r);
    ignore_merges_ = spec->flags & IGNORE_MERGES;
    add_bos_ = spec->flags & ADD_BOS;

    // Each merge is "left right", split at the first space after the first
    // byte; its line number is its rank, and a repeated merge keeps the
    // first. The key is the line itself: a pair of space-free symbols
    // (byte-level symbols never hold a space) finds it by "left right".
    const char* const merges_key = "tokenizer.ggml.merges";
    const GgufValue* merges = g.find(merges_key);
    if (!merges) fail(HOB_ERR_MODEL_INVALID, std::string("metadata ") + merges_key + " is missing (a BPE vocabulary needs it)");
    if (!merges->is_array() || merges->elem_type != GgufType::STRING) {
        fail(HOB_ERR_MODEL_INVALID, std::string("metadata ") + merges_key + " should be an array of string");
    }
    if (merges->strs.size() > (size_t)INT32_MAX) fail(HOB_ERR_MODEL_INVALID, std::string("metadata ") + merges_key + " has too many merges");
    merge_ranks_.reserve(merges->strs.size());
    for (size_t i = 0; i < merges->strs.size(); i++) merge_ranks_.emplace(merges->strs[i], (int32_t)i);
}

// Spaces written as SentencePiece's ▁ (U+2581), as Gemma 4's normalizer does.
std::string Vocab::escape_spaces(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == ' ') {
            out += "\xe2\x96\x81";
        } else {
            out += c;
        }
    }
    return out;
}

int32_t Vocab::merge_rank(const std::string& key) const {
    auto it = merge_ranks_.find(key);
    return it == merge_ranks_.end() ? -1 : it->second;
}

void Vocab::tokenize_bpe(const std::string& text, std::vector<int32_t>& out) const {
    // Invalid UTF-8 is decoded to U+FFFD and re-encoded, as llama.cpp does:
    // the merges see EF BF BD where the bad byte was.
    const CodepointText cps(utf8_decode(spm_bpe_ ? escape_spaces(text) : text));
    std::vector<size_t> words{cps.cps.size()};
    for (const Regex& r : pre_regexes_) words = r.split(cps, words);

    std::string utf8, word;
    size_t at = 0;
    for (const size_t len : words) {
        word.clear();
        for (size_t i = at; i < at + len; i++) {
            utf8.clear();
            utf8_append(utf8, cps.cps[i]);
            if (spm_bpe_) {
                word += utf8;  // raw UTF-8, not GPT-2's byte alphabet
            } else {
                for (const char b : utf8) utf8_append(word, byte_to_bpe_char((uint8_t)b));
            }
        }
        at += len;
        // Gemma 4: a run of newlines that is a token stays whole.
        if (spm_bpe_ && word.find_first_not_of('\n') == std::string::npos) {
            auto it = ids_.find(word);
            if (it != ids_.end()) {
                out.push_back(it->second);
                continue;
            }
        }
        merge_bpe_word(word, out);
    }
}

// Merges the adjacent pair of lowest rank (leftmost on ties) until no pair
// has a rank, then emits each symbol's token. A symbol that is no token
// becomes the tokens of its single bytes, where those exist (llama.cpp drops
// the others without a word).
void Vocab::merge_bpe_word(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        auto it = ids_.find(word);
        if (it != ids_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    struct Symbol {
        int32_t prev, next;
        uint32_t start, len;  // bytes of word; len 0 once merged into its left neighbour
    };
    struct Pair {
        int32_t left, right, rank;
        uint32_t len;  // left.len + right.len when queued: stale if that changed
    };
    struct Later {  // the queue's top is the lowest rank, then the leftmost pair
        bool operator()(const Pair& a, const Pair& b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };
    HOB_CHECK(word.size() < UINT32_MAX, HOB_ERR_INVALID_ARGUMENT, "text too long to tokenize (4 GiB or more)");

    std::vector<Symbol> syms;
    for (size_t off = 0; off < word.size();) {
        const size_t len = std::min(utf8_seq_len((uint8_t)word[off]), word.size() - off);
        const int32_t i = (int32_t)syms.size();
        syms.push_back({i - 1, off + len == word.size() ? -1 : i + 1, (uint32_t)off, (uint32_t)len});
        off += len;
    }

    std::string key;
    std::priority_queue<Pair, std::vector<Pair>, Later> queue;
    const auto try_pair = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = syms[left];
        const Symbol& r = syms[right];
        key.assign(word, l.start, l.len);
        key += ' ';
        key.append(word, r.start, r.len);
        const int32_t rank = merge_rank(key);
        if (rank >= 0) queue.push({left, right, rank, l.len + r.len});
    };
    for (int32_t i = 1; i < (int32_t)syms.size(); i++) try_pair(i - 1, i);
    while (!queue.empty()) {
        const Pair p = queue.top();
        queue.pop();
        Symbol& l = syms[p.left];
        Symbol& r = syms[p.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = p.left;
        try_pair(l.prev, p.left);
        try_pair(p.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[i].next) {
        key.assign(word, syms[i].start, syms[i].len);
        auto it = ids_.find(key);
        if (it != ids_.end()) {
            out.push_back(it->second);
            continue;
        }
        for (const char b : key) {
            // Byte tokens: GPT-2's one-character ones, Gemma 4's <0xHH>.
            static const char* hex = "0123456789ABCDEF";
            const uint8_t u = (uint8_t)b;
            const std::string text = spm_bpe_ ? std::string{'<', '0', 'x', hex[u >> 4], hex[u & 15], '>'} : std::string(1, b);
            auto byte = ids_.find(text);
            if (byte != ids_.end()) out.push_back(byte->second);
        }
    }
}

// A normal BPE token's bytes: each character of its text is one byte in
// GPT-2's alphabet. A character outside the alphabet is spelt out the way
// llama.cpp does, so that a broken vocabulary shows rather than vanishes.
std::string Vocab::bpe_piece(const std::string& text) const {
    std::string piece;
    for (const uint32_t cp : utf8_decode(text)) {
        const int b = bpe_char_to_byte(cp);
        if (b >= 0) {
            piece += (char)b;
            continue;
        }
        static const char* hex = "0123456789abcdef";
        std::string utf8;
        utf8_append(utf8, cp);
        piece += "[UNK_BYTE_0x";
        for (const char c : utf8) {
            piece += hex[(uint8_t)c >> 4];
            piece += hex[(uint8_t)c & 15];
        }
        piece += text + "]";
    }
    return piece;
}

}  // namespace hob
