// Code point lookup, UTF-8 decoding and encoding, and GPT-2's byte alphabet
// (see unicode.h). The category tables are in the generated unicode_data.cpp.
#include "unicode.h"

#include <algorithm>
#include <array>

namespace hob {

uint8_t unicode_flags(uint32_t cp) {
    if (cp > 0x10FFFF) return 0;
    // The last run whose first code point is <= cp. Run 0 starts at 0.
    const UnicodeRun* end = kUnicodeRuns + kUnicodeRunCount;
    const UnicodeRun* it = std::upper_bound(kUnicodeRuns, end, cp,
                                            [](uint32_t c, const UnicodeRun& r) { return c < r.first; });
    return (it - 1)->flags;
}

uint32_t unicode_lower(uint32_t cp) {
    const UnicodePair* end = kUnicodeLower + kUnicodeLowerCount;
    const UnicodePair* it =
        std::lower_bound(kUnicodeLower, end, cp, [](const UnicodePair& p, uint32_t c) { return p.from < c; });
    return it != end && it->from == cp ? it->to : cp;
}

uint32_t unicode_nfd_first(uint32_t cp) {
    const UnicodeRange* end = kUnicodeNfd + kUnicodeNfdCount;
    const UnicodeRange* it =
        std::upper_bound(kUnicodeNfd, end, cp, [](uint32_t c, const UnicodeRange& r) { return c < r.first; });
    if (it == kUnicodeNfd) return cp;
    --it;
    return cp <= it->last ? it->to : cp;
}

bool unicode_is_cjk(uint32_t cp) {
    // The CJK Unified Ideographs blocks and their extensions A to E and the
    // compatibility ideographs, as BERT's _is_chinese_char lists them
    // (extension E from 0x2B920, where Hugging Face's Rust tokenizer starts
    // it, not 0x2B820).
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::vector<uint32_t> utf8_decode(const std::string& text) {
    std::vector<uint32_t> cps;
    cps.reserve(text.size());
    const size_t n = text.size();
    const auto cont = [&](size_t i) { return i < n && ((uint8_t)text[i] & 0xC0) == 0x80; };
    for (size_t i = 0; i < n;) {
        const uint8_t b = (uint8_t)text[i];
        uint32_t cp = 0xFFFD;
        size_t len = 1;
        if (b < 0x80) {
            cp = b;
        } else if (b >= 0xC0 && b < 0xE0 && cont(i + 1)) {
            cp = (uint32_t)(b & 0x1F) << 6 | ((uint8_t)text[i + 1] & 0x3F);
            len = 2;
        } else if (b >= 0xE0 && b < 0xF0 && cont(i + 1) && cont(i + 2)) {
            cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)((uint8_t)text[i + 1] & 0x3F) << 6 | ((uint8_t)text[i + 2] & 0x3F);
            len = 3;
        } else if (b >= 0xF0 && b < 0xF8 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
            cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)((uint8_t)text[i + 1] & 0x3F) << 12 |
                 (uint32_t)((uint8_t)text[i + 2] & 0x3F) << 6 | ((uint8_t)text[i + 3] & 0x3F);
            len = 4;
            // F5-F7 leads encode past U+10FFFF, which llama.cpp cannot
            // re-encode (it throws); one replacement character is our answer.
            if (cp > 0x10FFFF) cp = 0xFFFD;
        }
        cps.push_back(cp);
        i += len;
    }
    return cps;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += (char)cp;
    } else if (cp < 0x800) {
        out += (char)(0xC0 | (cp >> 6));
        out += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char)(0xE0 | (cp >> 12));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    } else {
        out += (char)(0xF0 | (cp >> 18));
        out += (char)(0x80 | ((cp >> 12) & 0x3F));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    }
}

namespace {

// GPT-2 keeps the printable Latin-1 bytes (! to ~, ¡ to ¬, ® to ÿ) as their
// own code points and moves the other 68 bytes, in order, to U+0100 onwards,
// so that every byte is a visible character in vocab files.
bool byte_is_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct ByteAlphabet {
    std::array<uint32_t, 256> to_char{};
    std::array<int16_t, 68> from_moved{};  // byte of U+0100 + i
    ByteAlphabet() {
        int moved = 0;
        for (int b = 0; b < 256; b++) {
            if (byte_is_printable(b)) {
                to_char[b] = (uint32_t)b;
            } else {
                from_moved[moved] = (int16_t)b;
                to_char[b] = 0x100 + (uint32_t)moved++;
            }
        }
    }
};

const ByteAlphabet& alphabet() {
    static const ByteAlphabet a;
    return a;
}

}  // namespace

uint32_t byte_to_bpe_char(uint8_t b) { return alphabet().to_char[b]; }

int bpe_char_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp < 0x100 + 68) return alphabet().from_moved[cp - 0x100];
    return -1;
}

}  // namespace hob
