// libFuzzer target for everything that reads untrusted model bytes: the GGUF
// header parser and the tokenizer built from its (attacker-controlled)
// metadata. Only hob::Error may escape; any other exception, a crash, a
// sanitizer report or a broken invariant checked below is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../gguf.h"
#include "../vocab.h"

// UBSan reports are findings: stop at the first, whatever the build flags.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "gguf_fuzz finding: %s\n", what.c_str());
    std::abort();
}

// Reads every numeric array element, so a raw buffer shorter than its count
// shows up under AddressSanitizer.
void touch_values(const hob::GgufFile& f) {
    for (const auto& kv : f.kv) {
        const hob::GgufValue& v = kv.second;
        if (!v.is_array()) continue;
        if (v.elem_type == hob::GgufType::STRING) {
            if (v.strs.size() != v.count) finding("string array " + kv.first + " size differs from its count");
            continue;
        }
        if (v.count > 0) {
            volatile double sink = v.array_number(0) + v.array_number(v.count - 1);
            (void)sink;
        }
    }
}

// A shorter prefix of the same file reads the same bytes up to where it
// stops, so it either parses identically (the header fits) or fails, and
// fails as TRUNCATED unless the whole file fails the same way.
void check_prefix(const uint8_t* data, size_t size, size_t available, const hob::GgufFile* whole,
                  hob_status whole_status) {
    // An exact-size heap copy, so a read past `available` is an ASan report.
    std::unique_ptr<uint8_t[]> prefix(new uint8_t[available ? available : 1]);
    if (available) std::memcpy(prefix.get(), data, available);
    try {
        const hob::GgufFile f = hob::GgufFile::parse(prefix.get(), available, size);
        if (!whole) finding("a prefix parsed but the whole file did not");
        if (f.data_offset != whole->data_offset || f.kv.size() != whole->kv.size() ||
            f.tensors.size() != whole->tensors.size()) {
            finding("a prefix parsed differently from the whole file");
        }
    } catch (const hob::Error& e) {
        if (e.status() != HOB_ERR_GGUF_TRUNCATED && e.status() != whole_status) {
            finding(std::string("a prefix failed with a new status: ") + e.what());
        }
    }
}

void exercise_vocab(const hob::GgufFile& f) {
    std::unique_ptr<hob::Vocab> vocab;
    try {
        vocab.reset(new hob::Vocab(hob::Vocab::load(f)));
    } catch (const hob::Error&) {
        return;
    }
    const hob::Vocab& v = *vocab;
    const int32_t n = v.n_tokens();
    // Plain words, a space run, specials, text that looks like a byte token,
    // UTF-8 of 2-4 bytes, an invalid byte and a NUL.
    static const char kText[] = "Hello  world <s></s><unk> <0x41>\n\t\xc3\xa9\xe2\x96\x81\xf0\x9f\x98\x80\xff" "a\0b";
    const std::string text(kText, sizeof(kText) - 1);
    for (int mode = 0; mode < 4; mode++) {
        const bool add_special = mode & 1, parse_special = mode & 2;
        std::vector<int32_t> ids;
        try {
            ids = v.tokenize(text, add_special, parse_special);
        } catch (const hob::Error&) {
            continue;
        }
        std::string out;
        for (int32_t id : ids) {
            if (id < 0 || id >= n) finding("tokenize returned id " + std::to_string(id) + " of " + std::to_string(n));
            try {
                out += v.token_to_piece(id, parse_special);
                (void)v.type(id);
                (void)v.text(id);
                (void)v.is_eog(id);
            } catch (const hob::Error&) {
            }
        }
    }
    // Ids from outside the table are the caller's mistake: an error, never a read.
    for (int32_t id : {-1, n, INT32_MIN, INT32_MAX, v.bos(), v.eos()}) {
        try {
            (void)v.token_to_piece(id, true);
            (void)v.is_eog(id);
        } catch (const hob::Error&) {
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::unique_ptr<hob::GgufFile> whole;
    hob_status whole_status = HOB_OK;
    try {
        whole.reset(new hob::GgufFile(hob::GgufFile::parse(data, size, size)));
    } catch (const hob::Error& e) {
        whole_status = e.status();
    }
    check_prefix(data, size, size / 2, whole.get(), whole_status);
    if (size > 64) check_prefix(data, size, size - 7, whole.get(), whole_status);
    if (whole) {
        touch_values(*whole);
        exercise_vocab(*whole);
    }
    return 0;
}
