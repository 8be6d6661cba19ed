// The mmproj loader and the ViT + projector forward pass (see clip.h). The
// encoder is llama.cpp's build_vit for SigLIP-style towers, and its RMS-norm
// form for Gemma 4 (gemma4v): every step below names the llama.cpp graph op
// it matches, so a difference can be bisected.
#include "clip.h"

#include <cmath>

#include "common.h"
#include "quants.h"

namespace hob {

namespace {

// A contiguous f32 matrix (rows x cols) as a Tensor, for matmul.
Tensor f32_matrix(const float* data, int64_t rows, int64_t cols) {
    Tensor t;
    t.name = "attention scratch";
    t.type = TypeId::F32;
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.row_bytes = (size_t)cols * sizeof(float);
    t.n_bytes = t.row_bytes * (size_t)rows;
    t.data = reinterpret_cast<const uint8_t*>(data);
    return t;
}

// Full (non-causal) attention of T rows over themselves, all f32, head by
// head as llama.cpp's graph does it: scores K.Q (T x T), softmax(scale *
// scores) per row, then the rows of V weighted by it. q, k, v and out are
// T x (H * D). The text model's attention() reads an f16 cache; the
// reference keeps the encoder's keys and values in f32, and so does this.
// Both products run through matmul (SIMD, the pool's threads).
void full_attention(ThreadPool& pool, Scratch& scratch, const float* q, const float* k, const float* v, int32_t T,
                    int32_t H, int32_t D, float scale, float* out) {
    const int32_t E = H * D;
    std::vector<float> qh((size_t)T * D), kh((size_t)T * D), vt((size_t)D * T), s((size_t)T * T), oh((size_t)T * D);
    for (int32_t h = 0; h < H; h++) {
        for (int32_t t = 0; t < T; t++) {
            const size_t src = (size_t)t * E + (size_t)h * D;
            std::copy(q + src, q + src + D, qh.data() + (size_t)t * D);
            std::copy(k + src, k + src + D, kh.data() + (size_t)t * D);
            for (int32_t d = 0; d < D; d++) vt[(size_t)d * T + t] = v[src + d];
        }
        matmul(pool, scratch, f32_matrix(kh.data(), T, D), qh.data(), T, s.data());  // s[t][j] = k[j] . q[t]
        parallel_for(pool, T, (int64_t)T * T * 8, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                float* st = s.data() + (size_t)t * T;
                float mx = -INFINITY;
                for (int32_t j = 0; j < T; j++) mx = std::max(mx, st[j] * scale);
                double sum = 0.0;
                for (int32_t j = 0; j < T; j++) {
                    st[j] = std::exp(st[j] * scale - mx);
                    sum += st[j];
                }
                const float inv = (float)(1.0 / sum);
                for (int32_t j = 0; j < T; j++) st[j] *= inv;
            }
        });
        matmul(pool, scratch, f32_matrix(vt.data(), D, T), s.data(), T, oh.data());  // oh[t][d] = v[.][d] . p[t]
        for (int32_t t = 0; t < T; t++) std::copy(oh.data() + (size_t)t * D, oh.data() + (size_t)(t + 1) * D, out + (size_t)t * E + (size_t)h * D);
    }
}

// ggml's clamp: min(x, hi), then max(., lo).
void clamp_values(float* x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) x[i] = std::max(std::min(x[i], hi), lo);
}

// y = w x for T rows, with gemma4v's clamps on the way in and out. tmp
// holds the clamped input when there is one.
void clamped_matmul(ThreadPool& pool, Scratch& scratch, const Tensor& w, const LinearClamp& c, const float* x, int32_t T,
                    float* y, std::vector<float>& tmp) {
    if (c.in) {
        const size_t n = (size_t)T * (size_t)w.ne[0];
        tmp.assign(x, x + n);
        clamp_values(tmp.data(), (int64_t)n, c.in_min, c.in_max);
        x = tmp.data();
    }
    matmul(pool, scratch, w, x, T, y);
    if (c.out) clamp_values(y, (int64_t)T * w.ne[1], c.out_min, c.out_max);
}

// The quick GELU, x * sigmoid(1.702 x), as llama.cpp's CPU kernel gives
// it: looked up by the f16 input in a table of f16 results.
float gelu_quick_f16(float v) {
    const float x = f16_to_f32(f32_to_f16(v));
    return f16_to_f32(f32_to_f16(x * (1.0f / (1.0f + std::exp(-1.702f * x)))));
}

// gate = act(gate) * up (llama.cpp's GLU ops, the gate activated), or,
// without up, gate = act(gate).
void vit_activation(ThreadPool& pool, VitAct act, float* gate, const float* up, int64_t n) {
    switch (act) {
        case VitAct::Gelu:
            if (up) gelu_mul(pool, gate, up, n); else gelu(pool, gate, n);
            return;
        case VitAct::Silu:
            if (up) {
                silu_mul(pool, gate, up, n);
            } else {
                for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + std::exp(-gate[i]));
            }
            return;
        case VitAct::GeluQuick:
            parallel_for(pool, n, n * 20, 64, [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; i++) gate[i] = up ? gelu_quick_f16(gate[i]) * up[i] : gelu_quick_f16(gate[i]);
            });
            return;
    }
}

}  // namespace

ClipModel::~ClipModel() { hob_free(owned_); }

