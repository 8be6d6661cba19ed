// Tokenizer tests, SentencePiece, BPE and WordPiece: ids equal llama.cpp's on its own
// test vectors and on our node-llama-cpp fixtures, pieces reassemble the
// text, and malformed tokenizer metadata (GGUFs built byte by byte here) is
// refused by name.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../unicode.h"
#include "../vocab.h"
#include "harness.h"
#include "json.h"

using namespace hob;

namespace {

const std::string kSpaceMark = "\xe2\x96\x81";  // U+2581

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Vocab load_vocab_file(const std::string& path) {
    const std::string bytes = read_file(path);
    const GgufFile g = GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size());
    return Vocab::load(g);
}

// Vocabularies are loaded once per file: the tests only read them.
const Vocab& shared_vocab(const std::string& name) {
    static std::map<std::string, Vocab> cache;
    auto it = cache.find(name);
    if (it == cache.end()) {
        const std::string path = name.find('/') == std::string::npos ? hobtest::testdata_dir() + "/vocab/" + name
                                                                     : hobtest::testdata_dir() + "/" + name;
        it = cache.emplace(name, load_vocab_file(path)).first;
    }
    return it->second;
}

std::string join(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        char buf[8];
        if (c < 0x20 || c == 0x7f) {
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += (char)c;
        }
    }
    return out;
}

void check_ids(const char* file, int line, const std::string& what, const std::vector<int32_t>& got,
               const std::vector<int32_t>& want) {
    if (got != want) {
        hobtest::report(file, line, what + ": got [" + join(got) + "], want [" + join(want) + "]");
    }
}
#define CHECK_IDS(what, got, want) check_ids(__FILE__, __LINE__, (what), (got), (want))

// llama.cpp's tokenizer test vectors: strings separated by a line
// __ggml_vocab_test__, and one line of ids per string.
struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<VocabCase> read_vocab_cases(const std::string& vocab) {
    const std::string base = hobtest::testdata_dir() + "/vocab/" + vocab;
    const std::string inp = read_file(base + ".inp");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<VocabCase> cases;
    for (size_t pos = 0; pos < inp.size();) {
        const size_t end = inp.find(sep, pos);
        if (end == std::string::npos) throw std::runtime_error(vocab + ".inp does not end with a separator");
        cases.push_back({inp.substr(pos, end - pos), {}});
        pos = end + sep.size();
    }
    std::istringstream out(read_file(base + ".out"));
    std::string line;
    for (auto& c : cases) {
        if (!std::getline(out, line)) throw std::runtime_error(vocab + ".out has fewer lines than cases");
        std::istringstream ids(line);
        int32_t id;
        while (ids >> id) c.ids.push_back(id);
    }
    return cases;
}

struct FixtureCase {
    std::string vocab, text;
    bool parse_special;
    std::vector<int32_t> ids;
};

const std::vector<FixtureCase>& fixture_cases() {
    static std::vector<FixtureCase> cases = [] {
        const hobtest::Json j = hobtest::Json::parse(read_file("test/fixtures/tokenizer-spm.json"));
        std::vector<FixtureCase> out;
        for (const auto& c : j["cases"].items) {
            FixtureCase f{c["vocab"].str, c["text"].str, c["parseSpecial"].boolean, {}};
            for (const auto& id : c["ids"].items) f.ids.push_back((int32_t)id.number);
            out.push_back(std::move(f));
        }
        return out;
    }();
    return cases;
}

std::string detokenize(const Vocab& v, const std::vector<int32_t>& ids, bool render_special) {
    std::string s;
    for (int32_t id : ids) s += v.token_to_piece(id, render_special);
    return s;
}

// What the pieces of a text tokenized without special parsing spell: the
// text behind llama.cpp's one leading space, with U+2581 read as a space.
std::string expected_detokenized(const std::string& text) {
    if (text.empty()) return "";
    std::string s = " " + text;
    for (size_t p; (p = s.find(kSpaceMark)) != std::string::npos;) s.replace(p, kSpaceMark.size(), " ");
    return s;
}

// ---- a GGUF written byte by byte, for metadata llama.cpp's files never hold

class GgufBuilder {
public:
    GgufBuilder& str(const std::string& key, const std::string& v) { return set(key, GgufType::STRING, string_bytes(v)); }
    GgufBuilder& u32(const std::string& key, uint32_t v) { return set(key, GgufType::UINT32, pod(v)); }
    GgufBuilder& i32(const std::string& key, int32_t v) { return set(key, GgufType::INT32, pod(v)); }
    GgufBuilder& f32(const std::string& key, float v) { return set(key, GgufType::FLOAT32, pod(v)); }
    GgufBuilder& boolean(const std::string& key, bool v) { return set(key, GgufType::BOOL, pod((uint8_t)v)); }
    GgufBuilder& strs(const std::string& key, const std::vector<std::string>& v) {
        std::string b = array_head(GgufType::STRING, v.size());
        for (const auto& s : v) b += string_bytes(s);
        return set(key, GgufType::ARRAY, b);
    }
    template <typename T>
    GgufBuilder& nums(const std::string& key, GgufType elem, const std::vector<T>& v) {
        std::string b = array_head(elem, v.size());
        for (const T& x : v) b += pod(x);
        return set(key, GgufType::ARRAY, b);
    }
    GgufBuilder& erase(const std::string& key) {
        for (size_t i = 0; i < kv_.size(); i++) {
            if (kv_[i].first == key) kv_.erase(kv_.begin() + (long)i);
        }
        return *this;
    }

    GgufFile parse() const {
        std::string b = "GGUF" + pod((uint32_t)3) + pod((uint64_t)0) + pod((uint64_t)kv_.size());
        for (const auto& kv : kv_) b += string_bytes(kv.first) + kv.second;
        return GgufFile::parse(reinterpret_cast<const uint8_t*>(b.data()), b.size(), b.size());
    }

private:
    template <typename T>
    static std::string pod(T v) {
        return std::string(reinterpret_cast<const char*>(&v), sizeof v);
    }
    static std::string string_bytes(const std::string& s) { return pod((uint64_t)s.size()) + s; }
    static std::string array_head(GgufType elem, size_t n) { return pod((uint32_t)elem) + pod((uint64_t)n); }

