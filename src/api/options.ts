// The checks the public API makes before anything reaches the worker: the
// engine's options and each request's fields, by type and by their real
// range, each failure a HobError 'argument/invalid' naming the field. (A
// number past int32 used to wrap in the wasm call, and a field of the wrong
// type surfaced as a raw TypeError from deep inside generation.)
import { HobError } from '../shared/errors.js';
import { capThreads, checkInteger, INT32_MAX, UINT32_MAX } from '../shared/limits.js';
import type { CreateEngineOptions, SamplingParams } from '../shared/types.js';

type EngineNumbers = Pick<CreateEngineOptions, 'contextSize' | 'threads' | 'gpuLayers' | 'contextShift'>;

/**
 * Checks createEngine's numbers; returns the options with `threads` capped
 * at `hardwareThreads` (EngineInfo.threads then says what is used).
 */
export function checkEngineOptions<O extends EngineNumbers>(opts: O, hardwareThreads: number): O {
  if (opts.contextSize !== undefined) checkInteger('contextSize', opts.contextSize, 1, INT32_MAX);
  if (opts.gpuLayers !== undefined && opts.gpuLayers !== 'auto') checkInteger("gpuLayers (or 'auto')", opts.gpuLayers, 0, INT32_MAX);
  const cs = opts.contextShift;
  if (cs) {
    if (cs.nKeep !== undefined) checkInteger('contextShift.nKeep', cs.nKeep, 0, INT32_MAX);
    if (cs.nDiscard !== undefined) checkInteger('contextShift.nDiscard', cs.nDiscard, 1, INT32_MAX);
  }
  if (opts.threads === undefined) return opts;
  const threads = capThreads(checkInteger('threads', opts.threads, 1, INT32_MAX), hardwareThreads).threads;
  return { ...opts, threads };
}

const INTEGER_FIELDS: readonly [keyof SamplingParams | 'max_tokens', number, number][] = [
  ['max_tokens', 0, INT32_MAX],
  ['top_k', 0, INT32_MAX],
  ['repeat_last_n', -1, INT32_MAX],
  ['dry_allowed_length', 0, INT32_MAX],
  ['dry_penalty_last_n', -1, INT32_MAX],
];

const STRING_LISTS = ['banned_strings', 'dry_sequence_breakers'] as const;

function invalid(field: string, why: string, value: unknown): HobError {
  return new HobError('argument/invalid', `${field} ${why}, got ${JSON.stringify(value) ?? String(value)}`, { option: field });
}

/** Checks the fields of a chat or text completion request that the worker's own checks do not type. */
export function checkRequest(req: SamplingParams & { max_tokens?: number; session?: string }): void {
  if (req.session !== undefined && req.session !== null && (typeof req.session !== 'string' || req.session.length === 0 || req.session.length > 256)) {
    throw invalid('session', 'must be a saved session name of 1 to 256 characters', req.session);
  }
  for (const [field, min, max] of INTEGER_FIELDS) {
    const v = req[field];
    if (v !== undefined && v !== null) checkInteger(field, v, min, max);
  }
  if (req.seed !== undefined && req.seed !== null && req.seed !== -1) checkInteger('seed (or -1)', req.seed, 0, UINT32_MAX);
  const stop = req.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) {
    throw invalid('stop', 'must be a string or an array of strings', stop);
  }
  for (const field of STRING_LISTS) {
    const v = req[field];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
      throw invalid(field, 'must be an array of strings', v);
    }
  }
  if (req.banned_tokens !== undefined && req.banned_tokens !== null && !Array.isArray(req.banned_tokens)) {
    throw invalid('banned_tokens', 'must be an array of token ids', req.banned_tokens);
  }
  if (req.sampler_order !== undefined && req.sampler_order !== null && !Array.isArray(req.sampler_order)) {
    throw invalid('sampler_order', 'must be an array of sampler names', req.sampler_order);
  }
  const bias = req.logit_bias;
  if (bias !== undefined && bias !== null && (typeof bias !== 'object' || Array.isArray(bias))) {
    throw invalid('logit_bias', 'must be an object of token id to bias', bias);
  }
}
