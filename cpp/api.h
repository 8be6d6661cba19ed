/* The only door into the Hob engine: plain C, opaque handles, a status code
 * plus a message for every failure. No C++ exception, STL type or pointer
 * into engine memory crosses it; outputs are copied into caller buffers, and
 * a buffer that is too small yields HOB_ERR_BUFFER_TOO_SMALL with the size it
 * needs.
 *
 * The enums below are the schema shared with TypeScript: scripts/gen-api.mjs
 * turns them into src/core/c-api.ts, and a test keeps the two in step. */
#ifndef HOB_API_H
#define HOB_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hob_status {
    HOB_OK = 0,
    HOB_ERR_INVALID_ARGUMENT = 1,  /* a caller passed a bad value */
    HOB_ERR_BUFFER_TOO_SMALL = 2,  /* the needed size is in the size out-parameter */
    HOB_ERR_GGUF_BAD_MAGIC = 3,    /* not a GGUF file */
    HOB_ERR_GGUF_BAD_VERSION = 4,  /* GGUF version other than 2 or 3, or big-endian */
    HOB_ERR_GGUF_TRUNCATED = 5,    /* the file ends inside a field */
    HOB_ERR_GGUF_INVALID = 6,      /* a field holds an impossible value */
    HOB_ERR_UNSUPPORTED_TYPE = 7,  /* a tensor type the engine cannot compute with */
    HOB_ERR_UNSUPPORTED_ARCH = 8,  /* general.architecture not supported */
    HOB_ERR_MODEL_INVALID = 9,     /* metadata or tensors missing or of the wrong shape */
    HOB_ERR_CONTEXT_FULL = 10,     /* the tokens do not fit in the context window */
    HOB_ERR_OUT_OF_RANGE = 11,     /* an index or range outside its bounds */
    HOB_ERR_OUT_OF_MEMORY = 12,    /* an allocation failed */
    HOB_ERR_INTERNAL = 13,         /* a bug: please report it */
    HOB_ERR_VOCAB_ONLY = 14        /* the model was loaded without its weights: it tokenizes, it cannot evaluate */
} hob_status;

/* Value types of GGUF metadata, numbered as in the GGUF specification. */
typedef enum hob_gguf_type {
    HOB_GGUF_UINT8 = 0,
    HOB_GGUF_INT8 = 1,
    HOB_GGUF_UINT16 = 2,
    HOB_GGUF_INT16 = 3,
    HOB_GGUF_UINT32 = 4,
    HOB_GGUF_INT32 = 5,
    HOB_GGUF_FLOAT32 = 6,
    HOB_GGUF_BOOL = 7,
    HOB_GGUF_STRING = 8,
    HOB_GGUF_ARRAY = 9,
    HOB_GGUF_UINT64 = 10,
    HOB_GGUF_INT64 = 11,
    HOB_GGUF_FLOAT64 = 12
} hob_gguf_type;

