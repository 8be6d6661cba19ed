// What every kernel family records its steps with, one per Kernels: the
// device's shared pipelines, the workgroup limit, the settings its options
// chose, and the only buffers this folder creates: small parameter uniforms
// and placeholders for bindings a kernel variant leaves unused.
import * as wgsl from '../shaders.js';
import { WorkgroupLimit } from './dispatch.js';
import { Pipelines } from './pipelines.js';
import type { Int8MatrixShape } from '../device.js';

/** The quantized prefill kernel's tile (KernelOptions.q8Tile). */
export interface Q8Tile {
  rows: number;
  tokens: number;
  blocks: number;
}

/** The subgroup prefill kernel's tile (KernelOptions.q8SgTile,
 * matmul_q8_sg.wgsl): rows a row group computes, tokens an invocation
 * computes, invocations a row group and a workgroup. */
export interface Q8SgTile {
  rows: number;
  tokens: number;
  lanes: number;
  workgroup: number;
}

/** KernelOptions checked, with the device's capabilities and the defaults applied. */
export interface KernelSettings {
  subgroups: boolean;
  packedDot4: boolean;
  maxGroupsPerDim: number;
  matvecRows: number | undefined;
  q8Tiles: Q8Tile[];
  /** Where the quantized prefill kernel shares its tiles by subgroup
   * shuffles (matmul_q8_sg.wgsl): its tiles, rows already capped by the
   * minimum subgroup size; empty for matmul_q8_tiled.wgsl. */
  q8SgTiles: Q8SgTile[];
  attnTileRows: number | undefined;
  attnStoreScores: boolean;
  /** The int8 subgroup-matrix prefill kernel's shape and blocks a stage
   * (matmul_q8_sgmat.wgsl); undefined: matmul_q8_tiled.wgsl everywhere. */
  int8Matrix: (Int8MatrixShape & { blocks: number }) | undefined;
}

export class KernelContext {
  readonly pipelines: Pipelines;
  readonly limit: WorkgroupLimit;
  readonly subgroups: boolean;
  readonly packedDot4: boolean;
  readonly matvecRows: number | undefined;
  readonly q8Tiles: Q8Tile[];
  readonly q8SgTiles: Q8SgTile[];
  readonly attnTileRows: number | undefined;
  readonly attnStoreScores: boolean;
  readonly int8Matrix: KernelSettings['int8Matrix'];
  private readonly owned: GPUBuffer[] = [];
  private readonly shared = new Map<string, GPUBuffer>();
  /** Bound where RoPE has no frequency factors (the binding must exist). */
  readonly noFactors: GPUBuffer;
  /** Bound to an output binding a kernel variant does not write. */
  readonly dummy: GPUBuffer;
  readonly dummy2: GPUBuffer;
  readonly dummy3: GPUBuffer;
  /** Bound where attention has no row ranges (a forward that sets none never reads it). */
  readonly noRows: GPUBuffer;

  constructor(readonly device: GPUDevice, settings: KernelSettings) {
    this.subgroups = settings.subgroups;
    this.packedDot4 = settings.packedDot4;
    this.limit = new WorkgroupLimit(settings.maxGroupsPerDim);
    this.matvecRows = settings.matvecRows;
    this.q8Tiles = settings.q8Tiles;
    this.q8SgTiles = settings.q8SgTiles;
    this.attnTileRows = settings.attnTileRows;
    this.attnStoreScores = settings.attnStoreScores;
    this.int8Matrix = settings.int8Matrix;
    this.pipelines = new Pipelines(device);
    this.noFactors = this.createOwnedBuffer('rope/no-factors', 16, GPUBufferUsage.STORAGE, new Float32Array([1, 1, 1, 1]));
    this.dummy = this.createOwnedBuffer('unused output', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
    this.dummy2 = this.createOwnedBuffer('unused output 2', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
    this.dummy3 = this.createOwnedBuffer('unused output 3', 16, GPUBufferUsage.STORAGE, new Float32Array(4));
    this.noRows = this.createOwnedBuffer('no row ranges', 16, GPUBufferUsage.STORAGE, new Uint32Array(4));
  }

  /** The row sums of the matvec kernels: subgroup shuffles where enabled. */
  reduceWgsl(): string {
    return this.subgroups ? wgsl.reduceSgWgsl : wgsl.reduceWgWgsl;
  }

  /** A step's static parameters: 32-bit words (f32 values as their bits). */
  uniform(label: string, words: number[]): GPUBuffer {
    const data = new Uint32Array(Math.ceil(words.length / 4) * 4);
    data.set(words.map((w) => w >>> 0));
    return this.createOwnedBuffer(`${label} params`, data.byteLength, GPUBufferUsage.UNIFORM, data);
  }

  /** A uniform buffer of these words, one per distinct contents: steps of
   * the same shape in every layer share it. */
  sharedUniform(label: string, words: number[]): GPUBuffer {
    const key = words.map((w) => w >>> 0).join(',');
    let u = this.shared.get(key);
    if (!u) {
      u = this.uniform(label, words);
      this.shared.set(key, u);
    }
    return u;
  }

  /** Destroys the uniform and placeholder buffers made so far. */
  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.shared.clear();
  }

  private createOwnedBuffer(label: string, size: number, usage: number, data: ArrayBufferView): GPUBuffer {
    const buffer = this.device.createBuffer({ label, size, usage: usage | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.owned.push(buffer);
    return buffer;
  }
}

/** The bits of v rounded to f32, for a uniform word. */
export function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

export function pow2Ceil(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}
