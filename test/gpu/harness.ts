// What every GPU op test needs, in Node and in the browser alike: seeded
// random data, GGUF bytes of each weight type, f16 conversions, error
// measures, and buffers in and out of the GPU with every WebGPU error turned
// into a test failure. No Node-only imports here.
import { withErrorScopes, type GpuContext } from '../../src/gpu/device.js';
import { FRAME_BYTES, Kernels, type Step } from '../../src/gpu/kernels/index.js';
import type { CpuOps } from './cpu-ops.js';

export interface GpuTestEnv {
  ctx: GpuContext;
  kernels: Kernels;
  cpu: CpuOps;
  /** Errors no scope caught, collected from the device's uncapturederror. */
  uncaptured: string[];
  /** Measured figures, printed by the runner. */
  report(line: string): void;
  /** Fewer shapes of the costliest cases: the browser suite, whose adapter
   * is the SwiftShader the Node suite already ran every shape on; what the
   * browser adds is its own shader compiler, and on SwiftShader compiling a
   * pipeline costs seconds where running it costs milliseconds. */
  brief?: boolean;
}

/** Listens for uncaptured errors on the device; the runners fail a test that
 * leaves any behind. */
export function watchUncaptured(device: GPUDevice): string[] {
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
  return errors;
}

// ---- checks -----------------------------------------------------------------------

export function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Normalized mean squared error sum((a - b)^2) / sum(b^2) of a against the
 * reference b; NaN anywhere makes it Infinity. */
export function nmse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  check(a.length === b.length, `lengths differ: ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

export function checkNmse(what: string, got: ArrayLike<number>, want: ArrayLike<number>, max: number): number {
  const e = nmse(got, want);
  check(e <= max, `${what}: NMSE ${e.toExponential(2)} exceeds ${max.toExponential(0)}`);
  return e;
}

export function checkEqual(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  check(got.length === want.length, `${what}: lengths differ (${got.length} vs ${want.length})`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** Runs fn and returns the HobError-like object it throws (code, details). */
export function catchError(fn: () => unknown): { code?: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected an error, none was thrown');
}

// ---- random data ------------------------------------------------------------------

/** A seeded generator (mulberry32) with uniform and normal draws. */
export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  floats(n: number, scale = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.normal() * scale;
    return a;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

// ---- halves -----------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> f16 bits, rounding to nearest even (as cpp/common.h). */
export function f16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    f32[0] = Math.fround(Math.abs(v)) + 0.5;
    return sign | ((u32[0] - 0x3f000000) & 0xffff);
  }
  return sign | (((abs + 0xc8000fff + ((abs >>> 13) & 1)) >>> 13) & 0xffff);
}

export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---- GGUF weight bytes --------------------------------------------------------------

export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export const weightTypes = [
  ['f32', GGML.F32],
  ['f16', GGML.F16],
  ['bf16', GGML.BF16],
  ['q8_0', GGML.Q8_0],
  ['q4_0', GGML.Q4_0],
] as const;

/** Random GGUF bytes of a rows x cols weight of a GGUF type, values of
 * about unit size (quant scales drawn so that q * d is). */
export function randomWeightBytes(rng: Rng, type: number, rows: number, cols: number): Uint8Array {
  const n = rows * cols;
  if (type === GGML.F32) return new Uint8Array(rng.floats(n).buffer);
  if (type === GGML.F16 || type === GGML.BF16) {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const v = rng.normal();
      if (type === GGML.F16) h[i] = f16Bits(v);
      else {
        f32[0] = v;
        h[i] = u32[0] >>> 16;
      }
    }
    return new Uint8Array(h.buffer);
  }
  const qs = type === GGML.Q8_0 ? 32 : 16;
  const blocks = n / 32;
  const out = new Uint8Array(blocks * (2 + qs));
  const dv = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const o = b * (2 + qs);
    dv.setUint16(o, f16Bits((type === GGML.Q8_0 ? 1 / 64 : 1 / 4) * (0.5 + rng.next())), true);
    for (let j = 0; j < qs; j++) out[o + 2 + j] = rng.int(0, 255);
  }
  return out;
}

// ---- buffers -----------------------------------------------------------------------

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer holding `data` (or `sizeBytes` zeros). */
export function createTestBuffer(ctx: GpuContext, data: ArrayBufferView | number, label = 'test'): GPUBuffer {
  const size = typeof data === 'number' ? data : data.byteLength;
  const buffer = ctx.device.createBuffer({ label, size: Math.max(4, Math.ceil(size / 4) * 4), usage: STORAGE() });
  if (typeof data !== 'number') ctx.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

export function createFrameBuffer(ctx: GpuContext): GPUBuffer {
  return ctx.device.createBuffer({ label: 'frame', size: FRAME_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
}

export function writeFrame(ctx: GpuContext, frame: GPUBuffer, nTokens: number, cell0: number): void {
  ctx.device.queue.writeBuffer(frame, 0, new Uint32Array([nTokens, cell0, cell0 + nTokens, 0]));
}

/** Encodes steps in one compute pass for a frame and submits, inside error
 * scopes: a validation or out-of-memory error fails the caller. */
export async function runSteps(ctx: GpuContext, frame: GPUBuffer, steps: Step[], nTokens: number, cell0 = 0): Promise<void> {
  writeFrame(ctx, frame, nTokens, cell0);
  await withErrorScopes(ctx.device, steps.map((s) => s.label).join(', '), () => {
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const s of steps) s.encode(pass, nTokens);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
  });
}

export async function readBytes(ctx: GpuContext, buffer: GPUBuffer, sizeBytes = buffer.size): Promise<ArrayBuffer> {
  const size = Math.ceil(sizeBytes / 4) * 4;
  const staging = ctx.device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = ctx.device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  ctx.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, sizeBytes);
  staging.unmap();
  staging.destroy();
  return out;
}

export async function readF32(ctx: GpuContext, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await readBytes(ctx, buffer, n * 4));
}

export async function readU16(ctx: GpuContext, buffer: GPUBuffer, n: number): Promise<Uint16Array> {
  return new Uint16Array(await readBytes(ctx, buffer, n * 2));
}
