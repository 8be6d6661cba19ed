// y = W x for a batch of tokens (prefill) over quantized weights, with x
// already quantized to the weights' activation type (Q8_0, Q8_1 or Q8_K, as
// in matvec_q8.wgsl): each workgroup computes a tile
// of 64 weight rows x 32 tokens, one 32-column block at a time. Per step,
// 64 invocations load one weight block each (load_block: 16 or 32 bytes),
// all 256 load one activation word, and every invocation then takes the
// integer block dots of 4 rows x 2 tokens from workgroup memory (each
// 16-element half weighted by its integer scale), scaled by d_w * d_x in
// f32 as the CPU does, plus the minimum's term. Composed after common.wgsl,
// a qact_<activation type>.wgsl, a dot4 file and one dequant_<type>.wgsl
// (load_block, load_scales, bindings 4, 5).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  xq: (T, cols / 4) u32 as vec4: Q8_0 activation bytes
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
//   binding 6  xd: (T, cols / 32) f32: activation block scales
//   binding 7  xs: per-block sums of Q8_1 and Q8_K activations (qact_*.wgsl)
// Grid: (ceil(rows / 64), ceil(T / 32)). Bounds: rows >= mm.rows and tokens
// >= min(frame.n_tokens, mm.max_tokens) load zeros and write nothing.
// Workgroup memory: 5.4 KiB. With mm.accumulate, y += W x.

struct Matmul {
  rows: u32,
  cols: u32,
  groups: u32,
  row0: u32,
  y_stride: u32,
  max_tokens: u32,
  accumulate: u32,
  _p1: u32,
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

// As in matvec_q8.wgsl.
struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

const BM: u32 = 64u;
const BN: u32 = 32u;
const LD: u32 = 9u;  // padded row stride in words: rows fall in different banks

var<workgroup> w_sh: array<u32, 576>;  // (BM, LD) weight bytes
var<workgroup> a_sh: array<u32, 288>;  // (BN, LD) activation bytes
var<workgroup> wd_sh: array<f32, 64>;
var<workgroup> ad_sh: array<f32, 32>;
var<workgroup> ws_sh: array<QScales, 64>;
var<workgroup> ax_sh: array<u32, 32>;

@compute @workgroup_size(256)
fn matmul_q8_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let row_base = wid.x * BM;
  let tok_base = wid.y * BN;
  let tr = lid % 16u;  // rows tr + 16 i
  let tc = lid / 16u;  // tokens tc, tc + 16
  let nb = mm.cols / 32u;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  for (var kb = 0u; kb < nb; kb++) {
    if (lid < BM) {
      let r = row_base + lid;
      var w = QBlock(vec4<u32>(0u), vec4<u32>(0u), 0.0);
      var sc = QScales(vec2<i32>(0), vec2<i32>(0), 0.0);
      if (r < mm.rows) {
        w = load_block(r, kb);
        sc = load_scales(r, kb);
      }
      ws_sh[lid] = sc;
      for (var i = 0u; i < 4u; i++) {
        w_sh[lid * LD + i] = w.w0[i];
        w_sh[lid * LD + 4u + i] = w.w1[i];
      }
      wd_sh[lid] = w.d;
    }
    {
      let t = tok_base + lid / 8u;
      let word = lid % 8u;
      var a = 0u;
      var d = 0.0;
      var e = 0u;
      if (t < n_tokens) {
        a = xq[(t * nb + kb) * 2u + word / 4u][word % 4u];
        d = xd[t * nb + kb];
        e = act_extra(t * nb + kb);
      }
      a_sh[(lid / 8u) * LD + word] = a;
      if (word == 0u) {
        ad_sh[lid / 8u] = d;
        ax_sh[lid / 8u] = e;
      }
    }
    workgroupBarrier();
    for (var i = 0u; i < 4u; i++) {
      let ro = (tr + 16u * i) * LD;
      let wd = wd_sh[tr + 16u * i];
      let sc = ws_sh[tr + 16u * i];
      var s0 = vec2<i32>(0);
      var s1 = vec2<i32>(0);
      for (var k = 0u; k < 8u; k++) {
        let wk = w_sh[ro + k];
        let h = k / 4u;
        s0[h] += dot4(wk, a_sh[tc * LD + k]);
        s1[h] += dot4(wk, a_sh[(tc + 16u) * LD + k]);
      }
      let ad0 = ad_sh[tc];
      let ad1 = ad_sh[tc + 16u];
      acc0[i] += f32(sc.sc.x * s0.x + sc.sc.y * s0.y) * (wd * ad0) + min_term(sc, ad0, ax_sh[tc]);
      acc1[i] += f32(sc.sc.x * s1.x + sc.sc.y * s1.y) * (wd * ad1) + min_term(sc, ad1, ax_sh[tc + 16u]);
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