/* Hyperparameters of a loaded model, read with hob_model_hparam. */
typedef enum hob_hparam {
    HOB_HPARAM_N_HEAD = 0,
    HOB_HPARAM_N_HEAD_KV = 1,
    HOB_HPARAM_HEAD_DIM = 2,
    HOB_HPARAM_N_FF = 3,
    HOB_HPARAM_RMS_EPS = 4,
    HOB_HPARAM_ROPE_STYLE = 5,        /* 0: normal (pairs 2i, 2i+1), 1: NeoX (pairs i, i + n_rot/2) */
    HOB_HPARAM_ROPE_N_ROT = 6,        /* rotated dimensions per head */
    HOB_HPARAM_ROPE_FREQ_BASE = 7,
    HOB_HPARAM_ROPE_FREQ_SCALE = 8,   /* 1 / linear scaling factor */
    HOB_HPARAM_N_CPU_LAYERS = 9,      /* blocks [0, n) run on the CPU, the rest are offloaded */
    HOB_HPARAM_HEAD_ON_CPU = 10,      /* 1 if the output norm and head run on the CPU */
    /* What sets architectures apart (llama, qwen2, qwen3, phi3, gemma2, gemma3, smollm3, granite, olmo2,
       and the embedding models). */
    HOB_HPARAM_QKV_BIAS = 11,         /* 1: q, k, v get biases (attn_{q,k,v}.bias, or attn_qkv.bias) after projection */
    HOB_HPARAM_FUSED_QKV = 12,        /* 1: attn_qkv.weight (n_embd -> q_dim + 2 kv_dim), rows q, then k, then v */
    HOB_HPARAM_FUSED_FFN = 13,        /* 1: ffn_up.weight (n_embd -> 2 n_ff), rows gate then up; no ffn_gate */
    HOB_HPARAM_QK_NORM = 14,          /* RMSNorm of q and k before RoPE: 0 none, 1 of each head (attn_{q,k}_norm.weight,
                                         head_dim), 2 of each token's whole q and k rows (q_dim, kv_dim: OLMo 2) */
    HOB_HPARAM_POST_NORMS = 15,       /* 1: RMSNorm of the attention and FFN outputs (post_attention_norm,
                                         post_ffw_norm) before each residual add */
    HOB_HPARAM_EMBD_SCALE = 16,       /* token embeddings are multiplied by this (1: none; gemma: sqrt(n_embd)) */
    HOB_HPARAM_ATTN_SCALE = 17,       /* scale of q.k */
    HOB_HPARAM_ATTN_SCALE_ON_Q = 18,  /* 1: ATTN_SCALE multiplies q after RoPE, and q.k is not scaled again */
    HOB_HPARAM_ATTN_SOFTCAP = 19,     /* c > 0: scores become c * tanh(score / c) before the softmax; 0: off */
    HOB_HPARAM_FINAL_SOFTCAP = 20,    /* c > 0: logits become c * tanh(logit / c); 0: off */
    HOB_HPARAM_FFN_ACT = 21,          /* gate activation: 0 SiLU (SwiGLU), 1 GELU, tanh form (GeGLU) */
    HOB_HPARAM_N_SWA = 22,            /* sliding window in positions (a query sees positions p - n + 1 .. p); 0: none */
    HOB_HPARAM_ROPE_FREQ_BASE_SWA = 23,   /* RoPE base of sliding-window layers */
    HOB_HPARAM_ROPE_FREQ_SCALE_SWA = 24,  /* RoPE 1 / linear factor of sliding-window layers */
    HOB_HPARAM_PRE_NORMS = 25,        /* 1: attn_norm / ffn_norm before each sub-block; 0: it reads the residual
                                         stream itself (OLMo 2) */
    HOB_HPARAM_ROPE_ATTN_FACTOR = 26, /* RoPE's cos and sin are multiplied by this (LongRoPE), not on a shift */
    HOB_HPARAM_ROPE_N_CTX_ORIG = 27,  /* LongRoPE: sessions of more cells use rope_factors_long, others _short */
    HOB_HPARAM_ROPE_ATTN_FACTOR_SWA = 28, /* the attention factor of sliding-window layers */
    HOB_HPARAM_RESIDUAL_SCALE = 29,   /* each sub-block's output is multiplied by this before the residual add */
    HOB_HPARAM_LOGIT_SCALE = 30,      /* logits are multiplied by this (Granite: 1 / logit_scale) */
    /* Embeddings (bert, nomic-bert, gemma-embedding; any model with a pooling). */
    HOB_HPARAM_CAUSAL = 40,           /* 1: causal attention; 0: every token sees its whole sequence */
    HOB_HPARAM_POOLING = 41,          /* the hob_pooling the file asks for (pooling_type; none if absent) */
    HOB_HPARAM_N_CLS_OUT = 42,        /* scores of the classifier head (rerankers) */
    HOB_HPARAM_HAS_HEAD = 43,         /* 1: an output head gives logits; 0: an embedding model */
    HOB_HPARAM_BLOCK = 44,            /* 0: decoder block; 1: BERT's (post-norm LayerNorm with biases, ungated
                                         GELU FFN unless FFN_ACT is SiLU: nomic-bert's SwiGLU) */
    HOB_HPARAM_NORM_EPS = 45,         /* LayerNorm epsilon of BERT blocks */
    HOB_HPARAM_SWA_SYMMETRIC = 46,    /* 1: the window spans N_SWA / 2 positions on each side (non-causal) */
    HOB_HPARAM_CLS_HEAD = 47,         /* bits: 1 cls.weight (dense + tanh), 2 cls.output.weight (the scores) */
    /* Hybrid architectures (lfm2, qwen35): recurrent blocks beside attention ones. */
    HOB_HPARAM_CONV_KERNEL = 100,     /* taps of the recurrent blocks' causal convolution (0: none) */
    HOB_HPARAM_CONV_CHANNELS = 101,   /* its channels: lfm2 n_embd, qwen35 2 key_dim + value_dim */
    HOB_HPARAM_SSM_HEAD_DIM = 102,    /* DeltaNet head width (keys and values) */
    HOB_HPARAM_SSM_KEY_HEADS = 103,   /* DeltaNet key heads; value head h reads key head h % this */
    HOB_HPARAM_SSM_VALUE_HEADS = 104, /* DeltaNet value heads */
    HOB_HPARAM_ATTN_GATE = 105,       /* 1: the q projection gives each head's query then a gate (interleaved per head);
                                         the attention output is multiplied by sigmoid(gate) */
    /* Gemma 4: per-layer inputs, the sliding blocks' head width and RoPE. */
    HOB_HPARAM_N_EMBD_PER_LAYER = 106, /* per-layer input values of each block and token (0: none) */
    HOB_HPARAM_HEAD_DIM_SWA = 107,    /* head width of the sliding blocks (0: HEAD_DIM everywhere) */
    HOB_HPARAM_N_ROT_SWA = 108,       /* RoPE dimensions of the sliding blocks (which rotate without rope_freqs) */
    HOB_HPARAM_LAYER_SWA = 65536,     /* + layer index: 1 if that layer attends through the window */
    HOB_HPARAM_LAYER_MIXER = 131072,  /* + layer index: 0 attention, 1 short convolution (lfm2), 2 Gated DeltaNet (qwen35) */
    HOB_HPARAM_LAYER_ROPE = 196608,   /* + layer index: 1 if that layer rotates q and k (0: NoPE) */
    HOB_HPARAM_LAYER_N_HEAD_KV = 262144, /* + layer index: that layer's KV heads */
    HOB_HPARAM_LAYER_KV_SOURCE = 327680, /* + layer index: the layer whose cache it attends over (itself, or an
                                            earlier one: Gemma 4's shared KV) */
    HOB_HPARAM_LAYER_N_FF = 393216    /* + layer index: that layer's feed-forward width */
} hob_hparam;

