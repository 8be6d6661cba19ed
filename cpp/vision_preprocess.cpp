// Image preprocessing for the vision encoders (see vision_preprocess.h).
// The resampler follows Pillow's libImaging/Resample.c, which llama.cpp's
// mtmd reproduces: the same filter support, the same 22-bit fixed-point
// weights rounded half away from zero, the same 8-bit rounding after each
// pass, so that the pixels the encoder sees are the reference's exactly.
#include "vision_preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common.h"

namespace hob {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 8-bit pixels, 2 bits of headroom
constexpr double kPi = 3.14159265358979323846;

double filter_support(ResizeFilter f) {
    switch (f) {
        case ResizeFilter::Bilinear: return 1.0;
        case ResizeFilter::Bicubic: return 2.0;
        case ResizeFilter::Lanczos: return 3.0;
    }
    return 1.0;
}

double sinc(double x) {
    if (x == 0.0) return 1.0;
    const double px = x * kPi;
    return std::sin(px) / px;
}

double filter_weight(ResizeFilter f, double x) {
    switch (f) {
        case ResizeFilter::Lanczos:
            return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
        case ResizeFilter::Bilinear:
            x = std::fabs(x);
            return x < 1.0 ? 1.0 - x : 0.0;
        case ResizeFilter::Bicubic: {
            // Pillow's a = -0.5 (PyTorch and ggml use -0.75).
            constexpr double a = -0.5;
            x = std::fabs(x);
            if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
            return 0.0;
        }
    }
    return 0.0;
}

// One dimension's filter: for output pixel i, inputs [first[i], first[i] +
// count[i]) with fixed-point weights w[i * ksize + j].
struct Kernel {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<int32_t> w;
};

Kernel make_kernel(int in_size, int out_size, ResizeFilter f) {
    const double scale = (double)in_size / out_size;
    // Downscaling widens the filter (anti-aliasing); upscaling keeps it.
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = filter_support(f) * filterscale;
    Kernel k;
    k.ksize = (int)std::ceil(support) * 2 + 1;
    k.first.resize((size_t)out_size);
    k.count.resize((size_t)out_size);
    k.w.assign((size_t)out_size * k.ksize, 0);
    std::vector<double> pre((size_t)k.ksize);
    const double fxp = std::ldexp(1.0, kPrecisionBits);
    for (int i = 0; i < out_size; i++) {
        const double center = (i + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        const int n = hi - lo;
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            pre[(size_t)j] = filter_weight(f, (j + lo - center + 0.5) * ss);
            sum += pre[(size_t)j];
        }
        for (int j = 0; j < n; j++) {
            const double v = sum != 0.0 ? pre[(size_t)j] / sum : pre[(size_t)j];
            // Half away from zero, then truncation: Pillow's rounding.
            k.w[(size_t)i * k.ksize + j] = (int32_t)(v * fxp + (v < 0 ? -0.5 : 0.5));
        }
        k.first[(size_t)i] = lo;
        k.count[(size_t)i] = n;
    }
    return k;
}

uint8_t clip8(int32_t v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

RgbImage resample_horizontal(const RgbImage& src, int out_w, const Kernel& k) {
    RgbImage out{out_w, src.height, std::vector<uint8_t>((size_t)out_w * src.height * 3)};
    for (int y = 0; y < src.height; y++) {
        const uint8_t* row = src.rgb.data() + (size_t)y * src.width * 3;
        uint8_t* dst = out.rgb.data() + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            const int32_t* w = k.w.data() + (size_t)x * k.ksize;
            const uint8_t* p = row + (size_t)k.first[(size_t)x] * 3;
            int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int j = 0; j < k.count[(size_t)x]; j++, p += 3) {
                s0 += p[0] * w[j];
                s1 += p[1] * w[j];
                s2 += p[2] * w[j];
            }
            dst[x * 3 + 0] = clip8(s0 >> kPrecisionBits);
            dst[x * 3 + 1] = clip8(s1 >> kPrecisionBits);
            dst[x * 3 + 2] = clip8(s2 >> kPrecisionBits);
        }
    }
    return out;
}

RgbImage resample_vertical(const RgbImage& src, int out_h, const Kernel& k) {
    const size_t row_n = (size_t)src.width * 3;
    RgbImage out{src.width, out_h, std::vector<uint8_t>(row_n * out_h)};
    std::vector<int32_t> acc(row_n);
    for (int y = 0; y < out_h; y++) {
        const int32_t* w = k.w.data() + (size_t)y * k.ksize;
        std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
        for (int j = 0; j < k.count[(size_t)y]; j++) {
            const uint8_t* row = src.rgb.data() + (size_t)(k.first[(size_t)y] + j) * row_n;
            for (size_t i = 0; i < row_n; i++) acc[i] += row[i] * w[j];
        }
        uint8_t* dst = out.rgb.data() + (size_t)y * row_n;
        for (size_t i = 0; i < row_n; i++) dst[i] = clip8(acc[i] >> kPrecisionBits);
    }
    return out;
}

}  // namespace

RgbImage resize_pillow(const RgbImage& src, int32_t width, int32_t height, ResizeFilter filter) {
    HOB_CHECK(src.width > 0 && src.height > 0 && width > 0 && height > 0, HOB_ERR_INVALID_ARGUMENT,
              "cannot resize a " + std::to_string(src.width) + "x" + std::to_string(src.height) + " image to " +
                  std::to_string(width) + "x" + std::to_string(height));
    RgbImage cur = src;
    if (width != src.width) cur = resample_horizontal(cur, width, make_kernel(src.width, width, filter));
    if (height != src.height) cur = resample_vertical(cur, height, make_kernel(src.height, height, filter));
    return cur;
}