    GgufBuilder& set(const std::string& key, GgufType type, const std::string& value) {
        erase(key);
        kv_.emplace_back(key, pod((uint32_t)type) + value);
        return *this;
    }

    std::vector<std::pair<std::string, std::string>> kv_;  // key, type + value bytes
};

// A nine-token SentencePiece vocabulary: <unk>, <s>, </s>, one byte token
// (<0x41>, 'A'), then ▁, a, b, ab, ▁ab.
const std::vector<std::string> kTinyTokens = {"<unk>", "<s>", "</s>", "<0x41>", kSpaceMark,
                                              "a",     "b",   "ab",   kSpaceMark + "ab"};

GgufBuilder tiny_vocab() {
    GgufBuilder b;
    b.str("general.architecture", "llama")
        .str("tokenizer.ggml.model", "llama")
        .strs("tokenizer.ggml.tokens", kTinyTokens)
        .nums<float>("tokenizer.ggml.scores", GgufType::FLOAT32, {0, 0, 0, 0, -1, -2, -3, -4, -5})
        .nums<int32_t>("tokenizer.ggml.token_type", GgufType::INT32, {2, 3, 3, 6, 1, 1, 1, 1, 1});
    return b;
}

Vocab load(const GgufBuilder& b) { return Vocab::load(b.parse()); }

// Tiny vocabulary with one metadata value replaced.
GgufBuilder tiny_with(const std::string& key, GgufType elem, const std::vector<float>& values) {
    return tiny_vocab().nums<float>(key, elem, values);
}

void check_detokenized(const char* file, int line, const std::string& vocab, const std::string& text,
                       const std::string& got) {
    if (got != expected_detokenized(text)) {
        hobtest::report(file, line, vocab + " \"" + printable(text) + "\" detokenizes to \"" + printable(got) + "\"");
    }
}

}  // namespace

// ---- llama.cpp's own test vectors --------------------------------------------

TEST("llama-spm vocab: every llama.cpp test string gives the ids of its .out line") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    const auto cases = read_vocab_cases("ggml-vocab-llama-spm.gguf");
    CHECK_EQ(cases.size(), (size_t)46);
    for (const auto& c : cases) CHECK_IDS("\"" + printable(c.text) + "\"", v.tokenize(c.text, false, false), c.ids);
}

TEST("phi-3 vocab: every llama.cpp test string gives the ids of its .out line") {
    const Vocab& v = shared_vocab("ggml-vocab-phi-3.gguf");
    const auto cases = read_vocab_cases("ggml-vocab-phi-3.gguf");
    CHECK_EQ(cases.size(), (size_t)46);
    for (const auto& c : cases) CHECK_IDS("\"" + printable(c.text) + "\"", v.tokenize(c.text, false, false), c.ids);
}

TEST("llama-2-tiny-random.gguf carries the Llama 2 vocabulary and tokenizes like llama-spm") {
    const Vocab& v = shared_vocab("/llama-2-tiny-random.gguf");
    CHECK_EQ(v.n_tokens(), 32000);
    CHECK_EQ(v.bos(), 1);
    CHECK_EQ(v.eos(), 2);
    CHECK(v.add_bos());
    CHECK(!v.add_eos());
    CHECK(v.type(0) == TokenType::UNKNOWN);
    CHECK(v.type(1) == TokenType::CONTROL);
    CHECK(v.type(13) == TokenType::BYTE);
    CHECK_EQ(v.text(13), std::string("<0x0A>"));
    for (const auto& c : read_vocab_cases("ggml-vocab-llama-spm.gguf")) {
        CHECK_IDS("\"" + printable(c.text) + "\"", v.tokenize(c.text, false, false), c.ids);
    }
}

// The BPE files of llama.cpp's tokenizer tests, one per pre-tokenizer they
// cover. bert-bge (WordPiece) is not supported and not listed.
const char* const kBpeVocabs[] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-falcon.gguf", "ggml-vocab-deepseek-coder.gguf"};

TEST("BPE vocabs (gpt-2, falcon, deepseek-coder): every llama.cpp test string gives the ids of its .out line") {
    for (const char* file : kBpeVocabs) {
        const Vocab& v = shared_vocab(file);
        CHECK(v.kind() == Vocab::Kind::BPE);
        const auto cases = read_vocab_cases(file);
        CHECK_EQ(cases.size(), (size_t)46);
        int failures = 0;
        for (const auto& c : cases) {
            const auto got = v.tokenize(c.text, false, false);
            if (got != c.ids) failures++;
            CHECK_IDS(std::string(file) + " \"" + printable(c.text) + "\"", got, c.ids);
        }
        std::printf("    %s (pre %s): %zu of %zu strings exact\n", file, v.pre().c_str(), cases.size() - failures,
                    cases.size());
    }
}

// ---- node-llama-cpp fixture ----------------------------------------------------

TEST("every fixture string gives node-llama-cpp's ids, with and without special parsing") {
    const auto& cases = fixture_cases();
    REQUIRE(cases.size() >= 200);
    int phi3_specials = 0;
    for (const auto& c : cases) {
        const Vocab& v = shared_vocab(c.vocab);
        CHECK_IDS(c.vocab + (c.parse_special ? " special " : " plain ") + "\"" + printable(c.text) + "\"",
                  v.tokenize(c.text, false, c.parse_special), c.ids);
        for (int32_t id : c.ids) phi3_specials += id >= 32000;
    }
    CHECK(phi3_specials > 10);  // the fixture does reach phi-3's added tokens
}