const Tensor* ClipModel::tensor(const std::string& name, std::initializer_list<int64_t> shape) {
    const GgufTensorInfo* info = gguf_.find_tensor(name);
    HOB_CHECK(info != nullptr, HOB_ERR_MODEL_INVALID, "projector tensor " + name + " is missing");
    int64_t want[4] = {1, 1, 1, 1};
    int n = 0;
    for (int64_t d : shape) want[n++] = d;
    for (int d = 0; d < 4; d++) {
        HOB_CHECK(info->ne[d] == want[d], HOB_ERR_MODEL_INVALID,
                  "projector tensor " + name + " has shape " + shape_str(info->ne, info->n_dims) + ", expected " +
                      shape_str(want, n));
    }
    HOB_CHECK(type_supported(info->type), HOB_ERR_UNSUPPORTED_TYPE,
              "projector tensor " + name + " has type " + type_name(info->type) + ", which is not supported");
    auto t = std::make_unique<Tensor>();
    t->name = name;
    t->type = info->type;
    for (int d = 0; d < 4; d++) t->ne[d] = info->ne[d];
    t->row_bytes = row_size(info->type, info->ne[0]);
    t->n_bytes = (size_t)info->size;
    t->data = data_ + gguf_.data_offset + info->offset;
    // Kernels load f32/f16 elements directly: a file with a small alignment
    // gets a copy on a 4-byte boundary.
    if (reinterpret_cast<uintptr_t>(t->data) % 4 != 0) {
        auto copy = std::make_unique<std::vector<uint8_t>>(t->data, t->data + t->n_bytes);
        t->data = copy->data();
        realigned_.push_back(std::move(copy));
    }
    tensors_.push_back(std::move(t));
    return tensors_.back().get();
}

std::vector<float> ClipModel::vector_f32(const std::string& name, int64_t n) {
    const Tensor* t = tensor(name, {n});
    std::vector<float> out((size_t)n);
    dequantize_tensor_row(*t, 0, out.data());
    return out;
}

std::unique_ptr<ClipModel> ClipModel::load(uint8_t* data, size_t size, bool owns_data) {
    std::unique_ptr<ClipModel> m(new ClipModel());
    if (owns_data) m->owned_ = data;  // freed even if parsing throws
    m->data_ = data;
    m->gguf_ = GgufFile::parse(data, size, size);
    const GgufFile& g = m->gguf_;
    ClipHparams& hp = m->hp_;

    const std::string arch = g.get_string("general.architecture", "");
    HOB_CHECK(arch == "clip", HOB_ERR_UNSUPPORTED_ARCH,
              "not a projector file: general.architecture is '" + arch + "', expected 'clip'");
    hp.projector_name = g.get_string("clip.projector_type", g.get_string("clip.vision.projector_type", ""));
    HOB_CHECK(hp.projector_name == "idefics3" || hp.projector_name == "gemma3" || hp.projector_name == "gemma4v",
              HOB_ERR_UNSUPPORTED_ARCH,
              "projector type '" + hp.projector_name + "' is not supported (supported: idefics3, gemma3, gemma4v)");
    hp.projector = hp.projector_name == "gemma3"    ? ProjectorType::Gemma3
                   : hp.projector_name == "gemma4v" ? ProjectorType::Gemma4V
                                                    : ProjectorType::Idefics3;
    const bool gemma3 = hp.projector == ProjectorType::Gemma3;
    const bool gemma4v = hp.projector == ProjectorType::Gemma4V;
    HOB_CHECK(g.get_bool("clip.has_vision_encoder", false), HOB_ERR_MODEL_INVALID,
              "the projector file has no vision encoder");
    const bool use_gelu = g.get_bool("clip.use_gelu", false), use_silu = g.get_bool("clip.use_silu", false);
    if (gemma4v) {
        // Gemma 4's converter writes neither key: llama.cpp then takes the
        // quick GELU, and so does this.
        HOB_CHECK(!(use_gelu && use_silu), HOB_ERR_MODEL_INVALID, "clip.use_gelu and clip.use_silu are both true");
        hp.act = use_gelu ? VitAct::Gelu : use_silu ? VitAct::Silu : VitAct::GeluQuick;
    } else {
        HOB_CHECK(use_gelu && !use_silu, HOB_ERR_MODEL_INVALID,
                  "only GELU vision encoders are supported (clip.use_gelu is not true)");
    }

    auto need_int = [&](const std::string& key) -> int32_t {
        HOB_CHECK(g.has(key), HOB_ERR_MODEL_INVALID, "projector metadata " + key + " is missing");
        const int64_t v = g.get_int(key, 0);
        HOB_CHECK(v > 0 && v <= (1 << 20), HOB_ERR_MODEL_INVALID, "projector metadata " + key + " = " + std::to_string(v) + " is out of range");
        return (int32_t)v;
    };
    hp.image_size = need_int("clip.vision.image_size");
    hp.patch_size = need_int("clip.vision.patch_size");
    hp.n_embd = need_int("clip.vision.embedding_length");
    hp.n_head = need_int("clip.vision.attention.head_count");
    hp.n_ff = need_int("clip.vision.feed_forward_length");
    hp.n_layer = need_int("clip.vision.block_count");
    hp.proj_dim = need_int("clip.vision.projection_dim");
    // Gemma 3's files leave the pool's side out: llama.cpp takes 4 (every
    // size of the family) unless the key says otherwise; Gemma 4's, 3.
    const int32_t default_scale = gemma3 ? 4 : gemma4v ? 3 : 1;
    hp.scale_factor = g.has("clip.vision.projector.scale_factor") ? need_int("clip.vision.projector.scale_factor") : default_scale;
    // Files from before preproc_image_size resize by a pixel budget instead:
    // not supported yet. Gemma 3 resizes to image_size; Gemma 4 to its own
    // size (aligned_size), image_size unused.
    hp.longest_edge = gemma3 ? hp.image_size : gemma4v ? 0 : need_int("clip.vision.preproc_image_size");
    // Bounds that keep one image's tiles to a few hundred megabytes at most.
    HOB_CHECK(hp.image_size <= 4096 && hp.longest_edge <= 8192, HOB_ERR_MODEL_INVALID,
              "projector image size " + std::to_string(hp.image_size) + " or longest edge " +
                  std::to_string(hp.longest_edge) + " is too large");
    HOB_CHECK(g.has("clip.vision.attention.layer_norm_epsilon"), HOB_ERR_MODEL_INVALID,
              "projector metadata clip.vision.attention.layer_norm_epsilon is missing");
    hp.eps = (float)g.get_float("clip.vision.attention.layer_norm_epsilon", 1e-6);
    const GgufValue* mean = g.find("clip.vision.image_mean");
    const GgufValue* stdv = g.find("clip.vision.image_std");
    HOB_CHECK(mean && stdv && mean->is_array() && stdv->is_array() && mean->count >= 3 && stdv->count >= 3,
              HOB_ERR_MODEL_INVALID, "projector metadata clip.vision.image_mean/image_std need 3 values each");
    for (int c = 0; c < 3; c++) {
        hp.mean[c] = (float)mean->array_number((uint64_t)c);
        hp.std[c] = (float)stdv->array_number((uint64_t)c);
        HOB_CHECK(hp.std[c] != 0.0f, HOB_ERR_MODEL_INVALID, "clip.vision.image_std holds a zero");
    }
    const int32_t P = hp.patch_size, E = hp.n_embd, s = hp.scale_factor;
    if (gemma4v) {
        m->load_gemma4v();
        return m;
    }
    const int32_t side = hp.image_size / P;
    HOB_CHECK(hp.image_size % P == 0 && E % hp.n_head == 0 && (s > 1 || gemma3) && side % s == 0, HOB_ERR_MODEL_INVALID,
              "projector shape: image size, patch size, width, heads and scale factor do not fit together");

    m->load_patch_kernel();
    m->patch_b_ = m->vector_f32("v.patch_embd.bias", E);
    const int32_t np = m->n_patches();
    const Tensor* pos = m->tensor("v.position_embd.weight", {E, np});
    m->pos_embd_.resize((size_t)np * E);
    for (int32_t r = 0; r < np; r++) dequantize_tensor_row(*pos, r, m->pos_embd_.data() + (size_t)r * E);
    // Each block's tensors by name: matrices (in, out), then vectors.
    static const struct { const char* name; const Tensor* ClipLayer::*field; bool ff_in, ff_out; } kMatrices[] = {
        {"attn_q.weight", &ClipLayer::wq, false, false},       {"attn_k.weight", &ClipLayer::wk, false, false},
        {"attn_v.weight", &ClipLayer::wv, false, false},       {"attn_out.weight", &ClipLayer::wo, false, false},
        {"ffn_up.weight", &ClipLayer::ffn_up, false, true},    {"ffn_down.weight", &ClipLayer::ffn_down, true, false},
    };
    static const struct { const char* name; std::vector<float> ClipLayer::*field; bool ff; } kVectors[] = {
        {"attn_q.bias", &ClipLayer::bq, false},   {"attn_k.bias", &ClipLayer::bk, false}, {"attn_v.bias", &ClipLayer::bv, false},
        {"attn_out.bias", &ClipLayer::bo, false}, {"ln1.weight", &ClipLayer::ln1_w, false}, {"ln1.bias", &ClipLayer::ln1_b, false},
        {"ln2.weight", &ClipLayer::ln2_w, false}, {"ln2.bias", &ClipLayer::ln2_b, false},  {"ffn_up.bias", &ClipLayer::b_up, true},
        {"ffn_down.bias", &ClipLayer::b_down, false},
    };
    m->layers_.resize((size_t)hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; l++) {
        const std::string p = "v.blk." + std::to_string(l) + ".";
        ClipLayer& L = m->layers_[(size_t)l];
        for (const auto& t : kMatrices) L.*t.field = m->tensor(p + t.name, {t.ff_in ? hp.n_ff : E, t.ff_out ? hp.n_ff : E});
        for (const auto& t : kVectors) L.*t.field = m->vector_f32(p + t.name, t.ff ? hp.n_ff : E);
    }
    m->post_ln_w_ = m->vector_f32("v.post_ln.weight", E);
    m->post_ln_b_ = m->vector_f32("v.post_ln.bias", E);
    if (gemma3) {
        m->load_gemma3_projector();
    } else {
        m->mm_fc_ = m->tensor("mm.model.fc.weight", {(int64_t)E * s * s, hp.proj_dim});
    }
    return m;
}

