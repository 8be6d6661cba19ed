// Q4_0 weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl), repacked from 18-byte GGUF blocks into two aligned
// arrays (src/gpu/weights.ts):
//   binding 4: scales, one f16 per block, two to a u32  (rows * cols / 32 halves)
//   binding 5: quants, each block's 16 bytes as one vec4<u32> (rows, cols / 32)
// Byte j of a block holds element j (low nibble) and j + 16 (high nibble),
// value (nibble - 8) * d. load_block returns them as signed bytes in the
// order of the activation words, with d.
@group(0) @binding(4) var<storage, read> q4_scales: array<u32>;
@group(0) @binding(5) var<storage, read> q4_quants: array<vec4<u32>>;

// Four nibbles (one a byte) minus 8, as signed bytes: n ^ 8 is the nibble
// minus 8 in 4-bit two's complement; the multiply copies its sign bit
// (0x08 * 0x1e = 0xf0) into the byte's high half, with no carry between bytes.
fn nibbles_minus_8(n: vec4<u32>) -> vec4<u32> {
  let s = (n & vec4<u32>(0x0f0f0f0fu)) ^ vec4<u32>(0x08080808u);
  return s | ((s & vec4<u32>(0x08080808u)) * 0x1eu);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q4_quants[i];
  let d = unpack2x16float(q4_scales[i >> 1u])[i & 1u];
  return QBlock(nibbles_minus_8(q), nibbles_minus_8(q >> vec4<u32>(4u)), d);
}

fn load_scales(r: u32, b: u32) -> QScales {
  return QScales(vec2<i32>(1), vec2<i32>(0), 0.0);
}
