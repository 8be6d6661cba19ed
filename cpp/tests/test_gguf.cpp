// GGUF parser tests: valid v2/v3 files of every value type read back
// exactly, and malformed files (each field broken in turn, every truncation)
// give the right status and a message naming the field. Files are written
// here by a small byte builder; the real llama.cpp file comes last.
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "../gguf.h"
#include "harness.h"

using namespace hob;

namespace {

constexpr uint64_t kP62 = uint64_t(1) << 62;
constexpr uint64_t kP63 = uint64_t(1) << 63;

// Little-endian bytes (the host is little-endian, as the engine assumes).
struct Bytes {
    std::vector<uint8_t> v;
    template <typename T>
    Bytes& put(T x) {
        uint8_t b[sizeof(T)];
        std::memcpy(b, &x, sizeof(T));
        v.insert(v.end(), b, b + sizeof(T));
        return *this;
    }
    Bytes& u32(uint32_t x) { return put(x); }
    Bytes& u64(uint64_t x) { return put(x); }
    Bytes& str(const std::string& s) {
        put<uint64_t>(s.size());
        v.insert(v.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& bytes(const Bytes& b) {
        v.insert(v.end(), b.v.begin(), b.v.end());
        return *this;
    }
};

// Bytes of a tensor, or 0 when the type is unknown or the size overflows
// (malformed infos; their data is sized by hand).
uint64_t tensor_bytes(const std::vector<uint64_t>& dims, uint32_t type) {
    const TypeTraits* tr = type_traits(type);
    if (!tr || dims.empty() || dims[0] % tr->block_size) return 0;
    uint64_t n = dims[0] / tr->block_size * tr->type_size;
    for (size_t i = 1; i < dims.size(); i++) {
        if (__builtin_mul_overflow(n, dims[i], &n)) return 0;
    }
    return n;
}

// Writes a GGUF file: magic, version, counts, kv pairs, tensor infos,
// padding to `alignment`, and a data section. Counts and the data size can
// be overridden to lie.
class GgufBuilder {
public:
    uint32_t version = 3;
    uint32_t alignment = 32;   // padding before the data section
    int64_t n_tensors = -1;    // written tensor_count; -1: the real one
    int64_t n_kv = -1;         // written metadata_kv_count; -1: the real one
    int64_t data_bytes = -1;   // data section size; -1: to the end of the last tensor

    GgufBuilder& kv(const std::string& key, uint32_t type, const Bytes& value) {
        kv_.str(key).u32(type).bytes(value);
        kv_count_++;
        return *this;
    }
    template <typename T>
    GgufBuilder& scalar(const std::string& key, GgufType type, T x) {
        return kv(key, (uint32_t)type, Bytes().put(x));
    }
    GgufBuilder& string(const std::string& key, const std::string& s) {
        return kv(key, (uint32_t)GgufType::STRING, Bytes().str(s));
    }
    template <typename T>
    GgufBuilder& array(const std::string& key, GgufType elem, const std::vector<T>& xs) {
        Bytes b;
        b.u32((uint32_t)elem).u64(xs.size());
        for (const T& x : xs) b.put(x);
        return kv(key, (uint32_t)GgufType::ARRAY, b);
    }
    GgufBuilder& strings(const std::string& key, const std::vector<std::string>& xs) {
        Bytes b;
        b.u32((uint32_t)GgufType::STRING).u64(xs.size());
        for (const auto& x : xs) b.str(x);
        return kv(key, (uint32_t)GgufType::ARRAY, b);
    }

    // A tensor placed after the previous one, at the next aligned offset.
    GgufBuilder& tensor(const std::string& name, const std::vector<uint64_t>& dims, TypeId type) {
        return tensor_at(name, dims, (uint32_t)type, next_offset_);
    }
    GgufBuilder& tensor_at(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
                           uint64_t offset) {
        info_.str(name).u32((uint32_t)dims.size());
        for (uint64_t d : dims) info_.u64(d);
        info_.u32(type).u64(offset);
        tensor_count_++;
        const uint64_t end = offset + tensor_bytes(dims, type);
        if (end > data_end_) data_end_ = end;
        next_offset_ = (end + alignment - 1) / alignment * alignment;
        return *this;
    }

    // `header_end`: where the parser stops reading (before the padding).
    std::vector<uint8_t> build(size_t* header_end = nullptr) const {
        Bytes b;
        b.v = {'G', 'G', 'U', 'F'};
        b.u32(version);
        b.u64(n_tensors >= 0 ? (uint64_t)n_tensors : tensor_count_);
        b.u64(n_kv >= 0 ? (uint64_t)n_kv : kv_count_);
        b.bytes(kv_).bytes(info_);
        if (header_end) *header_end = b.v.size();
        while (b.v.size() % alignment) b.v.push_back(0);
        const uint64_t n = data_bytes >= 0 ? (uint64_t)data_bytes : data_end_;
        for (uint64_t i = 0; i < n; i++) b.v.push_back((uint8_t)(i * 7 + 1));
        return b.v;
    }

private:
    Bytes kv_, info_;
    uint64_t kv_count_ = 0, tensor_count_ = 0;
    uint64_t next_offset_ = 0, data_end_ = 0;
};

// Parses the first `available` bytes of a file of `file_size` bytes from a
// heap copy of exactly that length, so AddressSanitizer sees any over-read.
GgufFile parse_prefix(const std::vector<uint8_t>& file, size_t available, uint64_t file_size) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[available]);
    if (available) std::memcpy(copy.get(), file.data(), available);
    return GgufFile::parse(copy.get(), available, file_size);
}

GgufFile parse(const std::vector<uint8_t>& file) { return parse_prefix(file, file.size(), file.size()); }

// Checks that parsing throws hob::Error with `status` and a message holding
// every needle.
void check_error(const char* file, int line, const std::vector<uint8_t>& bytes, size_t available,
                 uint64_t file_size, hob_status status, std::initializer_list<const char*> needles) {
    try {
        parse_prefix(bytes, available, file_size);
        hobtest::report(file, line, "expected an error, but the file parsed");
    } catch (const Error& e) {
        const std::string msg = e.what();
        if (e.status() != status) {
            hobtest::report(file, line, "status " + std::to_string(e.status()) + ", expected " +
                                            std::to_string(status) + ": " + msg);
        }
        for (const char* n : needles) {
            if (msg.find(n) == std::string::npos) {
                hobtest::report(file, line, std::string("message lacks \"") + n + "\": " + msg);
            }
        }
    } catch (const std::exception& e) {
        hobtest::report(file, line, std::string("not a hob::Error: ") + e.what());
    }
}

#define CHECK_GGUF_ERROR(bytes, status, ...) \
    check_error(__FILE__, __LINE__, (bytes), (bytes).size(), (bytes).size(), (status), {__VA_ARGS__})
#define CHECK_GGUF_ERROR_AT(bytes, available, file_size, status, ...) \
    check_error(__FILE__, __LINE__, (bytes), (available), (file_size), (status), {__VA_ARGS__})

const std::string kStr("h\xc3\xa9llo\0world", 12);  // UTF-8 and an embedded NUL
const std::vector<std::string> kStrs = {"", "a", "<0x00>", "\xe2\x96\x81hello", std::string(300, 'x')};

// Every scalar type, every array element type, and tensors of several types.
GgufBuilder every_type(uint32_t version) {
    GgufBuilder g;
    g.version = version;
    g.scalar("t.u8", GgufType::UINT8, uint8_t(255))
        .scalar("t.i8", GgufType::INT8, int8_t(-128))
        .scalar("t.u16", GgufType::UINT16, uint16_t(65535))
        .scalar("t.i16", GgufType::INT16, int16_t(-32768))
        .scalar("t.u32", GgufType::UINT32, uint32_t(4294967295u))
        .scalar("t.i32", GgufType::INT32, int32_t(INT32_MIN))
        .scalar("t.f32", GgufType::FLOAT32, 0.1f)
        .scalar("t.bool", GgufType::BOOL, uint8_t(1))
        .scalar("t.bool0", GgufType::BOOL, uint8_t(0))
        .string("t.str", kStr)
        .string("t.empty", "")
        .scalar("t.u64", GgufType::UINT64, uint64_t(UINT64_MAX))
        .scalar("t.i64", GgufType::INT64, int64_t(INT64_MIN))
        .scalar("t.f64", GgufType::FLOAT64, 0.1)
        .array("a.u8", GgufType::UINT8, std::vector<uint8_t>{0, 1, 255})
        .array("a.i8", GgufType::INT8, std::vector<int8_t>{-128, 0, 127})
        .array("a.u16", GgufType::UINT16, std::vector<uint16_t>{0, 65535})
        .array("a.i16", GgufType::INT16, std::vector<int16_t>{-32768, 32767})
        .array("a.u32", GgufType::UINT32, std::vector<uint32_t>{0, 4294967295u})
        .array("a.i32", GgufType::INT32, std::vector<int32_t>{INT32_MIN, INT32_MAX})
        .array("a.f32", GgufType::FLOAT32, std::vector<float>{0.5f, -0.1f})
        .array("a.bool", GgufType::BOOL, std::vector<uint8_t>{1, 0, 1})
        .array("a.u64", GgufType::UINT64, std::vector<uint64_t>{UINT64_MAX, uint64_t(1) << 53})
        .array("a.i64", GgufType::INT64, std::vector<int64_t>{INT64_MIN, -(int64_t(1) << 53)})
        .array("a.f64", GgufType::FLOAT64, std::vector<double>{0.1, -1e300})
        .array("a.empty", GgufType::UINT32, std::vector<uint32_t>{})
        .strings("a.str", kStrs)
        .strings("a.str_empty", {});
    g.tensor("f32", {4, 3}, TypeId::F32)
        .tensor("f16", {8}, TypeId::F16)
        .tensor("q4_0", {64, 2}, TypeId::Q4_0)
        .tensor("q8_0", {32, 1, 2}, TypeId::Q8_0)
        .tensor("q4_k", {256}, TypeId::Q4_K)
        .tensor("bf16", {2, 2, 2, 2}, TypeId::BF16);
    return g;
}

void check_every_type(uint32_t version) {
    size_t header_end = 0;
    const std::vector<uint8_t> file = every_type(version).build(&header_end);
    const GgufFile f = parse(file);
    CHECK_EQ(f.version, version);
    CHECK_EQ(f.alignment, 32u);
    CHECK_EQ(f.file_size, (uint64_t)file.size());
    CHECK_EQ(f.data_offset, (uint64_t)(header_end + 31) / 32 * 32);
    REQUIRE(f.kv.size() == 28);
    CHECK_EQ(f.kv[0].first, std::string("t.u8"));
    CHECK_EQ(f.kv[27].first, std::string("a.str_empty"));

    CHECK_EQ(f.find("t.u8")->u64, 255u);
    CHECK_EQ(f.find("t.i8")->i64, -128);
    CHECK_EQ(f.find("t.u16")->u64, 65535u);
    CHECK_EQ(f.find("t.i16")->i64, -32768);
    CHECK_EQ(f.find("t.u32")->u64, 4294967295u);
    CHECK_EQ(f.find("t.i32")->i64, (int64_t)INT32_MIN);
    CHECK_EQ(f.find("t.f32")->num, (double)0.1f);
    CHECK(f.find("t.f32")->type == GgufType::FLOAT32);
    CHECK_EQ(f.find("t.u64")->u64, (uint64_t)UINT64_MAX);
    CHECK_EQ(f.find("t.i64")->i64, (int64_t)INT64_MIN);
    CHECK_EQ(f.find("t.f64")->num, 0.1);
    CHECK_EQ(f.find("t.str")->str, kStr);
    CHECK_EQ(f.find("t.empty")->str, std::string());

    // Typed getters: exact values, fallbacks, and a wrong type named.
    CHECK_EQ(f.get_int("t.u32", 0), 4294967295);
    CHECK_EQ(f.get_int("t.i64", 0), (int64_t)INT64_MIN);
    CHECK_EQ(f.get_int("missing", 7), 7);
    CHECK_EQ(f.get_float("t.f64", 0), 0.1);
    CHECK_EQ(f.get_bool("t.bool", false), true);
    CHECK_EQ(f.get_bool("t.bool0", true), false);
    CHECK_EQ(f.get_string("t.str", ""), kStr);
    CHECK_EQ(f.get_string("missing", "fb"), std::string("fb"));
    CHECK_THROWS_STATUS(f.get_int("t.u64", 0), HOB_ERR_MODEL_INVALID, "t.u64 is too large");
    CHECK_THROWS_STATUS(f.get_string("t.u8", ""), HOB_ERR_MODEL_INVALID, "t.u8 should be a string but is uint8");
    CHECK_THROWS_STATUS(f.get_float("a.str", 0), HOB_ERR_MODEL_INVALID, "a.str should be a number but is array");

    // Arrays: element type, count, raw bytes exactly as written, values.
    const GgufValue* a = f.find("a.i16");
    REQUIRE(a && a->is_array());
    CHECK(a->elem_type == GgufType::INT16);
    CHECK_EQ(a->count, 2u);
    CHECK_EQ(a->array_number(0), -32768.0);
    CHECK_EQ(a->array_number(1), 32767.0);
    const GgufValue* u64s = f.find("a.u64");
    uint64_t first = 0;
    REQUIRE(u64s->raw.size() == 16);
    std::memcpy(&first, u64s->raw.data(), 8);
    CHECK_EQ(first, (uint64_t)UINT64_MAX);
    CHECK_EQ(u64s->array_number(1), 9007199254740992.0);
    CHECK_EQ(f.find("a.u8")->array_number(2), 255.0);
    CHECK_EQ(f.find("a.i8")->array_number(0), -128.0);
    CHECK_EQ(f.find("a.u16")->array_number(1), 65535.0);
    CHECK_EQ(f.find("a.u32")->array_number(1), 4294967295.0);
    CHECK_EQ(f.find("a.i32")->array_number(0), (double)INT32_MIN);
    CHECK_EQ(f.find("a.f32")->array_number(1), (double)-0.1f);
    CHECK_EQ(f.find("a.bool")->array_number(1), 0.0);
    CHECK_EQ(f.find("a.i64")->array_number(1), -9007199254740992.0);
    CHECK_EQ(f.find("a.f64")->array_number(1), -1e300);
    CHECK_EQ(f.find("a.empty")->count, 0u);
    CHECK_THROWS_STATUS(f.find("a.u8")->array_number(3), HOB_ERR_OUT_OF_RANGE, "array element 3");
    const GgufValue* s = f.find("a.str");
    CHECK(s->elem_type == GgufType::STRING);
    CHECK(s->strs == kStrs);
    CHECK_EQ(f.find("a.str_empty")->strs.size(), 0u);

    // Tensors: shapes, types, aligned offsets and sizes from the block geometry.
    REQUIRE(f.tensors.size() == 6);
    const GgufTensorInfo* t = f.find_tensor("q4_0");
    REQUIRE(t);
    CHECK_EQ(t->n_dims, 2);
    CHECK_EQ(t->ne[0], 64);
    CHECK_EQ(t->ne[1], 2);
    CHECK_EQ(t->ne[2], 1);
    CHECK(t->type == TypeId::Q4_0);
    CHECK_EQ(t->size, 72u);  // 2 rows of 2 blocks of 18 bytes
    CHECK_EQ(f.tensors[0].size, 48u);
    CHECK_EQ(f.tensors[1].offset, 64u);
    CHECK_EQ(f.tensors[2].offset, 96u);
    CHECK_EQ(f.find_tensor("q8_0")->ne[2], 2);
    CHECK_EQ(f.find_tensor("q8_0")->size, 68u);
    CHECK_EQ(f.find_tensor("q4_k")->size, 144u);
    CHECK_EQ(f.find_tensor("bf16")->n_elements(), 16);
    CHECK_EQ(f.find_tensor("bf16")->n_rows(), 8);
    CHECK(f.find_tensor("missing") == nullptr);
    const GgufTensorInfo& last = f.tensors.back();
    CHECK_EQ(f.data_offset + last.offset + last.size, (uint64_t)file.size());
}

// A one-tensor file whose single tensor info is written by hand.
std::vector<uint8_t> one_tensor(const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset = 0,
                                int64_t data_bytes = -1) {
    GgufBuilder g;
    g.data_bytes = data_bytes;
    g.tensor_at("w", dims, type, offset);
    return g.build();
}

std::vector<uint8_t> with_alignment(GgufType type, const Bytes& value) {
    GgufBuilder g;
    g.kv("general.alignment", (uint32_t)type, value).tensor("w", {8}, TypeId::F32);
    return g.build();
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST("gguf: a v3 file with every value type and array reads back exactly") { check_every_type(3); }

TEST("gguf: a v2 file with every value type and array reads back exactly") { check_every_type(2); }

TEST("gguf: general.alignment 64 and 1 place the data section and offsets") {
    GgufBuilder g;
    g.alignment = 64;
    g.scalar("general.alignment", GgufType::UINT32, uint32_t(64)).tensor("a", {8}, TypeId::F32).tensor("b", {8}, TypeId::F32);
    size_t end = 0;
    const GgufFile f = parse(g.build(&end));
    CHECK_EQ(f.alignment, 64u);
    CHECK_EQ(f.data_offset, (uint64_t)(end + 63) / 64 * 64);
    CHECK_EQ(f.tensors[1].offset, 64u);

    GgufBuilder one;
    one.alignment = 1;
    one.scalar("general.alignment", GgufType::UINT32, uint32_t(1)).tensor_at("a", {3}, (uint32_t)TypeId::F16, 0);
    one.tensor_at("b", {1}, (uint32_t)TypeId::F32, 6);
    const GgufFile f1 = parse(one.build(&end));
    CHECK_EQ(f1.data_offset, (uint64_t)end);
    CHECK_EQ(f1.tensors[1].offset, 6u);

    GgufBuilder mis;
    mis.scalar("general.alignment", GgufType::UINT32, uint32_t(64)).tensor_at("w", {8}, (uint32_t)TypeId::F32, 32);
    CHECK_GGUF_ERROR(mis.build(), HOB_ERR_GGUF_INVALID, "tensor \"w\" offset 32 is not a multiple of the alignment 64");
}

TEST("gguf: a file without tensors may end at its header") {
    GgufBuilder g;
    g.string("general.architecture", "llama");
    size_t end = 0;
    const std::vector<uint8_t> file = g.build(&end);
    const GgufFile f = parse_prefix(file, end, end);
    CHECK_EQ(f.tensors.size(), 0u);
    CHECK_EQ(f.get_string("general.architecture", ""), std::string("llama"));
}

TEST("gguf: bad magic is named, and files shorter than the magic are refused") {
    std::vector<uint8_t> file = every_type(3).build();
    std::memcpy(file.data(), "GGML", 4);
    CHECK_GGUF_ERROR(file, HOB_ERR_GGUF_BAD_MAGIC, "magic is \"GGML\"", "expected \"GGUF\"");
    file[0] = 0x00;
    file[1] = 0xff;
    CHECK_GGUF_ERROR(file, HOB_ERR_GGUF_BAD_MAGIC, "magic is \"??ML\"");
    const std::vector<uint8_t> three = {'G', 'G', 'U'};
    CHECK_GGUF_ERROR(three, HOB_ERR_GGUF_BAD_MAGIC, "only 3 bytes");
    const std::vector<uint8_t> empty;
    CHECK_GGUF_ERROR(empty, HOB_ERR_GGUF_BAD_MAGIC, "only 0 bytes");
}

TEST("gguf: versions 1 and 4 and a big-endian file are refused") {
    for (uint32_t v : {0u, 1u, 4u, 0xffffffffu}) {
        GgufBuilder g = every_type(3);
        g.version = v;
        CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_BAD_VERSION, ("GGUF version " + std::to_string(v) + " is not").c_str());
    }
    for (uint32_t v : {0x02000000u, 0x03000000u}) {  // 2 and 3 written big-endian
        GgufBuilder g = every_type(3);
        g.version = v;
        CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_BAD_VERSION, "big-endian");
    }
}

