// Prefill attention in query tiles, appended to attention.wgsl (its Attn
// uniform, bindings 0-5 and 9, visible_begin/visible_end, inv_sum and HD8): the
// same results as its `attn` entry, bit for bit, with far fewer workgroups
// and far less K/V traffic.
//
// A workgroup of 256 takes NQ = TR * HG query vectors: TR consecutive rows
// of HG heads that share one KV head (HG divides n_head / n_head_kv). It
// walks the cells its rows can see, [visible_begin(first row),
// visible_end(last row)) (with row ranges: the least begin to the greatest
// end of its rows), in chunks of CK cells; each chunk of K rows
// (and, in the last pass, of V rows) is staged in workgroup memory once for
// all NQ vectors. A row skips the cells it does not see. Three passes, as
// `attn` makes them:
//   1. maximum of the scores (any order: the maximum is exact);
//   2. sum of exp_f32(s - max) in dd pairs, in `attn`'s order: "lane" l of
//      a vector sums the cells c with (c - begin) % 64 == l in cell order
//      (a chunk of CK <= 64 cells holds at most one of them per lane), then
//      the 64 lanes are added in `attn`'s tree; inv_sum of the total;
//   3. probabilities round_f16(exp(s - max) * inv) into workgroup memory,
//      then each invocation adds the V rows of the chunk in cell order onto
//      its output pairs.
// With a scratch that holds them (p.score_rows > 0), pass 1 writes each
// score to the scratch and passes 2 and 3 read it back: a score is computed
// once and K staged once. Rows [p.row_base, p.row_base + p.score_rows) are
// one dispatch's chunk (the host dispatches a batch in chunks whose scores
// fit); the scores of row t, head h take p.score_span words from
// ((t - p.row_base) n_head + h) p.score_span, cell c at offset c. A tile
// whose cells or rows would not fit (the host's span is a bound the shader
// checks) recomputes its scores in each pass with `score`'s arithmetic, as
// every tile does without a scratch: the same bits either way.
// Workgroup memory (u32 words of `tq_sh`): the f16 queries (NQ, head_dim / 2),
// the staged K or V chunk (CK rows of head_dim / 2 pairs, every row padded
// to an odd number of words so that invocations scoring consecutive cells
// read different banks), the scores' maxima or probabilities (NQ, CK); the
// host picks NQ, CK so that they fit in 4032 words (with tq_m and tq_inv:
// 16 KiB), NQ <= 32, NQ * CK <= 1024 and NQ * head_dim <= 2048.
// Entry point:
//   attn_tiled  grid (ceil(rows of the chunk / TR), n_head / HG) -> out

// Rows and heads of a tile, and cells of a chunk; set by the host.
override TR: u32 = 1u;
override HG: u32 = 1u;
override CK: u32 = 32u;

const TWG: u32 = 256u;
const TQ_WORDS: u32 = 4032u;

var<workgroup> tq_sh: array<u32, 4032>;
var<workgroup> tq_m: array<f32, 32>;
var<workgroup> tq_inv: array<f32, 32>;

// The score of query vector qv (words at qb) against the staged K row at kb,
// with `score`'s arithmetic.
fn tile_score(qb: u32, kb: u32) -> f32 {
  let hd = p.head_dim;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  let n8 = HD8;
  for (var j = 0u; j < HD8; j++) {
    let w = 4u * j;
    let k0 = vec4<f32>(unpack2x16float(tq_sh[kb + w]), unpack2x16float(tq_sh[kb + w + 1u]));
    let k1 = vec4<f32>(unpack2x16float(tq_sh[kb + w + 2u]), unpack2x16float(tq_sh[kb + w + 3u]));
    let q0 = vec4<f32>(unpack2x16float(tq_sh[qb + w]), unpack2x16float(tq_sh[qb + w + 1u]));
    let q1 = vec4<f32>(unpack2x16float(tq_sh[qb + w + 2u]), unpack2x16float(tq_sh[qb + w + 3u]));
    acc0 += k0 * q0;
    acc1 += k1 * q1;
  }
  let v = acc0 + acc1;
  var s = ((v.x + v.y) + v.z) + v.w;
  for (var i = n8 * 8u; i < hd; i += 2u) {
    let kk = unpack2x16float(tq_sh[kb + i / 2u]);
    let qq = unpack2x16float(tq_sh[qb + i / 2u]);
    s += kk.x * qq.x;
    s += kk.y * qq.y;
  }
  let scaled = s * p.scale;
  if (p.softcap > 0.0) {
    return tanh(scaled * (1.0 / p.softcap)) * p.softcap;
  }
  return scaled;
}

