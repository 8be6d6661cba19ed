// Q2_K weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_K activations), repacked from 84-byte GGUF
// super-blocks into 32-element blocks (src/gpu/weights.ts):
//   binding 4: meta, two u32 per block: f16 d and f16 dmin of its super-block,
//              then the 4-bit scale and minimum of its two 16-element halves
//              as bytes (scale 0, min 0, scale 1, min 1)
//   binding 5: quants, 8 bytes per block as vec2<u32>: byte j holds elements
//              4j .. 4j + 3, two bits each (element 4j + k at bits 2k)
// Element value d * scale * q - dmin * min, q in 0..3.
@group(0) @binding(4) var<storage, read> q2k_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q2k_quants: array<vec2<u32>>;

// Byte j of w (its four 2-bit fields) to bits 0..1 of bytes 0..3.
fn spread2(w: u32, j: vec4<u32>) -> vec4<u32> {
  let b = (vec4<u32>(w) >> (j * 8u)) & vec4<u32>(0xffu);
  let m = vec4<u32>(3u);
  return (b & m) | ((b & (m << vec4<u32>(2u))) << vec4<u32>(6u)) | ((b & (m << vec4<u32>(4u))) << vec4<u32>(12u)) | ((b & (m << vec4<u32>(6u))) << vec4<u32>(18u));
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q2k_quants[i];
  let j = vec4<u32>(0u, 1u, 2u, 3u);
  return QBlock(spread2(q.x, j), spread2(q.y, j), unpack2x16float(q2k_meta[2u * i]).x);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  let s = q2k_meta[2u * i + 1u];
  let sc = vec2<i32>(i32(s & 0xffu), i32((s >> 16u) & 0xffu));
  let m = vec2<i32>(i32((s >> 8u) & 0xffu), i32(s >> 24u));
  return QScales(sc, m, unpack2x16float(q2k_meta[2u * i]).y);
}
