// The repacked layout of the relaxed-SIMD kernels (quants_relaxed.h, Q4_0,
// Q4_K and Q6_K),
// which is portable code: repacking then unpacking gives the original blocks back,
// a repacked row dequantizes to the original values, and the relaxed
// activations hold each block's values in the repacked order, its lane sums
// times -8 and its scale. The lane order is the SIMD128 kernels' (elements
// 2k, 2k+1, 2k+8, 2k+9 of 16 in lane k), on which bit-identity rests; the
// kernels themselves run only in relaxed-SIMD wasm and are compared with the
// SIMD128 build in Chromium (test/browser/relaxed.test.ts).
#include <cstring>
#include <random>
#include <vector>

#include "../quants.h"
#include "../quants_impl.h"
#include "../quants_relaxed.h"
#include "../tensor.h"
#include "harness.h"

using namespace hob;

namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = (uint8_t)rng();
    return out;
}

// Valid Q4_0 blocks: random quants, a finite f16 scale in each block's first two bytes.
std::vector<uint8_t> random_rows(TypeId t, int64_t rows, int64_t cols, uint32_t seed) {
    std::vector<uint8_t> data = random_bytes(row_size(t, cols) * (size_t)rows, seed);
    const size_t bb = sizeof(BlockQ4_0);
    for (size_t b = 0; b < data.size() / bb; b++) {
        data[b * bb] = (uint8_t)(b * 7);
        data[b * bb + 1] = 0x2c;  // about 0.06 .. 0.12
    }
    return data;
}

// Wraps repacked rows in a tensor and checks that each row unpacks to the
// original bytes and dequantizes to the original row's values.
void check_round_trip(TypeId t, const std::vector<uint8_t>& orig, std::vector<uint8_t>& packed, int64_t rows, int64_t cols) {
    Tensor w;
    w.type = t;
    w.ne[0] = cols;
    w.ne[1] = rows;
    w.data = packed.data();
    w.row_bytes = row_size(t, cols);
    w.n_bytes = w.row_bytes * rows;
    w.repacked = true;
    for (int64_t r = 0; r < rows; r++) {
        std::vector<uint8_t> back(w.row_bytes);
        unpack_row(t, w.row(r), cols, back.data());
        CHECK(std::memcmp(back.data(), orig.data() + r * w.row_bytes, w.row_bytes) == 0);
        std::vector<float> a(cols), b(cols);
        dequantize_row(t, orig.data() + r * w.row_bytes, a.data(), cols);
        dequantize_tensor_row(w, r, b.data());
        CHECK(std::memcmp(a.data(), b.data(), cols * sizeof(float)) == 0);
    }
}

}  // namespace

TEST("the repacked order puts elements 2k, 2k+1, 2k+8, 2k+9 of each 16 in lane k") {
    for (int k = 0; k < 4; k++) {
        CHECK_EQ((int)kRelaxedOrder[4 * k + 0], 2 * k);
        CHECK_EQ((int)kRelaxedOrder[4 * k + 1], 2 * k + 1);
        CHECK_EQ((int)kRelaxedOrder[4 * k + 2], 2 * k + 8);
        CHECK_EQ((int)kRelaxedOrder[4 * k + 3], 2 * k + 9);
    }
}

TEST("Q4_0 rows repack and unpack to the same bytes, and dequantize to the same values") {
    for (TypeId t : {TypeId::Q4_0}) {
        const int64_t rows = 3, cols = 96;
        const std::vector<uint8_t> orig = random_rows(t, rows, cols, 5 + (uint32_t)t);
        std::vector<uint8_t> packed = orig;
        repack_rows(t, packed.data(), rows, cols);
        CHECK(packed != orig);
        check_round_trip(t, orig, packed, rows, cols);
    }
}

TEST("relaxed activations hold the values in repacked order, -8 x lane sums and the scales") {
    const int64_t n = 64;
    std::vector<float> x(n);
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> q(row_size(TypeId::Q8_0, n));
    quantize_row(TypeId::Q8_0, x.data(), q.data(), n);
    std::vector<uint8_t> out(relaxed_act_bytes(TypeId::Q8_0, n));
    CHECK_EQ(out.size(), (size_t)(n + (n / 32) * 20));
    relax_activations(TypeId::Q8_0, q.data(), n, out.data());
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(q.data());
    const int8_t* vals = reinterpret_cast<const int8_t*>(out.data());
    for (int64_t b = 0; b < n / 32; b++) {
        int32_t lane[4] = {0, 0, 0, 0};
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 16; p++) {
                const int8_t v = blk[b].qs[16 * h + kRelaxedOrder[p]];
                CHECK_EQ((int)vals[b * 32 + 16 * h + p], (int)v);
                lane[p / 4] += v;
            }
        }
        int32_t sums[4];
        std::memcpy(sums, out.data() + n + b * 16, 16);
        for (int k = 0; k < 4; k++) CHECK_EQ(sums[k], -8 * lane[k]);
        float d;
        std::memcpy(&d, out.data() + n + (n / 32) * 16 + b * 4, 4);
        CHECK_EQ(d, qk::half(blk[b].d));
    }
}

