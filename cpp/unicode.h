// Unicode for the tokenizers: UTF-8 decoding with llama.cpp's treatment of
// invalid bytes, the general category class and White_Space property of a
// code point (tables generated into unicode_data.cpp), and GPT-2's
// byte <-> printable character mapping, and the case and decomposition
// folds WordPiece's normalizer applies (llama.cpp applies none before BPE).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hob {

// Code point flags: one general category class (none for unassigned points)
// plus White_Space. scripts/gen-unicode.mjs writes them with these values.
enum : uint8_t {
    CP_LETTER = 1 << 0,       // \p{L}
    CP_NUMBER = 1 << 1,       // \p{N}
    CP_MARK = 1 << 2,         // \p{M}
    CP_PUNCTUATION = 1 << 3,  // \p{P}
    CP_SYMBOL = 1 << 4,       // \p{S}
    CP_SEPARATOR = 1 << 5,    // \p{Z}
    CP_CONTROL = 1 << 6,      // \p{C} except unassigned (Cc, Cf, Co, Cs)
    CP_WHITESPACE = 1 << 7,   // \s: the White_Space property
};

struct UnicodeRun {
    uint32_t first;  // first code point of the run
    uint8_t flags;   // CP_* of every point up to the next run's first
};
extern const UnicodeRun kUnicodeRuns[];
extern const size_t kUnicodeRunCount;

// CP_* flags of a code point; 0 beyond U+10FFFF.
uint8_t unicode_flags(uint32_t cp);

// Generated into unicode_fold.cpp, sorted by code point.
struct UnicodePair {
    uint32_t from, to;
};
struct UnicodeRange {
    uint32_t first, last, to;  // every point of [first, last] maps to `to`
};
extern const UnicodePair kUnicodeLower[];
extern const size_t kUnicodeLowerCount;
extern const UnicodeRange kUnicodeNfd[];
extern const size_t kUnicodeNfdCount;

// The simple lower case of a code point (itself if it has none).
uint32_t unicode_lower(uint32_t cp);
// The first code point of cp's canonical decomposition (itself if it has
// none): "é" gives "e". llama.cpp's WordPiece strips accents this way, one
// point in, one point out, and drops the marks that follow separately.
uint32_t unicode_nfd_first(uint32_t cp);
// Han ideographs as BERT's tokenizer counts them (each one becomes a word).
bool unicode_is_cjk(uint32_t cp);

// Code points of UTF-8 text as llama.cpp decodes them: a malformed or
// truncated sequence yields U+FFFD for its first byte and decoding resumes at
// the next byte. Overlong forms and surrogates are decoded, not rejected, and
// the lead bytes F5-F7 give values above U+10FFFF.
std::vector<uint32_t> utf8_decode(const std::string& text);

// Bytes of the UTF-8 sequence a lead byte announces, for cutting text into
// characters without decoding it; continuation and invalid bytes count as
// one, as llama.cpp's unicode_len_utf8 does.
inline size_t utf8_seq_len(uint8_t lead) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

// Appends the UTF-8 encoding of cp (which must be at most 0x10FFFF).
void utf8_append(std::string& out, uint32_t cp);

// GPT-2's byte-level alphabet: byte b as the printable code point that
// stands for it in BPE token texts ('Ġ' for a space), and back.
uint32_t byte_to_bpe_char(uint8_t b);
// The byte a BPE character stands for, or -1 if it stands for none.
int bpe_char_to_byte(uint32_t cp);

}  // namespace hob
