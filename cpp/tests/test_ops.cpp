// Kernel tests: conversions, quantized dot products, matmul, RMSNorm, RoPE
// and attention against straightforward double-precision references, on
// awkward sizes and with several thread counts.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "../common.h"
#include "../kv_cache.h"
#include "../ops/ops.h"
#include "../quants.h"
#include "../threadpool.h"
#include "harness.h"

using namespace hob;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float std = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, std);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

// A weight tensor of `type` quantized from floats, owning its bytes.
struct OwnedTensor {
    std::vector<uint8_t> bytes;
    std::vector<float> dequant;  // what the kernels actually see
    Tensor t;

    OwnedTensor(TypeId type, int64_t cols, int64_t rows, const std::vector<float>& values) {
        const size_t rb = row_size(type, cols);
        bytes.resize(rb * rows);
        dequant.resize((size_t)(cols * rows));
        for (int64_t r = 0; r < rows; r++) {
            const float* src = values.data() + r * cols;
            uint8_t* dst = bytes.data() + r * rb;
            if (type == TypeId::Q4_0) {
                // Q4_0 is a weight-only type: quantize like llama.cpp's reference.
                auto* b = reinterpret_cast<BlockQ4_0*>(dst);
                for (int64_t k = 0; k < cols / 32; k++) {
                    float amax = 0, maxv = 0;
                    for (int j = 0; j < 32; j++) {
                        if (std::fabs(src[k * 32 + j]) > amax) {
                            amax = std::fabs(src[k * 32 + j]);
                            maxv = src[k * 32 + j];
                        }
                    }
                    const float d = maxv / -8.0f;
                    const float id = d ? 1.0f / d : 0.0f;
                    b[k].d = f32_to_f16(d);
                    for (int j = 0; j < 16; j++) {
                        const int lo = std::min(15, (int)(src[k * 32 + j] * id + 8.5f));
                        const int hi = std::min(15, (int)(src[k * 32 + j + 16] * id + 8.5f));
                        b[k].qs[j] = (uint8_t)(lo | (hi << 4));
                    }
                }
            } else {
                quantize_row(type, src, dst, cols);
            }
            dequantize_row(type, dst, dequant.data() + r * cols, cols);
        }
        t.name = "test";
        t.type = type;
        t.ne[0] = cols;
        t.ne[1] = rows;
        t.row_bytes = rb;
        t.n_bytes = bytes.size();
        t.data = bytes.data();
    }
};

const TypeId kAllTypes[] = {TypeId::F32, TypeId::F16, TypeId::BF16, TypeId::Q8_0, TypeId::Q4_0};

}  // namespace