RgbImage resize_padded(const RgbImage& src, int32_t width, int32_t height, ResizeFilter filter) {
    HOB_CHECK(src.width > 0 && src.height > 0 && width > 0 && height > 0, HOB_ERR_INVALID_ARGUMENT,
              "cannot fit a " + std::to_string(src.width) + "x" + std::to_string(src.height) + " image into " +
                  std::to_string(width) + "x" + std::to_string(height));
    if (src.width == width && src.height == height) return src;
    // Float, not double: the reference computes the scale and the sides in
    // float, and a side like 96 * (56 / 96.0f) must round as it does.
    const float scale = std::min((float)width / (float)src.width, (float)height / (float)src.height);
    const int32_t w = std::max(1, std::min((int32_t)std::ceil((float)src.width * scale), width));
    const int32_t h = std::max(1, std::min((int32_t)std::ceil((float)src.height * scale), height));
    const RgbImage fitted = resize_pillow(src, w, h, filter);
    RgbImage out{width, height, std::vector<uint8_t>((size_t)width * height * 3, 0)};
    const int32_t x0 = (width - w) / 2, y0 = (height - h) / 2;
    for (int32_t r = 0; r < h; r++) {
        const uint8_t* from = fitted.rgb.data() + (size_t)r * w * 3;
        std::copy(from, from + (size_t)w * 3, out.rgb.data() + ((size_t)(y0 + r) * width + x0) * 3);
    }
    return out;
}

RgbImage crop(const RgbImage& src, int32_t x, int32_t y, int32_t w, int32_t h) {
    HOB_CHECK(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= src.width && y + h <= src.height, HOB_ERR_OUT_OF_RANGE,
              "crop outside the image");
    RgbImage out{w, h, std::vector<uint8_t>((size_t)w * h * 3)};
    for (int32_t r = 0; r < h; r++) {
        const uint8_t* from = src.rgb.data() + ((size_t)(y + r) * src.width + x) * 3;
        std::copy(from, from + (size_t)w * 3, out.rgb.data() + (size_t)r * w * 3);
    }
    return out;
}

std::vector<float> normalize_planar(const RgbImage& img, const float mean[3], const float std[3]) {
    const size_t n = (size_t)img.width * img.height;
    std::vector<float> out(n * 3);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++) out[c * n + i] = ((float)img.rgb[i * 3 + c] / 255.0f - mean[c]) / std[c];
    }
    return out;
}

Idefics3Size idefics3_size(int32_t width, int32_t height, int32_t tile, int32_t longest_edge) {
    HOB_CHECK(width > 0 && height > 0, HOB_ERR_INVALID_ARGUMENT,
              "image size " + std::to_string(width) + "x" + std::to_string(height) + " is empty");
    HOB_CHECK(tile > 0 && longest_edge > 0, HOB_ERR_INVALID_ARGUMENT, "bad tile or longest edge");
    const double aspect = (double)width / height;
    Idefics3Size out;
    if (width >= height) {
        out.width = longest_edge;
        out.height = (int32_t)(longest_edge / aspect);
        out.height += out.height % 2;
    } else {
        out.height = longest_edge;
        out.width = (int32_t)(longest_edge * aspect);
        out.width += out.width % 2;
    }
    // A sliver (1000 x 1) would round its short side to 0.
    out.width = std::max(out.width, 1);
    out.height = std::max(out.height, 1);
    out.grid_x = (out.width + tile - 1) / tile;
    out.grid_y = (out.height + tile - 1) / tile;
    return out;
}

ImageSize aligned_size(int32_t width, int32_t height, int32_t align, int32_t min_pixels, int32_t max_pixels) {
    HOB_CHECK(width > 0 && height > 0 && align > 0, HOB_ERR_INVALID_ARGUMENT,
              "cannot size a " + std::to_string(width) + "x" + std::to_string(height) + " image");
    const float f = (float)align;
    auto nearest = [&](float v) { return (int32_t)std::round(v / f) * align; };
    auto up = [&](float v) { return (int32_t)std::ceil(v / f) * align; };
    auto down = [&](float v) { return (int32_t)std::floor(v / f) * align; };
    int32_t w = std::max(align, nearest((float)width));
    int32_t h = std::max(align, nearest((float)height));
    const int64_t area = (int64_t)w * h;
    if (max_pixels > 0 && area > max_pixels) {
        const float beta = std::sqrt((float)height * (float)width / (float)max_pixels);
        h = std::max(align, down((float)height / beta));
        w = std::max(align, down((float)width / beta));
    } else if (min_pixels > 0 && area < min_pixels) {
        const float beta = std::sqrt((float)min_pixels / ((float)height * (float)width));
        h = up((float)height * beta);
        w = up((float)width * beta);
    }
    return {w, h};
}

TiledImage tile_idefics3(const RgbImage& img, int32_t tile, int32_t longest_edge) {
    const Idefics3Size size = idefics3_size(img.width, img.height, tile, longest_edge);
    TiledImage out;
    out.grid_x = size.grid_x;
    out.grid_y = size.grid_y;
    const RgbImage resized = resize_pillow(img, size.width, size.height, ResizeFilter::Lanczos);
    const RgbImage refined = resize_pillow(resized, out.grid_x * tile, out.grid_y * tile, ResizeFilter::Lanczos);
    out.overview = resize_pillow(refined, tile, tile, ResizeFilter::Lanczos);
    for (int32_t y = 0; y < out.grid_y; y++) {
        for (int32_t x = 0; x < out.grid_x; x++) out.tiles.push_back(crop(refined, x * tile, y * tile, tile, tile));
    }
    return out;
}

}  // namespace hob
