// The engine's C status codes (cpp/api.h) as typed errors: the one place
// where a hob_status becomes a HobError code.
import { errorClassOf, type HobError, type HobErrorCode, type HobErrorDetails } from '../shared/errors.js';
import { Status } from './c-api.js';

const codeOf: Record<number, HobErrorCode> = {
  [Status.ERR_INVALID_ARGUMENT]: 'argument/invalid',
  [Status.ERR_GGUF_BAD_MAGIC]: 'gguf/bad-magic',
  [Status.ERR_GGUF_BAD_VERSION]: 'gguf/bad-version',
  [Status.ERR_GGUF_TRUNCATED]: 'gguf/truncated',
  [Status.ERR_GGUF_INVALID]: 'gguf/invalid',
  [Status.ERR_MODEL_INVALID]: 'model/invalid',
  [Status.ERR_UNSUPPORTED_TYPE]: 'model/unsupported-type',
  [Status.ERR_UNSUPPORTED_ARCH]: 'model/unsupported-architecture',
  [Status.ERR_CONTEXT_FULL]: 'context/overflow',
  [Status.ERR_OUT_OF_RANGE]: 'range/out-of-bounds',
  [Status.ERR_OUT_OF_MEMORY]: 'memory/out-of-memory',
  [Status.ERR_VOCAB_ONLY]: 'model/vocab-only',
};

/** The error for an engine status code and its message. */
export function errorFromStatus(status: number, message: string, details: HobErrorDetails = {}): HobError {
  const code = codeOf[status] ?? 'internal';
  const Kind = errorClassOf(code);
  return new Kind(code, message, { status, ...details });
}
