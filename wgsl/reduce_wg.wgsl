// Row sums for the matvec kernels through workgroup memory: each row's TPR
// invocations (consecutive local indices; TPR a power of two, an override of
// the kernel) add their values in a tree of log2(TPR) barriers. The
// fallback of reduce_sg.wgsl.

struct Lanes {
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
}

var<workgroup> red: array<f32, 256>;

// The sum of v over the invocation's row, in every invocation of the row.
fn row_sum(v: f32, l: Lanes) -> f32 {
  let lane = l.lid % TPR;
  red[l.lid] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red[l.lid] += red[l.lid + s];
    }
    workgroupBarrier();
  }
  return red[l.lid - lane];
}
