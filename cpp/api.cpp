// The C API: every entry point catches everything, records the message for
// hob_last_error, and returns a status. Handles are the engine's own objects.
#include "api.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#ifdef __EMSCRIPTEN__
#include <unistd.h>
#endif

#include "clip.h"
#include "common.h"
#include "gguf.h"
#include "loader.h"
#include "model.h"
#include "session.h"
#include "threadpool.h"

struct hob_gguf {
    hob::GgufFile file;
};
struct hob_loader {
    hob::ModelLoader loader;
};
struct hob_model {
    std::unique_ptr<hob::Model> model;
};
struct hob_session {
    std::unique_ptr<hob::Session> session;
};
struct hob_clip {
    std::unique_ptr<hob::ClipModel> clip;
};
namespace {

thread_local std::string g_last_error;

// The engine-wide pool and the number of live sessions using it.
std::unique_ptr<hob::ThreadPool> g_pool;
int g_sessions = 0;

hob::ThreadPool& pool() {
    if (!g_pool) g_pool = std::make_unique<hob::ThreadPool>(1);
    return *g_pool;
}

hob_status set_error(hob_status s, const std::string& msg) {
    g_last_error = msg;
    return s;
}

// Runs fn, turning any exception into a status and message.
template <typename F>
hob_status guard(F&& fn) {
    hob::last_thrown() = {};
    try {
        fn();
        return HOB_OK;
    } catch (const hob::Error& e) {
        return set_error(e.status(), e.what());
    } catch (const std::bad_alloc&) {
        return set_error(HOB_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return set_error(HOB_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        // Where typed catches do not match (see common.h), the engine's own
        // errors are still known from last_thrown; anything else is most
        // likely an allocation failure.
        const hob::ThrownError& t = hob::last_thrown();
        if (t.status != HOB_OK) return set_error(t.status, t.message);
        return set_error(HOB_ERR_OUT_OF_MEMORY, "out of memory (or an unexpected engine error)");
    }
}

#define REQUIRE_ARG(cond, what) \
    if (!(cond)) return set_error(HOB_ERR_INVALID_ARGUMENT, what)

// Copies s into buf. *len always receives the full size; a buffer too small
// for it gets nothing and BUFFER_TOO_SMALL. A NUL follows when there is room.
hob_status copy_out(const std::string& s, char* buf, size_t cap, size_t* len) {
    if (len) *len = s.size();
    if (cap < s.size() || (!buf && !s.empty())) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "buffer of " + std::to_string(cap) + " bytes is too small for " +
                                                       std::to_string(s.size()));
    }
    if (!s.empty()) std::memcpy(buf, s.data(), s.size());
    if (cap > s.size()) buf[s.size()] = 0;
    return HOB_OK;
}

// Sequence lengths from the caller: each positive, summing to n_tokens.
hob_status check_seq_lens(const int32_t* seq_lens, size_t n_seqs, size_t n_tokens, const char* fn) {
    REQUIRE_ARG(seq_lens && n_seqs > 0 && n_seqs <= (size_t)INT32_MAX, std::string(fn) + ": needs one sequence at least");
    size_t sum = 0;
    for (size_t i = 0; i < n_seqs; i++) {
        REQUIRE_ARG(seq_lens[i] > 0, std::string(fn) + ": sequence " + std::to_string(i) + " has " +
                                         std::to_string(seq_lens[i]) + " tokens");
        sum += (size_t)seq_lens[i];
        REQUIRE_ARG(sum <= n_tokens, std::string(fn) + ": the sequences hold more than the " + std::to_string(n_tokens) + " tokens");
    }
    REQUIRE_ARG(sum == n_tokens, std::string(fn) + ": the sequences hold " + std::to_string(sum) + " of the " +
                                     std::to_string(n_tokens) + " tokens");
    return HOB_OK;
}

const hob::GgufValue* kv_at(const hob_gguf* g, int64_t i) {
    if (!g || i < 0 || (uint64_t)i >= g->file.kv.size()) return nullptr;
    return &g->file.kv[(size_t)i].second;
}

}  // namespace

