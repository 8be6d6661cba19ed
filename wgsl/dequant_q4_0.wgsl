// Q4_0 weights for the matmul kernels, repacked from 18-byte GGUF blocks
// into two aligned arrays (src/gpu/weights.ts):
//   binding 4: scales, one f16 per block, two to a u32  (rows * cols / 32 halves)
//   binding 5: quants, each block's 16 bytes as 4 u32   (rows, cols / 8)
// Byte j of a block holds element j (low nibble) and j + 16 (high nibble),
// value (nibble - 8) * d. Group g of a row is word g: the low nibbles give
// columns 4w..4w+3 of its block, the high ones 16+4w..16+4w+3 (w = g % 4).
@group(0) @binding(4) var<storage, read> q4_scales: array<u32>;
@group(0) @binding(5) var<storage, read> q4_quants: array<u32>;

fn load_group(r: u32, g: u32) -> WGroup {
  let q = vec4<u32>(q4_quants[r * mm.groups + g]) >> vec4<u32>(0u, 8u, 16u, 24u);
  let b = (r * mm.groups + g) >> 2u;
  let d = unpack2x16float(q4_scales[b >> 1u])[b & 1u];
  let lo = vec4<f32>(q & vec4<u32>(15u)) - 8.0;
  let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u)) - 8.0;
  let col = (g >> 2u) * 32u + (g & 3u) * 4u;
  return WGroup(lo * d, hi * d, col, col + 16u);
}