TEST("gguf: every truncation of a valid file is a clean error") {
    const std::vector<uint8_t> file = every_type(3).build();
    int wrong = 0;
    for (size_t k = 0; k < file.size(); k++) {
        try {
            parse_prefix(file, k, k);
            hobtest::report(__FILE__, __LINE__, "prefix of " + std::to_string(k) + " bytes parsed");
            wrong++;
        } catch (const Error& e) {
            const hob_status want_a = k < 4 ? HOB_ERR_GGUF_BAD_MAGIC : HOB_ERR_GGUF_TRUNCATED;
            const hob_status want_b = k < 4 ? HOB_ERR_GGUF_BAD_MAGIC : HOB_ERR_GGUF_INVALID;
            if ((e.status() != want_a && e.status() != want_b) || std::string(e.what()).empty()) {
                hobtest::report(__FILE__, __LINE__, "prefix of " + std::to_string(k) + ": " + e.what());
                wrong++;
            }
        }
        if (wrong > 5) break;
    }
}

TEST("gguf: every header prefix shorter than the header is TRUNCATED naming the bytes provided") {
    size_t end = 0;
    const std::vector<uint8_t> file = every_type(3).build(&end);
    const GgufFile whole = parse(file);
    int wrong = 0;
    for (size_t k = 0; k <= file.size() && wrong <= 5; k++) {
        try {
            const GgufFile f = parse_prefix(file, k, file.size());
            if (k < end) {
                hobtest::report(__FILE__, __LINE__, "header parsed from " + std::to_string(k) + " bytes");
                wrong++;
            } else if (f.data_offset != whole.data_offset || f.kv.size() != whole.kv.size() ||
                       f.tensors.size() != whole.tensors.size()) {
                hobtest::report(__FILE__, __LINE__, "prefix of " + std::to_string(k) + " parsed differently");
                wrong++;
            }
        } catch (const Error& e) {
            const std::string msg = e.what();
            const std::string provided = std::to_string(k) + " bytes provided";
            if (k >= end || e.status() != HOB_ERR_GGUF_TRUNCATED || msg.find(provided) == std::string::npos ||
                msg.find("(at byte ") == std::string::npos) {
                hobtest::report(__FILE__, __LINE__, "prefix of " + std::to_string(k) + ": " + msg);
                wrong++;
            }
        }
    }
}

