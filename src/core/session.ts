// One sequence and its KV cache, allocated once, at creation: in wasm for
// the CPU blocks and, when blocks are offloaded, on the device for those
// (src/core/offload.ts). Each evaluation runs the CPU blocks in wasm, hands
// their hidden states to the offloaded runner for the rest and returns the
// next token's logits (StepLogits: all of them, or only the best few where
// the sampler allows). Both halves of the cache move together in every
// erase and shift, or neither does. A hybrid model's recurrent blocks keep
// a state instead of cache entries (on either side): it moves forward only,
// and goes back through checkpoint slots that both sides keep in step.
import { ContextFullError, HobError } from '../shared/errors.js';
import { imageRows, type BatchRows } from './batch-rows.js';
import type { PoolingType } from './c-api.js';
import { appendEngineCells, checkKvState, readEngineLayers, staleSave, writeEngineLayers, type KvShape, type KvState } from './kv-state.js';
import { checkPick, pickSize, spreadPick, type PickedLogits, type SamplePick, type StepLogits } from './logits.js';
import type { Model } from './model.js';
import type { OffloadRunner } from './offload.js';
import { embedPacked } from './session-embed.js';

export interface SessionOptions {
  /** Context window in tokens; 0 or absent takes the model's training context. */
  nCtx?: number;
  /** Threads for this session's compute, the calling one included. */
  nThreads?: number;
  /** Hybrid models: slots for copies of the recurrent state (each one the
   *  size of the state; default DEFAULT_CHECKPOINTS). Ignored otherwise. */
  checkpoints?: number;
}

/** Checkpoint slots a hybrid model's session gets by default (as many as
 *  llama.cpp's server keeps per slot). */
export const DEFAULT_CHECKPOINTS = 8;

export interface EvalOptions {
  /** What the sampler of the next token can use instead of every logit
   * (src/sampling/pick.ts decides); null or absent: every logit. Only an
   * offloaded head reads less back: the engine's own logits are all there. */
  pick?: SamplePick | null;
}

/** The logits of the last evaluation, where they are. */
type Last =
  | { kind: 'none' }
  | { kind: 'engine' }
  | { kind: 'array'; logits: Float32Array }
  | { kind: 'picked'; picked: PickedLogits };

export class Session {
  private logitsPtr = 0;
  private handleValue: number;
  private last: Last = { kind: 'none' };
  /** Bumped by every change of the cache, so stale StepLogits refuse to read. */
  private version = 0;

  private constructor(
    readonly model: Model,
    handle: number,
    /** The offloaded blocks' half of the cache and their forward pass. */
    readonly offload?: OffloadRunner,
  ) {
    this.handleValue = handle;
  }

  /** A session of `model`, with every cache buffer allocated now. */
  static create(model: Model, opts: SessionOptions = {}): Session {
    const engine = model.engine;
    const m = engine.module;
    const threads = Math.min(opts.nThreads ?? engine.threads, engine.threads);
    engine.check(m._hob_session_create(model.handle, opts.nCtx ?? 0, threads, engine.out(0)));
    const handle = engine.u32(engine.out(0));
    let runner: OffloadRunner | undefined;
    try {
      const checkpoints = model.shiftMode === 'rotate' ? 0 : opts.checkpoints ?? DEFAULT_CHECKPOINTS;
      if (!Number.isInteger(checkpoints) || checkpoints < 0 || checkpoints > 64) {
        throw new HobError('argument/invalid', `checkpoints must be an integer in [0, 64], got ${checkpoints}`, { checkpoints });
      }
      if (checkpoints > 0) engine.check(m._hob_session_reserve_checkpoints(handle, checkpoints), { checkpoints });
      runner = model.offload?.createRunner(m._hob_session_n_ctx(handle), checkpoints);
    } catch (e) {
      m._hob_session_free(handle);
      throw e;
    }
    return new Session(model, handle, runner);
  }

  /** The engine's session handle; 0 once freed. */
  get handle(): number {
    return this.handleValue;
  }

  get nCtx(): number {
    return this.model.engine.module._hob_session_n_ctx(this.handle);
  }

  get nPast(): number {
    return this.model.engine.module._hob_session_n_past(this.handle);
  }

  get nThreads(): number {
    return this.model.engine.module._hob_session_n_threads(this.handle);
  }

  /** True when the model has recurrent blocks (a hybrid): their state
   *  cannot drop tokens, so truncate keeps nPast or 0 tokens only, erase
   *  works only where canErase says so, and going back to an earlier
   *  point means restoring a checkpoint. */
  get recurrent(): boolean {
    return this.model.shiftMode !== 'rotate';
  }

