// Quant type tests: every weight type's dequantization against a reference
// written here from the GGUF block layouts, element by element; its SIMD dot
// product against the portable one and against a double-precision dot of the
// dequantized rows; activation conversion (Q8_0, Q8_1, Q8_K); and rows whose
// length is not a whole number of blocks, which must be refused.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../common.h"
#include "../ops/ops.h"
#include "../quants.h"
#include "../threadpool.h"
#include "harness.h"

using namespace hob;

namespace {

const TypeId kQuantTypes[] = {TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1, TypeId::Q8_0,
                              TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K,
                              TypeId::IQ4_NL};

int block_of(TypeId t) { return (int)type_traits((uint32_t)t)->block_size; }
int bytes_of(TypeId t) { return (int)type_traits((uint32_t)t)->type_size; }

float f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }

// Bit `i` of the little-endian bit string at p.
int bit(const uint8_t* p, int i) { return (p[i / 8] >> (i % 8)) & 1; }

// The 4-bit field for element j of a 32-element block: nibble layout of
// Q4_0/Q4_1/Q5_x/IQ4_NL (byte j % 16, low nibble for j < 16).
int nibble32(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4); }

// Element e of one block of type t, computed from the layout alone.
float reference_element(TypeId t, const uint8_t* b, int e) {
    static const int kNl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    switch (t) {
        case TypeId::Q4_0: return f16(b) * (nibble32(b + 2, e) - 8);
        case TypeId::Q4_1: return f16(b) * nibble32(b + 4, e) + f16(b + 2);
        case TypeId::Q5_0: return f16(b) * ((nibble32(b + 6, e) | bit(b + 2, e) << 4) - 16);
        case TypeId::Q5_1: return f16(b) * (nibble32(b + 8, e) | bit(b + 4, e) << 4) + f16(b + 2);
        case TypeId::Q8_0: return f16(b) * (int8_t)b[2 + e];
        case TypeId::IQ4_NL: return f16(b) * kNl[nibble32(b + 2, e)];
        case TypeId::Q2_K: {  // scales[16] qs[64] d dmin
            const int q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
            const int sc = b[e / 16];
            return f16(b + 80) * (sc & 15) * q - f16(b + 82) * (sc >> 4);
        }
        case TypeId::Q3_K: {  // hmask[32] qs[64] scales[12] d
            const int low = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
            const int high = bit(b, 8 * (e % 32) + 4 * (e / 128) + (e / 32) % 4);
            const int g = e / 16;
            const uint8_t* s = b + 96;
            const int sc = (g < 8 ? s[g] & 15 : s[g - 8] >> 4) | ((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4;
            return f16(b + 108) * (sc - 32) * (low - (high ? 0 : 4));
        }
        case TypeId::Q4_K:
        case TypeId::Q5_K: {  // d dmin scales[12] (qh[32]) qs[128]
            const bool five = t == TypeId::Q5_K;
            const uint8_t* s = b + 4;
            const uint8_t* qs = b + (five ? 48 : 16);
            const int g = e / 32, l = e % 32;
            int sc, m;
            if (g < 4) {
                sc = s[g] & 63;
                m = s[g + 4] & 63;
            } else {
                sc = (s[g + 4] & 15) | (s[g - 4] >> 6) << 4;
                m = (s[g + 4] >> 4) | (s[g] >> 6) << 4;
            }
            int q = (qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 15;
            if (five) q |= bit(b + 16, 8 * l + g) << 4;
            return f16(b) * sc * q - f16(b + 2) * m;
        }
        case TypeId::Q6_K: {  // ql[128] qh[64] scales[16] d
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const int low = (b[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 15;
            const int high = (b[128 + 32 * h + l] >> (2 * k)) & 3;
            return f16(b + 208) * (int8_t)b[192 + e / 16] * ((low | high << 4) - 32);
        }
        default: return NAN;
    }
}

// Offsets of a block's f16 scale fields, set to small finite values in
// random blocks (random bits there would be inf/nan or absurd).
std::vector<int> half_fields(TypeId t) {
    switch (t) {
        case TypeId::Q4_0: case TypeId::Q5_0: case TypeId::Q8_0: case TypeId::IQ4_NL: return {0};
        case TypeId::Q4_1: case TypeId::Q5_1: case TypeId::Q4_K: case TypeId::Q5_K: return {0, 2};
        case TypeId::Q2_K: return {80, 82};
        case TypeId::Q3_K: return {108};
        case TypeId::Q6_K: return {208};
        default: return {};
    }
}

// n_blocks random blocks of type t: random quant bits, scales of either
// sign around 1e-2 (minimums too: dequantization must not assume a sign).
std::vector<uint8_t> random_blocks(TypeId t, int n_blocks, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v((size_t)n_blocks * bytes_of(t));
    for (uint8_t& x : v) x = (uint8_t)rng();
    std::uniform_real_distribution<float> u(0.002f, 0.02f);
    for (int b = 0; b < n_blocks; b++) {
        for (int off : half_fields(t)) {
            const float s = (rng() & 1) ? u(rng) : -u(rng);
            const uint16_t h = f32_to_f16(s);
            std::memcpy(&v[(size_t)b * bytes_of(t) + off], &h, 2);
        }
    }
    return v;
}

std::vector<float> randn(size_t n, uint32_t seed, float std = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, std);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

}  // namespace

TEST("every weight type dequantizes random blocks exactly as its block layout says") {
    for (TypeId t : kQuantTypes) {
        const int n_blocks = 5, qk = block_of(t);
        const std::vector<uint8_t> w = random_blocks(t, n_blocks, 100 + (uint32_t)t);
        std::vector<float> y((size_t)n_blocks * qk);
        dequantize_row(t, w.data(), y.data(), (int64_t)y.size());
        int mismatches = 0;
        for (int b = 0; b < n_blocks; b++) {
            for (int e = 0; e < qk; e++) {
                const float want = reference_element(t, w.data() + (size_t)b * bytes_of(t), e);
                const float got = y[(size_t)b * qk + e];
                if (!(std::fabs(got - want) <= 1e-6f * std::fabs(want) + 1e-9f)) {
                    if (mismatches++ < 3) {
                        std::fprintf(stderr, "    %s block %d element %d: %g, layout says %g\n", type_name(t), b, e, got, want);
                    }
                }
            }
        }
        CHECK_EQ(mismatches, 0);
    }
}

TEST("SIMD and portable dot products agree for every weight type and match a double reference") {
    for (TypeId t : kQuantTypes) {
        for (int n_blocks : {1, 3, 8}) {
            const int64_t n = (int64_t)n_blocks * block_of(t);
            const std::vector<uint8_t> w = random_blocks(t, n_blocks, 7 * n_blocks + (uint32_t)t);
            const std::vector<float> x = randn((size_t)n, 31 + (uint32_t)n);
            const TypeId at = vec_dot_type(t);
            std::vector<uint8_t> aq(row_size(at, n));
            quantize_row(at, x.data(), aq.data(), n);
            std::vector<float> wd((size_t)n), ad((size_t)n);
            dequantize_row(t, w.data(), wd.data(), n);
            dequantize_row(at, aq.data(), ad.data(), n);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wd[i] * ad[i];
                mag += std::fabs((double)wd[i] * ad[i]);
            }
            const float simd = vec_dot(t, n, w.data(), aq.data());
            const float scalar = vec_dot_scalar(t, n, w.data(), aq.data());
            // Both sum the same exact block integers; only float rounding of
            // the per-block scaling and the final sum may differ.
            CHECK_NEAR(simd, scalar, mag * 2e-6 + 1e-9);
            // Q4_1/Q5_1 take the minimum's share from s, an f16 of d * sum(q):
            // its rounding is part of the format, so the bound is looser.
            const bool via_s = at == TypeId::Q8_1;
            CHECK_NEAR(scalar, ref, mag * (via_s ? 2e-3 : 2e-6) + 1e-9);
        }
    }
}

TEST("Q8_K activations map the largest magnitude to -127 and keep exact group sums") {
    std::vector<float> x = randn(512, 3);
    x[77] = 9.0f;                                           // largest in block 0, positive
    for (int j = 256; j < 512; j++) x[j] = 0.0f;            // an all-zero block
    std::vector<BlockQ8_K> q(2);
    quantize_row(TypeId::Q8_K, x.data(), q.data(), 512);
    CHECK_EQ((int)q[0].qs[77], -127);
    CHECK_NEAR(q[0].d, -9.0f / 127.0f, 1e-7);
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += q[0].qs[16 * g + j];
        CHECK_EQ((int)q[0].bsums[g], s);
    }
    for (int j = 0; j < 256; j++) CHECK_NEAR(q[0].d * q[0].qs[j], x[j], std::fabs(q[0].d) * 0.5f + 1e-6f);
    CHECK_EQ(q[1].d, 0.0f);
    int nonzero = 0;
    for (int j = 0; j < 256; j++) nonzero += q[1].qs[j] != 0;
    for (int g = 0; g < 16; g++) nonzero += q[1].bsums[g] != 0;
    CHECK_EQ(nonzero, 0);
}

TEST("Q8_1 activations carry s = d * sum(q) rounded to f16, and the same bytes as Q8_0") {
    const std::vector<float> x = randn(96, 5, 2.0f);
    std::vector<BlockQ8_1> q1(3);
    std::vector<BlockQ8_0> q0(3);
    quantize_row(TypeId::Q8_1, x.data(), q1.data(), 96);
    quantize_row(TypeId::Q8_0, x.data(), q0.data(), 96);
    for (int b = 0; b < 3; b++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += q1[b].qs[j];
        // s is computed from the unrounded d (amax / 127), as llama.cpp does.
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[32 * b + j]));
        CHECK_EQ(q1[b].s, f32_to_f16(amax / 127.0f * (float)s));
        CHECK_EQ(q1[b].d, q0[b].d);
        CHECK(std::memcmp(q1[b].qs, q0[b].qs, 32) == 0);
    }
}

