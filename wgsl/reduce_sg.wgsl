// Row sums for the matvec kernels with subgroup shuffles (needs `enable
// subgroups`, added by src/gpu/kernels/pipelines.ts when the device has
// them): a butterfly inside each aligned run of min(subgroup size, TPR)
// invocations, then one barrier to add the runs of a row when subgroups are
// narrower than a row.
// Assumes, as every implementation does for a 1-D workgroup, that a
// subgroup is a run of consecutive local indices starting at a multiple of
// its size.

struct Lanes {
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_size) sg_size: u32,
}

var<workgroup> red: array<f32, 256>;

// The sum of v over the invocation's row, in every invocation of the row.
fn row_sum(v: f32, l: Lanes) -> f32 {
  let run = min(l.sg_size, TPR);
  var s = v;
  // The loop runs to TPR (uniform) and ignores offsets past the subgroup:
  // the shuffles must stay in uniform control flow.
  for (var o = 1u; o < TPR; o <<= 1u) {
    let other = subgroupShuffleXor(s, o);
    if (o < run) {
      s += other;
    }
  }
  if (l.lid % run == 0u) {
    red[l.lid / run] = s;
  }
  workgroupBarrier();
  let per = TPR / run;
  let first = (l.lid / TPR) * per;
  var t = 0.0;
  for (var i = 0u; i < per; i++) {
    t += red[first + i];
  }
  return t;
}
