// The GPU side of one session: the offloaded blocks' KV cache and
// activations (allocated once, here, for the whole context and the largest
// batch), the kernels bound to them (recorded once), and the forward pass
// and context shift over them. A forward is one command buffer; the only
// readback is the logits of the last token (or its hidden state when the
// head runs on the CPU), or only its best few logits when the sampler allows
// (src/gpu/pick.ts). Neither a forward nor a shift creates a buffer.
import type { Candidates, ForwardOutput, OffloadRunner } from '../core/offload.js';
import { GpuError, HobError } from '../shared/errors.js';
import { deviceLostError } from './device.js';
import type { GpuModel } from './gpu-model.js';
import { GPU_PICK_MAX, GpuPicker, pickReadbackBytes } from './pick.js';
import { FRAME_BYTES, actType, attentionScratchBytes, createQ8Acts, type KvEraseStep, type Q8Acts, type Step } from './kernels.js';
import type { GpuWeight } from './weights.js';

/** Tokens per forward pass: bounds the activation buffers. */
export const GPU_MAX_BATCH = 256;

/** A step that runs for batches of more than one token only. */
function batchOnly(step: Step): Step {
  return {
    label: step.label,
    encode: (pass, nTokens, nKv) => {
      if (nTokens > 1) step.encode(pass, nTokens, nKv);
    },
  };
}

export class GpuRunner implements OffloadRunner {
  readonly maxBatch = GPU_MAX_BATCH;
  readonly nCtx: number;
  /** Every buffer this runner allocated, in creation order: the caches are
   * the first 2 * nBlocks. Nothing is added after construction. */
  readonly buffers: GPUBuffer[] = [];
  private readonly kCache: GPUBuffer[] = []; // per block: (nCtx, kvDim) f16
  private readonly vCache: GPUBuffer[] = []; // per block: (nCtx, kvDim) f16
  private readonly scratch: GPUBuffer; // (nCtx, kvDim) f16: cells in transit during a shift
  private readonly frame: GPUBuffer; // Frame uniform of this forward
  private readonly headFrame: GPUBuffer; // Frame with one token: the head's matmul
  private readonly x: GPUBuffer; // (T, n_embd) residual stream
  private readonly out: GPUBuffer; // (n_vocab) logits, or (n_embd) last hidden state
  private readonly readback: GPUBuffer; // mappable copy of `out`
  private readonly picker: GpuPicker | null = null; // the best logits of `out` (head on the GPU)
  /** What forwards read back from the GPU, for tests and benchmarks. */
  readonly stats = { readbacks: 0, readbackBytes: 0, picks: 0 };
  private readonly blockSteps: Step[] = [];
  private readonly eraseSteps: KvEraseStep[] = [];
  private readonly headSteps: Step[] = [];
  private lost: GpuError | null = null;
  private destroyed = false;
  /** Settles once the allocation's error scopes are popped: rejects with a
   * GpuError (out of memory, validation) that the first forward rethrows. */
  private readonly allocated: Promise<void>;