TEST("weight types pair with llama.cpp's activation types and are listed as supported") {
    CHECK(vec_dot_type(TypeId::Q4_0) == TypeId::Q8_0);
    CHECK(vec_dot_type(TypeId::Q5_0) == TypeId::Q8_0);
    CHECK(vec_dot_type(TypeId::Q8_0) == TypeId::Q8_0);
    CHECK(vec_dot_type(TypeId::IQ4_NL) == TypeId::Q8_0);
    CHECK(vec_dot_type(TypeId::Q4_1) == TypeId::Q8_1);
    CHECK(vec_dot_type(TypeId::Q5_1) == TypeId::Q8_1);
    for (TypeId t : {TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K}) {
        CHECK(vec_dot_type(t) == TypeId::Q8_K);
    }
    const std::string text = supported_types_text();
    for (TypeId t : kQuantTypes) {
        CHECK(type_supported(t));
        CHECK(text.find(type_name(t)) != std::string::npos);
    }
    CHECK(text.find("F32, F16, BF16") == 0);
    for (TypeId t : {TypeId::Q8_1, TypeId::Q8_K, TypeId::IQ2_XS, TypeId::IQ4_XS, TypeId::TQ1_0, TypeId::MXFP4}) {
        CHECK(!type_supported(t));
        CHECK(text.find(std::string(type_name(t)) + ",") == std::string::npos);
    }
    CHECK_THROWS_STATUS(vec_dot_type(TypeId::IQ4_XS), HOB_ERR_UNSUPPORTED_TYPE, "IQ4_XS (supported: F32, F16");
}

