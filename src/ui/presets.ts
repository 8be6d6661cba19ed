// Sampler presets in the spirit of KoboldCPP's (Lite's) list: a named
// SamplingParams bundle the settings panel applies in one click. Values are
// ours, chosen for small instruct models; unset fields keep llama.cpp's defaults.
import type { SamplingParams } from '../shared/types.js';

export interface SamplerPreset {
  name: string;
  description: string;
  params: SamplingParams;
}

export const SAMPLER_PRESETS: readonly SamplerPreset[] = [
  { name: 'Default', description: "llama.cpp's defaults", params: { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1 } },
  { name: 'Simple Logical', description: 'focused, near-deterministic answers', params: { temperature: 0.25, top_k: 0, top_p: 0.6, min_p: 0, repeat_penalty: 1.01, repeat_last_n: 320 } },
  { name: 'Simple Balanced', description: 'the usual chat setting', params: { temperature: 0.7, top_k: 100, top_p: 0.92, min_p: 0, repeat_penalty: 1.07, repeat_last_n: 320 } },
  { name: 'Simple Creative', description: 'more varied prose', params: { temperature: 1, top_k: 100, top_p: 0.98, min_p: 0, repeat_penalty: 1.03, repeat_last_n: 320 } },
  { name: 'Basic Min-P', description: 'min-p alone does the truncation', params: { temperature: 1, top_k: 0, top_p: 1, min_p: 0.1, repeat_penalty: 1.03, repeat_last_n: 320 } },
  { name: 'Storywriter', description: 'long-form fiction, with DRY against loops', params: { temperature: 0.9, top_k: 0, top_p: 0.95, min_p: 0.05, tfs_z: 0.95, repeat_penalty: 1.05, dry_multiplier: 0.8, dry_base: 1.75, dry_allowed_length: 2 } },
  { name: 'Greedy', description: 'always the most likely token', params: { temperature: 0 } },
];

export function findPreset(name: string | null | undefined): SamplerPreset | undefined {
  return SAMPLER_PRESETS.find((p) => p.name.toLowerCase() === (name ?? '').toLowerCase());
}
