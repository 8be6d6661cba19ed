// The best m logits of the GPU's logits buffer (wgsl/sample.wgsl), for
// sampling without reading the whole vocabulary back: two dispatches and a
// small copy appended to a forward's command buffer. It owns its few small
// buffers and knows nothing of samplers (src/sampling/pick.ts decides
// when a request may use it).
import type { Candidates } from '../core/offload.js';
import { HobError } from '../shared/errors.js';
import { WorkgroupLimit } from './kernels/dispatch.js';
import { sampleWgsl } from './shaders.js';

/** The most candidates one pick returns. */
export const GPU_PICK_MAX = 129;

/** Logits per chunk of the first stage (wgsl/sample.wgsl's CHUNK). */
const CHUNK = 4096;
/** Logits that may survive the bound before the ranking; more (only with
 * huge runs of equal logits) leave the pick incomplete. */
const CAPACITY = 8192;
const NONE = 0xffffffff;


interface Pipelines {
  layout: GPUBindGroupLayout;
  bound: GPUComputePipeline;
  collect: GPUComputePipeline;
  rank: GPUComputePipeline;
}

const pipelinesByDevice = new WeakMap<GPUDevice, Pipelines>();

function pipelines(device: GPUDevice): Pipelines {
  let p = pipelinesByDevice.get(device);
  if (!p) {
    const layout = device.createBindGroupLayout({
      label: 'pick',
      entries: (['uniform', 'read-only-storage', 'storage', 'storage', 'storage'] as const).map((type, binding) => ({
        binding, visibility: GPUShaderStage.COMPUTE, buffer: { type },
      })),
    });
    const pl = device.createPipelineLayout({ label: 'pick', bindGroupLayouts: [layout] });
    const module = device.createShaderModule({ label: 'sample', code: sampleWgsl });
    const pipe = (entryPoint: string) => device.createComputePipeline({ label: entryPoint, layout: pl, compute: { module, entryPoint } });
    p = { layout, bound: pipe('pick_bound'), collect: pipe('pick_collect'), rank: pipe('pick_rank') };
    pipelinesByDevice.set(device, p);
  }
  return p;
}

/** Bytes read back for a pick of m candidates: the (NaN count, complete) header and m (id, logit) pairs. */
export function pickReadbackBytes(m: number): number {
  return 8 + 8 * m;
}

export class GpuPicker {
  /** Every buffer this picker allocated. */
  readonly buffers: GPUBuffer[] = [];
  private readonly params: GPUBuffer;
  private readonly result: GPUBuffer;
  private readonly readback: GPUBuffer;
  private readonly bindGroup: GPUBindGroup;
  private readonly nChunks: number;
  private readonly pipes: Pipelines;

  /** Allocates the picker's buffers (a few KiB) over `logits`, a buffer of at least nVocab f32. */
  constructor(
    private readonly device: GPUDevice,
    logits: GPUBuffer,
    readonly nVocab: number,
  ) {
    if (!Number.isInteger(nVocab) || nVocab < 1 || logits.size < nVocab * 4) {
      throw new HobError('argument/invalid', `a pick needs a buffer of ${nVocab} logits, got ${logits.size} bytes`, { nVocab, sizeBytes: logits.size });
    }
    // One workgroup per chunk in a one-dimensional grid: checked here, before
    // anything is created, like every kernel's grid.
    this.nChunks = new WorkgroupLimit(device.limits.maxComputeWorkgroupsPerDimension).dim('pick', Math.ceil(nVocab / CHUNK));
    this.pipes = pipelines(device);
    const create = (label: string, size: number, usage: number): GPUBuffer => {
      const b = device.createBuffer({ label, size, usage });
      this.buffers.push(b);
      return b;
    };
    this.params = create('pick params', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    const partial = create('pick partial', (3 * this.nChunks + 1) * 4, GPUBufferUsage.STORAGE);
    const survivors = create('pick survivors', CAPACITY * 8, GPUBufferUsage.STORAGE);
    this.result = create('pick result', pickReadbackBytes(GPU_PICK_MAX), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.readback = create('pick readback', pickReadbackBytes(GPU_PICK_MAX), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.bindGroup = device.createBindGroup({
      label: 'pick',
      layout: this.pipes.layout,
      entries: [this.params, logits, partial, survivors, this.result].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** Dispatches per pick: the chunks' bounds, the survivors, their ranks. */
  get dispatches(): number {
    return 3;
  }

  private checkM(m: number): void {
    if (!Number.isInteger(m) || m < 1 || m > GPU_PICK_MAX) {
      throw new HobError('argument/invalid', `a GPU pick returns 1 to ${GPU_PICK_MAX} candidates, got ${m}`, { m, max: GPU_PICK_MAX });
    }
  }

  /** Appends the pick of the best m logits and the copy of its result to
   * enc (the uniform is written through the queue, before the submit). */
  encode(enc: GPUCommandEncoder, m: number): void {
    this.checkM(m);
    this.device.queue.writeBuffer(this.params, 0, new Uint32Array([this.nVocab, m, this.nChunks, CAPACITY]));
    const pass = enc.beginComputePass({ label: 'pick' });
    pass.setBindGroup(0, this.bindGroup);
    pass.setPipeline(this.pipes.bound);
    pass.dispatchWorkgroups(this.nChunks);
    pass.setPipeline(this.pipes.collect);
    pass.dispatchWorkgroups(this.nChunks);
    pass.setPipeline(this.pipes.rank);
    pass.dispatchWorkgroups(CAPACITY / 256);
    pass.end();
    enc.copyBufferToBuffer(this.result, 0, this.readback, 0, pickReadbackBytes(m));
  }

  /** Maps the result of the last submitted encode(enc, m). */
  async read(m: number): Promise<Candidates> {
    this.checkM(m);
    const bytes = pickReadbackBytes(m);
    await this.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const words = new Uint32Array(this.readback.getMappedRange(0, bytes).slice(0));
    this.readback.unmap();
    return this.parse(words, m);
  }

  /** Appends a copy of the first `bytes` of the last encoded pick's result
   * (pickReadbackBytes(m) for its best m) to dst at dstOffset, for
   * consumers on the GPU (src/gpu/decode-ahead.ts). */
  copyResult(enc: GPUCommandEncoder, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    enc.copyBufferToBuffer(this.result, 0, dst, dstOffset, bytes);
  }

  /** The buffer the last encoded pick's result lands in (pickReadbackBytes(m)
   * bytes), for kernels that read it on the GPU (wgsl/draw.wgsl). */
  get output(): GPUBuffer {
    return this.result;
  }

  /** The candidates of a result's first pickReadbackBytes(m) bytes. */
  parse(words: Uint32Array, m: number): Candidates {
    const values = new Float32Array(words.buffer, words.byteOffset, words.length);
    const ids = new Int32Array(m);
    const logits = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const id = words[2 + 2 * i];
      ids[i] = id === NONE ? -1 : id;
      logits[i] = id === NONE ? -Infinity : values[3 + 2 * i];
    }
    return { ids, logits, nNan: words[0], complete: words[1] === 1 };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
