// The GPU side of one session, running what forward-graph.ts recorded: the
// forward pass over the offloaded blocks' KV cache and activations
// (allocated once, for the whole context and the largest batch) and the
// context shift over them. A forward is one command buffer; the only
// readback is the logits of the last token (or its hidden state when the
// head runs on the CPU), or only its best few logits when the sampler allows
// (src/gpu/pick.ts). Neither a forward nor a shift creates a buffer.
import type { BatchRows } from '../core/batch-rows.js';
import type { KvLayer } from '../core/kv-state.js';
import type { Candidates, DeviceDraw, ForwardOutput, OffloadRunner } from '../core/offload.js';
import { GpuError, HobError } from '../shared/errors.js';
import { deviceLostError } from './device.js';
import { DECODE_AHEAD_MAX, GpuDecodeAhead, decodeAheadUnsupported } from './decode-ahead.js';
import { recordForward, type ForwardGraph } from './forward-graph.js';
import type { GpuModelWeights } from './model-weights.js';
import { checkKvRows, readKvThroughStaging, writeKvRows } from './kv-transfer.js';
import { GPU_PICK_MAX, pickReadbackBytes } from './pick.js';

/** Tokens per forward pass: bounds the activation buffers. */
export const GPU_MAX_BATCH = 256;

export class GpuRunner implements OffloadRunner {
  /** GPU_MAX_BATCH, or the whole context for a non-causal model (whose
   * sequences must pass each block together). */
  readonly maxBatch: number;
  readonly nCtx: number;
  /** The caches, activations and recorded steps (every buffer this runner
   * allocated: nothing is added after construction). */
  readonly graph: ForwardGraph;
  /** What forwards read back from the GPU, for tests and benchmarks. */
  readonly stats = { readbacks: 0, readbackBytes: 0, picks: 0, aheadSteps: 0 };

  /** Host time decodeAhead spent recording and submitting its steps, in all (ms). */
  get aheadHostMs(): number {
    return this.ahead?.hostMs ?? 0;
  }

  /** Every buffer this runner allocated, in creation order: the caches are
   * the first 2 * nBlocks. Nothing is added after construction. */
  get buffers(): readonly GPUBuffer[] {
    return this.graph.buffers;
  }
  private lost: GpuError | null = null;
  private destroyed = false;
  /** Where the model can decode ahead (its buffers are a few KiB). */
  private readonly ahead: GpuDecodeAhead | null = null;

