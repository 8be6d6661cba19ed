// RoPE on q and k and the K/V cache store in one pass (the fused form of
// rope.wgsl on q, rope.wgsl on k and kv_store.wgsl, with their arithmetic):
// q is rotated in place; k is rotated and written with v into cache cells
// frame.cell0 + t as f16, rounded to nearest even like the CPU. Composed
// after common.wgsl and rope_math.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  rp: Rope (uniform; n_heads = q heads, max_rows = rows q, k, v hold)
//   binding 2  q: (T, n_head * head_dim) f32, read-write
//   binding 3  k: (T, kv_dim) f32
//   binding 4  v: (T, kv_dim) f32
//   binding 5  k_cache: (n_ctx, kv_dim) f16, two to a u32
//   binding 6  v_cache: (n_ctx, kv_dim) f16, two to a u32
//   binding 7  freq_factors: (n_rot / 2) f32 (a 1-element dummy when unused)
//   binding 8  st: KvStore (uniform)
//   binding 9  bias: with st.bias, the biases of q, k and v back to back
//              (n_head * head_dim + 2 kv_dim f32), added to q, k and v as
//              they are read (the projections' bias adds fused; only where
//              n_rot == head_dim: every q element is rewritten)
// One invocation per q pair, k word or v word of a row. Grid: flattened, 64
// a workgroup. Bounds: rows >= min(frame.n_tokens, rp.max_rows), cells >= st.n_ctx.

struct KvStore {
  kv_dim: u32,
  n_ctx: u32,
  bias: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> rp: Rope;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(7) var<storage, read> freq_factors: array<f32>;
@group(0) @binding(8) var<uniform> st: KvStore;
@group(0) @binding(9) var<storage, read> bias: array<f32>;

// Element i of row t of k (its bias added with st.bias).
fn k_at(t: u32, i: u32) -> f32 {
  if (st.bias != 0u) {
    return k[t * st.kv_dim + i] + bias[rp.n_heads * rp.head_dim + i];
  }
  return k[t * st.kv_dim + i];
}

// Element e (of a head starting at element `base` of row t of k) after
// rotation to position pos.
fn rotated_k(t: u32, base: u32, e: u32, pos: i32) -> f32 {
  if (e >= rp.n_rot) {
    return k_at(t, base + e);
  }
  let half = rp.n_rot / 2u;
  var i: u32;
  var first: bool;
  if (rp.neox != 0u) {
    first = e < half;
    i = select(e - half, e, first);
  } else {
    first = e % 2u == 0u;
    i = e / 2u;
  }
  let ab = rope_pair(i) + vec2<u32>(base);
  let x0 = k_at(t, ab.x);
  let x1 = k_at(t, ab.y);
  let cs = rope_cs(pos, i);
  if (first) {
    return x0 * cs.x - x1 * cs.y;
  }
  return x0 * cs.y + x1 * cs.x;
}

@compute @workgroup_size(64)
fn rope_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let half = rp.n_rot / 2u;
  let q_units = rp.n_heads * half;
  let kv_words = st.kv_dim / 2u;
  let per_row = q_units + 2u * kv_words;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  let t = id / per_row;
  let u = id % per_row;
  if (t >= min(frame.n_tokens, rp.max_rows)) {
    return;
  }
  let pos = i32(frame.cell0 + t);
  if (u < q_units) {
    let i = u % half;
    let h = u / half;
    let cs = rope_cs(pos, i);
    let row = t * rp.n_heads * rp.head_dim;
    let ab = rope_pair(i) + vec2<u32>(row + h * rp.head_dim);
    var x0 = q[ab.x];
    var x1 = q[ab.y];
    if (st.bias != 0u) {
      x0 = x0 + bias[ab.x - row];
      x1 = x1 + bias[ab.y - row];
    }
    q[ab.x] = x0 * cs.x - x1 * cs.y;
    q[ab.y] = x0 * cs.y + x1 * cs.x;
    return;
  }
  let cell = frame.cell0 + t;
  if (cell >= st.n_ctx) {
    return;
  }
  let w = u - q_units;
  if (w < kv_words) {
    let hp = rp.head_dim / 2u;
    let base = (w / hp) * rp.head_dim;
    let e = 2u * (w % hp);
    k_cache[cell * kv_words + w] = pack_f16(rotated_k(t, base, e, pos), rotated_k(t, base, e + 1u, pos));
  } else {
    let vw = w - kv_words;
    var v0 = v[t * st.kv_dim + 2u * vw];
    var v1 = v[t * st.kv_dim + 2u * vw + 1u];
    if (st.bias != 0u) {
      let b = rp.n_heads * rp.head_dim + st.kv_dim + 2u * vw;
      v0 = v0 + bias[b];
      v1 = v1 + bias[b + 1u];
    }
    v_cache[cell * kv_words + vw] = pack_f16(v0, v1);
  }
}
