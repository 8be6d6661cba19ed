// Triggers of a lazy grammar (llama.cpp's trigger_patterns / trigger_tokens,
// and common's word/pattern/pattern_full trigger types). llama.cpp searches
// its std::regex (ECMAScript) over the generated *bytes*; here a pattern runs
// as a JS RegExp over the bytes as a latin1 string, so byte offsets and
// multi-byte literals agree, and \s / \S are narrowed to the C locale's six
// space bytes (JS would count 0xA0, a UTF-8 continuation byte, as a space).
import { GrammarError } from '../../shared/errors.js';

export type GrammarTrigger =
  /** Plain text anywhere in the output (escaped into a pattern, as common does). */
  | { readonly type: 'word'; readonly value: string }
  /** A regular expression searched anywhere in the output; the grammar takes
   *  the text from its first non-empty capture group (else from the match). */
  | { readonly type: 'pattern'; readonly value: string }
  /** A regular expression that must match the whole output (anchored). */
  | { readonly type: 'pattern_full'; readonly value: string }
  /** A token id; the grammar takes the text from that token on. */
  | { readonly type: 'token'; readonly token: number };

/** common's regex_escape. */
export function escapeRegex(s: string): string {
  return s.replace(/[.^$|()*+?[\]{}\\]/g, '\\$&');
}

/** The bytes of a string as a latin1 string (one char per byte). */
export function bytesToLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

export function latin1ToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A pattern written for std::regex over UTF-8 bytes, rewritten for a JS
 *  RegExp over a latin1 string of those bytes. */
function translate(pattern: string): string {
  const p = bytesToLatin1(new TextEncoder().encode(pattern));
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i];
    if (ch === '\\' && i + 1 < p.length) {
      const nx = p[++i];
      if (nx === 's') out += inClass ? '\\t\\n\\v\\f\\r ' : '[\\t\\n\\v\\f\\r ]';
      else if (nx === 'S') out += inClass ? '\\x00-\\x08\\x0e-\\x1f\\x21-\\xff' : '[^\\t\\n\\v\\f\\r ]';
      else out += ch + nx;
      continue;
    }
    if (ch === '[' && !inClass) inClass = true;
    else if (ch === ']' && inClass) inClass = false;
    out += ch;
  }
  return out;
}

/** One trigger pattern: llama_grammar_trigger_pattern. */
export class TriggerPattern {
  private readonly search: RegExp;
  private readonly whole: RegExp | undefined;

  constructor(readonly pattern: string) {
    const js = translate(pattern);
    try {
      this.search = new RegExp(js, 'd');
      this.whole = pattern.startsWith('^') && pattern.endsWith('$') ? new RegExp(`^(?:${js})$`, 'd') : undefined;
    } catch (e) {
      throw new GrammarError('grammar/parse', `lazy grammar trigger ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`, {
        line: 0, column: 0, expected: 'a regular expression', found: pattern,
      });
    }
  }

  /** Where the grammar starts in `buffer` (latin1 bytes), or -1. A pattern
   *  anchored at both ends must match the whole buffer first; otherwise,
   *  or failing that, it is searched anywhere. */
  find(buffer: string): number {
    const m = (this.whole && this.whole.exec(buffer)) || this.search.exec(buffer);
    if (!m) return -1;
    for (let i = 1; i < m.length; i++) if (m[i] !== undefined && m[i].length > 0) return m.indices![i]![0];
    return m.index;
  }
}

/** The patterns of a trigger list (words escaped, full patterns anchored, as
 *  common_sampler_init builds them), in order. */
export function triggerPatterns(triggers: readonly GrammarTrigger[]): TriggerPattern[] {
  const out: TriggerPattern[] = [];
  for (const t of triggers) {
    if (t.type === 'word') out.push(new TriggerPattern(escapeRegex(t.value)));
    else if (t.type === 'pattern') out.push(new TriggerPattern(t.value));
    else if (t.type === 'pattern_full') {
      const v = t.value;
      out.push(new TriggerPattern(v === '' ? '^$' : (v.startsWith('^') ? '' : '^') + v + (v.endsWith('$') ? '' : '$')));
    }
  }
  return out;
}
