// LayerNorm in place (BERT's): x[t] = (x[t] - mean) / sqrt(var + eps) *
// weight + bias, one workgroup of 64 per row, as cpp/ops/norm.cpp computes
// it: the mean of the row and then the variance of its centred values (each
// rounded to f32, squared in f32) summed with two_sum pairs standing in for
// the CPU's double sums; the divisions correctly rounded. Every invocation
// reads and writes only its own elements, so the row can be normalized in
// place. Composed after common.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: LayerNorm (uniform)
//   binding 2  x: (T, n) f32, read-write
//   binding 3  weight: (n) f32
//   binding 4  bias: (n) f32
// Grid: flattened rows. Bounds: rows >= min(frame.n_tokens, p.max_rows) do nothing.

struct LayerNorm {
  n: u32,
  eps: f32,
  max_rows: u32,
  _p0: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: LayerNorm;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const LN_WG: u32 = 64u;

var<workgroup> ln_partial: array<vec2<f32>, 64>;

// The sum of every invocation's v (all invocations call it).
fn ln_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  ln_partial[lid] = v;
  workgroupBarrier();
  for (var s = LN_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      ln_partial[lid] = dd_add(ln_partial[lid], ln_partial[lid + s]);
    }
    workgroupBarrier();
  }
  let total = ln_partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  // Uniform across the workgroup: returns before any barrier.
  if (row >= min(frame.n_tokens, p.max_rows)) {
    return;
  }
  let base = row * p.n;
  var sum = vec2<f32>(0.0);
  for (var i = lid; i < p.n; i += LN_WG) {
    sum = dd_add(sum, vec2<f32>(x[base + i], 0.0));
  }
  let mean = div_rn(ln_sum(sum, lid).x, f32(p.n));
  var sum2 = vec2<f32>(0.0);
  for (var i = lid; i < p.n; i += LN_WG) {
    let v = x[base + i] - mean;
    sum2 = dd_add(sum2, vec2<f32>(v * v, 0.0));
  }
  let variance = div_rn(ln_sum(sum2, lid).x, f32(p.n));
  let scale = div_rn(1.0, sqrt(variance + p.eps));
  for (var i = lid; i < p.n; i += LN_WG) {
    x[base + i] = (x[base + i] - mean) * scale * weight[i] + bias[i];
  }
}
