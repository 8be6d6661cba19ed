// The output of the matmul kernels (matvec.wgsl, matvec_q8.wgsl and the
// tiled ones): a weight stacked from up to three (Q, K and V, or gate and
// up, concatenated by rows on upload) writes each stack's rows into its own
// buffer, so one dispatch does the work of three. Rows [0, mm.seg1) go to
// y (stride mm.y_stride), [mm.seg1, mm.seg2) to y2, [mm.seg2, mm.total) to
// y3, each (T, its row count); a plain weight has seg1 = seg2 = total.
// Uses the composing file's mm (Matmul) and y (binding 3).
//   binding 8  y2: (T, seg2 - seg1) f32
//   binding 9  y3: (T, total - seg2) f32
// With mm.accumulate, y += W x instead of y = W x; W x is multiplied by
// mm.out_scale first (Granite's residual multiplier; 1 elsewhere, exact).

@group(0) @binding(8) var<storage, read_write> y2: array<f32>;
@group(0) @binding(9) var<storage, read_write> y3: array<f32>;

// Writes the value of row r of the whole weight (part row + mm.row0) for token t.
fn store_y(t: u32, r: u32, w: f32) {
  let v = w * mm.out_scale;
  let add = mm.accumulate != 0u;
  if (r < mm.seg1) {
    let o = t * mm.y_stride + r;
    y[o] = select(v, y[o] + v, add);
  } else if (r < mm.seg2) {
    let o = t * (mm.seg2 - mm.seg1) + (r - mm.seg1);
    y2[o] = select(v, y2[o] + v, add);
  } else {
    let o = t * (mm.total - mm.seg2) + (r - mm.seg2);
    y3[o] = select(v, y3[o] + v, add);
  }
}
