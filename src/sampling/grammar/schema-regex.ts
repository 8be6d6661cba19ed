// A JSON schema's `pattern` as a GBNF rule: the regular-expression subset
// llama.cpp's converter handles, read the same way and written as the same
// text where its grammar is right. It does not evaluate regexes, and it owns
// no rules: it adds them through PatternHost.
//
// The rule matches the JSON string (quotes and escapes), while the pattern
// speaks of the decoded string. llama.cpp writes pattern characters raw
// between the quotes, so a pattern that can match `"`, `\` or a control
// character (`.`, `[^a]`, `[ -~]`, `\n`, `"`) lets a model write invalid JSON
// or a string other than the one it matched. Here those characters are
// written as their JSON escapes instead (`\"`, `\\`, `\n`, ...); `.` and
// negated classes accept them escaped and nothing else raw. This is where
// the text differs from llama.cpp's, along with:
//   - `\d`, `\w`, `\s` (and their negations), `\/`, `\-` and other escaped
//     punctuation are supported (llama.cpp falls back to any string);
//   - a quantifier after an escape (`ab\.*`) applies to that one character
//     (llama.cpp repeats the whole run `ab.`);
//   - lazy quantifiers (`x+?`) match what they match greedily (llama.cpp
//     writes `x+?`, which GBNF reads as `(x+)?`, admitting the empty string);
//   - characters beyond U+FFFF are read as one character.
// Anything else llama.cpp cannot convert is an error here, where llama.cpp
// silently accepts any string: an unanchored pattern, `^`/`$` inside it,
// lookaround, backreferences, named groups, Unicode property escapes.
import { GrammarError, type HobErrorDetails } from '../../shared/errors.js';
import { buildRepetition } from './schema-rules.js';

/** What the pattern converter needs from the converter that calls it. */
export interface PatternHost {
  /** Adds a rule (or finds the same one); returns its name. */
  addRule(name: string, body: string): string;
  /** Accounts for a counted repetition the grammar parser will expand:
   * `count` copies of an item of `weight` symbols. Throws past a limit. */
  chargeRepetition(count: number, weight: number, pointer: string): void;
  readonly maxRepetition: number;
  readonly maxPatternLength: number;
  readonly maxPatternDepth: number;
}

/** The rule's name, and the range of lengths (in decoded characters) of
 * the strings it matches (maxLength may be Infinity). */
export interface PatternRule {
  readonly rule: string;
  readonly minLength: number;
  readonly maxLength: number;
}

type Range = [number, number];