extern "C" {

const char* hob_last_error(void) { return g_last_error.c_str(); }

hob_status hob_init(int32_t n_threads) {
    REQUIRE_ARG(n_threads >= 1 && n_threads <= 256, "n_threads must be in [1, 256], got " + std::to_string(n_threads));
    if (g_pool && g_pool->size() == n_threads) return HOB_OK;
    REQUIRE_ARG(g_sessions == 0, "cannot resize the thread pool while " + std::to_string(g_sessions) + " sessions use it");
    return guard([&] {
        g_pool.reset();
        g_pool = std::make_unique<hob::ThreadPool>(n_threads);
    });
}

int32_t hob_threads(void) { return pool().size(); }

void* hob_alloc(size_t size) { return std::malloc(size ? size : 1); }
void hob_free(void* ptr) { std::free(ptr); }

uint64_t hob_heap_bytes(void) {
#ifdef __EMSCRIPTEN__
    // emscripten's dlmalloc is built with MORECORE_CANNOT_TRIM: the break only grows.
    return (uint64_t)(uintptr_t)sbrk(0);
#else
    return 0;
#endif
}

const char* hob_type_name(int32_t type) {
    const hob::TypeTraits* t = hob::type_traits((uint32_t)type);
    return t ? t->name : "unknown";
}

// ---- GGUF inspection ----------------------------------------------------------

hob_status hob_gguf_open(const uint8_t* data, size_t size, uint64_t file_size, hob_gguf** out) {
    REQUIRE_ARG(data && out, "hob_gguf_open: data and out must not be null");
    *out = nullptr;
    return guard([&] { *out = new hob_gguf{hob::GgufFile::parse(data, size, file_size)}; });
}

void hob_gguf_close(hob_gguf* gguf) { delete gguf; }
uint32_t hob_gguf_version(const hob_gguf* g) { return g ? g->file.version : 0; }
uint64_t hob_gguf_data_offset(const hob_gguf* g) { return g ? g->file.data_offset : 0; }
int64_t hob_gguf_kv_count(const hob_gguf* g) { return g ? (int64_t)g->file.kv.size() : 0; }
int64_t hob_gguf_tensor_count(const hob_gguf* g) { return g ? (int64_t)g->file.tensors.size() : 0; }

hob_status hob_gguf_kv_key(const hob_gguf* g, int64_t i, char* buf, size_t cap, size_t* len) {
    REQUIRE_ARG(kv_at(g, i), "metadata index " + std::to_string(i) + " out of range");
    return copy_out(g->file.kv[(size_t)i].first, buf, cap, len);
}

hob_status hob_gguf_kv_type(const hob_gguf* g, int64_t i, int32_t* type, int32_t* elem_type, uint64_t* count) {
    const hob::GgufValue* v = kv_at(g, i);
    REQUIRE_ARG(v, "metadata index " + std::to_string(i) + " out of range");
    if (type) *type = (int32_t)v->type;
    if (elem_type) *elem_type = v->is_array() ? (int32_t)v->elem_type : -1;
    if (count) *count = v->is_array() ? v->count : 1;
    return HOB_OK;
}

hob_status hob_gguf_kv_number(const hob_gguf* g, int64_t i, uint64_t j, double* out) {
    const hob::GgufValue* v = kv_at(g, i);
    REQUIRE_ARG(v && out, "metadata index " + std::to_string(i) + " out of range");
    return guard([&] {
        if (v->is_array()) {
            *out = v->array_number(j);
        } else {
            HOB_CHECK(v->type != hob::GgufType::STRING && j == 0, HOB_ERR_INVALID_ARGUMENT, "value is not a number");
            *out = v->num;
        }
    });
}

hob_status hob_gguf_kv_string(const hob_gguf* g, int64_t i, uint64_t j, char* buf, size_t cap, size_t* len) {
    const hob::GgufValue* v = kv_at(g, i);
    REQUIRE_ARG(v, "metadata index " + std::to_string(i) + " out of range");
    if (v->type == hob::GgufType::STRING && j == 0) return copy_out(v->str, buf, cap, len);
    if (v->is_array() && v->elem_type == hob::GgufType::STRING && j < v->count) return copy_out(v->strs[(size_t)j], buf, cap, len);
    return set_error(HOB_ERR_INVALID_ARGUMENT, "metadata value " + std::to_string(i) + "[" + std::to_string(j) + "] is not a string");
}

hob_status hob_gguf_tensor_name(const hob_gguf* g, int64_t i, char* buf, size_t cap, size_t* len) {
    REQUIRE_ARG(g && i >= 0 && (uint64_t)i < g->file.tensors.size(), "tensor index " + std::to_string(i) + " out of range");
    return copy_out(g->file.tensors[(size_t)i].name, buf, cap, len);
}

hob_status hob_gguf_tensor_info(const hob_gguf* g, int64_t i, int32_t* type, int32_t* n_dims, int64_t* dims,
                                uint64_t* offset, uint64_t* size) {
    REQUIRE_ARG(g && i >= 0 && (uint64_t)i < g->file.tensors.size(), "tensor index " + std::to_string(i) + " out of range");
    const hob::GgufTensorInfo& t = g->file.tensors[(size_t)i];
    if (type) *type = (int32_t)t.type;
    if (n_dims) *n_dims = t.n_dims;
    if (dims) for (int d = 0; d < 4; d++) dims[d] = t.ne[d];
    if (offset) *offset = g->file.data_offset + t.offset;
    if (size) *size = t.size;
    return HOB_OK;
}

// ---- models ---------------------------------------------------------------------

hob_status hob_model_load(uint8_t* data, size_t size, int take_ownership, hob_model** out) {
    if (!data || !out) {
        if (take_ownership) hob_free(data);
        return set_error(HOB_ERR_INVALID_ARGUMENT, "hob_model_load: data and out must not be null");
    }
    *out = nullptr;
    return guard([&] { *out = new hob_model{hob::Model::load(data, size, take_ownership != 0)}; });
}

void hob_model_free(hob_model* model) { delete model; }

hob_status hob_model_load_vocab(const uint8_t* header, size_t header_size, uint64_t file_size, hob_model** out) {
    REQUIRE_ARG(header && out, "hob_model_load_vocab: header and out must not be null");
    *out = nullptr;
    return guard([&] { *out = new hob_model{hob::Model::load_vocab(hob::GgufFile::parse(header, header_size, file_size))}; });
}

int32_t hob_model_vocab_only(const hob_model* m) { return m && m->model->vocab_only() ? 1 : 0; }

hob_status hob_loader_create(const uint8_t* header, size_t header_size, uint64_t file_size, int32_t n_cpu_layers,
                             hob_loader** out) {
    REQUIRE_ARG(header && out, "hob_loader_create: header and out must not be null");
    *out = nullptr;
    return guard([&] { *out = new hob_loader{hob::ModelLoader(header, header_size, file_size, n_cpu_layers)}; });
}

void hob_loader_free(hob_loader* loader) { delete loader; }
uint64_t hob_loader_resident_bytes(const hob_loader* l) { return l ? l->loader.resident_bytes() : 0; }
int32_t hob_loader_range_count(const hob_loader* l) { return l ? (int32_t)l->loader.ranges().size() : 0; }

hob_status hob_loader_range(const hob_loader* l, int32_t i, uint64_t* offset, uint64_t* size) {
    REQUIRE_ARG(l && offset && size, "hob_loader_range: loader, offset and size must not be null");
    REQUIRE_ARG(i >= 0 && (size_t)i < l->loader.ranges().size(), "loader range " + std::to_string(i) + " out of range");
    *offset = l->loader.ranges()[(size_t)i].offset;
    *size = l->loader.ranges()[(size_t)i].size;
    return HOB_OK;
}

hob_status hob_loader_write(hob_loader* l, uint64_t file_offset, const uint8_t* bytes, size_t n) {
    REQUIRE_ARG(l && (bytes || n == 0), "hob_loader_write: loader and bytes must not be null");
    return guard([&] { l->loader.write(file_offset, bytes, n); });
}

hob_status hob_loader_finish(hob_loader* l, hob_model** out) {
    REQUIRE_ARG(l && out, "hob_loader_finish: loader and out must not be null");
    *out = nullptr;
    return guard([&] { *out = new hob_model{l->loader.finish()}; });
}
int32_t hob_model_n_vocab(const hob_model* m) { return m ? m->model->hparams().n_vocab : 0; }
int32_t hob_model_n_ctx_train(const hob_model* m) { return m ? m->model->hparams().n_ctx_train : 0; }
int32_t hob_model_n_embd(const hob_model* m) { return m ? m->model->hparams().n_embd : 0; }
int32_t hob_model_n_layer(const hob_model* m) { return m ? m->model->hparams().n_layer : 0; }
int32_t hob_model_token_bos(const hob_model* m) { return m ? m->model->vocab().bos() : -1; }
int32_t hob_model_token_eos(const hob_model* m) { return m ? m->model->vocab().eos() : -1; }
int32_t hob_model_token_is_eog(const hob_model* m, int32_t token) { return m && m->model->vocab().is_eog(token) ? 1 : 0; }
int32_t hob_model_token_sep(const hob_model* m) { return m ? m->model->vocab().sep() : -1; }
int32_t hob_model_add_bos(const hob_model* m) { return m && m->model->vocab().add_bos() ? 1 : 0; }
int32_t hob_model_add_eos(const hob_model* m) { return m && m->model->vocab().add_eos() ? 1 : 0; }
int32_t hob_model_add_sep(const hob_model* m) { return m && m->model->vocab().add_sep() ? 1 : 0; }
int32_t hob_model_add_space_prefix(const hob_model* m) { return m && m->model->vocab().add_space_prefix() ? 1 : 0; }
uint64_t hob_model_weight_bytes(const hob_model* m) { return m ? m->model->weight_bytes() : 0; }

hob_status hob_model_hparam(const hob_model* m, int32_t which, double* out) {
    REQUIRE_ARG(m && out, "hob_model_hparam: model and out must not be null");
    const hob::Hparams& hp = m->model->hparams();
    switch (which) {
        case HOB_HPARAM_N_HEAD: *out = hp.n_head; break;
        case HOB_HPARAM_N_HEAD_KV: *out = hp.n_head_kv; break;
        case HOB_HPARAM_HEAD_DIM: *out = hp.head_dim; break;
        case HOB_HPARAM_N_FF: *out = hp.n_ff; break;
        case HOB_HPARAM_RMS_EPS: *out = hp.rms_eps; break;
        case HOB_HPARAM_ROPE_STYLE: *out = hp.rope.style == hob::RopeStyle::NeoX ? 1 : 0; break;
        case HOB_HPARAM_ROPE_N_ROT: *out = hp.rope.n_rot; break;
        case HOB_HPARAM_ROPE_FREQ_BASE: *out = hp.rope.freq_base; break;
        case HOB_HPARAM_ROPE_FREQ_SCALE: *out = hp.rope.freq_scale; break;
        case HOB_HPARAM_N_CPU_LAYERS: *out = m->model->n_cpu_layers(); break;
        case HOB_HPARAM_HEAD_ON_CPU: *out = m->model->head_on_cpu() ? 1 : 0; break;
        case HOB_HPARAM_QKV_BIAS: *out = m->model->layout().qkv_bias ? 1 : 0; break;
        case HOB_HPARAM_FUSED_QKV: *out = m->model->layout().fused_qkv ? 1 : 0; break;
        case HOB_HPARAM_FUSED_FFN: *out = m->model->layout().fused_ffn ? 1 : 0; break;
        case HOB_HPARAM_QK_NORM: *out = (double)(int)hp.traits->qk_norm; break;
        case HOB_HPARAM_POST_NORMS: *out = hp.traits->post_norms ? 1 : 0; break;
        case HOB_HPARAM_EMBD_SCALE: *out = hp.embd_scale; break;
        case HOB_HPARAM_ATTN_SCALE: *out = hp.attn_scale; break;
        case HOB_HPARAM_ATTN_SCALE_ON_Q: *out = hp.traits->q_prescale ? 1 : 0; break;
        case HOB_HPARAM_ATTN_SOFTCAP: *out = hp.attn_softcap; break;
        case HOB_HPARAM_FINAL_SOFTCAP: *out = hp.final_softcap; break;
        case HOB_HPARAM_FFN_ACT: *out = hp.traits->ffn_act == hob::FfnAct::GeLU ? 1 : 0; break;
        case HOB_HPARAM_N_SWA: *out = hp.n_swa; break;
        case HOB_HPARAM_ROPE_FREQ_BASE_SWA: *out = hp.rope_swa.freq_base; break;
        case HOB_HPARAM_ROPE_FREQ_SCALE_SWA: *out = hp.rope_swa.freq_scale; break;
        case HOB_HPARAM_PRE_NORMS: *out = hp.traits->pre_norms ? 1 : 0; break;
        case HOB_HPARAM_ROPE_ATTN_FACTOR: *out = hp.rope.mscale; break;
        case HOB_HPARAM_ROPE_N_CTX_ORIG: *out = hp.n_ctx_orig; break;
        case HOB_HPARAM_ROPE_ATTN_FACTOR_SWA: *out = hp.rope_swa.mscale; break;
        case HOB_HPARAM_RESIDUAL_SCALE: *out = hp.residual_scale; break;
        case HOB_HPARAM_LOGIT_SCALE: *out = hp.logit_scale; break;
        case HOB_HPARAM_CONV_KERNEL: *out = hp.has_recurrent() ? hp.rec.conv_kernel : 0; break;
        case HOB_HPARAM_CONV_CHANNELS: *out = hp.rec.conv_channels; break;
        case HOB_HPARAM_SSM_HEAD_DIM: *out = hp.rec.head_dim; break;
        case HOB_HPARAM_SSM_KEY_HEADS: *out = hp.rec.n_key_heads; break;
        case HOB_HPARAM_SSM_VALUE_HEADS: *out = hp.rec.n_value_heads; break;
        case HOB_HPARAM_ATTN_GATE: *out = hp.attn_gate ? 1 : 0; break;
        case HOB_HPARAM_CAUSAL: *out = hp.causal ? 1 : 0; break;
        case HOB_HPARAM_POOLING: *out = (double)hp.pooling; break;
        case HOB_HPARAM_N_CLS_OUT: *out = hp.n_cls_out; break;
        case HOB_HPARAM_HAS_HEAD: *out = m->model->has_head() ? 1 : 0; break;
        case HOB_HPARAM_BLOCK: *out = hp.traits->block == hob::BlockKind::Bert ? 1 : 0; break;
        case HOB_HPARAM_NORM_EPS: *out = hp.norm_eps; break;
        case HOB_HPARAM_SWA_SYMMETRIC: *out = hp.swa_symmetric ? 1 : 0; break;
        case HOB_HPARAM_CLS_HEAD: *out = m->model->cls_head_bits(); break;
        case HOB_HPARAM_N_EMBD_PER_LAYER: *out = hp.n_embd_per_layer; break;
        case HOB_HPARAM_HEAD_DIM_SWA: *out = hp.head_dim_swa; break;
        case HOB_HPARAM_N_ROT_SWA: *out = hp.rope_swa.n_rot; break;
        default:
            if (which >= HOB_HPARAM_LAYER_SWA && which - HOB_HPARAM_LAYER_SWA < hp.n_layer) {
                *out = hp.is_swa(which - HOB_HPARAM_LAYER_SWA) ? 1 : 0;
                break;
            }
            if (which >= HOB_HPARAM_LAYER_ROPE && which - HOB_HPARAM_LAYER_ROPE < hp.n_layer) {
                *out = hp.has_rope(which - HOB_HPARAM_LAYER_ROPE) ? 1 : 0;
                break;
            }
            if (which >= HOB_HPARAM_LAYER_N_HEAD_KV && which - HOB_HPARAM_LAYER_N_HEAD_KV < hp.n_layer) {
                *out = hp.n_head_kv_of(which - HOB_HPARAM_LAYER_N_HEAD_KV);
                break;
            }
            if (which >= HOB_HPARAM_LAYER_KV_SOURCE && which - HOB_HPARAM_LAYER_KV_SOURCE < hp.n_layer) {
                *out = hp.kv_source_of(which - HOB_HPARAM_LAYER_KV_SOURCE);
                break;
            }
            if (which >= HOB_HPARAM_LAYER_N_FF && which - HOB_HPARAM_LAYER_N_FF < hp.n_layer) {
                *out = hp.n_ff_of(which - HOB_HPARAM_LAYER_N_FF);
                break;
            }
            if (which >= HOB_HPARAM_LAYER_MIXER && which - HOB_HPARAM_LAYER_MIXER < hp.n_layer) {
                *out = (double)hp.mixer(which - HOB_HPARAM_LAYER_MIXER);
                break;
            }
            return set_error(HOB_ERR_INVALID_ARGUMENT, "unknown hyperparameter " + std::to_string(which));
    }
    return HOB_OK;
}

hob_status hob_model_meta_string(const hob_model* m, const char* key, char* buf, size_t cap, size_t* len) {
    REQUIRE_ARG(m && key, "hob_model_meta_string: model and key must not be null");
    const hob::GgufValue* v = m->model->gguf().find(key);
    if (!v || v->type != hob::GgufType::STRING) {
        return set_error(HOB_ERR_INVALID_ARGUMENT, std::string("metadata ") + key + " is not a string in this model");
    }
    return copy_out(v->str, buf, cap, len);
}

// ---- tokenizer ------------------------------------------------------------------

hob_status hob_tokenize(const hob_model* m, const char* text, size_t text_len, int add_special, int parse_special,
                        int32_t* tokens, size_t cap, size_t* n_tokens) {
    REQUIRE_ARG(m && (text || text_len == 0), "hob_tokenize: model and text must not be null");
    std::vector<int32_t> ids;
    const hob_status s = guard([&] {
        ids = m->model->vocab().tokenize(std::string(text ? text : "", text_len), add_special != 0, parse_special != 0);
    });
    if (s != HOB_OK) return s;
    if (n_tokens) *n_tokens = ids.size();
    if (cap < ids.size() || (!tokens && !ids.empty())) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "token buffer of " + std::to_string(cap) + " is too small for " +
                                                       std::to_string(ids.size()) + " tokens");
    }
    if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
    return HOB_OK;
}

