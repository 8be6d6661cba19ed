// Q5_K weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_K activations), repacked from 176-byte GGUF
// super-blocks into 32-element blocks (src/gpu/weights.ts):
//   binding 4: meta, three u32 per block: f16 d and f16 dmin of its
//              super-block; its 6-bit scale (byte 0) and minimum (byte 1);
//              the 32 fifth bits (bit l: element l)
//   binding 5: quants, 16 bytes per block as vec4<u32>: byte j holds the low
//              four bits of element j (low nibble) and j + 16 (high nibble)
// Element value d * scale * q - dmin * min, q in 0..31.
@group(0) @binding(4) var<storage, read> q5k_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q5k_quants: array<vec4<u32>>;

// Bits first + 4j .. first + 4j + 3 of qh to bit 4 of bytes 0..3.
fn fifth_bits(qh: u32, first: u32) -> vec4<u32> {
  let b = (vec4<u32>(qh) >> (vec4<u32>(0u, 4u, 8u, 12u) + first)) & vec4<u32>(0xfu);
  return ((b * 0x00204081u) & vec4<u32>(0x01010101u)) << vec4<u32>(4u);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q5k_quants[i];
  let qh = q5k_meta[3u * i + 2u];
  let lo = vec4<u32>(0x0f0f0f0fu);
  let d = unpack2x16float(q5k_meta[3u * i]).x;
  return QBlock((q & lo) | fifth_bits(qh, 0u), ((q >> vec4<u32>(4u)) & lo) | fifth_bits(qh, 16u), d);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  let s = q5k_meta[3u * i + 1u];
  let sc = i32(s & 0xffu);
  let m = i32((s >> 8u) & 0xffu);
  return QScales(vec2<i32>(sc), vec2<i32>(m), unpack2x16float(q5k_meta[3u * i]).y);
}
