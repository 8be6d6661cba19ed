// Decode attention (one query row) split over the cells, flash-decoding
// style: appended to attention.wgsl (its bindings, Attn, score rounding,
// visible cells, inv_sum, q8 output), computing what `attn` computes for row
// 0 with the same rounding points: the query rounded to f16, scores summed
// in the CPU's order, exp(s - max over all visible cells), the sum of the
// exps in two_sum pairs, each probability normalized and rounded to f16
// before it weights its V row.
//
// A workgroup of 128 takes HG heads of one KV head (HG divides the GQA group,
// so K and V rows are read once for all of them) and one slice of SL = 128
// cells (slice s: cells [begin + s SL, begin + (s + 1) SL) of row 0's visible
// cells). Where the visible cells fit one slice, attn_dec does it all in one
// dispatch; else three:
//   attn_dec          grid (slices, n_head / HG): scores of the slice ->
//                     scratch.scores, its maximum m and sum(exp(s - m)) ->
//                     scratch.stats; or, with one slice, the whole output
//   attn_dec_pv       grid (slices, n_head / HG): the total over the slices
//                     (max M, sum of sum_j exp(m_j - M)), the slice's
//                     normalized probabilities times V -> scratch.partials
//   attn_dec_combine  grid (1, n_head / HG): the partials added in slice order -> out
// Which of these run is the shader's own choice from the frame (the host's
// grid is an upper bound): with one slice, attn_dec writes the output and
// the other two return at once; with several, attn_dec only writes stats.
// The total's sum scales each slice's sum by exp(m_j - M) (one f32 rounding
// more than the CPU's single sum; at most a few ulps of every probability
// before its f16 rounding).
//
// Scratch (f32): scores (n_head, n_ctx), then stats (n_head, p.n_split, 4:
// max, sum hi, sum lo), then partials (n_head, p.n_split, head_dim), with
// p.n_split = ceil(n_ctx / SL) (the host sizes it: attentionScratchBytes).
// Bounds: HG <= 8 (HG * head_dim <= 2048), every loop bounded by SL, head_dim
// or p.n_split.

override HG: u32 = 1u;
const SL: u32 = 128u;
const DW: u32 = 128u;
// Lanes per head in the softmax reductions: 128 / 8.
const LPH: u32 = 16u;

var<workgroup> qd: array<f32, 2048>;       // (HG, head_dim): the queries, then the output for q8
var<workgroup> pd: array<f32, 1024>;       // (HG, SL): scores, then probabilities
var<workgroup> red: array<vec2<f32>, 128>; // (8 heads, LPH lanes) reductions

fn dec_slices(begin: u32, end: u32) -> u32 {
  return max(1u, (end - begin + SL - 1u) / SL);
}

fn dec_stats(h: u32, s: u32) -> u32 {
  return p.n_head * p.n_ctx + (h * p.n_split + s) * 4u;
}

fn dec_partials(h: u32, s: u32) -> u32 {
  return p.n_head * p.n_ctx + p.n_head * p.n_split * 4u + (h * p.n_split + s) * p.head_dim;
}

// score() of attention.wgsl against the query at qd[qo ..].
fn dec_score(c: u32, kvh: u32, qo: u32) -> f32 {
  let hd = p.head_dim;
  let base = (c * p.kv_dim + kvh * hd) / 2u;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  let n8 = HD8;
  for (var j = 0u; j < HD8; j++) {
    let w = base + 4u * j;
    let o = qo + 8u * j;
    let k0 = vec4<f32>(unpack2x16float(k_cache[w]), unpack2x16float(k_cache[w + 1u]));
    let k1 = vec4<f32>(unpack2x16float(k_cache[w + 2u]), unpack2x16float(k_cache[w + 3u]));
    acc0 += k0 * vec4<f32>(qd[o], qd[o + 1u], qd[o + 2u], qd[o + 3u]);
    acc1 += k1 * vec4<f32>(qd[o + 4u], qd[o + 5u], qd[o + 6u], qd[o + 7u]);
  }
  let v = acc0 + acc1;
  var s = ((v.x + v.y) + v.z) + v.w;
  for (var i = n8 * 8u; i < hd; i += 2u) {
    let kk = unpack2x16float(k_cache[base + i / 2u]);
    s += kk.x * qd[qo + i];
    s += kk.y * qd[qo + i + 1u];
  }
  let scaled = s * p.scale;
  if (p.softcap > 0.0) {
    return tanh(scaled * (1.0 / p.softcap)) * p.softcap;
  }
  return scaled;
}

