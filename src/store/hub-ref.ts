// hf: names without the Hub: telling one from a URL or a path and parsing
// it, apart from hub.ts (listing and picking files) so that a page's entry
// can tell an hf: name without loading the Hub's code, which it imports when
// it needs it.
import { HobError } from '../shared/errors.js';

/** A parsed hf: reference. */
export interface HubRef {
  /** OWNER/REPO. */
  repo: string;
  /** A branch, tag or commit (default 'main'). */
  revision: string;
  /** The quant asked for (hf:OWNER/REPO:QUANT). */
  quant?: string;
  /** The file asked for (hf:OWNER/REPO/PATH.gguf). */
  file?: string;
}

const REF = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w./-]+?))?(?::([\w.-]+)|\/(.+\.gguf))?$/i;

/** Whether a model string names a Hugging Face model (hf:…). */
export function isHubRef(model: string): boolean {
  return /^hf:/i.test(model);
}

/** The hf: name a model input carries (a string, or { url }), if it is one. */
export function hubNameOf(model: unknown): string | undefined {
  const text = typeof model === 'string' ? model : model && typeof model === 'object' && 'url' in model && typeof model.url === 'string' ? model.url : undefined;
  return text !== undefined && isHubRef(text) ? text : undefined;
}

/** Parses `hf:OWNER/REPO[@REVISION][:QUANT]` or `hf:OWNER/REPO[@REVISION]/PATH.gguf`. */
export function parseHubRef(s: string): HubRef {
  const m = REF.exec(s.trim());
  if (!m || m[1].includes('..') || (m[4] !== undefined && m[4].split('/').some((p) => p === '' || p === '..'))) {
    throw new HobError('argument/invalid', `"${s}" is not a Hugging Face model: write hf:OWNER/REPO, hf:OWNER/REPO:QUANT or hf:OWNER/REPO/FILE.gguf`, {
      model: s,
    });
  }
  return { repo: m[1], revision: m[2] ?? 'main', ...(m[3] ? { quant: m[3] } : {}), ...(m[4] ? { file: m[4] } : {}) };
}