TEST("gguf: a header cut inside a tensor info names the field and the bytes provided") {
    const std::vector<uint8_t> file = one_tensor({8}, (uint32_t)TypeId::F32);
    // 24 bytes of header, the name "w" (9), n_dims (4), one dim (8), the
    // type (4): the offset starts at byte 49.
    CHECK_GGUF_ERROR_AT(file, 52, file.size(), HOB_ERR_GGUF_TRUNCATED, "larger than the 52 bytes provided",
                        "tensor offset (at byte 49)");
    CHECK_GGUF_ERROR_AT(file, 52, 52, HOB_ERR_GGUF_TRUNCATED, "tensor offset needs 8 bytes but the file has 3 left",
                        "(at byte 49)");
}

TEST("gguf: string lengths of 2^63 and of the file size + 1 are refused") {
    Bytes huge_key;
    huge_key.v = {'G', 'G', 'U', 'F'};
    huge_key.u32(3).u64(0).u64(1).u64(kP63).u64(0).u64(0);
    CHECK_GGUF_ERROR(huge_key.v, HOB_ERR_GGUF_INVALID, "metadata key has length 9223372036854775808", "(at byte 24)");

    GgufBuilder g;
    g.string("k", "value");
    std::vector<uint8_t> file = g.build();
    const uint64_t len = file.size() + 1;
    std::memcpy(&file[24 + 8 + 1 + 4], &len, 8);  // the value's length
    CHECK_GGUF_ERROR(file, HOB_ERR_GGUF_INVALID, ("k has length " + std::to_string(len)).c_str(), "(at byte 37)");

    GgufBuilder t;
    t.tensor("w", {8}, TypeId::F32);
    file = t.build();
    std::memcpy(&file[24], &kP63, 8);  // the tensor name's length
    CHECK_GGUF_ERROR(file, HOB_ERR_GGUF_INVALID, "tensor name has length 9223372036854775808");

    GgufBuilder sa;
    sa.strings("toks", {"a", "b"});
    file = sa.build();
    std::memcpy(&file[24 + 12 + 4 + 4 + 8 + 9], &kP63, 8);  // length of "b"
    CHECK_GGUF_ERROR(file, HOB_ERR_GGUF_INVALID, "toks has length 9223372036854775808");
}

