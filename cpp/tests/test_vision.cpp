// The pixel-side rules of the vision preprocessing that need no weights.
#include "../vision_preprocess.h"
#include "harness.h"

using hob::aligned_size;
using hob::ImageSize;

// Gemma 4's sizes at its test shape (rows of 24 pixels, 70 to 1120 rows):
// the fixture images' sizes as llama.cpp's mtmd resized them.
TEST("aligned_size: small images grow to the minimum, rounded up") {
    const int32_t min_px = 70 * 24 * 24, max_px = 1120 * 24 * 24;
    const ImageSize portrait = aligned_size(40, 96, 24, min_px, max_px);
    CHECK_EQ(portrait.width, 144);
    CHECK_EQ(portrait.height, 312);
    const ImageSize tiny = aligned_size(5, 3, 24, min_px, max_px);
    CHECK_EQ(tiny.width, 264);
    CHECK_EQ(tiny.height, 168);
}

TEST("aligned_size: sizes within the bounds round to the nearest multiple") {
    const ImageSize large = aligned_size(256, 256, 24, 70 * 576, 1120 * 576);
    CHECK_EQ(large.width, 264);
    CHECK_EQ(large.height, 264);
    const ImageSize wide = aligned_size(4000, 10, 24, 70 * 576, 1120 * 576);
    CHECK_EQ(wide.width, 4008);
    CHECK_EQ(wide.height, 24);  // at least one row of pixels
}

TEST("aligned_size: large images shrink under the maximum, rounded down") {
    const int32_t max_px = 1120 * 576;
    const ImageSize big = aligned_size(5000, 3000, 24, 70 * 576, max_px);
    CHECK(big.width % 24 == 0 && big.height % 24 == 0);
    CHECK((int64_t)big.width * big.height <= max_px);
    CHECK(big.width > big.height);
    for (int32_t side : {1, 16384}) {
        const ImageSize s = aligned_size(side, side, 48, 70 * 2304, 1120 * 2304);
        CHECK(s.width >= 48 && s.height >= 48 && (int64_t)s.width * s.height <= 1120 * 2304);
    }
}
