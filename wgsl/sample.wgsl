// The best m logits of the vocabulary, for sampling on the GPU: a decode step
// then reads back m (id, logit) pairs instead of every logit. Ordered as the
// host's samplers order candidates: larger logit first, equal logits by lower
// id; -0 equals +0; NaN ranks below -inf (the host never samples a NaN) and
// is counted, so the host can fall back to the full logits.
//   binding 0  p: Pick (uniform: n_vocab, m, n_chunks)
//   binding 1  logits: (n_vocab) f32 bits, read
//   binding 2  partial: (n_chunks * m + n_chunks) vec2<u32>: each chunk's best
//              m as (id, logit bits), then each chunk's NaN count in .x
//   binding 3  result: (1 + m) vec2<u32>: (NaN count, m), then the best m
// topk_chunks: one 256-invocation workgroup per CHUNK = 4096 logits (each
// invocation keeps its 16 in registers); topk_merge: one workgroup over the
// chunks' candidates. Both take m rounds, each selecting the best element
// strictly behind the previous pick. Bounds: ids >= p.n_vocab are never read;
// fewer than m elements pad the list with id 0xffffffff.

struct Pick {
  n_vocab: u32,
  m: u32,
  n_chunks: u32,
  _pad: u32,
}

const WG: u32 = 256u;
const PER: u32 = 16u;
const CHUNK: u32 = WG * PER;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Pick;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> result: array<vec2<u32>>;

var<workgroup> best_key: array<u32, WG>;
var<workgroup> best_id: array<u32, WG>;
var<workgroup> nan_count: atomic<u32>;

fn is_nan(bits: u32) -> bool {
  return (bits & 0x7fffffffu) > 0x7f800000u;
}

// An order-preserving u32 of a float's bits: -0 as +0, NaN as 0 (below -inf,
// whose key is 0x007fffff).
fn sort_key(bits: u32) -> u32 {
  if (is_nan(bits)) { return 0u; }
  var b = bits;
  if (b == 0x80000000u) { b = 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

// (ka, ia) comes before (kb, ib).
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// Reduces every invocation's (best_key, best_id) to slot 0; returns it.
fn reduce_best(lid: u32, key: u32, id: u32) -> vec2<u32> {
  best_key[lid] = key;
  best_id[lid] = id;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s && before(best_key[lid + s], best_id[lid + s], best_key[lid], best_id[lid])) {
      best_key[lid] = best_key[lid + s];
      best_id[lid] = best_id[lid + s];
    }
    workgroupBarrier();
  }
  let won = vec2<u32>(best_key[0], best_id[0]);
  workgroupBarrier();
  return won;
}

@compute @workgroup_size(256)
fn topk_chunks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let chunk = wid.x;
  if (lid == 0u) { atomicStore(&nan_count, 0u); }
  workgroupBarrier();
  var bits: array<u32, PER>;
  var nans = 0u;
  for (var j = 0u; j < PER; j++) {
    let id = chunk * CHUNK + j * WG + lid;
    bits[j] = 0u;
    if (id < p.n_vocab) {
      bits[j] = logits[id];
      if (is_nan(bits[j])) { nans++; }
    }
  }
  if (nans > 0u) { atomicAdd(&nan_count, nans); }
  // This chunk's list is partial[chunk * m, chunk * m + m); the NaN counts
  // follow all lists.
  var prev_key = NONE;
  var prev_id = 0u;
  for (var r = 0u; r < p.m; r++) {
    var key = 0u;
    var idb = NONE;
    for (var j = 0u; j < PER; j++) {
      let id = chunk * CHUNK + j * WG + lid;
      if (id >= p.n_vocab) { break; }
      let k = sort_key(bits[j]);
      if (before(prev_key, prev_id, k, id) && before(k, id, key, idb)) {
        key = k;
        idb = id;
      }
    }
    let won = reduce_best(lid, key, idb);
    if (lid == 0u && chunk < p.n_chunks) {
      var v = 0u;
      if (won.y != NONE) { v = logits[won.y]; }
      partial[chunk * p.m + r] = vec2<u32>(won.y, v);
    }
    prev_key = won.x;
    prev_id = won.y;
  }
  if (lid == 0u && chunk < p.n_chunks) {
    partial[p.n_chunks * p.m + chunk] = vec2<u32>(atomicLoad(&nan_count), 0u);
  }
}

@compute @workgroup_size(256)
fn topk_merge(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let n = p.n_chunks * p.m;
  var prev_key = NONE;
  var prev_id = 0u;
  for (var r = 0u; r < p.m; r++) {
    var key = 0u;
    var idb = NONE;
    for (var i = lid; i < n; i += WG) {
      let c = partial[i];
      if (c.x == NONE) { continue; }
      let k = sort_key(c.y);
      if (before(prev_key, prev_id, k, c.x) && before(k, c.x, key, idb)) {
        key = k;
        idb = c.x;
      }
    }
    let won = reduce_best(lid, key, idb);
    if (lid == 0u) {
      var v = 0u;
      if (won.y != NONE) { v = logits[won.y]; }
      result[1u + r] = vec2<u32>(won.y, v);
    }
    prev_key = won.x;
    prev_id = won.y;
  }
  if (lid == 0u) {
    var nans = 0u;
    for (var c = 0u; c < p.n_chunks; c++) { nans += partial[n + c].x; }
    result[0] = vec2<u32>(nans, p.m);
  }
}
