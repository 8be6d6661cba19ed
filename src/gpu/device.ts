// The WebGPU device of the offload: adapter selection, the limits and
// features requested from it, and the error scopes every GPU setup step runs
// in. It does not own buffers or pipelines (weights.ts, kernels/ do).
import { GpuError } from '../shared/errors.js';

export interface GpuCaps {
  hasSubgroups: boolean;
  hasF16: boolean;
  hasTimestamps: boolean;
  maxBindingBytes: number;
  maxBufferBytes: number;
  maxWorkgroupStorageBytes: number;
  adapterName: string;
  /** The device's int8 subgroup-matrix multiply (Dawn's experimental
   * chromium-experimental-subgroup-matrix, behind its unsafe APIs): an
   * i8 x i8 -> i32 config and the one subgroup size it runs at; undefined
   * where the feature, such a config or a fixed subgroup size is missing,
   * or where the compiler refuses the builtins as the kernel spells them. */
  int8Matrix?: Int8MatrixShape;
}

/** An i8 x i8 -> i32 subgroup-matrix config: left M x K, right K x N, result M x N. */
export interface Int8MatrixShape {
  M: number;
  N: number;
  K: number;
  subgroupSize: number;
}

const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;

/** The int8 config matmul_q8_sgmat.wgsl can use, from the adapter's info
 * (Dawn lists subgroupMatrixConfigs there): M and N dividing 64, K dividing
 * 32, and a subgroup size that is fixed and divides 256. */
export function int8MatrixShape(adapter: GPUAdapter, device: GPUDevice): Int8MatrixShape | undefined {
  if (!device.features.has(SUBGROUP_MATRIX)) return undefined;
  const info = (adapter.info ?? {}) as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: Record<string, unknown>[] };
  const sg = info.subgroupMaxSize;
  if (!sg || info.subgroupMinSize !== sg || 256 % sg !== 0) return undefined;
  for (const c of info.subgroupMatrixConfigs ?? []) {
    // The fields are getters on the config's prototype: read each by name.
    const M = Number(c.M);
    const N = Number(c.N);
    const K = Number(c.K);
    const ok = String(c.componentType) === 'i8' && String(c.resultComponentType) === 'i32' &&
      [8, 16, 32, 64].includes(M) && [8, 16, 32, 64].includes(N) && [8, 16, 32].includes(K);
    if (ok) return { M, N, K, subgroupSize: sg };
  }
  return undefined;
}

export interface GpuContext {
  device: GPUDevice;
  caps: GpuCaps;
  /** Resolves on device loss. */
  lost: Promise<GPUDeviceLostInfo>;
  /** Held so they live as long as the device: in Node, Dawn tears down the
   * native instance (and crashes the live device's threads) when the
   * webgpu package's GPU object is garbage-collected. */
  gpu: GPU;
  adapter: GPUAdapter;
}

// Limits raised to what the adapter offers: the defaults (128 MiB bindings,
// 256 MiB buffers, 16 KiB workgroup memory) would split or refuse weights
// and tiles a real GPU holds easily.
const raisedLimits = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

function adapterName(adapter: GPUAdapter): string {
  const info = adapter.info;
  if (!info) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  return parts.length > 0 ? parts.join(' ') : 'unknown adapter';
}

/** What the fit check needs of an adapter: its buffer limits and name. */
export interface AdapterLimits {
  maxBufferBytes: number;
  maxBindingBytes: number;
  name: string;
}

/** The limits of the adapter `gpu` offers, without creating a device (the
 * device requestGpu makes gets the same: it asks for the adapter's limits). */
export async function adapterLimits(gpu: GPU, powerPreference?: GPUPowerPreference): Promise<AdapterLimits> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : {});
  } catch (e) {
    throw new GpuError('gpu/unavailable', `requesting a WebGPU adapter failed: ${(e as Error).message}`, { lost: false });
  }
  if (!adapter) throw new GpuError('gpu/unavailable', 'no WebGPU adapter was found', { lost: false });
  return { maxBufferBytes: adapter.limits.maxBufferSize, maxBindingBytes: adapter.limits.maxStorageBufferBindingSize, name: adapterName(adapter) };
}

/** Requests a device with the adapter's real limits and the helpful
 * features it has (subgroups, shader-f16, timestamp-query). `gpu` defaults
 * to navigator.gpu; Node passes the webgpu package's object. */
