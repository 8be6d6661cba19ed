// Q8_1 quantization of a matmul's input for Q4_1 and Q5_1 weights: x (T,
// cols) f32 -> xq, xd as Q8_0 (q8_store.wgsl: the same quants and f16 scale)
// plus each block's s = f16(d * sum of quants) with the unrounded f32 d,
// exactly as the CPU's quantize_row_q8_1. One invocation per 32-element
// block, no workgroup memory.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Quantize (uniform)
//   binding 2  x: (T, cols) f32 as vec4 (cols % 32 == 0)
//   binding 6  xq: (T, cols / 4) u32, four int8 a word
//   binding 7  xd: (T, cols / 32) f32, each block's d (an f16 value)
//   binding 8  xs: (T, cols / 32) f32, each block's s (an f16 value)
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
@group(0) @binding(6) var<storage, read_write> xq: array<u32>;
@group(0) @binding(7) var<storage, read_write> xd: array<f32>;
@group(0) @binding(8) var<storage, read_write> xs: array<f32>;

@compute @workgroup_size(64)
fn quantize_q8_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let blk = flat_workgroup(wid, nwg) * 64u + lid;
  if (blk >= min(frame.n_tokens, p.max_rows) * (p.cols / 32u)) {
    return;
  }
  var v: array<vec4<f32>, 8>;
  var amax = 0.0;
  for (var i = 0u; i < 8u; i++) {
    v[i] = x[blk * 8u + i];
    let a = abs(v[i]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  var id = 0.0;
  if (amax != 0.0) {
    id = div_rn(127.0, amax);
  }
  var sum = vec4<i32>(0);
  for (var i = 0u; i < 8u; i++) {
    let qi = vec4<i32>(round(v[i] * id));
    sum += qi;
    let q = bitcast<vec4<u32>>(qi) & vec4<u32>(0xffu);
    xq[blk * 8u + i] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
  }
  let d = div_rn(amax, 127.0);
  xd[blk] = round_f16(d);
  xs[blk] = round_f16(d * f32(sum.x + sum.y + sum.z + sum.w));
}