// test/fixtures/tokenizer-bpe.json: node-llama-cpp's ids for the corpus of
// test/fixtures/tokenizer-corpus.json (plus seeded random mixes) on the BPE
// vocab files; its converted-tokenizer cases are checked through the wasm
// engine by test/oracle/tokenizer.test.ts.
struct BpeFixture {
    std::vector<std::string> texts;
    std::vector<FixtureCase> cases;  // vocab is the file name
    std::map<std::string, hobtest::Json> vocabs;
};

const BpeFixture& bpe_fixture() {
    static BpeFixture f = [] {
        BpeFixture out;
        const hobtest::Json corpus = hobtest::Json::parse(read_file("test/fixtures/tokenizer-corpus.json"));
        for (const auto& t : corpus["strings"].items) out.texts.push_back(t.str);
        const hobtest::Json j = hobtest::Json::parse(read_file("test/fixtures/tokenizer-bpe.json"));
        for (const auto& t : j["random"].items) out.texts.push_back(t.str);
        std::map<std::string, std::string> files;
        for (const auto& m : j["vocabs"].members) {
            for (const auto& field : m.second.members) {
                if (field.first == "file") files[m.first] = field.second.str;
            }
            out.vocabs[m.first] = m.second;
        }
        for (const auto& c : j["cases"].items) {
            auto file = files.find(c["vocab"].str);
            if (file == files.end()) continue;
            FixtureCase fc{file->second, out.texts.at((size_t)c["i"].number), c["special"].boolean, {}};
            for (const auto& id : c["ids"].items) fc.ids.push_back((int32_t)id.number);
            out.cases.push_back(std::move(fc));
        }
        return out;
    }();
    return f;
}

TEST("BPE vocab files: every corpus string gives node-llama-cpp's ids, with and without special parsing") {
    const BpeFixture& f = bpe_fixture();
    std::map<std::string, std::pair<int, int>> per_file;  // exact, total
    for (const auto& c : f.cases) {
        const auto got = shared_vocab(c.vocab).tokenize(c.text, false, c.parse_special);
        auto& n = per_file[c.vocab];
        n.first += got == c.ids;
        n.second++;
        CHECK_IDS(c.vocab + (c.parse_special ? " special " : " plain ") + "\"" + printable(c.text) + "\"", got, c.ids);
    }
    // Every BPE vocab file is in the fixture, with every string in both modes.
    for (const char* file : kBpeVocabs) {
        CHECK_EQ(per_file[file].second, (int)(2 * f.texts.size()));
        std::printf("    %s: %d of %d cases exact\n", file, per_file[file].first, per_file[file].second);
    }
    CHECK(f.texts.size() >= 150);
}

TEST("BPE vocab files: BOS, EOS and add-BOS follow the metadata as node-llama-cpp reports them") {
    for (const auto& kv : bpe_fixture().vocabs) {
        std::string file;
        for (const auto& field : kv.second.members) if (field.first == "file") file = field.second.str;
        if (file.empty()) continue;
        const Vocab& v = shared_vocab(file);
        const int bos = (int)kv.second["bos"].number, eos = (int)kv.second["eos"].number;
        // node-llama-cpp shows a BOS or EOS only when it is a control token.
        if (bos >= 0) {
            CHECK_EQ(v.bos(), bos);
            CHECK_EQ(v.add_bos(), kv.second["addBos"].boolean);
        } else {
            CHECK(v.bos() < 0 || v.type(v.bos()) != TokenType::CONTROL);
        }
        if (eos >= 0) CHECK_EQ(v.eos(), eos);
        CHECK_EQ(v.add_eos(), kv.second["addEos"].boolean);
        CHECK(!v.add_space_prefix());
        const auto ids = v.tokenize("Hello", true, false);
        REQUIRE(!ids.empty());
        CHECK_EQ(ids[0] == v.bos(), v.add_bos());
    }
}

TEST("BPE: the pieces of every corpus string spell it exactly") {
    const BpeFixture& f = bpe_fixture();
    for (const char* file : kBpeVocabs) {
        const Vocab& v = shared_vocab(file);
        for (const auto& text : f.texts) {
            const std::string got = detokenize(v, v.tokenize(text, false, false), false);
            if (got != text) hobtest::report(__FILE__, __LINE__, std::string(file) + " \"" + printable(text) + "\" detokenizes to \"" + printable(got) + "\"");
        }
    }
}

TEST("BPE: byte-level pieces are raw bytes, Ġ a space, and control tokens render only on request") {
    const Vocab& v = shared_vocab("ggml-vocab-gpt-2.gguf");
    const auto hello = v.tokenize(" Hello", false, false);
    REQUIRE(hello.size() == 1);
    CHECK_EQ(v.text(hello[0]), std::string("\xc4\xa0Hello"));  // ĠHello
    CHECK_EQ(v.token_to_piece(hello[0], false), std::string(" Hello"));
    // "é" is two bytes; GPT-2 has a token for each byte's character.
    std::string joined;
    for (int32_t id : v.tokenize("\xc3\xa9\xe2\x82\xac", false, false)) joined += v.token_to_piece(id, false);
    CHECK(joined == "\xc3\xa9\xe2\x82\xac");
    // Every one of the 256 bytes has its one-character token, and it gives the byte back.
    for (int b = 0; b < 256; b++) {
        std::string ch;
        utf8_append(ch, byte_to_bpe_char((uint8_t)b));
        const int32_t id = [&] { for (int32_t i = 0; i < v.n_tokens(); i++) if (v.text(i) == ch) return i; return -1; }();
        REQUIRE(id >= 0);
        CHECK(v.token_to_piece(id, false) == std::string(1, (char)b));
    }
    CHECK_EQ(v.token_to_piece(50256, false), std::string(""));
    CHECK_EQ(v.token_to_piece(50256, true), std::string("<|endoftext|>"));
    CHECK(v.is_eog(50256));
}

