// The recorded forward pass of one session's offloaded blocks: its KV
// cache and activations, allocated once for the whole context and the
// largest batch, and the kernels bound to them as Steps, in the order a
// forward encodes them (src/gpu/runner.ts runs them). Quantized weights read
// activations quantized the way the CPU quantizes them, each input once per
// type for every matmul that reads it. Recording creates every buffer a
// session will use; running a forward or a shift creates none.
import { GpuError } from '../shared/errors.js';
import { FRAME_BYTES, actType, attentionScratchBytes, canFuseNorm, createQ8Acts, type FusedNorm, type KvEraseStep, type Q8Acts, type Step } from './kernels/index.js';
import type { GpuBlockWeights, GpuModelWeights } from './model-weights.js';
import { GpuPicker } from './pick.js';
import { recordMixers, type RecurrentBuffers } from './recurrent-graph.js';
import type { GpuWeight } from './weights.js';

/** A step that runs for batches of more than one token only. */
function batchOnly(step: Step): Step {
  return {
    label: step.label,
    encode: (pass, nTokens, nKv) => {
      if (nTokens > 1) step.encode(pass, nTokens, nKv);
    },
  };
}

/** A session's buffers and recorded steps. */
export interface ForwardGraph {
  /** Every buffer allocated, in creation order: the caches are the first
   * 2 * (attention blocks). */
  readonly buffers: GPUBuffer[];
  readonly kCache: GPUBuffer[]; // per attention block: (nCtx, kvDim) f16
  readonly vCache: GPUBuffer[]; // per attention block: (nCtx, kvDim) f16
  /** Hybrids: the recurrent blocks' state and its checkpoint slots. */
  state: RecurrentBuffers | null;
  scratch: GPUBuffer; // (nCtx, kvDim) f16: cells in transit during a shift
  frame: GPUBuffer; // Frame uniform of this forward
  headFrame: GPUBuffer; // Frame with one token: the head's matmul
  x: GPUBuffer; // (T, n_embd) residual stream
  out: GPUBuffer; // (n_vocab) logits, or (n_embd) last hidden state
  readback: GPUBuffer; // mappable copy of `out`, or of every row of x (embeddings)
  rowsFull: GPUBuffer; // (T, 2) u32: each row's visible cells in a packed batch, full-attention layers
  rowsSwa: GPUBuffer; // (T, 2) u32: the same for sliding-window layers
  /** Gemma 4: each offloaded block's per-layer inputs, (T, n_embd_per_layer) f32 (empty without). */
  perLayer: GPUBuffer[];
  /** Row width (K or V) of each cache: the block's own (Gemma 4's differ by block). */
  kvDims: number[];
  picker: GpuPicker | null; // the best logits of `out` (head on the GPU)
  readonly blockSteps: Step[];
  readonly eraseSteps: KvEraseStep[];
  readonly headSteps: Step[];
  /** Settles once the allocation's error scopes are popped: rejects with a
   * GpuError (out of memory, validation) that the first forward rethrows. */
  allocated: Promise<void>;
}

/** Allocates and records the forward pass of `model`'s blocks for a
 * session of nCtx cells and batches of up to maxBatch tokens (and, for a
 * hybrid's recurrent blocks, their state and `checkpoints` copies of it). */
