// F32 weights for the matmul kernels. Binding 4: the part's rows x cols
// floats, row-major, as vec4 (cols % 8 == 0). load_group(r, g) returns
// columns [8g, 8g + 8) of row r; r < mm.rows and g < mm.groups are the
// caller's bounds.
@group(0) @binding(4) var<storage, read> w_f32: array<vec4<f32>>;  // (rows, cols / 4)

fn load_group(r: u32, g: u32) -> WGroup {
  let i = (r * mm.groups + g) * 2u;
  return WGroup(w_f32[i], w_f32[i + 1u], g * 8u, g * 8u + 4u);
}

// x as it is: the CPU multiplies F32 weights by f32 activations.
fn act4(v: vec4<f32>) -> vec4<f32> {
  return v;
}