TEST("gguf: kv and tensor counts of 2^62 are refused before allocating") {
    GgufBuilder g = every_type(3);
    g.n_kv = (int64_t)kP62;
    CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_INVALID, "metadata_kv_count 4611686018427387904 is more than the file can hold");
    g = every_type(3);
    g.n_tensors = (int64_t)kP62;
    CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_INVALID, "tensor_count 4611686018427387904 is more than the file can hold");
}

TEST("gguf: huge counts in a header shorter than a huge file fail on the missing bytes") {
    // The browser parses a prefix of a multi-GB file: counts that the file
    // could hold must not drive an allocation before their bytes are read.
    const uint64_t file_size = kP62;
    GgufBuilder g;
    g.n_kv = (int64_t)(uint64_t(1) << 56);
    std::vector<uint8_t> file = g.build();
    CHECK_GGUF_ERROR_AT(file, 24, file_size, HOB_ERR_GGUF_TRUNCATED, "24 bytes provided", "metadata key (at byte 24)");
    g = GgufBuilder();
    g.n_tensors = (int64_t)(uint64_t(1) << 56);
    file = g.build();
    CHECK_GGUF_ERROR_AT(file, 24, file_size, HOB_ERR_GGUF_TRUNCATED, "24 bytes provided", "tensor name (at byte 24)");

    for (GgufType elem : {GgufType::UINT64, GgufType::STRING}) {
        Bytes arr;
        arr.u32((uint32_t)elem).u64(uint64_t(1) << 28);
        GgufBuilder a;
        a.kv("big", (uint32_t)GgufType::ARRAY, arr);
        file = a.build();
        CHECK_GGUF_ERROR_AT(file, file.size(), file_size, HOB_ERR_GGUF_TRUNCATED, "bytes provided", "big");
    }
}

