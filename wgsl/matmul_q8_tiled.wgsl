// y = W x for a batch of tokens (prefill) over quantized weights, with x
// already quantized to the weights' activation type (Q8_0, Q8_1 or Q8_K, as
// in matvec_q8.wgsl). A workgroup of 256 (16 x 16) computes a tile of
// BM = 16 RM weight rows x BN = 16 TN tokens, KB 32-column blocks a stage:
// the first BM KB invocations load one weight block each (load_block: 16 or
// 32 bytes, and load_scales), the activation words are loaded up to four an
// invocation, and then each invocation takes the integer block dots of its
// RM rows x TN tokens from workgroup memory (each 16-element half weighted by
// its integer scale), scaled by d_w * d_x in f32 as the CPU does, plus the
// minimum's term. The loads of the next stage are issued before the dots of
// this one, so their latency hides behind them; a stage costs two barriers.
// The activation words of its tokens sit in registers for all its rows.
// Blocks are added in column order, whatever the tile: every tile shape
// gives the same bits. Composed after common.wgsl, a qact_<activation
// type>.wgsl, block_term.wgsl, a dot4 file and one dequant_<type>.wgsl (load_block,
// load_scales, bindings 4, 5).
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  xq: (T, cols / 4) u32 as vec4: Q8_0 activation bytes
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
//   binding 6  xd: (T, cols / 32) f32: activation block scales
//   binding 7  xs: per-block sums of Q8_1 and Q8_K activations (qact_*.wgsl)
// Pipeline constants: RM in {1..8} rows, TN in {2, 4} tokens an invocation,
// KB in {1, 2, 4} blocks a stage, with BM KB <= 128 and BN KB <= 128.
// Grid: (ceil(rows / BM), ceil(T / BN)). Bounds: rows >= mm.rows and tokens
// >= min(frame.n_tokens, mm.max_tokens) load zeros and write nothing.
// Workgroup memory: 14 KiB (128 weight blocks, 128 activation blocks). With mm.accumulate,
// y += W x.

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
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> xd: array<f32>;

// As in matvec_q8.wgsl.
struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

override RM: u32 = 4u;
override TN: u32 = 2u;
override KB: u32 = 2u;
const LD: u32 = 9u;  // padded block stride in words: rows fall in different banks

var<workgroup> w_sh: array<u32, 1152>;  // (KB, BM) weight blocks, KB BM <= 128
var<workgroup> a_sh: array<u32, 1152>;  // (KB, BN) activation blocks, KB BN <= 128
var<workgroup> wd_sh: array<f32, 128>;
var<workgroup> ad_sh: array<f32, 128>;
var<workgroup> ws_sh: array<QScales, 128>;
var<workgroup> ax_sh: array<u32, 128>;

// What one invocation loads for a stage, held in registers until the
// previous stage's dots are done.
struct Staged {
  w: QBlock,
  sc: QScales,
  a: vec4<u32>,
  d: vec4<f32>,
  e: vec4<u32>,
}

fn load_stage(stage: u32, lid: u32, row_base: u32, tok_base: u32, n_tokens: u32, nb: u32) -> Staged {
  let bm = 16u * RM;
  let bn = 16u * TN;
  var st = Staged(QBlock(vec4<u32>(0u), vec4<u32>(0u), 0.0), QScales(vec2<i32>(0), vec2<i32>(0), 0.0),
                  vec4<u32>(0u), vec4<f32>(0.0), vec4<u32>(0u));
  if (lid < bm * KB) {
    let r = row_base + lid % bm;
    let kb = stage * KB + lid / bm;
    if (r < mm.rows && kb < nb) {
      st.w = load_block(r, kb);
      st.sc = load_scales(r, kb);
    }
  }
  for (var u = 0u; u < 4u; u++) {
    let idx = lid + 256u * u;
    let slot = idx / 8u;  // (block, token) slot: token slot % bn of block slot / bn
    let word = idx % 8u;
    let t = tok_base + slot % bn;
    let kb = stage * KB + slot / bn;
    if (slot < bn * KB && t < n_tokens && kb < nb) {
      st.a[u] = xq[(t * nb + kb) * 2u + word / 4u][word % 4u];
      st.d[u] = xd[t * nb + kb];
      st.e[u] = act_extra(t * nb + kb);
    }
  }
  return st;
}

fn store_stage(st: Staged, lid: u32) {
  let bm = 16u * RM;
  let bn = 16u * TN;
  if (lid < bm * KB) {
    ws_sh[lid] = st.sc;
    for (var i = 0u; i < 4u; i++) {
      w_sh[lid * LD + i] = st.w.w0[i];
      w_sh[lid * LD + 4u + i] = st.w.w1[i];
    }
    wd_sh[lid] = st.w.d;
  }
  for (var u = 0u; u < 4u; u++) {
    let idx = lid + 256u * u;
    let slot = idx / 8u;
    let word = idx % 8u;
    if (slot < bn * KB) {
      a_sh[slot * LD + word] = st.a[u];
      if (word == 0u) {
        ad_sh[slot] = st.d[u];
        ax_sh[slot] = st.e[u];
      }
    }
  }
}

@compute @workgroup_size(256)
fn matmul_q8_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bm = 16u * RM;
  let bn = 16u * TN;
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let row_base = wid.x * bm;
  let tok_base = wid.y * bn;
  let tr = lid % 16u;  // rows tr + 16 i
  let tc = lid / 16u;  // tokens tc + 16 j
  let nb = mm.cols / 32u;
  let n_stages = (nb + KB - 1u) / KB;

  // acc[i][j]: row tr + 16 i, token tc + 16 j.
  var acc: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    acc[i] = vec4<f32>(0.0);
  }
  var next = load_stage(0u, lid, row_base, tok_base, n_tokens, nb);
  for (var stage = 0u; stage < n_stages; stage++) {
    store_stage(next, lid);
    workgroupBarrier();
    if (stage + 1u < n_stages) {
      next = load_stage(stage + 1u, lid, row_base, tok_base, n_tokens, nb);
    }
    for (var kk = 0u; kk < KB; kk++) {
      if (stage * KB + kk >= nb) {
        break;
      }
      // This invocation's tokens: their activation words, scales and extras.
      var aw: array<array<u32, 8>, 4>;
      var ad = vec4<f32>(0.0);
      var ax = vec4<u32>(0u);
      for (var j = 0u; j < TN; j++) {
        let slot = kk * bn + tc + 16u * j;
        for (var k = 0u; k < 8u; k++) {
          aw[j][k] = a_sh[slot * LD + k];
        }
        ad[j] = ad_sh[slot];
        ax[j] = ax_sh[slot];
      }
      for (var i = 0u; i < RM; i++) {
        let slot = kk * bm + tr + 16u * i;
        var wk: array<u32, 8>;
        for (var k = 0u; k < 8u; k++) {
          wk[k] = w_sh[slot * LD + k];
        }
        let wd = wd_sh[slot];
        let sc = ws_sh[slot];
        for (var j = 0u; j < TN; j++) {
          var s = vec2<i32>(0);
          for (var k = 0u; k < 8u; k++) {
            s[k / 4u] += dot4(wk[k], aw[j][k]);
          }
          acc[i][j] = block_acc(acc[i][j], sc.sc.x * s.x + sc.sc.y * s.y, wd, ad[j], sc, ax[j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < RM; i++) {
    let r = row_base + tr + 16u * i;
    for (var j = 0u; j < TN; j++) {
      let t = tok_base + tc + 16u * j;
      if (r < mm.rows && t < n_tokens) {
        store_y(t, mm.row0 + r, acc[i][j]);
      }
    }
  }
}
