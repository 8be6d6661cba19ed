// One weight block added to an integer matmul output, shared by every
// integer kernel (matvec_q8.wgsl, matvec_q8_norm.wgsl, matmul_q8_tiled.wgsl,
// matmul_q8_sg.wgsl, matmul_q8_sgmat.wgsl) so that they compute the same
// bits: the minimum's term of the composing qact_<activation>.wgsl (two
// factors) and then the block's integer dot (its sub-block scales applied)
// scaled by d_w * d_x. Both multiply-adds are explicit fmas: left to itself
// a GPU compiler may fuse a product into an addition in one kernel and not
// in another (WGSL allows either), and an H100 did.
fn block_acc(acc: f32, dot: i32, wd: f32, ad: f32, sc: QScales, extra: u32) -> f32 {
  let m = min_factors(sc, ad, extra);
  return fma(f32(dot), wd * ad, fma(m.x, m.y, acc));
}