TEST("f16 conversion round-trips every finite half and rounds ties to even") {
    int mismatches = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const uint16_t x = (uint16_t)h;
        const bool nan = (x & 0x7c00) == 0x7c00 && (x & 0x3ff);
        if (nan) {
            CHECK(std::isnan(f16_to_f32(x)));
            continue;
        }
        if (f32_to_f16(f16_to_f32(x)) != x) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    // 1 + 2^-11 lies halfway between 1 and the next half; even mantissa wins.
    CHECK_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
    CHECK_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
    CHECK_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds up to infinity
    CHECK_EQ(f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to the smallest subnormal: even
    CHECK_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);
    CHECK_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

#if defined(__F16C__)
TEST("f16 conversion agrees with the F16C instruction on random floats") {
    std::mt19937 rng(7);
    int mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        const float f = f32_from_bits(rng());
        if (std::isnan(f)) continue;
        const uint16_t want = (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
        if (f32_to_f16(f) != want) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
}
#endif

TEST("bf16 conversion keeps the top bits and rounds to nearest even") {
    CHECK_EQ(f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
    CHECK_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    CHECK_EQ(f32_to_bf16(f32_from_bits(0x3f808001u)), 0x3f81);
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
    CHECK_EQ(bf16_to_f32(0x4049), f32_from_bits(0x40490000u));
}

TEST("Q8_0 activations quantize within half a step and zero blocks stay zero") {
    std::vector<float> x = randn(96, 1);
    for (int j = 32; j < 64; j++) x[j] = 0.0f;  // an all-zero block
    std::vector<BlockQ8_0> q(3);
    quantize_row(TypeId::Q8_0, x.data(), q.data(), 96);
    std::vector<float> y(96);
    dequantize_row(TypeId::Q8_0, q.data(), y.data(), 96);
    for (int b = 0; b < 3; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const float d = f16_to_f32(q[b].d);
        CHECK_NEAR(d, amax / 127.0f, amax / 127.0f * 1e-3 + 1e-12);
        for (int j = 0; j < 32; j++) CHECK_NEAR(y[b * 32 + j], x[b * 32 + j], d * 0.5f + amax * 2e-3f + 1e-12);
    }
    for (int j = 32; j < 64; j++) CHECK_EQ(y[j], 0.0f);
}

TEST("dot products of every type match a double reference on awkward lengths") {
    for (TypeId t : kAllTypes) {
        for (int64_t n : {32, 96, 224, 4128}) {
            const std::vector<float> w = randn((size_t)n, 11 + (uint32_t)n);
            const std::vector<float> a = randn((size_t)n, 23 + (uint32_t)n);
            OwnedTensor wt(t, n, 1, w);
            const TypeId at = vec_dot_type(t);
            std::vector<uint8_t> aq(row_size(at, n));
            quantize_row(at, a.data(), aq.data(), n);
            std::vector<float> ad((size_t)n);
            dequantize_row(at, aq.data(), ad.data(), n);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wt.dequant[i] * ad[i];
                mag += std::fabs((double)wt.dequant[i] * ad[i]);
            }
            const float got = vec_dot(t, n, wt.t.data, aq.data());
            CHECK_NEAR(got, ref, mag * 1e-5 + 1e-6);
        }
    }
}

TEST("matmul equals per-row dot products and is identical for 1, 2 and 3 threads") {
    for (TypeId t : kAllTypes) {
        const int64_t cols = 160, rows = 37;
        const int32_t T = 5;
        OwnedTensor w(t, cols, rows, randn((size_t)(cols * rows), 3, 0.5f));
        const std::vector<float> x = randn((size_t)(cols * T), 4);
        std::vector<std::vector<float>> results;
        for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            Scratch scratch;
            scratch.per_thread.resize(threads);
            std::vector<float> y((size_t)(rows * T));
            matmul(pool, scratch, w.t, x.data(), T, y.data());
            results.push_back(y);
        }
        CHECK(results[0] == results[1]);
        CHECK(results[0] == results[2]);
        // Against a double reference over the converted activations.
        const TypeId at = vec_dot_type(t);
        std::vector<uint8_t> aq(row_size(at, cols));
        std::vector<float> ad((size_t)cols);
        for (int32_t tok = 0; tok < T; tok++) {
            quantize_row(at, x.data() + tok * cols, aq.data(), cols);
            dequantize_row(at, aq.data(), ad.data(), cols);
            for (int64_t r = 0; r < rows; r++) {
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < cols; i++) {
                    ref += (double)w.dequant[r * cols + i] * ad[i];
                    mag += std::fabs((double)w.dequant[r * cols + i] * ad[i]);
                }
                CHECK_NEAR(results[0][tok * rows + r], ref, mag * 1e-5 + 1e-6);
            }
        }
    }
}

TEST("float weights by a batch equal the one-token products") {
    // On wasm the batch runs widened rows in register blocks (bit for bit
    // equal there: test/unit/cpu-kernels.test.ts); natively the same dots.
    // 33 tokens cross a 16-token tile twice and end on an odd one; 70
    // columns end off the 8-element steps; 13 rows end off the 4-row blocks.
    for (TypeId t : {TypeId::F32, TypeId::F16}) {
        const int64_t cols = 70, rows = 13;
        const int32_t T = 33;
        OwnedTensor w(t, cols, rows, randn((size_t)(cols * rows), 5, 0.5f));
        const std::vector<float> x = randn((size_t)(cols * T), 6);
        ThreadPool pool(2);
        Scratch scratch;
        std::vector<float> batch((size_t)(rows * T)), one((size_t)rows);
        matmul(pool, scratch, w.t, x.data(), T, batch.data());
        for (int32_t tok = 0; tok < T; tok++) {
            matmul(pool, scratch, w.t, x.data() + tok * cols, 1, one.data());
            for (int64_t r = 0; r < rows; r++) {
                double mag = 0;
                for (int64_t i = 0; i < cols; i++) mag += std::fabs((double)w.dequant[r * cols + i] * x[tok * cols + i]);
                // Only the order of the f32 sums differs (the activations
                // are rounded to f16 alike for F16).
                CHECK_NEAR(batch[tok * rows + r], one[r], mag * 1e-6 + 1e-7);
            }
        }
    }
}