  /** Whether erase(start, end) would succeed: the range is valid and the
   *  recurrent state (if any) does not depend on the evicted tokens. */
  canErase(start: number, end: number): boolean {
    if (!Number.isInteger(start) || !Number.isInteger(end)) return false;
    return this.model.engine.module._hob_session_can_erase(this.handle, start, end) === 1;
  }

  /** Checkpoint slots of the recurrent state (0 for attention-only models). */
  get nCheckpoints(): number {
    return this.model.engine.module._hob_session_n_checkpoints(this.handle);
  }

  /** The nPast a slot holds the state of, or -1 when empty. */
  checkpointPos(slot: number): number {
    return this.model.engine.module._hob_session_checkpoint_pos(this.handle, slot);
  }

  /** Saves the recurrent state at nPast into a slot, on both sides. */
  saveCheckpoint(slot: number): void {
    const m = this.model.engine.module;
    this.offload?.saveState(slot); // a lost device fails here, before the wasm side changes
    this.model.engine.check(m._hob_session_checkpoint_save(this.handle, slot), { slot });
  }

  /** Puts a slot's state back on both sides and truncates the sequence to
   *  the nPast it was saved at (returned); slots saved past it are emptied. */
  restoreCheckpoint(slot: number): number {
    const m = this.model.engine.module;
    const pos = this.checkpointPos(slot);
    if (pos < 0) throw new HobError('argument/invalid', `checkpoint slot ${slot} is empty`, { slot });
    this.offload?.restoreState(slot);
    this.model.engine.check(m._hob_session_checkpoint_restore(this.handle, slot), { slot });
    this.forget();
    return pos;
  }

  /** Appends tokens and computes the next-token logits of the last one.
   * Nothing changes if they do not fit (ContextFullError) or a step fails. */
  async eval(tokens: ArrayLike<number>, opts: EvalOptions = {}): Promise<StepLogits> {
    const n = tokens.length;
    if (n === 0) throw new HobError('argument/invalid', 'eval needs at least one token');
    const nCtx = this.nCtx;
    const nPast = this.nPast;
    if (nPast + n > nCtx) {
      throw new ContextFullError('context/overflow', `${n} tokens do not fit: ${nPast} of ${nCtx} context tokens are in use`, {
        nCtx, nPast, nTokens: n,
      });
    }
    this.changed();
    if (this.offload) {
      const batch = Array.from(tokens);
      const pl = this.model.hparams.nEmbdPerLayer > 0;
      const m = this.model.engine.module;
      await this.evalOffloaded(n, (i, T, hiddenPtr, cap, plPtr, plFloats) =>
        this.withTokens(batch.slice(i, i + T), (ptr) =>
          this.model.engine.check(pl
            ? m._hob_session_eval_hidden_pl(this.handle, ptr, T, hiddenPtr, cap, plPtr, plFloats)
            : m._hob_session_eval_hidden(this.handle, ptr, T, hiddenPtr, cap), { nPast: nPast + i, nTokens: T })), opts.pick ?? null);
    } else {
      const engine = this.model.engine;
      this.withTokens(Array.from(tokens), (ptr) =>
        engine.check(engine.module._hob_session_eval(this.handle, ptr, n), { nCtx, nPast, nTokens: n }));
      this.last = { kind: 'engine' };
    }
    return this.stepLogits();
  }

