// Engine-wide basics: the error type every layer throws, status codes shared
// with the C API, and half-precision conversions. Nothing model-specific.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <stdexcept>

#include "api.h"

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
