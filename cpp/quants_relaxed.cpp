// Relaxed-SIMD kernels and the repacked layout they read (see
// quants_relaxed.h). The layout code is portable, so native tests check it;
// the kernels exist where the compiler targets relaxed SIMD
// (-mrelaxed-simd: the *-relaxed wasm builds).
//
// Bit-identity with the SIMD128 kernels: per block and int32 lane the
// integer sum is the same set of products (the repacked order), so it is
// the same integer; the float steps (convert, times d_w * d_a, add into the
// lane's accumulator, then lanes 0 + 1 + 2 + 3) are those of quants_q.cpp.
// The instruction's result is defined only when the second operand's bytes
// are 0..127, so Q4_0 weights enter it as unsigned nibbles q in 0..15, with
// their offset (-8 sum a) taken from the activations' lane sums.
//
// Q4_K the same way: its nibbles are unsigned already, its sub-block
// scales multiply each lane's integer sum (exact), its minimums come from
// the activations' sums of 32 as in quants_k.cpp, and per super-block the
// float steps are those of dot_q45_k.
//
// Q6_K's six-bit quants (0..63) are unsigned too; their -32 offset comes
// from the activations' lane sums per 16, as Q4_0's -8 per 32.
//
// Q4_0, Q4_K and Q6_K only: a Q8_0 kernel (w + 128 as two nibble planes, four
// dots per 32 weights) measured slower than the SIMD128 one in Chromium on
// x86.
#include "quants_relaxed.h"

#include <cstring>
#include <string>

#include "quants_impl.h"
#include "tensor.h"