  /** eval() for rows of input embeddings (an image's, from a Projector:
   * rows.length / nEmbd of them) in place of tokens, at the next positions.
   * `bidirectional` (ImageLayout.bidirectional: Gemma 3, Gemma 4) lets the
   * rows attend to one another both ways (Gemma 4: in its sliding blocks
   * only); they then run in one pass, so at most
   * 256 rows (or nCtx if smaller). With offloaded blocks the rows run
   * through the CPU blocks, then the device's with the same window. */
  async evalEmbeddings(rows: Float32Array, opts: { bidirectional?: boolean; pick?: SamplePick | null } = {}): Promise<StepLogits> {
    const nEmbd = this.model.info.nEmbd;
    const n = rows.length / nEmbd;
    if (!Number.isInteger(n) || n === 0) {
      throw new HobError('argument/invalid', `${rows.length} floats are not whole rows of ${nEmbd}`, { floats: rows.length, nEmbd });
    }
    const nCtx = this.nCtx;
    const nPast = this.nPast;
    if (nPast + n > nCtx) {
      throw new ContextFullError('context/overflow', `${n} embedding rows do not fit: ${nPast} of ${nCtx} context tokens are in use`, {
        nCtx, nPast, nTokens: n,
      });
    }
    const bidirectional = opts.bidirectional ? 1 : 0;
    const runner = this.offload;
    if (runner && bidirectional && n > runner.maxBatch) {
      throw new HobError('argument/invalid', `${n} rows attending both ways do not fit one GPU pass of ${runner.maxBatch}`, { nTokens: n, maxBatch: runner.maxBatch });
    }
    if (runner && this.model.hparams.nEmbdPerLayer > 0) {
      throw new HobError('image/unsupported', `a ${this.model.info.architecture} model's offloaded blocks take per-layer inputs from token ids, which image rows do not have`);
    }
    this.changed();
    const engine = this.model.engine;
    const m = engine.module;
    const ptr = m._malloc(rows.byteLength);
    try {
      new Float32Array(engine.heap().buffer, ptr, rows.length).set(rows);
      if (!runner) {
        engine.check(m._hob_session_eval_embd(this.handle, ptr, n, rows.length, bidirectional), { nCtx, nPast, nTokens: n });
        this.last = { kind: 'engine' };
      } else {
        // Both-ways rows see the whole image on the device too: one pass,
        // each row's cells as the engine's BatchLayout::image gives them.
        // Gemma 4's full blocks stay causal (llama.cpp's non-causal type for it).
        const window = bidirectional ? imageRows(this.model.hparams, nPast, n, this.model.info.architecture === 'gemma4') : undefined;
        await this.evalOffloaded(n, (i, T, hiddenPtr, cap) =>
          engine.check(m._hob_session_eval_embd_hidden(this.handle, ptr + i * nEmbd * 4, T, T * nEmbd, bidirectional, hiddenPtr, cap), {
            nPast: nPast + i, nTokens: T,
          }), opts.pick ?? null, window);
      }
    } finally {
      m._free(ptr);
    }
    return this.stepLogits();
  }

  /**
   * Decoding ahead on the device (OffloadRunner.decodeAhead): appends
   * `token` and then the tokens the device picks (or draws) after it, up to
   * n cells, and returns the logits after each appended token as the
   * sampler takes them (the pick): entry i's device token (pickedToken) is
   * what entry i + 1 evaluated. Fewer when a pick did not pass its checks
   * (ties the device could not rank, NaN where the pick refuses it): the
   * steps from it on are dropped. Only the last entry can read every logit.
   * Null, changing nothing, when the device cannot, the pick is neither
   * greedy nor a draw it imitates, or the first pick already failed.
   */
  async evalAhead(token: number, n: number, pick: SamplePick | null): Promise<StepLogits[] | null> {
    const runner = this.offload;
    const start = this.nPast;
    n = Math.min(n, runner?.maxAhead ?? 0, this.nCtx - start);
    // Capped logits (Gemma 2) may tie after the device ranked them: a
    // greedy pick there needs the runner-up, which a step does not keep.
    if (!runner?.decodeAhead || n < 1 || !pick || (pick.k !== 1 && !pick.draw) || pick.tieFree || runner.candidatesCapped) return null;
    this.changed();
    this.last = { kind: 'none' };
    const picks = await runner.decodeAhead(token, start, n, pick);
    const picked: PickedLogits[] = [];
    for (const c of picks) {
      const p = checkPick(c, pick);
      if (!p) break;
      picked.push(p);
    }
    const m = picked.length;
    if (m === 0) return null;
    appendEngineCells(this.model.engine, this.handle, Int32Array.from({ length: m }, (_, i) => start + i));
    // The device's logits are the last step's: readable only if it was kept.
    this.last = m === n ? { kind: 'picked', picked: picked[m - 1] } : { kind: 'none' };
    const nVocab = this.model.info.nVocab;
    return picked.map((p, i) => (i === m - 1 && m === n ? this.stepLogits() : {
      nVocab,
      picked: p,
      all: async () => {
        throw new HobError('internal', 'only the last step decoded ahead keeps every logit');
      },
    }));
  }

  private withTokens<T>(tokens: number[], fn: (ptr: number) => T): T {
    const engine = this.model.engine;
    const ptr = engine.module._malloc(tokens.length * 4);
    try {
      new Int32Array(engine.heap().buffer, ptr, tokens.length).set(tokens);
      return fn(ptr);
    } finally {
      engine.module._free(ptr);
    }
  }

