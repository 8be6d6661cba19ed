// The activation side of the integer matmuls for weights the CPU dots with
// Q8_1 activations (Q4_1, Q5_1): Q8_0's quants and scales plus, per block,
// s = f16(d * sum of quants) (quantize_q8_1.wgsl), which makes the weight
// minimum's share of a block dot one multiply, m_w * s_a, as on the CPU.
//   binding 7  xs: (T, cols / 32) f32 bits: each block's s

@group(0) @binding(7) var<storage, read> xs: array<u32>;

fn act_extra(blk: u32) -> u32 {
  return xs[blk];
}

fn min_factors(s: QScales, ad: f32, extra: u32) -> vec2<f32> {
  return vec2<f32>(s.dm, bitcast<f32>(extra));
}