const MAX_CODE_POINT = 0x10ffff;
/** Characters a JSON string must escape: the quote, the backslash, C0 controls. */
const JSON_SPECIAL: Range[] = [
  [0x00, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
];
/** The escapes `\x` of JSON strings, by the character they stand for. */
const JSON_SHORT_ESCAPES: [number, string][] = [
  [0x22, '"'],
  [0x5c, '\\\\'],
  [0x08, 'b'],
  [0x0c, 'f'],
  [0x0a, 'n'],
  [0x0d, 'r'],
  [0x09, 't'],
];
/** `.` without the s flag: anything but the ECMAScript line terminators. */
const DOT_SET: Range[] = complement([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);
const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: Range[] = normalize([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
const CLASS_ESCAPES: Record<string, Range[]> = {
  d: DIGIT,
  D: complement(DIGIT),
  w: WORD,
  W: complement(WORD),
  s: SPACE,
  S: complement(SPACE),
};

/** Characters that end a run of literal characters (llama.cpp's set). */
const NON_LITERAL = new Set(['|', '.', '(', ')', '[', ']', '{', '}', '*', '+', '?', '^', '$']);
const QUANTIFIERS = new Set(['*', '+', '?', '{']);

/** The body of the `dot` rule: any decoded character but a line
 * terminator, in its JSON form. */
export const DOT_RULE = charSetBody(DOT_SET, false)!;

interface Item {
  text: string;
  literal: boolean;
  /** A quantifier was applied (a second one is a syntax error, bar lazy `?`). */
  quantified: boolean;
  lazy: boolean;
  bar: boolean;
  minLength: number;
  maxLength: number;
  /** GBNF symbols the item expands to when repeated (its literal's length, or 1). */
  weight: number;
}

type Escape = { kind: 'char'; cp: number; end: number; verbatim: string | null } | { kind: 'set'; ranges: Range[]; end: number };

/** Adds the rule `name` matching JSON strings whose content matches
 * `pattern` (anchored with ^ and $); `at` is the JSON pointer of the
 * pattern, for errors. */
export function patternToRule(pattern: string, name: string, host: PatternHost, at: string): PatternRule {
  if (pattern.length > host.maxPatternLength) {
    throw new GrammarError('grammar/limit', `JSON schema at ${at}: exceeds maxPatternLength (${pattern.length} > ${host.maxPatternLength})`, {
      limit: 'maxPatternLength',
      value: pattern.length,
      max: host.maxPatternLength,
      pointer: at,
    });
  }
  if (pattern.length < 2 || pattern[0] !== '^' || pattern[pattern.length - 1] !== '$') {
    throw unsupported(at, 'it is not anchored with ^ at its start and $ at its end (only whole-string patterns convert)', 0);
  }
  return new PatternReader(pattern.slice(1, -1), name, host, at).read();
}

function unsupported(at: string, why: string, position: number, extra: HobErrorDetails = {}): GrammarError {
  return new GrammarError('grammar/schema', `JSON schema at ${at}: the pattern cannot be converted: ${why}`, {
    keyword: 'pattern',
    pointer: at,
    position,
    reason: why,
    ...extra,
  });
}

class PatternReader {
  private i = 0;
  private depth = 0;
  /** Rules made for repeated sub-expressions, by their text. */
  private readonly subRules = new Map<string, string>();

  constructor(
    private readonly p: string,
    private readonly name: string,
    private readonly host: PatternHost,
    private readonly at: string,
  ) {}

  read(): PatternRule {
    const body = this.sequence();
    if (this.depth !== 0) throw this.fail('a group is not closed');
    const rule = this.host.addRule(this.name, '"\\"" (' + body.text + ') "\\""');
    return { rule, minLength: body.minLength, maxLength: body.maxLength };
  }

  private fail(why: string, at = this.i): GrammarError {
    return unsupported(this.at, `${why} (at offset ${at + 1})`, at + 1);
  }

  /** Reads up to the `)` that closes the current group (or the end). */
  private sequence(): Item {
    const seq: Item[] = [];
    const p = this.p;
    while (this.i < p.length) {
      const c = p[this.i];
      if (c === '.') {
        seq.push(item(this.host.addRule('dot', DOT_RULE), false, 1, 1));
        this.i++;
      } else if (c === '(') {
        this.i++;
        if (p[this.i] === '?') {
          if (p[this.i + 1] !== ':') throw this.fail('lookaround, named groups and inline flags are not supported');
          this.i += 2;
        }
        if (++this.depth > this.host.maxPatternDepth) {
          throw new GrammarError('grammar/limit', `JSON schema at ${this.at}: exceeds maxPatternDepth (${this.depth} > ${this.host.maxPatternDepth})`, {
            limit: 'maxPatternDepth',
            value: this.depth,
            max: this.host.maxPatternDepth,
            pointer: this.at,
          });
        }
        const inner = this.sequence();
        seq.push(item('(' + inner.text + ')', false, inner.minLength, inner.maxLength));
      } else if (c === ')') {
        if (this.depth === 0) throw this.fail('unbalanced parenthesis');
        this.i++;
        this.depth--;
        return join(seq);
      } else if (c === '^' || c === '$') {
        throw this.fail(`an anchor ${c} inside the pattern is not supported`);
      } else if (c === '[') {
        seq.push(this.charClass());
      } else if (c === '|') {
        seq.push({ ...item('|', false, 0, 0), bar: true });
        this.i++;
      } else if (c === '*' || c === '+' || c === '?') {
        this.quantify(seq, c);
      } else if (c === '{') {
        this.countedRepetition(seq);
      } else if (c === '\\' && this.i + 1 < p.length && CLASS_ESCAPES[p[this.i + 1]]) {
        seq.push(item(charSetBody(CLASS_ESCAPES[p[this.i + 1]], true)!, false, 1, 1));
        this.i += 2;
      } else {
        seq.push(this.literalRun());
      }
    }
    return join(seq);
  }

  private lastRepeatable(seq: Item[], what: string): Item {
    const last = seq[seq.length - 1];
    if (!last || last.bar) throw this.fail(`nothing to repeat before ${what}`);
    return last;
  }

  private quantify(seq: Item[], c: '*' | '+' | '?'): void {
    const last = this.lastRepeatable(seq, c);
    this.i++;
    if (last.quantified) {
      // x*? x+? x{n}? x??: lazy, which matches the same strings as greedy
      // in a whole-string match; GBNF has no laziness, so the ? is dropped.
      if (c !== '?' || last.lazy) throw this.fail('nothing to repeat (a quantifier follows a quantifier)', this.i - 1);
      last.lazy = true;
      return;
    }
    const text = (last.literal ? '"' + last.text + '"' : last.text) + c;
    const minLength = c === '+' ? last.minLength : 0;
    const maxLength = c === '?' ? last.maxLength : last.maxLength === 0 ? 0 : Infinity;
    seq[seq.length - 1] = { ...item(text, false, minLength, maxLength), quantified: true };
  }

  private countedRepetition(seq: Item[]): void {
    const p = this.p;
    const start = this.i;
    const close = p.indexOf('}', start);
    const m = close < 0 ? null : /^(\d+)(,(\d*))?$/.exec(p.slice(start + 1, close));
    if (!m) throw this.fail('a { that is not a quantifier {n}, {n,} or {n,m}');
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    for (const n of [min, max]) {
      if (n !== Infinity && n > this.host.maxRepetition) {
        throw new GrammarError(
          'grammar/limit',
          `JSON schema at ${this.at}: exceeds maxRepetition (${n} > ${this.host.maxRepetition})`,
          { limit: 'maxRepetition', value: n, max: this.host.maxRepetition, pointer: this.at },
        );
      }
    }
    if (min > max) throw this.fail(`numbers out of order in {${min},${max}}`);
    const last = this.lastRepeatable(seq, '{');
    this.i = close + 1;
    if (last.quantified) throw this.fail('nothing to repeat (a quantifier follows a quantifier)', start);
    let sub = last.text;
    if (!last.literal) {
      let id = this.subRules.get(sub);
      if (id === undefined) {
        id = this.host.addRule(`${this.name}-${this.subRules.size + 1}`, sub);
        this.subRules.set(sub, id);
      }
      sub = id;
    } else {
      sub = '"' + sub + '"';
    }
    this.host.chargeRepetition(max === Infinity ? min : max, last.weight, this.at);
    const minLength = last.minLength * min;
    const maxLength = max === 0 || last.maxLength === 0 ? 0 : last.maxLength * max;
    seq[seq.length - 1] = { ...item(buildRepetition(sub, min, max), false, minLength, maxLength), quantified: true };
  }

  /** A run of literal characters, as llama.cpp splits it: the character
   * before a quantifier stands alone, so that the quantifier applies to it. */
  private literalRun(): Item {
    const p = this.p;
    let text = '';
    let n = 0;
    const followedByQuantifier = (end: number): boolean => QUANTIFIERS.has(p[end]);
    while (this.i < p.length) {
      const c = p[this.i];
      if (c === '\\') {
        if (this.i === p.length - 1) throw this.fail('trailing backslash');
        if (CLASS_ESCAPES[p[this.i + 1]]) break;
        const esc = this.escape(this.i, false);
        if (esc.kind !== 'char') break;
        if (text !== '' && followedByQuantifier(esc.end)) break;
        text += literalText(esc.cp, esc.verbatim);
        n++;
        this.i = esc.end;
      } else {
        const cp = p.codePointAt(this.i)!;
        const next = this.i + (cp > 0xffff ? 2 : 1);
        if (c === '"') {
          if (text !== '' && followedByQuantifier(next)) break;
        } else if (NON_LITERAL.has(c) || !(next === p.length || text === '' || p[next] === '.' || !NON_LITERAL.has(p[next]))) {
          break;
        }
        text += literalText(cp, String.fromCodePoint(cp));
        n++;
        this.i = next;
      }
    }
    if (text === '') throw this.fail(`unexpected ${JSON.stringify(p[this.i])}`);
    return { ...item(text, true, n, n), weight: text.length };
  }

  /** The escape at `i` (a backslash). */
  private escape(i: number, inClass: boolean): Escape {
    const p = this.p;
    const next = p[i + 1];
    const hex = (len: number): number | null => {
      const digits = p.slice(i + 2, i + 2 + len);
      return digits.length === len && /^[0-9a-fA-F]+$/.test(digits) ? parseInt(digits, 16) : null;
    };
    if (CLASS_ESCAPES[next]) return { kind: 'set', ranges: CLASS_ESCAPES[next], end: i + 2 };
    if (next === 'x' || next === 'u') {
      const len = next === 'x' ? 2 : 4;
      const cp = hex(len);
      if (cp === null) throw this.fail(`\\${next} needs ${len} hexadecimal digits`, i);
      let end = i + 2 + len;
      if (cp >= 0xd800 && cp <= 0xdfff) {
        // A surrogate pair written as two \u escapes is one character.
        const low = cp <= 0xdbff && p[end] === '\\' && p[end + 1] === 'u' ? parseInt(p.slice(end + 2, end + 6), 16) : NaN;
        if (!(low >= 0xdc00 && low <= 0xdfff)) throw this.fail('a lone surrogate escape', i);
        end += 6;
        return { kind: 'char', cp: 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00), end, verbatim: null };
      }
      return { kind: 'char', cp, end, verbatim: p.slice(i, end) };
    }
    const control: Record<string, number> = { t: 0x09, n: 0x0a, r: 0x0d, f: 0x0c, v: 0x0b };
    if (next in control) return { kind: 'char', cp: control[next], end: i + 2, verbatim: null };
    if (next === '0' && !/[0-9]/.test(p[i + 2] ?? '')) return { kind: 'char', cp: 0, end: i + 2, verbatim: null };
    if (next === 'b' && inClass) return { kind: 'char', cp: 0x08, end: i + 2, verbatim: null };
    if (next === '[' || next === ']') return { kind: 'char', cp: next.charCodeAt(0), end: i + 2, verbatim: inClass ? '\\' + next : next };
    if (/[!-/:-@[-`{-~]/.test(next)) {
      // Escaped ASCII punctuation stands for itself. In a class, GBNF reads
      // \\ and \" as regexes do, and needs `-` and `^` written otherwise.
      const verbatim = !inClass ? next : next === '\\' || next === '"' ? '\\' + next : '-^'.includes(next) ? null : next;
      return { kind: 'char', cp: next.charCodeAt(0), end: i + 2, verbatim };
    }
    if (/[1-9]/.test(next)) throw this.fail('backreferences are not supported', i);
    throw this.fail(`the escape \\${next} is not supported`, i);
  }

  /** `[...]`: the class text as written where GBNF reads it the same way and
   * it holds no character JSON escapes, else a set written from scratch. */
  private charClass(): Item {
    const p = this.p;
    const start = this.i;
    this.i++;
    const negated = p[this.i] === '^';
    if (negated) this.i++;
    const contentStart = this.i;
    let ranges: Range[] = [];
    let verbatim = true;
    let afterRange = false;
    const atom = (): Escape => {
      if (p[this.i] === '\\') {
        if (this.i + 1 >= p.length) throw this.fail('unterminated character class', start);
        return this.escape(this.i, true);
      }
      const cp = p.codePointAt(this.i)!;
      return { kind: 'char', cp, end: this.i + (cp > 0xffff ? 2 : 1), verbatim: String.fromCodePoint(cp) };
    };
    if (p[this.i] === ']') throw this.fail('an empty character class [] or [^] is not supported', start);
    while (this.i < p.length && p[this.i] !== ']') {
      const a = atom();
      this.i = a.end;
      if (a.kind === 'set') {
        ranges.push(...a.ranges);
        verbatim = false;
        afterRange = false;
        continue;
      }
      if (a.verbatim === null) verbatim = false;
      if (a.cp === 0x2d && afterRange && p[this.i] !== ']') verbatim = false; // a literal '-' between a range and more
      afterRange = false;
      if (p[this.i] === '-' && this.i + 1 < p.length && p[this.i + 1] !== ']') {
        this.i++;
        const b = atom();
        if (b.kind !== 'char') throw this.fail('a class escape cannot end a range', this.i);
        this.i = b.end;
        if (b.verbatim === null) verbatim = false;
        if (b.cp < a.cp) throw this.fail('a range out of order in a character class', this.i);
        ranges.push([a.cp, b.cp]);
        afterRange = true;
      } else {
        ranges.push([a.cp, a.cp]);
      }
    }
    if (this.i >= p.length) throw this.fail('unterminated character class', start);
    const text = p.slice(contentStart, this.i);
    this.i++;
    ranges = normalize(ranges);
    const set = negated ? complement(ranges) : ranges;
    if (set.length === 0) throw this.fail('a character class that matches nothing', start);
    const body = verbatim && intersect(set, JSON_SPECIAL).length === 0 ? (negated ? '[^' : '[') + text + ']' : charSetBody(set, true);
    if (body === null) throw this.fail('a character class of control characters without a JSON short escape', start);
    return item(body, false, 1, 1);
  }
}

function item(text: string, literal: boolean, minLength: number, maxLength: number): Item {
  return { text, literal, quantified: false, lazy: false, bar: false, minLength, maxLength, weight: 1 };
}

/** One character's text inside a GBNF literal that matches its JSON form. */
function literalText(cp: number, verbatim: string | null): string {
  if (cp === 0x22) return '\\\\\\"';
  if (cp === 0x5c) return '\\\\\\\\';
  if (cp < 0x20) {
    const short = JSON_SHORT_ESCAPES.find(([c]) => c === cp);
    return '\\\\' + (short ? short[1] : 'u' + cp.toString(16).padStart(4, '0'));
  }
  return verbatim ?? gbnfChar(cp, false);
}

/** Joins a sequence, merging neighbouring literals into one. */
function join(seq: Item[]): Item {
  const parts: string[] = [];
  let literal = '';
  let minLength = Infinity;
  let maxLength = 0;
  let altMin = 0;
  let altMax = 0;
  const flush = (): void => {
    if (literal !== '') parts.push('"' + literal + '"');
    literal = '';
  };
  for (const it of seq) {
    if (it.literal) {
      literal += it.text;
    } else {
      flush();
      parts.push(it.text);
    }
    if (it.bar) {
      minLength = Math.min(minLength, altMin);
      maxLength = Math.max(maxLength, altMax);
      altMin = altMax = 0;
    } else {
      altMin += it.minLength;
      altMax += it.maxLength;
    }
  }
  flush();
  minLength = Math.min(minLength, altMin);
  maxLength = Math.max(maxLength, altMax);
  return item(parts.join(' '), false, minLength, maxLength);
}

/** The body matching one decoded character of `set`, in its JSON form:
 * raw where JSON allows it, as a short escape for `"`, `\` and the
 * controls that have one (other controls are left out; null if nothing is
 * left). `group` wraps an alternation in parentheses, for use inside a
 * sequence. */
function charSetBody(set: Range[], group: boolean): string | null {
  const raw = subtract(set, JSON_SPECIAL);
  const escapes = JSON_SHORT_ESCAPES.filter(([cp]) => contains(set, cp)).map(([, e]) => e);
  const alts: string[] = [];
  if (raw.length > 0) {
    const excluded = complement(raw);
    // Write whichever of the set and its complement is shorter.
    alts.push(rangesText(excluded).length < rangesText(raw).length ? '[^' + rangesText(excluded) + ']' : '[' + rangesText(raw) + ']');
  }
  if (escapes.length > 0) alts.push('"\\\\" [' + escapes.join('') + ']');
  if (alts.length === 0) return null;
  return alts.length > 1 && group ? '(' + alts.join(' | ') + ')' : alts.join(' | ');
}

function rangesText(ranges: Range[]): string {
  let out = '';
  for (const [lo, hi] of ranges) {
    out += gbnfChar(lo, true);
    if (hi === lo + 1) out += gbnfChar(hi, true);
    else if (hi > lo) out += '-' + gbnfChar(hi, true);
  }
  return out;
}

/** A code point as GBNF text (in a class, or in a literal). */
function gbnfChar(cp: number, inClass: boolean): string {
  if (cp === 0x5c) return '\\\\';
  if (cp === 0x22) return inClass ? '"' : '\\"';
  if (inClass && (cp === 0x5d || cp === 0x2d || cp === 0x5e)) return '\\x' + cp.toString(16).toUpperCase();
  if (cp >= 0x20 && cp < 0x7f) return String.fromCharCode(cp);
  if (cp < 0x100) return '\\x' + cp.toString(16).toUpperCase().padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
  return '\\U' + cp.toString(16).toUpperCase().padStart(8, '0');
}

function normalize(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of normalize(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

function subtract(a: Range[], b: Range[]): Range[] {
  return intersect(a, complement(b));
}

function intersect(a: Range[], b: Range[]): Range[] {
  const out: Range[] = [];
  for (const [alo, ahi] of a) {
    for (const [blo, bhi] of b) {
      const lo = Math.max(alo, blo);
      const hi = Math.min(ahi, bhi);
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return normalize(out);
}

function contains(ranges: Range[], cp: number): boolean {
  return ranges.some(([lo, hi]) => lo <= cp && cp <= hi);
}