TEST("BPE: invalid UTF-8 is tokenized as U+FFFD, as llama.cpp decodes it") {
    const Vocab& v = shared_vocab("ggml-vocab-gpt-2.gguf");
    const std::string fffd = "\xef\xbf\xbd";
    CHECK_IDS("FF", v.tokenize("a\xff" "b", false, false), v.tokenize("a" + fffd + "b", false, false));
    CHECK_IDS("truncated", v.tokenize("x\xe2\x82", false, false), v.tokenize("x" + fffd + fffd, false, false));
    CHECK_IDS("F5 lead", v.tokenize("\xf5\x80\x80\x80", false, false), v.tokenize(fffd, false, false));
    // Garbage of every byte value never crashes.
    std::string all;
    for (int b = 0; b < 256; b++) all += (char)b;
    CHECK(!v.tokenize(all + all, true, true).empty());
}

TEST("BPE: tokenizing 100 KB of text takes a fraction of a second") {
    for (const char* file : kBpeVocabs) {
        const Vocab& v = shared_vocab(file);
        std::string prose;
        while (prose.size() < 100000) {
            prose += "The quick brown fox jumps over the lazy dog; \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c "
                     "\xf0\x9f\xa6\x99 <|endoftext|> code(x[i]) += 42;\n    \n";
        }
        for (const std::string& text : {prose, std::string(100000, 'a'), std::string(100000, ' '), std::string(50000, '\n')}) {
            const auto t0 = std::chrono::steady_clock::now();
            const auto ids = v.tokenize(text, true, true);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("    %s: %zu bytes -> %zu tokens in %.3f s\n", file, text.size(), ids.size(), s);
            CHECK(s < 1.0);
            CHECK(!ids.empty());
        }
    }
}

// ---- tokenize details ----------------------------------------------------------

TEST("add_special puts BOS before the text, and the empty text is BOS alone") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    CHECK_IDS("Hello", v.tokenize("Hello", true, false), (std::vector<int32_t>{1, 15043}));
    CHECK_IDS("empty", v.tokenize("", true, false), (std::vector<int32_t>{1}));
    CHECK_IDS("empty, no BOS", v.tokenize("", false, false), (std::vector<int32_t>{}));
}

TEST("special text is matched only with parse_special, and the text after it gets a space prefix") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    // "<s>" + " Hello": the fragment after a special token is prefixed too.
    CHECK_IDS("parsed", v.tokenize("<s>Hello", false, true), (std::vector<int32_t>{1, 15043}));
    const auto plain = v.tokenize("<s>Hello", false, false);
    CHECK(plain.size() > 2);
    for (int32_t id : plain) CHECK(id != 1);
}

TEST("phi-3 drops the whitespace after its chat tokens but not after <s>") {
    const Vocab& v = shared_vocab("ggml-vocab-phi-3.gguf");
    // <|user|> (32010) strips "\n"; the rest is " Hi" = ▁Hi.
    CHECK_IDS("user", v.tokenize("<|user|>\nHi", false, true), (std::vector<int32_t>{32010, 6324}));
    const auto with_s = v.tokenize("<s>\nHi", false, true);
    REQUIRE(with_s.size() >= 3);
    CHECK_EQ(with_s[0], 1);
    CHECK(with_s[1] != 6324);  // the newline survives after <s>
}

TEST("a character outside the vocabulary becomes its UTF-8 bytes, and the pieces reassemble it") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    const std::string clef = "\xf0\x9d\x84\x9e";  // U+1D11E MUSICAL SYMBOL G CLEF
    const auto ids = v.tokenize(clef, false, false);
    // ▁ then <0xF0> <0x9D> <0x84> <0x9E>: byte tokens are id 3 + byte.
    CHECK_IDS("clef", ids, (std::vector<int32_t>{29871, 3 + 0xF0, 3 + 0x9D, 3 + 0x84, 3 + 0x9E}));
    std::string joined;
    for (size_t i = 1; i < ids.size(); i++) {
        CHECK(v.type(ids[i]) == TokenType::BYTE);
        const std::string piece = v.token_to_piece(ids[i], false);
        CHECK_EQ(piece.size(), (size_t)1);
        joined += piece;
    }
    CHECK(joined == clef);
}

TEST("invalid UTF-8 is grouped by lead byte as llama.cpp does and falls back to bytes") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    // A lead byte 0xC3 claims the next byte whatever it is: "\xC3A" is one
    // symbol, not a token, so both bytes come out as byte tokens.
    CHECK_IDS("C3 41", v.tokenize("\xC3" "A", false, false), (std::vector<int32_t>{29871, 3 + 0xC3, 3 + 0x41}));
    // A truncated sequence at the end, and a lone continuation byte.
    CHECK_IDS("E2 82", v.tokenize("\xE2\x82", false, false), (std::vector<int32_t>{29871, 3 + 0xE2, 3 + 0x82}));
    CHECK_IDS("80", v.tokenize("\x80", false, false), (std::vector<int32_t>{29871, 3 + 0x80}));
    CHECK_IDS("FF at end", v.tokenize("a\xFF", false, false), (std::vector<int32_t>{263, 3 + 0xFF}));
    // Garbage of every byte value never crashes and detokenizes to itself.
    std::string all;
    for (int b = 1; b < 256; b++) all += (char)b;
    for (int rep = 0; rep < 3; rep++) all += all;
    CHECK(detokenize(v, v.tokenize(all, false, false), false) == expected_detokenized(all));
}

TEST("equal scores merge the leftmost pair first") {
    // "▁ab": both ▁a and ab score -1; the leftmost (▁a) wins, leaving b.
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "llama")
        .strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", kSpaceMark, "a", "b", kSpaceMark + "a", "ab"})
        .nums<float>("tokenizer.ggml.scores", GgufType::FLOAT32, {0, 0, 0, -5, -5, -5, -1, -1});
    const Vocab tie = load(b);
    CHECK_IDS("tie", tie.tokenize("ab", false, false), (std::vector<int32_t>{6, 5}));
    // Raise ab above ▁a and it merges first instead.
    b.nums<float>("tokenizer.ggml.scores", GgufType::FLOAT32, {0, 0, 0, -5, -5, -5, -1, -0.5f});
    const Vocab ab_first = load(b);
    CHECK_IDS("ab first", ab_first.tokenize("ab", false, false), (std::vector<int32_t>{3, 7}));
}

