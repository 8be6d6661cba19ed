// The signed 8-bit dot product of four packed bytes a and b, unpacked by
// shifts: the fallback where packed_4x8_integer_dot_product is missing.
fn dot4(a: u32, b: u32) -> i32 {
  let sh = vec4<u32>(24u, 16u, 8u, 0u);
  let x = bitcast<vec4<i32>>(vec4<u32>(a) << sh) >> vec4<u32>(24u);
  let y = bitcast<vec4<i32>>(vec4<u32>(b) << sh) >> vec4<u32>(24u);
  let p = x * y;
  return p.x + p.y + p.z + p.w;
}