export function recordForward(model: GpuModelWeights, nCtx: number, maxBatch: number, checkpoints = 0): ForwardGraph {
  const { device } = model.ctx;
  const { info, hparams: hp } = model.spec;
  const T = maxBatch;
  const E = info.nEmbd;
  // Blocks may differ in widths (Gemma 4): buffers take the widest.
  const dimsOf = (w: GpuBlockWeights | undefined) => {
    const headDim = w?.headDim ?? hp.headDim;
    const nHeadKv = w?.nHeadKv ?? hp.nHeadKv;
    return { headDim, nHeadKv, qDim: hp.nHead * headDim, kvDim: nHeadKv * headDim, nFf: w?.nFf ?? hp.nFf };
  };
  const widest = (key: 'headDim' | 'qDim' | 'kvDim' | 'nFf') => Math.max(dimsOf(undefined)[key], ...model.blocks.map((w) => dimsOf(w)[key]));
  const qDim = widest('qDim');
  const kvDim = widest('kvDim');
  const nFfMax = widest('nFf');
  const P = hp.nEmbdPerLayer;
  const g = { buffers: [], kCache: [], vCache: [], kvDims: [], perLayer: [], state: null, blockSteps: [], eraseSteps: [], headSteps: [], picker: null } as unknown as ForwardGraph;
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const create = (label: string, size: number, usage = storage): GPUBuffer => {
    const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    g.buffers.push(b);
    return b;
  };
  // Allocation failures (out of memory above all) arrive asynchronously
  // through these scopes; the first forward waits for their verdict.
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  try {
    const kvIndex: number[] = [];
    for (let i = 0; i < model.blocks.length + model.encoderBlocks.length; i++) {
      const w = model.blocks[i];
      // Gemma 4's shared KV: the block attends over an earlier block's cache.
      if (w?.kvFrom !== undefined) {
        if (!(w.kvFrom >= 0 && w.kvFrom < i) || model.blocks[w.kvFrom].kvFrom !== undefined) {
          throw new GpuError('gpu/unsupported-type', `block ${model.firstLayer + i} cannot read the cache of offloaded block ${w.kvFrom}`, { lost: false });
        }
        kvIndex.push(kvIndex[w.kvFrom]);
        continue;
      }
      kvIndex.push(g.kCache.length);
      if (w?.mixer) continue; // a recurrent block keeps a state, not a cache
      const d = dimsOf(w).kvDim;
      g.kvDims.push(d);
      g.kCache.push(create(`k cache ${model.firstLayer + i}`, nCtx * d * 2));
      g.vCache.push(create(`v cache ${model.firstLayer + i}`, nCtx * d * 2));
    }
    g.scratch = create('kv shift scratch', nCtx * kvDim * 2);
    g.frame = create('frame', FRAME_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    g.headFrame = create('head frame', FRAME_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(g.headFrame, 0, new Uint32Array([1, 0, 1, 0]));
    g.x = create('x', T * E * 4);
    const xb = create('xb', T * E * 4); // (T, n_embd) normed input of a sub-block
    const q = create('q', T * qDim * 4); // (T, n_head * head_dim)
    const k = create('k', T * kvDim * 4); // (T, kv_dim)
    const v = create('v', T * kvDim * 4); // (T, kv_dim)
    const att = create('att', T * qDim * 4); // (T, n_head * head_dim)
    const hb = create('hb', T * nFfMax * 4); // (T, n_ff)
    const hb2 = create('hb2', T * nFfMax * 4); // (T, n_ff)
    // Gemma 4's per-layer inputs (written by each forward) and their product.
    const plh = model.blocks.some((w) => w.perLayer) ? create('per-layer h', T * P * 4) : null; // (T, n_embd_per_layer)
    for (const w of model.blocks) if (w.perLayer) g.perLayer.push(create(`per-layer input ${model.firstLayer + g.perLayer.length}`, T * P * 4));
    const gate = hp.attnGate ? create('gate', T * qDim * 4) : null; // (T, n_head * head_dim): Qwen 3.5's attention gates
    const outSize = (model.headOnDevice ? info.nVocab : E) * 4;
    g.out = create('out', outSize);
    // Big enough for the logits and for every row's hidden state (embeddings).
    g.readback = create('readback', Math.max(outSize, T * E * 4), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    // The attention kernel bounds its rows by q's buffer: a block with
    // narrower heads (Gemma 4) reads as more rows, whose ranges it checks.
    const rowsOfQ = Math.ceil(qDim / Math.min(hp.nHead * hp.headDim, ...model.blocks.map((w) => dimsOf(w).qDim)));
    g.rowsFull = create('rows full', T * rowsOfQ * 8);
    g.rowsSwa = create('rows swa', T * rowsOfQ * 8);
    if (model.headOnDevice) {
      g.picker = new GpuPicker(device, g.out, info.nVocab);
      g.buffers.push(...g.picker.buffers);
    }
    // Gemma scales q itself (before its f16 rounding); the others the scores.
    const shape = {
      nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: widest('headDim'), nCtx,
      scale: hp.attnScaleOnQ ? 1 : hp.attnScale,
      qScale: hp.attnScaleOnQ ? hp.attnScale : 1,
      softcap: hp.attnSoftcap,
    };
    const scratchBytes = attentionScratchBytes(shape, T, device.limits.maxStorageBufferBindingSize);
    const attnScratch = scratchBytes > 0 ? create('attention scratch', scratchBytes) : null;

    // Quantized weights multiply activations quantized to the type the CPU
    // converts them to (Q8_0, Q8_1 or Q8_K): each input is quantized once
    // per type, for every matmul that reads it. Buffers of one type and
    // width are shared by the inputs that have it (steps run in order).
    const actsByKey = new Map<string, Q8Acts>();
    const acts = (cols: number, type: Q8Acts['type']): Q8Acts => {
      const key = `${type}/${cols}`;
      let a = actsByKey.get(key);
      if (!a) {
        a = createQ8Acts(device, `${type === 'q8_0' ? '' : type + ' '}${cols}`, T, cols, type);
        g.buffers.push(a.quants, a.scales);
        if (a.sums) g.buffers.push(a.sums);
        actsByKey.set(key, a);
      }
      return a;
    };
    // How an input of `cols` columns, produced as f32 rows in `rows`, reaches
    // the matmuls that read it: Q8_0 is fused into the producing norm or
    // product; Q8_1 (which Q8_0 readers share) and Q8_K are quantized from
    // the f32 rows by their own steps.
    const plan = (readers: GpuWeight[], cols: number, rows: GPUBuffer) => {
      const types = new Set(readers.map((w) => actType(w.type)));
      const q8 = types.has('q8_1') ? acts(cols, 'q8_1') : types.has('q8_0') ? acts(cols, 'q8_0') : undefined;
      const q8k = types.has('q8_k') ? acts(cols, 'q8_k') : undefined;
      const fused = q8?.type === 'q8_0' ? q8 : undefined;
      const separate = [q8 && !fused ? q8 : undefined, q8k].filter((a): a is Q8Acts => !!a);
      return {
        fused,
        needsRows: types.has('f32') || separate.length > 0,
        quantize: (frame: GPUBuffer): Step[] => separate.map((a) => K.quantize(rows, a, frame)),
        input: (w: GpuWeight): GPUBuffer | Q8Acts => {
          const t = actType(w.type);
          return t === 'f32' ? rows : t === 'q8_k' ? q8k! : q8!;
        },
      };
    };

    const K = model.kernels;
    const f = g.frame;
    // Norm into whichever forms the matmuls after it read, then project.
    // Without a norm (OLMo 2) the matmuls read the residual stream itself,
    // quantized by their own steps where they take Q8 activations.
    // With `fuse`, where every reader takes Q8_0 activations and nothing
    // reads the f32 rows, a one-token forward leaves the norm to the
    // matvecs (norm: pass it to projectEach), and its own step runs for
    // batches only.
    const normed = (weight: GPUBuffer | undefined, readers: GpuWeight[], frame: GPUBuffer, lastRowOnly = false, fuse = false) => {
      if (!weight) {
        const p = plan(readers, E, g.x);
        return { steps: [...(p.fused ? [K.quantize(g.x, p.fused, frame)] : []), ...p.quantize(frame)], input: p.input, norm: undefined };
      }
      const p = plan(readers, E, xb);
      const norm = fuse && !lastRowOnly && p.fused && !p.needsRows && readers.every(canFuseNorm) ? { x: g.x, weight, eps: hp.rmsEps } : undefined;
      const step = K.rmsnorm(g.x, weight, p.needsRows ? xb : null, E, hp.rmsEps, frame, { q8: p.fused, lastRowOnly });
      const steps = [norm ? batchOnly(step) : step, ...p.quantize(lastRowOnly ? g.headFrame : frame)];
      return { steps, input: p.input, norm };
    };
    // A sub-block's output goes onto the residual: folded into its last
    // projection (scaled there by Granite's residual multiplier), or (Gemma,
    // OLMo 2) through a post-norm that adds as it writes.
    const postOut = model.blocks.some((w) => w.postAttnNorm || w.postFfnNorm) ? create('xb2', T * E * 4) : null;
    if (postOut && hp.residualScale !== 1) {
      throw new GpuError('gpu/unsupported-type', 'a residual multiplier after post-norms is not supported on the GPU', { lost: false });
    }
    const project = (w: GpuWeight, x: GPUBuffer | Q8Acts, postNorm: GPUBuffer | undefined, outScale = 1): Step[] => {
      if (outScale !== 1 && !postNorm) throw new GpuError('gpu/unsupported-type', 'a block output scale needs a post-norm on the GPU', { lost: false });
      return postNorm
        ? [K.matmul(w, x, postOut!, f), K.rmsnorm(postOut!, postNorm, g.x, E, hp.rmsEps, f, { accumulate: true, outScale })]
        : [K.matmul(w, x, g.x, f, { accumulate: true, outScale: hp.residualScale })];
    };
    // Projections of one input into `outs`, in order: a stacked weight
    // (GpuWeight.stack) writes several of them in one dispatch.
    const projectEach = (ws: GpuWeight[], input: (w: GpuWeight) => GPUBuffer | Q8Acts, outs: GPUBuffer[], norm?: FusedNorm): Step[] => {
      let o = 0;
      return ws.map((w) => {
        const n = w.stack?.length ?? 1;
        o += n;
        return K.matmul(w, input(w), n > 1 ? outs.slice(o - n, o) : outs[o - 1], f, { norm });
      });
    };
    const mixers = recordMixers(model, { K, create, plan, project, projectEach, normed, frame: f, maxBatch: T, checkpoints });
    g.state = mixers.state;
    // BERT's blocks: attention straight from x (no norm before), biases,
    // residual, LayerNorm in place; FFN (GELU, or SwiGLU), residual, LayerNorm.
    model.encoderBlocks.forEach((w, i) => {
      const kc = g.kCache[i];
      const vc = g.vCache[i];
      const pin = plan(w.qkv, E, g.x);
      g.blockSteps.push(...pin.quantize(f));
      if (pin.fused) g.blockSteps.push(K.quantize(g.x, pin.fused, f));
      g.blockSteps.push(...projectEach(w.qkv, pin.input, [q, k, v]));
      if (w.bq && w.bk && w.bv) g.blockSteps.push(K.addBias(q, w.bq, qDim, f), K.addBias(k, w.bk, kvDim, f), K.addBias(v, w.bv, kvDim, f));
      const rope = model.ropeOf(model.firstLayer + i, nCtx);
      if (rope && rope.nRot > 0) g.blockSteps.push(K.ropeStore(q, k, v, kc, vc, shape, rope, f));
      else g.blockSteps.push(K.kvStore(k, v, kc, vc, kvDim, nCtx, f));
      g.blockSteps.push(K.attention(q, kc, vc, att, shape, f, attnScratch, undefined, 'tiled', g.rowsFull));
      const ao = plan([w.wo], qDim, att);
      if (ao.fused) g.blockSteps.push(K.quantize(att, ao.fused, f));
      g.blockSteps.push(...ao.quantize(f), K.matmul(w.wo, ao.input(w.wo), g.x, f, { accumulate: true }));
      if (w.bo) g.blockSteps.push(K.addBias(g.x, w.bo, E, f));
      g.blockSteps.push(K.layernorm(g.x, w.attnOutNorm, w.attnOutNormB, E, hp.normEps, f));
      const fin = plan(w.up, E, g.x);
      if (fin.fused) g.blockSteps.push(K.quantize(g.x, fin.fused, f));
      g.blockSteps.push(...fin.quantize(f), ...projectEach(w.up, fin.input, [hb, hb2]));
      if (hp.ffnAct === 'silu') {
        g.blockSteps.push(K.siluMul(hb, hb2, hp.nFf, f));
      } else {
        if (w.bUp) g.blockSteps.push(K.addBias(hb, w.bUp, hp.nFf, f));
        g.blockSteps.push(K.gelu(hb, hp.nFf, f));
      }
      const dn = plan([w.down], hp.nFf, hb);
      if (dn.fused) g.blockSteps.push(K.quantize(hb, dn.fused, f));
      g.blockSteps.push(...dn.quantize(f), K.matmul(w.down, dn.input(w.down), g.x, f, { accumulate: true }));
      if (w.bDown) g.blockSteps.push(K.addBias(g.x, w.bDown, E, f));
      g.blockSteps.push(K.layernorm(g.x, w.outNorm, w.outNormB, E, hp.normEps, f));
    });
    model.blocks.forEach((w, i) => {
      if (w.mixer) {
        g.blockSteps.push(...mixers.steps(i));
      } else {
        const kc = g.kCache[kvIndex[i]];
        const vc = g.vCache[kvIndex[i]];
        const dims = dimsOf(w);
        const layerShape = { ...shape, nHeadKv: dims.nHeadKv, headDim: dims.headDim, window: w.window };
        const rope = model.ropeOf(model.firstLayer + i, nCtx);
        const shared = w.kvFrom !== undefined;
        // Attention: norm, project (+ bias: own passes, or fused into the
        // rotation), norm q and k (by head, or OLMo 2's whole rows), rotate
        // (not on NoPE layers) and cache, attend, project back onto the residual.
        const an = normed(w.attnNorm, w.qkv, f, false, true);
        g.blockSteps.push(...an.steps, ...projectEach(w.qkv, an.input, shared ? [q] : gate ? [q, k, v, gate] : [q, k, v], an.norm));
        if (w.bq && w.bk && w.bv) g.blockSteps.push(K.addBias(q, w.bq, qDim, f), K.addBias(k, w.bk, kvDim, f), K.addBias(v, w.bv, kvDim, f));
        // Gemma 4: V's norm (without a weight) comes first, while k is still its projection.
        if (w.vNorm) g.blockSteps.push(K.rmsnormHeads(v, w.vNorm, dims.nHeadKv, dims.headDim, hp.rmsEps, f));
        if (w.qNorm && (w.kNorm || shared)) {
          const row = hp.qkNorm === 'row';
          g.blockSteps.push(K.rmsnormHeads(q, w.qNorm, row ? 1 : hp.nHead, row ? dims.qDim : dims.headDim, hp.rmsEps, f));
          if (w.kNorm) g.blockSteps.push(K.rmsnormHeads(k, w.kNorm, row ? 1 : dims.nHeadKv, row ? dims.kvDim : dims.headDim, hp.rmsEps, f));
        }
        // The output projection's Q8_0 input: written by a decode step's
        // attention itself (heads of whole blocks), by its own pass for a batch.
        // Gated attention (Qwen 3.5) projects sigmoid(gate) * att, made in `gate`.
        const ao = plan([w.wo], dims.qDim, gate ?? att);
        const attnQ8 = ao.fused && dims.headDim % 32 === 0 && !gate ? ao.fused : undefined;
        if (!rope && w.bqkv) throw new GpuError('gpu/unsupported-type', 'fused Q/K/V biases need a rotated layer', { lost: false });
        // A block reading another's cache rotates its queries only.
        if (shared && rope) g.blockSteps.push(K.rope(q, hp.nHead, dims.headDim, rope, f));
        else if (!shared) g.blockSteps.push(rope ? K.ropeStore(q, k, v, kc, vc, layerShape, rope, f, w.bqkv) : K.kvStore(k, v, kc, vc, dims.kvDim, nCtx, f));
        g.blockSteps.push(K.attention(q, kc, vc, att, layerShape, f, attnScratch, attnQ8, 'tiled', w.window > 0 ? g.rowsSwa : g.rowsFull));
        if (gate) g.blockSteps.push(K.sigmoidMul(gate, att, dims.qDim, f));
        if (attnQ8) g.blockSteps.push(batchOnly(K.quantize(att, attnQ8, f)));
        else if (ao.fused) g.blockSteps.push(K.quantize(gate ?? att, ao.fused, f));
        g.blockSteps.push(...ao.quantize(f), ...project(w.wo, ao.input(w.wo), w.postAttnNorm));
        // A non-causal model's cache is never shifted (every state depends
        // on every token); a shared cache moves with the block that owns it.
        if (hp.causal && !shared) {
          g.eraseSteps.push(K.kvErase(kc, vc, g.scratch, { kvDim: dims.kvDim, nCtx, nHeadKv: dims.nHeadKv, headDim: dims.headDim, rope }));
        }
      }
      // Feed-forward: norm, gated activation (SwiGLU or GeGLU), project
      // back onto the residual.
      const nFf = dimsOf(w).nFf;
      const fn = normed(w.ffnNorm, w.gateUp, f, false, true);
      g.blockSteps.push(...fn.steps, ...projectEach(w.gateUp, fn.input, [hb, hb2], fn.norm));
      const act = hp.ffnAct === 'gelu' ? K.geluMul.bind(K) : K.siluMul.bind(K);
      const dn = plan([w.down], nFf, hb);
      if (dn.fused) g.blockSteps.push(act(hb, hb2, nFf, f, { q8: dn.fused }));
      else g.blockSteps.push(act(hb, hb2, nFf, f), ...dn.quantize(f));
      // The block's output scale (Gemma 4) goes with its last add onto the residual.
      g.blockSteps.push(...project(w.down, dn.input(w.down), w.postFfnNorm, w.perLayer ? 1 : w.outScale));
      if (w.perLayer) {
        // Gemma 4's per-layer input: x += post_norm(proj(gelu(gate(x)) * input)).
        const pl = w.perLayer;
        const input = g.perLayer[model.blocks.slice(0, i).filter((b) => b.perLayer).length];
        const pin = normed(undefined, [pl.gate], f);
        g.blockSteps.push(...pin.steps, K.matmul(pl.gate, pin.input(pl.gate), plh!, f));
        const pp = plan([pl.proj], P, plh!);
        if (pp.fused) g.blockSteps.push(K.geluMul(plh!, input, P, f, { q8: pp.fused }));
        else g.blockSteps.push(K.geluMul(plh!, input, P, f), ...pp.quantize(f));
        g.blockSteps.push(...project(pl.proj, pp.input(pl.proj), pl.postNorm, w.outScale));
      }
    });
    if (model.headOnDevice) {
      // Head: only the last token's logits are needed. The norm picks row
      // T - 1 into row 0; what follows runs on that one row.
      const output = model.output!;
      const hn = normed(model.outputNorm!, [output], f, true);
      g.headSteps.push(...hn.steps, K.matmul(output, hn.input(output), g.out, g.headFrame));
    }
  } catch (e) {
    void device.popErrorScope();
    void device.popErrorScope();
    for (const b of g.buffers) b.destroy();
    throw e;
  }
  const validation = device.popErrorScope();
  const oom = device.popErrorScope();
  const mib = (g.buffers.reduce((n, b) => n + b.size, 0) / 2 ** 20).toFixed(0);
  g.allocated = Promise.all([validation, oom]).then(([v, o]) => {
    if (o) throw new GpuError('gpu/out-of-memory', `the GPU cannot hold this session's caches and activations (${mib} MiB): ${o.message}`, { lost: false });
    if (v) throw new GpuError('gpu/validation', `allocating the session's GPU buffers failed: ${v.message}`, { lost: false });
  });
  g.allocated.catch(() => {}); // observed by forward(); not an unhandled rejection meanwhile
  return g;
}