TEST("without a byte token a missing character becomes UNK") {
    const Vocab v = load(tiny_vocab());
    // "c" is no token and only 'A' has a byte token: UNK (0); "A" is <0x41>.
    CHECK_IDS("cA", v.tokenize("cA", false, false), (std::vector<int32_t>{4, 0, 3}));
    CHECK_IDS("ab", v.tokenize("ab", false, false), (std::vector<int32_t>{8}));
}

TEST("the metadata flags choose BOS, EOS and the space prefix; absent ones take llama.cpp's defaults") {
    const Vocab d = load(tiny_vocab());
    CHECK(d.add_bos());
    CHECK(!d.add_eos());
    CHECK_EQ(d.bos(), 1);
    CHECK_EQ(d.eos(), 2);
    CHECK_IDS("defaults", d.tokenize("ab", true, false), (std::vector<int32_t>{1, 8}));

    const Vocab f = load(tiny_vocab()
                             .boolean("tokenizer.ggml.add_bos_token", false)
                             .boolean("tokenizer.ggml.add_eos_token", true)
                             .boolean("tokenizer.ggml.add_space_prefix", false)
                             .u32("tokenizer.ggml.eos_token_id", 1));
    CHECK_EQ(f.eos(), 1);
    CHECK(f.is_eog(1));
    CHECK_IDS("flags", f.tokenize("ab", true, false), (std::vector<int32_t>{7, 1}));
}

TEST("a vocabulary without scores or types treats every token as normal with score 0") {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", kTinyTokens);
    const Vocab v = load(b);
    CHECK(v.type(1) == TokenType::NORMAL);
    CHECK_EQ(v.token_to_piece(1, false), std::string("<s>"));
    // <s> is plain text now, and <0x41> is still the fallback for 'A' by name.
    CHECK_IDS("A", v.tokenize("A", false, true), (std::vector<int32_t>{4, 3}));
}

TEST("a vocabulary too small for the default special ids has none") {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", {"a"});
    const Vocab v = load(b);
    CHECK_EQ(v.bos(), -1);
    CHECK_EQ(v.eos(), -1);
    CHECK(!v.is_eog(0));
    CHECK_THROWS_STATUS(v.tokenize("a", true, false), HOB_ERR_MODEL_INVALID, "BOS");
}

TEST("a user-defined token is matched even without special parsing") {
    const Vocab v = load(tiny_vocab()
                             .strs("tokenizer.ggml.tokens",
                                   {"<unk>", "<s>", "</s>", "<0x41>", kSpaceMark, "a", "b", "ab", "<tool>"})
                             .nums<int32_t>("tokenizer.ggml.token_type", GgufType::INT32, {2, 3, 3, 6, 1, 1, 1, 1, 4}));
    CHECK_IDS("plain", v.tokenize("a<tool>b", false, false), (std::vector<int32_t>{4, 5, 8, 4, 6}));
    CHECK_EQ(v.token_to_piece(8, false), std::string("<tool>"));
}

TEST("tokenizing 100 KB of text takes a fraction of a second") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    std::string prose, run;
    while (prose.size() < 100000) {
        prose += "The quick brown fox jumps over the lazy dog; \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c "
                 "\xf0\x9f\xa6\x99 <s> code(x[i]) += 42;\n";
    }
    run.assign(100000, 'a');  // one fragment, the longest merge chain
    for (const std::string* text : {&prose, &run}) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = v.tokenize(*text, true, true);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("    %zu bytes -> %zu tokens in %.3f s\n", text->size(), ids.size(), s);
        CHECK(s < 1.0);
        CHECK(ids.size() > 1000);
    }
}

// ---- detokenization -------------------------------------------------------------

TEST("the pieces of every tokenized test string spell the string behind one leading space") {
    for (const char* vocab : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"}) {
        const Vocab& v = shared_vocab(vocab);
        for (const auto& c : read_vocab_cases(vocab)) {
            check_detokenized(__FILE__, __LINE__, vocab, c.text, detokenize(v, c.ids, false));
        }
    }
    for (const auto& c : fixture_cases()) {
        if (c.parse_special) continue;
        check_detokenized(__FILE__, __LINE__, c.vocab, c.text, detokenize(shared_vocab(c.vocab), c.ids, false));
    }
}

TEST("token_to_piece: ▁ is a space, byte tokens are raw bytes, control and unknown tokens are empty unless rendered") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    CHECK_EQ(v.token_to_piece(29871, false), std::string(" "));
    CHECK_EQ(v.token_to_piece(15043, false), std::string(" Hello"));
    CHECK_EQ(v.token_to_piece(13, false), std::string("\n"));                 // <0x0A>
    CHECK(v.token_to_piece(3 + 0xE4, false) == std::string(1, (char)0xE4));  // half a character
    CHECK_EQ(v.token_to_piece(1, false), std::string(""));
    CHECK_EQ(v.token_to_piece(1, true), std::string("<s>"));
    CHECK_EQ(v.token_to_piece(0, false), std::string(""));
    CHECK_EQ(v.token_to_piece(0, true), std::string("<unk>"));

    const Vocab& phi3 = shared_vocab("ggml-vocab-phi-3.gguf");
    CHECK_EQ(phi3.token_to_piece(32010, false), std::string(""));
    CHECK_EQ(phi3.token_to_piece(32010, true), std::string("<|user|>"));
    // </s> is user-defined in phi-3's file, but llama.cpp makes every
    // end-of-generation text a control token.
    CHECK_EQ(phi3.token_to_piece(2, false), std::string(""));
    CHECK_EQ(phi3.token_to_piece(2, true), std::string("</s>"));
}

