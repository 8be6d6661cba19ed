// Shared by every kernel (prepended to each module by src/gpu/kernels/):
// the per-forward Frame uniform, workgroup-grid linearization, exact f16 and
// bf16 rounding, correctly rounded division and compensated sums (the CPU
// divides in f32 and sums some things in double), and the weight-group
// record dequant_*.wgsl return. No bindings of its own; no entry point.

// Written by the runner before each forward (16 bytes).
struct Frame {
  n_tokens: u32,  // rows of this batch
  cell0: u32,     // KV cell of row 0
  n_kv: u32,      // cells visible after this batch: cell0 + n_tokens
  ranged: u32,    // 1: attention reads each row's cells from its row ranges (packed sequences)
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

// f32 -> bf16 -> f32, rounding to nearest even like the CPU's f32_to_bf16
// (finite values; activations are).
fn round_bf16(f: f32) -> f32 {
  let u = bitcast<u32>(f);
  return bitcast<f32>(((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) << 16u);
}

// a / b rounded to nearest even, for a >= 0 and b > 0 normal with a normal
// quotient (else the builtin division): WGSL's `/` is only promised 2.5 ulp,
// and the CPU's f32 division is exact, so the Q8_0 scales it feeds would
// round differently now and then. Long division of the 24-bit significands.
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  if (a == 0.0 || (ua >> 23u) == 0u || (ua >> 23u) >= 255u || (ub >> 23u) == 0u || (ub >> 23u) >= 255u) {
    return a / b;
  }
  var ma = (ua & 0x7fffffu) | 0x800000u;
  let mb = (ub & 0x7fffffu) | 0x800000u;
  var e = i32(ua >> 23u) - i32(ub >> 23u) + 127;
  if (ma < mb) {
    ma <<= 1u;
    e -= 1;
  }
  // 25 quotient bits (24 significant and a guard bit) from ma / mb in [1, 2).
  var q = 0u;
  var r = ma;
  for (var i = 0u; i < 25u; i++) {
    q <<= 1u;
    if (r >= mb) {
      r -= mb;
      q |= 1u;
    }
    r <<= 1u;
  }
  let guard = q & 1u;
  q >>= 1u;
  if (guard == 1u && (r != 0u || (q & 1u) == 1u)) {
    q += 1u;
  }
  if (q == 0x1000000u) {
    q >>= 1u;
    e += 1;
  }
  if (e <= 0 || e >= 255) {
    return a / b;
  }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}

// s.x + s.y = a + b exactly (Knuth's two-sum): a running sum that keeps
// the bits an f32 add drops, standing in for the CPU's double sums.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let bb = s - a;
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

fn dd_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = two_sum(a.x, b.x);
  return two_sum(s.x, s.y + a.y + b.y);
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

// One 32-element block of a quantized weight row, as the integer kernels
// take it from dequant_<type>.wgsl's load_block: signed bytes, element 4i + j
// in byte j of word i (w0: elements 0..15, w1: 16..31), and the block scale.
struct QBlock {
  w0: vec4<u32>,
  w1: vec4<u32>,
  d: f32,
}

// e^x to within about one f32 ulp (WGSL promises its exp only 3 + 2|x|
// ulps): the CPU's libm exp is nearly correctly rounded, and a softmax
// probability that lands on the other side of an f16 rounding step, or a
// SiLU that moves an activation across a Q8_0 step, would show. x = k ln2 +
// r with ln2 split so k * LN2_HI is exact, then a degree-7 Taylor
// polynomial on |r| <= ln2 / 2 added to 1 last.
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.428606765330187e-6;
const LOG2_E: f32 = 1.4426950408889634;

fn exp_f32(x: f32) -> f32 {
  if (x > 88.72) {
    return 3.4e38;
  }
  if (x < -87.33) {
    return 0.0;
  }
  let k = round(x * LOG2_E);
  let r = (x - k * LN2_HI) - k * LN2_LO;
  let p = r * r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0))))));
  let e = 1.0 + (r + p);
  let ki = i32(k);
  if (ki > 127) {
    return e * 2.0 * bitcast<f32>(u32(ki - 1 + 127) << 23u);
  }
  if (ki < -126) {
    return e * 0.5 * bitcast<f32>(u32(ki + 1 + 127) << 23u);
  }
  return e * bitcast<f32>(u32(ki + 127) << 23u);
}
