// Q4_K weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_K activations), repacked from 144-byte GGUF
// super-blocks into 32-element blocks (src/gpu/weights.ts):
//   binding 4: meta, two u32 per block: f16 d and f16 dmin of its
//              super-block, then its 6-bit scale (byte 0) and minimum (byte 1)
//   binding 5: quants, 16 bytes per block as vec4<u32>: byte j holds element
//              j (low nibble) and j + 16 (high nibble)
// Element value d * scale * q - dmin * min, q in 0..15.
@group(0) @binding(4) var<storage, read> q4k_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q4k_quants: array<vec4<u32>>;

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q4k_quants[i];
  let lo = vec4<u32>(0x0f0f0f0fu);
  return QBlock(q & lo, (q >> vec4<u32>(4u)) & lo, unpack2x16float(q4k_meta[2u * i]).x);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  let s = q4k_meta[2u * i + 1u];
  let sc = i32(s & 0xffu);
  let m = i32((s >> 8u) & 0xffu);
  return QScales(vec2<i32>(sc), vec2<i32>(m), unpack2x16float(q4k_meta[2u * i]).y);
}
