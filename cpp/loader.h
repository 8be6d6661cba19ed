// Loading a model in pieces: from the GGUF header, the loader decides which
// tensors the CPU computes with (the embedding, the CPU blocks, the head
// unless offloaded), reserves one buffer for exactly those, and takes file
// bytes in any order and size until every one of them has arrived. Bytes of
// offloaded blocks are never kept, so they never occupy engine memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "gguf.h"
#include "model.h"

namespace hob {

class ModelLoader {
public:
    struct Range {
        uint64_t offset;  // from the start of the file
        uint64_t size;
    };

    // Parses the header from the first header_size bytes of a file of
    // file_size bytes. n_cpu_layers < 0 keeps every block on the CPU.
    ModelLoader(const uint8_t* header, size_t header_size, uint64_t file_size, int32_t n_cpu_layers);
    ~ModelLoader();
    ModelLoader(const ModelLoader&) = delete;
    ModelLoader& operator=(const ModelLoader&) = delete;

    // Bytes of tensor data kept in engine memory.
    uint64_t resident_bytes() const { return buffer_size_; }
    // The file ranges the loader still needs, merged where tensors are
    // adjacent, in file order. Reading exactly these is enough.
    const std::vector<Range>& ranges() const { return ranges_; }
    // Takes bytes [file_offset, file_offset + n) of the file and keeps the
    // parts that fall inside resident tensors.
    void write(uint64_t file_offset, const uint8_t* bytes, size_t n);
    // Builds the model once every resident byte has been written; throws
    // GGUF_TRUNCATED naming the first missing range otherwise. The buffer
    // passes to the model; the loader is spent.
    std::unique_ptr<Model> finish();

private:
    struct Piece {
        uint64_t file_offset;  // of the tensor's first byte
        uint64_t size;
        size_t buffer_offset;
    };
    bool covered(uint64_t begin, uint64_t end) const;

    GgufFile gguf_;
    int32_t n_cpu_layers_;
    std::vector<Piece> pieces_;  // resident tensors, by file offset
    std::vector<Range> ranges_;
    uint8_t* buffer_ = nullptr;
    size_t buffer_size_ = 0;
    std::map<uint64_t, uint64_t> written_;  // disjoint written file intervals: begin -> end
    bool spent_ = false;
};

}  // namespace hob