TEST("gguf: array counts larger than the file or the limit are refused") {
    for (GgufType elem : {GgufType::UINT8, GgufType::FLOAT64, GgufType::STRING}) {
        for (uint64_t count : {kP62, UINT64_MAX, uint64_t(64)}) {
            Bytes arr;
            arr.u32((uint32_t)elem).u64(count).u64(0);
            GgufBuilder g;
            g.kv("arr", (uint32_t)GgufType::ARRAY, arr);
            // Key "arr" (11 bytes) and the type (4) put the array at byte 39.
            CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_INVALID,
                             ("arr claims " + std::to_string(count) + " elements").c_str(), "(at byte 39)");
        }
    }
    // Over the fixed limit even where the file would be big enough.
    Bytes arr;
    arr.u32((uint32_t)GgufType::UINT8).u64((uint64_t(1) << 28) + 1);
    GgufBuilder g;
    g.kv("arr", (uint32_t)GgufType::ARRAY, arr);
    const std::vector<uint8_t> file = g.build();
    CHECK_GGUF_ERROR_AT(file, file.size(), kP62, HOB_ERR_GGUF_INVALID, "arr claims 268435457 elements");
}

TEST("gguf: arrays of arrays, unknown value and element types, and bad bools are refused") {
    Bytes nested;
    nested.u32((uint32_t)GgufType::ARRAY).u64(1).u32((uint32_t)GgufType::UINT8).u64(1).put<uint8_t>(0);
    CHECK_GGUF_ERROR(GgufBuilder().kv("nest", 9, nested).build(), HOB_ERR_GGUF_INVALID, "array nest holds arrays");

    for (uint32_t type : {13u, 1000u, 0xffffffffu}) {
        CHECK_GGUF_ERROR(GgufBuilder().kv("k", type, Bytes().u32(0)).build(), HOB_ERR_GGUF_INVALID,
                         ("\"k\" has unknown value type " + std::to_string(type)).c_str(), "(at byte 33)");
        CHECK_GGUF_ERROR(GgufBuilder().kv("k", 9, Bytes().u32(type).u64(0)).build(), HOB_ERR_GGUF_INVALID,
                         ("array k has unknown element type " + std::to_string(type)).c_str());
    }
    CHECK_GGUF_ERROR(GgufBuilder().scalar("b", GgufType::BOOL, uint8_t(2)).build(), HOB_ERR_GGUF_INVALID, "bool b is 2");
    CHECK_GGUF_ERROR(GgufBuilder().array("b", GgufType::BOOL, std::vector<uint8_t>{1, 255}).build(), HOB_ERR_GGUF_INVALID,
                     "bool array b holds 255");
}