  constructor(
    private readonly model: GpuModelWeights,
    nCtx: number,
    checkpoints: number,
    private readonly onDestroy: () => void,
  ) {
    this.nCtx = nCtx;
    this.maxBatch = model.spec.hparams.causal ? GPU_MAX_BATCH : nCtx;
    this.graph = recordForward(model, nCtx, this.maxBatch, checkpoints);
    if (!decodeAheadUnsupported(model)) {
      this.ahead = new GpuDecodeAhead(model, this.graph);
      this.graph.buffers.push(...this.ahead.buffers);
    }
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

  /** Gemma 2 caps, and Granite scales, the logits read back after the pick
   * ranked them (distinct logits may round to ties). */
  get candidatesCapped(): boolean {
    const hp = this.model.spec.hparams;
    return hp.finalSoftcap > 0 || hp.logitScale !== 1;
  }

  /** Bytes of GPU memory this session's caches and activations take. */
  get sizeBytes(): number {
    return this.graph.buffers.reduce((n, b) => n + b.size, 0);
  }

  /** Compute dispatches one decode step over a short context records (see
   * dispatches). */
  get dispatchesPerToken(): number {
    return this.dispatches(1);
  }

  /** Compute dispatches a forward of nTokens tokens that leaves nKv cells
   * visible records, by encoding its steps into a pass that only counts:
   * decode attention over more than 128 cells takes more. */
  dispatches(nTokens: number, nKv = nTokens): number {
    let n = 0;
    const counter = {
      setPipeline() {},
      setBindGroup() {},
      dispatchWorkgroups() {
        n++;
      },
    } as unknown as GPUComputePassEncoder;
    for (const s of this.graph.blockSteps) s.encode(counter, nTokens, nKv);
    this.graph.headSteps.forEach((s, i) => s.encode(counter, i === 0 ? nTokens : 1));
    return n;
  }

  /** The cache buffers, for tests that check they survive every shift. */
  get cacheBuffers(): readonly GPUBuffer[] {
    return [...this.graph.kCache, ...this.graph.vCache];
  }

  private check(): void {
    if (this.lost) throw this.lost;
    if (this.destroyed) throw new HobError('argument/invalid', 'this session has been freed');
  }

  /** Runs the offloaded blocks over T hidden states (T x n_embd floats, the
   * CPU blocks' output) for cells [cell0, cell0 + T), reading back what
   * `output` asks (see ForwardOutput); 'none' resolves without waiting for
   * the GPU. */
  async forward(hidden: Float32Array, T: number, cell0: number, output: 'none', perLayer?: Float32Array, rows?: BatchRows): Promise<null>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: 'output', perLayer?: Float32Array, rows?: BatchRows): Promise<Float32Array>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: { candidates: number }, perLayer?: Float32Array, rows?: BatchRows): Promise<Candidates>;
  async forward(hidden: Float32Array, T: number, cell0: number, output: ForwardOutput, perLayer?: Float32Array, rows?: BatchRows): Promise<Float32Array | Candidates | null> {
    this.check();
    const pick = typeof output === 'object' ? output.candidates : 0;
    if (pick && !this.graph.picker) throw new HobError('argument/invalid', 'only a GPU head can pick logits on the GPU');
    await this.graph.allocated;
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
    // Gemma 4: the offloaded blocks' per-layer inputs, block by block.
    const P = this.model.spec.hparams.nEmbdPerLayer;
    const nPl = this.graph.perLayer.length;
    if (nPl > 0 && (!perLayer || perLayer.length < nPl * T * P)) {
      throw new HobError('argument/invalid', `a GPU forward of ${T} tokens needs ${nPl * T * P} per-layer input values, got ${perLayer?.length ?? 0}`, {
        nTokens: T, values: perLayer?.length ?? 0,
      });
    }
    if (rows) this.checkRows(rows, T, cell0);
    const { device } = this.model.ctx;
    device.queue.writeBuffer(this.graph.frame, 0, new Uint32Array([T, cell0, cell0 + T, rows ? 1 : 0]));
    device.queue.writeBuffer(this.graph.x, 0, hidden.buffer, hidden.byteOffset, T * E * 4);
    if (rows) this.writeRows(rows, T, cell0);
    this.graph.perLayer.forEach((b, j) => device.queue.writeBuffer(b, 0, perLayer!.buffer, perLayer!.byteOffset + j * T * P * 4, T * P * 4));
    const enc = device.createCommandEncoder({ label: 'forward' });
    const pass = enc.beginComputePass({ label: 'blocks' });
    for (const s of this.graph.blockSteps) s.encode(pass, T, cell0 + T);
    // The head's norm picks row T - 1; its matmul runs on that one row.
    this.graph.headSteps.forEach((s, i) => s.encode(pass, i === 0 ? T : 1));
    pass.end();
    if (pick) {
      this.graph.picker!.encode(enc, pick);
      device.queue.submit([enc.finish()]);
      return this.readPick(pick);
    }
    if (output === 'output') {
      if (this.headOnDevice) enc.copyBufferToBuffer(this.graph.out, 0, this.graph.readback, 0, this.graph.out.size);
      else enc.copyBufferToBuffer(this.graph.x, (T - 1) * E * 4, this.graph.readback, 0, E * 4);
    }
    device.queue.submit([enc.finish()]);
    if (output !== 'output') return null;
    return this.readOutput(this.headOnDevice ? this.model.spec.info.nVocab : E);
  }

  /** Steps one decodeAhead takes at most; 0 when this model cannot decode
   * ahead (see decodeAheadUnsupported in decode-ahead.ts). */
  get maxAhead(): number {
    return this.ahead ? DECODE_AHEAD_MAX : 0;
  }

  /** Decode steps with the token staying on the GPU: evaluates `token` at
   * cell0, then n - 1 tokens that the steps chose, each the best logit of
   * the step before (or, with pick.draw, a draw from its best pick.k), at
   * the cells after it; returns each step's pick (what forward(...,
   * { candidates: k }) reads back, with the drawn token). The logits of the
   * last step stay readable (readLogits). A pick that is not complete (too
   * many ties to rank) makes the steps after it meaningless: the caller
   * keeps the steps up to it. */
  async decodeAhead(token: number, cell0: number, n: number, pick: { k: number; draw?: DeviceDraw } = { k: 1 }): Promise<Candidates[]> {
    this.check();
    await this.graph.allocated;
    if (!this.ahead) {
      throw new HobError('argument/invalid', `this model cannot decode ahead on the GPU: ${decodeAheadUnsupported(this.model)}`);
    }
    if (!Number.isInteger(cell0) || cell0 < 0 || !Number.isInteger(n) || n < 1 || cell0 + n > this.nCtx) {
      throw new HobError('range/out-of-bounds', `cells [${cell0}, ${cell0 + n}) lie outside the GPU cache of ${this.nCtx}`, { cell0, nTokens: n, nCtx: this.nCtx });
    }
    if (!Number.isInteger(token) || token < 0 || token >= this.model.spec.info.nVocab) {
      throw new HobError('range/out-of-bounds', `token id ${token} out of range [0, ${this.model.spec.info.nVocab})`, { token });
    }
    const m = pick.draw ? pick.k : 1;
    const picks = await this.mapped(() => this.ahead!.run(token, cell0, n, m, pick.draw));
    this.stats.readbacks++;
    this.stats.picks += n;
    this.stats.aheadSteps += n;
    this.stats.readbackBytes += n * GpuDecodeAhead.recordBytes(m, !!pick.draw);
    for (const p of picks) this.cap(p.logits);
    return picks;
  }

  /** Embeddings: the blocks over T rows of packed sequences at cells
   * [cell0, cell0 + T), row t seeing the cells rows gives cell0 + t, and
   * every row's hidden state read back (T x n_embd). No head runs. */
  async forwardRows(hidden: Float32Array, T: number, cell0: number, rows: BatchRows): Promise<Float32Array> {
    this.check();
    await this.graph.allocated;
    const E = this.model.spec.info.nEmbd;
    if (!Number.isInteger(T) || T < 1 || T > this.maxBatch || hidden.length < T * E) {
      throw new HobError('argument/invalid', `a GPU forward takes 1 to ${this.maxBatch} tokens with their hidden states, got ${T}`, {
        nTokens: T, maxBatch: this.maxBatch,
      });
    }
    this.checkRows(rows, T, cell0);
    const { device } = this.model.ctx;
    device.queue.writeBuffer(this.graph.frame, 0, new Uint32Array([T, cell0, cell0 + T, 1]));
    device.queue.writeBuffer(this.graph.x, 0, hidden.buffer, hidden.byteOffset, T * E * 4);
    this.writeRows(rows, T, cell0);
    const enc = device.createCommandEncoder({ label: 'forward rows' });
    const pass = enc.beginComputePass({ label: 'blocks' });
    for (const s of this.graph.blockSteps) s.encode(pass, T, cell0 + T);
    pass.end();
    enc.copyBufferToBuffer(this.graph.x, 0, this.graph.readback, 0, T * E * 4);
    device.queue.submit([enc.finish()]);
    await this.mapped(() => this.graph.readback.mapAsync(GPUMapMode.READ, 0, T * E * 4));
    const result = new Float32Array(this.graph.readback.getMappedRange(0, T * E * 4).slice(0));
    this.graph.readback.unmap();
    this.stats.readbacks++;
    this.stats.readbackBytes += T * E * 4;
    return result;
  }

  /** Throws unless rows gives every row of cells [cell0, cell0 + T) a
   * nonempty range within the cells this forward can see: the kernels
   * clamp to them, but a range past them is a caller's bug. */
  private checkRows(rows: BatchRows, T: number, cell0: number): void {
    if (!Number.isInteger(cell0) || cell0 < 0 || cell0 + T > this.nCtx || rows.full.length < 2 * (cell0 + T) || rows.swa.length < 2 * (cell0 + T)) {
      throw new HobError('range/out-of-bounds', `cells [${cell0}, ${cell0 + T}) lie outside the GPU cache of ${this.nCtx} or the batch's rows`, {
        cell0, nTokens: T, nCtx: this.nCtx,
      });
    }
    for (const r of [rows.full, rows.swa]) {
      for (let t = cell0; t < cell0 + T; t++) {
        if (r[2 * t] >= r[2 * t + 1] || r[2 * t + 1] > cell0 + T) {
          throw new HobError('range/out-of-bounds', `row ${t} sees cells [${r[2 * t]}, ${r[2 * t + 1]}), outside [0, ${cell0 + T})`, {
            row: t, cell0, nTokens: T,
          });
        }
      }
    }
  }

  /** The ranges of rows [cell0, cell0 + T), read by a forward whose frame says ranged. */
  private writeRows(rows: BatchRows, T: number, cell0: number): void {
    const { device } = this.model.ctx;
    device.queue.writeBuffer(this.graph.rowsFull, 0, rows.full.slice(2 * cell0, 2 * (cell0 + T)));
    device.queue.writeBuffer(this.graph.rowsSwa, 0, rows.swa.slice(2 * cell0, 2 * (cell0 + T)));
  }

  /** Every logit of the last forward (head on the GPU): after a pick whose
   * candidates the sampler cannot use. */
  async readLogits(): Promise<Float32Array> {
    this.check();
    if (!this.headOnDevice) throw new HobError('argument/invalid', 'the head runs on the CPU: there are no GPU logits');
    const { device } = this.model.ctx;
    const enc = device.createCommandEncoder({ label: 'logits' });
    enc.copyBufferToBuffer(this.graph.out, 0, this.graph.readback, 0, this.graph.out.size);
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
    // The readback also holds every row's state for embeddings: map what this read needs.
    await this.mapped(() => this.graph.readback.mapAsync(GPUMapMode.READ, 0, n * 4));
    const result = new Float32Array(this.graph.readback.getMappedRange(0, n * 4).slice(0));
    this.graph.readback.unmap();
    this.stats.readbacks++;
    this.stats.readbackBytes += n * 4;
    // Granite scales and Gemma 2 caps its logits (on the 1 row read back,
    // as the CPU head does).
    if (this.headOnDevice) this.cap(result);
    return result;
  }

  private async readPick(m: number): Promise<Candidates> {
    const c = await this.mapped(() => this.graph.picker!.read(m));
    this.stats.readbacks++;
    this.stats.picks++;
    this.stats.readbackBytes += pickReadbackBytes(m);
    this.cap(c.logits);
    return c;
  }

  /** What the head does after its matmul, in f32 as the CPU's head: the
   * logit multiplier (Granite; 1 elsewhere), then the final soft-cap (Gemma 2). */
  private cap(logits: Float32Array): void {
    const { finalSoftcap: cap, logitScale } = this.model.spec.hparams;
    if (logitScale !== 1) {
      const m = Math.fround(logitScale);
      for (let i = 0; i < logits.length; i++) logits[i] = Math.fround(logits[i] * m);
    }
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
    if (start === end || this.graph.kCache.length === 0) return;
    const { device } = this.model.ctx;
    const enc = device.createCommandEncoder({ label: 'kv erase' });
    for (const step of this.graph.eraseSteps) step.encode(enc, start, end, nMoved);
    device.queue.submit([enc.finish()]);
  }

  /** Copies the recurrent blocks' state into checkpoint slot `slot`. */
  saveState(slot: number): void {
    this.copyState(slot, 'save');
  }

  /** Puts checkpoint slot `slot` back into the recurrent blocks' state. */
  restoreState(slot: number): void {
    this.copyState(slot, 'restore');
  }

  /** The recurrent blocks' state before any token: zeros. */
  clearState(): void {
    this.check();
    const st = this.graph.state;
    if (!st) return;
    const enc = this.model.ctx.device.createCommandEncoder({ label: 'clear state' });
    for (const b of st.live) enc.clearBuffer(b);
    this.model.ctx.device.queue.submit([enc.finish()]);
  }

  private copyState(slot: number, way: 'save' | 'restore'): void {
    this.check();
    const st = this.graph.state;
    if (!st) return;
    if (!Number.isInteger(slot) || slot < 0 || slot >= st.slots.length) {
      throw new HobError('range/out-of-bounds', `checkpoint slot ${slot} out of range [0, ${st.slots.length})`, { slot, slots: st.slots.length });
    }
    const enc = this.model.ctx.device.createCommandEncoder({ label: `${way} state ${slot}` });
    st.live.forEach((b, i) => {
      if (way === 'save') enc.copyBufferToBuffer(b, 0, st.slots[slot], st.offsets[i], b.size);
      else enc.copyBufferToBuffer(st.slots[slot], st.offsets[i], b, 0, b.size);
    });
    this.model.ctx.device.queue.submit([enc.finish()]);
  }

  /** The K and V rows of cells [0, nCells) of every offloaded block, in
   * block order, read back through a staging buffer made for the copy. */
  async readKv(nCells: number): Promise<KvLayer[]> {
    this.check();
    await this.graph.allocated;
    this.checkCells(nCells);
    const { kCache, vCache, kvDims } = this.graph;
    const row = this.savedRow;
    if (kvDims.every((d) => d === row)) return this.mapped(() => readKvThroughStaging(this.model.ctx.device, kCache, vCache, nCells * row));
    // Gemma 4: each cache at its own width, saved at the widest (zeros after).
    const out: KvLayer[] = [];
    for (let i = 0; i < kCache.length; i++) {
      const [l] = await this.mapped(() => readKvThroughStaging(this.model.ctx.device, [kCache[i]], [vCache[i]], nCells * kvDims[i]));
      out.push({ k: widenRows(l.k, nCells, kvDims[i], row), v: widenRows(l.v, nCells, kvDims[i], row) });
    }
    return out;
  }

  /** The row width of a saved session (the wasm cache's): the widest
   * block's, where blocks differ (Gemma 4). */
  private get savedRow(): number {
    const hp = this.model.spec.hparams;
    if (hp.headDimSwa === 0 || hp.headKvLayers.length === 0) return hp.nHeadKv * hp.headDim;
    return Math.max(...hp.headKvLayers.map((h, l) => h * (hp.nSwa > 0 && hp.swaLayers[l] ? hp.headDimSwa : hp.headDim)));
  }

  /** Writes the rows of cells [0, nCells) of every offloaded block (all
   * lengths checked before the first write). */
  writeKv(layers: readonly KvLayer[], nCells: number): void {
    this.check();
    this.checkCells(nCells);
    const { kCache, vCache, kvDims } = this.graph;
    const row = this.savedRow;
    if (kvDims.every((d) => d === row)) {
      writeKvRows(this.model.ctx.device, kCache, vCache, layers, nCells * row);
      return;
    }
    // Gemma 4: saved rows are the widest; each cache keeps its own width.
    // Every length is checked before the first write.
    checkKvRows(kCache.length, layers, nCells * row);
    const narrowed = layers.map((l, i) => ({ k: narrowRows(l.k, nCells, row, kvDims[i]), v: narrowRows(l.v, nCells, row, kvDims[i]) }));
    kCache.forEach((_, i) => writeKvRows(this.model.ctx.device, [kCache[i]], [vCache[i]], [narrowed[i]], nCells * kvDims[i]));
  }

  private checkCells(nCells: number): void {
    if (!Number.isInteger(nCells) || nCells < 0 || nCells > this.nCtx) {
      throw new HobError('range/out-of-bounds', `cannot copy ${nCells} cells of a GPU cache of ${this.nCtx}`, { nCells, nCtx: this.nCtx });
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.graph.buffers) b.destroy();
    this.onDestroy();
  }
}

/** Rows of `from` values widened to `to` (zeros after, as the wasm cache
 * holds a narrower block's rows). */
function widenRows(rows: Uint16Array, n: number, from: number, to: number): Uint16Array {
  const out = new Uint16Array(n * to);
  for (let c = 0; c < n; c++) out.set(rows.subarray(c * from, (c + 1) * from), c * to);
  return out;
}

/** The first `to` values of each row of `from`. */
function narrowRows(rows: Uint16Array, n: number, from: number, to: number): Uint16Array {
  const out = new Uint16Array(n * to);
  for (let c = 0; c < n; c++) out.set(rows.subarray(c * from, c * from + to), c * to);
  return out;
}
