// Causal attention over the f16 KV cache with an online softmax: query row
// t of head h attends to cells [0, min(frame.cell0 + t + 1, frame.n_kv,
// p.n_ctx)), head h reading KV head h / (n_head / n_head_kv). The query is
// rounded to f16 before q.k, where the CPU rounds it; probabilities stay f32.
// Workgroup of 64 = one chunk of 64 cells: each invocation scores one cell,
// then owns head dims (2 lid, 2 lid + 1) and (2 lid + 128, 2 lid + 129) of
// the output while the chunk's V rows are summed (neighbours read
// neighbouring words).
// Entry points:
//   attn          grid (T, n_head): one workgroup per row and head -> out
//   attn_split    grid (n_split, n_head), decode (row 0 only): each split
//                 scores a slice of the cells -> partials (flash-decoding)
//   attn_combine  grid (1, n_head): merges the splits of row 0 -> out
// Bindings:
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Attn (uniform)
//   binding 2  q: (T, n_head, head_dim) f32
//   binding 3  k_cache: (n_ctx, kv_dim) f16, 8 to a vec4<u32>
//   binding 4  v_cache: (n_ctx, kv_dim) f16, 2 to a u32
//   binding 5  out: (T, n_head, head_dim) f32
//   binding 6  partials: (n_head, n_split, 2 + head_dim) f32: max, sum, unnormalized output
// Bounds (host-checked too): head_dim <= 256 and % 8 == 0, kv_dim % 8 == 0,
// rows >= min(frame.n_tokens, p.max_rows) skipped; no cell >= n_kv or >= n_ctx is read.

