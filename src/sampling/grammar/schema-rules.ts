// The GBNF pieces the JSON-schema converter assembles, spelled exactly as
// llama.cpp's converter (common/json-schema-to-grammar.cpp) spells them, so
// that a grammar Hob makes from a schema can be compared with llama.cpp's
// as text: the shared rules (space, string, number, ...), string literals,
// JSON values as literals (nlohmann's compact dump), counted repetitions and
// integer ranges. It owns no state; json-schema-converter.ts drives it.
import { GrammarError } from '../../shared/errors.js';

/** Optional whitespace between JSON tokens: at most two newlines and 20
 * spaces or tabs, so that a model cannot pad forever. */
export const SPACE_RULE = '| " " | "\\n"{1,2} [ \\t]{0,20}';

/** A rule and the shared rules it refers to. */
export interface SharedRule {
  readonly body: string;
  readonly deps: readonly string[];
}

/** The shared rules for JSON values, under llama.cpp's names. Integers have
 * at most 16 digits and fractions at most 16: a model cannot spin digits. */
export const PRIMITIVE_RULES: Readonly<Record<string, SharedRule>> = {
  boolean: { body: '("true" | "false")', deps: [] },
  'decimal-part': { body: '[0-9]{1,16}', deps: [] },
  'integral-part': { body: '[0] | [1-9] [0-9]{0,15}', deps: [] },
  number: { body: '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)?', deps: ['integral-part', 'decimal-part'] },
  integer: { body: '("-"? integral-part)', deps: ['integral-part'] },
  value: { body: 'object | array | string | number | boolean | null', deps: ['object', 'array', 'string', 'number', 'boolean', 'null'] },
  object: { body: '"{" space ( string ":" space value ("," space string ":" space value)* )? space "}"', deps: ['string', 'value'] },
  array: { body: '"[" space ( value ("," space value)* )? space "]"', deps: ['value'] },
  uuid: {
    body: '"\\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\\""',
    deps: [],
  },
  char: { body: '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})', deps: [] },
  string: { body: '"\\"" char* "\\""', deps: ['char'] },
  null: { body: '"null"', deps: [] },
};

/** The string formats, under llama.cpp's names. `date` differs from
 * llama.cpp's on purpose: llama.cpp's accepts any day 01-31 in any month
 * (2023-02-31), which the `date` format rejects; Hob's knows the length of
 * each month and leaves out 29 February (a leap year needs the year's
 * digits, and leaving the day out only narrows what is generated). */
export const STRING_FORMAT_RULES: Readonly<Record<string, SharedRule>> = {
  date: {
    body:
      '[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] ) | ' +
      '( "0" [469] | "11" ) "-" ( "0" [1-9] | [1-2] [0-9] | "30" ) | "02" "-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )',
    deps: [],
  },
  time: {
    body:
      '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ' +
      '( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )',
    deps: [],
  },
  'date-time': { body: 'date "T" time', deps: ['date', 'time'] },
  'date-string': { body: '"\\"" date "\\""', deps: ['date'] },
  'time-string': { body: '"\\"" time "\\""', deps: ['time'] },
  'date-time-string': { body: '"\\"" date-time "\\""', deps: ['date-time'] },
};

/** The length (in characters of the decoded string) of each format's
 * values: a `minLength`/`maxLength` beside a format holds when this range
 * lies inside it. */
export const FORMAT_LENGTHS: Readonly<Record<string, readonly [number, number]>> = {
  date: [10, 10],
  time: [9, 18],
  'date-time': [20, 29],
  uuid: [36, 36],
};

const RESERVED_NAMES = new Set(['root', ...Object.keys(PRIMITIVE_RULES), ...Object.keys(STRING_FORMAT_RULES)]);

/** Names a schema's rule may not take (llama.cpp appends '-' to them). */
export function isReservedName(name: string): boolean {
  return RESERVED_NAMES.has(name);
}

/** A rule name from any text: every run of characters GBNF names cannot
 * hold becomes one '-'. */
export function sanitizeRuleName(name: string): string {
  return name.replace(/[^a-zA-Z0-9-]+/g, '-');
}