TEST("gguf: duplicate keys and tensor names are refused") {
    GgufBuilder g;
    g.scalar("k", GgufType::UINT32, uint32_t(1)).scalar("j", GgufType::UINT8, uint8_t(1)).string("k", "again");
    CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_INVALID, "metadata key \"k\" appears twice", "(at byte 55)");
    GgufBuilder t;
    t.tensor("w", {8}, TypeId::F32).tensor("v", {8}, TypeId::F32).tensor("w", {8}, TypeId::F32);
    CHECK_GGUF_ERROR(t.build(), HOB_ERR_GGUF_INVALID, "tensor \"w\" appears twice");
}

TEST("gguf: n_dims 0 and 5, zero and negative dimensions are refused") {
    CHECK_GGUF_ERROR(one_tensor({}, 0, 0, 32), HOB_ERR_GGUF_INVALID, "tensor \"w\" has 0 dimensions (1 to 4 allowed)",
                     "(at byte 24)");
    CHECK_GGUF_ERROR(one_tensor({1, 1, 1, 1, 8}, 0), HOB_ERR_GGUF_INVALID, "tensor \"w\" has 5 dimensions");
    CHECK_GGUF_ERROR(one_tensor({8, 0}, 0, 0, 32), HOB_ERR_GGUF_INVALID, "tensor \"w\" has dimension 1 = 0");
    CHECK_GGUF_ERROR(one_tensor({kP63}, 0, 0, 32), HOB_ERR_GGUF_INVALID,
                     "tensor \"w\" has dimension 0 = 9223372036854775808");
}