TEST("rows that are not a whole number of blocks are refused, naming the type and the block size") {
    std::vector<uint8_t> buf(4096);
    std::vector<float> f(4096);
    CHECK_THROWS_STATUS(row_size(TypeId::Q4_K, 300), HOB_ERR_INVALID_ARGUMENT,
                        "a row of 300 elements of type Q4_K is not a multiple of its block size 256");
    CHECK_THROWS_STATUS(row_size(TypeId::Q5_1, 40), HOB_ERR_INVALID_ARGUMENT, "Q5_1 is not a multiple of its block size 32");
    CHECK_THROWS_STATUS(dequantize_row(TypeId::Q6_K, buf.data(), f.data(), 128), HOB_ERR_INVALID_ARGUMENT, "block size 256");
    CHECK_THROWS_STATUS(quantize_row(TypeId::Q8_K, f.data(), buf.data(), 100), HOB_ERR_INVALID_ARGUMENT, "Q8_K");
    CHECK_THROWS_STATUS(vec_dot(TypeId::IQ4_NL, 48, buf.data(), buf.data()), HOB_ERR_INVALID_ARGUMENT, "IQ4_NL");
    CHECK_THROWS_STATUS(vec_dot_scalar(TypeId::Q3_K, 512 + 32, buf.data(), buf.data()), HOB_ERR_INVALID_ARGUMENT, "Q3_K");
    // A tensor view with such a row reaches matmul only by a bug upstream;
    // it still fails before reading a byte.
    Tensor t;
    t.name = "w";
    t.type = TypeId::Q2_K;
    t.ne[0] = 96;
    t.ne[1] = 2;
    t.data = buf.data();
    t.row_bytes = 84;
    ThreadPool pool(1);
    Scratch scratch;
    scratch.per_thread.resize(1);
    std::vector<float> y(4);
    CHECK_THROWS_STATUS(matmul(pool, scratch, t, f.data(), 1, y.data()), HOB_ERR_INVALID_ARGUMENT, "Q2_K");
    // Whole blocks pass.
    CHECK_EQ(row_size(TypeId::Q4_K, 512), (size_t)288);
    CHECK_EQ(row_size(TypeId::IQ4_NL, 64), (size_t)36);
}

