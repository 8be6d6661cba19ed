// Causal attention over the f16 KV cache, computing what the CPU's
// cpp/ops/attention.cpp computes: query row t of head h attends to cells
// [begin, end) with end = min(frame.cell0 + t + 1, frame.n_kv, p.n_ctx) and
// begin = end - p.window when a sliding window is set (cell c holds
// position c), else 0; or, with frame.ranged (packed sequences, attention
// both ways: embeddings), to the cells rows[2t], rows[2t + 1] give, clamped
// to what the frame sees; head h reads KV head h / (n_head / n_head_kv). Like
// the CPU, the query (times p.q_scale, Gemma's scale on q) is rounded to
// f16, each score is scaled and, with p.softcap > 0, capped to
// softcap * tanh(s / softcap); each
// score is a dot summed in the CPU's order (two 4-lane accumulators over
// runs of 8, then the tail), the softmax takes the maximum over all cells,
// sums exp(s - max) (in two_sum pairs, for the CPU's double), and each
// probability is normalized and rounded to f16 before it weights its V row;
// V rows are summed in cell order. That takes three passes over the cells
// (maximum, sum, P.V), recomputing scores rather than storing them.
// Workgroup of 64. In the output, invocation lid owns head dims (2 lid,
// 2 lid + 1) and (2 lid + 128, 2 lid + 129).
// Entry point:
//   attn          grid (T, n_head): one workgroup per row and head -> out
// A decode step (one row) runs attention_decode.wgsl's split-K kernels
// instead, appended to this file.
// Bindings:
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Attn (uniform)
//   binding 2  q: (T, n_head, head_dim) f32
//   binding 3  k_cache: (n_ctx, kv_dim) f16, 2 to a u32
//   binding 4  v_cache: (n_ctx, kv_dim) f16, 2 to a u32
//   binding 5  out: (T, n_head, head_dim) f32
//   bindings 6, 7  xq, xd (q8_store.wgsl): with p.q8, a decode step (one
//              row) also writes its output as the Q8_0 activations of the
//              output projection (head_dim % 32 == 0: no block straddles heads)
//   binding 8  scratch: f32, decode's slices (attention_decode.wgsl), or
//              prefill's scores (attention_tiled.wgsl)
//   binding 9  rows: (T, 2) u32, each row's first and end cell (read with frame.ranged)
// Bounds (host-checked too): head_dim even and <= 256, kv_dim even; rows >=
// min(frame.n_tokens, p.max_rows) skipped; no cell >= n_kv or >= n_ctx is read.

