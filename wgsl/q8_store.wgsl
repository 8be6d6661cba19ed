// Activations quantized to Q8_0 for the integer matmuls (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl), written by quantize.wgsl and by the fused
// rmsnorm_q8 and silu_mul_q8 (a block per invocation, or store_q8_lanes: a
// block per 32 invocations of a workgroup of 256). Per 32-element block, exactly as the CPU's
// quantize_row_q8_0: d = amax / 127 stored as f16, q = round_even(x * (127 /
// amax)), both divisions correctly rounded.
//   binding 6  xq: (T, cols / 4) u32, four int8 a word, element 4i + j in byte j of word i
//   binding 7  xd: (T, cols / 32) f32, each block's d (an f16 value)

@group(0) @binding(6) var<storage, read_write> xq: array<u32>;
@group(0) @binding(7) var<storage, read_write> xd: array<f32>;

// Block `blk` (global index: token * cols / 32 + block) of values v.
fn store_q8_block(blk: u32, v: array<vec4<f32>, 8>) {
  var amax = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let a = abs(v[i]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  var id = 0.0;
  if (amax != 0.0) {
    id = div_rn(127.0, amax);
  }
  for (var i = 0u; i < 8u; i++) {
    let q = bitcast<vec4<u32>>(vec4<i32>(round(v[i] * id))) & vec4<u32>(0xffu);
    xq[blk * 8u + i] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
  }
  xd[blk] = round_f16(div_rn(amax, 127.0));
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
