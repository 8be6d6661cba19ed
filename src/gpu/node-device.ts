// WebGPU in Node, through the `webgpu` package (Dawn): an optional
// dependency, loaded only when GPU layers are asked for. On machines without
// a GPU driver, Dawn can run on SwiftShader's Vulkan driver (set
// VK_ICD_FILENAMES to its ICD file), which is how the tests run.
import { GpuError, HobError } from '../shared/errors.js';
import { adapterLimits, requestGpu, type AdapterLimits, type GpuContext } from './device.js';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | undefined;
// Dawn's instance must outlive every device made from it: if it were
// garbage-collected while a device is in use, the native side would tear
// down under it. One instance per process, as navigator.gpu is per page.
let instance: GPU | undefined;

/** Dawn's GPU object (one per process); GpuError 'gpu/unavailable' when the `webgpu` package is missing. */
async function dawnInstance(): Promise<GPU> {
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
  instance ??= dawn.create(unsafeApisAllowed() ? ['enable-dawn-features=allow_unsafe_apis'] : []);
  return instance;
}

/**
 * Whether Dawn's unsafe APIs are allowed: an explicit opt-in, the
 * environment variable HOB_DAWN_UNSAFE_APIS=1, read when the process's Dawn
 * instance is made. They carry experimental features, among them
 * chromium-experimental-subgroup-matrix (the int8 matrix multiply the
 * quantized prefill matmul uses where offered), which browsers do not
 * expose by default and whose validation is less complete: off unless asked.
 */
export function unsafeApisAllowed(): boolean {
  return process.env.HOB_DAWN_UNSAFE_APIS === '1';
}

/** A WebGPU device in Node; GpuError 'gpu/unavailable' when the `webgpu`
 * package or an adapter is missing. */
export async function requestNodeGpu(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  return requestGpu({ gpu: await dawnInstance(), powerPreference: opts.powerPreference ?? 'high-performance' });
}

/** The buffer limits of the adapter requestNodeGpu would use, read without
 * creating a device (checkFit in Node); GpuError 'gpu/unavailable' when the
 * `webgpu` package or an adapter is missing. */
export async function nodeAdapterLimits(): Promise<AdapterLimits> {
  return adapterLimits(await dawnInstance(), 'high-performance');
}

/**
 * The device for a gpuLayers setting: none for 0; for 'auto', none when
 * there is no adapter (auto then keeps every block on the CPU, as it
 * promises); for a number of layers, the device or the GpuError saying why
 * there is none.
 */
export async function gpuForLayers(
  gpuLayers: number | 'auto',
  opts: { request?: () => Promise<GpuContext>; onCpuFallback?: (why: HobError) => void } = {},
): Promise<GpuContext | undefined> {
  if (gpuLayers === 0) return undefined;
  try {
    return await (opts.request ?? requestNodeGpu)();
  } catch (e) {
    if (gpuLayers !== 'auto' || !(e instanceof HobError) || e.code !== 'gpu/unavailable') throw e;
    opts.onCpuFallback?.(e);
    return undefined;
  }
}
