// Writes rows t < n_tokens of k and v (f32) into cache cells frame.cell0 + t
// as f16, rounded to nearest even like the CPU's kv_store. One invocation
// per pair of elements (one u32 of each cache).
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Store (uniform)
//   binding 2  k: (T, kv_dim) f32
//   binding 3  v: (T, kv_dim) f32
//   binding 4  k_cache: (n_ctx, kv_dim) f16, two to a u32
//   binding 5  v_cache: (n_ctx, kv_dim) f16, two to a u32
// Grid: flattened, 64 a workgroup. Bounds: rows >= min(frame.n_tokens,
// p.max_rows) and cells >= p.n_ctx are skipped (kv_dim is even).

struct Store {
  kv_dim: u32,
  n_ctx: u32,
  max_rows: u32,
  _p0: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Store;
@group(0) @binding(2) var<storage, read> k: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>;

@compute @workgroup_size(64)
fn kv_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let pairs = p.kv_dim / 2u;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  let t = id / pairs;
  let i = id % pairs;
  let cell = frame.cell0 + t;
  if (t >= min(frame.n_tokens, p.max_rows) || cell >= p.n_ctx) {
    return;
  }
  let kp = k[t * pairs + i];
  let vp = v[t * pairs + i];
  k_cache[cell * pairs + i] = pack_f16(kp.x, kp.y);
  v_cache[cell * pairs + i] = pack_f16(vp.x, vp.y);
}