/* How per-token states become an embedding, numbered as llama.cpp's
 * pooling_type. */
typedef enum hob_pooling {
    HOB_POOLING_NONE = 0,  /* one vector per token */
    HOB_POOLING_MEAN = 1,  /* the mean of the sequence's tokens */
    HOB_POOLING_CLS = 2,   /* the first token */
    HOB_POOLING_LAST = 3,  /* the last token */
    HOB_POOLING_RANK = 4   /* the classifier head's scores (first token; last for qwen3) */
} hob_pooling;

typedef struct hob_gguf hob_gguf;
typedef struct hob_loader hob_loader;
typedef struct hob_model hob_model;
typedef struct hob_session hob_session;

/* Message of the last failed call on this thread ("" if none). */
const char* hob_last_error(void);

/* Creates the engine's thread pool of n_threads (the caller included), shared
 * by every session; threads are made here, once. Calling it again with
 * another size replaces the pool, which fails while sessions exist. Without
 * a call, the pool has one thread. */
hob_status hob_init(int32_t n_threads);
int32_t hob_threads(void);

/* Memory the caller fills before handing it to hob_model_load. */
void* hob_alloc(size_t size);
void hob_free(void* ptr);
/* In wasm, the end of the heap (everything below it is engine memory): its
 * high-water mark, since the allocator never gives memory back. This is
 * what a model's load and sessions cost the page, and what the fit check
 * (src/runtime/fit.ts) estimates. 0 in native builds. */
uint64_t hob_heap_bytes(void);

