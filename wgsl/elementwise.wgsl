// Element-wise steps over n_tokens rows of n f32: silu_mul (a = silu(a) * b,
// the gated FFN activation), sigmoid_mul (a = sigmoid(a) * b, a gate), gelu_mul (a = gelu(a) * b, GeGLU, with the
// CPU's f16 roundings), silu_mul_q8 / gelu_mul_q8 (the same products
// quantized to Q8_0 for the down projection instead of written back;
// q8_store.wgsl, n % 32 == 0), gelu (a = gelu(a), BERT's ungated FFN; no
// b), add (a += b, the residual) and add_bias (a[t] += b, b one row of n).
// One invocation per element; in the _q8
// forms the 32 invocations of a block find its maximum together in
// workgroup memory and write its quants a word per four. Composed after
// common.wgsl and q8_store.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Elementwise (uniform)
//   binding 2  a: (T, n) f32, read-write
//   binding 3  b: (T, n) f32
//   bindings 6, 7  xq, xd (silu_mul_q8)
// Grid: flattened, 256 a workgroup. Bounds: elements >= min(frame.n_tokens,
// p.max_rows) * n.

struct Elementwise {
  n: u32,
  max_rows: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Elementwise;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return flat_workgroup(wid, nwg) * 256u + lid;
}

fn in_bounds(i: u32) -> bool {
  return i < min(frame.n_tokens, p.max_rows) * p.n;
}

@compute @workgroup_size(256)
fn silu_mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    let v = a[i];
    a[i] = v / (1.0 + exp_f32(-v)) * b[i];
  }
}

// a = sigmoid(a) * b: Qwen 3.5's gate (a) on the attention output (b).
@compute @workgroup_size(256)
fn sigmoid_mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    a[i] = b[i] * (1.0 / (1.0 + exp_f32(-a[i])));
  }
}

@compute @workgroup_size(256)
fn silu_mul_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  let live = in_bounds(i);
  var v = 0.0;
  if (live) {
    let g = a[i];
    v = g / (1.0 + exp_f32(-g)) * b[i];
  }
  store_q8_lanes(lid, i / 32u, v, live);
}

// GELU (tanh form) as the CPU computes it: llama.cpp's CPU reads a table
// indexed by the f16 input holding f16 results, saturating outside [-10, 10].
fn gelu_f16(v: f32) -> f32 {
  if (v <= -10.0) {
    return 0.0;
  }
  if (v >= 10.0) {
    return v;
  }
  let x = round_f16(v);
  let g = 0.5 * x * (1.0 + tanh(0.79788456080286535587989211986876 * x * (1.0 + 0.044715 * x * x)));
  return round_f16(g);
}

@compute @workgroup_size(256)
fn gelu_mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    a[i] = gelu_f16(a[i]) * b[i];
  }
}

@compute @workgroup_size(256)
fn gelu_mul_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  let live = in_bounds(i);
  var v = 0.0;
  if (live) {
    v = gelu_f16(a[i]) * b[i];
  }
  store_q8_lanes(lid, i / 32u, v, live);
}

@compute @workgroup_size(256)
fn gelu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    a[i] = gelu_f16(a[i]);
  }
}

@compute @workgroup_size(256)
fn add_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    a[i] += b[i % p.n];
  }
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (in_bounds(i)) {
    a[i] += b[i];
  }
}
