// The embedding row of one token, read on the GPU from the tied output
// weight (token_embd, repacked for the integer matmuls), for a decode step
// whose input token was sampled on the GPU (src/gpu/decode-ahead.ts): the
// host never sees it. Appended to common.wgsl and a dequant_<type>.wgsl whose
// load_block returns a block's 32 elements as signed bytes in element order
// with its scale d and whose load_scales is trivial (Q4_0, Q8_0). Computes
// what the CPU's dequantize_tensor_row and embedding scale compute: each
// element is f32(q) * d, then times p.scale when it is not 1 (both single
// f32 products, so the values are bit for bit the CPU's).
// Bindings:
//   binding 1  mm: Embed (uniform); named mm for load_block
//   binding 2  token: u32, the token at word 0
//   binding 3  x: (n_embd) f32, row 0 written
//   bindings 4, 5  the weight part's buffers (dequant_<type>.wgsl)
// One invocation per 32-element block; a token outside this part's rows
// writes nothing (another part's dispatch writes it).

struct QScales {
  sc: vec2<i32>,
  m: vec2<i32>,
  dm: f32,
}

struct Embed {
  rows: u32,   // rows of this weight part
  cols: u32,   // n_embd, a multiple of 32
  row0: u32,   // first row of this part in the whole weight
  scale: f32,  // the embedding scale (1: none)
}

@group(0) @binding(1) var<uniform> mm: Embed;
@group(0) @binding(2) var<storage, read> token: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

// Signed byte j of word w, as f32.
fn sbyte(w: u32, j: u32) -> f32 {
  return f32(bitcast<i32>(w << (24u - 8u * j)) >> 24u);
}

@compute @workgroup_size(64)
fn embed_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = token[0];
  let b = gid.x;
  if (t < mm.row0 || t - mm.row0 >= mm.rows || b >= mm.cols / 32u) {
    return;
  }
  let blk = load_block(t - mm.row0, b);
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      var lo = sbyte(blk.w0[i], j) * blk.d;
      var hi = sbyte(blk.w1[i], j) * blk.d;
      if (mm.scale != 1.0) {
        lo = lo * mm.scale;
        hi = hi * mm.scale;
      }
      x[32u * b + 4u * i + j] = lo;
      x[32u * b + 16u + 4u * i + j] = hi;
    }
  }
}
