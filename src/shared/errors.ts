// Every failure Hob reports is a HobError with a stable `code` and the
// numbers that explain it in `details`. Callers branch on `code`: it survives
// the trip through the worker (see toSerializedError / fromSerializedError),
// where `instanceof` does not. This file depends on nothing else in Hob:
// every layer imports it (the engine's status codes map onto these codes in
// src/core/status.ts).
export type HobErrorCode =
  | 'argument/invalid'
  | 'gguf/bad-magic'
  | 'gguf/bad-version'
  | 'gguf/truncated'
  | 'gguf/invalid'
  | 'model/invalid'
  | 'model/unsupported-type'
  | 'model/unsupported-architecture'
  | 'model/vocab-only'
  | 'model/unsupported-task'
  | 'model/too-large'
  | 'context/overflow'
  | 'range/out-of-bounds'
  | 'memory/out-of-memory'
  | 'engine/busy'
  | 'engine/closed'
  | 'engine/moved'
  | 'request/aborted'
  | 'gpu/unavailable'
  | 'gpu/validation'
  | 'gpu/out-of-memory'
  | 'gpu/device-lost'
  | 'gpu/unsupported-type'
  | 'grammar/parse'
  | 'grammar/schema'
  | 'grammar/limit'
  | 'grammar/rejected'
  | 'template/error'
  | 'template/limit'
  | 'session/mismatch'
  | 'session/invalid'
  | 'session/unsupported'
  | 'image/unsupported'
  | 'image/invalid'
  | 'image/too-large'
  | 'internal'
  | StoreErrorCode
  | HubErrorCode;

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
/** A well-formed model that Hob cannot run (architecture, tensor type), or
 * cannot use as asked ('model/unsupported-task', details.task: embeddings
 * of a model with no pooling, rerank without a classifier head, text from
 * an embedding model). */
export class UnsupportedModelError extends HobError {}
/** The model cannot run on this device with these settings, found before
 * its weights were downloaded or loaded ('model/too-large'). `details` holds
 * the numbers: neededBytes and limitBytes of the first limit exceeded and
 * its name (limit: 'wasm-heap', 'memory-budget', 'gpu-budget',
 * 'gpu-buffer', 'storage'), and, when smaller settings fit,
 * suggestedGpuLayers and suggestedContextSize. The whole report is
 * checkFit's (FitReport). */
export class ModelTooLargeError extends HobError {}
/** The tokens do not fit in the context window. */
export class ContextFullError extends HobError {}
/** Another request is running and the caller asked not to wait. */
export class BusyError extends HobError {}
/** The engine was unloaded, or its worker stopped: no call can run on it any more. */
export class EngineClosedError extends HobError {}
/** A shared engine's host tab closed or reloaded while the request ran:
 * another tab hosts the engine now (or soon). Nothing ran to completion;
 * the same request can be sent again (details.retryable is true). */
export class EngineMovedError extends HobError {}
/** A saved session that cannot be restored here: it was saved with another
 * model, context size, layer count or cache type ('session/mismatch',
 * details.field, details.saved, details.current), or its bytes are not a
 * session this version reads ('session/invalid', details.offset); or a
 * cache that cannot be saved: one holding images ('session/unsupported'). */
export class SessionError extends HobError {}
/** An image the engine cannot take: a text-only engine given one
 * ('image/unsupported'), bytes that are no image Hob decodes
 * ('image/invalid', details.format names what they are), or an image over
 * the caps on its bytes or pixels ('image/too-large', details.limit). */
export class ImageError extends HobError {}
/** The request was cancelled through its AbortSignal. */
export class AbortError extends HobError {}
/** WebGPU failed: no adapter, a validation or out-of-memory error caught in
 * an error scope, a lost device, or a weight type the GPU kernels lack.
 * `details.lost` says whether the device is gone (and must be recreated). */
export class GpuError extends HobError {}
/** A grammar (GBNF) or JSON schema that cannot constrain output: a syntax
 * error with details.line and details.column ('grammar/parse'), a schema
 * keyword Hob does not support ('grammar/schema'), a grammar whose
 * matching outgrew its budget ('grammar/limit'), or a token the grammar does
 * not allow fed to it anyway, or a lazy grammar's trigger followed by text
 * the grammar rejects ('grammar/rejected', details.token). */
export class GrammarError extends HobError {}
/** A chat template failed: it raised an exception or could not render
 * ('template/error'), or it ran past its budget of steps, output, depth or
 * time ('template/limit'). */
export class TemplateError extends HobError {}

/** Every code and the class its errors have on this side of a worker boundary. */
const byCode = new Map<HobErrorCode, typeof HobError>();

function register(Kind: typeof HobError, codes: readonly HobErrorCode[]): void {
  for (const c of codes) byCode.set(c, Kind);
}
register(ModelFormatError, ['gguf/bad-magic', 'gguf/bad-version', 'gguf/truncated', 'gguf/invalid', 'model/invalid']);
register(UnsupportedModelError, ['model/unsupported-type', 'model/unsupported-architecture', 'model/unsupported-task']);
register(ModelTooLargeError, ['model/too-large']);
register(ContextFullError, ['context/overflow']);
register(BusyError, ['engine/busy']);
register(EngineClosedError, ['engine/closed']);
register(EngineMovedError, ['engine/moved']);
register(SessionError, ['session/mismatch', 'session/invalid', 'session/unsupported']);
register(ImageError, ['image/unsupported', 'image/invalid', 'image/too-large']);
register(AbortError, ['request/aborted']);
register(GpuError, ['gpu/unavailable', 'gpu/validation', 'gpu/out-of-memory', 'gpu/device-lost', 'gpu/unsupported-type']);
register(GrammarError, ['grammar/parse', 'grammar/schema', 'grammar/limit', 'grammar/rejected']);
register(TemplateError, ['template/error', 'template/limit']);

/** The class of errors with this code (HobError for codes without their own). */
export function errorClassOf(code: HobErrorCode): typeof HobError {
  return byCode.get(code) ?? HobError;
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
  const Kind = errorClassOf(s.code);
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
  | 'store/write-failed'
  | 'network/http-status'
  | 'network/no-range'
  | 'network/interrupted'
  | 'network/timeout';

/** The origin's storage cannot hold the model: details.neededBytes and details.freeBytes. */
export class QuotaExceededError extends HobError {}
/** A download failed: an HTTP status (details.status), no Range support, a dropped connection, or a server that sent nothing for too long ('network/timeout', details.idleTimeoutMs). */
export class NetworkError extends HobError {}
/** A stored model is missing, incomplete, corrupt, or changed on its server while being stored. */
export class StoreError extends HobError {}

register(QuotaExceededError, ['store/quota-exceeded']);
register(StoreError, ['store/not-found', 'store/incomplete', 'store/corrupt', 'store/changed-upstream', 'store/write-failed']);
register(NetworkError, ['network/http-status', 'network/no-range', 'network/interrupted', 'network/timeout']);

// ---------------------------------------------------------------------------
// Models by name on Hugging Face (src/store/hub.ts).

export type HubErrorCode = 'hub/repo-not-found' | 'hub/no-gguf' | 'hub/quant-not-found' | 'hub/file-not-found';

/** An hf: model could not be resolved: the repository does not exist (or
 * is private or gated), holds no GGUF model, has no file of the quant asked
 * for (details.available lists those it has) or not the file named. */
export class HubError extends HobError {}

register(HubError, ['hub/repo-not-found', 'hub/no-gguf', 'hub/quant-not-found', 'hub/file-not-found']);