// Words between staged rows: head_dim / 2, made odd.
fn tile_stride() -> u32 {
  return (p.head_dim / 2u) | 1u;
}

// Stages rows [c0, c0 + n) of KV head kvh of `v` (else K) at word k_off,
// rows tile_stride() apart. Every invocation calls it; the caller
// synchronizes.
fn tile_stage(c0: u32, n: u32, kvh: u32, k_off: u32, v: bool, lid: u32) {
  let pairs = p.head_dim / 2u;
  let row_words = p.kv_dim / 2u;
  let words = n * pairs;
  for (var b0 = 0u; b0 < words; b0 += 8u * TWG) {
    var w: array<u32, 8>;
    for (var u = 0u; u < 8u; u++) {
      let i = min(b0 + lid + u * TWG, words - 1u);
      let at = (c0 + i / pairs) * row_words + kvh * pairs + i % pairs;
      if (v) {
        w[u] = v_cache[at];
      } else {
        w[u] = k_cache[at];
      }
    }
    for (var u = 0u; u < 8u; u++) {
      let i = b0 + lid + u * TWG;
      if (i < words) {
        tq_sh[k_off + (i / pairs) * tile_stride() + i % pairs] = w[u];
      }
    }
  }
}

// The scratch word of row t, head h's score of cell 0 (p.score_rows > 0).
fn score_at(t: u32, h: u32, span: u32) -> u32 {
  return ((t - p.row_base) * p.n_head + h) * span;
}

fn dd_at(i: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(tq_sh[i]), bitcast<f32>(tq_sh[i + 1u]));
}

