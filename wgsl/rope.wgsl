// RoPE on activations, in place: x (T, n_heads, head_dim) f32, row t at
// position frame.cell0 + t. One invocation per (row, head, pair); dims past
// n_rot are left alone. Composed after common.wgsl and rope_math.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  rp: Rope (uniform)
//   binding 2  x: (T, n_heads * head_dim) f32, read-write
//   binding 3  freq_factors: (n_rot / 2) f32 divisors (a 1-element dummy when unused)
// Grid: flattened, 64 a workgroup. Bounds: rows >= min(frame.n_tokens, rp.max_rows).

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> rp: Rope;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> freq_factors: array<f32>;

@compute @workgroup_size(64)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let half = rp.n_rot / 2u;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  let i = id % half;
  let h = (id / half) % rp.n_heads;
  let t = id / (half * rp.n_heads);
  if (t >= min(frame.n_tokens, rp.max_rows)) {
    return;
  }
  let cs = rope_cs(i32(frame.cell0 + t), i);
  let base = (t * rp.n_heads + h) * rp.head_dim;
  let ab = rope_pair(i) + vec2<u32>(base);
  let x0 = x[ab.x];
  let x1 = x[ab.y];
  x[ab.x] = x0 * cs.x - x1 * cs.y;
  x[ab.y] = x0 * cs.y + x1 * cs.x;
}
