// What llama.cpp's mtmd does to an image before its vision encoder sees it:
// Pillow-compatible resampling of 8-bit RGB, crops, the [0, 1] scaling with
// the projector's mean and standard deviation, and each projector's split of
// an image into the sub-images it encodes. Pure functions of the pixels, no
// weights: clip.cpp calls them.
#pragma once

#include <cstdint>
#include <vector>

namespace hob {

// 8-bit RGB, row-major, three bytes a pixel.
struct RgbImage {
    int32_t width = 0;
    int32_t height = 0;
    std::vector<uint8_t> rgb;
};

enum class ResizeFilter { Bilinear, Bicubic, Lanczos };

// Resamples to width x height as Pillow's Image.resize does (separable,
// horizontal pass first, 22-bit fixed-point weights, each pass rounded to
// 8 bits): llama.cpp's mtmd follows Pillow bit for bit, and so does this.
RgbImage resize_pillow(const RgbImage& src, int32_t width, int32_t height, ResizeFilter filter);

// Fits src into width x height keeping its aspect ratio, as mtmd's
// PAD_CEIL resize does: the scale is the smaller of the two side ratios (in
// float), each side of the resized image ceil(side * scale) capped at the
// target, centred (offsets rounded down) on black. Gemma 3's preprocessing.
RgbImage resize_padded(const RgbImage& src, int32_t width, int32_t height, ResizeFilter filter);

// The w x h rectangle at (x, y), which must lie inside src.
RgbImage crop(const RgbImage& src, int32_t x, int32_t y, int32_t w, int32_t h);

// Channel-planar floats (all R, then G, then B), each (v / 255 - mean) / std.
std::vector<float> normalize_planar(const RgbImage& img, const float mean[3], const float std[3]);

// SmolVLM's (idefics3's) split: the image is resized, keeping its aspect
// ratio, so that its longer side is longest_edge (the shorter one rounded
// down, then up to even), then stretched to the next multiples of tile on
// both sides and cut into grid_x x grid_y tiles; the overview is the
// stretched image resized to one tile.
struct TiledImage {
    int32_t grid_x = 0;
    int32_t grid_y = 0;
    std::vector<RgbImage> tiles;  // row by row
    RgbImage overview;
};
TiledImage tile_idefics3(const RgbImage& img, int32_t tile, int32_t longest_edge);

// The size tile_idefics3 resizes a width x height image to first (before
// the stretch to whole tiles), and its grid: the layout without the pixels.
struct Idefics3Size {
    int32_t width = 0, height = 0, grid_x = 0, grid_y = 0;
};
Idefics3Size idefics3_size(int32_t width, int32_t height, int32_t tile, int32_t longest_edge);

// The size mtmd's dynamic-size preprocessing (Gemma 4's) resizes a width x
// height image to: each side rounded to the nearest multiple of align (at
// least align); when the area is over max_pixels both sides are scaled down
// by the square root of the ratio and rounded down to multiples of align
// (at least align), when under min_pixels scaled up and rounded up. The
// arithmetic is in float, as the reference does it. The image is then
// fitted into that size (resize_padded).
struct ImageSize {
    int32_t width = 0, height = 0;
};
ImageSize aligned_size(int32_t width, int32_t height, int32_t align, int32_t min_pixels, int32_t max_pixels);

}  // namespace hob
