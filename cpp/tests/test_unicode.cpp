// Unicode and pre-tokenizer regex tests: category flags from the generated
// tables, llama.cpp-style UTF-8 decoding, GPT-2's byte alphabet, and the
// regex matcher's ECMAScript semantics, limits and refusals.
#include <algorithm>
#include <string>
#include <vector>

#include "../common.h"
#include "../unicode.h"
#include "../unicode_regex.h"
#include "harness.h"

using namespace hob;

namespace {

// The pieces `re` cuts `text` into.
std::vector<std::string> pieces(const std::string& re, const std::string& text) {
    const CodepointText t(utf8_decode(text));
    std::vector<std::string> out;
    size_t at = 0;
    for (const size_t len : Regex(re).split(t, {t.cps.size()})) {
        std::string s;
        for (size_t i = at; i < at + len; i++) utf8_append(s, t.cps[i]);
        out.push_back(s);
        at += len;
    }
    return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST("unicode flags: categories of ASCII, CJK, emoji, marks and white space") {
    CHECK_EQ(unicode_flags('a'), CP_LETTER);
    CHECK_EQ(unicode_flags('Z'), CP_LETTER);
    CHECK_EQ(unicode_flags('7'), CP_NUMBER);
    CHECK_EQ(unicode_flags('!'), CP_PUNCTUATION);
    CHECK_EQ(unicode_flags('$'), CP_SYMBOL);
    CHECK_EQ(unicode_flags(' '), CP_SEPARATOR | CP_WHITESPACE);
    CHECK_EQ(unicode_flags('\n'), CP_CONTROL | CP_WHITESPACE);
    CHECK_EQ(unicode_flags(0x1F), CP_CONTROL);              // not White_Space
    CHECK_EQ(unicode_flags(0x4F60), CP_LETTER);            // 你
    CHECK_EQ(unicode_flags(0x0301), CP_MARK);              // combining acute
    CHECK_EQ(unicode_flags(0x1F999), CP_SYMBOL);           // 🦙
    CHECK_EQ(unicode_flags(0x00A0), CP_SEPARATOR | CP_WHITESPACE);
    CHECK_EQ(unicode_flags(0x3000), CP_SEPARATOR | CP_WHITESPACE);
    CHECK_EQ(unicode_flags(0x0085), CP_CONTROL | CP_WHITESPACE);
    CHECK_EQ(unicode_flags(0x0661), CP_NUMBER);            // Arabic-Indic one
    CHECK_EQ(unicode_flags(0x2167), CP_NUMBER);            // Roman numeral eight (Nl)
    CHECK_EQ(unicode_flags(0xD800), CP_CONTROL);           // surrogate
    CHECK_EQ(unicode_flags(0xE000), CP_CONTROL);           // private use
    CHECK_EQ(unicode_flags(0x0378), 0);                    // unassigned
    CHECK_EQ(unicode_flags(0x10FFFF), 0);
    CHECK_EQ(unicode_flags(0x110000), 0);
    // The runs start at 0 and strictly increase.
    REQUIRE(kUnicodeRunCount > 1000);
    CHECK_EQ(kUnicodeRuns[0].first, 0u);
    for (size_t i = 1; i < kUnicodeRunCount; i++) CHECK(kUnicodeRuns[i].first > kUnicodeRuns[i - 1].first);
}

TEST("utf8_decode: valid text round-trips, each bad byte is one U+FFFD") {
    const std::string text = "a\xc3\xa9\xe4\xbd\xa0\xf0\x9f\xa6\x99";
    const auto cps = utf8_decode(text);
    CHECK((cps == std::vector<uint32_t>{'a', 0xE9, 0x4F60, 0x1F999}));
    std::string back;
    for (uint32_t cp : cps) utf8_append(back, cp);
    CHECK(back == text);
    CHECK((utf8_decode("\x80x") == std::vector<uint32_t>{0xFFFD, 'x'}));
    CHECK((utf8_decode("\xc3") == std::vector<uint32_t>{0xFFFD}));
    // A lead byte whose continuation is missing is replaced alone.
    CHECK((utf8_decode("\xe4\xbd" "a") == std::vector<uint32_t>{0xFFFD, 0xFFFD, 'a'}));
    CHECK((utf8_decode("\xff\xfe") == std::vector<uint32_t>{0xFFFD, 0xFFFD}));
    // Overlong forms and surrogates decode, as llama.cpp's decoder lets them.
    CHECK((utf8_decode("\xc0\x80") == std::vector<uint32_t>{0}));
    CHECK((utf8_decode("\xed\xa0\x80") == std::vector<uint32_t>{0xD800}));
    CHECK((utf8_decode("\xf7\xbf\xbf\xbf") == std::vector<uint32_t>{0xFFFD}));
}

TEST("GPT-2 byte alphabet: 256 distinct printable characters that map back to their bytes") {
    std::vector<uint32_t> seen;
    for (int b = 0; b < 256; b++) {
        const uint32_t c = byte_to_bpe_char((uint8_t)b);
        CHECK_EQ(bpe_char_to_byte(c), b);
        CHECK(std::find(seen.begin(), seen.end(), c) == seen.end());
        seen.push_back(c);
    }
    CHECK_EQ(byte_to_bpe_char(' '), 0x120u);   // Ġ
    CHECK_EQ(byte_to_bpe_char('\n'), 0x10Au);  // Ċ
    CHECK_EQ(byte_to_bpe_char('A'), (uint32_t)'A');
    CHECK_EQ(byte_to_bpe_char(0xAD), 0x143u);  // the soft hyphen is moved too
    CHECK_EQ(bpe_char_to_byte(' '), -1);
    CHECK_EQ(bpe_char_to_byte(0x144), -1);
    CHECK_EQ(bpe_char_to_byte(0x4F60), -1);
}

TEST("regex: leftmost match, alternatives in order, greedy with backtracking, gaps kept") {
    const std::string gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
    CHECK((pieces(gpt2, "Hello world's  end!!") == Strings{"Hello", " world", "'s", " ", " end", "!!"}));
    CHECK((pieces(gpt2, "a\tb") == Strings{"a", "\t", "b"}));  // a lone tab before a letter is a gap
    CHECK((pieces(gpt2, "x   ") == Strings{"x", "   "}));      // trailing run: (?!\S) holds at the end
    CHECK((pieces(gpt2, "\xe4\xbd\xa0\xe5\xa5\xbd 12") == Strings{"\xe4\xbd\xa0\xe5\xa5\xbd", " 12"}));
    // \s*[\r\n]+ backtracks to the last newline of the run.
    CHECK((pieces(R"(\s*[\r\n]+|\s+)", "  \n \n  x") == Strings{"  \n \n", "  ", "x"}));
    CHECK((pieces(R"(\p{N}{1,3})", "1234567") == Strings{"123", "456", "7"}));
    CHECK((pieces("[0-9][0-9][0-9]", "ab1234") == Strings{"ab", "123", "4"}));
    CHECK((pieces(R"(\s+$)", "a  b  ") == Strings{"a  b", "  "}));
    // Lookahead classes: an upper-case run then lower-case letters; a
    // non-ASCII letter counts as both.
    const std::string words = R"(((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+)";
    CHECK((pieces(words, "XMLHttpRequest") == Strings{"XMLHttp", "Request"}));
    CHECK((pieces(words, "\xc3\x89t\xc3\xa9") == Strings{"\xc3\x89t\xc3\xa9"}));
    // \p{Lu} means \p{L}, as llama.cpp makes it.
    CHECK((pieces(R"(\p{Lu}+)", "abC") == Strings{"abC"}));
    // Non-ASCII white space is U+000B to literals and ranges, but \s.
    CHECK((pieces("[\xe3\x80\x80]+", "a\xe3\x80\x80" "b") == Strings{"a\xe3\x80\x80" "b"}));
    CHECK((pieces(R"(\s)", "a\xe3\x80\x80" "b") == Strings{"a", "\xe3\x80\x80", "b"}));
}

TEST("regex: a 200 000-character run matches without deep recursion") {
    const std::string run(200000, 'a');
    CHECK((pieces(R"( ?\p{L}+)", run) == Strings{run}));
    const std::string spaces(200000, ' ');
    CHECK((pieces(R"(\s*[\r\n]+|\s+(?!\S)|\s+)", spaces + "x") == Strings{spaces.substr(1), " ", "x"}));
}

TEST("regex: syntax outside the supported subset is INVALID_ARGUMENT naming the pattern") {
    for (const char* bad : {"(?i:a)", "a*?", "a++", "\\b", "^a", "a.b", "[a", "(a", "a)", "\\p{Han}", "\\p{Z}", "a{2,1}",
                            "a{100}", "(a*)*", "a|", "x?", "(?=a)", "[[a]]", "\\"}) {
        CHECK_THROWS_STATUS(Regex{std::string(bad)}, HOB_ERR_INVALID_ARGUMENT, "pre-tokenizer regex");
    }
}