void ClipModel::load_patch_kernel() {
    const int32_t P = hp_.patch_size, E = hp_.n_embd;
    // llama.cpp's conv2d runs im2col into f16 and multiplies it with the
    // kernel rounded to f16 as well: keep an f16 copy of the kernel, read as
    // (E, 3 * P * P), so that matmul rounds the pixels the same way.
    const Tensor* pk = tensor("v.patch_embd.weight", {P, P, 3, E});  // (E, 3, P, P)
    const int64_t K = 3 * (int64_t)P * P;
    std::vector<float> krow((size_t)P);
    patch_f16_.resize((size_t)K * E);
    for (int64_t r = 0; r < pk->rows(); r++) {  // rows of P: (e, c, ky)
        dequantize_tensor_row(*pk, r, krow.data());
        for (int32_t i = 0; i < P; i++) patch_f16_[(size_t)r * P + i] = f32_to_f16(krow[(size_t)i]);
    }
    auto pw = std::make_unique<Tensor>();
    pw->name = "v.patch_embd.weight[f16]";
    pw->type = TypeId::F16;
    pw->ne[0] = K;
    pw->ne[1] = E;
    pw->row_bytes = row_size(TypeId::F16, K);
    pw->n_bytes = pw->row_bytes * (size_t)E;
    pw->data = reinterpret_cast<const uint8_t*>(patch_f16_.data());
    tensors_.push_back(std::move(pw));
    patch_w_ = tensors_.back().get();
}

std::vector<float> ClipModel::optional_f32(const std::string& name, std::initializer_list<int64_t> shapes) {
    const GgufTensorInfo* info = gguf_.find_tensor(name);
    if (!info) return {};
    // The first of the allowed lengths the tensor has (a 1-D tensor).
    int64_t n = 0;
    for (int64_t want : shapes) {
        if (info->ne[0] == want && info->n_elements() == want) n = want;
        if (n) break;
    }
    std::string allowed;
    for (int64_t want : shapes) allowed += (allowed.empty() ? "" : " or ") + std::to_string(want);
    HOB_CHECK(n > 0, HOB_ERR_MODEL_INVALID,
              "projector tensor " + name + " has shape " + shape_str(info->ne, info->n_dims) + ", expected " + allowed);
    return vector_f32(name, n);
}

