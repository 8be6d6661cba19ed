// y = W rmsnorm(x) for decode over weights that take Q8_0 activations: the
// RMSNorm and its Q8_0 quantization (rmsnorm.wgsl's rmsnorm_q8) fused into
// matvec_q8.wgsl's product, so a decode step's norm before QKV and before
// gate/up is no dispatch of its own and writes nothing. Every workgroup
// normalizes the row itself, exactly as rmsnorm_q8 does (the same sums in
// the same order, the same roundings: the same bytes), into workgroup
// memory, then runs matvec_q8's loop over it. The price is that row's
// 8 bytes a column (x and the norm weight) read by every workgroup; it pays
// where the dispatch and the activations' round trip cost more.
// Composed like matvec_q8.wgsl (after common.wgsl, qact_q8_0.wgsl,
// matmul_out.wgsl, one dequant_<type>.wgsl, a dot4 file and a reduce file),
// in its place; Matmul as there, its last word the norm's eps (f32 bits).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  x: (T, cols) f32, the residual stream (row 0 read)
//   binding 3  y: (T, y_stride) f32 (matmul_out.wgsl)
//   binding 6  nw: (cols) f32, the norm's weight
// Grid: (flattened row groups, 1). Bounds: cols % 32 == 0 and cols <= 8192
// (host-checked); rows >= mm.rows and a frame of no tokens write nothing.

struct Matmul {
  rows: u32,
  cols: u32,
  groups: u32,
  row0: u32,
  y_stride: u32,
  max_tokens: u32,
  accumulate: u32,
  out_scale: f32,
  seg1: u32,
  seg2: u32,
  total: u32,
  eps_bits: u32,    // the norm's eps
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> mm: Matmul;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> nw: array<f32>;

struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

override TPR: u32 = 32u;
const WG: u32 = 256u;

var<workgroup> norm_part: array<vec2<f32>, 256>;
var<workgroup> xq_sh: array<vec4<u32>, 512>;  // (cols / 32) blocks of two vec4
var<workgroup> xd_sh: array<f32, 256>;

fn block_dot(w: QBlock, sc: vec2<i32>, a0: vec4<u32>, a1: vec4<u32>) -> i32 {
  let lo = dot4(w.w0.x, a0.x) + dot4(w.w0.y, a0.y) + dot4(w.w0.z, a0.z) + dot4(w.w0.w, a0.w);
  let hi = dot4(w.w1.x, a1.x) + dot4(w.w1.y, a1.y) + dot4(w.w1.z, a1.z) + dot4(w.w1.w, a1.w);
  return sc.x * lo + sc.y * hi;
}

// Row 0 of x normalized and quantized into xq_sh, xd_sh: rmsnorm.wgsl's
// norm_row and rmsnorm_q8 with store_q8_block, step for step (every
// invocation calls this).
fn norm_q8(lid: u32) {
  let n = mm.cols;
  var sum = vec2<f32>(0.0);
  for (var i0 = lid; i0 < n; i0 += 8u * WG) {
    var v: array<f32, 8>;
    for (var u = 0u; u < 8u; u++) {
      let i = i0 + u * WG;
      v[u] = select(0.0, x[min(i, n - 1u)], i < n);
    }
    for (var u = 0u; u < 8u; u++) {
      if (i0 + u * WG < n) {
        sum = dd_add(sum, vec2<f32>(v[u] * v[u], 0.0));
      }
    }
  }
  norm_part[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      norm_part[lid] = dd_add(norm_part[lid], norm_part[lid + s]);
    }
    workgroupBarrier();
  }
  let total = norm_part[0];
  let mean = div_rn(total.x, f32(n));
  let scale = div_rn(1.0, sqrt(mean + bitcast<f32>(mm.eps_bits)));
  let nb = n / 32u;
  for (var b = lid; b < nb; b += WG) {
    var v: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      for (var j = 0u; j < 4u; j++) {
        let c = b * 32u + i * 4u + j;
        v[i][j] = x[c] * scale * nw[c];
      }
    }
    var amax = 0.0;
    for (var i = 0u; i < 8u; i++) {
      let a = abs(v[i]);
      amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    var id = 0.0;
    if (amax != 0.0) {
      id = div_rn(127.0, amax);
    }
    var words: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
      let q = bitcast<vec4<u32>>(vec4<i32>(round(v[i] * id))) & vec4<u32>(0xffu);
      words[i] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
    }
    xq_sh[2u * b] = vec4<u32>(words[0], words[1], words[2], words[3]);
    xq_sh[2u * b + 1u] = vec4<u32>(words[4], words[5], words[6], words[7]);
    xd_sh[b] = round_f16(div_rn(amax, 127.0));
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn matvec_q8_norm(l: Lanes) {
  if (min(frame.n_tokens, mm.max_tokens) == 0u) {
    return;
  }
  norm_q8(l.lid);
  let lane = l.lid % TPR;
  let r = flat_workgroup(l.wid, l.nwg) * (WG / TPR) + l.lid / TPR;
  let live = r < mm.rows;
  var acc = 0.0;
  if (live) {
    let nb = mm.cols / 32u;
    for (var b = lane; b < nb; b += TPR) {
      let w = load_block(r, b);
      let sc = load_scales(r, b);
      let s = block_dot(w, sc.sc, xq_sh[2u * b], xq_sh[2u * b + 1u]);
      let ad = xd_sh[b];
      acc = block_acc(acc, s, w.d, ad, sc, act_extra(b));
    }
  }
  let sum = row_sum(acc, l);
  if (live && lane == 0u) {
    store_y(0u, mm.row0 + r, sum);
  }
}