namespace hob {

const uint8_t kRelaxedOrder[16] = {0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15};

namespace {

// Bytes of one row's blocks reordered: dst[p] = src[kRelaxedOrder[p]], or
// the inverse, per 16 bytes of each block's quants.
void order16(const uint8_t* src, uint8_t* dst, bool inverse) {
    uint8_t tmp[16];
    for (int p = 0; p < 16; p++) {
        if (inverse) {
            tmp[kRelaxedOrder[p]] = src[p];
        } else {
            tmp[p] = src[kRelaxedOrder[p]];
        }
    }
    std::memcpy(dst, tmp, 16);
}

// One block of a repacked type: its quants, 16 bytes at a time, in (or,
// inverse, out of) the kernels' order.
void repack_block(TypeId t, uint8_t* blk, bool inverse) {
    if (t == TypeId::Q4_0) {
        BlockQ4_0* b = reinterpret_cast<BlockQ4_0*>(blk);
        order16(b->qs, b->qs, inverse);
    } else if (t == TypeId::Q4_K) {
        BlockQ4_K* b = reinterpret_cast<BlockQ4_K*>(blk);
        for (size_t i = 0; i < sizeof b->qs; i += 16) order16(b->qs + i, b->qs + i, inverse);
    } else {
        // Q6_K: every element of a 16-byte chunk of ql or qh sits at the
        // same place l in its group of 16, so both move alike.
        BlockQ6_K* b = reinterpret_cast<BlockQ6_K*>(blk);
        for (size_t i = 0; i < sizeof b->ql; i += 16) order16(b->ql + i, b->ql + i, inverse);
        for (size_t i = 0; i < sizeof b->qh; i += 16) order16(b->qh + i, b->qh + i, inverse);
    }
}

// Block size and bytes of a type with a repacked layout.
struct Blocks {
    int64_t size;
    size_t bytes;
};

Blocks blocks_of(TypeId t) {
    HOB_CHECK(t == TypeId::Q4_0 || t == TypeId::Q4_K || t == TypeId::Q6_K, HOB_ERR_INTERNAL,
              std::string("no repacked layout for ") + type_name(t));
    if (t == TypeId::Q4_0) return {kQK4_0, sizeof(BlockQ4_0)};
    return {kQK_K, t == TypeId::Q4_K ? sizeof(BlockQ4_K) : sizeof(BlockQ6_K)};
}

constexpr size_t kMaxBlockBytes = sizeof(BlockQ6_K);

}  // namespace

bool repack_wanted(TypeId t) {
#if defined(__wasm_relaxed_simd__)
    return t == TypeId::Q4_0 || t == TypeId::Q4_K || t == TypeId::Q6_K;
#else
    (void)t;
    return false;
#endif
}

void repack_rows(TypeId t, uint8_t* data, int64_t n_rows, int64_t cols) {
    const Blocks k = blocks_of(t);
    const int64_t nb = n_rows * (cols / k.size);
    for (int64_t b = 0; b < nb; b++) repack_block(t, data + (size_t)b * k.bytes, false);
}

void unpack_row(TypeId t, const uint8_t* row, int64_t cols, uint8_t* out) {
    const Blocks k = blocks_of(t);
    const int64_t nb = cols / k.size;
    std::memcpy(out, row, (size_t)nb * k.bytes);
    for (int64_t b = 0; b < nb; b++) repack_block(t, out + (size_t)b * k.bytes, true);
}

void dequantize_tensor_row(const Tensor& t, int64_t r, float* out) {
    if (!t.repacked) return dequantize_row(t.type, t.row(r), out, t.cols());
    // A block at a time, back in its natural layout.
    const Blocks k = blocks_of(t.type);
    uint8_t blk[kMaxBlockBytes];
    for (int64_t b = 0; b < t.cols() / k.size; b++) {
        unpack_row(t.type, t.row(r) + (size_t)b * k.bytes, k.size, blk);
        dequantize_row(t.type, blk, out + b * k.size, k.size);
    }
}

size_t relaxed_act_bytes(TypeId at, int64_t n) {
    HOB_CHECK(at == TypeId::Q8_0 || at == TypeId::Q8_K, HOB_ERR_INTERNAL, std::string("no relaxed activations of ") + type_name(at));
    if (at == TypeId::Q8_K) return (size_t)n + (size_t)(n / kQK_K) * (sizeof(float) + (8 + 64) * sizeof(int32_t));
    const int64_t nb = n / kQK8_0;
    return (size_t)n + (size_t)nb * (4 * sizeof(int32_t) + sizeof(float));
}

namespace {

void relax_q8_k(const BlockQ8_K* x, int64_t n, uint8_t* out) {
    const int64_t nb = n / kQK_K;
    int8_t* qs = reinterpret_cast<int8_t*>(out);
    uint8_t* scales = out + n;
    uint8_t* sums = scales + nb * sizeof(float);
    for (int64_t b = 0; b < nb; b++) {
        for (int i = 0; i < kQK_K; i += 16) {
            for (int p = 0; p < 16; p++) qs[b * kQK_K + i + p] = x[b].qs[i + kRelaxedOrder[p]];
        }
        std::memcpy(scales + b * sizeof(float), &x[b].d, sizeof(float));
        int32_t g[8];
        for (int k = 0; k < 8; k++) g[k] = x[b].bsums[2 * k] + x[b].bsums[2 * k + 1];
        std::memcpy(sums + b * sizeof g, g, sizeof g);
    }
    // Q6_K's offset: per group of 16 and lane, -32 x the lane's values.
    uint8_t* offsets = sums + nb * 8 * sizeof(int32_t);
    for (int64_t b = 0; b < nb; b++) {
        int32_t lane[64];
        for (int g = 0; g < 16; g++) {
            for (int k = 0; k < 4; k++) {
                int32_t v = 0;
                for (int p = 4 * k; p < 4 * k + 4; p++) v += qs[b * kQK_K + 16 * g + p];
                lane[4 * g + k] = -32 * v;
            }
        }
        std::memcpy(offsets + b * sizeof lane, lane, sizeof lane);
    }
}

}  // namespace

void relax_activations(TypeId at, const void* vx, int64_t n, uint8_t* out) {
    if (at == TypeId::Q8_K) return relax_q8_k(static_cast<const BlockQ8_K*>(vx), n, out);
    HOB_CHECK(at == TypeId::Q8_0, HOB_ERR_INTERNAL, std::string("no relaxed activations of ") + type_name(at));
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(vx);
    const int64_t nb = n / kQK8_0;
    int8_t* qs = reinterpret_cast<int8_t*>(out);
    uint8_t* sums = out + n;
    uint8_t* scales = sums + nb * 16;
    for (int64_t b = 0; b < nb; b++) {
        int8_t* q = qs + b * kQK8_0;
        int32_t lane[4] = {0, 0, 0, 0};
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 16; p++) {
                q[16 * h + p] = x[b].qs[16 * h + kRelaxedOrder[p]];
                lane[p / 4] += q[16 * h + p];
            }
        }
        for (int k = 0; k < 4; k++) lane[k] *= -8;
        std::memcpy(sums + b * 16, lane, 16);
        const float d = qk::half(x[b].d);
        std::memcpy(scales + b * 4, &d, 4);
    }
}

