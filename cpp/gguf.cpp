// GGUF header parser. Every read goes through Reader, which checks the
// remaining length first; every count and size product is overflow-checked
// before it is used to allocate or index.
#include "gguf.h"

#include <algorithm>

namespace hob {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;
// A metadata array longer than this is refused even if the file is big
// enough: no model needs it, and a hostile count must not drive allocation.
constexpr uint64_t kMaxArrayCount = uint64_t(1) << 28;

std::string at(uint64_t offset) { return " (at byte " + std::to_string(offset) + ")"; }

uint32_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
        case GgufType::UINT16: case GgufType::INT16: return 2;
        case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
        case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
        default: return 0;
    }
}

bool valid_type(uint32_t t) { return t <= 12; }

// Bounds-checked cursor over the header bytes. Reads past `available` but
// within the file mean the caller gave too short a prefix; reads past the
// file are truncation. Both name the field being read.
class Reader {
public:
    Reader(const uint8_t* data, size_t available, uint64_t file_size)
        : data_(data), available_(available), file_size_(file_size) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return file_size_ - pos_; }
    // Bytes left of the prefix we were given: what a count may reserve for.
    // A count checked only against a multi-GB file_size must not allocate.
    uint64_t provided() const { return available_ - pos_; }

    void need(uint64_t n, const char* field) {
        if (n > file_size_ - pos_) {
            fail(HOB_ERR_GGUF_TRUNCATED, std::string("GGUF truncated: ") + field + " needs " +
                                             std::to_string(n) + " bytes but the file has " +
                                             std::to_string(file_size_ - pos_) + " left" + at(pos_));
        }
        if (n > available_ - pos_) {
            fail(HOB_ERR_GGUF_TRUNCATED, std::string("GGUF header larger than the ") +
                                             std::to_string(available_) + " bytes provided: " +
                                             field + at(pos_));
        }
    }

    void bytes(void* out, uint64_t n, const char* field) {
        need(n, field);
        if (n == 0) return;  // an empty array's buffer may be null
        std::memcpy(out, data_ + pos_, n);
        pos_ += n;
    }

    template <typename T>
    T read(const char* field) {
        T v;
        bytes(&v, sizeof(T), field);
        return v;
    }

    std::string string(const char* field) {
        const uint64_t start = pos_;
        const uint64_t len = read<uint64_t>(field);
        if (len > remaining()) {
            fail(HOB_ERR_GGUF_INVALID, std::string("GGUF ") + field + " has length " +
                                           std::to_string(len) + ", more than the " +
                                           std::to_string(remaining()) + " bytes left" + at(start));
        }
        need(len, field);
        std::string s(reinterpret_cast<const char*>(data_ + pos_), (size_t)len);
        pos_ += len;
        return s;
    }

    void seek(uint64_t p) { pos_ = p; }

private:
    const uint8_t* data_;
    uint64_t available_;
    uint64_t file_size_;
    uint64_t pos_ = 0;
};

double read_number(Reader& r, GgufType t, const char* field, uint64_t* u, int64_t* i) {
    switch (t) {
        case GgufType::UINT8: { auto v = r.read<uint8_t>(field); *u = v; *i = v; return v; }
        case GgufType::INT8: { auto v = r.read<int8_t>(field); *u = (uint64_t)v; *i = v; return v; }
        case GgufType::UINT16: { auto v = r.read<uint16_t>(field); *u = v; *i = v; return v; }
        case GgufType::INT16: { auto v = r.read<int16_t>(field); *u = (uint64_t)v; *i = v; return v; }
        case GgufType::UINT32: { auto v = r.read<uint32_t>(field); *u = v; *i = v; return v; }
        case GgufType::INT32: { auto v = r.read<int32_t>(field); *u = (uint64_t)v; *i = v; return v; }
        case GgufType::UINT64: { auto v = r.read<uint64_t>(field); *u = v; *i = (int64_t)v; return (double)v; }
        case GgufType::INT64: { auto v = r.read<int64_t>(field); *u = (uint64_t)v; *i = v; return (double)v; }
        case GgufType::FLOAT32: { auto v = r.read<float>(field); *u = 0; *i = (int64_t)0; return v; }
        case GgufType::FLOAT64: { auto v = r.read<double>(field); *u = 0; *i = 0; return v; }
        case GgufType::BOOL: {
            const uint64_t p = r.pos();
            auto v = r.read<uint8_t>(field);
            if (v > 1) fail(HOB_ERR_GGUF_INVALID, std::string("GGUF bool ") + field + " is " + std::to_string(v) + at(p));
            *u = v; *i = v; return v;
        }
        default: fail(HOB_ERR_INTERNAL, "read_number on a non-numeric type");
    }
}