LinearClamp ClipModel::clamp_of(const std::string& weight_name) {
    const std::string base = weight_name.substr(0, weight_name.size() - std::string(".weight").size());
    LinearClamp c;
    auto bound = [&](const char* suffix, float& v) {
        const std::vector<float> s = optional_f32(base + suffix, {1});
        if (s.empty()) return false;
        HOB_CHECK(!std::isnan(s[0]), HOB_ERR_MODEL_INVALID, "projector tensor " + base + suffix + " is NaN");
        v = s[0];
        return true;
    };
    const bool a = bound(".input_min", c.in_min), b = bound(".input_max", c.in_max);
    const bool d = bound(".output_min", c.out_min), e = bound(".output_max", c.out_max);
    c.in = a || b;
    c.out = d || e;
    return c;
}

void ClipModel::load_gemma4v() {
    ClipHparams& hp = hp_;
    const int32_t P = hp.patch_size, E = hp.n_embd, F = hp.n_ff, s = hp.scale_factor;
    // Two halves of each head rotate (by x, then by y), each in NeoX pairs.
    HOB_CHECK(E % hp.n_head == 0 && (E / hp.n_head) % 4 == 0 && P <= 1024 && s <= 64 && (int64_t)P * s <= 4096,
              HOB_ERR_MODEL_INVALID,
              "projector shape: width " + std::to_string(E) + ", " + std::to_string(hp.n_head) + " heads, patch " +
                  std::to_string(P) + " and pool " + std::to_string(s) + " do not fit together");
    // llama.cpp's bounds for Gemma 4: 70 to 1120 rows of (P * s)^2 pixels.
    const int64_t area = (int64_t)P * P * s * s;
    HOB_CHECK(area * 1120 <= INT32_MAX, HOB_ERR_MODEL_INVALID, "projector patch size and pool are too large");
    hp.min_pixels = (int32_t)(70 * area);
    hp.max_pixels = (int32_t)(1120 * area);
    hp.rope_theta = 100.0f;

    load_patch_kernel();
    // Two position tables, x then y, of pos_size rows each.
    const GgufTensorInfo* pos = gguf_.find_tensor("v.position_embd.weight");
    HOB_CHECK(pos != nullptr, HOB_ERR_MODEL_INVALID, "projector tensor v.position_embd.weight is missing");
    HOB_CHECK(pos->ne[1] > 0 && pos->ne[1] <= (1 << 16), HOB_ERR_MODEL_INVALID,
              "projector tensor v.position_embd.weight has shape " + shape_str(pos->ne, pos->n_dims) + ", expected (" +
                  std::to_string(E) + ", positions, 2)");
    hp.pos_size = (int32_t)pos->ne[1];
    pos_table_ = tensor("v.position_embd.weight", {E, hp.pos_size, 2});

    layers_.resize((size_t)hp.n_layer);
    const int32_t D = E / hp.n_head;
    for (int32_t l = 0; l < hp.n_layer; l++) {
        const std::string p = "v.blk." + std::to_string(l) + ".";
        ClipLayer& L = layers_[(size_t)l];
        struct Mat { const char* name; const Tensor* ClipLayer::*w; LinearClamp ClipLayer::*c; int64_t in, out; };
        const Mat mats[] = {
            {"attn_q", &ClipLayer::wq, &ClipLayer::cq, E, E},        {"attn_k", &ClipLayer::wk, &ClipLayer::ck, E, E},
            {"attn_v", &ClipLayer::wv, &ClipLayer::cv, E, E},        {"attn_out", &ClipLayer::wo, &ClipLayer::co, E, E},
            {"ffn_up", &ClipLayer::ffn_up, &ClipLayer::c_up, E, F},  {"ffn_down", &ClipLayer::ffn_down, &ClipLayer::c_down, F, E},
        };
        for (const Mat& t : mats) {
            L.*t.w = tensor(p + t.name + ".weight", {t.in, t.out});
            L.*t.c = clamp_of(p + t.name + ".weight");
        }
        if (gguf_.find_tensor(p + "ffn_gate.weight")) {
            L.ffn_gate = tensor(p + "ffn_gate.weight", {E, F});
            L.c_gate = clamp_of(p + "ffn_gate.weight");
        }
        // Vectors by name: required or not, and the lengths they may have
        // (E, F, D: per head; 1: a scalar).
        enum Len { kE, kF, kD, k1 };
        static const struct { const char* name; std::vector<float> ClipLayer::*field; bool required; Len len, alt; } kVecs[] = {
            {"ln1.weight", &ClipLayer::ln1_w, true, kE, kE},          {"ln2.weight", &ClipLayer::ln2_w, true, kE, kE},
            {"ln1.bias", &ClipLayer::ln1_b, false, kE, kE},           {"ln2.bias", &ClipLayer::ln2_b, false, kE, kE},
            {"attn_q.bias", &ClipLayer::bq, false, kE, kE},           {"attn_k.bias", &ClipLayer::bk, false, kE, kE},
            {"attn_v.bias", &ClipLayer::bv, false, kE, kE},           {"attn_out.bias", &ClipLayer::bo, false, kE, kE},
            {"ffn_up.bias", &ClipLayer::b_up, false, kF, kF},         {"ffn_down.bias", &ClipLayer::b_down, false, kE, kE},
            {"ffn_gate.bias", &ClipLayer::b_gate, false, kF, kF},     {"attn_q_norm.weight", &ClipLayer::q_norm, false, kD, kE},
            {"attn_k_norm.weight", &ClipLayer::k_norm, false, kD, kE}, {"attn_post_norm.weight", &ClipLayer::attn_post_norm, false, kE, kE},
            {"ffn_post_norm.weight", &ClipLayer::ffn_post_norm, false, kE, kE}, {"out_scale.weight", &ClipLayer::out_scale, false, k1, kE},
        };
        const int64_t lens[] = {E, F, D, 1};
        for (const auto& v : kVecs) {
            const std::string name = p + v.name;
            L.*v.field = v.required ? vector_f32(name, lens[v.len]) : optional_f32(name, {lens[v.len], lens[v.alt]});
        }
    }
    post_ln_w_ = optional_f32("v.post_ln.weight", {E});
    if (!post_ln_w_.empty()) post_ln_b_ = optional_f32("v.post_ln.bias", {E});
    std_bias_ = optional_f32("v.std_bias", {E});
    std_scale_ = optional_f32("v.std_scale", {E});
    if (std_bias_.empty() || std_scale_.empty()) {  // llama.cpp applies them only together
        std_bias_.clear();
        std_scale_.clear();
    }
    input_proj_w_ = tensor("mm.input_projection.weight", {E, hp.proj_dim});
    input_proj_clamp_ = clamp_of("mm.input_projection.weight");
    ones_.assign((size_t)E, 1.0f);
}