  /** n tokens or rows through the CPU blocks (`cpuBlocks` runs batch
   * [i, i + T) into the hidden buffer, committing its cells), then the
   * offloaded ones, in batches the runner takes (all at once with `rows`,
   * each row's visible cells from cell 0). */
  private async evalOffloaded(
    n: number,
    cpuBlocks: (i: number, T: number, hiddenPtr: number, cap: number, plPtr: number, plFloats: number) => void,
    pick: SamplePick | null,
    rows?: BatchRows,
  ): Promise<void> {
    const runner = this.offload!;
    const engine = this.model.engine;
    const m = engine.module;
    const { nEmbd } = this.model.info;
    const start = this.nPast;
    const step = rows ? n : runner.maxBatch;
    const hiddenPtr = m._malloc(step * nEmbd * 4);
    // Gemma 4's per-layer inputs of the offloaded blocks: computed on the
    // CPU with the embeddings (their table is the largest tensor, and a
    // token's values are a few kB), handed over with the hidden states.
    const { nEmbdPerLayer: P, nCpuLayers } = this.model.hparams;
    const plFloats = P > 0 ? step * (this.model.info.nLayer - nCpuLayers) * P : 0;
    const plPtr = plFloats > 0 ? m._malloc(plFloats * 4) : 0;
    try {
      for (let i = 0; i < n; i += step) {
        const T = Math.min(step, n - i);
        const cell0 = start + i;
        const last = i + T === n;
        // CPU blocks first: their cells are committed here, so a failure on
        // the device below must take them back.
        cpuBlocks(i, T, hiddenPtr, step * nEmbd, plPtr, plFloats);
        // A copy: the threaded build's heap is a SharedArrayBuffer, which not
        // every WebGPU implementation takes in writeBuffer.
        const hidden = new Float32Array(engine.heap().buffer, hiddenPtr, T * nEmbd).slice();
        const pl = plPtr ? new Float32Array(engine.heap().buffer, plPtr, (plFloats / step) * T).slice() : undefined;
        if (!last) {
          await runner.forward(hidden, T, cell0, 'none', pl, rows);
        } else if (!runner.headOnDevice) {
          const lastHidden = await runner.forward(hidden, T, cell0, 'output', pl, rows);
          this.head(lastHidden);
          this.last = { kind: 'engine' };
        } else if (pick) {
          // Logits capped after the device ranks them (Gemma 2) may tie where
          // the uncapped ones did not: such a pick must check for ties.
          const p = runner.candidatesCapped ? { ...pick, tieFree: true } : pick;
          const picked = checkPick(await runner.forward(hidden, T, cell0, { candidates: pickSize(p) }, pl, rows), p);
          this.last = picked ? { kind: 'picked', picked } : { kind: 'array', logits: await runner.readLogits() };
        } else {
          this.last = { kind: 'array', logits: await runner.forward(hidden, T, cell0, 'output', pl, rows) };
        }
      }
    } catch (e) {
      // The CPU cache may hold cells the device never wrote: forget them.
      // A recurrent state moved by part of the tokens cannot go back to
      // `start`: both sides start over from no tokens.
      if (this.recurrent) {
        m._hob_session_truncate(this.handle, 0);
        try {
          this.offload?.clearState();
        } catch {
          // the device is gone; the error below says why
        }
      } else {
        m._hob_session_truncate(this.handle, start);
      }
      this.last = { kind: 'none' };
      throw e;
    } finally {
      m._free(hiddenPtr);
      if (plPtr) m._free(plPtr);
    }
  }

  /**
   * Embeddings of packed sequences: empties the cache, runs the sequences
   * (seqLens[i] tokens each, back to back in `tokens`) through every block,
   * each token attending to its own sequence only, and pools their last
   * hidden states: n x nEmbd floats for NONE, one vector per sequence
   * otherwise (nClsOut scores for RANK). Not normalized. The cache holds
   * the batch afterwards, which no generation may reuse.
   */
  async embed(tokens: readonly number[], seqLens: readonly number[], pooling: PoolingType): Promise<Float32Array> {
    return embedPacked({
      model: this.model, handle: this.handle, nCtx: this.nCtx, offload: this.offload, forget: () => this.forget(),
    }, tokens, seqLens, pooling);
  }

  /** The output norm and head in wasm over the last hidden state. */
  private head(hidden: Float32Array): void {
    const engine = this.model.engine;
    const m = engine.module;
    const ptr = m._malloc(hidden.length * 4);
    try {
      new Float32Array(engine.heap().buffer, ptr, hidden.length).set(hidden);
      engine.check(m._hob_session_head(this.handle, ptr, hidden.length));
    } finally {
      m._free(ptr);
    }
  }

