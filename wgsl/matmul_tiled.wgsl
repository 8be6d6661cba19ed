// y = W x for a batch of tokens (prefill) over float weights (F32, F16,
// BF16; x rounded by act4 as the CPU rounds it): each workgroup computes a tile of
// 64 weight rows x 32 tokens, stepping through the columns 32 at a time (one
// quant block). Each step dequantizes the 64 x 32 weight tile once into
// workgroup memory and reuses it for all 32 tokens. Composed after
// common.wgsl and one dequant_<type>.wgsl (load_group, bindings 4+).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  x: (T, cols) f32, as vec4 (cols % 8 == 0)
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
// Grid: (ceil(rows / 64), ceil(T / 32)); workgroup 256 = 16 x 16, each
// invocation owning 4 rows x 2 tokens. Bounds: rows >= mm.rows, groups >=
// mm.groups and tokens >= min(frame.n_tokens, mm.max_tokens) load zeros and
// write nothing. Workgroup memory: 12.4 KiB (under WebGPU's 16 KiB default).
// With mm.accumulate, y += W x.

struct Matmul {
  rows: u32,
  cols: u32,
  groups: u32,
  row0: u32,
  y_stride: u32,
  max_tokens: u32,
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

const BM: u32 = 64u;
const BN: u32 = 32u;
const BK: u32 = 32u;
const LD: u32 = 33u;  // padded row stride: rows of a tile fall in different banks

var<workgroup> w_tile: array<f32, 2112>;  // (BM, LD)
var<workgroup> x_tile: array<f32, 1056>;  // (BN, LD)

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let row_base = wid.x * BM;
  let tok_base = wid.y * BN;
  let tr = lid % 16u;  // rows tr + 16 i
  let tc = lid / 16u;  // tokens tc + 16 j

  // Accumulators: rows tr + 16 i (i = 0..3) for tokens tc and tc + 16.
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);

  // Loader roles: one weight group (row lid / 4, group lid % 4 of the block)
  // and one vec4 of x (token lid / 8, columns 4 (lid % 8) ..) per step.
  let lw_row = lid / 4u;
  let lw_g = lid % 4u;
  let lx_tok = lid / 8u;
  let lx_c4 = lid % 8u;
  let n_blocks = (mm.groups + 3u) / 4u;

  for (var kb = 0u; kb < n_blocks; kb++) {
    let k0 = kb * BK;
    {
      let r = row_base + lw_row;
      let g = kb * 4u + lw_g;
      var wg = WGroup(vec4<f32>(0.0), vec4<f32>(0.0), g * 8u, g * 8u + 4u);
      if (r < mm.rows && g < mm.groups) {
        wg = load_group(r, g);
      }
      let o0 = lw_row * LD + wg.x0 - k0;
      let o1 = lw_row * LD + wg.x1 - k0;
      for (var i = 0u; i < 4u; i++) {
        w_tile[o0 + i] = wg.w0[i];
        w_tile[o1 + i] = wg.w1[i];
      }
    }
    {
      let t = tok_base + lx_tok;
      let c4 = k0 / 4u + lx_c4;
      var v = vec4<f32>(0.0);
      if (t < n_tokens && c4 < mm.cols / 4u) {
        v = act4(x[t * (mm.cols / 4u) + c4]);
      }
      let o = lx_tok * LD + lx_c4 * 4u;
      for (var i = 0u; i < 4u; i++) {
        x_tile[o + i] = v[i];
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a = vec4<f32>(w_tile[tr * LD + k], w_tile[(tr + 16u) * LD + k], w_tile[(tr + 32u) * LD + k],
                        w_tile[(tr + 48u) * LD + k]);
      acc0 += a * x_tile[tc * LD + k];
      acc1 += a * x_tile[(tc + 16u) * LD + k];
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let r = row_base + tr + 16u * i;
    let t0 = tok_base + tc;
    let t1 = t0 + 16u;
    if (r < mm.rows && t0 < n_tokens) {
      store_y(t0, mm.row0 + r, acc0[i]);
    }
    if (r < mm.rows && t1 < n_tokens) {
      store_y(t1, mm.row0 + r, acc1[i]);
    }
  }
}