hob_status hob_token_to_piece(const hob_model* m, int32_t token, int render_special, char* buf, size_t cap, size_t* len) {
    REQUIRE_ARG(m, "hob_token_to_piece: model must not be null");
    std::string piece;
    const hob_status s = guard([&] { piece = m->model->vocab().token_to_piece(token, render_special != 0); });
    if (s != HOB_OK) return s;
    return copy_out(piece, buf, cap, len);
}

// ---- sessions -------------------------------------------------------------------

hob_status hob_session_create(hob_model* m, int32_t n_ctx, int32_t n_threads, hob_session** out) {
    REQUIRE_ARG(m && out, "hob_session_create: model and out must not be null");
    *out = nullptr;
    return guard([&] {
        *out = new hob_session{std::make_unique<hob::Session>(*m->model, n_ctx, pool(), n_threads)};
        g_sessions++;
    });
}

void hob_session_free(hob_session* s) {
    if (!s) return;
    delete s;
    g_sessions--;
}
int32_t hob_session_n_ctx(const hob_session* s) { return s ? s->session->n_ctx() : 0; }
int32_t hob_session_n_past(const hob_session* s) { return s ? s->session->n_past() : 0; }
int32_t hob_session_n_threads(const hob_session* s) { return s ? s->session->n_threads() : 0; }

