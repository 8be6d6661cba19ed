// matmul_q8_tiled.wgsl's product with subgroup matrices (Dawn's
// chromium_experimental_subgroup_matrix, cooperative matrices on the GPU):
// the integer block dots of a 64-row x 64-token tile come from i8 x i8 -> i32
// matrix multiplies, which are exact, and each output is then scaled and
// summed in f32 exactly as matmul_q8_tiled.wgsl does (f32(dot) * (d_w * d_x)
// plus the minimum's term, blocks in column order), so both kernels give the
// same bits. Only for weights whose block is one 32-element run with one
// integer scale (load_scales gives sc = (1, 1): Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, IQ4_NL); the K-quants weight 16-element halves differently.
// A stage loads KB blocks of the tile's rows and tokens as int8 into
// workgroup memory; each subgroup multiplies its share of the SM x SN
// sub-tiles of each block (K = SK a multiply) and stores the i32 dots to
// dot_sh; then every invocation scales its 16 outputs. The host prepends
// the matrix shape of the device's i8 config and its subgroup size:
//   const SM: u32; const SN: u32; const SK: u32; const SG: u32; const KB: u32;
// (SM, SN dividing 64, SK dividing 32, SG dividing 256 with min = max
// subgroup size). The builtins take the majorness as a template argument
// (subgroupMatrixLoad<T, row_major>(p, offset, stride)), as current Dawn
// spells them; offsets and strides count elements of the array pointed
// to: i32 words (four int8 each) for the loads, as Dawn checks them.
// Composed after common.wgsl, a qact_<activation>.wgsl, block_term.wgsl,
// matmul_out.wgsl and one dequant_<type>.wgsl, with matmul_q8_tiled.wgsl's
// bindings; grid (ceil(rows / 64), ceil(T / 64)). Bounds as there.

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
  _p2: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> mm: Matmul;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> xd: array<f32>;

struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const WS: u32 = KB * 8u;  // words of a row (or token) in w_sh (a_sh): KB blocks of 32 bytes

var<workgroup> w_sh: array<i32, BM * WS>;   // (BM, KB * 32) int8, row-major
var<workgroup> a_sh: array<i32, BN * WS>;   // (BN, KB * 32) int8: tokens' columns
var<workgroup> dot_sh: array<i32, KB * BM * BN>;  // (KB, BM, BN) block dots
var<workgroup> wd_sh: array<f32, KB * BM>;
var<workgroup> ws_sh: array<QScales, KB * BM>;
var<workgroup> ad_sh: array<f32, KB * BN>;
var<workgroup> ax_sh: array<u32, KB * BN>;

const A_WORDS: u32 = BN * KB * 8u;  // activation words a stage
const A_PER: u32 = (A_WORDS + 255u) / 256u;

fn load_and_store_stage(stage: u32, lid: u32, row_base: u32, tok_base: u32, n_tokens: u32, nb: u32) {
  if (lid < BM * KB) {
    let rl = lid % BM;
    let kk = lid / BM;
    let r = row_base + rl;
    let kb = stage * KB + kk;
    var w = QBlock(vec4<u32>(0u), vec4<u32>(0u), 0.0);
    var sc = QScales(vec2<i32>(0), vec2<i32>(0), 0.0);
    if (r < mm.rows && kb < nb) {
      w = load_block(r, kb);
      sc = load_scales(r, kb);
    }
    for (var i = 0u; i < 4u; i++) {
      w_sh[rl * WS + kk * 8u + i] = bitcast<i32>(w.w0[i]);
      w_sh[rl * WS + kk * 8u + 4u + i] = bitcast<i32>(w.w1[i]);
    }
    wd_sh[kk * BM + rl] = w.d;
    ws_sh[kk * BM + rl] = sc;
  }
  for (var u = 0u; u < A_PER; u++) {
    let idx = lid + 256u * u;
    let slot = idx / 8u;  // (block, token): token slot % BN of block slot / BN
    let word = idx % 8u;
    let tl = slot % BN;
    let kk = slot / BN;
    let t = tok_base + tl;
    let kb = stage * KB + kk;
    if (slot < BN * KB) {
      var a = 0u;
      var d = 0.0;
      var e = 0u;
      if (t < n_tokens && kb < nb) {
        a = xq[(t * nb + kb) * 2u + word / 4u][word % 4u];
        d = xd[t * nb + kb];
        e = act_extra(t * nb + kb);
      }
      a_sh[tl * WS + kk * 8u + word] = bitcast<i32>(a);
      if (word == 0u) {
        ad_sh[kk * BN + tl] = d;
        ax_sh[kk * BN + tl] = e;
      }
    }
  }
}

