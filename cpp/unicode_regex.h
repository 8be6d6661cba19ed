// The regular expressions of BPE pre-tokenizers (GPT-2's "'s|'t|... ?\p{L}+
// ...", Llama 3's, Qwen 2's, ...), and splitting text at their matches. Only
// the syntax those patterns use is supported; anything else is refused when
// the pattern is compiled, never guessed at.
//
// The semantics are those llama.cpp gets from std::regex (ECMAScript): the
// leftmost match wins, alternatives in order, greedy quantifiers that
// backtrack. \p{L}, \p{N}, \p{P}, \p{S}, \p{M} are Unicode general category
// classes; \p{Lu}, \p{Ll}, \p{Lt}, \p{Lm} and \p{Lo} mean \p{L}, as they do in
// llama.cpp. \s is the White_Space property; \d and \w are ASCII only.
// Literal characters and ranges see every non-ASCII white space character as
// U+000B, as llama.cpp's text does when it reaches std::regex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hob {

// Text as the matcher reads it: code points and their CP_* flags.
struct CodepointText {
    std::vector<uint32_t> cps;
    std::vector<uint8_t> flags;
    explicit CodepointText(std::vector<uint32_t> cps);
};

class Regex {
public:
    // Throws HOB_ERR_INVALID_ARGUMENT naming the pattern and the offset of
    // syntax it does not support.
    explicit Regex(const std::string& pattern);

    // Splits each span of `spans` (code point counts that add up to the
    // text's length) into its matches and the gaps between them, in order.
    // An empty match is never a span: the matcher looks for a non-empty one
    // at that position instead.
    std::vector<size_t> split(const CodepointText& text, const std::vector<size_t>& spans) const;

    // The end of the first non-empty match starting at `start` in
    // text[start, end), or 0 if there is none (a match is never empty).
    size_t match_at(const CodepointText& text, size_t start, size_t end) const;

private:
    struct ClassItem {
        enum Kind : uint8_t { RANGE, FLAGS, NOT_FLAGS, DIGIT, NOT_DIGIT, WORD, NOT_WORD } kind;
        uint32_t lo, hi;  // RANGE
        uint8_t mask;     // FLAGS, NOT_FLAGS
    };
    struct CharClass {
        std::vector<ClassItem> items;
        bool negated = false;
    };
    struct Inst {
        enum Op : uint8_t { CLASS, SPLIT, JMP, LOOK, END, MATCH } op;
        bool negate = false;  // LOOK: (?!...) rather than (?=...)
        int32_t x = 0, y = 0;  // CLASS: class; SPLIT: preferred, other; JMP: target; LOOK: continuation
    };
    struct Node;
    class Parser;

    bool class_matches(const CharClass& c, uint32_t sym, uint8_t flags) const;
    void emit(const Node& n);
    bool run(const CodepointText& text, int32_t pc, size_t pos, size_t min_end, size_t end, size_t* match_end) const;

    std::string pattern_;
    std::vector<CharClass> classes_;
    std::vector<Inst> prog_;
};

}  // namespace hob
