// How a recorded step reaches the GPU: the checks every kernel makes on its
// buffers and token counts before anything is dispatched (a bad size is a
// typed error with the numbers, never a read out of bounds), the workgroup
// grid within the device's per-dimension limit, and the one dispatch helper.
import { HobError } from '../../shared/errors.js';
import type { Step } from './types.js';

export function outOfBounds(message: string, details: Record<string, number>): HobError {
  return new HobError('range/out-of-bounds', message, details);
}

export function checkInt(label: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new HobError('argument/invalid', `${label}: ${name} must be an integer >= ${min}, got ${v}`, { [name]: v });
}

/** Rows of `rowBytes` a buffer holds; throws if not even one. */
export function rowsIn(label: string, what: string, buffer: GPUBuffer, rowBytes: number): number {
  const rows = Math.floor(buffer.size / rowBytes);
  if (rows < 1) {
    throw outOfBounds(`${label}: ${what} holds ${buffer.size} bytes, less than one row of ${rowBytes}`, {
      sizeBytes: buffer.size,
      rowBytes,
    });
  }
  return rows;
}

export function needBytes(label: string, what: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) {
    throw outOfBounds(`${label}: ${what} holds ${buffer.size} bytes, needs ${bytes}`, { sizeBytes: buffer.size, needBytes: bytes });
  }
}

export function checkTokens(label: string, nTokens: number, maxRows: number): void {
  if (!Number.isInteger(nTokens) || nTokens < 0 || nTokens > maxRows) {
    throw outOfBounds(`${label}: ${nTokens} tokens do not fit the ${maxRows} rows its buffers hold`, { nTokens, maxRows });
  }
}

/** The device's maxComputeWorkgroupsPerDimension (or a lower limit a test
 * sets) and the grids that respect it. */
export class WorkgroupLimit {
  constructor(readonly maxPerDim: number) {}

  /** n workgroups along one dimension; throws if the limit forbids them. */
  dim(label: string, n: number): number {
    if (n > this.maxPerDim) throw outOfBounds(`${label}: ${n} workgroups exceed the ${this.maxPerDim} a dimension allows`, { workgroups: n });
    return n;
  }

  /** A 1D count of workgroups as an (x, y) grid within the per-dimension
   * limit; kernels flatten it back with flat_workgroup and bound-check. */
  grid(label: string, n: number): [number, number] {
    if (n <= this.maxPerDim) return [n, 1];
    const y = Math.ceil(n / this.maxPerDim);
    return [Math.ceil(n / y), this.dim(label, y)];
  }
}

/** Runs `pipeline` over an (x, y, z) grid with `group` as bind group 0.
 * Every kernel dispatches through here but matmul, whose parts of a weight
 * split over bindings share one pipeline set once. */
export function dispatch(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, group: GPUBindGroup, x: number, y = 1, z = 1): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
}

/** The Step of a kernel with one pipeline and one bind group over
 * `workgroups(nTokens)` workgroups, laid out as a grid within `limit`:
 * nTokens is checked against the maxRows its buffers hold, and an empty
 * batch dispatches nothing. */
export function gridStep(label: string, limit: WorkgroupLimit, maxRows: number, pipeline: GPUComputePipeline, group: GPUBindGroup, workgroups: (nTokens: number) => number): Step {
  return {
    label,
    encode: (pass, nTokens) => {
      checkTokens(label, nTokens, maxRows);
      if (nTokens === 0) return;
      const [gx, gy] = limit.grid(label, workgroups(nTokens));
      dispatch(pass, pipeline, group, gx, gy);
    },
  };
}