hob_status hob_session_eval(hob_session* s, const int32_t* tokens, size_t n_tokens) {
    REQUIRE_ARG(s && tokens, "hob_session_eval: session and tokens must not be null");
    REQUIRE_ARG(n_tokens > 0 && n_tokens <= (size_t)INT32_MAX, "hob_session_eval: needs 1 or more tokens");
    return guard([&] { s->session->eval(tokens, (int32_t)n_tokens); });
}

hob_status hob_session_eval_embd(hob_session* s, const float* embd, size_t n_rows, size_t count, int non_causal) {
    REQUIRE_ARG(s && embd && n_rows > 0 && n_rows <= (size_t)INT32_MAX,
                "hob_session_eval_embd: needs a session and 1 or more rows");
    return guard([&] { s->session->eval_embd(embd, (int32_t)n_rows, count, non_causal != 0); });
}

hob_status hob_session_eval_embd_hidden(hob_session* s, const float* embd, size_t n_rows, size_t count, int non_causal,
                                        float* hidden, size_t cap) {
    REQUIRE_ARG(s && embd && hidden && n_rows > 0 && n_rows <= (size_t)INT32_MAX,
                "hob_session_eval_embd_hidden: needs a session, 1 or more rows and a hidden buffer");
    const size_t need = n_rows * (size_t)s->session->model().hparams().n_embd;
    if (cap < need) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "hidden buffer of " + std::to_string(cap) + " floats is too small for " +
                                                       std::to_string(need));
    }
    return guard([&] { s->session->eval_embd_hidden(embd, (int32_t)n_rows, count, non_causal != 0, hidden); });
}

