// Every failure Hob reports is a HobError with a stable `code` and the
// numbers that explain it in `details`. Callers branch on `code`: it survives
// the trip through the worker (see toSerializedError / fromSerializedError),
// where `instanceof` does not.
import { Status } from '../core/api-consts.js';

export type HobErrorCode =
  | 'argument/invalid'
  | 'gguf/bad-magic'
  | 'gguf/bad-version'
  | 'gguf/truncated'
  | 'gguf/invalid'
  | 'model/invalid'
  | 'model/unsupported-type'
  | 'model/unsupported-architecture'
  | 'context/overflow'
  | 'range/out-of-bounds'
  | 'memory/out-of-memory'
  | 'engine/busy'
  | 'request/aborted'
  | 'gpu/unavailable'
  | 'gpu/validation'
  | 'gpu/out-of-memory'
  | 'gpu/device-lost'
  | 'gpu/unsupported-type'
  | 'internal'
  | StoreErrorCode;

export type HobErrorDetails = Record<string, number | string | boolean>;

export class HobError extends Error {
  readonly code: HobErrorCode;
  readonly details: HobErrorDetails;

  constructor(code: HobErrorCode, message: string, details: HobErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** The bytes are not a well-formed GGUF model. */
export class ModelFormatError extends HobError {}
/** A well-formed model that Hob cannot run (architecture, tensor type). */
export class UnsupportedModelError extends HobError {}
/** The tokens do not fit in the context window. */
export class ContextFullError extends HobError {}
/** Another request is running and the caller asked not to wait. */
export class BusyError extends HobError {}
/** The request was cancelled through its AbortSignal. */
export class AbortError extends HobError {}
/** WebGPU failed: no adapter, a validation or out-of-memory error caught in
 * an error scope, a lost device, or a weight type the GPU kernels lack.
 * `details.lost` says whether the device is gone (and must be recreated). */
export class GpuError extends HobError {}

const byStatus: Record<number, [HobErrorCode, typeof HobError]> = {
  [Status.ERR_INVALID_ARGUMENT]: ['argument/invalid', HobError],
  [Status.ERR_GGUF_BAD_MAGIC]: ['gguf/bad-magic', ModelFormatError],
  [Status.ERR_GGUF_BAD_VERSION]: ['gguf/bad-version', ModelFormatError],
  [Status.ERR_GGUF_TRUNCATED]: ['gguf/truncated', ModelFormatError],
  [Status.ERR_GGUF_INVALID]: ['gguf/invalid', ModelFormatError],
  [Status.ERR_MODEL_INVALID]: ['model/invalid', ModelFormatError],
  [Status.ERR_UNSUPPORTED_TYPE]: ['model/unsupported-type', UnsupportedModelError],
  [Status.ERR_UNSUPPORTED_ARCH]: ['model/unsupported-architecture', UnsupportedModelError],
  [Status.ERR_CONTEXT_FULL]: ['context/overflow', ContextFullError],
  [Status.ERR_OUT_OF_RANGE]: ['range/out-of-bounds', HobError],
  [Status.ERR_OUT_OF_MEMORY]: ['memory/out-of-memory', HobError],
};

const byCode = new Map<HobErrorCode, typeof HobError>(Object.values(byStatus).map(([c, k]) => [c, k]));
byCode.set('engine/busy', BusyError);
byCode.set('request/aborted', AbortError);
for (const c of ['gpu/unavailable', 'gpu/validation', 'gpu/out-of-memory', 'gpu/device-lost', 'gpu/unsupported-type'] as const) {
  byCode.set(c, GpuError);
}

/** The error for an engine status code and its message. */
export function errorFromStatus(status: number, message: string, details: HobErrorDetails = {}): HobError {
  const [code, Kind] = byStatus[status] ?? (['internal', HobError] as const);
  return new Kind(code, message, { status, ...details });
}

export interface SerializedError {
  readonly hob: true;
  readonly code: HobErrorCode;
  readonly name: string;
  readonly message: string;
  readonly details: HobErrorDetails;
}

export function toSerializedError(e: HobError): SerializedError {
  return { hob: true, code: e.code, name: e.name, message: e.message, details: e.details };
}

/** Rebuilds the typed error on this side of a worker boundary. */
export function fromSerializedError(s: SerializedError): HobError {
  const Kind = byCode.get(s.code) ?? HobError;
  return new Kind(s.code, s.message, s.details);
}

export function isHobError(e: unknown): e is HobError {
  return e instanceof HobError;
}

// ---------------------------------------------------------------------------
// The model store (src/store): downloads, storage quota and stored chunks.

export type StoreErrorCode =
  | 'store/quota-exceeded'
  | 'store/not-found'
  | 'store/incomplete'
  | 'store/corrupt'
  | 'store/changed-upstream'
  | 'network/http-status'
  | 'network/no-range'
  | 'network/interrupted';

/** The origin's storage cannot hold the model: details.neededBytes and details.freeBytes. */
export class QuotaExceededError extends HobError {}
/** A download failed: an HTTP status (details.status), no Range support, a dropped connection. */
export class NetworkError extends HobError {}
/** A stored model is missing, incomplete, corrupt, or changed on its server while being stored. */
export class StoreError extends HobError {}

for (const [code, Kind] of [
  ['store/quota-exceeded', QuotaExceededError],
  ['store/not-found', StoreError],
  ['store/incomplete', StoreError],
  ['store/corrupt', StoreError],
  ['store/changed-upstream', StoreError],
  ['network/http-status', NetworkError],
  ['network/no-range', NetworkError],
  ['network/interrupted', NetworkError],
] as const) {
  byCode.set(code, Kind);
}