struct Attn {
  n_head: u32,
  n_head_kv: u32,
  head_dim: u32,
  kv_dim: u32,
  scale: f32,
  n_ctx: u32,
  max_rows: u32,
  n_split: u32,  // decode: slices the scratch holds per head (attention_decode.wgsl)
  window: u32,   // sliding window in cells; 0: full causal attention
  softcap: f32,  // 0: off
  q_scale: f32,  // q is multiplied by this before its f16 rounding
  q8: u32,       // 1: decode also writes the output as Q8_0 (xq, xd)
  // Prefill (attention_tiled.wgsl): scratch words for stored scores, the
  // rows of this dispatch's chunk (0: every row, scores recomputed), the
  // cells each row's scores take in the scratch, and the chunk's first row.
  score_words: u32,
  score_rows: u32,
  score_span: u32,
  row_base: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Attn;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<u32>;
@group(0) @binding(4) var<storage, read> v_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(9) var<storage, read> rows: array<u32>;

const CH: u32 = 64u;
// head_dim / 8 (rounded down), set by the host for the pipeline.
override HD8: u32 = 0u;
// A finite "minus infinity": WGSL does not promise inf arithmetic, and
// exp(NEG - m) is exactly 0 for any real score m.
const NEG: f32 = -3.0e38;

var<workgroup> q_sh: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> dd_sh: array<vec2<f32>, 64>;

// Cells visible to row t: [visible_begin(t), visible_end(t)).
fn visible_end(t: u32) -> u32 {
  if (frame.ranged != 0u) {
    return min(min(rows[2u * t + 1u], frame.n_kv), p.n_ctx);
  }
  return min(min(frame.cell0 + t + 1u, frame.n_kv), p.n_ctx);
}

fn visible_begin(t: u32) -> u32 {
  let end = visible_end(t);
  if (frame.ranged != 0u) {
    return min(rows[2u * t], end);
  }
  if (p.window > 0u && end > p.window) {
    return end - p.window;
  }
  return 0u;
}

fn kv_head(h: u32) -> u32 {
  return h / (p.n_head / p.n_head_kv);
}

// Row t of head h's query, rounded to f16, into q_sh (all invocations call this).
fn load_q(t: u32, h: u32, lid: u32) {
  let base = (t * p.n_head + h) * p.head_dim;
  for (var i = lid; i < p.head_dim; i += CH) {
    q_sh[i] = round_f16(q[base + i] * p.q_scale);
  }
  workgroupBarrier();
}

// The scaled score of cell c against q_sh, summed in the order of the CPU's
// f16 dot: lanes of two 4-wide accumulators over runs of 8 elements, the
// lanes added left to right, then the tail one element at a time.
fn score(c: u32, kvh: u32) -> f32 {
  let hd = p.head_dim;
  let base = (c * p.kv_dim + kvh * hd) / 2u;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  // HD8 = head_dim / 8, a pipeline constant: the loop has a fixed length
  // and unrolls, so the K loads of a score are issued before the first is used.
  let n8 = HD8;
  for (var j = 0u; j < HD8; j++) {
    let w = base + 4u * j;
    let o = 8u * j;
    let k0 = vec4<f32>(unpack2x16float(k_cache[w]), unpack2x16float(k_cache[w + 1u]));
    let k1 = vec4<f32>(unpack2x16float(k_cache[w + 2u]), unpack2x16float(k_cache[w + 3u]));
    acc0 += k0 * vec4<f32>(q_sh[o], q_sh[o + 1u], q_sh[o + 2u], q_sh[o + 3u]);
    acc1 += k1 * vec4<f32>(q_sh[o + 4u], q_sh[o + 5u], q_sh[o + 6u], q_sh[o + 7u]);
  }
  let v = acc0 + acc1;
  var s = ((v.x + v.y) + v.z) + v.w;
  for (var i = n8 * 8u; i < hd; i += 2u) {
    let kk = unpack2x16float(k_cache[base + i / 2u]);
    s += kk.x * q_sh[i];
    s += kk.y * q_sh[i + 1u];
  }
  let scaled = s * p.scale;
  if (p.softcap > 0.0) {
    return tanh(scaled * (1.0 / p.softcap)) * p.softcap;
  }
  return scaled;
}

fn max_all(v: f32, lid: u32) -> f32 {
  sc[lid] = v;
  workgroupBarrier();
  for (var s = CH / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      sc[lid] = max(sc[lid], sc[lid + s]);
    }
    workgroupBarrier();
  }
  let m = sc[0];
  workgroupBarrier();
  return m;
}

fn sum_all(v: vec2<f32>, lid: u32) -> vec2<f32> {
  dd_sh[lid] = v;
  workgroupBarrier();
  for (var s = CH / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      dd_sh[lid] = dd_add(dd_sh[lid], dd_sh[lid + s]);
    }
    workgroupBarrier();
  }
  let t = dd_sh[0];
  workgroupBarrier();
  return t;
}

// Splits a into halves of 12 significant bits (Dekker): their products are
// exact in f32, so no fused multiply-add can change what follows.
fn split12(a: f32) -> vec2<f32> {
  let c = 4097.0 * a;
  let hi = c - (c - a);
  return vec2<f32>(hi, a - hi);
}

// 1 / (s.x + s.y) rounded to f32, as the CPU's (float)(1.0 / sum) of its
// double sum: the correctly rounded 1 / s.x, then one correction step from
// the exact residual 1 - q (s.x + s.y).
fn inv_sum(s: vec2<f32>) -> f32 {
  if (s.x <= 0.0) {
    return 0.0;
  }
  let q0 = div_rn(1.0, s.x);
  let a = split12(q0);
  let b = split12(s.x);
  let prod = q0 * s.x;
  let err = ((a.x * b.x - prod) + a.x * b.y + a.y * b.x) + a.y * b.y;
  let e = ((1.0 - prod) - err) - q0 * s.y;
  return q0 + q0 * e;
}

struct Acc {
  o0: vec2<f32>,  // dims 2 lid, 2 lid + 1
  o1: vec2<f32>,  // dims 2 lid + 128, 2 lid + 129
}

// V rows staged in workgroup memory, VT cells at a time: the 64 invocations
// load a tile together (eight words each at a time, all issued before any is
// stored, so their latencies overlap) and then each walks the tile's cells
// in order. Reading V straight from the cache would cost every invocation
// one memory latency per cell, one after another.
const VT: u32 = 16u;
var<workgroup> v_sh: array<u32, 2048>;  // (VT, head_dim / 2) f16 pairs, head_dim <= 256