@compute @workgroup_size(256)
fn attn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n_rows = min(frame.n_tokens, p.max_rows);
  // This dispatch's rows: a chunk whose scores the scratch holds, or all.
  var t_end = n_rows;
  if (p.score_rows > 0u) {
    t_end = min(n_rows, p.row_base + p.score_rows);
  }
  let t0 = p.row_base + wid.x * TR;
  let h0 = wid.y * HG;
  let nq = TR * HG;
  let pairs = p.head_dim / 2u;
  let ks = tile_stride();
  let k_off = nq * pairs;
  let p_off = k_off + CK * ks;
  // Uniform across the workgroup: returns before any barrier.
  if (t0 >= t_end || h0 >= p.n_head || nq > 32u || CK > CH || p_off + nq * CK > TQ_WORDS || nq * CK > 4u * TWG || nq * pairs > 4u * TWG) {
    return;
  }
  let kvh = kv_head(h0);
  let t_last = min(t0 + TR, t_end) - 1u;
  var c_lo = visible_begin(t0);
  var c_hi = visible_end(t_last);
  if (frame.ranged != 0u) {
    // Packed sequences: rows need not see more the later they come.
    for (var t = t0; t <= t_last; t++) {
      c_lo = min(c_lo, visible_begin(t));
      c_hi = max(c_hi, visible_end(t));
    }
  }
  // Scores stored when the chunk's rows and this tile's cells fit the scratch.
  let span = p.score_span;
  let stored = p.score_rows > 0u && c_hi <= span && p.score_rows <= p.score_words / max(1u, p.n_head * span);

  // The queries, times q_scale, rounded to f16: vector qv = r * HG + g is
  // row t0 + r of head h0 + g.
  for (var i = lid; i < nq * pairs; i += TWG) {
    let qv = i / pairs;
    let t = min(t0 + qv / HG, t_last);
    let base = (t * p.n_head + h0 + qv % HG) * p.head_dim + 2u * (i % pairs);
    tq_sh[i] = pack_f16(q[base] * p.q_scale, q[base + 1u] * p.q_scale);
  }

  // Pass 1: maxima. Invocation lid scores (qv, j) = divmod(lid + TWG u, CK)
  // of every chunk (TWG is a multiple of CK: the same vectors every chunk).
  var mx = array<f32, 4>(NEG, NEG, NEG, NEG);
  for (var c0 = c_lo; c0 < c_hi; c0 += CK) {
    let n = min(CK, c_hi - c0);
    workgroupBarrier();
    tile_stage(c0, n, kvh, k_off, false, lid);
    workgroupBarrier();
    for (var u = 0u; u < 4u; u++) {
      let i = lid + u * TWG;
      let qv = i / CK;
      let j = i % CK;
      let t = t0 + qv / HG;
      if (qv < nq && j < n && t <= t_last) {
        let c = c0 + j;
        if (c >= visible_begin(t) && c < visible_end(t)) {
          let sv = tile_score(qv * pairs, k_off + j * ks);
          mx[u] = max(mx[u], sv);
          if (stored) {
            scratch[score_at(t, h0 + qv % HG, span) + c] = sv;
          }
        }
      }
    }
  }
  workgroupBarrier();
  for (var u = 0u; u < 4u; u++) {
    let i = lid + u * TWG;
    if (i < nq * CK) {
      tq_sh[p_off + i] = bitcast<u32>(mx[u]);
    }
  }
  workgroupBarrier();
  if (lid < nq) {
    var m = NEG;
    for (var j = 0u; j < CK; j++) {
      m = max(m, bitcast<f32>(tq_sh[p_off + lid * CK + j]));
    }
    tq_m[lid] = m;
  }

  // Pass 2: sums. Invocation lid is lane l = lid % 64 of vectors
  // lid / 64 + 4 k.
  let l = lid % CH;
  var sums: array<vec2<f32>, 8>;
  for (var k = 0u; k < 8u; k++) {
    sums[k] = vec2<f32>(0.0);
  }
  // The scores other invocations stored, and tq_m, visible from here on.
  storageBarrier();
  workgroupBarrier();
  if (stored) {
    // Lane l adds cells begin + l + 64 i of its vectors, in cell order,
    // four scores loaded before the first is added.
    for (var k = 0u; k < 8u && 4u * k < nq; k++) {
      let qv = lid / CH + 4u * k;
      let t = t0 + qv / HG;
      if (qv < nq && t <= t_last) {
        let b = visible_begin(t);
        let e = visible_end(t);
        let at = score_at(t, h0 + qv % HG, span);
        let m = tq_m[qv];
        for (var c = b + l; c < e; c += 4u * CH) {
          var sv: array<f32, 4>;
          for (var u = 0u; u < 4u; u++) {
            sv[u] = scratch[at + min(c + u * CH, e - 1u)];
          }
          for (var u = 0u; u < 4u; u++) {
            if (c + u * CH < e) {
              sums[k] = dd_add(sums[k], vec2<f32>(exp_f32(sv[u] - m), 0.0));
            }
          }
        }
      }
    }
  }
  for (var c0 = c_lo; c0 < select(c_hi, c_lo, stored); c0 += CK) {
    let n = min(CK, c_hi - c0);
    workgroupBarrier();
    tile_stage(c0, n, kvh, k_off, false, lid);
    workgroupBarrier();
    for (var k = 0u; k < 8u && 4u * k < nq; k++) {
      let qv = lid / CH + 4u * k;
      let t = t0 + qv / HG;
      if (qv < nq && t <= t_last) {
        let b = visible_begin(t);
        // The cell of this lane in [c0, c0 + 64).
        let j = ((b + l) % CH + CH - c0 % CH) % CH;
        let c = c0 + j;
        if (j < n && c >= b && c < visible_end(t)) {
          let e = exp_f32(tile_score(qv * pairs, k_off + j * ks) - tq_m[qv]);
          sums[k] = dd_add(sums[k], vec2<f32>(e, 0.0));
        }
      }
    }
  }
  // The lanes of each vector added in `attn`'s tree, four vectors at a time
  // in words [k_off, k_off + 512) (k_off = nq * head_dim / 2 <= 1024).
  for (var k = 0u; k < 8u && 4u * k < nq; k++) {
    workgroupBarrier();
    tq_sh[k_off + 2u * lid] = bitcast<u32>(sums[k].x);
    tq_sh[k_off + 2u * lid + 1u] = bitcast<u32>(sums[k].y);
    workgroupBarrier();
    for (var s = CH / 2u; s > 0u; s >>= 1u) {
      if (l < s) {
        let r = dd_add(dd_at(k_off + 2u * lid), dd_at(k_off + 2u * (lid + s)));
        tq_sh[k_off + 2u * lid] = bitcast<u32>(r.x);
        tq_sh[k_off + 2u * lid + 1u] = bitcast<u32>(r.y);
      }
      workgroupBarrier();
    }
    let qv = lid / CH + 4u * k;
    if (l == 0u && qv < nq) {
      tq_inv[qv] = inv_sum(dd_at(k_off + 2u * lid));
    }
  }

  // Pass 3: P.V. Invocation lid owns output pairs o = lid + TWG u, pair
  // o % (head_dim / 2) of vector o / (head_dim / 2).
  var acc: array<vec2<f32>, 4>;
  for (var u = 0u; u < 4u; u++) {
    acc[u] = vec2<f32>(0.0);
  }
  for (var c0 = c_lo; c0 < c_hi; c0 += CK) {
    let n = min(CK, c_hi - c0);
    workgroupBarrier();
    if (!stored) {
      tile_stage(c0, n, kvh, k_off, false, lid);
      workgroupBarrier();
    }
    for (var u = 0u; u < 4u; u++) {
      let i = lid + u * TWG;
      let qv = i / CK;
      let j = i % CK;
      let t = t0 + qv / HG;
      if (qv < nq) {
        var pc = 0.0;
        let c = c0 + j;
        if (j < n && t <= t_last && c >= visible_begin(t) && c < visible_end(t)) {
          var sv: f32;
          if (stored) {
            sv = scratch[score_at(t, h0 + qv % HG, span) + c];
          } else {
            sv = tile_score(qv * pairs, k_off + j * ks);
          }
          pc = round_f16(exp_f32(sv - tq_m[qv]) * tq_inv[qv]);
        }
        tq_sh[p_off + i] = bitcast<u32>(pc);
      }
    }
    workgroupBarrier();
    tile_stage(c0, n, kvh, k_off, true, lid);
    workgroupBarrier();
    for (var u = 0u; u < 4u; u++) {
      let o = lid + u * TWG;
      let qv = o / pairs;
      let w = o % pairs;
      let t = t0 + qv / HG;
      if (qv < nq && t <= t_last) {
        let jb = min(max(visible_begin(t), c0) - c0, n);
        let je = min(max(visible_end(t), c0) - c0, n);
        for (var j = jb; j < je; j++) {
          let pc = bitcast<f32>(tq_sh[p_off + qv * CK + j]);
          acc[u] += pc * unpack2x16float(tq_sh[k_off + j * ks + w]);
        }
      }
    }
  }
  for (var u = 0u; u < 4u; u++) {
    let o = lid + u * TWG;
    let qv = o / pairs;
    let t = t0 + qv / HG;
    if (qv < nq && t <= t_last) {
      let base = (t * p.n_head + h0 + qv % HG) * p.head_dim + 2u * (o % pairs);
      out[base] = acc[u].x;
      out[base + 1u] = acc[u].y;
    }
  }
}