  constructor(
    private readonly model: GpuModel,
    nCtx: number,
    private readonly onDestroy: () => void,
  ) {
    this.nCtx = nCtx;
    const { device } = model.ctx;
    const { info, hparams: hp } = model.spec;
    const T = this.maxBatch;
    const E = info.nEmbd;
    const qDim = hp.nHead * hp.headDim;
    const kvDim = hp.nHeadKv * hp.headDim;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const create = (label: string, size: number, usage = storage): GPUBuffer => {
      const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
      this.buffers.push(b);
      return b;
    };
    // Allocation failures (out of memory above all) arrive asynchronously
    // through these scopes; the first forward waits for their verdict.
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      for (let i = 0; i < model.blocks.length; i++) {
        this.kCache.push(create(`k cache ${model.firstLayer + i}`, nCtx * kvDim * 2));
        this.vCache.push(create(`v cache ${model.firstLayer + i}`, nCtx * kvDim * 2));
      }
      this.scratch = create('kv shift scratch', nCtx * kvDim * 2);
      this.frame = create('frame', FRAME_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      this.headFrame = create('head frame', FRAME_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(this.headFrame, 0, new Uint32Array([1, 0, 1, 0]));
      this.x = create('x', T * E * 4);
      const xb = create('xb', T * E * 4); // (T, n_embd) normed input of a sub-block
      const q = create('q', T * qDim * 4); // (T, n_head * head_dim)
      const k = create('k', T * kvDim * 4); // (T, kv_dim)
      const v = create('v', T * kvDim * 4); // (T, kv_dim)
      const att = create('att', T * qDim * 4); // (T, n_head * head_dim)
      const hb = create('hb', T * hp.nFf * 4); // (T, n_ff)
      const hb2 = create('hb2', T * hp.nFf * 4); // (T, n_ff)
      const outSize = (model.headOnDevice ? info.nVocab : E) * 4;
      this.out = create('out', outSize);
      this.readback = create('readback', outSize, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      if (model.headOnDevice) {
        this.picker = new GpuPicker(device, this.out, info.nVocab);
        this.buffers.push(...this.picker.buffers);
      }
      // Gemma scales q itself (before its f16 rounding); the others the scores.
      const shape = {
        nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, nCtx,
        scale: hp.attnScaleOnQ ? 1 : hp.attnScale,
        qScale: hp.attnScaleOnQ ? hp.attnScale : 1,
        softcap: hp.attnSoftcap,
      };
      const scratchBytes = attentionScratchBytes(shape);
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
          this.buffers.push(a.quants, a.scales);
          if (a.sums) this.buffers.push(a.sums);
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
      const f = this.frame;
      // Norm into whichever forms the matmuls after it read, then project.
      const normed = (weight: GPUBuffer, readers: GpuWeight[], frame: GPUBuffer, lastRowOnly = false) => {
        const p = plan(readers, E, xb);
        const steps = [
          K.rmsnorm(this.x, weight, p.needsRows ? xb : null, E, hp.rmsEps, frame, { q8: p.fused, lastRowOnly }),
          ...p.quantize(lastRowOnly ? this.headFrame : frame),
        ];
        return { steps, input: p.input };
      };
      // A sub-block's output goes onto the residual: folded into its last
      // projection, or (Gemma) through a post-norm that adds as it writes.
      const postOut = model.blocks.some((w) => w.postAttnNorm || w.postFfnNorm) ? create('xb2', T * E * 4) : null;
      const project = (w: GpuWeight, x: GPUBuffer | Q8Acts, postNorm: GPUBuffer | undefined): Step[] =>
        postNorm
          ? [K.matmul(w, x, postOut!, f), K.rmsnorm(postOut!, postNorm, this.x, E, hp.rmsEps, f, { accumulate: true })]
          : [K.matmul(w, x, this.x, f, { accumulate: true })];
      // Projections of one input into `outs`, in order: a stacked weight
      // (GpuWeight.stack) writes several of them in one dispatch.
      const projectEach = (ws: GpuWeight[], input: (w: GpuWeight) => GPUBuffer | Q8Acts, outs: GPUBuffer[]): Step[] => {
        let o = 0;
        return ws.map((w) => {
          const n = w.stack?.length ?? 1;
          o += n;
          return K.matmul(w, input(w), n > 1 ? outs.slice(o - n, o) : outs[o - 1], f);
        });
      };
      model.blocks.forEach((w, i) => {
        const kc = this.kCache[i];
        const vc = this.vCache[i];
        const layerShape = { ...shape, window: w.window };
        // Attention: norm, project (+ bias: own passes, or fused into the
        // rotation), norm heads, rotate and cache, attend, project back onto
        // the residual.
        const an = normed(w.attnNorm, w.qkv, f);
        this.blockSteps.push(...an.steps, ...projectEach(w.qkv, an.input, [q, k, v]));
        if (w.bq && w.bk && w.bv) this.blockSteps.push(K.addBias(q, w.bq, qDim, f), K.addBias(k, w.bk, kvDim, f), K.addBias(v, w.bv, kvDim, f));
        if (w.qNorm && w.kNorm) {
          this.blockSteps.push(K.rmsnormHeads(q, w.qNorm, hp.nHead, hp.headDim, hp.rmsEps, f), K.rmsnormHeads(k, w.kNorm, hp.nHeadKv, hp.headDim, hp.rmsEps, f));
        }
        // The output projection's Q8_0 input: written by a decode step's
        // attention itself (heads of whole blocks), by its own pass for a batch.
        const ao = plan([w.wo], qDim, att);
        const attnQ8 = ao.fused && hp.headDim % 32 === 0 ? ao.fused : undefined;
        this.blockSteps.push(
          K.ropeStore(q, k, v, kc, vc, layerShape, w.rope, f, w.bqkv),
          K.attention(q, kc, vc, att, layerShape, f, attnScratch, attnQ8),
        );
        if (attnQ8) this.blockSteps.push(batchOnly(K.quantize(att, attnQ8, f)));
        else if (ao.fused) this.blockSteps.push(K.quantize(att, ao.fused, f));
        this.blockSteps.push(...ao.quantize(f), ...project(w.wo, ao.input(w.wo), w.postAttnNorm));
        // Feed-forward: norm, gated activation (SwiGLU or GeGLU), project
        // back onto the residual.
        const fn = normed(w.ffnNorm, w.gateUp, f);
        this.blockSteps.push(...fn.steps, ...projectEach(w.gateUp, fn.input, [hb, hb2]));
        const act = hp.ffnAct === 'gelu' ? K.geluMul.bind(K) : K.siluMul.bind(K);
        const dn = plan([w.down], hp.nFf, hb);
        if (dn.fused) this.blockSteps.push(act(hb, hb2, hp.nFf, f, { q8: dn.fused }));
        else this.blockSteps.push(act(hb, hb2, hp.nFf, f), ...dn.quantize(f));
        this.blockSteps.push(...project(w.down, dn.input(w.down), w.postFfnNorm));
        this.eraseSteps.push(K.kvErase(kc, vc, this.scratch, { kvDim, nCtx, nHeadKv: hp.nHeadKv, headDim: hp.headDim, rope: w.rope }));
      });
      if (model.headOnDevice) {
        // Head: only the last token's logits are needed. The norm picks row
        // T - 1 into row 0; what follows runs on that one row.
        const output = model.output!;
        const hn = normed(model.outputNorm!, [output], f, true);
        this.headSteps.push(...hn.steps, K.matmul(output, hn.input(output), this.out, this.headFrame));
      }
    } catch (e) {
      void device.popErrorScope();
      void device.popErrorScope();
      for (const b of this.buffers) b.destroy();
      throw e;
    }
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    const mib = (this.buffers.reduce((n, b) => n + b.size, 0) / 2 ** 20).toFixed(0);
    this.allocated = Promise.all([validation, oom]).then(([v, o]) => {
      if (o) throw new GpuError('gpu/out-of-memory', `the GPU cannot hold this session's caches and activations (${mib} MiB): ${o.message}`, { lost: false });
      if (v) throw new GpuError('gpu/validation', `allocating the session's GPU buffers failed: ${v.message}`, { lost: false });
    });
    this.allocated.catch(() => {}); // observed by forward(); not an unhandled rejection meanwhile
    model.ctx.lost.then((info) => {
      this.lost = deviceLostError(info);
    });
  }

  get headOnDevice(): boolean {
    return this.model.headOnDevice;
  }

  /** Candidates a forward may read back at most. */
  get maxCandidates(): number {
    return GPU_PICK_MAX;
  }

  /** Gemma 2 caps the logits read back after the pick ranked them. */
  get candidatesCapped(): boolean {
    return this.model.spec.hparams.finalSoftcap > 0;
  }

  /** Bytes of GPU memory this session's caches and activations take. */
  get sizeBytes(): number {
    return this.buffers.reduce((n, b) => n + b.size, 0);
  }

  /** Compute dispatches one decode step over a short context records (see
   * dispatches). */
  get dispatchesPerToken(): number {
    return this.dispatches(1);
  }

  /** Compute dispatches a forward of nTokens tokens that leaves nKv cells
   * visible records, by encoding its steps into a pass that only counts:
   * decode attention over more than 256 cells takes more. */
  dispatches(nTokens: number, nKv = nTokens): number {
    let n = 0;
    const counter = {
      setPipeline() {},
      setBindGroup() {},
      dispatchWorkgroups() {
        n++;
      },
    } as unknown as GPUComputePassEncoder;
    for (const s of this.blockSteps) s.encode(counter, nTokens, nKv);
    this.headSteps.forEach((s, i) => s.encode(counter, i === 0 ? nTokens : 1));
    return n;
  }

  /** The cache buffers, for tests that check they survive every shift. */
  get cacheBuffers(): readonly GPUBuffer[] {
    return [...this.kCache, ...this.vCache];
  }

  private check(): void {
    if (this.lost) throw this.lost;
    if (this.destroyed) throw new HobError('argument/invalid', 'this session has been freed');
  }

  /** Runs the offloaded blocks over T hidden states (T x n_embd floats, the
   * CPU blocks' output) for cells [cell0, cell0 + T), reading back what
   * `output` asks (see ForwardOutput); 'none' resolves without waiting for
   * the GPU. */
  async forward(hidden: Float32Array, T: number, cell0: number, output: 'none'): Promise<null>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: 'output'): Promise<Float32Array>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: { candidates: number }): Promise<Candidates>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: ForwardOutput): Promise<Float32Array | Candidates | null> {
    this.check();
    const pick = typeof output === 'object' ? output.candidates : 0;
    if (pick && !this.picker) throw new HobError('argument/invalid', 'only a GPU head can pick logits on the GPU');
    await this.allocated;
    const E = this.model.spec.info.nEmbd;
    if (!Number.isInteger(T) || T < 1 || T > this.maxBatch || hidden.length < T * E) {
      throw new HobError('argument/invalid', `a GPU forward takes 1 to ${this.maxBatch} tokens with their hidden states, got ${T}`, {
        nTokens: T, maxBatch: this.maxBatch,
      });
    }
    if (!Number.isInteger(cell0) || cell0 < 0 || cell0 + T > this.nCtx) {
      throw new HobError('range/out-of-bounds', `cells [${cell0}, ${cell0 + T}) lie outside the GPU cache of ${this.nCtx}`, {
        cell0, nTokens: T, nCtx: this.nCtx,
      });
    }
    const { device } = this.model.ctx;
    device.queue.writeBuffer(this.frame, 0, new Uint32Array([T, cell0, cell0 + T, 0]));
    device.queue.writeBuffer(this.x, 0, hidden.buffer, hidden.byteOffset, T * E * 4);
    const enc = device.createCommandEncoder({ label: 'forward' });
    const pass = enc.beginComputePass({ label: 'blocks' });
    for (const s of this.blockSteps) s.encode(pass, T, cell0 + T);
    // The head's norm picks row T - 1; its matmul runs on that one row.
    this.headSteps.forEach((s, i) => s.encode(pass, i === 0 ? T : 1));
    pass.end();
    if (pick) {
      this.picker!.encode(enc, pick);
      device.queue.submit([enc.finish()]);
      return this.readPick(pick);
    }
    if (output === 'output') {
      if (this.headOnDevice) enc.copyBufferToBuffer(this.out, 0, this.readback, 0, this.readback.size);
      else enc.copyBufferToBuffer(this.x, (T - 1) * E * 4, this.readback, 0, E * 4);
    }
    device.queue.submit([enc.finish()]);
    if (output !== 'output') return null;
    return this.readOutput(this.headOnDevice ? this.model.spec.info.nVocab : E);
  }

  /** Every logit of the last forward (head on the GPU): after a pick whose
   * candidates the sampler cannot use. */
  async readLogits(): Promise<Float32Array> {
    this.check();
    if (!this.headOnDevice) throw new HobError('argument/invalid', 'the head runs on the CPU: there are no GPU logits');
    const { device } = this.model.ctx;
    const enc = device.createCommandEncoder({ label: 'logits' });
    enc.copyBufferToBuffer(this.out, 0, this.readback, 0, this.readback.size);
    device.queue.submit([enc.finish()]);
    return this.readOutput(this.model.spec.info.nVocab);
  }

  private async mapped<T>(map: () => Promise<T>): Promise<T> {
    try {
      return await map();
    } catch (e) {
      this.check();
      throw new GpuError('gpu/validation', `reading the GPU result failed: ${(e as Error).message}`, { lost: false });
    }
  }

  private async readOutput(n: number): Promise<Float32Array> {
    await this.mapped(() => this.readback.mapAsync(GPUMapMode.READ));
    const result = new Float32Array(this.readback.getMappedRange(0, n * 4).slice(0));
    this.readback.unmap();
    this.stats.readbacks++;
    this.stats.readbackBytes += n * 4;
    // Gemma 2 caps its logits (on the 1 row read back, as the CPU head does).
    if (this.headOnDevice) this.cap(result);
    return result;
  }

  private async readPick(m: number): Promise<Candidates> {
    const c = await this.mapped(() => this.picker!.read(m));
    this.stats.readbacks++;
    this.stats.picks++;
    this.stats.readbackBytes += pickReadbackBytes(m);
    this.cap(c.logits);
    return c;
  }

  private cap(logits: Float32Array): void {
    const cap = this.model.spec.hparams.finalSoftcap;
    if (cap <= 0) return;
    const inv = Math.fround(1 / cap);
    for (let i = 0; i < logits.length; i++) logits[i] = Math.fround(Math.tanh(Math.fround(logits[i] * inv)) * cap);
  }

  /** Throws what erase(start, end, nMoved) would, without touching the
   * GPU: the session calls it before changing the wasm side, so that both
   * sides change or neither does. */
  checkErase(start: number, end: number, nMoved: number): void {
    this.check();
    if (![start, end, nMoved].every(Number.isInteger) || start < 0 || end < start || nMoved < 0 || end + nMoved > this.nCtx) {
      throw new HobError('range/out-of-bounds', `cannot move GPU cache cells [${end}, ${end + nMoved}) to ${start} in a cache of ${this.nCtx} cells`, {
        start, end, nMoved, nCtx: this.nCtx,
      });
    }
  }

  /** The GPU half of evicting cells [start, end) with nMoved cells after
   * them: the same move and K re-rotation the CPU cache does, in the same
   * buffers, for every offloaded block. */
  erase(start: number, end: number, nMoved: number): void {
    this.checkErase(start, end, nMoved);
    if (start === end || this.kCache.length === 0) return;
    const { device } = this.model.ctx;
    const enc = device.createCommandEncoder({ label: 'kv erase' });
    for (const step of this.eraseSteps) step.encode(enc, start, end, nMoved);
    device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.buffers) b.destroy();
    this.onDestroy();
  }
}
