// The activation side of the integer matmuls for K-quant weights, which the
// CPU dots with Q8_K activations (quantize_q8_k.wgsl): quants, the
// super-block scale repeated for each of its 32-element blocks, and per
// block the sums of its two 16-element halves. A weight minimum's share of
// a block is -(d_a * dmin) * (m0 * sum0 + m1 * sum1), the integers summed
// first as the CPU does.
//   binding 7  xs: (T, cols / 32) u32: the two sums as i16, first half low

@group(0) @binding(7) var<storage, read> xs: array<u32>;

fn act_extra(blk: u32) -> u32 {
  return xs[blk];
}

fn min_factors(s: QScales, ad: f32, extra: u32) -> vec2<f32> {
  let e = bitcast<i32>(extra);
  let sums = vec2<i32>((e << 16u) >> 16u, e >> 16u);
  return vec2<f32>(-(ad * s.dm), f32(s.m.x * sums.x + s.m.y * sums.y));
}