GgufValue read_value(Reader& r, GgufType type, const std::string& key) {
    GgufValue v;
    v.type = type;
    const char* field = key.c_str();
    if (type == GgufType::STRING) {
        v.str = r.string(field);
    } else if (type == GgufType::ARRAY) {
        const uint64_t p = r.pos();
        const uint32_t et = r.read<uint32_t>(field);
        if (!valid_type(et)) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF array " + key + " has unknown element type " + std::to_string(et) + at(p));
        }
        v.elem_type = (GgufType)et;
        if (v.elem_type == GgufType::ARRAY) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF array " + key + " holds arrays, which are not supported" + at(p));
        }
        v.count = r.read<uint64_t>(field);
        // Every element takes at least one byte (a string at least 8), so a
        // count larger than what is left cannot be honest.
        const uint64_t min_elem = v.elem_type == GgufType::STRING ? 8 : scalar_size(v.elem_type);
        if (v.count > kMaxArrayCount || v.count > r.remaining() / min_elem) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF array " + key + " claims " + std::to_string(v.count) +
                                           " elements, more than the file can hold" + at(p));
        }
        if (v.elem_type == GgufType::STRING) {
            v.strs.reserve((size_t)std::min(v.count, r.provided() / min_elem));
            for (uint64_t j = 0; j < v.count; j++) v.strs.push_back(r.string(field));
        } else {
            r.need(v.count * min_elem, field);  // before allocating for it
            v.raw.resize((size_t)(v.count * min_elem));
            r.bytes(v.raw.data(), v.raw.size(), field);
            if (v.elem_type == GgufType::BOOL) {
                for (uint8_t b : v.raw) {
                    if (b > 1) fail(HOB_ERR_GGUF_INVALID, "GGUF bool array " + key + " holds " + std::to_string(b) + at(p));
                }
            }
        }
    } else {
        v.num = read_number(r, type, field, &v.u64, &v.i64);
    }
    return v;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
    static const char* names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                  "bool", "string", "array", "uint64", "int64", "float64"};
    const uint32_t i = (uint32_t)t;
    return i <= 12 ? names[i] : "unknown";
}

double GgufValue::array_number(uint64_t i) const {
    HOB_CHECK(is_array() && elem_type != GgufType::STRING && i < count, HOB_ERR_OUT_OF_RANGE,
              "array element " + std::to_string(i) + " out of range");
    const uint8_t* p = raw.data() + i * scalar_size(elem_type);
    switch (elem_type) {
        case GgufType::UINT8: case GgufType::BOOL: return *p;
        case GgufType::INT8: return (int8_t)*p;
        case GgufType::UINT16: { uint16_t x; std::memcpy(&x, p, 2); return x; }
        case GgufType::INT16: { int16_t x; std::memcpy(&x, p, 2); return x; }
        case GgufType::UINT32: { uint32_t x; std::memcpy(&x, p, 4); return x; }
        case GgufType::INT32: { int32_t x; std::memcpy(&x, p, 4); return x; }
        case GgufType::FLOAT32: { float x; std::memcpy(&x, p, 4); return x; }
        case GgufType::UINT64: { uint64_t x; std::memcpy(&x, p, 8); return (double)x; }
        case GgufType::INT64: { int64_t x; std::memcpy(&x, p, 8); return (double)x; }
        case GgufType::FLOAT64: { double x; std::memcpy(&x, p, 8); return x; }
        default: fail(HOB_ERR_INTERNAL, "bad array element type");
    }
}