#if defined(__wasm_relaxed_simd__)
namespace {

inline v128_t rdot(v128_t a, v128_t b7, v128_t c) { return wasm_i32x4_relaxed_dot_i8x16_i7x16_add(a, b7, c); }

// One token's relaxed activations, split by part.
struct Act {
    const int8_t* qs;
    const int32_t* sums;  // -8 x lane sums, four per block
    const float* d;
};

inline Act act_of(const uint8_t* p, int64_t n) {
    const int64_t nb = n / kQK8_0;
    return {reinterpret_cast<const int8_t*>(p), reinterpret_cast<const int32_t*>(p + n),
            reinterpret_cast<const float*>(p + n + nb * 16)};
}

// NR weight rows against NT tokens: each row's block decoded once for the
// tokens, each token's block loaded once for the rows.
template <int NR, int NT>
void tile_q4_0(int64_t n, const uint8_t* w, size_t stride, const uint8_t* act, size_t act_bytes, float* out, int out_stride) {
    const int64_t nb = n / kQK4_0;
    Act a[NT];
    for (int j = 0; j < NT; j++) a[j] = act_of(act + j * act_bytes, n);
    v128_t acc[NR][NT];
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) acc[r][j] = wasm_f32x4_splat(0);
    const v128_t m4 = wasm_i8x16_splat(0x0f);
    for (int64_t b = 0; b < nb; b++) {
        v128_t lo[NR], hi[NR];
        float dw[NR];
        for (int r = 0; r < NR; r++) {
            const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(w + r * stride) + b;
            const v128_t q = wasm_v128_load(blk->qs);
            lo[r] = wasm_v128_and(q, m4);
            // Shifting 16-bit lanes and masking gives the high nibbles in
            // two instructions; V8 emulates a byte shift, which x86 lacks,
            // with more (decode measured 5-10% faster).
            hi[r] = wasm_v128_and(wasm_u16x8_shr(q, 4), m4);
            dw[r] = qk::half(blk->d);
        }
        for (int j = 0; j < NT; j++) {
            const v128_t a0 = wasm_v128_load(a[j].qs + b * kQK8_0);
            const v128_t a1 = wasm_v128_load(a[j].qs + b * kQK8_0 + 16);
            const v128_t off = wasm_v128_load(a[j].sums + b * 4);
            const float da = a[j].d[b];
            for (int r = 0; r < NR; r++) {
                const v128_t s = rdot(a1, hi[r], rdot(a0, lo[r], off));
                acc[r][j] = wasm_f32x4_add(acc[r][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(dw[r] * da)));
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) out[r * out_stride + j] = qk::hsum_f32x4(acc[r][j]);
}

using TileFn = void (*)(int64_t, const uint8_t*, size_t, const uint8_t*, size_t, float*, int);

// Tiles of up to g_tile_rows rows x g_tile_tokens tokens (0: the defaults
// of quants_relaxed.h), then the remainders. The shape does not change a
// result (each output sums its blocks in order whatever the tile), only the
// speed; set_relaxed_tile lets a benchmark compare shapes in one process.
// Shapes up to 4 x 4 only: wider ones (2 x 8, 3 x 8, 4 x 6, 4 x 8) measured
// no faster on x86 and each instantiation adds code to the build.
constexpr int kMaxNR = 4, kMaxNT = 4;
int g_tile_rows = 0, g_tile_tokens = 0;

// Q4_K: NR rows x NT tokens per super-block. Per row the eight sub-block
// scales and minimums are unpacked once for the tokens; per token and row
// the minimums' sum (a scalar, as dot_q45_k keeps it) and the four lanes'
// integer sums, each 16 values' relaxed dot times its sub-block's scale.
template <int NR, int NT>
void tile_q4_k(int64_t n, const uint8_t* w, size_t stride, const uint8_t* act, size_t act_bytes, float* out, int out_stride) {
    const int64_t nb = n / kQK_K;
    const int8_t* aq[NT];
    const float* ad[NT];
    const int32_t* ag[NT];
    for (int j = 0; j < NT; j++) {
        const uint8_t* p = act + j * act_bytes;
        aq[j] = reinterpret_cast<const int8_t*>(p);
        ad[j] = reinterpret_cast<const float*>(p + n);
        ag[j] = reinterpret_cast<const int32_t*>(p + n + nb * sizeof(float));
    }
    v128_t acc[NR][NT];
    float sum_min[NR][NT];
    for (int r = 0; r < NR; r++) {
        for (int j = 0; j < NT; j++) {
            acc[r][j] = wasm_f32x4_splat(0);
            sum_min[r][j] = 0;
        }
    }
    const v128_t m4 = wasm_i8x16_splat(0x0f);
    const v128_t zero = wasm_i32x4_splat(0);
    for (int64_t b = 0; b < nb; b++) {
        const BlockQ4_K* blk[NR];
        uint8_t sc[NR][8], mn[NR][8];
        for (int r = 0; r < NR; r++) {
            blk[r] = reinterpret_cast<const BlockQ4_K*>(w + r * stride) + b;
            for (int g = 0; g < 8; g++) scale_min_k4(g, blk[r]->scales, &sc[r][g], &mn[r][g]);
        }
        v128_t isum[NR][NT];
        for (int j = 0; j < NT; j++) {
            const int32_t* gs = ag[j] + b * 8;
            for (int r = 0; r < NR; r++) {
                int32_t s = 0;
                for (int g = 0; g < 8; g++) s += mn[r][g] * gs[g];
                sum_min[r][j] += ad[j][b] * qk::half(blk[r]->dmin) * (float)s;
                isum[r][j] = zero;
            }
        }
        for (int c = 0; c < 4; c++) {
            v128_t lo0[NR], lo1[NR], hi0[NR], hi1[NR], s_lo[NR], s_hi[NR];
            for (int r = 0; r < NR; r++) {
                const v128_t q0 = wasm_v128_load(blk[r]->qs + 32 * c);
                const v128_t q1 = wasm_v128_load(blk[r]->qs + 32 * c + 16);
                lo0[r] = wasm_v128_and(q0, m4);
                lo1[r] = wasm_v128_and(q1, m4);
                hi0[r] = wasm_v128_and(wasm_u16x8_shr(q0, 4), m4);
                hi1[r] = wasm_v128_and(wasm_u16x8_shr(q1, 4), m4);
                s_lo[r] = wasm_i32x4_splat(sc[r][2 * c]);
                s_hi[r] = wasm_i32x4_splat(sc[r][2 * c + 1]);
            }
            for (int j = 0; j < NT; j++) {
                const int8_t* ya = aq[j] + b * kQK_K + 64 * c;
                const v128_t a0 = wasm_v128_load(ya), a1 = wasm_v128_load(ya + 16);
                const v128_t a2 = wasm_v128_load(ya + 32), a3 = wasm_v128_load(ya + 48);
                for (int r = 0; r < NR; r++) {
                    const v128_t lo = rdot(a1, lo1[r], rdot(a0, lo0[r], zero));
                    const v128_t hi = rdot(a3, hi1[r], rdot(a2, hi0[r], zero));
                    isum[r][j] = wasm_i32x4_add(isum[r][j], wasm_i32x4_add(wasm_i32x4_mul(lo, s_lo[r]), wasm_i32x4_mul(hi, s_hi[r])));
                }
            }
        }
        for (int r = 0; r < NR; r++) {
            const float dw = qk::half(blk[r]->d);
            for (int j = 0; j < NT; j++) {
                acc[r][j] = wasm_f32x4_add(acc[r][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum[r][j]), wasm_f32x4_splat(ad[j][b] * dw)));
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) out[r * out_stride + j] = qk::hsum_f32x4(acc[r][j]) - sum_min[r][j];
}

// Q6_K: NR rows x NT tokens per super-block. Each 16 values' six-bit
// quants (0..63) meet the activations in one relaxed dot that starts from
// -32 x the lane's activations (the quants' offset), times the group's
// scale; per super-block the float steps are those of dot_q6_k.
template <int NR, int NT>
void tile_q6_k(int64_t n, const uint8_t* w, size_t stride, const uint8_t* act, size_t act_bytes, float* out, int out_stride) {
    const int64_t nb = n / kQK_K;
    const int8_t* aq[NT];
    const float* ad[NT];
    const int32_t* ao[NT];
    for (int j = 0; j < NT; j++) {
        const uint8_t* p = act + j * act_bytes;
        aq[j] = reinterpret_cast<const int8_t*>(p);
        ad[j] = reinterpret_cast<const float*>(p + n);
        ao[j] = reinterpret_cast<const int32_t*>(p + n + nb * (sizeof(float) + 8 * sizeof(int32_t)));
    }
    v128_t acc[NR][NT];
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) acc[r][j] = wasm_f32x4_splat(0);
    const v128_t m4 = wasm_i8x16_splat(0x0f);
    const v128_t three = wasm_i8x16_splat(3);
    for (int64_t b = 0; b < nb; b++) {
        const BlockQ6_K* blk[NR];
        for (int r = 0; r < NR; r++) blk[r] = reinterpret_cast<const BlockQ6_K*>(w + r * stride) + b;
        v128_t isum[NR][NT];
        for (int r = 0; r < NR; r++)
            for (int j = 0; j < NT; j++) isum[r][j] = wasm_i32x4_splat(0);
        for (int h = 0; h < 2; h++) {
            for (int part = 0; part < 2; part++) {
                v128_t lows[NR][4], qh[NR];
                for (int r = 0; r < NR; r++) {
                    const uint8_t* ql = blk[r]->ql + 64 * h;
                    const v128_t l0 = wasm_v128_load(ql + 16 * part);
                    const v128_t l1 = wasm_v128_load(ql + 32 + 16 * part);
                    qh[r] = wasm_v128_load(blk[r]->qh + 32 * h + 16 * part);
                    lows[r][0] = wasm_v128_and(l0, m4);
                    lows[r][1] = wasm_v128_and(l1, m4);
                    lows[r][2] = wasm_v128_and(wasm_u16x8_shr(l0, 4), m4);
                    lows[r][3] = wasm_v128_and(wasm_u16x8_shr(l1, 4), m4);
                }
                for (int k = 0; k < 4; k++) {
                    const int g = 8 * h + 2 * k + part;
                    v128_t u[NR], sc[NR];
                    for (int r = 0; r < NR; r++) {
                        // Bits 2k, 2k + 1 of qh as bits 4, 5: 16-bit shifts
                        // (x86 has no byte shift) whose spill the mask drops.
                        const v128_t top = wasm_i16x8_shl(wasm_v128_and(wasm_u16x8_shr(qh[r], 2 * k), three), 4);
                        u[r] = wasm_v128_or(lows[r][k], top);
                        sc[r] = wasm_i32x4_splat(blk[r]->scales[g]);
                    }
                    for (int j = 0; j < NT; j++) {
                        const v128_t a = wasm_v128_load(aq[j] + b * kQK_K + 16 * g);
                        const v128_t off = wasm_v128_load(ao[j] + (b * 16 + g) * 4);
                        for (int r = 0; r < NR; r++) isum[r][j] = wasm_i32x4_add(isum[r][j], wasm_i32x4_mul(rdot(a, u[r], off), sc[r]));
                    }
                }
            }
        }
        for (int r = 0; r < NR; r++) {
            const float dw = qk::half(blk[r]->d);
            for (int j = 0; j < NT; j++) {
                acc[r][j] = wasm_f32x4_add(acc[r][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum[r][j]), wasm_f32x4_splat(dw * ad[j][b])));
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) out[r * out_stride + j] = qk::hsum_f32x4(acc[r][j]);
}

// A kernel family: its tiles by rows x tokens (a K-quant's per-row state
// spills past two rows, so its families stop there and leave the rest
// empty) and the rows per tile for one token (decode), from bench/
// relaxed-tiles.ts and one-off timings on weights larger than the caches.
struct Family {
    TypeId act_type;
    int max_rows;
    int (*decode_rows)(int64_t n);
    TileFn tiles[kMaxNR][kMaxNT];
};

#define HOB_TILE_ROW(F, R) {F<R, 1>, F<R, 2>, F<R, 3>, F<R, 4>}
const Family kQ4_0Family = {TypeId::Q8_0, 4, [](int64_t n) { return n < kRelaxedShortRow ? 2 : 4; },
                            {HOB_TILE_ROW(tile_q4_0, 1), HOB_TILE_ROW(tile_q4_0, 2), HOB_TILE_ROW(tile_q4_0, 3),
                             HOB_TILE_ROW(tile_q4_0, 4)}};
const Family kQ4_KFamily = {TypeId::Q8_K, 2, [](int64_t) { return 2; },
                            {HOB_TILE_ROW(tile_q4_k, 1), HOB_TILE_ROW(tile_q4_k, 2), {}, {}}};
// One row ran 1.13-1.28x as fast as two for one token (2048 x 8192 and
// 8192 x 2048); batches keep two.
const Family kQ6_KFamily = {TypeId::Q8_K, 2, [](int64_t) { return 1; },
                            {HOB_TILE_ROW(tile_q6_k, 1), HOB_TILE_ROW(tile_q6_k, 2), {}, {}}};
#undef HOB_TILE_ROW

void dot_all(const Family& f, int64_t n, const uint8_t* w, size_t stride, int n_rows, const uint8_t* act, int n_tok,
             float* out) {
    const size_t ab = relaxed_act_bytes(f.act_type, n);
    int kNR = g_tile_rows ? g_tile_rows : n_tok == 1 ? f.decode_rows(n) : kRelaxedTileRows;
    if (kNR > f.max_rows) kNR = f.max_rows;
    const int kNT = g_tile_tokens ? g_tile_tokens : kRelaxedTileTokens;
    for (int r = 0; r < n_rows; r += kNR) {
        const int nr = n_rows - r < kNR ? n_rows - r : kNR;
        for (int j = 0; j < n_tok; j += kNT) {
            const int nt = n_tok - j < kNT ? n_tok - j : kNT;
            f.tiles[nr - 1][nt - 1](n, w + r * stride, stride, act + j * ab, ab, out + r * n_tok + j, n_tok);
        }
    }
}

}  // namespace

void set_relaxed_tile(int rows, int tokens) {
    HOB_CHECK((rows == 0 && tokens == 0) || (rows >= 1 && rows <= kMaxNR && tokens >= 1 && tokens <= kMaxNT), HOB_ERR_INVALID_ARGUMENT,
              "relaxed tiles are 1 to " + std::to_string(kMaxNR) + " rows by 1 to " + std::to_string(kMaxNT) + " tokens, not " +
                  std::to_string(rows) + " x " + std::to_string(tokens));
    g_tile_rows = rows;
    g_tile_tokens = tokens;
}

void dot_relaxed(TypeId t, int64_t n, const uint8_t* w, size_t stride, int n_rows, const uint8_t* act, int n_tok,
                 float* out) {
    if (t == TypeId::Q4_0) return dot_all(kQ4_0Family, n, w, stride, n_rows, act, n_tok, out);
    if (t == TypeId::Q4_K) return dot_all(kQ4_KFamily, n, w, stride, n_rows, act, n_tok, out);
    if (t == TypeId::Q6_K) return dot_all(kQ6_KFamily, n, w, stride, n_rows, act, n_tok, out);
    fail(HOB_ERR_INTERNAL, std::string("no relaxed kernel for ") + type_name(t));
}
#else
void set_relaxed_tile(int, int) {}

void dot_relaxed(TypeId t, int64_t, const uint8_t*, size_t, int, const uint8_t*, int, float*) {
    fail(HOB_ERR_INTERNAL, std::string("this build has no relaxed kernel for ") + type_name(t));
}
#endif

}  // namespace hob