// Maximum (x) or two_sum total (x, y) over the LPH lanes of each head's
// group in red (every invocation calls these).
fn red_max(v: f32, lid: u32) -> f32 {
  red[lid] = vec2<f32>(v, 0.0);
  workgroupBarrier();
  for (var s = LPH / 2u; s > 0u; s >>= 1u) {
    if ((lid % LPH) < s) {
      red[lid].x = max(red[lid].x, red[lid + s].x);
    }
    workgroupBarrier();
  }
  let m = red[lid - lid % LPH].x;
  workgroupBarrier();
  return m;
}

fn red_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = LPH / 2u; s > 0u; s >>= 1u) {
    if ((lid % LPH) < s) {
      red[lid] = dd_add(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let t = red[lid - lid % LPH];
  workgroupBarrier();
  return t;
}

fn dec_live() -> bool {
  return min(frame.n_tokens, p.max_rows) > 0u;
}

// Queries of heads h0 .. h0 + HG of row 0, times q_scale, rounded to f16.
fn dec_load_q(h0: u32, lid: u32) {
  for (var i = lid; i < HG * p.head_dim; i += DW) {
    qd[i] = round_f16(q[h0 * p.head_dim + i] * p.q_scale);
  }
  workgroupBarrier();
}

// Adds the V rows of cells [c0, c0 + n) weighted by pd to each head's
// output, in cell order; invocation lid owns the f16 pairs lid + k DW of the
// (HG, head_dim / 2) outputs. Loads are issued 16 cells at a time before
// they are used, so their latencies overlap.
fn dec_pv(c0: u32, n: u32, kvh: u32, lid: u32) -> array<vec2<f32>, 8> {
  let pairs = p.head_dim / 2u;
  let row_words = p.kv_dim / 2u;
  var acc: array<vec2<f32>, 8>;
  for (var k = 0u; k < 8u; k++) {
    acc[k] = vec2<f32>(0.0);
    let o = lid + k * DW;
    if (o >= HG * pairs) {
      break;
    }
    let hh = o / pairs;
    let col = kvh * pairs + o % pairs;
    var a = vec2<f32>(0.0);
    for (var c = 0u; c < n; c += 16u) {
      var w: array<u32, 16>;
      for (var u = 0u; u < 16u; u++) {
        w[u] = v_cache[(c0 + min(c + u, n - 1u)) * row_words + col];
      }
      for (var u = 0u; u < 16u; u++) {
        if (c + u < n) {
          a += pd[hh * SL + c + u] * unpack2x16float(w[u]);
        }
      }
    }
    acc[k] = a;
  }
  return acc;
}

// Writes the outputs of heads h0 .. h0 + HG (pairs as dec_pv owns them) and,
// with p.q8, their Q8_0 blocks (every invocation calls this).
fn dec_write(h0: u32, acc: array<vec2<f32>, 8>, lid: u32) {
  let pairs = p.head_dim / 2u;
  let base = h0 * p.head_dim;
  workgroupBarrier();
  for (var k = 0u; k < 8u; k++) {
    let o = lid + k * DW;
    if (o < HG * pairs) {
      out[base + 2u * o] = acc[k].x;
      out[base + 2u * o + 1u] = acc[k].y;
      qd[2u * o] = acc[k].x;
      qd[2u * o + 1u] = acc[k].y;
    }
  }
  if (p.q8 == 0u || frame.n_tokens != 1u) {
    return;
  }
  workgroupBarrier();
  for (var b = lid; b < HG * p.head_dim / 32u; b += DW) {
    var v: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      let o = b * 32u + 4u * i;
      v[i] = vec4<f32>(qd[o], qd[o + 1u], qd[o + 2u], qd[o + 3u]);
    }
    store_q8_block(base / 32u + b, v);
  }
}

@compute @workgroup_size(128)
fn attn_dec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (!dec_live()) {
    return;
  }
  let begin = visible_begin(0u);
  let end = visible_end(0u);
  let ns = dec_slices(begin, end);
  let s = wid.x;
  if (s >= ns) {
    return;
  }
  let h0 = wid.y * HG;
  let kvh = kv_head(h0);
  let c0 = begin + s * SL;
  let n = min(SL, end - c0);
  dec_load_q(h0, lid);
  // Invocation lid scores cell c0 + lid for every head (K row read once, then cached).
  for (var hh = 0u; hh < HG; hh++) {
    var v = NEG;
    if (lid < n) {
      v = dec_score(c0 + lid, kvh, hh * p.head_dim);
    }
    pd[hh * SL + lid] = v;
  }
  workgroupBarrier();
  // Lanes (hh, lane) = (lid / LPH, lid % LPH) reduce head hh over cells lane + i LPH.
  let hh = lid / LPH;
  let lane = lid % LPH;
  let mine = hh < HG;
  var m = NEG;
  if (mine) {
    for (var c = lane; c < n; c += LPH) {
      m = max(m, pd[hh * SL + c]);
    }
  }
  m = red_max(m, lid);
  var sum = vec2<f32>(0.0);
  var e: array<f32, 8>;  // SL / LPH exps of this lane's cells
  if (mine) {
    for (var i = 0u; i < SL / LPH; i++) {
      let c = lane + i * LPH;
      e[i] = 0.0;
      if (c < n) {
        e[i] = exp_f32(pd[hh * SL + c] - m);
        sum = dd_add(sum, vec2<f32>(e[i], 0.0));
      }
    }
  }
  sum = red_sum(sum, lid);
  if (ns > 1u) {
    // Several slices: the raw scores and this slice's stats for attn_dec_pv.
    if (mine) {
      let h = h0 + hh;
      for (var c = lane; c < n; c += LPH) {
        scratch[h * p.n_ctx + c0 + c] = pd[hh * SL + c];
      }
      if (lane == 0u) {
        let b = dec_stats(h, s);
        scratch[b] = m;
        scratch[b + 1u] = sum.x;
        scratch[b + 2u] = sum.y;
      }
    }
    return;
  }
  let inv = inv_sum(sum);
  if (mine) {
    for (var i = 0u; i < SL / LPH; i++) {
      let c = lane + i * LPH;
      if (c < n) {
        pd[hh * SL + c] = round_f16(e[i] * inv);
      }
    }
  }
  workgroupBarrier();
  dec_write(h0, dec_pv(c0, n, kvh, lid), lid);
}