hob_status hob_session_eval_hidden(hob_session* s, const int32_t* tokens, size_t n_tokens, float* hidden, size_t cap) {
    REQUIRE_ARG(s && tokens && hidden, "hob_session_eval_hidden: session, tokens and hidden must not be null");
    REQUIRE_ARG(n_tokens > 0 && n_tokens <= (size_t)INT32_MAX, "hob_session_eval_hidden: needs 1 or more tokens");
    const size_t need = n_tokens * (size_t)s->session->model().hparams().n_embd;
    if (cap < need) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "hidden buffer of " + std::to_string(cap) + " floats is too small for " +
                                                       std::to_string(need));
    }
    return guard([&] { s->session->eval_hidden(tokens, (int32_t)n_tokens, hidden); });
}

hob_status hob_session_eval_hidden_pl(hob_session* s, const int32_t* tokens, size_t n_tokens, float* hidden, size_t cap,
                                      float* per_layer, size_t per_layer_cap) {
    REQUIRE_ARG(s && tokens && hidden && per_layer,
                "hob_session_eval_hidden_pl: session, tokens, hidden and per_layer must not be null");
    REQUIRE_ARG(n_tokens > 0 && n_tokens <= (size_t)INT32_MAX, "hob_session_eval_hidden_pl: needs 1 or more tokens");
    const hob::Model& model = s->session->model();
    const size_t need = n_tokens * (size_t)model.hparams().n_embd;
    // In 64 bits: a count past 2^32 must not wrap below the capacity.
    const uint64_t need_pl = (uint64_t)n_tokens * (uint64_t)(model.hparams().n_layer - model.n_cpu_layers()) *
                             (uint64_t)model.hparams().n_embd_per_layer;
    if (cap < need || (uint64_t)per_layer_cap < need_pl) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "buffers of " + std::to_string(cap) + " and " + std::to_string(per_layer_cap) +
                                                       " floats are too small for " + std::to_string(need) + " and " +
                                                       std::to_string(need_pl));
    }
    return guard([&] { s->session->eval_hidden(tokens, (int32_t)n_tokens, hidden, per_layer); });
}

