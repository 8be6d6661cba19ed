// Q8_K quantization of a matmul's input for the K-quant weights, exactly as
// the CPU's quantize_row_q8_k: per 256-element super-block the element of
// largest magnitude (the first, on ties) maps to -127, q = min(127,
// round_even(x * iscale)) with iscale = -127 / max, d = 1 / iscale, both
// divisions correctly rounded. Stored per 32-element block so the integer
// matmuls read it like Q8_0 (qact_q8_k.wgsl): the quants, d repeated for
// each block of its super-block, and the sums of each block's two halves.
// One invocation per 32-element block, eight to a super-block: they share
// their largest magnitudes through workgroup memory.
//   binding 0  frame: Frame (uniform)
//   binding 1  p: Quantize (uniform)
//   binding 2  x: (T, cols) f32 as vec4 (cols % 256 == 0)
//   binding 6  xq: (T, cols / 4) u32, four int8 a word
//   binding 7  xd: (T, cols / 32) f32, the super-block's d
//   binding 8  xs: (T, cols / 32) u32, the two 16-element sums as i16 (first low)
// Grid: flattened, 64 a workgroup (8 super-blocks). Bounds: rows >=
// min(frame.n_tokens, p.max_rows) are neither read nor written.

struct Quantize {
  cols: u32,
  max_rows: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> p: Quantize;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> xq: array<u32>;
@group(0) @binding(7) var<storage, read_write> xd: array<f32>;
@group(0) @binding(8) var<storage, read_write> xs: array<u32>;

var<workgroup> max_sh: array<f32, 64>;  // each block's first element of largest magnitude

@compute @workgroup_size(64)
fn quantize_q8_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let blk = flat_workgroup(wid, nwg) * 64u + lid;
  // Super-blocks never straddle the bound: cols / 32 is a multiple of 8.
  let live = blk < min(frame.n_tokens, p.max_rows) * (p.cols / 32u);
  var v: array<vec4<f32>, 8>;
  var amax = 0.0;
  var mx = 0.0;
  if (live) {
    for (var i = 0u; i < 8u; i++) {
      v[i] = x[blk * 8u + i];
      for (var j = 0u; j < 4u; j++) {
        if (abs(v[i][j]) > amax) {
          amax = abs(v[i][j]);
          mx = v[i][j];
        }
      }
    }
  }
  max_sh[lid] = mx;
  workgroupBarrier();
  let first = lid & ~7u;
  amax = 0.0;
  mx = 0.0;
  for (var k = 0u; k < 8u; k++) {
    let m = max_sh[first + k];
    if (abs(m) > amax) {
      amax = abs(m);
      mx = m;
    }
  }
  if (!live) {
    return;
  }
  if (amax == 0.0) {
    for (var i = 0u; i < 8u; i++) {
      xq[blk * 8u + i] = 0u;
    }
    xd[blk] = 0.0;
    xs[blk] = 0u;
    return;
  }
  // iscale = -127 / mx and d = 1 / iscale, from correctly rounded
  // divisions of magnitudes (negation is exact).
  let mag = div_rn(127.0, amax);
  let iscale = select(mag, -mag, mx > 0.0);
  let dmag = div_rn(1.0, mag);
  var sums = vec2<i32>(0);
  for (var i = 0u; i < 8u; i++) {
    let qi = min(vec4<i32>(round(v[i] * iscale)), vec4<i32>(127));
    sums[i / 4u] += qi.x + qi.y + qi.z + qi.w;
    let q = bitcast<vec4<u32>>(qi) & vec4<u32>(0xffu);
    xq[blk * 8u + i] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
  }
  xd[blk] = select(dmag, -dmag, mx > 0.0);
  xs[blk] = (bitcast<u32>(sums.x) & 0xffffu) | (bitcast<u32>(sums.y) << 16u);
}
