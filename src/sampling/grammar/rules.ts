// A compiled GBNF grammar: llama.cpp's element encoding (llama-grammar.h) in
// flat typed arrays, and the character-class tests that read it. The parser
// (parse.ts) writes this shape; the automaton (automaton.ts) walks it. A
// stack position is an index into `type`/`value`.

/** Element types, numbered as llama.cpp's llama_gretype. */
export const END = 0; // end of a rule's last alternative
export const ALT = 1; // start of the next alternative
export const RULE_REF = 2; // value: rule id
export const CHAR = 3; // value: code point; starts a positive class
export const CHAR_NOT = 4; // starts a negated class ([^...])
export const CHAR_RNG_UPPER = 5; // makes the preceding char a range lo..value
export const CHAR_ALT = 6; // one more char (or range start) of the same class
export const CHAR_ANY = 7; // "."
export const TOKEN = 8; // value: token id (<[id]> or <text>)
export const TOKEN_NOT = 9; // any token but value (!<...>)

/** An immutable compiled grammar, reusable across requests and vocabularies
 *  (token references hold ids, so a grammar with `<text>` references belongs
 *  to the vocabulary that resolved them). */
export interface Grammar {
  /** Element type per position. */
  readonly type: Uint8Array;
  /** Code point, rule id or token id per position (uint32, as llama.cpp). */
  readonly value: Uint32Array;
  /** Position of each rule's first element; rules end with END. */
  readonly ruleStart: Int32Array;
  /** A name per rule id: the grammar's own, or llama.cpp's generated name (`root_3`). */
  readonly ruleNames: readonly string[];
  /** The rule generation starts from. */
  readonly root: number;
  /** Distinct token ids the grammar references (TOKEN and TOKEN_NOT). */
  readonly tokenRefs: readonly number[];
}

export function isEndOfSequence(g: Grammar, pos: number): boolean {
  const t = g.type[pos];
  return t === END || t === ALT;
}

export function isCharTerminal(t: number): boolean {
  return t === CHAR || t === CHAR_NOT || t === CHAR_ANY;
}

export function isTokenTerminal(t: number): boolean {
  return t === TOKEN || t === TOKEN_NOT;
}

/** Whether code point `c` satisfies the class starting at `pos`
 *  (llama_grammar_match_char). */
export function matchChar(g: Grammar, pos: number, c: number): boolean {
  const { type, value } = g;
  const positive = type[pos] === CHAR || type[pos] === CHAR_ANY;
  let found = false;
  do {
    if (type[pos + 1] === CHAR_RNG_UPPER) {
      found = found || (value[pos] <= c && c <= value[pos + 1]);
      pos += 2;
    } else if (type[pos] === CHAR_ANY) {
      found = true;
      pos += 1;
    } else {
      found = found || value[pos] === c;
      pos += 1;
    }
  } while (type[pos] === CHAR_ALT);
  return found === positive;
}

/** The position after the class starting at `pos`. */
export function classEnd(g: Grammar, pos: number): number {
  const { type } = g;
  do {
    pos += type[pos + 1] === CHAR_RNG_UPPER ? 2 : 1;
  } while (type[pos] === CHAR_ALT);
  return pos;
}

/**
 * Whether some completion of a partial UTF-8 sequence (bits `value` so far,
 * `rem` continuation bytes missing) could satisfy the class at `pos`
 * (llama_grammar_match_partial_char, with its conservative answer for
 * negated classes: any possible completion that is excluded rejects).
 */
export function matchPartialChar(g: Grammar, pos: number, partialValue: number, rem: number): boolean {
  const { type, value } = g;
  const positive = type[pos] === CHAR || type[pos] === CHAR_ANY;
  // An invalid sequence, or a 7-bit character split over two bytes (overlong).
  if (rem < 0 || (rem === 1 && partialValue < 2)) return false;
  let low = partialValue * 2 ** (rem * 6);
  const high = low + 2 ** (rem * 6) - 1;
  if (low === 0) {
    if (rem === 2) low = 1 << 11;
    else if (rem === 3) low = 1 << 16;
  }
  do {
    if (type[pos + 1] === CHAR_RNG_UPPER) {
      if (value[pos] <= high && low <= value[pos + 1]) return positive;
      pos += 2;
    } else if (type[pos] === CHAR_ANY) {
      return true;
    } else {
      if (low <= value[pos] && value[pos] <= high) return positive;
      pos += 1;
    }
  } while (type[pos] === CHAR_ALT);
  return !positive;
}

/** The boundaries where membership in the class at `pos` can change: every
 *  class is constant on [b_i, b_{i+1}). */
export function classBounds(g: Grammar, pos: number, out: number[]): void {
  const { type, value } = g;
  do {
    if (type[pos + 1] === CHAR_RNG_UPPER) {
      out.push(value[pos], value[pos + 1] + 1);
      pos += 2;
    } else if (type[pos] === CHAR_ANY) {
      pos += 1;
    } else {
      out.push(value[pos], value[pos] + 1);
      pos += 1;
    }
  } while (type[pos] === CHAR_ALT);
}

/** The grammar back as GBNF text, one rule a line (llama_grammar_parser::print's
 *  shape): for error messages and debugging. */
export function printGrammar(g: Grammar): string {
  const lines: string[] = [];
  const ch = (c: number): string => (c >= 0x20 && c <= 0x7f ? String.fromCharCode(c) : `<U+${c.toString(16).toUpperCase().padStart(4, '0')}>`);
  for (let r = 0; r < g.ruleStart.length; r++) {
    let s = `${g.ruleNames[r]} ::= `;
    for (let p = g.ruleStart[r]; g.type[p] !== END; p++) {
      const t = g.type[p];
      const v = g.value[p];
      if (t === ALT) s += '| ';
      else if (t === RULE_REF) s += `${g.ruleNames[v]} `;
      else if (t === CHAR) s += `[${ch(v)}`;
      else if (t === CHAR_NOT) s += `[^${ch(v)}`;
      else if (t === CHAR_RNG_UPPER) s += `-${ch(v)}`;
      else if (t === CHAR_ALT) s += ch(v);
      else if (t === CHAR_ANY) s += '. ';
      else if (t === TOKEN) s += `<[${v}]> `;
      else if (t === TOKEN_NOT) s += `!<[${v}]> `;
      if (t === CHAR || t === CHAR_NOT || t === CHAR_RNG_UPPER || t === CHAR_ALT) {
        const n = g.type[p + 1];
        if (n !== CHAR_ALT && n !== CHAR_RNG_UPPER && n !== CHAR_ANY) s += '] ';
      }
    }
    lines.push(s.trimEnd());
  }
  return lines.join('\n');
}
