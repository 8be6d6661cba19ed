// WebGPU in Node, through the `webgpu` package (Dawn): an optional
// dependency, loaded only when GPU layers are asked for. On machines without
// a GPU driver, Dawn can run on SwiftShader's Vulkan driver (set
// VK_ICD_FILENAMES to its ICD file), which is how the tests run.
import { GpuError } from '../shared/errors.js';
import { requestGpu, type GpuContext } from './device.js';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | undefined;
// Dawn's instance must outlive every device made from it: if it were
// garbage-collected while a device is in use, the native side would tear
// down under it. One instance per process, as navigator.gpu is per page.
let instance: GPU | undefined;

/** A WebGPU device in Node; GpuError 'gpu/unavailable' when the `webgpu`
 * package or an adapter is missing. */
export async function requestNodeGpu(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  if (!dawn) {
    try {
      dawn = (await import('webgpu')) as unknown as DawnModule;
    } catch (e) {
      throw new GpuError('gpu/unavailable', `GPU layers in Node need the 'webgpu' package (npm install webgpu): ${(e as Error).message}`, {
        lost: false,
      });
    }
    // The WebGPU enums (GPUBufferUsage, GPUMapMode ...) that browsers define globally.
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
  }
  instance ??= dawn.create([]);
  return requestGpu({ gpu: instance, powerPreference: opts.powerPreference ?? 'high-performance' });
}