TEST("gguf: dims whose element count or byte size overflows are refused") {
    const uint64_t p32 = uint64_t(1) << 32;
    CHECK_GGUF_ERROR(one_tensor({p32, p32}, 0, 0, 32), HOB_ERR_GGUF_INVALID, "\"w\" has dimensions whose product overflows");
    CHECK_GGUF_ERROR(one_tensor({2, 2, p32, p32}, 0, 0, 32), HOB_ERR_GGUF_INVALID, "product overflows");
    CHECK_GGUF_ERROR(one_tensor({kP62}, (uint32_t)TypeId::F32, 0, 32), HOB_ERR_GGUF_INVALID,
                     "\"w\" has a byte size that overflows");
    CHECK_GGUF_ERROR(one_tensor({uint64_t(1) << 31, uint64_t(1) << 31}, (uint32_t)TypeId::F64, 0, 32),
                     HOB_ERR_GGUF_INVALID, "byte size that overflows");
    // Large but representable: the size fits, the file does not.
    CHECK_GGUF_ERROR(one_tensor({uint64_t(1) << 60}, (uint32_t)TypeId::F32, 0, 32), HOB_ERR_GGUF_TRUNCATED,
                     "\"w\" (4611686018427387904 bytes at data offset 0) ends past the end of the file (32 bytes of data)");
}

TEST("gguf: unknown and removed tensor type ids are refused") {
    for (uint32_t type : {4u, 5u, 31u, 40u, 1000u}) {
        CHECK_GGUF_ERROR(one_tensor({32}, type, 0, 64), HOB_ERR_GGUF_INVALID,
                         ("\"w\" has unknown type id " + std::to_string(type)).c_str(), "(at byte 45)");
    }
}

TEST("gguf: a row that is not a whole number of blocks is refused") {
    CHECK_GGUF_ERROR(one_tensor({33, 2}, (uint32_t)TypeId::Q4_0, 0, 64), HOB_ERR_GGUF_INVALID,
                     "\"w\" of type Q4_0 has a row of 33 elements, not a multiple of the block size 32");
    CHECK_GGUF_ERROR(one_tensor({128}, (uint32_t)TypeId::Q4_K, 0, 256), HOB_ERR_GGUF_INVALID,
                     "Q4_K has a row of 128 elements, not a multiple of the block size 256");
}

