// Embedding rows of F32, F16 and BF16 weights (embed_row.wgsl): one
// invocation per group of 8 elements, each converted exactly to f32.

@compute @workgroup_size(64)
fn embed_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = token[0];
  let g = gid.x;
  if (!embed_row_of(t) || g >= mm.groups) {
    return;
  }
  let w = load_group(t - mm.row0, g);
  for (var j = 0u; j < 4u; j++) {
    embed_store(w.x0 + j, w.w0[j]);
    embed_store(w.x1 + j, w.w1[j]);
  }
}
