// Q8_0 weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl), repacked from 34-byte GGUF blocks into two aligned
// arrays (src/gpu/weights.ts):
//   binding 4: scales, one f16 per block, two to a u32          (rows * cols / 32 halves)
//   binding 5: quants, each block's 32 int8 as two vec4<u32>    (rows, cols / 32, 2)
// Element j of a block is byte j of its quants; value q * d.
@group(0) @binding(4) var<storage, read> q8_scales: array<u32>;
@group(0) @binding(5) var<storage, read> q8_quants: array<vec4<u32>>;

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let d = unpack2x16float(q8_scales[i >> 1u])[i & 1u];
  return QBlock(q8_quants[2u * i], q8_quants[2u * i + 1u], d);
}

fn load_scales(r: u32, b: u32) -> QScales {
  return QScales(vec2<i32>(1), vec2<i32>(0), 0.0);
}
