// WebGPU in Node for the GPU tests: Dawn from the `webgpu` package on
// SwiftShader's Vulkan driver (a CPU implementation, always present where
// Chromium is), unless VK_ICD_FILENAMES already names another driver.
import type { GpuContext } from '../../src/gpu/device.js';
import { requestNodeGpu as requestDawnGpu } from '../../src/gpu/node-device.js';

export async function requestNodeGpu(): Promise<GpuContext> {
  // Read by the Vulkan loader when Dawn creates its instance, so it must be
  // set before the first device is requested.
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  return requestDawnGpu();
}
