// A seeded draw from the best m logits of a pick (sample.wgsl's result), on
// the GPU, so that a decode step run ahead (src/gpu/decode-ahead.ts) can
// feed the next step a sampled token without the host: the stages the
// sampler chain runs after top-k where they are top-p, min-p or the
// temperature, in the chain's order, then the draw from the softmax of what
// is left with the chain's next uniform number (the host's Mersenne Twister,
// peeked, not drawn). It is the chain's draw in f32 where the chain's is in
// f64: the host samples every step again from the same candidates and
// takes back the steps after one whose token differs (a uniform number
// within an f32 rounding of a boundary), so the tokens are always the
// chain's. Like the chain, a draw with one candidate left uses no number.
//   binding 0  p: Draw (uniform)
//   binding 1  result: the pick's (1 + m) vec2<u32>: (NaN count, complete),
//              then (id, logit bits) best first, id 0xffffffff past the end
//   binding 2  uniforms: (n_u) f32 in [0, 1)
//   binding 3  token: u32 [0] the drawn id (0xffffffff: none), [1] the
//              uniforms used so far (the host zeroes it before the first step)
// One invocation: m <= 128 candidates, a few passes over them.

struct Draw {
  m: u32,
  n_stages: u32,
  n_u: u32,
  pad: u32,
  kinds: vec4<u32>,   // 0 top-p, 1 min-p, 2 temperature
  values: vec4<f32>,
}

const NONE: u32 = 0xffffffffu;
const MAX_M: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Draw;
@group(0) @binding(1) var<storage, read> result: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> uniforms: array<f32>;
@group(0) @binding(3) var<storage, read_write> token: array<u32>;

var<private> lg: array<f32, MAX_M>;
var<private> ids: array<u32, MAX_M>;

// The sum of exp(l - l_max) over the first n (sorted: l_max is the first).
fn exp_sum(n: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < n; i++) { s += exp(lg[i] - lg[0]); }
  return s;
}

@compute @workgroup_size(1)
fn draw() {
  let m = min(p.m, MAX_M);
  token[0] = NONE;
  if (result[0].y == 0u) { return; }
  // The candidates the chain keeps: up to the first id past the vocabulary,
  // -inf or NaN (the pick ranks those last).
  var n = 0u;
  for (; n < m; n++) {
    let r = result[1u + n];
    let mag = r.y & 0x7fffffffu;
    if (r.x == NONE || mag > 0x7f800000u || r.y == 0xff800000u) { break; }
    ids[n] = r.x;
    lg[n] = bitcast<f32>(r.y);
  }
  if (n == 0u) { return; }
  for (var s = 0u; s < min(p.n_stages, 4u); s++) {
    let v = p.values[s];
    switch (p.kinds[s]) {
      case 0u: {
        // Top-p: the shortest prefix whose probability reaches v.
        if (v < 1.0) {
          let sum = exp_sum(n);
          var cum = 0.0;
          for (var i = 0u; i < n; i++) {
            cum += exp(lg[i] - lg[0]) / sum;
            if (cum >= v) {
              n = i + 1u;
              break;
            }
          }
        }
      }
      case 1u: {
        // Min-p: the logits within log(v) of the best (a prefix: sorted).
        if (v > 0.0) {
          let threshold = lg[0] + log(v);
          var k = 1u;
          while (k < n && lg[k] >= threshold) { k++; }
          n = k;
        }
      }
      default: {
        for (var i = 0u; i < n; i++) { lg[i] = lg[i] / v; }
      }
    }
  }
  if (n == 1u) {
    token[0] = ids[0];
    return;
  }
  let c = token[1];
  token[1] = c + 1u;
  let u = select(0.5, uniforms[min(c, max(p.n_u, 1u) - 1u)], c < p.n_u);
  let goal = u * exp_sum(n);
  var cum = 0.0;
  var chosen = ids[n - 1u];
  for (var i = 0u; i < n; i++) {
    cum += exp(lg[i] - lg[0]);
    if (goal < cum) {
      chosen = ids[i];
      break;
    }
  }
  token[0] = chosen;
}
