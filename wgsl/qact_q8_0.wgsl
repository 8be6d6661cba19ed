// The activation side of the integer matmuls (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl) for weights the CPU dots with Q8_0 activations
// (Q8_0, Q4_0, Q5_0, IQ4_NL): nothing but the quants and block scales, so
// no per-block extra and no minimum term.

fn act_extra(blk: u32) -> u32 {
  return 0u;
}

fn min_factors(s: QScales, ad: f32, extra: u32) -> vec2<f32> {
  return vec2<f32>(0.0);
}