export async function requestGpu(opts: { gpu?: GPU; powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) throw new GpuError('gpu/unavailable', 'WebGPU is not available here (no navigator.gpu)', { lost: false });
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
  } catch (e) {
    throw new GpuError('gpu/unavailable', `requesting a WebGPU adapter failed: ${(e as Error).message}`, { lost: false });
  }
  if (!adapter) throw new GpuError('gpu/unavailable', 'no WebGPU adapter was found', { lost: false });

  // The subgroup-matrix feature is offered only by a Dawn instance made with
  // its unsafe APIs allowed (node-device.ts: HOB_DAWN_UNSAFE_APIS).
  const wanted: GPUFeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query', SUBGROUP_MATRIX];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const k of raisedLimits) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'hob' });
  } catch (e) {
    throw new GpuError('gpu/unavailable', `requesting a WebGPU device failed: ${(e as Error).message}`, { lost: false });
  }
  let int8Matrix = int8MatrixShape(adapter, device);
  if (int8Matrix && !(await int8MatrixCompiles(device, int8Matrix))) int8Matrix = undefined;
  const caps: GpuCaps = {
    hasSubgroups: device.features.has('subgroups'),
    hasF16: device.features.has('shader-f16'),
    hasTimestamps: device.features.has('timestamp-query'),
    maxBindingBytes: device.limits.maxStorageBufferBindingSize,
    maxBufferBytes: device.limits.maxBufferSize,
    maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
    adapterName: adapterName(adapter),
    int8Matrix,
  };
  return { device, caps, lost: device.lost, gpu, adapter };
}

/** Whether the WGSL compiler takes the builtins matmul_q8_sgmat.wgsl uses,
 * spelled as it spells them, for this shape: experimental builtins have
 * changed spelling between Dawn releases, and a prefill that fails to
 * compile would be worse than the slower kernel. */
async function int8MatrixCompiles(device: GPUDevice, m: Int8MatrixShape): Promise<boolean> {
  // Two subgroups, each at an offset from its subgroup_id, as the kernel.
  const code = `enable subgroups;
enable chromium_experimental_subgroup_matrix;
requires subgroup_id;
var<workgroup> a: array<i32, ${(m.M * m.K + m.K * m.N) / 2}>;
var<workgroup> r: array<i32, ${2 * m.M * m.N}>;
@compute @workgroup_size(${2 * m.subgroupSize})
fn main(@builtin(subgroup_id) sg: u32) {
  let base = min(sg, 1u) * ${(m.M * m.K + m.K * m.N) / 4}u;
  let left = subgroupMatrixLoad<subgroup_matrix_left<i8, ${m.K}, ${m.M}>, row_major>(&a, base, ${m.K / 4}u);
  let right = subgroupMatrixLoad<subgroup_matrix_right<i8, ${m.N}, ${m.K}>, col_major>(&a, base + ${(m.M * m.K) / 4}u, ${m.K / 4}u);
  let d = subgroupMatrixMultiplyAccumulate(left, right, subgroup_matrix_result<i32, ${m.N}, ${m.M}>());
  subgroupMatrixStore<row_major>(&r, min(sg, 1u) * ${m.M * m.N}u, d, ${m.N}u);
}`;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: 'int8 subgroup matrix probe', code });
  const info = await module.getCompilationInfo();
  const error = await device.popErrorScope();
  return !error && !info.messages.some((msg) => msg.type === 'error');
}

/** Runs fn inside validation and out-of-memory error scopes and throws a
 * GpuError if either caught something. Only what fn does synchronously is
 * covered: the scopes are popped as soon as it returns. */
export async function withErrorScopes<T>(device: GPUDevice, what: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = fn();
  } finally {
    // Scopes pop in reverse order; both must be popped even when fn threw.
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    const [v, o] = await Promise.all([validation, oom]);
    if (o) throw new GpuError('gpu/out-of-memory', `${what}: out of GPU memory: ${o.message}`, { lost: false });
    if (v) throw new GpuError('gpu/validation', `${what}: WebGPU validation error: ${v.message}`, { lost: false });
  }
  return result;
}

/** The typed error for a lost device, for callers awaiting ctx.lost. */
export function deviceLostError(info: GPUDeviceLostInfo): GpuError {
  return new GpuError('gpu/device-lost', `the GPU device was lost (${info.reason}): ${info.message}`, {
    lost: true,
    reason: String(info.reason),
  });
}
