// matmul_q8_tiled.wgsl's product (y = W x over quantized weights and Q8
// activations, for a batch of tokens) with subgroup shuffles in place of
// workgroup memory: no tile is staged, so there is no barrier. A workgroup
// of WG invocations is WG / L row groups of L invocations; a row group
// computes R weight rows for L TPL tokens, each invocation the R rows of its
// own TPL tokens (L apart), whose activation words it loads into registers.
// Each 32-column block, the first R invocations of the row group within a
// subgroup load one weight row's block each, and every invocation reads the
// R blocks from them with subgroupShuffle; the integer scales come from
// load_scales (one address per row group: a broadcast load). Per output the
// arithmetic and the order of the blocks are matmul_q8_tiled.wgsl's, so both
// kernels give the same bits. The loads of the next block are issued before
// the dots of this one.
// Subgroups: any size of at least R (the host sets R no larger than the
// adapter's minimum subgroup size); like reduce_sg.wgsl this assumes a
// subgroup is a run of consecutive local indices starting at a multiple of
// its size, so a subgroup holds whole row groups or a run of one, at least
// R invocations of it either way. Needs `enable subgroups` (pipelines.ts).
// Composed after common.wgsl, a qact_<activation type>.wgsl, block_term.wgsl,
// matmul_out.wgsl,
// one dequant_<type>.wgsl (load_block, load_scales, bindings 4, 5) and a
// dot4 file.
//   binding 0  frame: Frame (uniform)
//   binding 1  mm: Matmul (uniform)
//   binding 2  xq: (T, cols / 4) u32 as vec4: Q8_0 activation bytes
//   binding 3  y: (T, y_stride) f32; this part writes columns [row0, row0 + rows)
//              (stacked weights: matmul_out.wgsl)
//   binding 6  xd: (T, cols / 32) f32: activation block scales
//   binding 7  xs: per-block sums of Q8_1 and Q8_K activations (qact_*.wgsl)
// Pipeline constants: R in {1..16} rows (<= L and <= the minimum subgroup
// size), TPL in {1..4} tokens an invocation, L a power of two dividing WG,
// WG the workgroup size (at most 256).
// Grid: (ceil(rows / (WG / L * R)), ceil(T / (L TPL))). Bounds: rows >=
// mm.rows and tokens >= min(frame.n_tokens, mm.max_tokens) load zeros and
// write nothing. No workgroup memory. With mm.accumulate, y += W x.

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

override R: u32 = 8u;
override TPL: u32 = 4u;
override L: u32 = 16u;
override WG: u32 = 64u;

// One block's loads of an invocation: its tokens' activation words (two
// vec4 a token), scales and extras, and the weight block it holds for its
// row group (zeros where it holds none).
struct Staged {
  a: array<vec4<u32>, 8>,
  d: vec4<f32>,
  e: vec4<u32>,
  w: QBlock,
}

fn load_staged(kb: u32, nb: u32, tok0: u32, n_tokens: u32, held_row: u32, holds: bool) -> Staged {
  var st: Staged;
  for (var j = 0u; j < TPL; j++) {
    let t = tok0 + L * j;
    if (t < n_tokens) {
      let blk = t * nb + kb;
      st.a[2u * j] = xq[blk * 2u];
      st.a[2u * j + 1u] = xq[blk * 2u + 1u];
      st.d[j] = xd[blk];
      st.e[j] = act_extra(blk);
    }
  }
  if (holds) {
    st.w = load_block(held_row, kb);
  }
  return st;
}

@compute @workgroup_size(WG)
fn matmul_q8_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(subgroup_invocation_id) lane: u32) {
  let bm = (WG / L) * R;
  let bn = L * TPL;
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let g = lid / L;
  let row0 = wid.x * bm + g * R;    // this row group's rows row0 .. row0 + R - 1
  let tok0 = wid.y * bn + lid % L;  // this invocation's tokens tok0 + L j
  let nb = mm.cols / 32u;
  // The row group's first invocation in this subgroup, as a lane: it and
  // the R - 1 after it hold the group's R weight blocks.
  let sg_base = lid - lane;
  let first = max(g * L, sg_base);
  let src0 = first - sg_base;
  let held_row = row0 + (lid - first);
  let holds = lid - first < R && held_row < mm.rows;

  // acc[i][j]: row row0 + i, token tok0 + L j.
  var acc: array<vec4<f32>, 16>;
  for (var i = 0u; i < R; i++) {
    acc[i] = vec4<f32>(0.0);
  }
  var next = load_staged(0u, nb, tok0, n_tokens, held_row, holds && nb > 0u);
  for (var kb = 0u; kb < nb; kb++) {
    let cur = next;
    if (kb + 1u < nb) {
      next = load_staged(kb + 1u, nb, tok0, n_tokens, held_row, holds);
    }
    for (var i = 0u; i < R; i++) {
      let src = src0 + i;
      let w0 = subgroupShuffle(cur.w.w0, src);
      let w1 = subgroupShuffle(cur.w.w1, src);
      let wd = subgroupShuffle(cur.w.d, src);
      var sc = QScales(vec2<i32>(0), vec2<i32>(0), 0.0);
      if (row0 + i < mm.rows) {
        sc = load_scales(row0 + i, kb);
      }
      for (var j = 0u; j < TPL; j++) {
        var s = vec2<i32>(0);
        for (var k = 0u; k < 4u; k++) {
          s.x += dot4(w0[k], cur.a[2u * j][k]);
          s.y += dot4(w1[k], cur.a[2u * j + 1u][k]);
        }
        acc[i][j] = block_acc(acc[i][j], sc.sc.x * s.x + sc.sc.y * s.y, wd, cur.d[j], sc, cur.e[j]);
      }
    }
  }

  for (var i = 0u; i < R; i++) {
    let r = row0 + i;
    for (var j = 0u; j < TPL; j++) {
      let t = tok0 + L * j;
      if (r < mm.rows && t < n_tokens) {
        store_y(t, mm.row0 + r, acc[i][j]);
      }
    }
  }
}
