// The K half of a context shift: cached key rows [p.cell0, p.cell0 + p.n)
// re-rotated by p.delta positions in place, f16 -> f32 -> rotate -> f16
// (rounding to nearest even, as the CPU's rope_shift_k). Composed after
// common.wgsl and rope_math.wgsl.
//   binding 1  rp: Rope (uniform; rp.max_rows = n_ctx)
//   binding 2  p: Shift (uniform, rewritten before each shift)
//   binding 3  k_cache: (n_ctx, kv_dim) f16, two to a u32, read-write
//   binding 4  freq_factors: (n_rot / 2) f32 (a 1-element dummy when unused)
// No frame: a shift is encoded on its own, outside any forward.
// One invocation per (cell, head) rotates the head's pairs one after
// another: with any even n_rot, a NeoX pair's two halves can share u32
// words with other pairs, so only one invocation may own a head's words.
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

fn get_half(e: u32) -> f32 {
  return unpack2x16float(k_cache[e / 2u])[e % 2u];
}

fn set_half(e: u32, v: f32) {
  let w = k_cache[e / 2u];
  let h = f16_bits(v);
  if (e % 2u == 0u) {
    k_cache[e / 2u] = (w & 0xffff0000u) | h;
  } else {
    k_cache[e / 2u] = (w & 0xffffu) | (h << 16u);
  }
}

@compute @workgroup_size(64)
fn kv_shift(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  let h = id % rp.n_heads;
  let c = id / rp.n_heads;
  let cell = p.cell0 + c;
  if (c >= p.n || cell >= rp.max_rows || (h + 1u) * rp.head_dim > p.kv_dim) {
    return;
  }
  let base = cell * p.kv_dim + h * rp.head_dim;  // in halves
  for (var i = 0u; i < rp.n_rot / 2u; i++) {
    let ab = rope_pair(i) + vec2<u32>(base);
    let x0 = get_half(ab.x);
    let x1 = get_half(ab.y);
    let cs = rope_cs(p.delta, i);
    set_half(ab.x, x0 * cs.x - x1 * cs.y);
    set_half(ab.y, x0 * cs.y + x1 * cs.x);
  }
}
