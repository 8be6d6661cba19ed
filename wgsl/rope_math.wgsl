// The rotation of RoPE, shared by rope.wgsl (activations) and kv_shift.wgsl
// (cached keys). No bindings; the caller declares `rp: Rope` (uniform) and
// `freq_factors` (storage, at least one f32; read only when rp.has_ff).
//
// The angle of pair i at position pos is built by repeated multiplication
// in f32, theta_i = ((pos * ts) * ts) ... i times, exactly as the CPU's
// cpp/ops/rope.cpp builds it, so both round alike; ts = base^(-2/n_rot)
// comes from the host. cos and sin are computed here rather than with the
// builtins: WGSL promises those only 2^-11 absolute error on [-pi, pi] (and
// SwiftShader is that coarse), which would move re-rotated f16 keys by
// several ulps. The angle is reduced to [-pi/4, pi/4] around a multiple of
// pi/2 in three steps (Cody-Waite; exact for positions up to ~8k * 2^n_rot
// scaling, within 1e-6 beyond), then two short polynomials.

struct Rope {
  n_heads: u32,
  head_dim: u32,
  n_rot: u32,
  neox: u32,          // 0: pairs (2i, 2i+1); 1: pairs (i, i + n_rot/2)
  theta_scale: f32,
  freq_scale: f32,
  has_ff: u32,
  max_rows: u32,      // rows the data holds (bounds of the dispatch)
  mscale: f32,        // cos and sin are multiplied by this (LongRoPE's attention factor; 1 on a shift)
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

// pi/2 = HI + MID + LO; HI and MID have few significant bits, so k * HI and
// k * MID are exact for the quadrant counts k of realistic angles.
const HALF_PI_HI: f32 = 1.5703125;
const HALF_PI_MID: f32 = 4.837512969970703125e-4;
const HALF_PI_LO: f32 = 7.549789954891882e-8;
const TWO_OVER_PI: f32 = 0.6366197723675814;

// (cos a, sin a), accurate to a few f32 ulps.
fn cos_sin(a: f32) -> vec2<f32> {
  let k = round(a * TWO_OVER_PI);
  let r = ((a - k * HALF_PI_HI) - k * HALF_PI_MID) - k * HALF_PI_LO;
  let r2 = r * r;
  // Taylor terms to r^11 / r^10: below 2e-9 on |r| <= pi/4.
  let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0 + r2 * (-1.0 / 39916800.0))))));
  let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
  // Quadrant k mod 4 rotates (c, s) by k quarter turns.
  let q = i32(k) & 3;
  if (q == 0) {
    return vec2<f32>(c, s);
  } else if (q == 1) {
    return vec2<f32>(-s, c);
  } else if (q == 2) {
    return vec2<f32>(-c, -s);
  }
  return vec2<f32>(s, -c);
}

// cos and sin of the angle of pair i at position pos, times rp.mscale.
fn rope_cs(pos: i32, i: u32) -> vec2<f32> {
  var theta = f32(pos);
  for (var k = 0u; k < i; k++) {
    theta *= rp.theta_scale;
  }
  // theta / ff rounded as the CPU rounds it (common.wgsl's div_rn): a
  // GPU's division may be a few ulps off (an H100's is), and at position
  // 100000 one ulp of the angle is 0.008 radians.
  if (rp.has_ff != 0u) {
    theta = div_rn(theta, freq_factors[i]);
  }
  return cos_sin(rp.freq_scale * theta) * rp.mscale;
}

// Element indices (within a head) of pair i.
fn rope_pair(i: u32) -> vec2<u32> {
  if (rp.neox != 0u) {
    return vec2<u32>(i, i + rp.n_rot / 2u);
  }
  return vec2<u32>(2u * i, 2u * i + 1u);
}
