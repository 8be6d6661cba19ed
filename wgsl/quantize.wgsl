// Q8_0 quantization of a matmul's input: x (T, cols) f32 -> xq, xd
// (q8_store.wgsl). One invocation per 32-element block, no workgroup memory.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Quantize (uniform)
//   binding 2  x: (T, cols) f32 as vec4 (cols % 32 == 0)
//   bindings 6, 7  xq, xd
// Grid: flattened, 64 a workgroup. Bounds: rows >= min(frame.n_tokens, p.max_rows).

struct Quantize {
  cols: u32,
  max_rows: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Quantize;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;

@compute @workgroup_size(64)
fn quantize_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let blk = flat_workgroup(wid, nwg) * 64u + lid;
  if (blk >= min(frame.n_tokens, p.max_rows) * (p.cols / 32u)) {
    return;
  }
  var v: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    v[i] = x[blk * 8u + i];
  }
  store_q8_block(blk, v);
}
