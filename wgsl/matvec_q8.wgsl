// y = W x for decode over quantized weights, with x already quantized to
// the weights' activation type (Q8_0, Q8_1 or Q8_K; q8_store.wgsl,
// quantize_q8_1.wgsl, quantize_q8_k.wgsl), as the CPU's matmul does: per
// 32-element block the integer dots of the weight's and the activation's
// bytes over each 16-element half (dot4, from dot4_packed.wgsl or
// dot4_unpacked.wgsl), weighted by the halves' integer scales, scaled by
// d_w * d_x in f32, plus the weight minimum's term (block_acc).
// One workgroup of 256 invocations per 256 / TPR rows of one token; each of
// a row's TPR invocations walks the blocks with stride TPR, loading a whole
// block (16 or 32 bytes of weights, 32 of activations) at a time; the row is
// summed by row_sum (reduce_sg.wgsl or reduce_wg.wgsl). Composed after
// common.wgsl, a qact_<activation type>.wgsl (act_extra, min_factors),
// block_term.wgsl, a dot4
// file, a reduce file and one dequant_<type>.wgsl with load_block and
// load_scales (bindings 4, 5).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  xq: (T, cols / 4) u32 as vec4: Q8_0 activation bytes
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
//   binding 6  xd: (T, cols / 32) f32: activation block scales
//   binding 7  xs: per-block sums of Q8_1 and Q8_K activations (qact_*.wgsl)
// Grid: (flattened row groups, T). Bounds: rows >= mm.rows and tokens >=
// min(frame.n_tokens, mm.max_tokens) are neither read nor written.
// With mm.accumulate, y += W x (the residual add of the block's output
// projections) instead of y = W x.

struct Matmul {
  rows: u32,        // rows of this weight part
  cols: u32,        // a multiple of 32
  groups: u32,      // cols / 8
  row0: u32,        // first output column of this part in y
  y_stride: u32,    // floats per y row: rows of the whole weight
  max_tokens: u32,  // rows x and y hold
  accumulate: u32,
  out_scale: f32,   // matmul_out.wgsl: W x is multiplied by this (1: as is)
  seg1: u32,        // matmul_out.wgsl: first row of the second stacked weight
  seg2: u32,        // first row of the third
  total: u32,       // rows of the whole weight
  _p2: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> mm: Matmul;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> xd: array<f32>;

// The integer scales of a weight block's two 16-element halves, its integer
// minimums and the float multiplier of the minimums (dequant_<type>.wgsl's
// load_scales; scales 1 and no minimum for the plain types).
struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

override TPR: u32 = 32u;
const WG: u32 = 256u;

// sc0 * (dot of elements 0..15) + sc1 * (dot of elements 16..31).
fn block_dot(w: QBlock, sc: vec2<i32>, a0: vec4<u32>, a1: vec4<u32>) -> i32 {
  let lo = dot4(w.w0.x, a0.x) + dot4(w.w0.y, a0.y) + dot4(w.w0.z, a0.z) + dot4(w.w0.w, a0.w);
  let hi = dot4(w.w1.x, a1.x) + dot4(w.w1.y, a1.y) + dot4(w.w1.z, a1.z) + dot4(w.w1.w, a1.w);
  return sc.x * lo + sc.y * hi;
}

@compute @workgroup_size(256)
fn matvec_q8(l: Lanes) {
  let t = l.wid.z;
  let lane = l.lid % TPR;
  let r = flat_workgroup(l.wid, l.nwg) * (WG / TPR) + l.lid / TPR;
  let live = r < mm.rows && t < min(frame.n_tokens, mm.max_tokens);

  var acc = 0.0;
  if (live) {
    let nb = mm.cols / 32u;
    let xrow = t * nb;
    for (var b = lane; b < nb; b += TPR) {
      let w = load_block(r, b);
      let sc = load_scales(r, b);
      let xb = xrow + b;
      let s = block_dot(w, sc.sc, xq[2u * xb], xq[2u * xb + 1u]);
      let ad = xd[xb];
      acc = block_acc(acc, s, w.d, ad, sc, act_extra(xb));
    }
  }
  let sum = row_sum(acc, l);
  if (live && lane == 0u) {
    store_y(t, mm.row0 + r, sum);
  }
}
