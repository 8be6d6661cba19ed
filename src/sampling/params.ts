// The sampling parameters of a request, checked and with llama.cpp's
// defaults filled in: what the chain (chain.ts) and the device pick
// (pick.ts) read.
import { HobError } from '../shared/errors.js';
import type { SamplerName, SamplingParams } from '../shared/types.js';

/** llama.cpp's default order, with TFS and top-A (KoboldCPP's, off by default) where KoboldCPP puts them. */
export const DEFAULT_SAMPLER_ORDER: readonly SamplerName[] = [
  'penalties', 'dry', 'top_k', 'tfs_z', 'typical_p', 'top_p', 'min_p', 'top_a', 'xtc', 'temperature',
];

/** Every field of SamplingParams that shapes the distribution, with llama.cpp's defaults filled in. */
export interface ResolvedSampling {
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  typical_p: number;
  tfs_z: number;
  top_a: number;
  repeat_penalty: number;
  repeat_last_n: number;
  repeat_penalty_slope: number;
  presence_penalty: number;
  frequency_penalty: number;
  dry_multiplier: number;
  dry_base: number;
  dry_allowed_length: number;
  dry_penalty_last_n: number;
  dry_sequence_breakers: string[];
  xtc_probability: number;
  xtc_threshold: number;
  mirostat: 0 | 1 | 2;
  mirostat_tau: number;
  mirostat_eta: number;
  seed: number;
  sampler_order: SamplerName[];
}

export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSampling, 'seed'>> = {
  temperature: 0.8,
  top_k: 40,
  top_p: 0.95,
  min_p: 0.05,
  typical_p: 1,
  tfs_z: 1,
  top_a: 0,
  repeat_penalty: 1,
  repeat_last_n: 64,
  repeat_penalty_slope: 1,
  presence_penalty: 0,
  frequency_penalty: 0,
  dry_multiplier: 0,
  dry_base: 1.75,
  dry_allowed_length: 2,
  dry_penalty_last_n: -1,
  dry_sequence_breakers: ['\n', ':', '"', '*'],
  xtc_probability: 0,
  xtc_threshold: 0.1,
  mirostat: 0,
  mirostat_tau: 5,
  mirostat_eta: 0.1,
  sampler_order: [...DEFAULT_SAMPLER_ORDER],
};

const SAMPLER_NAMES = new Set<string>(DEFAULT_SAMPLER_ORDER);

export function invalid(name: string, value: unknown, why: string): never {
  throw new HobError('argument/invalid', `${name} ${String(value)}: ${why}`, { [name]: String(value) });
}

/** Fills in defaults and checks every value; a bad one is an 'argument/invalid' error naming it. */
export function resolveSampling(p: SamplingParams): ResolvedSampling {
  const r = { ...SAMPLING_DEFAULTS, seed: randomSeed() } as ResolvedSampling;
  const numbers = [
    'temperature', 'top_k', 'top_p', 'min_p', 'typical_p', 'tfs_z', 'top_a', 'repeat_penalty', 'repeat_last_n',
    'repeat_penalty_slope', 'presence_penalty', 'frequency_penalty', 'dry_multiplier', 'dry_base', 'dry_allowed_length',
    'dry_penalty_last_n', 'xtc_probability', 'xtc_threshold', 'mirostat_tau', 'mirostat_eta',
  ] as const;
  for (const k of numbers) {
    const v = p[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) invalid(k, v, 'must be a finite number');
    (r as unknown as Record<string, number>)[k] = v;
  }
  if (r.temperature < 0) r.temperature = 0;
  for (const k of ['top_p', 'min_p', 'typical_p', 'tfs_z', 'top_a', 'xtc_probability'] as const) {
    if (r[k] < 0 || r[k] > 1) invalid(k, r[k], 'must be in [0, 1]');
  }
  if (r.repeat_penalty <= 0) invalid('repeat_penalty', r.repeat_penalty, 'must be positive');
  if (p.mirostat !== undefined && p.mirostat !== null) {
    if (p.mirostat !== 0 && p.mirostat !== 1 && p.mirostat !== 2) invalid('mirostat', p.mirostat, 'must be 0, 1 or 2');
    r.mirostat = p.mirostat;
  }
  if (p.seed !== undefined && p.seed !== null && p.seed !== -1) {
    if (!Number.isInteger(p.seed)) invalid('seed', p.seed, 'must be an integer');
    r.seed = p.seed >>> 0;
  }
  if (p.dry_sequence_breakers) r.dry_sequence_breakers = [...p.dry_sequence_breakers];
  if (p.sampler_order) {
    for (const s of p.sampler_order) if (!SAMPLER_NAMES.has(s)) invalid('sampler_order', s, `unknown sampler (known: ${DEFAULT_SAMPLER_ORDER.join(', ')})`);
    r.sampler_order = [...p.sampler_order];
  }
  return r;
}

function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}