  /** The last evaluation's logits as the sampler takes them. */
  private stepLogits(): StepLogits {
    const version = this.version;
    const last = this.last;
    const check = () => {
      if (version !== this.version) {
        throw new HobError('argument/invalid', 'these logits are stale: the session evaluated or changed its cache since');
      }
    };
    return {
      nVocab: this.model.info.nVocab,
      picked: last.kind === 'picked' ? last.picked : null,
      all: async () => {
        check();
        return this.fullLogits();
      },
    };
  }

  /** The last evaluation's logits while the cache has not changed since,
   *  else null; without its pick (a later sampler may want another). */
  currentLogits(): StepLogits | null {
    if (this.last.kind === 'none') return null;
    return { ...this.stepLogits(), picked: null };
  }

  /** A copy of the last evaluated token's logits (nVocab floats). After an
   * evaluation that read only a pick's candidates, those with -inf for every
   * other token (StepLogits.all reads them all). */
  logits(): Float32Array {
    const engine = this.model.engine;
    const nVocab = this.model.info.nVocab;
    const last = this.last;
    if (last.kind === 'array') return last.logits.slice();
    if (last.kind === 'picked') return spreadPick(last.picked, nVocab);
    if (!this.logitsPtr) this.logitsPtr = engine.module._malloc(nVocab * 4);
    engine.check(engine.module._hob_session_logits(this.handle, this.logitsPtr, nVocab));
    return new Float32Array(engine.heap().buffer, this.logitsPtr, nVocab).slice();
  }

  /** Every logit of the last evaluation, read from the device if only a
   * pick's candidates came back. */
  async fullLogits(): Promise<Float32Array> {
    if (this.last.kind === 'picked') this.last = { kind: 'array', logits: await this.offload!.readLogits() };
    return this.logits();
  }

  /** Positions of the cached tokens, oldest first, as the wasm cache holds
   * them. Every erase and shift renumbers the tokens after the evicted
   * span, so token i sits at position i. */
  positions(): Int32Array {
    const engine = this.model.engine;
    const n = this.nPast;
    const ptr = engine.module._malloc(Math.max(1, n) * 4);
    try {
      engine.check(engine.module._hob_session_positions(this.handle, ptr, n), { nPast: n });
      return new Int32Array(engine.heap().buffer, ptr, n).slice();
    } finally {
      engine.module._free(ptr);
    }
  }

  /** Forgets every token from position nKeep on. The device's cells past it
   * are simply overwritten by what comes next. A recurrent model keeps
   * nPast or 0 tokens only (restoreCheckpoint goes back elsewhere). */
  truncate(nKeep: number): void {
    const nPast = this.nPast;
    if (!Number.isInteger(nKeep) || nKeep < 0 || nKeep > nPast) {
      throw new HobError('range/out-of-bounds', `cannot keep ${nKeep} tokens: the cache holds ${nPast}`, { nKeep, nPast });
    }
    this.model.engine.check(this.model.engine.module._hob_session_truncate(this.handle, nKeep), { nKeep, nPast });
    if (nKeep === 0 && this.recurrent) this.offload?.clearState();
    if (nKeep < nPast) this.forget();
  }

  /** Evicts tokens [start, end). Later tokens keep their cache entries,
   * move down and are re-rotated to their new positions in place, in wasm
   * and on the device. The range is checked before either side changes. */
  erase(start: number, end: number): void {
    const nPast = this.checkSpan(start, end);
    if (this.recurrent && !this.canErase(start, end)) {
      throw new HobError('argument/invalid', `cannot erase tokens [${start}, ${end}) of ${nPast}: the recurrent state depends on them (restore a checkpoint and evaluate again)`, {
        start, end, nPast,
      });
    }
    // A lost or freed device side fails here, before the wasm side changes.
    this.offload?.checkErase(start, end, nPast - end);
    // The engine checks the range again and changes nothing if it is bad;
    // only then does the device side follow, with the same numbers.
    this.model.engine.check(this.model.engine.module._hob_session_erase(this.handle, start, end), { start, end, nPast });
    this.offload?.erase(start, end, nPast - end);
    if (end > start) this.forget();
  }