void ClipModel::check_fixed_size(const char* what) const {
    HOB_CHECK(!dynamic_size(), HOB_ERR_INVALID_ARGUMENT,
              std::string(what) + " is for fixed-size projectors: a " + hp_.projector_name +
                  " image's patch grid depends on its size, so only whole images are encoded");
}

void ClipModel::load_gemma3_projector() {
    const int64_t E = hp_.n_embd, D = hp_.proj_dim;
    soft_emb_norm_ = vector_f32("mm.soft_emb_norm.weight", E);
    // Stored (proj_dim, E): out x in the other way round. llama.cpp
    // multiplies by a contiguous transposed copy in the tensor's own type
    // (f16 rounds the activations to f16 too); so does this, keeping f16
    // as f16 and taking every other type as f32.
    const Tensor* w = tensor("mm.input_projection.weight", {D, E});
    const bool f16 = w->type == TypeId::F16;
    input_proj_.resize((size_t)(E * D) * (f16 ? sizeof(uint16_t) : sizeof(float)));
    auto* as_f32 = reinterpret_cast<float*>(input_proj_.data());
    auto* as_f16 = reinterpret_cast<uint16_t*>(input_proj_.data());
    std::vector<float> row((size_t)D);
    for (int64_t e = 0; e < E; e++) {
        dequantize_tensor_row(*w, e, row.data());  // w[e][0..D)
        for (int64_t d = 0; d < D; d++) {
            const size_t at = (size_t)(d * E + e);
            if (f16) {
                as_f16[at] = f32_to_f16(row[(size_t)d]);
            } else {
                as_f32[at] = row[(size_t)d];
            }
        }
    }
    auto t = std::make_unique<Tensor>();
    t->name = "mm.input_projection.weight[transposed]";
    t->type = f16 ? TypeId::F16 : TypeId::F32;
    t->ne[0] = E;
    t->ne[1] = D;
    t->row_bytes = row_size(t->type, E);
    t->n_bytes = t->row_bytes * (size_t)D;
    t->data = input_proj_.data();
    tensors_.push_back(std::move(t));
    input_proj_t_ = tensors_.back().get();
}

ClipModel::Layout ClipModel::layout(int32_t width, int32_t height) const {
    HOB_CHECK(width > 0 && height > 0 && width <= kMaxImageSide && height <= kMaxImageSide, HOB_ERR_INVALID_ARGUMENT,
              "image size " + std::to_string(width) + "x" + std::to_string(height) + " is empty or over " +
                  std::to_string(kMaxImageSide) + " pixels a side");
    if (hp_.projector == ProjectorType::Gemma3) return {0, 0, (size_t)tokens_per_image()};
    if (hp_.projector == ProjectorType::Gemma4V) {
        const int32_t align = hp_.patch_size * hp_.scale_factor;
        const ImageSize size = aligned_size(width, height, align, hp_.min_pixels, hp_.max_pixels);
        const int64_t nx = size.width / hp_.patch_size, ny = size.height / hp_.patch_size;
        // The position tables bound each side; the attention, the area.
        HOB_CHECK(nx <= hp_.pos_size && ny <= hp_.pos_size && nx * ny <= kMaxPatches, HOB_ERR_INVALID_ARGUMENT,
                  "a " + std::to_string(width) + "x" + std::to_string(height) + " image becomes a " + std::to_string(nx) +
                      "x" + std::to_string(ny) + " patch grid, over the projector's " + std::to_string(hp_.pos_size) +
                      " positions a side or " + std::to_string(kMaxPatches) + " patches");
        return {0, 0, (size_t)((nx / hp_.scale_factor) * (ny / hp_.scale_factor))};
    }
    const Idefics3Size size = idefics3_size(width, height, hp_.image_size, hp_.longest_edge);
    return {size.grid_x, size.grid_y, (size_t)(size.grid_x * size.grid_y + 1) * (size_t)tokens_per_image()};
}

void ClipModel::encode_image(ThreadPool& pool, const uint8_t* rgb, int32_t width, int32_t height, float* out,
                             size_t cap) const {
    const Layout l = layout(width, height);
    HOB_CHECK(out && cap >= l.n_rows * (size_t)hp_.proj_dim, HOB_ERR_BUFFER_TOO_SMALL,
              "embedding buffer of " + std::to_string(cap) + " floats is too small for " +
                  std::to_string(l.n_rows * (size_t)hp_.proj_dim));
    const ImagePlan p = plan(RgbImage{width, height, std::vector<uint8_t>(rgb, rgb + (size_t)width * height * 3)});
    if (dynamic_size()) {
        HOB_CHECK(p.images.size() == 1 && (size_t)(p.width / hp_.patch_size / hp_.scale_factor) *
                                                  (size_t)(p.height / hp_.patch_size / hp_.scale_factor) == l.n_rows,
                  HOB_ERR_INTERNAL, "image layout and preprocessing disagree");
        encode_gemma4v(pool, p.images[0].data(), p.width, p.height, out);
        return;
    }
    const size_t per = (size_t)tokens_per_image() * (size_t)hp_.proj_dim;
    HOB_CHECK(p.images.size() * per == l.n_rows * (size_t)hp_.proj_dim, HOB_ERR_INTERNAL,
              "image layout and preprocessing disagree");
    for (size_t i = 0; i < p.images.size(); i++) encode(pool, p.images[i].data(), out + i * per);
}

