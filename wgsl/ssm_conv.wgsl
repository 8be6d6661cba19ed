// The causal depthwise convolution of hybrid models' recurrent blocks
// (src/gpu/kernels/recurrent.ts), as cpp/ops/ssm.cpp's causal_conv: over
// the batch, continuing from the block's state (the last kernel - 1 inputs
// of each channel, oldest first) and leaving it at the batch's end.
// p.mode 0 (LFM2): x rows hold b | c | u (3 x channels), the convolution
// runs over b * u and y = c * conv; mode 1 (Qwen 3.5): x rows are the
// channels, y = silu(conv). One invocation a channel, the tokens in order.
// Composed after common.wgsl.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Conv (uniform)
//   binding 2  x: (T, in_stride) f32
//   binding 3  w: (channels, kernel) f32
//   binding 4  state: (kernel - 1, channels) f32, read-write
//   binding 5  y: (T, channels) f32
// Grid: ceil(channels / 64). Bounds (host-checked too): kernel in [2, 64];
// rows >= min(frame.n_tokens, p.max_rows) are not read.

struct Conv {
  channels: u32,
  kernel: u32,
  max_rows: u32,
  mode: u32,       // 0: LFM2's gated form, 1: silu
  in_stride: u32,  // floats per row of x
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Conv;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let n = p.channels;
  if (c >= n) {
    return;
  }
  let m = p.kernel - 1u;
  var prev: array<f32, 64>;
  for (var j = 0u; j < m; j++) {
    prev[j] = state[j * n + c];
  }
  let T = min(frame.n_tokens, p.max_rows);
  for (var t = 0u; t < T; t++) {
    let row = t * p.in_stride;
    var u: f32;
    if (p.mode == 0u) {
      u = x[row + c] * x[row + 2u * n + c];
    } else {
      u = x[row + c];
    }
    // Taps in the CPU's order: the oldest input first, the new one last.
    var sum = 0.0;
    for (var j = 0u; j < m; j++) {
      sum += prev[j] * w[c * p.kernel + j];
    }
    sum += u * w[c * p.kernel + m];
    if (p.mode == 0u) {
      y[t * n + c] = x[row + n + c] * sum;
    } else {
      y[t * n + c] = sum / (1.0 + exp_f32(-sum));
    }
    for (var j = 0u; j + 1u < m; j++) {
      prev[j] = prev[j + 1u];
    }
    prev[m - 1u] = u;
  }
  for (var j = 0u; j < m; j++) {
    state[j * n + c] = prev[j];
  }
}