/* ---- GGUF inspection (no model is built; any architecture) ------------- */

/* Parses the header of a GGUF file of file_size bytes whose first
 * `size` bytes are at `data` (size may be less than file_size: the header
 * must fit). The bytes must stay alive while the handle does. */
hob_status hob_gguf_open(const uint8_t* data, size_t size, uint64_t file_size, hob_gguf** out);
void hob_gguf_close(hob_gguf* gguf);
uint32_t hob_gguf_version(const hob_gguf* gguf);
uint64_t hob_gguf_data_offset(const hob_gguf* gguf);
int64_t hob_gguf_kv_count(const hob_gguf* gguf);
hob_status hob_gguf_kv_key(const hob_gguf* gguf, int64_t i, char* buf, size_t cap, size_t* len);
/* Type of the value, and for arrays the element type and count. */
hob_status hob_gguf_kv_type(const hob_gguf* gguf, int64_t i, int32_t* type, int32_t* elem_type,
                            uint64_t* count);
/* Element j of value i (j = 0 for a scalar) as a number. */
hob_status hob_gguf_kv_number(const hob_gguf* gguf, int64_t i, uint64_t j, double* out);
/* Element j of value i (j = 0 for a scalar) as a string. */
hob_status hob_gguf_kv_string(const hob_gguf* gguf, int64_t i, uint64_t j, char* buf, size_t cap,
                              size_t* len);
int64_t hob_gguf_tensor_count(const hob_gguf* gguf);
hob_status hob_gguf_tensor_name(const hob_gguf* gguf, int64_t i, char* buf, size_t cap, size_t* len);
/* dims receives 4 values (unused ones are 1); offset is from the file start. */
hob_status hob_gguf_tensor_info(const hob_gguf* gguf, int64_t i, int32_t* type, int32_t* n_dims,
                                int64_t* dims, uint64_t* offset, uint64_t* size);
/* Name of a tensor type id ("Q4_0"), or "unknown". Static storage. */
const char* hob_type_name(int32_t type);

/* ---- models --------------------------------------------------------------- */

/* Builds a model from a whole GGUF file in memory. With take_ownership the
 * engine frees `data` (which must come from hob_alloc) with the model;
 * otherwise the bytes must outlive the model. Weights are used in place. */
hob_status hob_model_load(uint8_t* data, size_t size, int take_ownership, hob_model** out);
void hob_model_free(hob_model* model);
/* Builds a model that holds only the vocabulary (and the metadata), from the
 * header of a GGUF file (its first header_size bytes of file_size; the
 * header must fit): tokenizing, detokenizing and metadata work, sessions
 * fail with HOB_ERR_VOCAB_ONLY. No tensor is read, so this works for files
 * with no weights (llama.cpp's vocab-only GGUFs) and for any architecture
 * whose tokenizer the engine knows. The header bytes may be freed after. */
hob_status hob_model_load_vocab(const uint8_t* header, size_t header_size, uint64_t file_size, hob_model** out);
/* 1 if the model holds only its vocabulary (hob_model_load_vocab). */
int32_t hob_model_vocab_only(const hob_model* model);

/* Loading in pieces, for files that are not in memory whole (a stream, the
 * store's chunks) or whose last blocks run elsewhere (GPU offload). The
 * loader parses the header (the first header_size bytes of a file of
 * file_size bytes; the header must fit) and keeps only the tensors the CPU
 * computes with when its first n_cpu_layers blocks run here (< 0: all):
 * the embedding, those blocks, and the output norm and head unless every
 * block is offloaded. Feed it file bytes with hob_loader_write, reading the
 * ranges hob_loader_range lists, then build the model with
 * hob_loader_finish. Offloaded tensors never enter engine memory. */
hob_status hob_loader_create(const uint8_t* header, size_t header_size, uint64_t file_size, int32_t n_cpu_layers,
                             hob_loader** out);
