// The K half of a context shift: cached key rows [p.cell0, p.cell0 + p.n)
// re-rotated by p.delta positions in place, f16 -> f32 -> rotate -> f16
// (rounding to nearest even, as the CPU's rope_shift_k). Composed after
// common.wgsl and rope_math.wgsl.
//   binding 1  rp: Rope (uniform; rp.max_rows = n_ctx)
//   binding 2  p: Shift (uniform)
//   binding 3  k_cache: (n_ctx, kv_dim) f16, two to a u32, read-write
//   binding 4  freq_factors: (n_rot / 2) f32 (a 1-element dummy when unused)
// No frame: a shift is encoded on its own, outside any forward.
// One invocation per (cell, head, pair of pairs): it rotates pairs 2j and
// 2j + 1, which occupy whole u32 words in both styles when n_rot % 4 == 0
// (host-checked), so no two invocations write the same word.
// Bounds: cells >= rp.max_rows and words past the cell's row are never touched.

struct Shift {
  cell0: u32,
  n: u32,
  delta: i32,
  kv_dim: u32,
}

@group(0) @binding(1) var<uniform> rp: Rope;
@group(0) @binding(2) var<uniform> p: Shift;
@group(0) @binding(3) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(4) var<storage, read> freq_factors: array<f32>;

fn rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}

@compute @workgroup_size(64)
fn kv_shift(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let quarter = rp.n_rot / 4u;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  let j = id % quarter;
  let h = (id / quarter) % rp.n_heads;
  let c = id / (quarter * rp.n_heads);
  let cell = p.cell0 + c;
  if (c >= p.n || cell >= rp.max_rows) {
    return;
  }
  let base = cell * p.kv_dim + h * rp.head_dim;  // even: kv_dim and head_dim are
  var wa: u32;  // word holding the first elements of pairs 2j, 2j+1 (NeoX), or pair 2j
  var wb: u32;  // word holding their second elements (NeoX), or pair 2j + 1
  if (rp.neox != 0u) {
    wa = base / 2u + j;
    wb = (base + rp.n_rot / 2u) / 2u + j;
  } else {
    wa = base / 2u + 2u * j;
    wb = wa + 1u;
  }
  if (wb >= (cell + 1u) * p.kv_dim / 2u) {
    return;
  }
  let cs0 = rope_cs(p.delta, 2u * j);
  let cs1 = rope_cs(p.delta, 2u * j + 1u);
  let a = unpack2x16float(k_cache[wa]);
  let b = unpack2x16float(k_cache[wb]);
  if (rp.neox != 0u) {
    let r0 = rotate(a.x, b.x, cs0);
    let r1 = rotate(a.y, b.y, cs1);
    k_cache[wa] = pack_f16(r0.x, r1.x);
    k_cache[wb] = pack_f16(r0.y, r1.y);
  } else {
    let r0 = rotate(a.x, a.y, cs0);
    let r1 = rotate(b.x, b.y, cs1);
    k_cache[wa] = pack_f16(r0.x, r0.y);
    k_cache[wb] = pack_f16(r1.x, r1.y);
  }
}