TEST("matmul over every quant type equals its per-row dot products for 1 and 3 threads") {
    for (TypeId t : kQuantTypes) {
        const int64_t cols = 2 * 256, rows = 11;
        const int32_t T = 3;
        const std::vector<uint8_t> wb = random_blocks(t, (int)(cols / block_of(t) * rows), 900 + (uint32_t)t);
        Tensor w;
        w.name = "w";
        w.type = t;
        w.ne[0] = cols;
        w.ne[1] = rows;
        w.row_bytes = row_size(t, cols);
        w.n_bytes = wb.size();
        w.data = wb.data();
        const std::vector<float> x = randn((size_t)(cols * T), 12);
        const TypeId at = vec_dot_type(t);
        std::vector<uint8_t> aq(row_size(at, cols));
        for (int threads : {1, 3}) {
            ThreadPool pool(threads);
            Scratch scratch;
            scratch.per_thread.resize(threads);
            std::vector<float> y((size_t)(rows * T));
            matmul(pool, scratch, w, x.data(), T, y.data());
            for (int32_t tok = 0; tok < T; tok++) {
                quantize_row(at, x.data() + tok * cols, aq.data(), cols);
                for (int64_t r = 0; r < rows; r++) CHECK_EQ(y[tok * rows + r], vec_dot(t, cols, w.row(r), aq.data()));
            }
        }
    }
}

TEST("widened activations hold each token's values, scales and sums where the tile kernels read them") {
    const std::vector<float> x = randn(512, 21, 2.0f);
    // Q8_0: the values, then one scale per block.
    std::vector<BlockQ8_0> q0(16);
    quantize_row(TypeId::Q8_0, x.data(), q0.data(), 512);
    WidenedSize ws = widened_size(TypeId::Q8_0, 512);
    CHECK_EQ(ws.q16, (size_t)512);
    CHECK_EQ(ws.side, (size_t)16);
    std::vector<int16_t> w16(ws.q16);
    std::vector<float> side(ws.side);
    widen_activations(TypeId::Q8_0, q0.data(), 512, w16.data(), side.data());
    for (int j = 0; j < 512; j++) CHECK_EQ((int)w16[j], (int)q0[j / 32].qs[j % 32]);
    for (int b = 0; b < 16; b++) CHECK_EQ(side[b], f16_to_f32(q0[b].d));
    // Q8_1: the values, then the scales d and the sums s.
    std::vector<BlockQ8_1> q1(16);
    quantize_row(TypeId::Q8_1, x.data(), q1.data(), 512);
    ws = widened_size(TypeId::Q8_1, 512);
    CHECK_EQ(ws.q16, (size_t)512);
    CHECK_EQ(ws.side, (size_t)32);
    w16.assign(ws.q16, 0);
    side.assign(ws.side, 0);
    widen_activations(TypeId::Q8_1, q1.data(), 512, w16.data(), side.data());
    for (int j = 0; j < 512; j++) CHECK_EQ((int)w16[j], (int)q1[j / 32].qs[j % 32]);
    for (int b = 0; b < 16; b++) {
        CHECK_EQ(side[b], f16_to_f32(q1[b].d));
        CHECK_EQ(side[16 + b], f16_to_f32(q1[b].s));
    }
    // Q8_K: per super-block its 256 values then its 16 group sums; one scale each.
    std::vector<BlockQ8_K> qk(2);
    quantize_row(TypeId::Q8_K, x.data(), qk.data(), 512);
    ws = widened_size(TypeId::Q8_K, 512);
    CHECK_EQ(ws.q16, (size_t)(2 * 272));
    CHECK_EQ(ws.side, (size_t)2);
    w16.assign(ws.q16, 0);
    side.assign(ws.side, 0);
    widen_activations(TypeId::Q8_K, qk.data(), 512, w16.data(), side.data());
    for (int b = 0; b < 2; b++) {
        for (int j = 0; j < 256; j++) CHECK_EQ((int)w16[272 * b + j], (int)qk[b].qs[j]);
        for (int g = 0; g < 16; g++) CHECK_EQ((int)w16[272 * b + 256 + g], (int)qk[b].bsums[g]);
        CHECK_EQ(side[b], qk[b].d);
    }
    CHECK_THROWS_STATUS(widened_size(TypeId::Q8_K, 300), HOB_ERR_INVALID_ARGUMENT, "Q8_K");
    CHECK_THROWS_STATUS(widened_size(TypeId::F16, 64), HOB_ERR_INTERNAL, "F16");
    // The tile kernels are SIMD128 code: without it no type claims one, and
    // batches take the one-row dots (the matmul test above).
#if !defined(__wasm_simd128__)
    for (TypeId t : kQuantTypes) CHECK(!has_tile_kernel(t));
#endif
}
