// y = W x for a few tokens (decode): one workgroup of 256 invocations per
// ROWS_PER_WG output rows of one token, TPR = 256 / ROWS_PER_WG invocations
// per row. Each invocation walks the row's 8-weight groups with stride TPR
// (neighbours read neighbouring words: coalesced), then the row's partial
// sums are reduced in workgroup memory. Composed after common.wgsl and one
// dequant_<type>.wgsl, which supplies load_group and bindings 4+.
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  x: (T, cols) f32, as vec4 (cols % 8 == 0)
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
// Grid: (flattened row blocks, T). Bounds: rows >= mm.rows and tokens >=
// min(frame.n_tokens, mm.max_tokens) are neither read nor written.

struct Matmul {
  rows: u32,        // rows of this weight part
  cols: u32,
  groups: u32,      // cols / 8
  row0: u32,        // first output column of this part in y
  y_stride: u32,    // floats per y row: rows of the whole weight
  max_tokens: u32,  // rows x and y hold
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> mm: Matmul;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override ROWS_PER_WG: u32 = 4u;
const WG: u32 = 256u;
override TPR: u32 = WG / ROWS_PER_WG;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let t = wid.z;
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let row_in_wg = lid / TPR;
  let lane = lid % TPR;
  let r = (wid.y * nwg.x + wid.x) * ROWS_PER_WG + row_in_wg;
  let live = r < mm.rows && t < n_tokens;

  var acc = 0.0;
  if (live) {
    let xrow = t * (mm.cols / 4u);
    for (var g = lane; g < mm.groups; g += TPR) {
      let wg = load_group(r, g);
      acc += dot(wg.w0, x[xrow + wg.x0 / 4u]) + dot(wg.w1, x[xrow + wg.x1 / 4u]);
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  if (live && lane == 0u) {
    y[t * mm.y_stride + mm.row0 + r] = partial[lid];
  }
}