void hob_loader_free(hob_loader* loader);
/* Bytes of tensor data the loader keeps in engine memory. */
uint64_t hob_loader_resident_bytes(const hob_loader* loader);
int32_t hob_loader_range_count(const hob_loader* loader);
/* File range i (offset from the file start, size) that the loader needs. */
hob_status hob_loader_range(const hob_loader* loader, int32_t i, uint64_t* offset, uint64_t* size);
/* Bytes [file_offset, file_offset + n) of the file, in any order and size. */
hob_status hob_loader_write(hob_loader* loader, uint64_t file_offset, const uint8_t* bytes, size_t n);
/* Builds the model; HOB_ERR_GGUF_TRUNCATED names the first missing range if
 * a needed byte was never written. The loader must still be freed. */
hob_status hob_loader_finish(hob_loader* loader, hob_model** out);
int32_t hob_model_n_vocab(const hob_model* model);
int32_t hob_model_n_ctx_train(const hob_model* model);
int32_t hob_model_n_embd(const hob_model* model);
int32_t hob_model_n_layer(const hob_model* model);
int32_t hob_model_token_bos(const hob_model* model); /* -1 if none */
int32_t hob_model_token_eos(const hob_model* model); /* -1 if none */
int32_t hob_model_token_is_eog(const hob_model* model, int32_t token);
int32_t hob_model_token_sep(const hob_model* model); /* -1 if none ([SEP] of WordPiece) */
/* 1 if the vocabulary's add_bos / add_eos / add_sep flag is set: what
 * tokenizing with add_special adds, and where a pair of texts (a reranker's
 * query and document) gets a separator. */
int32_t hob_model_add_bos(const hob_model* model);
int32_t hob_model_add_eos(const hob_model* model);
int32_t hob_model_add_sep(const hob_model* model);
/* 1 if tokenizing prepends a space to the text (SentencePiece), so a
 * detokenized sequence should drop its first leading space. */
int32_t hob_model_add_space_prefix(const hob_model* model);
/* Bytes of weight tensors the model holds in engine memory. */
uint64_t hob_model_weight_bytes(const hob_model* model);
/* A hyperparameter (hob_hparam) as a number. */
hob_status hob_model_hparam(const hob_model* model, int32_t which, double* out);
/* A string metadata value of the model's GGUF ("general.architecture").
 * HOB_ERR_INVALID_ARGUMENT if absent or not a string. */
hob_status hob_model_meta_string(const hob_model* model, const char* key, char* buf, size_t cap, size_t* len);

/* ---- tokenizer ------------------------------------------------------------ */

/* Tokenizes UTF-8 text. add_special adds BOS/EOS as the model's metadata
 * asks; parse_special turns special-token text ("<s>") into its id. */
hob_status hob_tokenize(const hob_model* model, const char* text, size_t text_len, int add_special,
                        int parse_special, int32_t* tokens, size_t cap, size_t* n_tokens);
/* The raw bytes of one token (may be part of a UTF-8 sequence). Control
 * tokens give "" unless render_special. */
hob_status hob_token_to_piece(const hob_model* model, int32_t token, int render_special, char* buf,
                              size_t cap, size_t* len);

/* ---- sessions: a KV cache and the state of one sequence -------------------- */

/* n_ctx <= 0 takes the model's training context. The session computes with
 * n_threads of the engine's pool (<= 0 or more than the pool has: all of it).
 * The KV cache is allocated here, once, for n_ctx tokens. */
hob_status hob_session_create(hob_model* model, int32_t n_ctx, int32_t n_threads, hob_session** out);
void hob_session_free(hob_session* session);
int32_t hob_session_n_ctx(const hob_session* session);
int32_t hob_session_n_past(const hob_session* session);
int32_t hob_session_n_threads(const hob_session* session);
/* Appends tokens to the sequence and computes the next-token logits of the
 * last one. Fails with HOB_ERR_CONTEXT_FULL (nothing evaluated) if they do
 * not fit. */
hob_status hob_session_eval(hob_session* session, const int32_t* tokens, size_t n_tokens);
/* hob_session_eval for n_rows rows of input embeddings (n_rows x n_embd
 * floats, count in all: an image's rows from hob_clip_encode) in place of
 * tokens, at the next n_rows positions. non_causal != 0: the rows attend to
 * one another both ways, as hob_clip_non_causal asks (Gemma 3); they run in
 * one pass, so more rows than one pass takes (256, or n_ctx if smaller) are
 * HOB_ERR_INVALID_ARGUMENT, as is a model with recurrent blocks. */
