// GGUF container: parses the header (metadata and tensor infos) of versions
// 2 and 3 from untrusted bytes, and validates every size against the file.
// It owns no tensor data and knows nothing of models or tokenizers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common.h"
#include "types.h"

namespace hob {

enum class GgufType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

const char* gguf_type_name(GgufType t);

// One metadata value. Scalars live in `num`/`str`; arrays of numbers are kept
// as raw little-endian bytes and decoded on access, arrays of strings are
// decoded once.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    GgufType elem_type = GgufType::UINT8;  // arrays only
    uint64_t count = 0;                    // arrays only
    double num = 0;                        // numeric scalars and bools
    uint64_t u64 = 0;                      // exact value of integer scalars
    int64_t i64 = 0;
    std::string str;                       // STRING
    std::vector<uint8_t> raw;              // numeric arrays: count * elem size
    std::vector<std::string> strs;         // string arrays

    bool is_array() const { return type == GgufType::ARRAY; }
    // Element i of a numeric array, converted.
    double array_number(uint64_t i) const;
};

struct GgufTensorInfo {
    std::string name;
    int32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the innermost (row) length
    TypeId type = TypeId::F32;
    uint64_t offset = 0;  // from the start of the data section
    uint64_t size = 0;    // bytes

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
public:
    // Parses the header from the first `available` bytes of a file of
    // `file_size` bytes. Throws hob::Error naming the field and offset.
    static GgufFile parse(const uint8_t* data, size_t available, uint64_t file_size);

    uint32_t version = 0;
    uint32_t alignment = 32;
    uint64_t data_offset = 0;  // file offset of the tensor data section
    uint64_t file_size = 0;

    std::vector<std::pair<std::string, GgufValue>> kv;  // in file order
    std::vector<GgufTensorInfo> tensors;                // in file order

    const GgufValue* find(const std::string& key) const;
    const GgufTensorInfo* find_tensor(const std::string& name) const;

    // Typed getters; a present key of the wrong type is an error naming it.
    std::string get_string(const std::string& key, const std::string& fallback) const;
    bool has(const std::string& key) const { return find(key) != nullptr; }
    int64_t get_int(const std::string& key, int64_t fallback) const;
    double get_float(const std::string& key, double fallback) const;
    bool get_bool(const std::string& key, bool fallback) const;

private:
    std::map<std::string, size_t> kv_index_;
    std::map<std::string, size_t> tensor_index_;
};

// A tensor's dims as "[a, b, c]", innermost first (GGUF's order): what the
// loaders' shape errors print.
std::string shape_str(const int64_t* ne, int n);

}  // namespace hob
