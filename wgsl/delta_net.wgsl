// The Gated DeltaNet recurrence of Qwen 3.5's recurrent blocks
// (src/gpu/kernels/recurrent.ts), as cpp/ops/ssm.cpp's delta_net: one
// workgroup a value head h (its key head h % n_k), the tokens in order. For
// each token q and k are L2-normalized in workgroup memory, the decay
// exp(softplus(alpha + dt_bias) a) and the write strength sigmoid(beta)
// formed, and each invocation updates its rows j of the state:
//   S = exp(g) S;  delta = beta (v - S k);  S += delta k^T;  out = S q / sqrt(dim)
// Composed after common.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  d: Delta (uniform)
//   binding 2  qkv: (T, channels) f32, the convolution's output: q (n_k heads
//              of dim) | k (n_k heads) | v (n_v heads)
//   binding 3  alpha: (T, n_v) f32    binding 4  beta: (T, n_v) f32
//   binding 5  dt_bias: (n_v) f32     binding 6  a: (n_v) f32 (negative)
//   binding 7  s: (n_v, dim, dim) f32, read-write: head h's S[j][i] (value j,
//              key i) at (h dim + i) dim + j, so that neighbouring
//              invocations (rows j) read neighbouring words
//   binding 8  out: (T, n_v dim) f32
// Grid: n_v workgroups of 64. Bounds (host-checked too): dim <= 256; rows
// >= min(frame.n_tokens, d.max_rows) are not read.

struct Delta {
  n_k: u32,
  n_v: u32,
  dim: u32,
  channels: u32,
  max_rows: u32,
  eps: f32,
  scale: f32,
  _p0: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> d: Delta;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> dt_bias: array<f32>;
@group(0) @binding(6) var<storage, read> a_log: array<f32>;
@group(0) @binding(7) var<storage, read_write> s: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> ks: array<f32, 256>;
var<workgroup> red: array<vec4<f32>, 64>;

// Sums of squares of q and k (as two_sum pairs, for the CPU's double).
fn sum_sq(lid: u32) -> vec2<f32> {
  var sq = vec2<f32>(0.0);
  var sk = vec2<f32>(0.0);
  for (var i = lid; i < d.dim; i += WG) {
    sq = dd_add(sq, vec2<f32>(qs[i] * qs[i], 0.0));
    sk = dd_add(sk, vec2<f32>(ks[i] * ks[i], 0.0));
  }
  red[lid] = vec4<f32>(sq, sk);
  workgroupBarrier();
  for (var step = WG / 2u; step > 0u; step >>= 1u) {
    if (lid < step) {
      let o = red[lid + step];
      red[lid] = vec4<f32>(dd_add(red[lid].xy, o.xy), dd_add(red[lid].zw, o.zw));
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return vec2<f32>(r.x + r.y, r.z + r.w);
}

@compute @workgroup_size(64)
fn delta_net(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  if (h >= d.n_v) {
    return;
  }
  let dim = d.dim;
  let hk = h % d.n_k;
  let key_dim = d.n_k * dim;
  let v_dim = d.n_v * dim;
  let base = h * dim * dim;
  let T = min(frame.n_tokens, d.max_rows);
  for (var t = 0u; t < T; t++) {
    let row = t * d.channels;
    for (var i = lid; i < dim; i += WG) {
      qs[i] = qkv[row + hk * dim + i];
      ks[i] = qkv[row + key_dim + hk * dim + i];
    }
    workgroupBarrier();
    let sums = sum_sq(lid);
    let inv_q = 1.0 / max(sqrt(sums.x), d.eps);
    let inv_k = 1.0 / max(sqrt(sums.y), d.eps);
    for (var i = lid; i < dim; i += WG) {
      qs[i] = qs[i] * inv_q;
      ks[i] = ks[i] * inv_k;
    }
    workgroupBarrier();
    // softplus, linear past 20 as llama.cpp's.
    let z = alpha[t * d.n_v + h] + dt_bias[h];
    var sp = z;
    if (z <= 20.0) {
      sp = log(1.0 + exp_f32(z));
    }
    let decay = exp_f32(sp * a_log[h]);
    let b = 1.0 / (1.0 + exp_f32(-beta[t * d.n_v + h]));
    for (var j = lid; j < dim; j += WG) {
      var dot = 0.0;
      for (var i = 0u; i < dim; i++) {
        let at = base + i * dim + j;
        let v = s[at] * decay;
        s[at] = v;
        dot += v * ks[i];
      }
      let delta = (qkv[row + 2u * key_dim + h * dim + j] - dot) * b;
      var o = 0.0;
      for (var i = 0u; i < dim; i++) {
        let at = base + i * dim + j;
        let v = s[at] + ks[i] * delta;
        s[at] = v;
        o += v * qs[i];
      }
      out[t * v_dim + h * dim + j] = o * d.scale;
    }
    workgroupBarrier();
  }
}
