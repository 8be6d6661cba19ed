// The quant types' front door: which types are supported, their vec-dot
// pairing, row sizes with block checks, dispatch to the per-family kernels
// (quants_q.cpp, quants_k.cpp), and the float kernels (F32, F16, BF16) with
// their WASM SIMD128 and AVX2 paths.
#include <cmath>
#include <string>

#include "quants_impl.h"

namespace hob {

namespace qk {

HalfTable::HalfTable() {
    for (uint32_t h = 0; h < 65536; h++) v[h] = f16_to_f32((uint16_t)h);
}

const HalfTable kHalf;

}  // namespace qk

using qk::half;

namespace {

// ---- float kernels ------------------------------------------------------------

float dot_f32(int64_t n, const void* vw, const void* va, bool simd) {
    const float* w = static_cast<const float*>(vw);
    const float* a = static_cast<const float*>(va);
    int64_t i = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc0 = wasm_f32x4_splat(0), acc1 = wasm_f32x4_splat(0);
        for (; i + 8 <= n; i += 8) {
            acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(w + i), wasm_v128_load(a + i)));
            acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(w + i + 4), wasm_v128_load(a + i + 4)));
        }
        sum = qk::hsum_f32x4(wasm_f32x4_add(acc0, acc1));
#elif defined(__AVX2__)
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (; i + 16 <= n; i += 16) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        }
        sum = qk::hsum_f32x8(_mm256_add_ps(acc0, acc1));
#endif
    }
    for (; i < n; i++) sum += w[i] * a[i];
    return sum;
}

float dot_f16(int64_t n, const void* vw, const void* va, bool simd) {
    const uint8_t* w = static_cast<const uint8_t*>(vw);
    const uint8_t* a = static_cast<const uint8_t*>(va);
    int64_t i = 0;
    float sum = 0;
    if (simd) {
#if defined(__wasm_simd128__)
        v128_t acc0 = wasm_f32x4_splat(0), acc1 = wasm_f32x4_splat(0);
        for (; i + 8 <= n; i += 8) {
            v128_t w0, w1, a0, a1;
            f16x8_to_f32x4x2(wasm_v128_load(w + 2 * i), &w0, &w1);
            f16x8_to_f32x4x2(wasm_v128_load(a + 2 * i), &a0, &a1);
            acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(w0, a0));
            acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(w1, a1));
        }
        sum = qk::hsum_f32x4(wasm_f32x4_add(acc0, acc1));
#elif defined(__AVX2__) && defined(__F16C__)
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (; i + 16 <= n; i += 16) {
            const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + 2 * i)));
            const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + 2 * i + 16)));
            const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(a + 2 * i)));
            const __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(a + 2 * i + 16)));
            acc0 = _mm256_fmadd_ps(w0, a0, acc0);
            acc1 = _mm256_fmadd_ps(w1, a1, acc1);
        }
        sum = qk::hsum_f32x8(_mm256_add_ps(acc0, acc1));
#endif
    }
    for (; i < n; i++) sum += half(load_u16(w + 2 * i)) * half(load_u16(a + 2 * i));
    return sum;
}

float dot_bf16(int64_t n, const void* vw, const void* va, bool) {
    const uint8_t* w = static_cast<const uint8_t*>(vw);
    const uint8_t* a = static_cast<const uint8_t*>(va);
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += bf16_to_f32(load_u16(w + 2 * i)) * bf16_to_f32(load_u16(a + 2 * i));
    return sum;
}

void quantize_f32(const float* x, void* out, int64_t n) { std::memcpy(out, x, (size_t)n * 4); }

void quantize_f16(const float* x, void* out, int64_t n) {
    uint16_t* y = static_cast<uint16_t*>(out);
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_f16(x[i]);
}

void quantize_bf16(const float* x, void* out, int64_t n) {
    uint16_t* y = static_cast<uint16_t*>(out);
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_bf16(x[i]);
}

void dequantize_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, (size_t)n * 4); }

void dequantize_f16(const void* vx, float* y, int64_t n) {
    const uint8_t* x = static_cast<const uint8_t*>(vx);
    for (int64_t i = 0; i < n; i++) y[i] = half(load_u16(x + 2 * i));
}