hob_status hob_session_eval_embd(hob_session* session, const float* embd, size_t n_rows, size_t count, int non_causal);
/* hob_session_eval_embd for models with offloaded blocks: the rows run
 * through the CPU blocks only, their hidden states (n_rows x n_embd floats,
 * cap available) going to `hidden`, as hob_session_eval_hidden; the caller
 * runs the offloaded blocks on the same cells, with non_causal rows seeing
 * one another both ways there too. Not for models with per-layer inputs. */
hob_status hob_session_eval_embd_hidden(hob_session* session, const float* embd, size_t n_rows, size_t count, int non_causal,
                                        float* hidden, size_t cap);
/* For models with offloaded blocks: appends tokens and runs them through
 * the embedding and the CPU blocks only, copying their hidden states
 * (n_tokens x n_embd floats, cap floats available) to `hidden`, the input of
 * the offloaded blocks, which the caller runs for the same cells. With the
 * head on the CPU, hob_session_head then gives the logits; an offloaded head
 * keeps its logits where it ran. HOB_ERR_CONTEXT_FULL (nothing evaluated) if
 * they do not fit. */
hob_status hob_session_eval_hidden(hob_session* session, const int32_t* tokens, size_t n_tokens, float* hidden,
                                   size_t cap);
/* hob_session_eval_hidden for models with per-layer inputs (Gemma 4's
 * N_EMBD_PER_LAYER > 0): also copies those of the offloaded blocks to
 * `per_layer`, block by block (block n_cpu_layers first), each block's
 * n_tokens x N_EMBD_PER_LAYER floats token by token (per_layer_cap floats
 * available). */
hob_status hob_session_eval_hidden_pl(hob_session* session, const int32_t* tokens, size_t n_tokens, float* hidden,
                                      size_t cap, float* per_layer, size_t per_layer_cap);
/* Output norm and head on the CPU over one hidden state (n_embd floats). */
hob_status hob_session_head(hob_session* session, const float* hidden, size_t n);
/* Embeddings. Empties the cache, then evaluates n_seqs sequences of
 * seq_lens[i] tokens (n_tokens in all, at most n_ctx), packed back to back
 * from cell 0, each token attending to its own sequence only, through the
 * embedding and the CPU blocks; their hidden states (n_tokens x n_embd
 * floats, cap available) go to `hidden`. Offloaded blocks run next on the
 * same cells; hob_session_pool then makes the embeddings. */
hob_status hob_session_eval_packed(hob_session* session, const int32_t* tokens, size_t n_tokens, const int32_t* seq_lens,
                                   size_t n_seqs, float* hidden, size_t cap);
/* The last blocks' hidden states of such a batch (n_tokens x n_embd floats)
 * pooled into `out`: the final norm of decoders, then `pooling`
 * (hob_pooling), then the classifier head (RANK) or the model's dense
 * projections. *n_out receives the floats it needs: n_tokens x n_embd for
 * NONE, n_seqs x N_CLS_OUT for RANK, n_seqs x n_embd otherwise; a smaller cap
 * is HOB_ERR_BUFFER_TOO_SMALL. No normalization. */
hob_status hob_session_pool(hob_session* session, const float* hidden, size_t n_tokens, const int32_t* seq_lens,
                            size_t n_seqs, int32_t pooling, float* out, size_t cap, size_t* n_out);
/* Copies the logits of the last evaluated token (n_vocab floats). */
hob_status hob_session_logits(const hob_session* session, float* out, size_t cap);
/* Copies the position of every used cache cell, oldest first (n_past
 * values; cap of them available, else HOB_ERR_OUT_OF_RANGE). */
hob_status hob_session_positions(const hob_session* session, int32_t* out, size_t cap);
/* Forgets every token from position n_keep on (n_keep <= n_past). */
hob_status hob_session_truncate(hob_session* session, int32_t n_keep);
/* Evicts tokens [start, end) (0 <= start <= end <= n_past): later tokens
 * keep their cache entries, move down by end - start and have their keys
 * re-rotated in place. HOB_ERR_OUT_OF_RANGE, changing nothing, otherwise. */