ImagePlan ClipModel::plan(const RgbImage& img) const {
    if (hp_.projector == ProjectorType::Gemma3) {
        // mtmd's fixed-size preprocessor with gemma3's bilinear filter.
        const RgbImage fitted = resize_padded(img, hp_.image_size, hp_.image_size, ResizeFilter::Bilinear);
        return {0, 0, hp_.image_size, hp_.image_size, {normalize_planar(fitted, hp_.mean, hp_.std)}};
    }
    if (hp_.projector == ProjectorType::Gemma4V) {
        // mtmd's dynamic-size preprocessor: bicubic, fitted and padded.
        const ImageSize size =
            aligned_size(img.width, img.height, hp_.patch_size * hp_.scale_factor, hp_.min_pixels, hp_.max_pixels);
        const RgbImage fitted = resize_padded(img, size.width, size.height, ResizeFilter::Bicubic);
        return {0, 0, size.width, size.height, {normalize_planar(fitted, hp_.mean, hp_.std)}};
    }
    const TiledImage tiled = tile_idefics3(img, hp_.image_size, hp_.longest_edge);
    ImagePlan out;
    out.width = out.height = hp_.image_size;
    out.grid_x = tiled.grid_x;
    out.grid_y = tiled.grid_y;
    for (const RgbImage& t : tiled.tiles) out.images.push_back(normalize_planar(t, hp_.mean, hp_.std));
    out.images.push_back(normalize_planar(tiled.overview, hp_.mean, hp_.std));
    return out;
}

void ClipModel::encode(ThreadPool& pool, const float* pixels, float* out) const {
    check_fixed_size("encoding a sub-image");
    std::vector<float> x((size_t)n_patches() * (size_t)hp_.n_embd);
    embed_patches(pool, pixels, x.data());
    run_blocks(pool, x.data());
    project(pool, x.data(), out);
}

void ClipModel::project(ThreadPool& pool, float* x, float* out) const {
    check_fixed_size("the projector step");
    Scratch scratch;
    layernorm(pool, x, post_ln_w_.data(), post_ln_b_.data(), x, n_patches(), hp_.n_embd, hp_.eps);
    if (hp_.projector == ProjectorType::Gemma3) {
        project_gemma3(pool, scratch, x, out);
    } else {
        project_idefics3(pool, scratch, x, out);
    }
}

void ClipModel::embed_patches(ThreadPool& pool, const float* pixels, float* x) const {
    check_fixed_size("the patch embedding step");
    Scratch scratch;
    const ClipHparams& hp = hp_;
    const int32_t P = hp.patch_size, E = hp.n_embd, S = hp.image_size;
    const int32_t side = S / P, T = n_patches();
    const int32_t K = 3 * P * P;
    // ggml_conv_2d (im2col + mul_mat): patch t = (py, px) as one row of
    // (channel, ky, kx), the kernel's order; plus the bias, plus position t.
    std::vector<float> cols((size_t)T * K);
    for (int32_t py = 0; py < side; py++) {
        for (int32_t px = 0; px < side; px++) {
            float* row = cols.data() + (size_t)(py * side + px) * K;
            for (int32_t c = 0; c < 3; c++) {
                for (int32_t ky = 0; ky < P; ky++) {
                    const float* src = pixels + (size_t)c * S * S + (size_t)(py * P + ky) * S + (size_t)px * P;
                    std::copy(src, src + P, row + (size_t)(c * P + ky) * P);
                }
            }
        }
    }
    matmul(pool, scratch, *patch_w_, cols.data(), T, x);
    add_bias(x, patch_b_.data(), T, E);
    add(x, pos_embd_.data(), (int64_t)T * E);
}

void ClipModel::run_blocks(ThreadPool& pool, float* x) const {
    check_fixed_size("the blocks step");
    Scratch scratch;
    const ClipHparams& hp = hp_;
    const int32_t E = hp.n_embd, F = hp.n_ff, T = n_patches(), D = E / hp.n_head;
    std::vector<float> h((size_t)T * E), q((size_t)T * E), k((size_t)T * E), v((size_t)T * E), att((size_t)T * E),
        ff((size_t)T * F);
    const float kq_scale = 1.0f / std::sqrt((float)D);
    for (const ClipLayer& L : layers_) {
        // Pre-norm attention over all patches, residual.
        layernorm(pool, x, L.ln1_w.data(), L.ln1_b.data(), h.data(), T, E, hp.eps);
        matmul(pool, scratch, *L.wq, h.data(), T, q.data());
        matmul(pool, scratch, *L.wk, h.data(), T, k.data());
        matmul(pool, scratch, *L.wv, h.data(), T, v.data());
        add_bias(q.data(), L.bq.data(), T, E);
        add_bias(k.data(), L.bk.data(), T, E);
        add_bias(v.data(), L.bv.data(), T, E);
        full_attention(pool, scratch, q.data(), k.data(), v.data(), T, hp.n_head, D, kq_scale, att.data());
        matmul(pool, scratch, *L.wo, att.data(), T, h.data());
        add_bias(h.data(), L.bo.data(), T, E);
        add(x, h.data(), (int64_t)T * E);

        // Pre-norm MLP (GELU), residual.
        layernorm(pool, x, L.ln2_w.data(), L.ln2_b.data(), h.data(), T, E, hp.eps);
        matmul(pool, scratch, *L.ffn_up, h.data(), T, ff.data());
        add_bias(ff.data(), L.b_up.data(), T, F);
        gelu(pool, ff.data(), (int64_t)T * F);
        matmul(pool, scratch, *L.ffn_down, ff.data(), T, h.data());
        add_bias(h.data(), L.b_down.data(), T, E);
        add(x, h.data(), (int64_t)T * E);
    }
}