TEST("unused tokens and tokens of an unknown type render as nothing") {
    const Vocab v = load(tiny_vocab().nums<int32_t>("tokenizer.ggml.token_type", GgufType::INT32, {2, 3, 3, 6, 1, 5, 0, 99, 1}));
    CHECK(v.type(5) == TokenType::UNUSED);
    CHECK(v.type(7) == TokenType::UNDEFINED);
    for (int32_t id : {5, 6, 7}) {
        CHECK_EQ(v.token_to_piece(id, false), std::string(""));
        CHECK_EQ(v.token_to_piece(id, true), std::string(""));
    }
    CHECK_EQ(v.token_to_piece(8, false), std::string(" ab"));
}

TEST("an out-of-range id is OUT_OF_RANGE with the id and the vocabulary size") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    CHECK_THROWS_STATUS(v.token_to_piece(32000, false), HOB_ERR_OUT_OF_RANGE, "32000");
    CHECK_THROWS_STATUS(v.token_to_piece(-1, true), HOB_ERR_OUT_OF_RANGE,
                        "token id -1 is out of range (vocabulary of 32000");
    CHECK_THROWS_STATUS(v.text(40000), HOB_ERR_OUT_OF_RANGE, "40000");
    CHECK_THROWS_STATUS(v.type(-5), HOB_ERR_OUT_OF_RANGE, "-5");
}

TEST("is_eog: EOS and the end-of-turn tokens, nothing else, and no error for a bad id") {
    const Vocab& v = shared_vocab("ggml-vocab-llama-spm.gguf");
    CHECK(v.is_eog(2));
    CHECK(!v.is_eog(1));
    CHECK(!v.is_eog(0));
    CHECK(!v.is_eog(-1));
    CHECK(!v.is_eog(1 << 30));
    const Vocab& phi3 = shared_vocab("ggml-vocab-phi-3.gguf");
    CHECK_EQ(phi3.eos(), 32000);
    CHECK(phi3.is_eog(32000));  // <|endoftext|>
    CHECK(phi3.is_eog(32007));  // <|end|>
    CHECK(phi3.is_eog(2));      // </s>
    CHECK(!phi3.is_eog(32010)); // <|user|>
    CHECK(!phi3.is_eog(32001)); // <|assistant|>
    const Vocab eot = load(tiny_vocab().u32("tokenizer.ggml.eot_token_id", 7));
    CHECK(eot.is_eog(7));
    CHECK(eot.is_eog(2));
}

// ---- malformed metadata -------------------------------------------------------------

TEST("a tokenizer model other than llama, gpt2 and bert is UNSUPPORTED_ARCH naming it") {
    for (const char* model : {"t5", "rwkv", "none", "plamo2", ""}) {
        CHECK_THROWS_STATUS(load(tiny_vocab().str("tokenizer.ggml.model", model)), HOB_ERR_UNSUPPORTED_ARCH,
                            std::string("tokenizer model \"") + model + "\" is not supported yet");
    }
    CHECK_THROWS_STATUS(load(tiny_vocab().erase("tokenizer.ggml.model")), HOB_ERR_MODEL_INVALID,
                        "tokenizer.ggml.model is missing");
    CHECK_THROWS_STATUS(load(tiny_vocab().u32("tokenizer.ggml.model", 1)), HOB_ERR_MODEL_INVALID,
                        "tokenizer.ggml.model");
}

// ---- WordPiece ------------------------------------------------------------------

TEST("bert-bge vocab (WordPiece): every llama.cpp test string gives the ids of its .out line") {
    const Vocab& v = shared_vocab("ggml-vocab-bert-bge.gguf");
    CHECK(v.kind() == Vocab::Kind::WPM);
    CHECK_EQ(v.bos(), 101);
    CHECK_EQ(v.sep(), 102);
    const auto cases = read_vocab_cases("ggml-vocab-bert-bge.gguf");
    CHECK_EQ(cases.size(), (size_t)46);
    for (const auto& c : cases) {
        CHECK_IDS("bert-bge \"" + printable(c.text) + "\"", v.tokenize(c.text, false, false), c.ids);
    }
    // add_special wraps every sequence in [CLS] ... [SEP], the empty one too.
    CHECK_IDS("add_special", v.tokenize("Hello world", true, false), (std::vector<int32_t>{101, 7592, 2088, 102}));
    CHECK_IDS("empty", v.tokenize("", true, false), (std::vector<int32_t>{101, 102}));
    CHECK_IDS("[SEP] parsed", v.tokenize("a [SEP] b", false, true), (std::vector<int32_t>{1037, 102, 1038}));
}

// A WordPiece vocabulary: [PAD] [UNK] [CLS] [SEP] ▁un ▁una ff able ▁! ▁é ▁e
GgufBuilder tiny_wpm() {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "bert")
        .strs("tokenizer.ggml.tokens", {"[PAD]", "[UNK]", "[CLS]", "[SEP]", kSpaceMark + "un", kSpaceMark + "una", "ff",
                                        "able", kSpaceMark + "!", kSpaceMark + "\xc3\xa9", kSpaceMark + "e"})
        .nums<int32_t>("tokenizer.ggml.token_type", GgufType::INT32, {3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1})
        .u32("tokenizer.ggml.unknown_token_id", 1)
        .u32("tokenizer.ggml.bos_token_id", 2)
        .u32("tokenizer.ggml.seperator_token_id", 3);
    return b;
}

