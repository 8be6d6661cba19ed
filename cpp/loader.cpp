// The piecewise model loader: which tensors stay, where they go in the one
// buffer, and which file bytes have arrived.
#include "loader.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "api.h"

namespace hob {

namespace {

// Resident tensors start on this boundary in the buffer, for aligned SIMD
// loads whatever the file's own alignment.
constexpr size_t kAlign = 64;
// Tensors closer than this in the file are read as one range: the padding
// between them costs less than another request.
constexpr uint64_t kMergeGap = 4096;

}  // namespace

ModelLoader::ModelLoader(const uint8_t* header, size_t header_size, uint64_t file_size, int32_t n_cpu_layers)
    : gguf_(GgufFile::parse(header, header_size, file_size)), n_cpu_layers_(n_cpu_layers) {
    const std::string arch = gguf_.get_string("general.architecture", "");
    // Qwen 3.5's multi-token-prediction blocks follow its own and never run.
    const int64_t n_layer = gguf_.get_int(arch + ".block_count", 0) - gguf_.get_int(arch + ".nextn_predict_layers", 0);
    const int32_t n_cpu = n_cpu_layers < 0 || n_cpu_layers > n_layer ? (int32_t)n_layer : n_cpu_layers;

    uint64_t total = 0;
    for (const GgufTensorInfo& t : gguf_.tensors) {
        if (!cpu_uses_tensor(t.name, (int32_t)n_layer, n_cpu)) continue;
        total = (total + kAlign - 1) / kAlign * kAlign;
        pieces_.push_back({gguf_.data_offset + t.offset, t.size, (size_t)total});
        total += t.size;
    }
    HOB_CHECK(total <= SIZE_MAX / 2, HOB_ERR_OUT_OF_MEMORY,
              "the CPU part of this model needs " + std::to_string(total) + " bytes, more than this engine can address");
    std::sort(pieces_.begin(), pieces_.end(), [](const Piece& a, const Piece& b) { return a.file_offset < b.file_offset; });
    for (const Piece& p : pieces_) {
        if (!ranges_.empty() && p.file_offset <= ranges_.back().offset + ranges_.back().size + kMergeGap) {
            Range& r = ranges_.back();
            r.size = std::max(r.offset + r.size, p.file_offset + p.size) - r.offset;
        } else {
            ranges_.push_back({p.file_offset, p.size});
        }
    }
    buffer_size_ = (size_t)total;
    buffer_ = static_cast<uint8_t*>(hob_alloc(std::max<size_t>(buffer_size_, 1)));
    HOB_CHECK(buffer_ != nullptr, HOB_ERR_OUT_OF_MEMORY,
              "cannot allocate " + std::to_string(buffer_size_) + " bytes for the model's CPU tensors");
}

ModelLoader::~ModelLoader() { hob_free(buffer_); }

void ModelLoader::write(uint64_t file_offset, const uint8_t* bytes, size_t n) {
    HOB_CHECK(!spent_, HOB_ERR_INVALID_ARGUMENT, "this loader has already built its model");
    HOB_CHECK(file_offset <= gguf_.file_size && n <= gguf_.file_size - file_offset, HOB_ERR_OUT_OF_RANGE,
              "bytes [" + std::to_string(file_offset) + ", " + std::to_string(file_offset + n) +
                  ") lie outside the file of " + std::to_string(gguf_.file_size) + " bytes");
    const uint64_t end = file_offset + n;
    // The first piece that may overlap: the last one starting at or before file_offset.
    auto it = std::upper_bound(pieces_.begin(), pieces_.end(), file_offset,
                               [](uint64_t off, const Piece& p) { return off < p.file_offset; });
    if (it != pieces_.begin()) --it;
    for (; it != pieces_.end() && it->file_offset < end; ++it) {
        const uint64_t b = std::max(file_offset, it->file_offset);
        const uint64_t e = std::min(end, it->file_offset + it->size);
        if (b >= e) continue;
        std::memcpy(buffer_ + it->buffer_offset + (b - it->file_offset), bytes + (b - file_offset), (size_t)(e - b));
        // Record [b, e) among the written intervals, merging neighbours.
        uint64_t nb = b, ne = e;
        auto w = written_.upper_bound(nb);
        if (w != written_.begin()) {
            auto prev = std::prev(w);
            if (prev->second >= nb) {
                nb = prev->first;
                ne = std::max(ne, prev->second);
                w = written_.erase(prev);
            }
        }
        while (w != written_.end() && w->first <= ne) {
            ne = std::max(ne, w->second);
            w = written_.erase(w);
        }
        written_[nb] = ne;
    }
}

bool ModelLoader::covered(uint64_t begin, uint64_t end) const {
    if (begin == end) return true;
    auto w = written_.upper_bound(begin);
    if (w == written_.begin()) return false;
    --w;
    return w->first <= begin && w->second >= end;
}

std::unique_ptr<Model> ModelLoader::finish() {
    HOB_CHECK(!spent_, HOB_ERR_INVALID_ARGUMENT, "this loader has already built its model");
    for (const Piece& p : pieces_) {
        HOB_CHECK(covered(p.file_offset, p.file_offset + p.size), HOB_ERR_GGUF_TRUNCATED,
                  "tensor bytes [" + std::to_string(p.file_offset) + ", " + std::to_string(p.file_offset + p.size) +
                      ") of the file were never written to the loader");
    }
    // Lookup by the tensor's file offset; every resident tensor has a piece.
    const std::vector<Piece> pieces = pieces_;
    uint8_t* buffer = buffer_;
    const uint64_t base = gguf_.data_offset;
    TensorLocator locate = [pieces, buffer, base](const GgufTensorInfo& info) -> const uint8_t* {
        const uint64_t off = base + info.offset;
        auto it = std::lower_bound(pieces.begin(), pieces.end(), off,
                                   [](const Piece& p, uint64_t o) { return p.file_offset < o; });
        return it != pieces.end() && it->file_offset == off ? buffer + it->buffer_offset : nullptr;
    };
    spent_ = true;
    buffer_ = nullptr;  // the model owns it from here, and frees it if building fails
    return Model::build(std::move(gguf_), n_cpu_layers_, locate, buffer);
}

}  // namespace hob