hob_status hob_session_head(hob_session* s, const float* hidden, size_t n) {
    REQUIRE_ARG(s && hidden, "hob_session_head: session and hidden must not be null");
    REQUIRE_ARG(n == (size_t)s->session->model().hparams().n_embd,
                "hob_session_head: needs n_embd (" + std::to_string(s->session->model().hparams().n_embd) +
                    ") floats, got " + std::to_string(n));
    return guard([&] { s->session->head(hidden); });
}

hob_status hob_session_eval_packed(hob_session* s, const int32_t* tokens, size_t n_tokens, const int32_t* seq_lens,
                                   size_t n_seqs, float* hidden, size_t cap) {
    REQUIRE_ARG(s && tokens && hidden, "hob_session_eval_packed: session, tokens and hidden must not be null");
    REQUIRE_ARG(n_tokens > 0 && n_tokens <= (size_t)INT32_MAX, "hob_session_eval_packed: needs 1 or more tokens");
    const hob_status lens = check_seq_lens(seq_lens, n_seqs, n_tokens, "hob_session_eval_packed");
    if (lens != HOB_OK) return lens;
    const size_t need = n_tokens * (size_t)s->session->model().hparams().n_embd;
    if (cap < need) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "hidden buffer of " + std::to_string(cap) + " floats is too small for " +
                                                       std::to_string(need));
    }
    return guard([&] { s->session->eval_packed(tokens, seq_lens, (int32_t)n_seqs, hidden); });
}

hob_status hob_session_pool(hob_session* s, const float* hidden, size_t n_tokens, const int32_t* seq_lens, size_t n_seqs,
                            int32_t pooling, float* out, size_t cap, size_t* n_out) {
    REQUIRE_ARG(s && hidden, "hob_session_pool: session and hidden must not be null");
    REQUIRE_ARG(pooling >= HOB_POOLING_NONE && pooling <= HOB_POOLING_RANK, "hob_session_pool: unknown pooling " + std::to_string(pooling));
    const hob_status lens = check_seq_lens(seq_lens, n_seqs, n_tokens, "hob_session_pool");
    if (lens != HOB_OK) return lens;
    size_t need = 0;
    const hob_status sized = guard([&] {
        need = (size_t)s->session->model().pooled_size((hob::Pooling)pooling, (int64_t)n_tokens, (int32_t)n_seqs);
    });
    if (sized != HOB_OK) return sized;
    if (n_out) *n_out = need;
    if (!out || cap < need) {
        return set_error(HOB_ERR_BUFFER_TOO_SMALL, "output buffer of " + std::to_string(cap) + " floats is too small for " +
                                                       std::to_string(need));
    }
    return guard([&] { s->session->pool(hidden, seq_lens, (int32_t)n_seqs, (hob::Pooling)pooling, out); });
}

hob_status hob_session_logits(const hob_session* s, float* out, size_t cap) {
    REQUIRE_ARG(s && out, "hob_session_logits: session and out must not be null");
    return guard([&] {
        const std::vector<float>& l = s->session->logits();
        HOB_CHECK(cap >= l.size(), HOB_ERR_BUFFER_TOO_SMALL,
                  "logits buffer of " + std::to_string(cap) + " floats is too small for " + std::to_string(l.size()));
        std::memcpy(out, l.data(), l.size() * sizeof(float));
    });
}

hob_status hob_session_positions(const hob_session* s, int32_t* out, size_t cap) {
    REQUIRE_ARG(s && out, "hob_session_positions: session and out must not be null");
    return guard([&] {
        const hob::KvCache& kv = s->session->kv();
        HOB_CHECK(cap >= (size_t)kv.size(), HOB_ERR_OUT_OF_RANGE,
                  "room for " + std::to_string(cap) + " positions, " + std::to_string(kv.size()) + " cells are used");
        for (int32_t c = 0; c < kv.size(); c++) out[c] = kv.pos(c);
    });
}

hob_status hob_session_truncate(hob_session* s, int32_t n_keep) {
    REQUIRE_ARG(s, "hob_session_truncate: session must not be null");
    return guard([&] { s->session->truncate(n_keep); });
}

hob_status hob_session_erase(hob_session* s, int32_t start, int32_t end) {
    REQUIRE_ARG(s, "hob_session_erase: session must not be null");
    return guard([&] { s->session->erase(start, end); });
}