const TILES_M: u32 = BM / SM;
const TILES_N: u32 = BN / SN;
const N_SG: u32 = 256u / SG;
const TILES_PER_SG: u32 = (KB * TILES_M * TILES_N + N_SG - 1u) / N_SG;

@compute @workgroup_size(256)
fn matmul_q8_sgmat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sgid: u32) {
  let n_tokens = min(frame.n_tokens, mm.max_tokens);
  let row_base = wid.x * BM;
  let tok_base = wid.y * BN;
  // The subgroup's index from the builtin, not lid / SG: the matrix
  // builtins take only offsets that are uniform across the subgroup, and
  // WGSL's analysis knows that of subgroup_id alone.
  let sg = sgid;
  // Outputs: rows tr + 8 i, tokens tc + 32 j: a subgroup's lanes read 32
  // consecutive words of dot_sh.
  let tc = lid % 32u;
  let tr = lid / 32u;
  let nb = mm.cols / 32u;
  let n_stages = (nb + KB - 1u) / KB;

  var acc: array<vec2<f32>, 8>;  // acc[i][j]: row tr + 8 i, token tc + 32 j
  for (var i = 0u; i < 8u; i++) {
    acc[i] = vec2<f32>(0.0);
  }
  for (var stage = 0u; stage < n_stages; stage++) {
    load_and_store_stage(stage, lid, row_base, tok_base, n_tokens, nb);
    workgroupBarrier();
    // Same trip count in every subgroup (matrix builtins need uniform
    // control flow); a subgroup past the last sub-tile repeats one whose
    // store writes the same values.
    for (var u = 0u; u < TILES_PER_SG; u++) {
      let tile = min(sg + N_SG * u, KB * TILES_M * TILES_N - 1u);
      let kk = tile / (TILES_M * TILES_N);
      let mi = (tile / TILES_N) % TILES_M;
      let ni = tile % TILES_N;
      var d = subgroup_matrix_result<i32, SN, SM>();
      for (var k = 0u; k < 32u / SK; k++) {
        let l = subgroupMatrixLoad<subgroup_matrix_left<i8, SK, SM>, row_major>(&w_sh, mi * SM * WS + kk * 8u + k * (SK / 4u), WS);
        let r = subgroupMatrixLoad<subgroup_matrix_right<i8, SN, SK>, col_major>(&a_sh, ni * SN * WS + kk * 8u + k * (SK / 4u), WS);
        d = subgroupMatrixMultiplyAccumulate(l, r, d);
      }
      subgroupMatrixStore<row_major>(&dot_sh, kk * BM * BN + mi * SM * BN + ni * SN, d, BN);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KB; kk++) {
      if (stage * KB + kk >= nb) {
        break;
      }
      for (var i = 0u; i < 8u; i++) {
        let rl = tr + 8u * i;
        let wd = wd_sh[kk * BM + rl];
        let sc = ws_sh[kk * BM + rl];
        for (var j = 0u; j < 2u; j++) {
          let tl = tc + 32u * j;
          let s = dot_sh[kk * BM * BN + rl * BN + tl];
          let ad = ad_sh[kk * BN + tl];
          // As matmul_q8_tiled.wgsl: with sc = (1, 1) its sc.x s.x + sc.y s.y
          // is this same integer.
          acc[i][j] = block_acc(acc[i][j], s, wd, ad, sc, ax_sh[kk * BN + tl]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 8u; i++) {
    let r = row_base + tr + 8u * i;
    for (var j = 0u; j < 2u; j++) {
      let t = tok_base + tc + 32u * j;
      if (r < mm.rows && t < n_tokens) {
        store_y(t, mm.row0 + r, acc[i][j]);
      }
    }
  }
}
