// F16 weights for the matmul kernels, as packed u32 pairs (no shader-f16
// needed). Binding 4: the part's rows x cols halves, row-major, 8 to a
// vec4<u32> (cols % 8 == 0); the GGUF bytes unchanged.
@group(0) @binding(4) var<storage, read> w_f16: array<vec4<u32>>;  // (rows, cols / 8)

fn load_group(r: u32, g: u32) -> WGroup {
  let v = w_f16[r * mm.groups + g];
  return WGroup(
    vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)),
    vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)),
    g * 8u, g * 8u + 4u);
}

// The CPU rounds activations to f16 before a dot with F16 weights.
fn act4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(round_f16(v.x), round_f16(v.y), round_f16(v.z), round_f16(v.w));
}
