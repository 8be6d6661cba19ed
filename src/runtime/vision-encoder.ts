// Where a projector's ViT blocks run: on the GPU when the engine has one
// and the blocks' weights and one sub-image's activations fit there
// (src/gpu/vit.ts), else on the CPU in the engine (core/vision.ts). Either
// way the prompt sees one ImageEncoder: the patch embedding, preprocessing,
// post-norm and projector stay in the engine, and only the blocks move.
import type { Projector } from '../core/vision.js';
import { readGgufLayout } from '../format/gguf-layout.js';
import { bytesSource } from '../format/source.js';
import type { GpuContext } from '../gpu/device.js';
import { Kernels } from '../gpu/kernels/index.js';
import type { TensorReader } from '../gpu/model-weights.js';
import { GpuVit } from '../gpu/vit.js';
import { GGML_TYPES } from '../format/ggml-types.js';
import { GpuError, HobError } from '../shared/errors.js';
import type { ImageEncoder } from './image-prompt.js';

/** A projector's encoder and where its blocks run. */
export interface VisionEncoder extends ImageEncoder {
  readonly device: 'gpu' | 'cpu';
  /** Why the blocks run on the CPU although a GPU was offered (absent otherwise). */
  readonly cpuReason?: string;
  /** Frees the GPU's copy of the weights (the projector stays the caller's). */
  destroy(): void;
}

/** Reads tensors of a GGUF file held whole in memory. */
export async function bytesTensorReader(bytes: Uint8Array): Promise<TensorReader> {
  const layout = await readGgufLayout(bytesSource(bytes));
  const byName = new Map(layout.tensors.map((t) => [t.name, t]));
  return async (name) => {
    const t = byName.get(name);
    if (!t) return undefined;
    const start = layout.dataOffsetBytes + t.offset;
    const size = t.sizeBytes ?? 0;
    if (start + size > bytes.byteLength) throw new HobError('range/out-of-bounds', `tensor ${name} runs past the end of the file`, { name });
    return { typeId: t.typeId, type: GGML_TYPES[t.typeId]?.[0] ?? String(t.typeId), dims: t.dims, bytes: bytes.subarray(start, start + size) };
  };
}

/** The projector's encoder: its blocks on `gpu` when given and they fit
 * there (or opts.device forces one side), else in the engine. `bytes` is
 * the mmproj file the projector was loaded from. A GPU that cannot take
 * the blocks (out of memory, a weight type or width its kernels lack)
 * leaves them on the CPU, saying why (cpuReason), unless opts.device is
 * 'gpu', which throws instead. */
export async function openVisionEncoder(projector: Projector, bytes: Uint8Array, gpu: GpuContext | undefined, opts: { device?: 'gpu' | 'cpu' } = {}): Promise<VisionEncoder> {
  const cpu = (cpuReason?: string): VisionEncoder => ({
    device: 'cpu',
    ...(cpuReason ? { cpuReason } : {}),
    nEmbd: projector.nEmbd,
    layout: (w, h) => projector.layout(w, h),
    encode: (rgb, w, h) => projector.encode(rgb, w, h),
    destroy: () => {},
  });
  if (opts.device === 'cpu') return cpu();
  if (!gpu) {
    if (opts.device === 'gpu') throw new GpuError('gpu/unavailable', 'the vision encoder was asked to run on a GPU, and there is none', { lost: false });
    return cpu();
  }
  // gemma4v's blocks (RMS norms, 2-D RoPE, a gated MLP, clamps) and its
  // per-image patch grid have no WebGPU kernels: they stay in the engine.
  if (projector.tokensPerImage <= 0) {
    const reason = `the ${projector.projectorType} ViT blocks have no WebGPU kernels (RMS norms, 2-D RoPE, a gated MLP, a patch grid per image size): they run on the CPU`;
    if (opts.device === 'gpu') throw new GpuError('gpu/unsupported-type', reason, { lost: false });
    return cpu(reason);
  }
  let vit: GpuVit;
  const kernels = new Kernels(gpu);
  try {
    vit = await GpuVit.create(gpu, kernels, projector.vit, await bytesTensorReader(bytes));
  } catch (e) {
    kernels.destroy();
    // Whatever keeps the blocks off this GPU (its memory, a binding limit, a
    // weight type or width its kernels do not take) leaves them on the CPU.
    if (opts.device === 'gpu' || !(e instanceof Error)) throw e;
    return cpu(e.message);
  }
  return {
    device: 'gpu',
    nEmbd: projector.nEmbd,
    layout: (w, h) => projector.layout(w, h),
    // A caller that cannot wait gets the CPU's rows.
    encode: (rgb, w, h) => projector.encode(rgb, w, h),
    encodeAsync: (rgb, w, h) => projector.encodeWith(rgb, w, h, (x) => vit.run(x)),
    destroy: () => {
      vit.destroy();
      kernels.destroy();
    },
  };
}
