// Q5_1 weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_1 activations), repacked from 24-byte GGUF blocks
// (src/gpu/weights.ts):
//   binding 4: meta, two u32 per block: f16 d (low half) and f16 m (high half), then qh
//   binding 5: quants, each block's 16 nibble bytes as one vec4<u32>
// Byte j holds the low four bits of element j (low nibble) and j + 16 (high
// nibble); bit j of qh is element j's fifth bit; value q * d + m.
@group(0) @binding(4) var<storage, read> q51_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q51_quants: array<vec4<u32>>;

// Bits 0..3 of each lane to bit 4 of bytes 0..3.
fn fifth_bits(qh: u32, first: u32) -> vec4<u32> {
  let b = (vec4<u32>(qh) >> (vec4<u32>(0u, 4u, 8u, 12u) + first)) & vec4<u32>(0xfu);
  return ((b * 0x00204081u) & vec4<u32>(0x01010101u)) << vec4<u32>(4u);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q51_quants[i];
  let qh = q51_meta[2u * i + 1u];
  let lo = vec4<u32>(0x0f0f0f0fu);
  let d = unpack2x16float(q51_meta[2u * i]).x;
  return QBlock((q & lo) | fifth_bits(qh, 0u), ((q >> vec4<u32>(4u)) & lo) | fifth_bits(qh, 16u), d);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  return QScales(vec2<i32>(1), vec2<i32>(0), unpack2x16float(q51_meta[2u * i]).y);
}
