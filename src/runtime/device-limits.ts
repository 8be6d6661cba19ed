// What a device offers a model, from the facts a page (or Node) can learn:
// the user agent (mobile tabs are killed far below the device's memory: iOS
// near 1.5 GB), navigator.deviceMemory (or the machine's memory in Node),
// the storage left to the origin, the GPU adapter's buffer limits, and the
// caller's budget, which wins over every default. Pure: api/ and node/
// gather the facts, fit.ts judges with the result.
import type { MemoryBudget } from '../shared/types.js';
import type { DeviceLimits } from './fit.js';
import { WASM_MAX_BYTES } from './memory-estimate.js';

export interface DeviceFacts {
  userAgent?: string;
  /** navigator.deviceMemory (GiB, rounded and capped by the browser). */
  deviceMemoryGiB?: number;
  /** The machine's memory (Node). */
  totalMemoryBytes?: number;
  threads: number;
  /** navigator.storage.estimate(): quota minus usage. */
  storageFreeBytes?: number;
  /** The adapter's limits, when there is a GPU to offload to. */
  gpu?: { maxBufferBytes: number; maxBindingBytes: number; name?: string };
  /** Why there is no GPU, when GPU layers were asked for and none was found. */
  noGpu?: string;
}

const GiB = 2 ** 30;
/** Memory budget of a mobile tab: iOS kills tabs near 1.5 GB (WebLLM#753). */
export const MOBILE_MEMORY_BUDGET = 1 * GiB;
export const DEFAULT_GPU_BUDGET = 2 * GiB;
export const MOBILE_GPU_BUDGET = 1 * GiB;

/** Phones and tablets: their GPU shares the tab's memory. */
export function isMobileAgent(userAgent: string | undefined): boolean {
  return !!userAgent && /\b(Mobi|Android|iPhone|iPad|iPod)\b/i.test(userAgent);
}

/** The GPU budget: the caller's, else 1 GiB on mobile user agents, 2 GiB elsewhere
 * (the engine worker's loader uses it for gpuLayers 'auto', as checkFit does). */
export function gpuBudgetBytes(userAgent: string | undefined, budget: MemoryBudget = {}): number {
  return budget.gpuBytes ?? (isMobileAgent(userAgent) ? MOBILE_GPU_BUDGET : DEFAULT_GPU_BUDGET);
}

/** The limits a model is judged against (defaults documented in docs/models.md#will-it-fit). */
export function deviceLimits(facts: DeviceFacts, budget: MemoryBudget = {}): DeviceLimits {
  const mobile = isMobileAgent(facts.userAgent);
  let memoryBudgetBytes: number;
  let memoryBudgetSource: string;
  if (budget.memoryBytes !== undefined) {
    memoryBudgetBytes = budget.memoryBytes;
    memoryBudgetSource = 'budget.memoryBytes';
  } else if (mobile) {
    memoryBudgetBytes = MOBILE_MEMORY_BUDGET;
    memoryBudgetSource = 'the default for a mobile browser';
  } else if (facts.deviceMemoryGiB) {
    memoryBudgetBytes = Math.min(WASM_MAX_BYTES, (facts.deviceMemoryGiB * GiB) / 2);
    memoryBudgetSource = `half of navigator.deviceMemory (${facts.deviceMemoryGiB} GiB)`;
  } else if (facts.totalMemoryBytes) {
    memoryBudgetBytes = Math.min(WASM_MAX_BYTES, facts.totalMemoryBytes / 2);
    memoryBudgetSource = `half of this machine's memory (${(facts.totalMemoryBytes / GiB).toFixed(1)} GiB)`;
  } else {
    memoryBudgetBytes = WASM_MAX_BYTES;
    memoryBudgetSource = 'the wasm32 ceiling';
  }
  return {
    memoryBudgetBytes,
    memoryBudgetSource,
    threads: Math.max(1, facts.threads),
    unifiedMemory: mobile,
    ...(facts.gpu
      ? { gpu: { budgetBytes: gpuBudgetBytes(facts.userAgent, budget), maxBufferBytes: facts.gpu.maxBufferBytes, maxBindingBytes: facts.gpu.maxBindingBytes, ...(facts.gpu.name ? { name: facts.gpu.name } : {}) } }
      : {}),
    ...(!facts.gpu && facts.noGpu !== undefined ? { noGpu: facts.noGpu } : {}),
    ...(facts.storageFreeBytes !== undefined ? { storageFreeBytes: facts.storageFreeBytes } : {}),
  };
}
