// IQ4_NL weights for the integer matmul kernels, repacked like Q4_0 (src/gpu/weights.ts):
//   binding 4: scales, one f16 per block, two to a u32  (rows * cols / 32 halves)
//   binding 5: quants, each block's 16 bytes as one vec4<u32> (rows, cols / 32)
// Byte j of a block holds the level index of element j (low nibble) and
// j + 16 (high nibble); the value is the index-th of the 16 levels (iq4_levels) times d.
@group(0) @binding(4) var<storage, read> nl_scales: array<u32>;
@group(0) @binding(5) var<storage, read> nl_quants: array<vec4<u32>>;

// The 16 signed levels, four bytes a word.
var<private> iq4_levels: array<u32, 4> = array<u32, 4>(0xbfad9881u, 0xf6eaddcfu, 0x26190d01u, 0x71594535u);

fn level(n: u32) -> u32 {
  return (iq4_levels[n >> 2u] >> ((n & 3u) * 8u)) & 0xffu;
}

// The levels of the four nibbles (one a byte) of n at `shift`.
fn levels4(n: u32, shift: u32) -> u32 {
  let x = n >> shift;
  return level(x & 0xfu) | (level((x >> 8u) & 0xfu) << 8u) | (level((x >> 16u) & 0xfu) << 16u) | (level((x >> 24u) & 0xfu) << 24u);
}

fn load_block(r: u32, b: u32) -> QBlock {
  let i = r * (mm.cols / 32u) + b;
  let q = nl_quants[i];
  let d = unpack2x16float(nl_scales[i >> 1u])[i & 1u];
  let lo = vec4<u32>(levels4(q.x, 0u), levels4(q.y, 0u), levels4(q.z, 0u), levels4(q.w, 0u));
  let hi = vec4<u32>(levels4(q.x, 4u), levels4(q.y, 4u), levels4(q.z, 4u), levels4(q.w, 4u));
  return QBlock(lo, hi, d);
}

fn load_scales(r: u32, b: u32) -> QScales {
  return QScales(vec2<i32>(1), vec2<i32>(0), 0.0);
}