void dequantize_bf16(const void* vx, float* y, int64_t n) {
    const uint8_t* x = static_cast<const uint8_t*>(vx);
    for (int64_t i = 0; i < n; i++) y[i] = bf16_to_f32(load_u16(x + 2 * i));
}

// ---- the type table -----------------------------------------------------------

struct Kernels {
    TypeId type;
    TypeId vec_dot_type;
    int64_t block;  // elements per block, a power of two
    void (*quantize)(const float* x, void* y, int64_t n);  // null: weights only
    void (*dequantize)(const void* x, float* y, int64_t n);
    float (*dot)(int64_t n, const void* w, const void* a, bool simd);  // null: activations only
};

// Weight types first, in the order messages list them; the activation-only
// types (Q8_1, Q8_K) last.
const Kernels kKernels[] = {
    {TypeId::F32, TypeId::F32, 1, quantize_f32, dequantize_f32, dot_f32},
    {TypeId::F16, TypeId::F16, 1, quantize_f16, dequantize_f16, dot_f16},
    {TypeId::BF16, TypeId::BF16, 1, quantize_bf16, dequantize_bf16, dot_bf16},
    {TypeId::Q4_0, TypeId::Q8_0, 32, nullptr, qk::dequantize_q4_0, qk::dot_q4_0},
    {TypeId::Q4_1, TypeId::Q8_1, 32, nullptr, qk::dequantize_q4_1, qk::dot_q4_1},
    {TypeId::Q5_0, TypeId::Q8_0, 32, nullptr, qk::dequantize_q5_0, qk::dot_q5_0},
    {TypeId::Q5_1, TypeId::Q8_1, 32, nullptr, qk::dequantize_q5_1, qk::dot_q5_1},
    {TypeId::Q8_0, TypeId::Q8_0, 32, qk::quantize_row_q8_0, qk::dequantize_q8_0, qk::dot_q8_0},
    {TypeId::Q2_K, TypeId::Q8_K, 256, nullptr, qk::dequantize_q2_k, qk::dot_q2_k},
    {TypeId::Q3_K, TypeId::Q8_K, 256, nullptr, qk::dequantize_q3_k, qk::dot_q3_k},
    {TypeId::Q4_K, TypeId::Q8_K, 256, nullptr, qk::dequantize_q4_k, qk::dot_q4_k},
    {TypeId::Q5_K, TypeId::Q8_K, 256, nullptr, qk::dequantize_q5_k, qk::dot_q5_k},
    {TypeId::Q6_K, TypeId::Q8_K, 256, nullptr, qk::dequantize_q6_k, qk::dot_q6_k},
    {TypeId::IQ4_NL, TypeId::Q8_0, 32, nullptr, qk::dequantize_iq4_nl, qk::dot_iq4_nl},
    {TypeId::Q8_1, TypeId::Q8_1, 32, qk::quantize_row_q8_1, qk::dequantize_q8_1, nullptr},
    {TypeId::Q8_K, TypeId::Q8_K, 256, qk::quantize_row_q8_k, qk::dequantize_q8_k, nullptr},
};

const Kernels* find_kernels(TypeId t) {
    for (const Kernels& k : kKernels) {
        if (k.type == t) return &k;
    }
    return nullptr;
}

[[noreturn]] void unsupported(const char* what, TypeId t) {
    fail(HOB_ERR_UNSUPPORTED_TYPE, std::string(what) + type_name(t) + " (supported: " + supported_types_text() + ")");
}

// Kernels read whole blocks, so a length that is not a whole number of them
// would read past the row: refuse it before any kernel runs.
void check_blocks(TypeId t, int64_t n) {
    const TypeTraits* tr = type_traits((uint32_t)t);
    if (!tr) fail(HOB_ERR_UNSUPPORTED_TYPE, "unknown tensor type id " + std::to_string((uint32_t)t));
    if (n < 0 || n % tr->block_size != 0) {
        fail(HOB_ERR_INVALID_ARGUMENT, std::string("a row of ") + std::to_string(n) + " elements of type " + tr->name +
                                           " is not a multiple of its block size " + std::to_string(tr->block_size));
    }
}

}  // namespace