  /** llama.cpp's context shift: keep the first nKeep tokens, evict the
   * nDiscard after them: erase(nKeep, nKeep + nDiscard). */
  shift(nKeep: number, nDiscard: number): void {
    const nPast = this.nPast;
    if (!Number.isInteger(nKeep) || !Number.isInteger(nDiscard) || nKeep < 0 || nDiscard < 0 || nKeep + nDiscard > nPast) {
      throw new HobError('range/out-of-bounds', `cannot keep ${nKeep} and discard ${nDiscard} of ${nPast} tokens`, {
        nKeep, nDiscard, nPast,
      });
    }
    this.erase(nKeep, nKeep + nDiscard);
  }

  /** What a saved state must match to restore into this session. Its
   *  layers are the cache's (the CPU's, then the offloaded blocks'): fewer
   *  than the blocks where some read another block's cache (Gemma 4). */
  get kvShape(): KvShape {
    const m = this.model.engine.module;
    const { nCpuLayers, kvSourceLayers } = this.model.hparams;
    let offloaded = 0;
    for (let l = nCpuLayers; l < this.model.info.nLayer; l++) if ((kvSourceLayers[l] ?? l) === l) offloaded++;
    const nLayer = m._hob_session_kv_layers(this.handle) + offloaded;
    return { kvType: m._hob_session_kv_type(this.handle), kvDim: m._hob_session_kv_dim(this.handle), nCtx: this.nCtx, nLayer };
  }

  /** A copy of the cache's used cells, every layer's (read back from the
   * device for offloaded blocks). Only used cells are copied. */
  async saveState(): Promise<KvState> {
    this.checkSavable();
    const engine = this.model.engine;
    const version = this.version;
    const shape = this.kvShape;
    const nCells = this.nPast;
    const cpuLayers = engine.module._hob_session_kv_layers(this.handle);
    const positions = this.positions();
    const layers = readEngineLayers(engine, this.handle, cpuLayers, nCells, shape.kvDim);
    if (this.offload) layers.push(...(await this.offload.readKv(nCells)));
    // The reads are one snapshot only if nothing evaluated meanwhile.
    if (version !== this.version || nCells !== this.nPast) throw staleSave();
    return { ...shape, gpuLayers: shape.nLayer - cpuLayers, positions, layers };
  }

  /** Replaces the cache by a saved state, each layer's cells going where
   * that layer runs now (wasm or the device, whatever the split was when it
   * was saved). A state of another shape is a SessionError naming the
   * difference and changes nothing; a failure while writing leaves the
   * cache empty. There are no logits until the next evaluation. */
  async restoreState(state: KvState): Promise<void> {
    this.checkSavable();
    checkKvState(state, this.kvShape);
    const engine = this.model.engine;
    const cpuLayers = engine.module._hob_session_kv_layers(this.handle);
    const nCells = state.positions.length;
    this.truncate(0);
    this.forget();
    try {
      writeEngineLayers(engine, this.handle, state.layers.slice(0, cpuLayers), nCells, state.kvDim);
      this.offload?.writeKv(state.layers.slice(cpuLayers), nCells);
      appendEngineCells(engine, this.handle, state.positions);
    } catch (e) {
      this.truncate(0);
      throw e;
    }
  }

  /** A saved state holds KV cells only: a hybrid's recurrent state is not
   *  in it, so saving or restoring one is refused rather than restoring a
   *  cache without its state. */
  private checkSavable(): void {
    if (this.recurrent) {
      throw new HobError('argument/invalid', `saving or restoring a session of a hybrid model (${this.model.info.architecture}) is not supported: its recurrent state is not part of a saved session`, {
        architecture: this.model.info.architecture,
      });
    }
  }

  /** Checks 0 <= start <= end <= nPast (integers) on the host, before any
   * side of the cache is touched; returns nPast. */
  private checkSpan(start: number, end: number): number {
    const nPast = this.nPast;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > nPast) {
      throw new HobError('range/out-of-bounds', `cannot erase tokens [${start}, ${end}): the range must lie within the ${nPast} tokens in the cache, start <= end`, {
        start, end, nPast,
      });
    }
    return nPast;
  }

  /** A new evaluation begins: earlier StepLogits go stale. */
  private changed(): void {
    this.version++;
  }

  /** The cache changed: the logits belonged to a context that no longer exists. */
  private forget(): void {
    this.version++;
    this.last = { kind: 'none' };
  }

  free(): void {
    const m = this.model.engine.module;
    if (this.logitsPtr) m._free(this.logitsPtr);
    this.logitsPtr = 0;
    this.offload?.destroy();
    if (this.handleValue) m._hob_session_free(this.handleValue);
    this.handleValue = 0;
    this.forget();
  }
}
