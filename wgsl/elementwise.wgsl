// Element-wise steps over n_tokens rows of n f32: silu_mul (a = silu(a) * b,
// the gated FFN activation), gelu_mul (a = gelu(a) * b, GeGLU, with the
// CPU's f16 roundings), silu_mul_q8 / gelu_mul_q8 (the same products
// quantized to Q8_0 for the down projection instead of written back;
// q8_store.wgsl, n % 32 == 0), add (a += b, the residual) and add_bias
// (a[t] += b, b one row of n). One invocation per element; in the _q8
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

// The 256 invocations hold eight 32-element blocks, one value each (a block
// is live or dead as a whole: n % 32 == 0). Quantizes them as
// store_q8_block does, bit for bit: the block's maximum |v|, d = amax / 127
// and q = round_even(v * (127 / amax)). Every invocation calls it.
var<workgroup> q8_lanes: array<f32, 256>;

fn store_q8_lanes(lid: u32, blk: u32, v: f32, live: bool) {
  q8_lanes[lid] = abs(v);
  workgroupBarrier();
  for (var s = 16u; s > 0u; s >>= 1u) {
    if ((lid & 31u) < s) {
      q8_lanes[lid] = max(q8_lanes[lid], q8_lanes[lid + s]);
    }
    workgroupBarrier();
  }
  let amax = q8_lanes[lid & ~31u];
  workgroupBarrier();
  var id = 0.0;
  if (amax != 0.0) {
    id = div_rn(127.0, amax);
  }
  q8_lanes[lid] = round(v * id);
  workgroupBarrier();
  if (live && (lid & 3u) == 0u) {
    let f = vec4<f32>(q8_lanes[lid], q8_lanes[lid + 1u], q8_lanes[lid + 2u], q8_lanes[lid + 3u]);
    let q = bitcast<vec4<u32>>(vec4<i32>(f)) & vec4<u32>(0xffu);
    xq[blk * 8u + (lid & 31u) / 4u] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
  }
  if (live && (lid & 31u) == 0u) {
    xd[blk] = round_f16(div_rn(amax, 127.0));
  }
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
