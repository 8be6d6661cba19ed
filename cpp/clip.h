// The vision side of a multimodal model: llama.cpp's mmproj GGUF
// (general.architecture = clip) loaded and run on the CPU. An image goes
// through the projector's preprocessing (vision_preprocess.h) into
// sub-images; each is encoded by the ViT (patch embedding, learned
// positions, pre-norm blocks with full attention, post-LN) and the
// projector into rows the width of the text model's embeddings: idefics3
// (SmolVLM) pixel-shuffles and maps with one linear layer; gemma3 average-
// pools the patch grid, RMS-norms and maps. Tensor and key names are
// llama.cpp's (tools/mtmd/clip-impl.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "ops/ops.h"
#include "tensor.h"
#include "vision_preprocess.h"

namespace hob {

enum class ProjectorType { Idefics3, Gemma3 };

struct ClipHparams {
    ProjectorType projector = ProjectorType::Idefics3;
    std::string projector_name;
    int32_t image_size = 0;    // side of one sub-image, in pixels
    int32_t patch_size = 0;
    int32_t longest_edge = 0;  // idefics3: images are resized to this longer side before tiling
    int32_t scale_factor = 1;  // patches merged per side: idefics3's pixel-shuffle, gemma3's average pool
    int32_t n_embd = 0;
    int32_t n_head = 0;
    int32_t n_ff = 0;
    int32_t n_layer = 0;
    int32_t proj_dim = 0;      // output width: the text model's n_embd
    float eps = 1e-6f;
    float mean[3] = {0, 0, 0};
    float std[3] = {1, 1, 1};
};

struct ClipLayer {
    const Tensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;  // (E, E)
    std::vector<float> bq, bk, bv, bo;                                        // (E)
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;                            // (E)
    const Tensor *ffn_up = nullptr, *ffn_down = nullptr;                      // (E, F), (F, E)
    std::vector<float> b_up, b_down;                                          // (F), (E)
};

// How an image is laid out in the prompt: sub-images in prompt order, each
// giving tokens_per_image embedding rows.
struct ImagePlan {
    int32_t grid_x = 0, grid_y = 0;  // tiles; 0 x 0 for a projector without tiling
    std::vector<std::vector<float>> images;  // normalized, channel-planar, image_size^2 per channel
};

class ClipModel {
public:
    // Parses an mmproj GGUF held in data (owned when owns_data: freed with
    // hob_free). An unknown clip.projector_type is HOB_ERR_UNSUPPORTED_ARCH
    // naming it.
    static std::unique_ptr<ClipModel> load(uint8_t* data, size_t size, bool owns_data);
    ~ClipModel();
    ClipModel(const ClipModel&) = delete;
    ClipModel& operator=(const ClipModel&) = delete;

    const ClipHparams& hparams() const { return hp_; }
    int32_t n_patches() const { return (hp_.image_size / hp_.patch_size) * (hp_.image_size / hp_.patch_size); }
    int32_t tokens_per_image() const { return n_patches() / (hp_.scale_factor * hp_.scale_factor); }

    // Gemma 3's text model reads an image's rows with attention among all
    // of them (llama.cpp turns the causal mask off while it decodes them).
    bool non_causal() const { return hp_.projector == ProjectorType::Gemma3; }

    // The split of a width x height image (sides in [1, kMaxImageSide]):
    // its grid (0 x 0: one image, no tiles), and its embedding rows in all.
    static constexpr int32_t kMaxImageSide = 16384;
    struct Layout {
        int32_t grid_x = 0, grid_y = 0;
        size_t n_rows = 0;
    };
    Layout layout(int32_t width, int32_t height) const;

    // The projector's preprocessing of an RGB image. idefics3: the tiles
    // row by row, then the overview (mtmd's prompt order); gemma3: the image
    // fitted into one image_size square.
    ImagePlan plan(const RgbImage& img) const;

    // Preprocesses and encodes width x height RGB pixels into `out`, which
    // holds cap floats: layout().n_rows rows of proj_dim, or
    // BUFFER_TOO_SMALL.
    void encode_image(ThreadPool& pool, const uint8_t* rgb, int32_t width, int32_t height, float* out, size_t cap) const;

    // Encodes one preprocessed sub-image into tokens_per_image() rows of
    // proj_dim floats: embed_patches, run_blocks, project.
    void encode(ThreadPool& pool, const float* pixels, float* out) const;

    // The encoder in three steps, so that a host can run the blocks
    // elsewhere (WebGPU) between the first and the last; run one after
    // another here they give the bits encode gives. embed_patches: one
    // sub-image's pixels (image_size^2 per channel, planar) into n_patches()
    // rows of n_embd: the patch embedding, its bias and the positions.
    void embed_patches(ThreadPool& pool, const float* pixels, float* x) const;
    // The ViT blocks over those rows, in place.
    void run_blocks(ThreadPool& pool, float* x) const;
    // The post-LayerNorm (in place on x) and the projector into
    // tokens_per_image() rows of proj_dim.
    void project(ThreadPool& pool, float* x, float* out) const;

private:
    ClipModel() = default;
    const Tensor* tensor(const std::string& name, std::initializer_list<int64_t> shape);
    std::vector<float> vector_f32(const std::string& name, int64_t n);
    void load_gemma3_projector();
    void project_idefics3(ThreadPool& pool, Scratch& scratch, const float* x, float* out) const;
    void project_gemma3(ThreadPool& pool, Scratch& scratch, const float* x, float* out) const;

    uint8_t* owned_ = nullptr;
    const uint8_t* data_ = nullptr;
    GgufFile gguf_;
    ClipHparams hp_;
    std::vector<std::unique_ptr<Tensor>> tensors_;
    std::vector<std::unique_ptr<std::vector<uint8_t>>> realigned_;
    std::vector<uint16_t> patch_f16_;  // the patch kernel in f16, (E, 3 * P * P)
    const Tensor* patch_w_ = nullptr;  // ... as a matrix over it
    std::vector<float> patch_b_;       // (E)
    std::vector<float> pos_embd_;      // (n_patches, E)
    std::vector<ClipLayer> layers_;
    std::vector<float> post_ln_w_, post_ln_b_;
    const Tensor* mm_fc_ = nullptr;    // idefics3: (E * s * s, proj_dim)
    std::vector<float> soft_emb_norm_; // gemma3: (E)
    std::vector<uint8_t> input_proj_;  // gemma3: mm.input_projection transposed to (E, proj_dim), f32 or f16
    const Tensor* input_proj_t_ = nullptr;
};

}  // namespace hob