// Adds the V rows of cells [c0, c0 + n) weighted by sc[0 .. n) to acc, in
// cell order (n <= CH; sc written and synchronized by the caller). Every
// invocation calls it (it synchronizes the workgroup).
fn add_v(acc: ptr<function, Acc>, c0: u32, n: u32, kvh: u32, lid: u32) {
  let pairs = p.head_dim / 2u;
  let row_words = p.kv_dim / 2u;
  let v_off = kvh * pairs;
  for (var s0 = 0u; s0 < n; s0 += VT) {
    let m = min(VT, n - s0);
    let words = m * pairs;
    for (var b0 = 0u; b0 < words; b0 += 8u * CH) {
      var w: array<u32, 8>;
      for (var u = 0u; u < 8u; u++) {
        let i = min(b0 + lid + u * CH, words - 1u);
        w[u] = v_cache[(c0 + s0 + i / pairs) * row_words + v_off + i % pairs];
      }
      for (var u = 0u; u < 8u; u++) {
        let i = b0 + lid + u * CH;
        if (i < words) {
          v_sh[i] = w[u];
        }
      }
    }
    workgroupBarrier();
    for (var i = 0u; i < m; i++) {
      let pc = sc[s0 + i];
      if (lid < pairs) {
        (*acc).o0 += pc * unpack2x16float(v_sh[i * pairs + lid]);
      }
      if (lid + CH < pairs) {
        (*acc).o1 += pc * unpack2x16float(v_sh[i * pairs + lid + CH]);
      }
    }
    workgroupBarrier();
  }
}

// P.V over cells [c_begin, c_end) given the softmax maximum m and 1 / sum `inv`.
fn attend_pv(h: u32, c_begin: u32, c_end: u32, m: f32, inv: f32, lid: u32) -> Acc {
  let kvh = kv_head(h);
  var acc = Acc(vec2<f32>(0.0), vec2<f32>(0.0));
  for (var c0 = c_begin; c0 < c_end; c0 += CH) {
    let n = min(CH, c_end - c0);
    var pc = 0.0;
    if (lid < n) {
      pc = round_f16(exp_f32(score(c0 + lid, kvh) - m) * inv);
    }
    sc[lid] = pc;
    workgroupBarrier();
    add_v(&acc, c0, n, kvh, lid);
    workgroupBarrier();
  }
  return acc;
}

var<workgroup> o_sh: array<f32, 256>;

// Writes row t of head h; a decode step with p.q8 also quantizes it, one
// 32-element block an invocation (every invocation calls this).
fn write_out(t: u32, h: u32, lid: u32, acc: Acc) {
  let base = (t * p.n_head + h) * p.head_dim;
  let pairs = p.head_dim / 2u;
  if (lid < pairs) {
    out[base + 2u * lid] = acc.o0.x;
    out[base + 2u * lid + 1u] = acc.o0.y;
    o_sh[2u * lid] = acc.o0.x;
    o_sh[2u * lid + 1u] = acc.o0.y;
  }
  if (lid + CH < pairs) {
    out[base + 2u * (lid + CH)] = acc.o1.x;
    out[base + 2u * (lid + CH) + 1u] = acc.o1.y;
    o_sh[2u * (lid + CH)] = acc.o1.x;
    o_sh[2u * (lid + CH) + 1u] = acc.o1.y;
  }
  if (p.q8 == 0u || frame.n_tokens != 1u) {
    return;
  }
  workgroupBarrier();
  if (lid < p.head_dim / 32u) {
    var v: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      let o = lid * 32u + 4u * i;
      v[i] = vec4<f32>(o_sh[o], o_sh[o + 1u], o_sh[o + 2u], o_sh[o + 3u]);
    }
    store_q8_block(base / 32u + lid, v);
  }
}

@compute @workgroup_size(64)
fn attn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let h = wid.y;
  if (t >= min(frame.n_tokens, p.max_rows)) {
    return;
  }
  load_q(t, h, lid);
  let kvh = kv_head(h);
  let begin = visible_begin(t);
  let end = visible_end(t);
  var m = NEG;
  for (var c = begin + lid; c < end; c += CH) {
    m = max(m, score(c, kvh));
  }
  m = max_all(m, lid);
  var s = vec2<f32>(0.0);
  for (var c = begin + lid; c < end; c += CH) {
    s = dd_add(s, vec2<f32>(exp_f32(score(c, kvh) - m), 0.0));
  }
  let inv = inv_sum(sum_all(s, lid));
  write_out(t, h, lid, attend_pv(h, begin, end, m, inv, lid));
}
