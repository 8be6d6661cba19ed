// Q4_1 weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_1 activations), repacked from 20-byte GGUF blocks
// (src/gpu/weights.ts):
//   binding 4: meta, one u32 per block: f16 d (low half), f16 m (high half)
//   binding 5: quants, each block's 16 bytes as one vec4<u32> (rows, cols / 32)
// Byte j of a block holds element j (low nibble) and j + 16 (high nibble),
// value q * d + m: the kernels dot the unsigned nibbles and add m * s_a.
@group(0) @binding(4) var<storage, read> q41_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q41_quants: array<vec4<u32>>;

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q41_quants[i];
  let lo = vec4<u32>(0x0f0f0f0fu);
  return QBlock(q & lo, (q >> vec4<u32>(4u)) & lo, unpack2x16float(q41_meta[i]).x);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  return QScales(vec2<i32>(1), vec2<i32>(0), unpack2x16float(q41_meta[i]).y);
}
