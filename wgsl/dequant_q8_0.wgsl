// Q8_0 weights for the matmul kernels, repacked from 34-byte GGUF blocks
// into two aligned arrays (src/gpu/weights.ts):
//   binding 4: scales, one f16 per block, two to a u32     (rows * cols / 32 halves)
//   binding 5: quants, the blocks' 32 int8 each, 8 to a vec2<u32> (rows, cols / 8)
// Group g is elements [8g, 8g + 8) of its row; value = q * d.
@group(0) @binding(4) var<storage, read> q8_scales: array<u32>;
@group(0) @binding(5) var<storage, read> q8_quants: array<vec2<u32>>;

// Four signed bytes of a little-endian word, sign-extended.
fn i8x4(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn load_group(r: u32, g: u32) -> WGroup {
  let q = q8_quants[r * mm.groups + g];
  let b = (r * mm.groups + g) >> 2u;  // block index: 4 groups a block
  let d = unpack2x16float(q8_scales[b >> 1u])[b & 1u];
  return WGroup(i8x4(q.x) * d, i8x4(q.y) * d, g * 8u, g * 8u + 4u);
}
