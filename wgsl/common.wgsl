// Shared by every kernel (prepended to each module by src/gpu/kernels.ts):
// the per-forward Frame uniform, workgroup-grid linearization, exact f16
// rounding, and the weight-group record dequant_*.wgsl return.
// No bindings of its own; no entry point.

// Written by the runner before each forward (16 bytes).
struct Frame {
  n_tokens: u32,  // rows of this batch
  cell0: u32,     // KV cell of row 0
  n_kv: u32,      // cells visible after this batch: cell0 + n_tokens
  _pad: u32,
}

// Grids wider than maxComputeWorkgroupsPerDimension (65535) are dispatched
// as (x, y); this is the workgroup's index in the flattened grid.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// f32 -> f16 bits, rounding to nearest even exactly as the engine's CPU
// f32_to_f16 does. pack2x16float's rounding is implementation-defined, and
// the KV cache must hold the same halves on both sides of an offload split.
fn f16_bits(f: f32) -> u32 {
  let x = bitcast<u32>(f);
  let sign = (x >> 16u) & 0x8000u;
  let a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // inf or nan
    return sign | 0x7c00u | select(0u, 0x200u, a > 0x7f800000u);
  }
  if (a >= 0x477ff000u) {  // overflows to inf
    return sign | 0x7c00u;
  }
  if (a < 0x38800000u) {  // subnormal half or zero: the float add rounds
    let v = bitcast<f32>(a) + 0.5;
    return sign | ((bitcast<u32>(v) - 0x3f000000u) & 0xffffu);
  }
  let r = a + 0xc8000fffu + ((a >> 13u) & 1u);
  return sign | ((r >> 13u) & 0xffffu);
}

fn round_f16(f: f32) -> f32 {
  return unpack2x16float(f16_bits(f)).x;
}

fn pack_f16(a: f32, b: f32) -> u32 {
  return f16_bits(a) | (f16_bits(b) << 16u);
}

// Eight weights of one row and the columns they multiply: w0 pairs with
// x[x0 .. x0+3], w1 with x[x1 .. x1+3]. Both column runs lie inside the
// 32-column block holding group g (the tiled matmul relies on it); x0 and x1
// are multiples of 4.
struct WGroup {
  w0: vec4<f32>,
  w1: vec4<f32>,
  x0: u32,
  x1: u32,
}
