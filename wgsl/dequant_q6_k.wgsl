// Q6_K weights for the integer matmul kernels (matvec_q8.wgsl,
// matmul_q8_tiled.wgsl; Q8_K activations), repacked from 210-byte GGUF
// super-blocks into 32-element blocks (src/gpu/weights.ts):
//   binding 4: meta, three u32 per block: f16 d of its super-block (low
//              half) and the int8 scales of its two 16-element halves
//              (bytes 2 and 3); then the top two bits of its elements, 8
//              bytes: byte j holds elements 4j .. 4j + 3 (element 4j + k at bits 2k)
//   binding 5: quants, 16 bytes per block as vec4<u32>: byte j holds the low
//              four bits of element j (low nibble) and j + 16 (high nibble)
// Element value d * scale * (q - 32), q in 0..63.
@group(0) @binding(4) var<storage, read> q6k_meta: array<u32>;
@group(0) @binding(5) var<storage, read> q6k_quants: array<vec4<u32>>;

// Byte j of w (its four 2-bit fields) to bits 4..5 of bytes 0..3.
fn top_bits(w: u32) -> vec4<u32> {
  let b = (vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
  let m = vec4<u32>(3u);
  let s = (b & m) | ((b & (m << vec4<u32>(2u))) << vec4<u32>(6u)) | ((b & (m << vec4<u32>(4u))) << vec4<u32>(12u)) | ((b & (m << vec4<u32>(6u))) << vec4<u32>(18u));
  return s << vec4<u32>(4u);
}

// Six-bit values (one a byte) minus 32 as signed bytes: v ^ 32 is v - 32
// in 6-bit two's complement; the multiply copies its sign bit up.
fn minus_32(v: vec4<u32>) -> vec4<u32> {
  let s = v ^ vec4<u32>(0x20202020u);
  return s | ((s & vec4<u32>(0x20202020u)) * 0x06u);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = q6k_quants[i];
  let lo = vec4<u32>(0x0f0f0f0fu);
  let w0 = minus_32((q & lo) | top_bits(q6k_meta[3u * i + 1u]));
  let w1 = minus_32(((q >> vec4<u32>(4u)) & lo) | top_bits(q6k_meta[3u * i + 2u]));
  return QBlock(w0, w1, unpack2x16float(q6k_meta[3u * i]).x);
}

fn load_scales(r: u32, b: u32) -> QScales {
  let i = r * (mm.cols / 32u) + b;
  let s = bitcast<i32>(q6k_meta[3u * i]);
  return QScales(vec2<i32>((s << 8u) >> 24u, s >> 24u), vec2<i32>(0), 0.0);
}
