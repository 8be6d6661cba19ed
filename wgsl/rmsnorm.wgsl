// RMSNorm: y[t] = x[t] * (1 / sqrt(mean(x[t]^2) + eps)) * weight, one
// workgroup of 256 per row (a decode step is one row: one workgroup, so its
// loads must be wide, not deep). The squares (f32 products, as the CPU forms
// them) are summed with two_sum pairs, standing in for the CPU's double
// sum; the mean's division is correctly rounded. With p.last_row_only, the
// single workgroup normalizes row n_tokens - 1 of x into row 0 of y (the
// output head needs only the last token). Composed after common.wgsl and
// q8_store.wgsl.
// Entry points:
//   rmsnorm     -> y (f32)
//   rmsnorm_q8  -> xq, xd (Q8_0 blocks, q8_store.wgsl; n % 32 == 0), and y too when p.write_f32
//   rmsnorm_add -> y = (y + the normalized row) * p.out_scale (Gemma's post-norm and residual add in
//                  one pass; Gemma 4's layer_output_scale after a block's last add, else 1)
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
  write_f32: u32,     // rmsnorm_q8: also write y
  out_scale: f32,     // rmsnorm_add: the sum's factor (1: none)
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Norm;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG: u32 = 256u;

var<workgroup> partial: array<vec2<f32>, 256>;

struct NormRow {
  live: bool,
  src: u32,
  dst: u32,
  scale: f32,
}

// The row this workgroup normalizes and its scale (the same in every invocation).
fn norm_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> NormRow {
  let n_rows = min(frame.n_tokens, p.max_rows);
  let row = flat_workgroup(wid, nwg);
  var src = row;
  var dst = row;
  if (p.last_row_only != 0u) {
    src = n_rows - 1u;
    dst = 0u;
  }
  let live = row < n_rows && (p.last_row_only == 0u || row == 0u);

  // Eight loads in flight per invocation (a row of 2048 in one round); the
  // squares are added in the invocation's element order all the same.
  var sum = vec2<f32>(0.0);
  if (live) {
    let row = src * p.n;
    for (var i0 = lid; i0 < p.n; i0 += 8u * WG) {
      var v: array<f32, 8>;
      for (var u = 0u; u < 8u; u++) {
        let i = i0 + u * WG;
        v[u] = select(0.0, x[row + min(i, p.n - 1u)], i < p.n);
      }
      for (var u = 0u; u < 8u; u++) {
        if (i0 + u * WG < p.n) {
          sum = dd_add(sum, vec2<f32>(v[u] * v[u], 0.0));
        }
      }
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] = dd_add(partial[lid], partial[lid + s]);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  let mean = div_rn(total.x, f32(p.n));
  let scale = div_rn(1.0, sqrt(mean + p.eps));
  return NormRow(live, src, dst, scale);
}

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let r = norm_row(wid, nwg, lid);
  if (r.live) {
    for (var i0 = lid; i0 < p.n; i0 += 4u * WG) {
      var v: array<f32, 4>;
      for (var u = 0u; u < 4u; u++) {
        let i = min(i0 + u * WG, p.n - 1u);
        v[u] = x[r.src * p.n + i] * r.scale * weight[i];
      }
      for (var u = 0u; u < 4u; u++) {
        let i = i0 + u * WG;
        if (i < p.n) {
          y[r.dst * p.n + i] = v[u];
        }
      }
    }
  }
}

@compute @workgroup_size(256)
fn rmsnorm_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let r = norm_row(wid, nwg, lid);
  if (!r.live) {
    return;
  }
  let nb = p.n / 32u;
  for (var b = lid; b < nb; b += WG) {
    var v: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      for (var j = 0u; j < 4u; j++) {
        let c = b * 32u + i * 4u + j;
        v[i][j] = x[r.src * p.n + c] * r.scale * weight[c];
      }
    }
    store_q8_block(r.dst * nb + b, v);
    if (p.write_f32 != 0u) {
      for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 4u; j++) {
          y[r.dst * p.n + b * 32u + i * 4u + j] = v[i][j];
        }
      }
    }
  }
}

@compute @workgroup_size(256)
fn rmsnorm_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let r = norm_row(wid, nwg, lid);
  if (r.live) {
    for (var i = lid; i < p.n; i += WG) {
      y[r.dst * p.n + i] = (y[r.dst * p.n + i] + x[r.src * p.n + i] * r.scale * weight[i]) * p.out_scale;
    }
  }
}
