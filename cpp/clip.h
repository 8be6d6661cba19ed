// The vision side of a multimodal model: llama.cpp's mmproj GGUF
// (general.architecture = clip) loaded and run on the CPU. An image goes
// through the projector's preprocessing (vision_preprocess.h) into
// sub-images; each is encoded by the ViT (patch embedding, learned
// positions, pre-norm blocks with full attention, post-LN) and the
// projector into rows the width of the text model's embeddings: idefics3
// (SmolVLM) pixel-shuffles and maps with one linear layer; gemma3 average-
// pools the patch grid, RMS-norms and maps. gemma4v (Gemma 4) encodes one
// image at its own aspect ratio (a patch grid that depends on the image)
// with RMS-norm blocks, 2-D RoPE and a gated MLP, then pools, scales,
// RMS-norms and maps. Tensor and key names are llama.cpp's
// (tools/mtmd/clip-impl.h).
#pragma once

#include <cfloat>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "ops/ops.h"
#include "tensor.h"
#include "vision_preprocess.h"

namespace hob {

enum class ProjectorType { Idefics3, Gemma3, Gemma4V };

// The ViT MLP's activation, as llama.cpp picks it from clip.use_gelu and
// clip.use_silu: GELU (tanh form), SiLU, or without either key the "quick"
// GELU, x * sigmoid(1.702 x). Gated (act(gate) * up) where the blocks have
// ffn_gate.
enum class VitAct { Gelu, Silu, GeluQuick };

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
    VitAct act = VitAct::Gelu;
    // gemma4v: an image is resized (keeping its aspect ratio) to whole
    // multiples of patch_size * scale_factor, its area within these pixel
    // counts (70 to 1120 rows); positions come from two tables of pos_size
    // rows (x, then y); 2-D RoPE of this base.
    int32_t min_pixels = 0, max_pixels = 0;
    int32_t pos_size = 0;
    float rope_theta = 100.0f;
    float mean[3] = {0, 0, 0};
    float std[3] = {1, 1, 1};
};

// gemma4v's clippable linear layers: the input clamped to [in_min, in_max]
// before the product and the output to [out_min, out_max] after it, from
// the scalars NAME.input_min ... NAME.output_max next to NAME.weight (each
// bound absent: none).
struct LinearClamp {
    float in_min = -FLT_MAX, in_max = FLT_MAX, out_min = -FLT_MAX, out_max = FLT_MAX;
    bool in = false, out = false;
};

struct ClipLayer {
    const Tensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;  // (E, E)
    std::vector<float> bq, bk, bv, bo;                                        // (E); gemma4v: may be empty
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;                            // (E); gemma4v: no biases
    const Tensor *ffn_up = nullptr, *ffn_down = nullptr;                      // (E, F), (F, E)
    std::vector<float> b_up, b_down;                                          // (F), (E)
    // gemma4v only, each optional: the gate of a gated MLP; RMS norms of q
    // and k (per head: D, or whole rows: E), after attention and after the
    // MLP; the block's output scale (1 or E); the clamps of its linears.
    const Tensor* ffn_gate = nullptr;  // (E, F)
    std::vector<float> b_gate;         // (F)
    std::vector<float> q_norm, k_norm, attn_post_norm, ffn_post_norm, out_scale;
    LinearClamp cq, ck, cv, co, c_up, c_gate, c_down;
};

// How an image is laid out in the prompt: sub-images in prompt order, each
// giving tokens_per_image embedding rows.
struct ImagePlan {
    int32_t grid_x = 0, grid_y = 0;  // tiles; 0 x 0 for a projector without tiling
    // Side of each sub-image in pixels: image_size x image_size, except for
    // gemma4v, whose one image keeps (about) the input's aspect ratio.
    int32_t width = 0, height = 0;
    std::vector<std::vector<float>> images;  // normalized, channel-planar, width x height per channel
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
    // Whether an image's patch grid depends on its size (gemma4v): then
    // n_patches() and tokens_per_image() are 0 and only whole images are
    // encoded (layout() gives their rows), not the steps below.
    bool dynamic_size() const { return hp_.projector == ProjectorType::Gemma4V; }
    int32_t n_patches() const {
        return dynamic_size() ? 0 : (hp_.image_size / hp_.patch_size) * (hp_.image_size / hp_.patch_size);
    }
    int32_t tokens_per_image() const { return n_patches() / (hp_.scale_factor * hp_.scale_factor); }

    // Gemma 3's text model reads an image's rows with attention among all
    // of them (llama.cpp turns the causal mask off while it decodes them);
    // so does Gemma 4's, except E2B's and E4B's (text widths 1536 and 2560),
    // as llama.cpp decides it.
    bool non_causal() const {
        if (hp_.projector == ProjectorType::Gemma4V) return hp_.proj_dim != 1536 && hp_.proj_dim != 2560;
        return hp_.projector == ProjectorType::Gemma3;
    }

    // The most patches of one gemma4v image (its attention holds a square of
    // them): a bound on what a file's patch size and pool can ask for.
    static constexpr int32_t kMaxPatches = 12288;

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
    // fitted into one image_size square; gemma4v: the image fitted into the
    // size gemma4v_size gives.
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
    // These three are for fixed-size projectors (not dynamic_size()): one
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
    void load_patch_kernel();
    void load_gemma3_projector();
    void load_gemma4v();
    std::vector<float> optional_f32(const std::string& name, std::initializer_list<int64_t> shapes);
    LinearClamp clamp_of(const std::string& weight_name);
    void check_fixed_size(const char* what) const;
    // gemma4v: one width x height image (planar pixels) into its rows.
    void encode_gemma4v(ThreadPool& pool, const float* pixels, int32_t width, int32_t height, float* out) const;
    void run_rms_blocks(ThreadPool& pool, float* x, int32_t nx, int32_t ny) const;
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
    // gemma4v
    const Tensor* pos_table_ = nullptr;  // (E, pos_size, 2): x rows, then y rows
    const Tensor* input_proj_w_ = nullptr;  // (E, proj_dim)
    LinearClamp input_proj_clamp_;
    std::vector<float> std_bias_, std_scale_;  // (E) each, or both empty
    std::vector<float> ones_;                  // (E): the weight of a norm without one
};

}  // namespace hob
