// A vision projector's ViT blocks on WebGPU: the weights of every block
// uploaded once, buffers for one sub-image's patches, and the recorded steps
// of llama.cpp's pre-norm SigLIP block over them, with the kernels the text
// and BERT blocks use. The patch embedding before the blocks and the
// post-LayerNorm and projector after them stay on the CPU
// (core/vision.ts's Projector.encodeWith): they are a few percent of the work.
//
// All patches of a sub-image (SmolVLM 1024, Gemma 3 4096) run as one batch:
// Q/K/V of every patch, K and V stored as the cache of nPatches cells, then
// every query attends to all of them (the frame's row ranges say [0, T) for
// each row: attention both ways). The CPU keeps K and V in f32; the
// attention kernel reads an f16 cache and rounds the probabilities to f16,
// so rows differ from the CPU's by rounding (test/gpu/vit.test.ts).
import type { VitShape } from '../core/vision.js';
import { GpuError, HobError, ModelFormatError } from '../shared/errors.js';
import { withErrorScopes, type GpuContext } from './device.js';
import { actType, attentionScratchBytes, createQ8Acts, FRAME_BYTES, type Kernels, type Q8Acts, type Step } from './kernels/index.js';
import type { TensorReader } from './model-weights.js';
import { createVectorBuffer, createWeightBuffers, destroyWeight, type GpuWeight } from './weights.js';

/** One block's weights on the device. */
interface VitLayer {
  wq: GpuWeight;
  wk: GpuWeight;
  wv: GpuWeight;
  wo: GpuWeight;
  up: GpuWeight;
  down: GpuWeight;
  bq: GPUBuffer;
  bk: GPUBuffer;
  bv: GPUBuffer;
  bo: GPUBuffer;
  ln1w: GPUBuffer;
  ln1b: GPUBuffer;
  ln2w: GPUBuffer;
  ln2b: GPUBuffer;
  bUp: GPUBuffer;
  bDown: GPUBuffer;
}

export class GpuVit {
  /** GPU bytes of the block weights. */
  readonly weightBytes: number;
  private readonly buffers: GPUBuffer[] = [];
  private readonly acts: Q8Acts[] = [];
  private readonly x: GPUBuffer;
  private readonly xb: GPUBuffer;
  private readonly readback: GPUBuffer;
  /** Per block: the attention half's steps, then the FFN half's; each runs
   * after x is copied into xb (the pre-norms normalize xb in place). */
  private readonly halves: Step[][] = [];
  private destroyed = false;
  private running: Promise<unknown> = Promise.resolve();

  /** Uploads the blocks' weights (tensors `v.blk.N.*` of the mmproj file,
   * read through `read`) and allocates one sub-image's activations. A
   * device without room is 'gpu/out-of-memory', with nothing left allocated. */
  static async create(ctx: GpuContext, kernels: Kernels, shape: VitShape, read: TensorReader): Promise<GpuVit> {
    const { nEmbd: E, nFf: F, nLayer } = shape;
    const layers: VitLayer[] = [];
    const weights: GpuWeight[] = [];
    const vectors: GPUBuffer[] = [];
    const tensor = async (name: string, dims: number[]) => {
      const t = await read(name);
      if (!t) throw new ModelFormatError('model/invalid', `projector tensor ${name} is missing`, { name });
      if (t.dims.length < dims.length || dims.some((d, i) => t.dims[i] !== d)) {
        throw new ModelFormatError('model/invalid', `projector tensor ${name} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}]`, { name });
      }
      return t;
    };
    try {
      for (let l = 0; l < nLayer; l++) {
        const p = `v.blk.${l}.`;
        const matrix = async (name: string, cols: number, rows: number) => {
          const t = await tensor(p + name, [cols, rows]);
          const w = await withErrorScopes(ctx.device, `uploading ${p + name}`, () => createWeightBuffers(ctx, p + name, t.typeId, rows, cols, t.bytes));
          weights.push(w);
          return w;
        };
        const vector = async (name: string, n: number) => {
          const t = await tensor(p + name, [n]);
          const b = createVectorBuffer(ctx, p + name, t.typeId, n, t.bytes);
          vectors.push(b);
          return b;
        };
        layers.push({
          wq: await matrix('attn_q.weight', E, E), wk: await matrix('attn_k.weight', E, E), wv: await matrix('attn_v.weight', E, E),
          wo: await matrix('attn_out.weight', E, E), up: await matrix('ffn_up.weight', E, F), down: await matrix('ffn_down.weight', F, E),
          bq: await vector('attn_q.bias', E), bk: await vector('attn_k.bias', E), bv: await vector('attn_v.bias', E),
          bo: await vector('attn_out.bias', E), ln1w: await vector('ln1.weight', E), ln1b: await vector('ln1.bias', E),
          ln2w: await vector('ln2.weight', E), ln2b: await vector('ln2.bias', E), bUp: await vector('ffn_up.bias', F),
          bDown: await vector('ffn_down.bias', E),
        });
      }
      let vit: GpuVit | undefined;
      await withErrorScopes(ctx.device, 'allocating the vision encoder\'s activations', () => {
        vit = new GpuVit(ctx, kernels, shape, layers, weights, vectors);
      });
      return vit!;
    } catch (e) {
      for (const w of weights) destroyWeight(w);
      for (const b of vectors) b.destroy();
      throw e;
    }
  }