TEST("Q4_K rows repack 16 quant bytes at a time and unpack and dequantize to the originals") {
    const int64_t rows = 2, cols = 512;
    const size_t bb = sizeof(BlockQ4_K);
    std::vector<uint8_t> orig = random_bytes(row_size(TypeId::Q4_K, cols) * rows, 21);
    for (size_t b = 0; b < orig.size() / bb; b++) {
        orig[b * bb + 1] = 0x2c;  // d and dmin: finite halves
        orig[b * bb + 3] = 0x28;
    }
    std::vector<uint8_t> packed = orig;
    repack_rows(TypeId::Q4_K, packed.data(), rows, cols);
    for (size_t b = 0; b < orig.size() / bb; b++) {
        const uint8_t* p = packed.data() + b * bb;
        const uint8_t* o = orig.data() + b * bb;
        CHECK(std::memcmp(p, o, 16) == 0);  // d, dmin, scales stay
        for (int i = 0; i < 128; i += 16) {
            for (int q = 0; q < 16; q++) CHECK_EQ((int)p[16 + i + q], (int)o[16 + i + kRelaxedOrder[q]]);
        }
    }
    check_round_trip(TypeId::Q4_K, orig, packed, rows, cols);
}

TEST("relaxed Q8_K activations hold the values in repacked order, the scales and the sums of 32") {
    const int64_t n = 512;
    std::vector<float> x(n);
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> q(row_size(TypeId::Q8_K, n));
    quantize_row(TypeId::Q8_K, x.data(), q.data(), n);
    std::vector<uint8_t> out(relaxed_act_bytes(TypeId::Q8_K, n));
    CHECK_EQ(out.size(), (size_t)(n + (n / 256) * 292));
    relax_activations(TypeId::Q8_K, q.data(), n, out.data());
    const BlockQ8_K* blk = reinterpret_cast<const BlockQ8_K*>(q.data());
    for (int64_t b = 0; b < n / 256; b++) {
        for (int i = 0; i < 256; i++) {
            CHECK_EQ((int)(int8_t)out[b * 256 + i], (int)blk[b].qs[(i / 16) * 16 + kRelaxedOrder[i % 16]]);
        }
        float d;
        std::memcpy(&d, out.data() + n + b * 4, 4);
        CHECK_EQ(d, blk[b].d);
        for (int g = 0; g < 8; g++) {
            int32_t sum = 0, want = 0;
            std::memcpy(&sum, out.data() + n + (n / 256) * 4 + b * 32 + g * 4, 4);
            for (int i = 0; i < 32; i++) want += blk[b].qs[32 * g + i];
            CHECK_EQ(sum, want);
        }
        // Q6_K's offsets: lane k of group g is -32 x elements 2k, 2k + 1,
        // 2k + 8, 2k + 9 of the group (the SIMD128 kernels' lane).
        for (int g = 0; g < 16; g++) {
            for (int k = 0; k < 4; k++) {
                int32_t off = 0;
                std::memcpy(&off, out.data() + n + (n / 256) * 36 + (b * 16 + g) * 16 + k * 4, 4);
                const int8_t* v = blk[b].qs + 16 * g;
                CHECK_EQ(off, -32 * (v[2 * k] + v[2 * k + 1] + v[2 * k + 8] + v[2 * k + 9]));
            }
        }
    }
}

TEST("Q6_K rows repack ql and qh 16 bytes at a time and unpack and dequantize to the originals") {
    const int64_t rows = 2, cols = 512;
    const size_t bb = sizeof(BlockQ6_K);
    std::vector<uint8_t> orig = random_bytes(row_size(TypeId::Q6_K, cols) * rows, 23);
    for (size_t b = 0; b < orig.size() / bb; b++) {
        orig[b * bb + 208] = 0;
        orig[b * bb + 209] = 0x2c;  // d: a finite half
    }
    std::vector<uint8_t> packed = orig;
    repack_rows(TypeId::Q6_K, packed.data(), rows, cols);
    for (size_t b = 0; b < orig.size() / bb; b++) {
        const uint8_t* p = packed.data() + b * bb;
        const uint8_t* o = orig.data() + b * bb;
        for (int i = 0; i < 192; i += 16) {
            for (int q = 0; q < 16; q++) CHECK_EQ((int)p[i + q], (int)o[i + kRelaxedOrder[q]]);
        }
        CHECK(std::memcmp(p + 192, o + 192, 18) == 0);  // scales and d stay
    }
    check_round_trip(TypeId::Q6_K, orig, packed, rows, cols);
}

TEST("no other type has a repacked layout") {
    for (TypeId t : {TypeId::Q8_0, TypeId::Q4_1, TypeId::Q5_K}) {
        CHECK(!repack_wanted(t));
        uint8_t buf[sizeof(BlockQ8_0)] = {};
        CHECK_THROWS_STATUS(repack_rows(t, buf, 1, 32), HOB_ERR_INTERNAL, "no repacked layout");
    }
}

TEST("a native build repacks nothing, and its relaxed kernel entry point refuses") {
    CHECK(!repack_wanted(TypeId::Q4_0));
    CHECK(!repack_wanted(TypeId::Q4_K));
    CHECK(!repack_wanted(TypeId::Q6_K));
    float y = 0;
    CHECK_THROWS_STATUS(dot_relaxed(TypeId::Q4_0, 32, nullptr, 0, 1, nullptr, 1, &y), HOB_ERR_INTERNAL, "no relaxed kernel");
}