TEST("WordPiece: longest match first, an unmatched word is [UNK], punctuation splits, case and accents fold") {
    const Vocab v = load(tiny_wpm());
    // "unaffable": ▁una (longest), ff, able.
    CHECK_IDS("unaffable", v.tokenize("unaffable", false, false), (std::vector<int32_t>{5, 6, 7}));
    // "unx": ▁un matches, then "x" has no token: the whole word is [UNK].
    CHECK_IDS("unx", v.tokenize("unx un", false, false), (std::vector<int32_t>{1, 4}));
    CHECK_IDS("punctuation", v.tokenize("UN!una", true, false), (std::vector<int32_t>{2, 4, 8, 5, 3}));
    // Accents are stripped by default (é -> e); kept when the file says so.
    CHECK_IDS("accent", v.tokenize("\xc3\x89", false, false), (std::vector<int32_t>{10}));
    const Vocab keep = load(tiny_wpm().boolean("tokenizer.ggml.normalizer.strip_accents", false));
    CHECK_IDS("accent kept", keep.tokenize("\xc3\x89", false, false), (std::vector<int32_t>{9}));
    const Vocab cased = load(tiny_wpm().boolean("tokenizer.ggml.normalizer.lowercase", false));
    CHECK_IDS("cased", cased.tokenize("UN un", false, false), (std::vector<int32_t>{1, 4}));
    // Control characters vanish; white space of any kind separates words.
    CHECK_IDS("control", v.tokenize("u\x01n\t\xe3\x80\x80un", false, false), (std::vector<int32_t>{4, 4}));
    CHECK(v.add_space_prefix());
    CHECK_EQ(detokenize(v, {5, 6, 7}, false), std::string(" unaffable"));
}

TEST("WordPiece: a vocabulary of absurdly long tokens meets the matching budget instead of hanging") {
    // Every position of a run of 'a' walks the whole long token before
    // settling for "a": quadratic in the run's length.
    const Vocab v = load(tiny_wpm().strs("tokenizer.ggml.tokens", {"[PAD]", "[UNK]", "[CLS]", "[SEP]", kSpaceMark + "a",
                                                                   "a", std::string(100000, 'a') + "b", "c", kSpaceMark + "c",
                                                                   "e", "f"}));
    CHECK_THROWS_STATUS(v.tokenize(std::string(200000, 'a'), false, false), HOB_ERR_INVALID_ARGUMENT, "budget");
    // Ordinary text stays well inside it.
    CHECK_IDS("short", v.tokenize("aaa c", false, false), (std::vector<int32_t>{4, 5, 5, 8}));
}

// A six-token byte-level BPE vocabulary: a b c ab bc Ġ, merges "b c" then "a b".
GgufBuilder tiny_bpe() {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "gpt2")
        .str("tokenizer.ggml.pre", "gpt-2")
        .strs("tokenizer.ggml.tokens", {"a", "b", "c", "ab", "bc", "\xc4\xa0"})
        .strs("tokenizer.ggml.merges", {"b c", "a b"});
    return b;
}

TEST("BPE merges go by rank, then leftmost; a symbol that is no token falls back to its bytes or vanishes") {
    const Vocab v = load(tiny_bpe());
    CHECK(v.kind() == Vocab::Kind::BPE);
    CHECK_EQ(v.pre(), std::string("gpt-2"));
    CHECK_EQ(v.bos(), -1);  // the default 11 is outside six tokens
    CHECK(!v.add_bos());
    CHECK_IDS("abc: b c ranks first", v.tokenize("abc", true, false), (std::vector<int32_t>{0, 4}));
    CHECK_IDS("abab", v.tokenize("abab", false, false), (std::vector<int32_t>{3, 3}));
    // " a" is one word: Ġ then a (no merge); "d" has no token and no byte token.
    CHECK_IDS("space", v.tokenize(" a d", false, false), (std::vector<int32_t>{5, 0, 5}));
    // Swap the ranks: "a b" now wins over "b c".
    const Vocab swapped = load(tiny_bpe().strs("tokenizer.ggml.merges", {"a b", "b c"}));
    CHECK_IDS("abc swapped", swapped.tokenize("abc", false, false), (std::vector<int32_t>{3, 2}));
    // llama-bpe keeps a word that is a token whole, whatever the merges say.
    const Vocab whole = load(tiny_bpe().str("tokenizer.ggml.pre", "llama-bpe").strs("tokenizer.ggml.merges", {}));
    CHECK_IDS("ignore merges", whole.tokenize("ab", false, false), (std::vector<int32_t>{3}));
    CHECK(whole.add_bos());  // llama-bpe's default, with no BOS id to add
    CHECK_THROWS_STATUS(whole.tokenize("ab", true, false), HOB_ERR_MODEL_INVALID, "BOS");
    CHECK_IDS("no merges", load(tiny_bpe().strs("tokenizer.ggml.merges", {})).tokenize("ab", false, false),
              (std::vector<int32_t>{0, 1}));
}

TEST("BPE metadata: missing or mistyped merges and an unknown pre-tokenizer are refused by name") {
    CHECK_THROWS_STATUS(load(tiny_bpe().erase("tokenizer.ggml.merges")), HOB_ERR_MODEL_INVALID,
                        "tokenizer.ggml.merges is missing");
    CHECK_THROWS_STATUS(load(tiny_bpe().nums<int32_t>("tokenizer.ggml.merges", GgufType::INT32, {1})),
                        HOB_ERR_MODEL_INVALID, "tokenizer.ggml.merges should be an array of string");
    CHECK_THROWS_STATUS(load(tiny_bpe().str("tokenizer.ggml.pre", "jais-2")), HOB_ERR_UNSUPPORTED_ARCH,
                        "BPE pre-tokenizer \"jais-2\" (tokenizer.ggml.pre) is not supported");
    CHECK_THROWS_STATUS(load(tiny_bpe().u32("tokenizer.ggml.pre", 3)), HOB_ERR_MODEL_INVALID, "tokenizer.ggml.pre");
    // No pre-tokenizer named: llama.cpp's "default".
    CHECK_EQ(std::string(load(tiny_bpe().erase("tokenizer.ggml.pre")).pre()), std::string("default"));
    // Every listed name compiles.
    const auto names = Vocab::bpe_pre_names();
    CHECK(names.size() > 60);
    for (const auto& name : names) CHECK_EQ(std::string(load(tiny_bpe().str("tokenizer.ggml.pre", name)).pre()), name);
}

