// BF16 weights for the matmul kernels. Binding 4: the part's rows x cols
// bfloat16 values, row-major, 8 to a vec4<u32> (cols % 8 == 0); the GGUF
// bytes unchanged. A bfloat16 is the high half of an f32.
@group(0) @binding(4) var<storage, read> w_bf16: array<vec4<u32>>;  // (rows, cols / 8)

fn bf16_pair(u: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
}

fn load_group(r: u32, g: u32) -> WGroup {
  let v = w_bf16[r * mm.groups + g];
  return WGroup(vec4<f32>(bf16_pair(v.x), bf16_pair(v.y)), vec4<f32>(bf16_pair(v.z), bf16_pair(v.w)),
                g * 8u, g * 8u + 4u);
}

// The CPU rounds activations to bf16 before a dot with BF16 weights.
fn act4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(round_bf16(v.x), round_bf16(v.y), round_bf16(v.z), round_bf16(v.w));
}
