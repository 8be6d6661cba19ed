// RMSNorm: y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, one workgroup of
// 256 per row. With p.last_row_only, the single workgroup normalizes row
// n_tokens - 1 of x into row 0 of y (the output head needs only the last
// token).
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Norm (uniform)
//   binding 2  x: (T, n) f32
//   binding 3  weight: (n) f32
//   binding 4  y: (T, n) f32 (may not alias x)
// Grid: flattened rows. Bounds: rows >= min(frame.n_tokens, p.max_rows) do nothing.

struct Norm {
  n: u32,
  eps: f32,
  max_rows: u32,      // rows x (and y) hold
  last_row_only: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Norm;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let n_rows = min(frame.n_tokens, p.max_rows);
  let row = flat_workgroup(wid, nwg);
  var src = row;
  var dst = row;
  if (p.last_row_only != 0u) {
    src = n_rows - 1u;
    dst = 0u;
  }
  let live = row < n_rows && (p.last_row_only == 0u || row == 0u);

  var sum = 0.0;
  if (live) {
    for (var i = lid; i < p.n; i += 256u) {
      let v = x[src * p.n + i];
      sum += v * v;
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  if (live) {
    let scale = 1.0 / sqrt(partial[0] / f32(p.n) + p.eps);
    for (var i = lid; i < p.n; i += 256u) {
      y[dst * p.n + i] = x[src * p.n + i] * scale * weight[i];
    }
  }
}