GgufFile GgufFile::parse(const uint8_t* data, size_t available, uint64_t file_size) {
    if (available > file_size) available = (size_t)file_size;
    Reader r(data, available, file_size);
    GgufFile f;
    f.file_size = file_size;

    if (file_size < 4) fail(HOB_ERR_GGUF_BAD_MAGIC, "not a GGUF file: only " + std::to_string(file_size) + " bytes");
    const uint32_t magic = r.read<uint32_t>("magic");
    if (magic != kMagic) {
        char got[5] = {0};
        std::memcpy(got, &magic, 4);
        for (int i = 0; i < 4; i++) if (got[i] < 32 || got[i] > 126) got[i] = '?';
        fail(HOB_ERR_GGUF_BAD_MAGIC, std::string("not a GGUF file: magic is \"") + got + "\", expected \"GGUF\"");
    }
    f.version = r.read<uint32_t>("version");
    if (f.version != 2 && f.version != 3) {
        // A big-endian file shows its version byte-swapped.
        const bool swapped = f.version == 0x02000000u || f.version == 0x03000000u;
        fail(HOB_ERR_GGUF_BAD_VERSION,
             swapped ? std::string("big-endian GGUF files are not supported")
                     : "GGUF version " + std::to_string(f.version) + " is not supported (only 2 and 3)");
    }

    const uint64_t n_tensors = r.read<uint64_t>("tensor_count");
    const uint64_t n_kv = r.read<uint64_t>("metadata_kv_count");
    // Each metadata pair takes at least 12 bytes (key length + type); each
    // tensor info at least 28 (name length, n_dims, one dim, type, offset).
    if (n_kv > r.remaining() / 12) {
        fail(HOB_ERR_GGUF_INVALID, "GGUF metadata_kv_count " + std::to_string(n_kv) + " is more than the file can hold");
    }
    if (n_tensors > r.remaining() / 28) {
        fail(HOB_ERR_GGUF_INVALID, "GGUF tensor_count " + std::to_string(n_tensors) + " is more than the file can hold");
    }

    f.kv.reserve((size_t)std::min(n_kv, r.provided() / 12));
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint64_t p = r.pos();
        std::string key = r.string("metadata key");
        if (f.kv_index_.count(key)) fail(HOB_ERR_GGUF_INVALID, "GGUF metadata key \"" + key + "\" appears twice" + at(p));
        const uint64_t tp = r.pos();
        const uint32_t type = r.read<uint32_t>("metadata value type");
        if (!valid_type(type)) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF metadata \"" + key + "\" has unknown value type " + std::to_string(type) + at(tp));
        }
        GgufValue v = read_value(r, (GgufType)type, key);
        f.kv_index_[key] = f.kv.size();
        f.kv.emplace_back(std::move(key), std::move(v));
    }

    if (const GgufValue* a = f.find("general.alignment")) {
        if (a->is_array() || a->type == GgufType::STRING || a->type == GgufType::FLOAT32 ||
            a->type == GgufType::FLOAT64 || a->i64 <= 0 || a->u64 > (1u << 30) ||
            (a->u64 & (a->u64 - 1)) != 0) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF general.alignment must be a positive power of two integer");
        }
        f.alignment = (uint32_t)a->u64;
    }

    f.tensors.reserve((size_t)std::min(n_tensors, r.provided() / 28));
    for (uint64_t i = 0; i < n_tensors; i++) {
        const uint64_t p = r.pos();
        GgufTensorInfo t;
        t.name = r.string("tensor name");
        if (f.tensor_index_.count(t.name)) fail(HOB_ERR_GGUF_INVALID, "GGUF tensor \"" + t.name + "\" appears twice" + at(p));
        const std::string field = "tensor \"" + t.name + "\"";
        const uint32_t n_dims = r.read<uint32_t>("tensor n_dims");
        if (n_dims == 0 || n_dims > kMaxDims) {
            fail(HOB_ERR_GGUF_INVALID, field + " has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)" + at(p));
        }
        t.n_dims = (int32_t)n_dims;
        int64_t n_elements = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            const uint64_t dim = r.read<uint64_t>("tensor dimension");
            if (dim == 0 || dim > (uint64_t)INT64_MAX) {
                fail(HOB_ERR_GGUF_INVALID, field + " has dimension " + std::to_string(d) + " = " + std::to_string(dim) + at(p));
            }
            t.ne[d] = (int64_t)dim;
            if (__builtin_mul_overflow(n_elements, t.ne[d], &n_elements)) {
                fail(HOB_ERR_GGUF_INVALID, field + " has dimensions whose product overflows" + at(p));
            }
        }
        const uint64_t tp = r.pos();
        const uint32_t type = r.read<uint32_t>("tensor type");
        const TypeTraits* tr = type_traits(type);
        if (!tr) fail(HOB_ERR_GGUF_INVALID, field + " has unknown type id " + std::to_string(type) + at(tp));
        t.type = (TypeId)type;
        if (t.ne[0] % tr->block_size != 0) {
            fail(HOB_ERR_GGUF_INVALID, field + " of type " + tr->name + " has a row of " + std::to_string(t.ne[0]) +
                                           " elements, not a multiple of the block size " + std::to_string(tr->block_size));
        }
        uint64_t row_bytes = 0, size = 0;
        if (__builtin_mul_overflow((uint64_t)(t.ne[0] / tr->block_size), (uint64_t)tr->type_size, &row_bytes) ||
            __builtin_mul_overflow(row_bytes, (uint64_t)t.n_rows(), &size)) {
            fail(HOB_ERR_GGUF_INVALID, field + " has a byte size that overflows" + at(p));
        }
        t.size = size;
        t.offset = r.read<uint64_t>("tensor offset");
        if (t.offset % f.alignment != 0) {
            fail(HOB_ERR_GGUF_INVALID, field + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                           std::to_string(f.alignment));
        }
        f.tensor_index_[t.name] = f.tensors.size();
        f.tensors.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment.
    const uint64_t end = r.pos();
    f.data_offset = (end + f.alignment - 1) / f.alignment * f.alignment;
    if (n_tensors > 0 && f.data_offset > file_size) {
        fail(HOB_ERR_GGUF_TRUNCATED, "GGUF truncated: the tensor data section would start at byte " +
                                         std::to_string(f.data_offset) + " of a " + std::to_string(file_size) + "-byte file");
    }
    const uint64_t data_size = file_size >= f.data_offset ? file_size - f.data_offset : 0;

    // Tensors must lie inside the file and must not overlap.
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(f.tensors.size());
    for (const auto& t : f.tensors) {
        if (t.offset > data_size || t.size > data_size - t.offset) {
            fail(HOB_ERR_GGUF_TRUNCATED, "GGUF tensor \"" + t.name + "\" (" + std::to_string(t.size) + " bytes at data offset " +
                                             std::to_string(t.offset) + ") ends past the end of the file (" +
                                             std::to_string(data_size) + " bytes of data)");
        }
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); i++) {
        const GgufTensorInfo* a = by_offset[i - 1];
        const GgufTensorInfo* b = by_offset[i];
        if (a->offset + a->size > b->offset) {
            fail(HOB_ERR_GGUF_INVALID, "GGUF tensors \"" + a->name + "\" and \"" + b->name + "\" overlap");
        }
    }
    return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
    const GgufValue* v = find(key);
    if (!v) return fallback;
    if (v->type != GgufType::STRING) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should be a string but is " + gguf_type_name(v->type));
    }
    return v->str;
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
    const GgufValue* v = find(key);
    if (!v) return fallback;
    switch (v->type) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
        case GgufType::UINT32: case GgufType::INT32: case GgufType::INT64: case GgufType::BOOL:
            return v->i64;
        case GgufType::UINT64:
            if (v->u64 > (uint64_t)INT64_MAX) fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " is too large");
            return (int64_t)v->u64;
        default:
            fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should be an integer but is " + gguf_type_name(v->type));
    }
}

double GgufFile::get_float(const std::string& key, double fallback) const {
    const GgufValue* v = find(key);
    if (!v) return fallback;
    if (v->is_array() || v->type == GgufType::STRING) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should be a number but is " + gguf_type_name(v->type));
    }
    return v->num;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
    const GgufValue* v = find(key);
    if (!v) return fallback;
    if (v->type != GgufType::BOOL) {
        fail(HOB_ERR_MODEL_INVALID, "metadata " + key + " should be a bool but is " + gguf_type_name(v->type));
    }
    return v->num != 0;
}

std::string shape_str(const int64_t* ne, int n) {
    std::string s = "[";
    for (int i = 0; i < n; i++) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

}  // namespace hob
