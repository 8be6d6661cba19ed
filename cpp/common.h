// Engine-wide basics: the error type every layer throws, status codes shared
// with the C API, and half-precision conversions. Nothing model-specific.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <stdexcept>

#include "api.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace hob {

class Error;

// The status and message of the last hob::Error constructed on this thread.
// The C API reads it when a catch clause cannot name the type: in the
// threaded wasm build (emscripten 3.1.6, wasm exceptions) typed catch
// clauses do not match, and only catch (...) sees the exception.
struct ThrownError {
    hob_status status = HOB_OK;
    std::string message;
};
ThrownError& last_thrown();

// Thrown inside the engine; the C API turns it into a status plus message.
class Error : public std::runtime_error {
public:
    Error(hob_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {
        last_thrown() = {status, message};
    }
    hob_status status() const { return status_; }

private:
    hob_status status_;
};

[[noreturn]] inline void fail(hob_status status, const std::string& message) {
    throw Error(status, message);
}

// Precondition checks that stay on in every build: they guard memory we do
// not own (cache indices, tensor bounds), so a release build keeps them.
#define HOB_CHECK(cond, status, msg)                 \
    do {                                             \
        if (!(cond)) ::hob::fail((status), (msg));   \
    } while (0)

// ---- IEEE half and bfloat16 ----------------------------------------------

inline float f32_from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline uint32_t bits_from_f32(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Exact conversion of every half value, subnormals included.
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return f32_from_bits(sign);
    // Subnormal half: value = mant * 2^-24.
    const float v = (float)mant * (1.0f / 16777216.0f);
    return (sign ? -v : v);
}

// Round to nearest even, as the F16C instruction (and so llama.cpp) does.
inline uint16_t f32_to_f16(float f) {
    const uint32_t x = bits_from_f32(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t abs = x & 0x7fffffff;
    if (abs >= 0x7f800000u) {  // inf or nan
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    }
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  // overflow to inf
    if (abs < 0x38800000u) {                                    // subnormal or zero
        // Let the FPU do the rounding: adding 0.5 aligns the mantissa.
        const float v = f32_from_bits(abs) + 0.5f;
        return (uint16_t)(sign | (bits_from_f32(v) - 0x3f000000u));
    }
    const uint32_t mant_odd = (abs >> 13) & 1;
    const uint32_t r = abs + 0xc8000fffu + mant_odd;  // rebias exponent, round
    return (uint16_t)(sign | (r >> 13));
}

#if defined(__wasm_simd128__)
// Eight halves to eight floats, exactly as f16_to_f32: the exponent and
// mantissa move into float position and a multiply by 2^112 rebiases them
// (half subnormals become float normals exactly); inf/nan are patched.
inline void f16x8_to_f32x4x2(v128_t h, v128_t* lo, v128_t* hi) {
    const v128_t magic = wasm_f32x4_splat(5.192296858534828e+33f);  // 2^112
    const v128_t inf_in = wasm_i32x4_splat(0x7c00 << 13);
    for (int part = 0; part < 2; part++) {
        const v128_t w = part ? wasm_u32x4_extend_high_u16x8(h) : wasm_u32x4_extend_low_u16x8(h);
        const v128_t sign = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x8000)), 16);
        const v128_t em = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x7fff)), 13);
        v128_t f = wasm_f32x4_mul(em, magic);
        f = wasm_v128_bitselect(wasm_v128_or(em, wasm_i32x4_splat(0x7f800000)), f, wasm_i32x4_ge(em, inf_in));
        f = wasm_v128_or(f, sign);
        if (part) *hi = f; else *lo = f;
    }
}

// Four floats to four halves in the low 16 bits of each lane, rounding
// exactly as f32_to_f16 (the same three ranges, selected per lane).
inline v128_t f32x4_to_f16_lanes(v128_t f) {
    const v128_t sign = wasm_v128_and(wasm_u32x4_shr(f, 16), wasm_i32x4_splat(0x8000));
    const v128_t abs = wasm_v128_and(f, wasm_i32x4_splat(0x7fffffff));
    // Normal: rebias the exponent and round to nearest even.
    const v128_t odd = wasm_v128_and(wasm_u32x4_shr(abs, 13), wasm_i32x4_splat(1));
    const v128_t normal =
        wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_add(abs, wasm_i32x4_splat((int32_t)0xc8000fffu)), odd), 13);
    // Subnormal or zero: adding 0.5 lets the float add round the mantissa.
    const v128_t sub = wasm_i32x4_sub(wasm_f32x4_add(abs, wasm_f32x4_splat(0.5f)), wasm_i32x4_splat(0x3f000000));
    // Overflow to inf; nan keeps a quiet bit.
    const v128_t is_nan = wasm_i32x4_gt(abs, wasm_i32x4_splat(0x7f800000));
    const v128_t special = wasm_v128_or(wasm_i32x4_splat(0x7c00), wasm_v128_and(is_nan, wasm_i32x4_splat(0x200)));
    v128_t r = wasm_v128_bitselect(sub, normal, wasm_i32x4_lt(abs, wasm_i32x4_splat(0x38800000)));
    r = wasm_v128_bitselect(special, r, wasm_i32x4_ge(abs, wasm_i32x4_splat(0x477ff000)));
    return wasm_v128_or(r, sign);
}

// Eight floats (two vectors) to eight halves.
inline v128_t f32x4x2_to_f16x8(v128_t lo, v128_t hi) {
    return wasm_u16x8_narrow_i32x4(f32x4_to_f16_lanes(lo), f32x4_to_f16_lanes(hi));
}
#endif

// n floats to halves and back, element by element as the scalar functions.
inline void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
#if defined(__wasm_simd128__)
    for (; i + 8 <= n; i += 8) {
        wasm_v128_store(y + i, f32x4x2_to_f16x8(wasm_v128_load(x + i), wasm_v128_load(x + i + 4)));
    }
#endif
    for (; i < n; i++) y[i] = f32_to_f16(x[i]);
}

inline void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__wasm_simd128__)
    for (; i + 8 <= n; i += 8) {
        v128_t lo, hi;
        f16x8_to_f32x4x2(wasm_v128_load(x + i), &lo, &hi);
        wasm_v128_store(y + i, lo);
        wasm_v128_store(y + i + 4, hi);
    }
#endif
    for (; i < n; i++) y[i] = f16_to_f32(x[i]);
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

inline uint16_t f32_to_bf16(float f) {
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);  // quiet nan
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

}  // namespace hob