void ClipModel::project_idefics3(ThreadPool& pool, Scratch& scratch, const float* x, float* out) const {
    const int32_t E = hp_.n_embd, side = hp_.image_size / hp_.patch_size;
    // Pixel-shuffle (build_patch_merge_permute): output row (Y, X) of the
    // (side/s)^2 grid is the s x s block of patches at (Y*s + dy, X*s + dx),
    // concatenated dy-major, then dx, then the channel.
    const int32_t s = hp_.scale_factor, g = side / s, W = E * s * s;
    std::vector<float> merged((size_t)g * g * W);
    for (int32_t Y = 0; Y < g; Y++) {
        for (int32_t X = 0; X < g; X++) {
            float* dst = merged.data() + (size_t)(Y * g + X) * W;
            for (int32_t dy = 0; dy < s; dy++) {
                for (int32_t dx = 0; dx < s; dx++) {
                    const float* src = x + (size_t)((Y * s + dy) * side + X * s + dx) * E;
                    std::copy(src, src + E, dst + (size_t)(dy * s + dx) * E);
                }
            }
        }
    }
    matmul(pool, scratch, *mm_fc_, merged.data(), g * g, out);
}

void ClipModel::project_gemma3(ThreadPool& pool, Scratch& scratch, const float* x, float* out) const {
    // ggml_pool_2d (average, kernel = stride = s, no padding) over the patch
    // grid, each channel alone: output row (Y, X) is the mean of the s x s
    // patches at (Y*s + dy, X*s + dx), summed dy-major in f32 and divided
    // once, as ggml's kernel does.
    const int32_t E = hp_.n_embd, side = hp_.image_size / hp_.patch_size, s = hp_.scale_factor, g = side / s;
    const int32_t n = g * g;
    std::vector<float> pooled((size_t)n * E), normed((size_t)n * E);
    const float area = (float)(s * s);
    for (int32_t Y = 0; Y < g; Y++) {
        for (int32_t X = 0; X < g; X++) {
            float* dst = pooled.data() + (size_t)(Y * g + X) * E;
            for (int32_t e = 0; e < E; e++) {
                float sum = 0.0f;
                for (int32_t dy = 0; dy < s; dy++) {
                    for (int32_t dx = 0; dx < s; dx++) sum += x[(size_t)((Y * s + dy) * side + X * s + dx) * E + e];
                }
                dst[e] = sum / area;
            }
        }
    }
    // mm_soft_emb_norm (RMSNorm with its weight), then mm_input_projection.
    rmsnorm(pool, pooled.data(), soft_emb_norm_.data(), normed.data(), n, E, hp_.eps);
    matmul(pool, scratch, *input_proj_t_, normed.data(), n, out);
}

// gemma4v (llama.cpp's clip_graph_gemma4v): one image of nx x ny patches.
void ClipModel::encode_gemma4v(ThreadPool& pool, const float* pixels, int32_t W, int32_t H, float* out) const {
    Scratch scratch;
    const ClipHparams& hp = hp_;
    const int32_t P = hp.patch_size, E = hp.n_embd, s = hp.scale_factor;
    const int32_t nx = W / P, ny = H / P, T = nx * ny, K = 3 * P * P;
    HOB_CHECK(W % (P * s) == 0 && H % (P * s) == 0 && T > 0 && T <= kMaxPatches && nx <= hp.pos_size && ny <= hp.pos_size,
              HOB_ERR_INTERNAL, "a " + std::to_string(W) + "x" + std::to_string(H) + " image does not fit the patch grid");
    // The pixels scaled from [0, 1] to [-1, 1] (2x - 1, after the file's
    // mean and std), then the bias-free conv2d as im2col + f16 matmul: patch
    // t = (py, px) as one row of (channel, ky, kx).
    std::vector<float> cols((size_t)T * K);
    for (int32_t py = 0; py < ny; py++) {
        for (int32_t px = 0; px < nx; px++) {
            float* row = cols.data() + (size_t)(py * nx + px) * K;
            for (int32_t c = 0; c < 3; c++) {
                for (int32_t ky = 0; ky < P; ky++) {
                    const float* src = pixels + (size_t)c * W * H + (size_t)(py * P + ky) * W + (size_t)px * P;
                    float* dst = row + (size_t)(c * P + ky) * P;
                    for (int32_t kx = 0; kx < P; kx++) dst[kx] = src[kx] * 2.0f + -1.0f;
                }
            }
        }
    }
    std::vector<float> x((size_t)T * E);
    matmul(pool, scratch, *patch_w_, cols.data(), T, x.data());
    cols = std::vector<float>();
    // Learned positions: row px of the x table, then row py of the y table.
    std::vector<float> pe((size_t)E);
    for (int32_t t = 0; t < T; t++) {
        float* xt = x.data() + (size_t)t * E;
        dequantize_tensor_row(*pos_table_, t % nx, pe.data());
        add(xt, pe.data(), E);
        dequantize_tensor_row(*pos_table_, hp.pos_size + t / nx, pe.data());
        add(xt, pe.data(), E);
    }
    run_rms_blocks(pool, x.data(), nx, ny);
    if (!post_ln_w_.empty()) {
        rmsnorm(pool, x.data(), post_ln_w_.data(), x.data(), T, E, hp.eps);
        if (!post_ln_b_.empty()) add_bias(x.data(), post_ln_b_.data(), T, E);
    }
    // Average pool of s x s patches (as for gemma3), then the scale by
    // sqrt(E), the optional standardisation, a weightless RMS norm and the
    // clamped input projection.
    const int32_t gx = nx / s, gy = ny / s, n = gx * gy;
    std::vector<float> pooled((size_t)n * E);
    const float area = (float)(s * s);
    for (int32_t Y = 0; Y < gy; Y++) {
        for (int32_t X = 0; X < gx; X++) {
            float* dst = pooled.data() + (size_t)(Y * gx + X) * E;
            for (int32_t e = 0; e < E; e++) {
                float sum = 0.0f;
                for (int32_t dy = 0; dy < s; dy++) {
                    for (int32_t dx = 0; dx < s; dx++) sum += x[(size_t)((Y * s + dy) * nx + X * s + dx) * E + e];
                }
                dst[e] = sum / area;
            }
        }
    }
    scale(pooled.data(), std::sqrt((float)E), (int64_t)n * E);
    if (!std_bias_.empty()) {
        for (int32_t r = 0; r < n; r++) {
            float* v = pooled.data() + (size_t)r * E;
            for (int32_t e = 0; e < E; e++) v[e] = (v[e] - std_bias_[(size_t)e]) * std_scale_[(size_t)e];
        }
    }
    rmsnorm(pool, pooled.data(), ones_.data(), pooled.data(), n, E, hp.eps);
    std::vector<float> tmp;
    clamped_matmul(pool, scratch, *input_proj_w_, input_proj_clamp_, pooled.data(), n, out, tmp);
}