TEST("tokens that are missing, not a string array or empty are MODEL_INVALID naming the field") {
    const std::string key = "tokenizer.ggml.tokens";
    CHECK_THROWS_STATUS(load(tiny_vocab().erase(key)), HOB_ERR_MODEL_INVALID, key + " is missing");
    CHECK_THROWS_STATUS(load(tiny_vocab().nums<int32_t>(key, GgufType::INT32, {1, 2, 3})), HOB_ERR_MODEL_INVALID,
                        key + " should be an array of string but is an array of int32");
    CHECK_THROWS_STATUS(load(tiny_vocab().str(key, "a")), HOB_ERR_MODEL_INVALID,
                        key + " should be an array of string but is string");
    const GgufBuilder empty =
        tiny_vocab().strs(key, {}).erase("tokenizer.ggml.scores").erase("tokenizer.ggml.token_type");
    CHECK_THROWS_STATUS(load(empty), HOB_ERR_MODEL_INVALID, key + " is empty");
}

TEST("scores and token types of the wrong type or length are MODEL_INVALID naming the field and the count") {
    const std::string scores = "tokenizer.ggml.scores", types = "tokenizer.ggml.token_type";
    CHECK_THROWS_STATUS(load(tiny_vocab().strs(scores, kTinyTokens)), HOB_ERR_MODEL_INVALID,
                        scores + " should be an array of float32 but is an array of string");
    CHECK_THROWS_STATUS(load(tiny_vocab().nums<uint8_t>(scores, GgufType::UINT8, std::vector<uint8_t>(9, 0))),
                        HOB_ERR_MODEL_INVALID, scores + " should be an array of float32 but is an array of uint8");
    CHECK_THROWS_STATUS(load(tiny_vocab().f32(scores, 1.0f)), HOB_ERR_MODEL_INVALID,
                        scores + " should be an array of float32 but is float32");
    CHECK_THROWS_STATUS(load(tiny_with(scores, GgufType::FLOAT32, {0, 0, 0})), HOB_ERR_MODEL_INVALID,
                        scores + " has 3 elements but tokenizer.ggml.tokens has 9");
    CHECK_THROWS_STATUS(load(tiny_with(scores, GgufType::FLOAT32, std::vector<float>(10, 0))), HOB_ERR_MODEL_INVALID,
                        scores + " has 10 elements");
    std::vector<float> nan_scores(9, 0);
    nan_scores[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_STATUS(load(tiny_with(scores, GgufType::FLOAT32, nan_scores)), HOB_ERR_MODEL_INVALID,
                        scores + "[5] is nan");
    CHECK_THROWS_STATUS(load(tiny_with(types, GgufType::FLOAT32, std::vector<float>(9, 1))), HOB_ERR_MODEL_INVALID,
                        types + " should be an array of int32 but is an array of float32");
    CHECK_THROWS_STATUS(load(tiny_vocab().nums<int32_t>(types, GgufType::INT32, {1, 1})), HOB_ERR_MODEL_INVALID,
                        types + " has 2 elements but tokenizer.ggml.tokens has 9");
    // llama.cpp reads int32 scores as numbers: still accepted.
    const Vocab v = load(tiny_vocab().nums<int32_t>(scores, GgufType::INT32, std::vector<int32_t>(9, -1)));
    CHECK_EQ(v.n_tokens(), 9);
}

TEST("special token ids outside the vocabulary are MODEL_INVALID naming the key and the value") {
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                            "tokenizer.ggml.eot_token_id", "tokenizer.ggml.padding_token_id"}) {
        CHECK_THROWS_STATUS(load(tiny_vocab().u32(key, 9)), HOB_ERR_MODEL_INVALID,
                            std::string(key) + " is 9, outside the vocabulary of 9 tokens");
        CHECK_THROWS_STATUS(load(tiny_vocab().i32(key, -1)), HOB_ERR_MODEL_INVALID, std::string(key) + " is -1");
        CHECK_THROWS_STATUS(load(tiny_vocab().str(key, "1")), HOB_ERR_MODEL_INVALID, key);
    }
    CHECK_THROWS_STATUS(load(tiny_vocab().u32("tokenizer.ggml.add_bos_token", 1)), HOB_ERR_MODEL_INVALID,
                        "tokenizer.ggml.add_bos_token should be a bool");
}

TEST("byte tokens whose text is not <0xHH> are MODEL_INVALID naming the token") {
    for (const char* bad : {"<0x-1>", "<0xZZ>", "<0x1>", "<0x123>", "<0x4G>", "0x41", "<0x41", "", "<0X41>"}) {
        std::vector<std::string> tokens = kTinyTokens;
        tokens[3] = bad;
        const std::string shown = std::string(bad).empty() ? "[EMPTY_3]" : bad;
        CHECK_THROWS_STATUS(load(tiny_vocab().strs("tokenizer.ggml.tokens", tokens)), HOB_ERR_MODEL_INVALID,
                            "tokenizer.ggml.tokens[3] is a byte token but its text \"" + shown + "\" is not <0xHH>");
    }
    // Lower-case hex digits are a valid byte token.
    std::vector<std::string> tokens = kTinyTokens;
    tokens[3] = "<0x4a>";
    const Vocab v = load(tiny_vocab().strs("tokenizer.ggml.tokens", tokens));
    CHECK_EQ(v.token_to_piece(3, false), std::string("J"));
}

TEST("a repeated token text is MODEL_INVALID naming both ids") {
    std::vector<std::string> tokens = kTinyTokens;
    tokens[6] = "a";
    CHECK_THROWS_STATUS(load(tiny_vocab().strs("tokenizer.ggml.tokens", tokens)), HOB_ERR_MODEL_INVALID,
                        "tokenizer.ggml.tokens[6] \"a\" repeats token 5");
}
