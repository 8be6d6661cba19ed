// RMSNorm of every head of q or k in place (Qwen 3's and Gemma 3's Q/K
// norms, before RoPE): rows of p.n = head_dim floats, p.heads of them per
// token, each normalized with the same weight (head_dim f32). The sum of
// squares is formed as rmsnorm.wgsl forms it (two_sum pairs standing in for
// the CPU's double). One workgroup of 64 per head row. Composed after
// common.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: NormHeads (uniform)
//   binding 2  x: (T, heads, n) f32, read-write
//   binding 3  weight: (n) f32
// Grid: flattened head rows. Bounds: rows >= min(frame.n_tokens, p.max_rows) * p.heads do nothing.

struct NormHeads {
  n: u32,
  eps: f32,
  max_rows: u32,  // tokens x holds
  heads: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: NormHeads;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;

const WG: u32 = 64u;

var<workgroup> partial: array<vec2<f32>, 64>;

@compute @workgroup_size(64)
fn rmsnorm_heads(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  let live = row < min(frame.n_tokens, p.max_rows) * p.heads;
  let base = row * p.n;
  var sum = vec2<f32>(0.0);
  if (live) {
    for (var i = lid; i < p.n; i += WG) {
      let v = x[base + i];
      sum = dd_add(sum, vec2<f32>(v * v, 0.0));
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] = dd_add(partial[lid], partial[lid + s]);
    }
    workgroupBarrier();
  }
  if (!live) {
    return;
  }
  let mean = div_rn(partial[0].x, f32(p.n));
  let scale = div_rn(1.0, sqrt(mean + p.eps));
  for (var i = lid; i < p.n; i += WG) {
    x[base + i] = x[base + i] * scale * weight[i];
  }
}