// build_vit with RMS norms as gemma4v runs it: per block, the normed input
// to q, k, v (clamped linears); q and k RMS-normed (per head or whole rows)
// and rotated by 2-D NeoX RoPE (the first half of each head by the patch's
// column, the second by its row); v RMS-normed per head without a weight;
// attention with a scale of 1; the output, its post-norm, the residual; the
// normed input to the (gated) MLP, its post-norm, the residual; the block's
// output scale.
void ClipModel::run_rms_blocks(ThreadPool& pool, float* x, int32_t nx, int32_t ny) const {
    Scratch scratch;
    const ClipHparams& hp = hp_;
    const int32_t E = hp.n_embd, F = hp.n_ff, T = nx * ny, H = hp.n_head, D = E / H;
    std::vector<float> h((size_t)T * E), q((size_t)T * E), k((size_t)T * E), v((size_t)T * E), att((size_t)T * E),
        up((size_t)T * F), gate((size_t)T * F), tmp;
    RopeParams rp;
    rp.style = RopeStyle::NeoX;
    rp.n_rot = D / 2;
    rp.freq_base = hp.rope_theta;
    // cos, sin per pair for every position a side can have.
    const int32_t n_pos = std::max(nx, ny);
    std::vector<float> cs((size_t)n_pos * rp.n_rot);
    for (int32_t p = 0; p < n_pos; p++) rope_angles(p, rp, cs.data() + (size_t)p * rp.n_rot);
    auto bias = [&](float* y, const std::vector<float>& b, int32_t n) {
        if (!b.empty()) add_bias(y, b.data(), T, n);
    };
    auto qk_norm = [&](float* y, const std::vector<float>& w) {
        if (w.empty()) return;
        if ((int32_t)w.size() == D) {
            rmsnorm(pool, y, w.data(), y, T * H, D, hp.eps);
        } else {
            rmsnorm(pool, y, w.data(), y, T, E, hp.eps);
        }
    };
    for (const ClipLayer& L : layers_) {
        rmsnorm(pool, x, L.ln1_w.data(), h.data(), T, E, hp.eps);
        bias(h.data(), L.ln1_b, E);
        clamped_matmul(pool, scratch, *L.wq, L.cq, h.data(), T, q.data(), tmp);
        bias(q.data(), L.bq, E);
        clamped_matmul(pool, scratch, *L.wk, L.ck, h.data(), T, k.data(), tmp);
        bias(k.data(), L.bk, E);
        clamped_matmul(pool, scratch, *L.wv, L.cv, h.data(), T, v.data(), tmp);
        bias(v.data(), L.bv, E);
        qk_norm(q.data(), L.q_norm);
        qk_norm(k.data(), L.k_norm);
        parallel_for(pool, T, (int64_t)T * E * 8, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++) {
                const float* cx = cs.data() + (size_t)(t % nx) * rp.n_rot;
                const float* cy = cs.data() + (size_t)(t / nx) * rp.n_rot;
                for (float* row : {q.data() + (size_t)t * E, k.data() + (size_t)t * E}) {
                    rope_apply(row, H, D, cx, rp);
                    rope_apply(row + D / 2, H, D, cy, rp);
                }
            }
        });
        rmsnorm(pool, v.data(), ones_.data(), v.data(), T * H, D, hp.eps);
        full_attention(pool, scratch, q.data(), k.data(), v.data(), T, H, D, 1.0f, att.data());
        clamped_matmul(pool, scratch, *L.wo, L.co, att.data(), T, h.data(), tmp);
        bias(h.data(), L.bo, E);
        if (!L.attn_post_norm.empty()) rmsnorm(pool, h.data(), L.attn_post_norm.data(), h.data(), T, E, hp.eps);
        add(x, h.data(), (int64_t)T * E);

        rmsnorm(pool, x, L.ln2_w.data(), h.data(), T, E, hp.eps);
        bias(h.data(), L.ln2_b, E);
        clamped_matmul(pool, scratch, *L.ffn_up, L.c_up, h.data(), T, up.data(), tmp);
        bias(up.data(), L.b_up, F);
        if (L.ffn_gate) {
            clamped_matmul(pool, scratch, *L.ffn_gate, L.c_gate, h.data(), T, gate.data(), tmp);
            bias(gate.data(), L.b_gate, F);
            vit_activation(pool, hp.act, gate.data(), up.data(), (int64_t)T * F);
        } else {
            vit_activation(pool, hp.act, up.data(), nullptr, (int64_t)T * F);
            std::swap(gate, up);
        }
        clamped_matmul(pool, scratch, *L.ffn_down, L.c_down, gate.data(), T, h.data(), tmp);
        bias(h.data(), L.b_down, E);
        if (!L.ffn_post_norm.empty()) rmsnorm(pool, h.data(), L.ffn_post_norm.data(), h.data(), T, E, hp.eps);
        add(x, h.data(), (int64_t)T * E);
        if (L.out_scale.size() == 1) {
            scale(x, L.out_scale[0], (int64_t)T * E);
        } else if (!L.out_scale.empty()) {
            for (int32_t t = 0; t < T; t++) {
                for (int32_t e = 0; e < E; e++) x[(size_t)t * E + e] *= L.out_scale[(size_t)e];
            }
        }
    }
}

}  // namespace hob
