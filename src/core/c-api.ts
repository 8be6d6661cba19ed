// Generated from cpp/api.h by scripts/gen-api.mjs; do not edit.

export const Status = {
  OK: 0,
  ERR_INVALID_ARGUMENT: 1,
  ERR_BUFFER_TOO_SMALL: 2,
  ERR_GGUF_BAD_MAGIC: 3,
  ERR_GGUF_BAD_VERSION: 4,
  ERR_GGUF_TRUNCATED: 5,
  ERR_GGUF_INVALID: 6,
  ERR_UNSUPPORTED_TYPE: 7,
  ERR_UNSUPPORTED_ARCH: 8,
  ERR_MODEL_INVALID: 9,
  ERR_CONTEXT_FULL: 10,
  ERR_OUT_OF_RANGE: 11,
  ERR_OUT_OF_MEMORY: 12,
  ERR_INTERNAL: 13,
  ERR_VOCAB_ONLY: 14,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

export const Hparam = {
  N_HEAD: 0,
  N_HEAD_KV: 1,
  HEAD_DIM: 2,
  N_FF: 3,
  RMS_EPS: 4,
  ROPE_STYLE: 5,
  ROPE_N_ROT: 6,
  ROPE_FREQ_BASE: 7,
  ROPE_FREQ_SCALE: 8,
  N_CPU_LAYERS: 9,
  HEAD_ON_CPU: 10,
  QKV_BIAS: 11,
  FUSED_QKV: 12,
  FUSED_FFN: 13,
  QK_NORM: 14,
  POST_NORMS: 15,
  EMBD_SCALE: 16,
  ATTN_SCALE: 17,
  ATTN_SCALE_ON_Q: 18,
  ATTN_SOFTCAP: 19,
  FINAL_SOFTCAP: 20,
  FFN_ACT: 21,
  N_SWA: 22,
  ROPE_FREQ_BASE_SWA: 23,
  ROPE_FREQ_SCALE_SWA: 24,
  CAUSAL: 25,
  POOLING: 26,
  N_CLS_OUT: 27,
  HAS_HEAD: 28,
  BLOCK: 29,
  NORM_EPS: 30,
  SWA_SYMMETRIC: 31,
  CLS_HEAD: 32,
  LAYER_SWA: 65536,
} as const;
export type Hparam = (typeof Hparam)[keyof typeof Hparam];

export const PoolingType = {
  NONE: 0,
  MEAN: 1,
  CLS: 2,
  LAST: 3,
  RANK: 4,
} as const;
export type PoolingType = (typeof PoolingType)[keyof typeof PoolingType];
