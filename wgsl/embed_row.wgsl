// The embedding row of one token, read on the GPU from the token embedding
// weight (token_embd as the matmuls hold it: the tied output weight, or its
// own upload for an untied model), for a decode step whose input token was
// sampled on the GPU (src/gpu/decode-ahead.ts): the host never sees it.
// Shared by the two entry points: embed_row_quant.wgsl (quantized types,
// load_block and load_scales) and embed_row_float.wgsl (F32, F16, BF16,
// load_group), each appended with common.wgsl and a dequant_<type>.wgsl.
// They compute what the CPU's dequantize_tensor_row and embedding scale
// compute, in the same f32 operations in the same order, so the row is the
// CPU's bit for bit. A GPU compiler may fuse a product and the sum after it
// into one fma (one rounding, not the CPU's two): every product whose
// rounding matters passes through keep(), which XORs its bits with a
// uniform zero the compiler cannot see through.
// Bindings:
//   binding 1  mm: Embed (uniform); named mm for the dequant functions
//   binding 2  token: u32, the token at word 0
//   binding 3  x: (n_embd) f32, row 0 written
//   bindings 4, 5  the weight part's buffers (dequant_<type>.wgsl)
// A token outside this part's rows writes nothing (another part's dispatch
// writes it).

struct Embed {
  rows: u32,   // rows of this weight part
  cols: u32,   // n_embd, a multiple of 32
  row0: u32,   // first row of this part in the whole weight
  scale: f32,  // the embedding scale (1: none)
  groups: u32, // cols / 8 (load_group's row stride)
  zero: u32,   // 0, unknown to the compiler (keep)
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(1) var<uniform> mm: Embed;
@group(0) @binding(2) var<storage, read> token: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

// v rounded to f32 where it stands: never fused into what follows.
fn keep(v: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) ^ mm.zero);
}

// The row of this part the token is, or false when another part holds it.
fn embed_row_of(t: u32) -> bool {
  return t >= mm.row0 && t - mm.row0 < mm.rows;
}

// Element i of the row, times the embedding scale when it is not 1 (a
// second f32 product, as the CPU's scale()).
fn embed_store(i: u32, v: f32) {
  if (mm.scale != 1.0) {
    x[i] = keep(v) * mm.scale;
  } else {
    x[i] = v;
  }
}
