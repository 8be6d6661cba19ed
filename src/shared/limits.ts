// The ranges of the numbers a caller can give (the CLI's options, the API's
// fields), and the check that names the option and its range. A number past
// its range must be refused, never wrapped: the engine's C API takes int32
// and uint32 values, and a context size of 2^32 + 5 used to become 5.
import { HobError } from './errors.js';

/** The largest int32: counts of tokens and blocks cross the C API as int32. */
export const INT32_MAX = 2 ** 31 - 1;
/** The largest uint32: seeds are uint32, as llama.cpp's. */
export const UINT32_MAX = 2 ** 32 - 1;

/** Throws HobError 'argument/invalid' naming `name` and the range unless `value` is an integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  throw new HobError('argument/invalid', `${name} must be an integer from ${min} to ${max}, got ${describe(value)}`, {
    option: name,
    min,
    max,
    value: describe(value),
  });
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Threads to use for a request of `asked` on a machine with `hardware`
 * threads: more threads than the hardware has only contend with each other
 * (and each is a wasm worker with its own memory), so the count is capped.
 */
export function capThreads(asked: number, hardware: number): { threads: number; capped: boolean } {
  const max = Math.max(1, Math.floor(hardware) || 1);
  return asked > max ? { threads: max, capped: true } : { threads: asked, capped: false };
}