TEST("GELU from its table equals the f16-rounded tanh formula on every half and past the saturation points") {
    auto direct = [](float v) {
        if (v <= -10.0f) return 0.0f;
        if (v >= 10.0f) return v;
        const float x = f16_to_f32(f32_to_f16(v));
        const float g = 0.5f * x * (1.0f + std::tanh(0.79788456080286535587989211986876f * x * (1.0f + 0.044715f * x * x)));
        return f16_to_f32(f32_to_f16(g));
    };
    std::vector<float> xs;
    for (uint32_t h = 0; h < 65536; h++) {
        const float v = f16_to_f32((uint16_t)h);
        if (!std::isnan(v)) xs.push_back(v);
    }
    // Floats between halves (rounded before the lookup) and around +-10.
    for (float v : {9.9999f, 10.0f, 10.001f, -9.9999f, -10.0f, -10.001f, 0.1234567f, -3.3333333f, 1e-9f}) xs.push_back(v);
    std::vector<float> y = xs;
    gelu(y.data(), (int64_t)y.size());
    int mismatches = 0;
    for (size_t i = 0; i < xs.size(); i++) {
        const float want = direct(xs[i]);
        if (std::memcmp(&y[i], &want, sizeof want) != 0) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
}

TEST("rmsnorm scales rows to unit root mean square times the weight") {
    const int32_t n = 77, T = 3;
    const std::vector<float> x = randn(n * T, 5, 3.0f);
    const std::vector<float> w = randn(n, 6);
    std::vector<float> y(n * T);
    rmsnorm(x.data(), w.data(), y.data(), T, n, 1e-6f);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)x[t * n + i] * x[t * n + i];
        const double s = 1.0 / std::sqrt(ss / n + 1e-6);
        for (int i = 0; i < n; i++) CHECK_NEAR(y[t * n + i], x[t * n + i] * s * w[i], 1e-5 * std::fabs(x[t * n + i] * s * w[i]) + 1e-6);
    }
}

TEST("rope rotates each pair by pos * base^(-2i/n_rot) in both pairings and leaves the rest") {
    const int32_t heads = 3, hd = 12, T = 4;
    const int32_t pos[T] = {0, 1, 17, 2719};
    for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
        RopeParams p;
        p.style = style;
        p.n_rot = 8;  // partial rotation: dims 8..11 untouched
        p.freq_base = 10000.0f;
        const std::vector<float> x0 = randn(T * heads * hd, 8);
        std::vector<float> x = x0;
        rope(x.data(), T, heads, hd, pos, p);
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < heads; h++) {
                const float* a = x0.data() + (t * heads + h) * hd;
                const float* b = x.data() + (t * heads + h) * hd;
                for (int i = 0; i < p.n_rot / 2; i++) {
                    const int i0 = style == RopeStyle::Normal ? 2 * i : i;
                    const int i1 = style == RopeStyle::Normal ? 2 * i + 1 : i + p.n_rot / 2;
                    const double ang = pos[t] * std::pow(10000.0, -2.0 * i / p.n_rot);
                    const double e0 = a[i0] * std::cos(ang) - a[i1] * std::sin(ang);
                    const double e1 = a[i0] * std::sin(ang) + a[i1] * std::cos(ang);
                    // Float angles at position 2719 carry ~1e-4 absolute error.
                    CHECK_NEAR(b[i0], e0, 2e-3);
                    CHECK_NEAR(b[i1], e1, 2e-3);
                }
                for (int i = p.n_rot; i < hd; i++) CHECK_EQ(b[i], a[i]);
            }
        }
    }
}

TEST("rope by a then by b equals rope by a + b (the shift identity)") {
    RopeParams p;
    p.n_rot = 16;
    const std::vector<float> x0 = randn(16, 9);
    std::vector<float> once = x0, twice = x0;
    const int32_t a = 100, b = -49, ab = 51;
    rope(once.data(), 1, 1, 16, &ab, p);
    rope(twice.data(), 1, 1, 16, &a, p);
    rope(twice.data(), 1, 1, 16, &b, p);
    for (int i = 0; i < 16; i++) CHECK_NEAR(once[i], twice[i], 1e-4);
}