TEST("gguf: misaligned, out-of-file and overlapping tensors are refused") {
    CHECK_GGUF_ERROR(one_tensor({8}, 0, 16, 64), HOB_ERR_GGUF_INVALID,
                     "\"w\" offset 16 is not a multiple of the alignment 32");
    CHECK_GGUF_ERROR(one_tensor({8}, 0, 0, 31), HOB_ERR_GGUF_TRUNCATED,
                     "\"w\" (32 bytes at data offset 0) ends past the end of the file (31 bytes of data)");
    CHECK_GGUF_ERROR(one_tensor({8}, 0, kP63, 32), HOB_ERR_GGUF_TRUNCATED, "at data offset 9223372036854775808");
    CHECK_GGUF_ERROR(one_tensor({8}, 0, UINT64_MAX - 31, 32), HOB_ERR_GGUF_TRUNCATED, "ends past the end of the file");

    GgufBuilder g;
    g.tensor_at("a", {16}, 0, 0).tensor_at("b", {8}, 0, 96).tensor_at("c", {16}, 0, 32);
    CHECK_GGUF_ERROR(g.build(), HOB_ERR_GGUF_INVALID, "tensors \"a\" and \"c\" overlap");
    GgufBuilder same;
    same.tensor_at("a", {8}, 0, 0).tensor_at("b", {8}, 0, 0);
    CHECK_GGUF_ERROR(same.build(), HOB_ERR_GGUF_INVALID, "overlap");
    GgufBuilder touching;  // end to end is fine
    touching.tensor_at("a", {8}, 0, 32).tensor_at("b", {8}, 0, 0);
    CHECK_EQ(parse(touching.build()).tensors.size(), 2u);

    // The header ends off the alignment and the file ends before the data section.
    size_t end = 0;
    const std::vector<uint8_t> file = one_tensor({8}, 0);
    GgufBuilder h;
    h.tensor_at("w", {8}, 0, 0);
    h.build(&end);
    REQUIRE(end % 32 != 0);
    CHECK_GGUF_ERROR_AT(file, end, end, HOB_ERR_GGUF_TRUNCATED,
                        ("data section would start at byte " + std::to_string((end + 31) / 32 * 32)).c_str());
}

TEST("gguf: general.alignment 0, 3, 2^31, negative, a float and a string are refused") {
    for (uint32_t a : {0u, 3u, 48u, 1u << 31}) {
        CHECK_GGUF_ERROR(with_alignment(GgufType::UINT32, Bytes().u32(a)), HOB_ERR_GGUF_INVALID, "general.alignment");
    }
    CHECK_GGUF_ERROR(with_alignment(GgufType::UINT64, Bytes().u64(kP63 + 32)), HOB_ERR_GGUF_INVALID, "general.alignment");
    CHECK_GGUF_ERROR(with_alignment(GgufType::INT32, Bytes().put<int32_t>(-32)), HOB_ERR_GGUF_INVALID, "general.alignment");
    CHECK_GGUF_ERROR(with_alignment(GgufType::FLOAT32, Bytes().put(32.0f)), HOB_ERR_GGUF_INVALID, "general.alignment");
    CHECK_GGUF_ERROR(with_alignment(GgufType::STRING, Bytes().str("32")), HOB_ERR_GGUF_INVALID, "general.alignment");
    Bytes arr;
    arr.u32((uint32_t)GgufType::UINT32).u64(1).u32(32);
    CHECK_GGUF_ERROR(with_alignment(GgufType::ARRAY, arr), HOB_ERR_GGUF_INVALID, "general.alignment");
}

TEST("gguf: the llama.cpp-written tiny Llama 2 file parses") {
    const std::vector<uint8_t> file = read_file(hobtest::testdata_dir() + "/llama-2-tiny-random.gguf");
    REQUIRE(file.size() == 1750560);
    const GgufFile f = parse(file);
    CHECK_EQ(f.version, 3u);
    CHECK_EQ(f.kv.size(), 18u);
    CHECK_EQ(f.tensors.size(), 12u);
    CHECK_EQ(f.data_offset, 724416u);
    CHECK_EQ(f.get_string("general.architecture", ""), std::string("llama"));
    CHECK_EQ(f.get_int("llama.context_length", 0), 4096);
    const GgufValue* toks = f.find("tokenizer.ggml.tokens");
    REQUIRE(toks && toks->is_array());
    CHECK_EQ(toks->strs.size(), 32000u);
    CHECK_EQ(toks->strs[1], std::string("<s>"));
    CHECK_EQ(f.find("tokenizer.ggml.scores")->count, 32000u);

    const GgufTensorInfo* e = f.find_tensor("token_embd.weight");
    REQUIRE(e);
    CHECK_EQ(e->n_dims, 2);
    CHECK_EQ(e->ne[0], 8);
    CHECK_EQ(e->ne[1], 32000);
    CHECK(e->type == TypeId::F16);
    CHECK_EQ(e->offset, 0u);
    CHECK_EQ(e->size, 512000u);
    const GgufTensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
    REQUIRE(q);
    CHECK_EQ(q->n_dims, 2);
    CHECK_EQ(q->ne[0], 8);
    CHECK_EQ(q->ne[1], 8);
    CHECK(q->type == TypeId::F16);
    CHECK_EQ(q->offset, 512000u);
    CHECK(f.find_tensor("blk.0.attn_norm.weight")->type == TypeId::F32);

    // The header alone (724,398 bytes) is enough, one byte less is not.
    CHECK_EQ(parse_prefix(file, 724398, file.size()).tensors.size(), 12u);
    CHECK_GGUF_ERROR_AT(file, 724397, file.size(), HOB_ERR_GGUF_TRUNCATED, "724397 bytes provided");
}
