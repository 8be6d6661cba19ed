// Q3_K weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_K activations), repacked from 110-byte GGUF
// super-blocks into 32-element blocks (src/gpu/weights.ts):
//   binding 4: meta, two u32 per block: f16 d of its super-block (low half)
//              and the signed 6-bit scales minus 32 of its two 16-element
//              halves as bytes 2 and 3; then the 32 high bits (bit l: element l)
//   binding 5: quants, 8 bytes per block as vec2<u32>: byte j holds the low
//              two bits of elements 4j .. 4j + 3 (element 4j + k at bits 2k)
// Element value d * scale * (q - 4 * !high), q in 0..3.
@group(0) @binding(4) var<storage, read> q3k_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q3k_quants: array<vec2<u32>>;

// Byte j of w (its four 2-bit fields) to bits 0..1 of bytes 0..3.
fn spread2(w: u32, j: vec4<u32>) -> vec4<u32> {
  let b = (vec4<u32>(w) >> (j * 8u)) & vec4<u32>(0xffu);
  let m = vec4<u32>(3u);
  return (b & m) | ((b & (m << vec4<u32>(2u))) << vec4<u32>(6u)) | ((b & (m << vec4<u32>(4u))) << vec4<u32>(12u)) | ((b & (m << vec4<u32>(6u))) << vec4<u32>(18u));
}

// Bits 4j .. 4j + 3 of hm to bit 2 of bytes 0..3.
fn high_bits(hm: u32, j: vec4<u32>) -> vec4<u32> {
  let b = (vec4<u32>(hm) >> (j * 4u)) & vec4<u32>(0xfu);
  return ((b * 0x00204081u) & vec4<u32>(0x01010101u)) << vec4<u32>(2u);
}

// Three-bit values v = q + 4 * high (one a byte) minus 4 as signed bytes:
// v ^ 4 is v - 4 in 3-bit two's complement; the multiply copies its sign up.
fn minus_4(v: vec4<u32>) -> vec4<u32> {
  let s = v ^ vec4<u32>(0x04040404u);
  return s | ((s & vec4<u32>(0x04040404u)) * 0x3eu);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q3k_quants[i];
  let hm = q3k_meta[2u * i + 1u];
  let j = vec4<u32>(0u, 1u, 2u, 3u);
  let w0 = minus_4(spread2(q.x, j) | high_bits(hm, j));
  let w1 = minus_4(spread2(q.y, j) | high_bits(hm, j + 4u));
  return QBlock(w0, w1, unpack2x16float(q3k_meta[2u * i]).x);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  let s = bitcast<i32>(q3k_meta[2u * i]);
  return QScales(vec2<i32>((s << 8u) >> 24u, s >> 24u), vec2<i32>(0), 0.0);
}
