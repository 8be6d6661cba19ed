// y = W x for decode over float weights (F32, F16, BF16): one workgroup of
// 256 invocations per ROWS_PER_WG output rows of one token, TPR = 256 /
// ROWS_PER_WG invocations per row. Each invocation walks the row's 8-weight
// groups with stride TPR (neighbours read neighbouring words: coalesced),
// then row_sum (reduce_sg.wgsl or reduce_wg.wgsl) adds the row. x passes
// through act4 first: the rounding the CPU applies to activations for this
// weight type (to f16 for F16, bf16 for BF16). Composed after common.wgsl,
// a reduce file and one dequant_<type>.wgsl (load_group, act4, bindings 4+).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  x: (T, cols) f32, as vec4 (cols % 8 == 0)
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
// Grid: (flattened row blocks, T). Bounds: rows >= mm.rows and tokens >=
// min(frame.n_tokens, mm.max_tokens) are neither read nor written. With
// mm.accumulate, y += W x instead of y = W x.

struct Matmul {
  rows: u32,        // rows of this weight part
  cols: u32,
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
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override ROWS_PER_WG: u32 = 4u;
const WG: u32 = 256u;
override TPR: u32 = WG / ROWS_PER_WG;

@compute @workgroup_size(256)
fn matvec(l: Lanes) {
  let t = l.wid.z;
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let lane = l.lid % TPR;
  let r = flat_workgroup(l.wid, l.nwg) * ROWS_PER_WG + l.lid / TPR;
  let live = r < mm.rows && t < n_tokens;

  var acc = 0.0;
  if (live) {
    let xrow = t * (mm.cols / 4u);
    for (var g = lane; g < mm.groups; g += TPR) {
      let wg = load_group(r, g);
      acc += dot(wg.w0, act4(x[xrow + wg.x0 / 4u])) + dot(wg.w1, act4(x[xrow + wg.x1 / 4u]));
    }
  }
  let sum = row_sum(acc, l);
  if (live && lane == 0u) {
    store_y(t, mm.row0 + r, sum);
  }
}
