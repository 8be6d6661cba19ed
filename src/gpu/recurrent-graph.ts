// The recurrent blocks of a hybrid model in a session's forward graph
// (forward-graph.ts records the rest): their state, its checkpoint slots,
// the activations their mixers need, and the mixers' steps, which read the
// residual stream and add their output to it as attention does:
// - LFM2's short convolution: norm, in_proj (b, c, x), conv over b * x
//   gated by c, out_proj;
// - Qwen 3.5's Gated DeltaNet: norm, attn_qkv / attn_gate / ssm_beta /
//   ssm_alpha, SiLU convolution of q, k, v, the delta rule, RMSNorm of each
//   head times silu(z), ssm_out.
// Everything is allocated here, once; running or checkpointing allocates
// nothing.
import type { Kernels, Q8Acts, Step } from './kernels/index.js';
import type { GpuModelWeights } from './model-weights.js';
import type { GpuWeight } from './weights.js';

/** The live state of a session's recurrent blocks and its checkpoints:
 * slot s holds every block's state back to back (block i at offsets[i]). */
export interface RecurrentBuffers {
  /** Per recurrent block, the convolution state then (DeltaNet) the
   * recurrence's state, each its own buffer. */
  live: GPUBuffer[];
  offsets: number[];
  slots: GPUBuffer[];
}

/** What forward-graph.ts lends the mixers: its allocator and the helpers
 * that plan quantized inputs, norm the residual and project onto it. */
export interface GraphTools {
  K: Kernels;
  create: (label: string, size: number) => GPUBuffer;
  plan: (readers: GpuWeight[], cols: number, rows: GPUBuffer) => {
    fused: Q8Acts | undefined;
    quantize: (frame: GPUBuffer) => Step[];
    input: (w: GpuWeight) => GPUBuffer | Q8Acts;
  };
  normed: (weight: GPUBuffer | undefined, readers: GpuWeight[], frame: GPUBuffer) => { steps: Step[]; input: (w: GpuWeight) => GPUBuffer | Q8Acts };
  project: (w: GpuWeight, x: GPUBuffer | Q8Acts, postNorm: GPUBuffer | undefined) => Step[];
  projectEach: (ws: GpuWeight[], input: (w: GpuWeight) => GPUBuffer | Q8Acts, outs: GPUBuffer[]) => Step[];
  frame: GPUBuffer;
  maxBatch: number;
  checkpoints: number;
}

/** Allocates the recurrent blocks' state, slots and activations; steps(i)
 * records block i's mixer (a recurrent block). */
export function recordMixers(model: GpuModelWeights, t: GraphTools): { state: RecurrentBuffers | null; steps: (i: number) => Step[] } {
  const recurrent = model.blocks.map((w, i) => (w.mixer ? i : -1)).filter((i) => i >= 0);
  if (recurrent.length === 0) return { state: null, steps: () => [] };
  const { K, create, frame: f, maxBatch: T } = t;
  const hp = model.spec.hparams;
  const E = model.spec.info.nEmbd;
  const C = hp.convChannels;
  const H = hp.ssmValueHeads;
  const D = hp.ssmHeadDim;
  const V = H * D;
  const deltas = recurrent.some((i) => model.blocks[i].mixer!.kind === 'deltanet');

  // State: per block, (kernel - 1, C) of convolution inputs and, for
  // DeltaNet, (H, D, D) of the recurrence; created zeroed (no token yet).
  const state: RecurrentBuffers = { live: [], offsets: [], slots: [] };
  const convState = new Map<number, GPUBuffer>();
  const deltaState = new Map<number, GPUBuffer>();
  let total = 0;
  const stateBuffer = (label: string, bytes: number): GPUBuffer => {
    const b = create(label, bytes);
    state.live.push(b);
    state.offsets.push(total);
    total += b.size;
    return b;
  };
  for (const i of recurrent) {
    const l = model.firstLayer + i;
    convState.set(i, stateBuffer(`conv state ${l}`, (hp.convKernel - 1) * C * 4));
    if (model.blocks[i].mixer!.kind === 'deltanet') deltaState.set(i, stateBuffer(`delta state ${l}`, H * D * D * 4));
  }
  for (let s = 0; s < t.checkpoints; s++) state.slots.push(create(`state checkpoint ${s}`, total));

  // Activations, shared by the blocks (their steps run in order).
  const mixIn = create('mix in', T * Math.max(3 * E, C) * 4); // (T, 3 E) b | c | x, or (T, C) q | k | v
  const mixOut = create('mix out', T * C * 4); // (T, C): the convolution's output
  const z = deltas ? create('mix z', T * V * 4) : null; // (T, V): DeltaNet's output gate
  const beta = deltas ? create('mix beta', T * H * 4) : null; // (T, H)
  const alpha = deltas ? create('mix alpha', T * H * 4) : null; // (T, H)
  const o = deltas ? create('mix o', T * V * 4) : null; // (T, V): the recurrence's output

  const steps = (i: number): Step[] => {
    const w = model.blocks[i];
    const m = w.mixer!;
    const n = t.normed(w.attnNorm, m.inProj, f);
    const out: Step[] = [...n.steps];
    let last: GPUBuffer;
    let cols: number;
    if (m.kind === 'shortconv') {
      out.push(...t.projectEach(m.inProj, n.input, [mixIn]));
      out.push(K.conv(mixIn, m.conv, convState.get(i)!, mixOut, { channels: E, kernel: hp.convKernel, mode: 'gated' }, f));
      last = mixOut;
      cols = E;
      const p = t.plan([w.wo], cols, last);
      if (p.fused) out.push(K.quantize(last, p.fused, f));
      out.push(...p.quantize(f), ...t.project(w.wo, p.input(w.wo), undefined));
      return out;
    }
    out.push(...t.projectEach(m.inProj, n.input, [mixIn, z!, beta!, alpha!]));
    out.push(K.conv(mixIn, m.conv, convState.get(i)!, mixOut, { channels: C, kernel: hp.convKernel, mode: 'silu' }, f));
    out.push(K.deltaNet(mixOut, alpha!, beta!, { dtBias: m.dtBias!, a: m.a! }, deltaState.get(i)!, o!, {
      nKeyHeads: hp.ssmKeyHeads, nValueHeads: H, headDim: D, channels: C, eps: hp.rmsEps,
    }, f));
    // RMSNorm of each head, times silu(z) (into z), then ssm_out.
    out.push(K.rmsnormHeads(o!, m.ssmNorm!, H, D, hp.rmsEps, f));
    const p = t.plan([w.wo], V, z!);
    if (p.fused) out.push(K.siluMul(z!, o!, V, f, { q8: p.fused }));
    else out.push(K.siluMul(z!, o!, V, f), ...p.quantize(f));
    out.push(...t.project(w.wo, p.input(w.wo), undefined));
    return out;
  };
  return { state, steps };
}