  private constructor(
    private readonly ctx: GpuContext,
    kernels: Kernels,
    readonly shape: VitShape,
    layers: VitLayer[],
    private readonly weights: GpuWeight[],
    vectors: GPUBuffer[],
  ) {
    this.buffers.push(...vectors);
    const { device } = ctx;
    const { nPatches: T, nEmbd: E, nFf: F, nHead } = shape;
    if (E % nHead !== 0) throw new ModelFormatError('model/invalid', `the ViT's width ${E} is not a multiple of its ${nHead} heads`, { nEmbd: E, nHead });
    const D = E / nHead;
    this.weightBytes = weights.reduce((n, w) => n + w.sizeBytes, 0) + vectors.reduce((n, b) => n + b.size, 0);
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const create = (label: string, size: number, usage = storage) => {
      const b = device.createBuffer({ label: `vit ${label}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
      this.buffers.push(b);
      return b;
    };
    this.x = create('x', T * E * 4);
    this.xb = create('xb', T * E * 4);
    const q = create('q', T * E * 4);
    const k = create('k', T * E * 4);
    const v = create('v', T * E * 4);
    const att = create('att', T * E * 4);
    const hb = create('hb', T * F * 4);
    const kc = create('k cache', T * E * 2);
    const vc = create('v cache', T * E * 2);
    this.readback = create('readback', T * E * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    // Every row attends to every patch: frame.ranged with [0, T) a row.
    const frame = create('frame', FRAME_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(frame, 0, new Uint32Array([T, 0, T, 1]));
    const rows = create('rows', T * 8);
    device.queue.writeBuffer(rows, 0, new Uint32Array(2 * T).map((_, i) => (i % 2 === 0 ? 0 : T)));
    const attnShape = { nHead, nHeadKv: nHead, headDim: D, nCtx: T, scale: 1 / Math.sqrt(D) };
    const scratchBytes = attentionScratchBytes(attnShape);
    const scratch = scratchBytes > 0 ? create('attention scratch', scratchBytes) : null;

    // A matmul's input: f32 rows, or (quantized weights) the rows quantized
    // to the activation type the CPU gives that weight type, once per type.
    const actsFor = new Map<string, Q8Acts>();
    const inputs = (rowsBuf: GPUBuffer, cols: number, ws: GpuWeight[]) => {
      const steps: Step[] = [];
      const byType = new Map<string, Q8Acts>();
      for (const w of ws) {
        const t = actType(w.type);
        if (t === 'f32' || byType.has(t)) continue;
        const key = `${t}/${cols}`;
        let a = actsFor.get(key);
        if (!a) {
          a = createQ8Acts(device, `vit ${key}`, T, cols, t);
          this.acts.push(a);
          actsFor.set(key, a);
        }
        byType.set(t, a);
        steps.push(kernels.quantize(rowsBuf, a, frame));
      }
      return { steps, of: (w: GpuWeight) => (actType(w.type) === 'f32' ? rowsBuf : byType.get(actType(w.type))!) };
    };
    const K = kernels;
    const f = frame;
    for (const L of layers) {
      // x + attention(LN1(x)): xb holds a copy of x (made before the half).
      const a: Step[] = [K.layernorm(this.xb, L.ln1w, L.ln1b, E, shape.eps, f)];
      const qkvIn = inputs(this.xb, E, [L.wq, L.wk, L.wv]);
      a.push(...qkvIn.steps, K.matmul(L.wq, qkvIn.of(L.wq), q, f), K.matmul(L.wk, qkvIn.of(L.wk), k, f), K.matmul(L.wv, qkvIn.of(L.wv), v, f));
      a.push(K.addBias(q, L.bq, E, f), K.addBias(k, L.bk, E, f), K.addBias(v, L.bv, E, f));
      a.push(K.kvStore(k, v, kc, vc, E, T, f), K.attention(q, kc, vc, att, attnShape, f, scratch, undefined, 'tiled', rows));
      const oIn = inputs(att, E, [L.wo]);
      a.push(...oIn.steps, K.matmul(L.wo, oIn.of(L.wo), this.x, f, { accumulate: true }), K.addBias(this.x, L.bo, E, f));
      // x + down(gelu(up(LN2(x)))), biases after each product.
      const m: Step[] = [K.layernorm(this.xb, L.ln2w, L.ln2b, E, shape.eps, f)];
      const upIn = inputs(this.xb, E, [L.up]);
      m.push(...upIn.steps, K.matmul(L.up, upIn.of(L.up), hb, f), K.addBias(hb, L.bUp, F, f), K.gelu(hb, F, f));
      const downIn = inputs(hb, F, [L.down]);
      m.push(...downIn.steps, K.matmul(L.down, downIn.of(L.down), this.x, f, { accumulate: true }), K.addBias(this.x, L.bDown, E, f));
      this.halves.push(a, m);
    }
  }

  /** The blocks over one sub-image's rows (nPatches x nEmbd): the rows
   * after them. Calls run one at a time. */
  run(x: Float32Array): Promise<Float32Array> {
    const next = this.running.then(() => this.runOnce(x));
    this.running = next.catch(() => {});
    return next;
  }

  private async runOnce(input: Float32Array): Promise<Float32Array> {
    if (this.destroyed) throw new HobError('argument/invalid', 'the GPU vision encoder was destroyed');
    const { nPatches: T, nEmbd: E } = this.shape;
    if (input.length !== T * E) {
      throw new HobError('argument/invalid', `the ViT takes ${T} x ${E} floats, got ${input.length}`, { length: input.length });
    }
    const { device } = this.ctx;
    const bytes = T * E * 4;
    await withErrorScopes(device, 'encoding an image on the GPU', () => {
      // Dawn in Node crashes on data in shared memory (a threaded engine's heap).
      const data = input.buffer instanceof ArrayBuffer ? (input as Float32Array<ArrayBuffer>) : input.slice();
      device.queue.writeBuffer(this.x, 0, data);
      const enc = device.createCommandEncoder({ label: 'vit' });
      for (const half of this.halves) {
        enc.copyBufferToBuffer(this.x, 0, this.xb, 0, bytes);
        const pass = enc.beginComputePass({ label: 'vit half-block' });
        for (const s of half) s.encode(pass, T, T);
        pass.end();
      }
      enc.copyBufferToBuffer(this.x, 0, this.readback, 0, bytes);
      device.queue.submit([enc.finish()]);
    });
    try {
      await this.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      throw new GpuError('gpu/device-lost', `reading the image's rows back from the GPU failed: ${(e as Error).message}`, { lost: true });
    }
    const out = new Float32Array(this.readback.getMappedRange(0, bytes).slice(0));
    this.readback.unmap();
    return out;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const w of this.weights) destroyWeight(w);
    for (const b of this.buffers) b.destroy();
    for (const a of this.acts) {
      a.quants.destroy();
      a.scales.destroy();
      a.sums?.destroy();
    }
  }
}