struct Attn {
  n_head: u32,
  n_head_kv: u32,
  head_dim: u32,
  kv_dim: u32,
  scale: f32,
  n_ctx: u32,
  max_rows: u32,
  n_split: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Attn;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> v_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const CH: u32 = 64u;
// A finite "minus infinity": WGSL does not promise inf arithmetic, and
// exp(NEG - m) is exactly 0 for any real score m.
const NEG: f32 = -3.0e38;

var<workgroup> q_sh: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;

struct Partial {
  m: f32,
  l: f32,
  o0: vec2<f32>,  // dims 2 lid, 2 lid + 1
  o1: vec2<f32>,  // dims 2 lid + 128, 2 lid + 129
}

// Cells visible to row t.
fn visible_end(t: u32) -> u32 {
  return min(min(frame.cell0 + t + 1u, frame.n_kv), p.n_ctx);
}

fn unpack8(w: vec4<u32>) -> array<vec4<f32>, 2> {
  return array<vec4<f32>, 2>(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
                             vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
}

// Row t of head h over cells [c_begin, c_end), both workgroup-uniform.
fn attend(t: u32, h: u32, c_begin: u32, c_end: u32, lid: u32) -> Partial {
  let hd = p.head_dim;
  let kvh = h / (p.n_head / p.n_head_kv);
  let q_base = (t * p.n_head + h) * hd;
  for (var i = lid; i < hd; i += CH) {
    q_sh[i] = round_f16(q[q_base + i]);
  }
  workgroupBarrier();

  var m = NEG;
  var l = 0.0;
  var o0 = vec2<f32>(0.0);
  var o1 = vec2<f32>(0.0);
  let pairs = hd / 2u;
  let v_off = kvh * pairs;
  for (var c0 = c_begin; c0 < c_end; c0 += CH) {
    let n_here = min(CH, c_end - c0);
    // Scores: invocation lid takes cell c0 + lid.
    var s = NEG;
    if (lid < n_here) {
      let k_row = ((c0 + lid) * p.kv_dim + kvh * hd) / 8u;
      var acc = 0.0;
      for (var j = 0u; j < hd / 8u; j++) {
        let kk = unpack8(k_cache[k_row + j]);
        let qo = j * 8u;
        acc += dot(kk[0], vec4<f32>(q_sh[qo], q_sh[qo + 1u], q_sh[qo + 2u], q_sh[qo + 3u]));
        acc += dot(kk[1], vec4<f32>(q_sh[qo + 4u], q_sh[qo + 5u], q_sh[qo + 6u], q_sh[qo + 7u]));
      }
      s = acc * p.scale;
    }
    sc[lid] = s;
    workgroupBarrier();
    var m_chunk = NEG;
    for (var i = 0u; i < n_here; i++) {
      m_chunk = max(m_chunk, sc[i]);
    }
    let m_new = max(m, m_chunk);
    let alpha = exp(m - m_new);
    workgroupBarrier();  // every max is read before sc is overwritten
    sc[lid] = select(0.0, exp(s - m_new), lid < n_here);
    workgroupBarrier();

    // Weighted V rows: invocation lid owns word pairs lid and lid + 64.
    var l_chunk = 0.0;
    o0 *= alpha;
    o1 *= alpha;
    for (var i = 0u; i < n_here; i++) {
      let pc = sc[i];
      l_chunk += pc;
      let row = (c0 + i) * (p.kv_dim / 2u) + v_off;
      if (lid < pairs) {
        o0 += pc * unpack2x16float(v_cache[row + lid]);
      }
      if (lid + CH < pairs) {
        o1 += pc * unpack2x16float(v_cache[row + lid + CH]);
      }
    }
    l = l * alpha + l_chunk;
    m = m_new;
    workgroupBarrier();  // sc is rewritten by the next chunk
  }
  return Partial(m, l, o0, o1);
}

fn write_out(t: u32, h: u32, lid: u32, o0: vec2<f32>, o1: vec2<f32>, l: f32) {
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let base = (t * p.n_head + h) * p.head_dim;
  let pairs = p.head_dim / 2u;
  if (lid < pairs) {
    out[base + 2u * lid] = o0.x * inv;
    out[base + 2u * lid + 1u] = o0.y * inv;
  }
  if (lid + CH < pairs) {
    out[base + 2u * (lid + CH)] = o1.x * inv;
    out[base + 2u * (lid + CH) + 1u] = o1.y * inv;
  }
}

@compute @workgroup_size(64)
fn attn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let h = wid.y;
  if (t >= min(frame.n_tokens, p.max_rows)) {
    return;
  }
  let r = attend(t, h, 0u, visible_end(t), lid);
  write_out(t, h, lid, r.o0, r.o1, r.l);
}

@compute @workgroup_size(64)
fn attn_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let h = wid.y;
  if (min(frame.n_tokens, p.max_rows) == 0u) {
    return;
  }
  let end = visible_end(0u);
  let len = (end + p.n_split - 1u) / p.n_split;
  let c_begin = min(s * len, end);
  let c_end = min(c_begin + len, end);
  let r = attend(0u, h, c_begin, c_end, lid);
  let base = (h * p.n_split + s) * (2u + p.head_dim);
  let pairs = p.head_dim / 2u;
  if (lid == 0u) {
    partials[base] = r.m;
    partials[base + 1u] = r.l;
  }
  if (lid < pairs) {
    partials[base + 2u + 2u * lid] = r.o0.x;
    partials[base + 3u + 2u * lid] = r.o0.y;
  }
  if (lid + CH < pairs) {
    partials[base + 2u + 2u * (lid + CH)] = r.o1.x;
    partials[base + 3u + 2u * (lid + CH)] = r.o1.y;
  }
}

@compute @workgroup_size(64)
fn attn_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  if (min(frame.n_tokens, p.max_rows) == 0u) {
    return;
  }
  let stride = 2u + p.head_dim;
  var m = NEG;
  for (var s = 0u; s < p.n_split; s++) {
    let b = (h * p.n_split + s) * stride;
    if (partials[b + 1u] > 0.0) {
      m = max(m, partials[b]);
    }
  }
  var l = 0.0;
  var o0 = vec2<f32>(0.0);
  var o1 = vec2<f32>(0.0);
  let pairs = p.head_dim / 2u;
  for (var s = 0u; s < p.n_split; s++) {
    let b = (h * p.n_split + s) * stride;
    let ls = partials[b + 1u];
    if (ls > 0.0) {
      let w = exp(partials[b] - m);
      l += w * ls;
      if (lid < pairs) {
        o0 += w * vec2<f32>(partials[b + 2u + 2u * lid], partials[b + 3u + 2u * lid]);
      }
      if (lid + CH < pairs) {
        o1 += w * vec2<f32>(partials[b + 2u + 2u * (lid + CH)], partials[b + 3u + 2u * (lid + CH)]);
      }
    }
  }
  write_out(0u, h, lid, o0, o1, l);
}