hob_status hob_session_shift(hob_session* s, int32_t n_keep, int32_t n_discard) {
    REQUIRE_ARG(s, "hob_session_shift: session must not be null");
    return guard([&] {
        HOB_CHECK(n_keep >= 0 && n_discard >= 0 && (int64_t)n_keep + n_discard <= s->session->n_past(), HOB_ERR_OUT_OF_RANGE,
                  "cannot keep " + std::to_string(n_keep) + " and discard " + std::to_string(n_discard) + " of " +
                      std::to_string(s->session->n_past()) + " tokens");
        s->session->erase(n_keep, n_keep + n_discard);
    });
}

int32_t hob_session_can_erase(const hob_session* s, int32_t start, int32_t end) {
    if (!s) return 0;
    try {
        s->session->kv().check_span(start, end);
        s->session->check_recurrent_erase(start, end);
        return 1;
    } catch (...) {
        return 0;
    }
}

hob_status hob_session_reserve_checkpoints(hob_session* s, int32_t n) {
    REQUIRE_ARG(s, "hob_session_reserve_checkpoints: session must not be null");
    return guard([&] { s->session->reserve_checkpoints(n); });
}

int32_t hob_session_n_checkpoints(const hob_session* s) { return s ? s->session->recurrent().n_checkpoints() : 0; }

int32_t hob_session_checkpoint_pos(const hob_session* s, int32_t slot) {
    if (!s || slot < 0 || slot >= s->session->recurrent().n_checkpoints()) return -1;
    return s->session->recurrent().checkpoint_pos(slot);
}

hob_status hob_session_checkpoint_save(hob_session* s, int32_t slot) {
    REQUIRE_ARG(s, "hob_session_checkpoint_save: session must not be null");
    return guard([&] { s->session->checkpoint_save(slot); });
}

hob_status hob_session_checkpoint_restore(hob_session* s, int32_t slot) {
    REQUIRE_ARG(s, "hob_session_checkpoint_restore: session must not be null");
    return guard([&] { s->session->checkpoint_restore(slot); });
}

int32_t hob_session_kv_type(const hob_session* s) { return s ? 1 : 0; }  // F16: KvCache stores halves
int32_t hob_session_kv_dim(const hob_session* s) { return s ? s->session->kv().kv_dim() : 0; }
int32_t hob_session_kv_layers(const hob_session* s) { return s ? s->session->kv().n_layer() : 0; }

hob_status hob_session_kv_read(const hob_session* s, int32_t layer, int32_t cell0, int32_t n, uint16_t* k, uint16_t* v,
                               size_t cap) {
    REQUIRE_ARG(s && k && v, "hob_session_kv_read: session, k and v must not be null");
    return guard([&] {
        const size_t need = (size_t)std::max(n, 0) * (size_t)s->session->kv().kv_dim();
        HOB_CHECK(cap >= need, HOB_ERR_BUFFER_TOO_SMALL,
                  "KV buffers of " + std::to_string(cap) + " values are too small for " + std::to_string(need));
        s->session->read_kv(layer, cell0, n, k, v);
    });
}

hob_status hob_session_kv_write(hob_session* s, int32_t layer, int32_t cell0, int32_t n, const uint16_t* k,
                                const uint16_t* v, size_t count) {
    REQUIRE_ARG(s && k && v, "hob_session_kv_write: session, k and v must not be null");
    return guard([&] {
        const size_t need = (size_t)std::max(n, 0) * (size_t)s->session->kv().kv_dim();
        HOB_CHECK(count == need, HOB_ERR_INVALID_ARGUMENT,
                  "KV rows of " + std::to_string(n) + " cells are " + std::to_string(need) + " values, got " +
                      std::to_string(count));
        s->session->write_kv(layer, cell0, n, k, v);
    });
}

hob_status hob_session_kv_append(hob_session* s, const int32_t* pos, int32_t n) {
    REQUIRE_ARG(s && (pos || n == 0), "hob_session_kv_append: session and pos must not be null");
    return guard([&] { s->session->append_cells(pos, n); });
}

// ---- vision ---------------------------------------------------------------------

hob_status hob_clip_load(uint8_t* data, size_t size, int take_ownership, hob_clip** out) {
    if (!data || !out) {
        if (take_ownership) hob_free(data);
        return set_error(HOB_ERR_INVALID_ARGUMENT, "hob_clip_load: data and out must not be null");
    }
    *out = nullptr;
    return guard([&] { *out = new hob_clip{hob::ClipModel::load(data, size, take_ownership != 0)}; });
}

void hob_clip_free(hob_clip* c) { delete c; }
int32_t hob_clip_n_embd(const hob_clip* c) { return c ? c->clip->hparams().proj_dim : 0; }
int32_t hob_clip_tokens_per_image(const hob_clip* c) { return c ? c->clip->tokens_per_image() : 0; }
int32_t hob_clip_non_causal(const hob_clip* c) { return c && c->clip->non_causal() ? 1 : 0; }
int32_t hob_clip_projector_type(const hob_clip* c) {
    if (!c) return -1;
    switch (c->clip->hparams().projector) {
        case hob::ProjectorType::Gemma3: return HOB_PROJECTOR_GEMMA3;
        case hob::ProjectorType::Gemma4V: return HOB_PROJECTOR_GEMMA4V;
        case hob::ProjectorType::Idefics3: break;
    }
    return HOB_PROJECTOR_IDEFICS3;
}

