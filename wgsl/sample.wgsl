// The best m logits of the vocabulary, for sampling on the GPU: a decode step
// then reads back m (id, logit) pairs instead of every logit. Ordered as the
// host's samplers order candidates: larger logit first, equal logits by lower
// id; -0 equals +0; NaN ranks below -inf (the host never samples a NaN) and
// is counted, so the host can fall back to the full logits.
//   binding 0  p: Pick (uniform: n_vocab, m, n_chunks, capacity)
//   binding 1  logits: (n_vocab) f32 bits, read
//   binding 2  partial: (n_chunks + 1) vec2<u32>: each chunk's bound (sort
//              key, id) and NaN count in .x of a second array half; then the
//              survivors' counter
//   binding 3  survivors: (capacity) vec2<u32>: (id, logit bits)
//   binding 4  result: (1 + m) vec2<u32>: (NaN count, 1 if complete), then
//              the best m
// Three dispatches:
//   pick_bound (one 256-invocation workgroup per CHUNK = 4096 logits, 16 an
//     invocation): the m-th best of the invocations' maxima, by a bitonic
//     sort in workgroup memory, bounds the chunk's m-th best from below (m
//     distinct elements come no later); the best bound over the chunks
//     bounds the vocabulary's m-th best.
//   pick_collect (same grid): every logit no later than that bound joins the
//     survivors (at most 16 m a chunk: they live in the m invocations whose
//     maxima come no later than its bound).
//   pick_rank (capacity / 256 workgroups): a survivor's place is the number
//     of survivors before it; places below m are the result. More survivors
//     than the capacity leave the result incomplete (the host then reads
//     every logit).
// Bounds: ids >= p.n_vocab are never read, survivors past p.capacity never
// written (the host sizes the buffer for it), m is at most 256 (the host
// asks for at most 129; result holds 1 + m); fewer than m elements pad the
// result with id 0xffffffff.

struct Pick {
  n_vocab: u32,
  m: u32,
  n_chunks: u32,
  capacity: u32,
}

const WG: u32 = 256u;
const PER: u32 = 16u;
const CHUNK: u32 = WG * PER;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Pick;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read_write> partial: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> survivors: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> result: array<vec2<u32>>;

var<workgroup> sort_key_wg: array<u32, WG>;
var<workgroup> sort_id_wg: array<u32, WG>;
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

// (ka, ia) comes before (kb, ib); nothing (0, NONE) comes after every element.
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// partial layout (u32 words): [2c, 2c + 1] chunk c's bound (key, id);
// [2 n_chunks + c] its NaN count; [3 n_chunks] the survivors' counter.
fn counter_index() -> u32 {
  return 3u * p.n_chunks;
}

@compute @workgroup_size(256)
fn pick_bound(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let chunk = wid.x;
  if (lid == 0u) { atomicStore(&nan_count, 0u); }
  if (chunk == 0u && lid == 0u) { atomicStore(&partial[counter_index()], 0u); }
  workgroupBarrier();
  var key = 0u;
  var idb = NONE;
  var nans = 0u;
  for (var j = 0u; j < PER; j++) {
    let id = chunk * CHUNK + j * WG + lid;
    if (id >= p.n_vocab) { break; }
    let bits = logits[id];
    if (is_nan(bits)) { nans++; }
    let k = sort_key(bits);
    if (before(k, id, key, idb)) {
      key = k;
      idb = id;
    }
  }
  if (nans > 0u) { atomicAdd(&nan_count, nans); }
  // Bitonic sort of the 256 maxima, best first.
  sort_key_wg[lid] = key;
  sort_id_wg[lid] = idb;
  workgroupBarrier();
  for (var k = 2u; k <= WG; k = k * 2u) {
    for (var j = k / 2u; j > 0u; j = j / 2u) {
      let other = lid ^ j;
      if (other > lid) {
        let best_first = (lid & k) == 0u;
        let swap = before(sort_key_wg[other], sort_id_wg[other], sort_key_wg[lid], sort_id_wg[lid]) == best_first;
        if (swap) {
          let tk = sort_key_wg[lid];
          let ti = sort_id_wg[lid];
          sort_key_wg[lid] = sort_key_wg[other];
          sort_id_wg[lid] = sort_id_wg[other];
          sort_key_wg[other] = tk;
          sort_id_wg[other] = ti;
        }
      }
      workgroupBarrier();
    }
  }
  if (lid == 0u && chunk < p.n_chunks) {
    // Fewer than m maxima: no bound (nothing), every element survives. The
    // host keeps m in [1, 129]; the clamp keeps the index inside the array.
    let last = clamp(p.m, 1u, WG) - 1u;
    atomicStore(&partial[2u * chunk], sort_key_wg[last]);
    atomicStore(&partial[2u * chunk + 1u], sort_id_wg[last]);
    atomicStore(&partial[2u * p.n_chunks + chunk], atomicLoad(&nan_count));
  }
}

@compute @workgroup_size(256)
fn pick_collect(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let chunk = wid.x;
  // The best of the chunks' bounds.
  var bkey = 0u;
  var bid = NONE;
  for (var c = 0u; c < p.n_chunks; c++) {
    let k = atomicLoad(&partial[2u * c]);
    let i = atomicLoad(&partial[2u * c + 1u]);
    if (before(k, i, bkey, bid)) {
      bkey = k;
      bid = i;
    }
  }
  for (var j = 0u; j < PER; j++) {
    let id = chunk * CHUNK + j * WG + lid;
    if (id >= p.n_vocab) { break; }
    let bits = logits[id];
    if (before(sort_key(bits), id, bkey, bid) || (id == bid)) {
      let slot = atomicAdd(&partial[counter_index()], 1u);
      if (slot < p.capacity) { survivors[slot] = vec2<u32>(id, bits); }
    }
  }
}

@compute @workgroup_size(256)
fn pick_rank(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let total = atomicLoad(&partial[counter_index()]);
  let n = min(total, p.capacity);
  if (i == 0u) {
    var nans = 0u;
    for (var c = 0u; c < p.n_chunks; c++) { nans += atomicLoad(&partial[2u * p.n_chunks + c]); }
    result[0] = vec2<u32>(nans, select(0u, 1u, total <= p.capacity));
  }
  // Places no survivor takes (fewer than m elements) hold nothing.
  if (i >= n && i < p.m) { result[1u + i] = vec2<u32>(NONE, 0u); }
  if (i >= n) { return; }
  let s = survivors[i];
  let key = sort_key(s.y);
  var place = 0u;
  for (var j = 0u; j < n && place < p.m; j++) {
    let o = survivors[j];
    if (before(sort_key(o.y), o.x, key, s.x)) { place++; }
  }
  if (place < p.m) { result[1u + place] = s; }
}