TEST("attention matches a double reference with GQA and a causal mask") {
    const AttentionShape s{4, 2, 16, 0.25f};
    const int32_t n_ctx = 40, cell0 = 9, T = 6;
    KvCache kv(1, n_ctx, s.n_head_kv * s.head_dim);
    const int32_t n_cells = cell0 + T;
    const std::vector<float> k = randn(n_cells * kv.kv_dim(), 10);
    const std::vector<float> v = randn(n_cells * kv.kv_dim(), 11);
    kv_store(kv, 0, 0, n_cells, k.data(), v.data());
    const std::vector<float> q = randn(T * s.n_head * s.head_dim, 12);
    std::vector<float> out(q.size());
    ThreadPool pool(2);
    Scratch scratch;
    scratch.per_thread.resize(2);
    attention(pool, scratch, kv, 0, cell0, T, s, q.data(), out.data());
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < s.n_head; h++) {
            const int kvh = h / (s.n_head / s.n_head_kv);
            const int n = cell0 + t + 1;
            std::vector<double> sc(n);
            double mx = -1e300, sum = 0;
            for (int c = 0; c < n; c++) {
                double d = 0;
                for (int i = 0; i < s.head_dim; i++) {
                    d += (double)q[(t * s.n_head + h) * s.head_dim + i] *
                         f16_to_f32(f32_to_f16(k[c * kv.kv_dim() + kvh * s.head_dim + i]));
                }
                sc[c] = d * s.scale;
                mx = std::max(mx, sc[c]);
            }
            for (int c = 0; c < n; c++) sum += (sc[c] = std::exp(sc[c] - mx));
            for (int i = 0; i < s.head_dim; i++) {
                double o = 0;
                for (int c = 0; c < n; c++) o += sc[c] / sum * f16_to_f32(f32_to_f16(v[c * kv.kv_dim() + kvh * s.head_dim + i]));
                // f16 rounding of q and of the probabilities bounds the error.
                CHECK_NEAR(out[(t * s.n_head + h) * s.head_dim + i], o, 3e-3);
            }
        }
    }
}

TEST("attention of a batch equals its rows attended one at a time, bit for bit") {
    // Batches group rows that share a KV head; an odd group, a head size with
    // a tail past the vector width, a window and soft-capping cover the
    // partial groups and per-row cell ranges.
    AttentionShape s{6, 2, 20, 0.3f};
    s.window = 7;
    s.softcap = 5.0f;
    const int32_t cell0 = 5, T = 11, n_cells = cell0 + T;
    KvCache kv(1, 32, s.n_head_kv * s.head_dim);
    kv.reserve(n_cells, 0);
    kv.commit(n_cells);
    const std::vector<float> k = randn(n_cells * kv.kv_dim(), 20);
    const std::vector<float> v = randn(n_cells * kv.kv_dim(), 21);
    kv_store(kv, 0, 0, n_cells, k.data(), v.data());
    const size_t row = (size_t)s.n_head * s.head_dim;
    const std::vector<float> q = randn(T * row, 22, 2.0f);
    for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        Scratch scratch;
        scratch.per_thread.resize(threads);
        std::vector<float> batch(q.size()), single(q.size());
        attention(pool, scratch, kv, 0, cell0, T, s, q.data(), batch.data());
        for (int32_t t = 0; t < T; t++) {
            attention(pool, scratch, kv, 0, cell0 + t, 1, s, q.data() + t * row, single.data() + t * row);
        }
        int differ = 0;
        for (size_t i = 0; i < q.size(); i++) differ += bits_from_f32(batch[i]) != bits_from_f32(single[i]);
        CHECK_EQ(differ, 0);
    }
}