hob_status hob_clip_image_layout(const hob_clip* c, int32_t width, int32_t height, int32_t* grid_x, int32_t* grid_y,
                                 size_t* n_rows) {
    REQUIRE_ARG(c && grid_x && grid_y && n_rows, "hob_clip_image_layout: clip and outputs must not be null");
    return guard([&] {
        const hob::ClipModel::Layout l = c->clip->layout(width, height);
        *grid_x = l.grid_x;
        *grid_y = l.grid_y;
        *n_rows = l.n_rows;
    });
}

hob_status hob_clip_encode(hob_clip* c, const uint8_t* rgb, int32_t width, int32_t height, float* out, size_t cap,
                           size_t* n_rows) {
    REQUIRE_ARG(c && rgb && n_rows, "hob_clip_encode: clip, rgb and n_rows must not be null");
    return guard([&] {
        *n_rows = c->clip->layout(width, height).n_rows;
        c->clip->encode_image(pool(), rgb, width, height, out, cap);
    });
}

hob_status hob_clip_vit_shape(const hob_clip* c, int32_t* shape, float* eps) {
    REQUIRE_ARG(c && shape && eps, "hob_clip_vit_shape: clip, shape and eps must not be null");
    const hob::ClipHparams& hp = c->clip->hparams();
    const int32_t values[6] = {c->clip->n_patches(), hp.n_embd, hp.n_head, hp.n_ff, hp.n_layer,
                               c->clip->dynamic_size() ? 0 : hp.image_size};
    std::copy(values, values + 6, shape);
    *eps = hp.eps;
    return HOB_OK;
}

hob_status hob_clip_preprocess(hob_clip* c, const uint8_t* rgb, int32_t width, int32_t height, float* pixels,
                               size_t cap, size_t* n_images) {
    REQUIRE_ARG(c && rgb && n_images, "hob_clip_preprocess: clip, rgb and n_images must not be null");
    return guard([&] {
        const hob::ClipModel& m = *c->clip;
        HOB_CHECK(!m.dynamic_size(), HOB_ERR_INVALID_ARGUMENT,
                  "hob_clip_preprocess is for fixed-size projectors: a " + m.hparams().projector_name +
                      " image is encoded whole (hob_clip_encode)");
        const hob::ClipModel::Layout l = m.layout(width, height);
        const size_t n = l.n_rows / (size_t)m.tokens_per_image();
        const size_t per = (size_t)3 * m.hparams().image_size * m.hparams().image_size;
        HOB_CHECK(pixels && cap >= n * per, HOB_ERR_BUFFER_TOO_SMALL,
                  "pixel buffer of " + std::to_string(cap) + " floats is too small for " + std::to_string(n * per));
        const hob::ImagePlan p = m.plan(hob::RgbImage{width, height, std::vector<uint8_t>(rgb, rgb + (size_t)width * height * 3)});
        HOB_CHECK(p.images.size() == n, HOB_ERR_INTERNAL, "image layout and preprocessing disagree");
        for (size_t i = 0; i < n; i++) std::copy(p.images[i].begin(), p.images[i].end(), pixels + i * per);
        *n_images = n;
    });
}

hob_status hob_clip_embed_patches(hob_clip* c, const float* pixels, size_t count, float* x, size_t cap) {
    REQUIRE_ARG(c && pixels && x, "hob_clip_embed_patches: clip, pixels and x must not be null");
    return guard([&] {
        const hob::ClipModel& m = *c->clip;
        const size_t S = (size_t)m.hparams().image_size;
        HOB_CHECK(count == 3 * S * S, HOB_ERR_INVALID_ARGUMENT, "a sub-image is " + std::to_string(3 * S * S) + " floats, got " + std::to_string(count));
        const size_t need = (size_t)m.n_patches() * (size_t)m.hparams().n_embd;
        HOB_CHECK(cap >= need, HOB_ERR_BUFFER_TOO_SMALL, "patch buffer of " + std::to_string(cap) + " floats is too small for " + std::to_string(need));
        m.embed_patches(pool(), pixels, x);
    });
}

hob_status hob_clip_run_blocks(hob_clip* c, float* x, size_t count) {
    REQUIRE_ARG(c && x, "hob_clip_run_blocks: clip and x must not be null");
    return guard([&] {
        const hob::ClipModel& m = *c->clip;
        const size_t need = (size_t)m.n_patches() * (size_t)m.hparams().n_embd;
        HOB_CHECK(count == need, HOB_ERR_INVALID_ARGUMENT, "the blocks take " + std::to_string(need) + " floats, got " + std::to_string(count));
        m.run_blocks(pool(), x);
    });
}

hob_status hob_clip_project(hob_clip* c, float* x, size_t count, float* out, size_t cap) {
    REQUIRE_ARG(c && x && out, "hob_clip_project: clip, x and out must not be null");
    return guard([&] {
        const hob::ClipModel& m = *c->clip;
        const size_t need = (size_t)m.n_patches() * (size_t)m.hparams().n_embd;
        HOB_CHECK(count == need, HOB_ERR_INVALID_ARGUMENT, "the projector takes " + std::to_string(need) + " floats, got " + std::to_string(count));
        const size_t rows = (size_t)m.tokens_per_image() * (size_t)m.hparams().proj_dim;
        HOB_CHECK(cap >= rows, HOB_ERR_BUFFER_TOO_SMALL, "embedding buffer of " + std::to_string(cap) + " floats is too small for " + std::to_string(rows));
        m.project(pool(), x, out);
    });
}

}  // extern "C"