hob_status hob_session_erase(hob_session* session, int32_t start, int32_t end);
/* llama.cpp's context shift: keeps the first n_keep tokens, evicts the
 * n_discard after them: hob_session_erase(n_keep, n_keep + n_discard). */
hob_status hob_session_shift(hob_session* session, int32_t n_keep, int32_t n_discard);

/* ---- recurrent state (hybrid models) ----------------------------------------
 * A hybrid's recurrent blocks keep a fixed-size state of every token so far
 * instead of per-token cache entries: it cannot drop tokens. Truncating keeps
 * n_past or 0 tokens only; an erase is allowed only where the state does not
 * depend on the evicted tokens (hob_session_can_erase). Checkpoints copy the
 * state (of the CPU blocks; offloaded blocks keep their own) at some n_past,
 * so that the sequence can go back there and evaluate again from it. */

/* 1 if hob_session_erase(start, end) would succeed, 0 otherwise. */
int32_t hob_session_can_erase(const hob_session* session, int32_t start, int32_t end);
/* Allocates n checkpoint slots (0 to 64), once, before anything is evaluated. */
hob_status hob_session_reserve_checkpoints(hob_session* session, int32_t n);
int32_t hob_session_n_checkpoints(const hob_session* session);
/* The n_past a slot holds the state of, or -1 (empty, or no such slot). */
int32_t hob_session_checkpoint_pos(const hob_session* session, int32_t slot);
/* Saves the state at n_past into a slot. */
hob_status hob_session_checkpoint_save(hob_session* session, int32_t slot);
/* Puts a slot's state back and truncates the sequence to its n_past; slots
 * saved past it are emptied. An empty slot fails and changes nothing. */
hob_status hob_session_checkpoint_restore(hob_session* session, int32_t slot);

/* ---- session state: the cache's cells, to save a session and restore it ---- */

/* The cache's element type as a GGUF tensor type id (1: F16, the only one
 * now), the values in one cell's K (or V) row of one layer (n_head_kv *
 * head_dim), and the layers whose cache is here: the CPU blocks [0, n); the
 * offloaded blocks keep theirs on their device. */
int32_t hob_session_kv_type(const hob_session* session);
int32_t hob_session_kv_dim(const hob_session* session);
int32_t hob_session_kv_layers(const hob_session* session);
/* Copies the K and V rows of used cells [cell0, cell0 + n) of `layer`
 * (n * kv_dim values each) into k and v, which hold cap values each. */
hob_status hob_session_kv_read(const hob_session* session, int32_t layer, int32_t cell0, int32_t n, uint16_t* k,
                               uint16_t* v, size_t cap);
/* Writes the K and V rows of cells [cell0, cell0 + n) of `layer` from k and
 * v (count = n * kv_dim values each). Only cells past n_past can be written
 * (truncate first); they count once hob_session_kv_append marks them used. */
hob_status hob_session_kv_write(hob_session* session, int32_t layer, int32_t cell0, int32_t n, const uint16_t* k,
                                const uint16_t* v, size_t count);
/* Marks the n cells after n_past used, with positions pos[0..n), after
 * their rows were written for every layer. The cache keeps cell i at
 * position i, so pos must be n_past, n_past + 1, ...: anything else is
 * HOB_ERR_INVALID_ARGUMENT, too many cells HOB_ERR_CONTEXT_FULL, and neither
 * changes anything. There are no logits until the next evaluation. */
hob_status hob_session_kv_append(hob_session* session, const int32_t* pos, int32_t n);

/* ---- vision: a multimodal projector (mmproj GGUF) -------------------------- */

typedef struct hob_clip hob_clip;

/* Loads an mmproj GGUF (general.architecture = clip) held in data, like
 * hob_model_load. Supported projector types: idefics3 (SmolVLM), gemma3, gemma4v; any other
 * clip.projector_type is HOB_ERR_UNSUPPORTED_ARCH naming it. */
