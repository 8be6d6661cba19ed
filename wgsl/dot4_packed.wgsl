// The signed 8-bit dot product of four packed bytes a and b, from WGSL's
// packed_4x8_integer_dot_product (src/gpu/kernels/pipelines.ts adds its
// `requires` where the device has it; dot4_unpacked.wgsl is the fallback).
fn dot4(a: u32, b: u32) -> i32 {
  return dot4I8Packed(a, b);
}
