// Embedding rows of quantized weights (embed_row.wgsl): one invocation per
// 32-element block. The element formulas of cpp/quants_q.cpp and
// cpp/quants_k.cpp, by FORM:
//   0  q * d                      Q8_0, Q4_0, Q5_0, IQ4_NL (signed q)
//   1  q * d + m                  Q4_1, Q5_1 (m: load_scales' dm)
//   2  (d * sc) * q - dmin * m    Q2_K, Q4_K, Q5_K; Q3_K and Q6_K (signed
//                                 q, no minimum: the difference is exact)
// sc and m are the block's half's (16 elements each); SIGNED says whether
// load_block's bytes are signed.

override FORM: u32 = 0u;
override SIGNED: bool = true;

struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

// Byte j of word w, as f32, signed or not.
fn qbyte(w: u32, j: u32) -> f32 {
  if (SIGNED) {
    return f32(bitcast<i32>(w << (24u - 8u * j)) >> 24u);
  }
  return f32((w >> (8u * j)) & 0xffu);
}

@compute @workgroup_size(64)
fn embed_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = token[0];
  let b = gid.x;
  if (!embed_row_of(t) || b >= mm.cols / 32u) {
    return;
  }
  let r = t - mm.row0;
  let blk = load_block(r, b);
  let s = load_scales(r, b);
  for (var h = 0u; h < 2u; h++) {
    var dl = blk.d;
    var ml = 0.0;
    if (FORM == 2u) {
      dl = keep(blk.d * f32(s.sc[h]));
      ml = keep(s.dm * f32(s.m[h]));
    }
    for (var i = 0u; i < 4u; i++) {
      let w = select(blk.w0[i], blk.w1[i], h == 1u);
      for (var j = 0u; j < 4u; j++) {
        let q = qbyte(w, j);
        var v: f32;
        if (FORM == 1u) {
          v = keep(q * blk.d) + s.dm;
        } else if (FORM == 2u) {
          v = keep(dl * q) - ml;
        } else {
          v = q * blk.d;
        }
        embed_store(32u * b + 16u * h + 4u * i + j, v);
      }
    }
  }
}