hob_status hob_clip_load(uint8_t* data, size_t size, int take_ownership, hob_clip** out);
void hob_clip_free(hob_clip* clip);
/* Width of the embedding rows it makes (the text model's n_embd must match). */
int32_t hob_clip_n_embd(const hob_clip* clip);
/* Embedding rows of one sub-image; 0 for a projector whose rows depend on
 * the image's size (gemma4v: see hob_clip_image_layout). */
int32_t hob_clip_tokens_per_image(const hob_clip* clip);
/* 1 when the text model reads an image's rows attending both ways among
 * them (hob_session_eval_embd's non_causal; Gemma 3, Gemma 4 but for E2B
 * and E4B), else 0. */
int32_t hob_clip_non_causal(const hob_clip* clip);
/* The projector's type (clip.projector_type), which decides the marker
 * tokens around an image's rows in the prompt; -1 for a null clip. */
typedef enum hob_projector_type {
    HOB_PROJECTOR_IDEFICS3 = 0, /* SmolVLM: tiles and an overview */
    HOB_PROJECTOR_GEMMA3 = 1,   /* one image between <start_of_image> and <end_of_image> */
    HOB_PROJECTOR_GEMMA4V = 2,  /* one image at its aspect ratio between <|image> and <image|> */
} hob_projector_type;
int32_t hob_clip_projector_type(const hob_clip* clip);
/* The layout of a width x height image without its pixels: a grid_x x
 * grid_y grid of tiles (row by row) then the overview, each
 * hob_clip_tokens_per_image rows (0 x 0 and one image for a projector that
 * does not tile: gemma3); *n_rows counts them all. */
hob_status hob_clip_image_layout(const hob_clip* clip, int32_t width, int32_t height, int32_t* grid_x, int32_t* grid_y,
                                 size_t* n_rows);
/* Preprocesses and encodes an RGB image (width x height x 3 bytes, row
 * major) into its embedding rows (n_rows x n_embd floats, in the layout's
 * order) in `out`, which holds cap floats. */
hob_status hob_clip_encode(hob_clip* clip, const uint8_t* rgb, int32_t width, int32_t height, float* out, size_t cap,
                           size_t* n_rows);

/* hob_clip_encode in steps, for a host that runs the ViT blocks elsewhere
 * (WebGPU): preprocess the image into sub-images, then for each one embed
 * its patches, run the blocks (here or on the host's device) and project.
 * On the CPU the steps give the bits hob_clip_encode gives. Fixed-size
 * projectors only (hob_clip_tokens_per_image > 0): for gemma4v the steps
 * are HOB_ERR_INVALID_ARGUMENT and its shape has n_patches = image_size = 0.
 * The ViT's shape: shape[0..6) = n_patches (rows of one sub-image), n_embd
 * (the ViT's width), n_head, n_ff, n_layer, image_size; *eps its LayerNorm
 * epsilon. */
hob_status hob_clip_vit_shape(const hob_clip* clip, int32_t* shape, float* eps);
/* The projector's preprocessing of an RGB image into *n_images sub-images
 * in the layout's order, each 3 x image_size x image_size floats (planar,
 * normalized), in `pixels`, which holds cap floats. */
hob_status hob_clip_preprocess(hob_clip* clip, const uint8_t* rgb, int32_t width, int32_t height, float* pixels,
                               size_t cap, size_t* n_images);
/* One sub-image's pixels (count = 3 x image_size^2 floats) into its
 * n_patches x n_embd rows in x (cap floats): the patch embedding with its
 * bias, plus the learned positions. */
hob_status hob_clip_embed_patches(hob_clip* clip, const float* pixels, size_t count, float* x, size_t cap);
/* The ViT blocks over x (count = n_patches x n_embd floats), in place. */
hob_status hob_clip_run_blocks(hob_clip* clip, float* x, size_t count);
/* The post-LayerNorm (in place on x: n_patches x n_embd floats) and the
 * projector into hob_clip_tokens_per_image rows of hob_clip_n_embd in out
 * (cap floats). */
hob_status hob_clip_project(hob_clip* clip, float* x, size_t count, float* out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* HOB_API_H */