TEST("threaded RMSNorm and gated activations equal the single-threaded ones, bit for bit") {
    const int32_t T = 37, n = 1000;
    const std::vector<float> x = randn((size_t)T * n, 30, 3.0f);
    const std::vector<float> w = randn(n, 31);
    const std::vector<float> up = randn((size_t)T * n, 32);
    std::vector<float> ref((size_t)T * n), ref_silu = x, ref_gelu = x;
    rmsnorm(x.data(), w.data(), ref.data(), T, n, 1e-5f);
    silu_mul(ref_silu.data(), up.data(), (int64_t)T * n);
    gelu_mul(ref_gelu.data(), up.data(), (int64_t)T * n);
    for (int threads : {2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> y((size_t)T * n), silu = x, gelu = x;
        rmsnorm(pool, x.data(), w.data(), y.data(), T, n, 1e-5f);
        silu_mul(pool, silu.data(), up.data(), (int64_t)T * n);
        gelu_mul(pool, gelu.data(), up.data(), (int64_t)T * n);
        int differ = 0;
        for (size_t i = 0; i < y.size(); i++) {
            differ += bits_from_f32(y[i]) != bits_from_f32(ref[i]);
            differ += bits_from_f32(silu[i]) != bits_from_f32(ref_silu[i]);
            differ += bits_from_f32(gelu[i]) != bits_from_f32(ref_gelu[i]);
        }
        CHECK_EQ(differ, 0);
    }
}

TEST("row conversions to and from f16 equal the element conversions on every half and edge floats") {
    std::vector<uint16_t> h(65536);
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    std::vector<float> f(65536);
    f16_to_f32_row(h.data(), f.data(), 65536);
    int differ = 0;
    for (uint32_t i = 0; i < 65536; i++) differ += bits_from_f32(f[i]) != bits_from_f32(f16_to_f32((uint16_t)i));
    CHECK_EQ(differ, 0);
    // Around every rounding boundary of the half range: halfway points,
    // subnormals, overflow, inf and nan, both signs.
    std::vector<float> x;
    for (uint32_t hv = 0; hv < 0x8000; hv++) {
        const uint32_t b = bits_from_f32(f16_to_f32((uint16_t)hv));
        for (int32_t d : {-0x1001, -0x1000, -0xfff, -1, 0, 1, 0xfff, 0x1000, 0x1001}) {
            for (uint32_t sign : {0u, 0x80000000u}) x.push_back(f32_from_bits(((b + (uint32_t)d) & 0x7fffffffu) | sign));
        }
    }
    for (uint32_t b : {0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x7fffffffu, 0x477ff000u, 0x477fefffu, 0x38800000u,
                       0x387fffffu, 0x33000000u, 0x33000001u, 0x32ffffffu, 0x00000001u}) {
        x.push_back(f32_from_bits(b));
        x.push_back(f32_from_bits(b | 0x80000000u));
    }
    std::vector<uint16_t> y(x.size());
    f32_to_f16_row(x.data(), y.data(), (int64_t)x.size());
    differ = 0;
    for (size_t i = 0; i < x.size(); i++) differ += y[i] != f32_to_f16(x[i]);
    CHECK_EQ(differ, 0);
}

TEST("thread pool runs every task exactly once, over many consecutive jobs") {
    for (int threads : {1, 2, 4, 7}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> hits(1000);
        long total = 0;
        for (int job = 0; job < 2000; job++) {
            const int n = 1 + job % 37;
            std::atomic<long> sum{0};
            pool.run(n, [&](int task, int thread) {
                if (thread < 0 || thread >= pool.size()) sum += 1000000;  // out-of-range thread id
                hits[task]++;
                sum += task;
            });
            CHECK_EQ(sum.load(), (long)n * (n - 1) / 2);
            total += n;
        }
        long counted = 0;
        for (auto& h : hits) counted += h.load();
        CHECK_EQ(counted, total);
    }
}

TEST("KV cache refuses ranges outside the context with the numbers, and keeps its state") {
    KvCache kv(2, 8, 4);
    kv.reserve(5, 0);
    kv.commit(5);
    CHECK_EQ(kv.size(), 5);
    CHECK_THROWS_STATUS(kv.reserve(4, 5), HOB_ERR_CONTEXT_FULL, "5 of 8");
    CHECK_EQ(kv.size(), 5);
    CHECK_THROWS_STATUS(kv.k(2, 0), HOB_ERR_OUT_OF_RANGE, "layer 2");
    CHECK_THROWS_STATUS(kv.v(0, 8), HOB_ERR_OUT_OF_RANGE, "cell 8");
    CHECK_THROWS_STATUS(kv.k(0, -1), HOB_ERR_OUT_OF_RANGE, "cell -1");
    CHECK_THROWS_STATUS(kv.k_rows(0, 6, 3), HOB_ERR_OUT_OF_RANGE, "[6, 9)");
    CHECK_THROWS_STATUS(kv.truncate(6), HOB_ERR_OUT_OF_RANGE, "holds 5");
    CHECK_THROWS_STATUS(kv.truncate(-1), HOB_ERR_OUT_OF_RANGE, "-1");
    kv.truncate(2);
    CHECK_EQ(kv.size(), 2);
    CHECK_EQ(kv.pos(1), 1);
    CHECK_EQ(kv.pos(2), -1);
}