const float* half_table() { return qk::kHalf.v; }

bool type_supported(TypeId t) {
    const Kernels* k = find_kernels(t);
    return k && k->dot;
}

const char* supported_types_text() {
    static const std::string text = [] {
        std::string s;
        for (const Kernels& k : kKernels) {
            if (!k.dot) continue;
            s += (s.empty() ? "" : ", ") + std::string(type_name(k.type));
        }
        return s;
    }();
    return text.c_str();
}

TypeId vec_dot_type(TypeId w) {
    const Kernels* k = find_kernels(w);
    if (!k || !k->dot) unsupported("no dot product for tensor type ", w);
    return k->vec_dot_type;
}

size_t row_size(TypeId t, int64_t n) {
    check_blocks(t, n);
    const TypeTraits* tr = type_traits((uint32_t)t);
    return (size_t)(n / tr->block_size) * tr->type_size;
}

void quantize_row(TypeId t, const float* x, void* out, int64_t n) {
    const Kernels* k = find_kernels(t);
    if (!k || !k->quantize) unsupported("cannot convert activations to ", t);
    check_blocks(t, n);
    k->quantize(x, out, n);
}

void dequantize_row(TypeId t, const void* x, float* y, int64_t n) {
    const Kernels* k = find_kernels(t);
    if (!k || !k->dequantize) unsupported("cannot dequantize ", t);
    check_blocks(t, n);
    k->dequantize(x, y, n);
}

// Hot: called once per weight row and token (and per cached key in
// attention), so the block check is a mask, not a division.
float vec_dot(TypeId t, int64_t n, const void* w, const void* a) {
    const Kernels* k = find_kernels(t);
    if (!k || !k->dot) unsupported("no dot product for tensor type ", t);
    if (n < 0 || (n & (k->block - 1)) != 0) check_blocks(t, n);
    return k->dot(n, w, a, true);
}

bool has_tile_kernel(TypeId t) { return qk::has_tile_q(t) || qk::has_tile_k(t); }

WidenedSize widened_size(TypeId act, int64_t n) {
    check_blocks(act, n);
    switch (act) {
        case TypeId::Q8_0: return {(size_t)n, (size_t)(n / kQK8_0)};
        case TypeId::Q8_1: return {(size_t)n, (size_t)(2 * (n / kQK8_1))};
        case TypeId::Q8_K: return {(size_t)(n / kQK_K * (kQK_K + kQK_K / 16)), (size_t)(n / kQK_K)};
        default: fail(HOB_ERR_INTERNAL, std::string("no widened form of activations of type ") + type_name(act));
    }
}

void widen_activations(TypeId act, const void* row, int64_t n, int16_t* q16, float* side) {
    check_blocks(act, n);
    switch (act) {
        case TypeId::Q8_0: return qk::widen_q8_0_row(row, n, q16, side);
        case TypeId::Q8_1: return qk::widen_q8_1_row(row, n, q16, side);
        case TypeId::Q8_K: return qk::widen_q8_k_row(row, n, q16, side);
        default: fail(HOB_ERR_INTERNAL, std::string("no widened form of activations of type ") + type_name(act));
    }
}

void vec_dot_tile(TypeId t, int64_t n, const void* w, size_t w_stride, int n_rows, const int16_t* a16, const float* side,
                  int n_tok, float* out) {
    HOB_CHECK(has_tile_kernel(t), HOB_ERR_INTERNAL, std::string("no tile kernel for ") + type_name(t));
    check_blocks(t, n);
    if (qk::has_tile_k(t)) {
        qk::dot_tile_k(t, n, w, w_stride, n_rows, a16, side, n_tok, out);
        return;
    }
    for (int r = 0; r < n_rows; r++) {
        qk::dot_tile_q(t, n, static_cast<const uint8_t*>(w) + r * w_stride, a16, side, n_tok, out + r * n_tok);
    }
}

float vec_dot_scalar(TypeId t, int64_t n, const void* w, const void* a) {
    const Kernels* k = find_kernels(t);
    if (!k || !k->dot) unsupported("no dot product for tensor type ", t);
    check_blocks(t, n);
    return k->dot(n, w, a, false);
}

}  // namespace hob