/** A GBNF string literal matching `text` exactly. */
export function formatLiteral(text: string): string {
  return '"' + text.replace(/[\r\n"\\]/g, (c) => LITERAL_ESCAPES[c]) + '"';
}
const LITERAL_ESCAPES: Record<string, string> = { '\r': '\\r', '\n': '\\n', '"': '\\"', '\\': '\\\\' };

/** `value` as compact JSON, byte for byte as nlohmann::json::dump() writes
 * it (what llama.cpp puts in const, enum and property-name literals): keys
 * in their order, no spaces, non-ASCII characters unescaped, control
 * characters as \u00xx, and floating-point numbers in nlohmann's %g-like
 * form. `maxDepth` bounds the nesting, so that no value recurses without
 * end. A value that is not JSON (undefined, NaN, a function, a lone
 * surrogate) is a GrammarError. */
export function dumpJson(value: unknown, maxDepth: number, at: string): string {
  const parts: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > maxDepth) {
      throw new GrammarError('grammar/limit', `a JSON value at ${at || '/'} nests deeper than maxDepth (${maxDepth})`, {
        limit: 'maxDepth',
        max: maxDepth,
        pointer: at,
      });
    }
    if (v === null) parts.push('null');
    else if (typeof v === 'boolean') parts.push(v ? 'true' : 'false');
    else if (typeof v === 'number') parts.push(dumpNumber(v, at));
    else if (typeof v === 'string') parts.push(dumpString(v, at));
    else if (Array.isArray(v)) {
      parts.push('[');
      v.forEach((item, i) => {
        if (i > 0) parts.push(',');
        walk(item, depth + 1);
      });
      parts.push(']');
    } else if (isPlainObject(v)) {
      parts.push('{');
      let first = true;
      for (const [k, item] of Object.entries(v)) {
        if (item === undefined) continue;
        if (!first) parts.push(',');
        first = false;
        parts.push(dumpString(k, at), ':');
        walk(item, depth + 1);
      }
      parts.push('}');
    } else {
      throw new GrammarError('grammar/schema', `the value at ${at || '/'} is not JSON (${typeof v})`, { keyword: '', pointer: at });
    }
  };
  walk(value, 0);
  return parts.join('');
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dumpString(s: string, at: string): string {
  if (!isWellFormed(s)) {
    throw new GrammarError('grammar/schema', `a string at ${at || '/'} holds a lone UTF-16 surrogate, which is not valid Unicode`, {
      keyword: '',
      pointer: at,
    });
  }
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) out += SHORT_ESCAPES[c] ?? '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}
const SHORT_ESCAPES: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

export function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** A number as nlohmann writes the JSON text JSON.stringify makes of it.
 * Integers up to 1e21 are written as digits, which nlohmann reads as a
 * 64-bit integer where one holds them; others are doubles: shortest
 * round-trip digits, fixed notation for decimal exponents -4 to 15, else
 * d.ddde+XX. (JSON text that said `1.0` reaches Hob as the number 1 and is
 * written `1`, where nlohmann keeps `1.0`: the same JSON number.) */
function dumpNumber(x: number, at: string): string {
  if (!Number.isFinite(x)) {
    throw new GrammarError('grammar/schema', `the number at ${at || '/'} is not finite`, { keyword: '', pointer: at });
  }
  if (Number.isInteger(x) && Math.abs(x) < 1e21) {
    const digits = String(x); // JSON.stringify's digits: shortest, not exact, past 2^53
    const n = BigInt(digits);
    if (n >= -(2n ** 63n) && n < 2n ** 64n) return digits;
  }
  const sign = x < 0 ? '-' : '';
  const [mantissa, exp] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const k = digits.length;
  const n = Number(exp) + 1; // position of the decimal point relative to the digits
  if (k <= n && n <= 15) return sign + digits + '0'.repeat(n - k) + '.0';
  if (0 < n && n <= 15) return sign + digits.slice(0, n) + '.' + digits.slice(n);
  if (-4 < n && n <= 0) return sign + '0.' + '0'.repeat(-n) + digits;
  const e = n - 1;
  const expText = (e < 0 ? '-' : '+') + String(Math.abs(e)).padStart(2, '0');
  return sign + (k === 1 ? digits : digits[0] + '.' + digits.slice(1)) + 'e' + expText;
}

/** `item` repeated min to max times (max = Infinity for no bound), with
 * `separator` between repetitions, in llama.cpp's spelling. */
export function buildRepetition(item: string, min: number, max: number, separator = ''): string {
  const hasMax = max !== Infinity;
  if (max === 0) return '';
  if (min === 0 && max === 1) return item + '?';
  if (separator === '') {
    if (min === 1 && !hasMax) return item + '+';
    if (min === 0 && !hasMax) return item + '*';
    return item + '{' + min + ',' + (hasMax ? String(max) : '') + '}';
  }
  const rest = buildRepetition('(' + separator + ' ' + item + ')', min === 0 ? 0 : min - 1, hasMax ? max - 1 : max);
  const result = item + ' ' + rest;
  return min === 0 ? '(' + result + ')?' : result;
}

/** The body matching the decimal integers from `min` to `max` (either may be
 * null for no bound), llama.cpp's construction digit by digit: exact ranges
 * where both bounds are set; with one bound, at most 16 digits, as the
 * shared integer rule. */
export function integerRangeRule(min: bigint | null, max: bigint | null): string {
  const out: string[] = [];
  buildIntRange(min, max, out, 16, true);
  return '(' + out.join('') + ')';
}

function digitRange(out: string[], from: string, to: string): void {
  out.push(from === to ? `[${from}]` : `[${from}-${to}]`);
}

function moreDigits(out: string[], minDigits: number, maxDigits: number): void {
  out.push('[0-9]');
  if (minDigits === maxDigits && minDigits === 1) return;
  out.push('{', String(minDigits));
  if (maxDigits !== minDigits) {
    out.push(',');
    if (maxDigits !== Infinity) out.push(String(maxDigits));
  }
  out.push('}');
}

const charShift = (c: string, by: number): string => String.fromCharCode(c.charCodeAt(0) + by);

/** Every decimal string of from's length between from and to (same length). */
function uniformRange(out: string[], from: string, to: string): void {
  let i = 0;
  while (i < from.length && i < to.length && from[i] === to[i]) i++;
  if (i > 0) out.push('"', from.slice(0, i), '"');
  if (i >= from.length || i >= to.length) return;
  if (i > 0) out.push(' ');
  const subLen = from.length - i - 1;
  if (subLen === 0) {
    out.push('[', from[i], '-', to[i], ']');
    return;
  }
  const fromSub = from.slice(i + 1);
  const toSub = to.slice(i + 1);
  const zeros = '0'.repeat(subLen);
  const nines = '9'.repeat(subLen);
  let toReached = false;
  out.push('(');
  if (fromSub === zeros) {
    digitRange(out, from[i], charShift(to[i], -1));
    out.push(' ');
    moreDigits(out, subLen, subLen);
  } else {
    out.push('[', from[i], '] (');
    uniformRange(out, fromSub, nines);
    out.push(')');
    if (from.charCodeAt(i) < to.charCodeAt(i) - 1) {
      out.push(' | ');
      if (toSub === nines) {
        digitRange(out, charShift(from[i], 1), to[i]);
        toReached = true;
      } else {
        digitRange(out, charShift(from[i], 1), charShift(to[i], -1));
      }
      out.push(' ');
      moreDigits(out, subLen, subLen);
    }
  }
  if (!toReached) {
    out.push(' | ');
    digitRange(out, to[i], to[i]);
    out.push(' ');
    uniformRange(out, zeros, toSub);
  }
  out.push(')');
}

function buildIntRange(min: bigint | null, max: bigint | null, out: string[], decimalsLeft: number, topLevel: boolean): void {
  if (min !== null && max !== null) {
    if (min < 0n && max < 0n) {
      out.push('"-" (');
      buildIntRange(-max, -min, out, decimalsLeft, true);
      out.push(')');
      return;
    }
    if (min < 0n) {
      out.push('"-" (');
      buildIntRange(0n, -min, out, decimalsLeft, true);
      out.push(') | ');
      min = 0n;
    }
    let minS = min.toString();
    const maxS = max.toString();
    for (let digits = minS.length; digits < maxS.length; digits++) {
      uniformRange(out, minS, '9'.repeat(digits));
      minS = '1' + '0'.repeat(digits);
      out.push(' | ');
    }
    uniformRange(out, minS, maxS);
    return;
  }
  const lessDecimals = Math.max(decimalsLeft - 1, 1);
  if (min !== null) {
    if (min < 0n) {
      out.push('"-" (');
      buildIntRange(null, -min, out, decimalsLeft, false);
      out.push(') | [0] | [1-9] ');
      moreDigits(out, 0, decimalsLeft - 1);
    } else if (min === 0n) {
      if (topLevel) {
        out.push('[0] | [1-9] ');
        moreDigits(out, 0, lessDecimals);
      } else {
        moreDigits(out, 1, decimalsLeft);
      }
    } else if (min <= 9n) {
      const c = min.toString();
      const rangeStart = topLevel ? '1' : '0';
      if (c > rangeStart) {
        digitRange(out, rangeStart, charShift(c, -1));
        out.push(' ');
        moreDigits(out, 1, lessDecimals);
        out.push(' | ');
      }
      digitRange(out, c, '9');
      out.push(' ');
      moreDigits(out, 0, lessDecimals);
    } else {
      const minS = min.toString();
      const len = minS.length;
      const c = minS[0];
      if (c > '1') {
        digitRange(out, topLevel ? '1' : '0', charShift(c, -1));
        out.push(' ');
        moreDigits(out, len, lessDecimals);
        out.push(' | ');
      }
      digitRange(out, c, c);
      out.push(' (');
      buildIntRange(BigInt(minS.slice(1)), null, out, lessDecimals, false);
      out.push(')');
      if (c < '9') {
        out.push(' | ');
        digitRange(out, charShift(c, 1), '9');
        out.push(' ');
        moreDigits(out, len - 1, lessDecimals);
      }
    }
    return;
  }
  if (max !== null) {
    if (max >= 0n) {
      if (topLevel) {
        out.push('"-" [1-9] ');
        moreDigits(out, 0, lessDecimals);
        out.push(' | ');
      }
      buildIntRange(0n, max, out, decimalsLeft, true);
    } else {
      out.push('"-" (');
      buildIntRange(-max, null, out, decimalsLeft, false);
      out.push(')');
    }
    return;
  }
  throw new GrammarError('grammar/schema', 'an integer range needs a lower or an upper bound', { keyword: 'minimum', pointer: '' });
}