@compute @workgroup_size(128)
fn attn_dec_pv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (!dec_live()) {
    return;
  }
  let begin = visible_begin(0u);
  let end = visible_end(0u);
  let ns = dec_slices(begin, end);
  let s = wid.x;
  if (ns == 1u || s >= ns) {
    return;
  }
  let h0 = wid.y * HG;
  let kvh = kv_head(h0);
  let c0 = begin + s * SL;
  let n = min(SL, end - c0);
  // The total over the slices: each head's LPH lanes take every LPH-th slice.
  let hh = lid / LPH;
  let lane = lid % LPH;
  let mine = hh < HG;
  let h = h0 + min(hh, HG - 1u);
  var big = NEG;
  if (mine) {
    for (var j = lane; j < ns; j += LPH) {
      big = max(big, scratch[dec_stats(h, j)]);
    }
  }
  big = red_max(big, lid);
  var total = vec2<f32>(0.0);
  if (mine) {
    for (var j = lane; j < ns; j += LPH) {
      let b = dec_stats(h, j);
      let f = exp_f32(scratch[b] - big);
      total = dd_add(total, two_sum(scratch[b + 1u] * f, scratch[b + 2u] * f));
    }
  }
  let inv = inv_sum(red_sum(total, lid));
  if (mine) {
    // All eight scores of the lane loaded before any is used.
    var sv: array<f32, 8>;
    for (var i = 0u; i < SL / LPH; i++) {
      sv[i] = scratch[h * p.n_ctx + c0 + min(lane + i * LPH, n - 1u)];
    }
    for (var i = 0u; i < SL / LPH; i++) {
      let c = lane + i * LPH;
      pd[hh * SL + c] = select(0.0, round_f16(exp_f32(sv[i] - big) * inv), c < n);
    }
  }
  workgroupBarrier();
  let acc = dec_pv(c0, n, kvh, lid);
  let pairs = p.head_dim / 2u;
  for (var k = 0u; k < 8u; k++) {
    let o = lid + k * DW;
    if (o < HG * pairs) {
      let b = dec_partials(h0 + o / pairs, s) + 2u * (o % pairs);
      scratch[b] = acc[k].x;
      scratch[b + 1u] = acc[k].y;
    }
  }
}

@compute @workgroup_size(128)
fn attn_dec_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (!dec_live()) {
    return;
  }
  let ns = dec_slices(visible_begin(0u), visible_end(0u));
  if (ns == 1u) {
    return;
  }
  let h0 = wid.y * HG;
  let pairs = p.head_dim / 2u;
  var acc: array<vec2<f32>, 8>;
  for (var k = 0u; k < 8u; k++) {
    acc[k] = vec2<f32>(0.0);
    let o = lid + k * DW;
    if (o < HG * pairs) {
      let h = h0 + o / pairs;
      let d = 2u * (o % pairs);
      var a = vec2<f32>(0.0);
      for (var j0 = 0u; j0 < ns; j0 += 8u) {
        var w: array<vec2<f32>, 8>;
        for (var u = 0u; u < 8u; u++) {
          let b = dec_partials(h, min(j0 + u, ns - 1u)) + d;
          w[u] = vec2<f32>(scratch[b], scratch[b + 1u]);
        }
        for (var u = 0u; u < 8u; u++) {
          if (j0 + u < ns) {
            a += w[u];
          }
        }
      }
      acc[k] = a;
    }
  }
  dec_write(h0, acc, lid);
}
