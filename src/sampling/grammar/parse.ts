// The GBNF parser: text → Grammar, reading exactly what llama.cpp's
// llama_grammar_parser reads (grammars/README.md, src/llama-grammar.cpp) and
// rejecting what llama_grammar_init_impl rejects: syntax errors, undefined
// rules, a missing root, left recursion. It works on the UTF-8 bytes, as
// llama.cpp does, so a NUL ends the grammar and escapes decode alike. Unlike
// llama.cpp it bounds its input, its recursion and what repetitions expand to.
import { GrammarError } from '../../shared/errors.js';
import { limitError, resolveLimits, type GrammarLimits } from './limits.js';
import { ALT, CHAR, CHAR_ALT, CHAR_ANY, CHAR_NOT, CHAR_RNG_UPPER, END, RULE_REF, TOKEN, TOKEN_NOT, type Grammar } from './rules.js';

export interface ParseGrammarOptions {
  /** The start rule (default 'root'). */
  root?: string;
  /** Resolves a `<text>` token reference (text with its angle brackets) to
   *  the ids the model's tokenizer gives it with special tokens parsed and
   *  no BOS; it must be exactly one. Without it such references are errors,
   *  as in llama.cpp without a vocabulary. `<[id]>` needs nothing. */
  tokenize?: (text: string) => readonly number[];
  limits?: Partial<GrammarLimits>;
}

/** llama.cpp's MAX_REPETITION_THRESHOLD. */
const MAX_REPETITIONS = 2000;
const U32 = 2 ** 32;
/** Bytes a character takes by the high nibble of its first byte, as the
 *  parser's decoder reads it (a stray continuation byte is one character). */
const CHAR_LENGTH = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];

const pack = (type: number, value: number): number => type * U32 + value;
const typeOf = (e: number): number => Math.floor(e / U32);
const valueOf = (e: number): number => e % U32;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isWordChar = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || isDigit(c);
const CH = (s: string): number => s.charCodeAt(0);

/** Parses GBNF into a compiled grammar; throws GrammarError ('grammar/parse'
 *  with line, column and what was expected, or 'grammar/limit'). */
export function parseGrammar(text: string, opts: ParseGrammarOptions = {}): Grammar {
  const limits = resolveLimits(opts.limits);
  const encoded = new TextEncoder().encode(text);
  if (encoded.length > limits.maxSourceBytes) throw limitError('maxSourceBytes', limits.maxSourceBytes, `source of ${encoded.length} bytes`);
  const nul = encoded.indexOf(0);
  const parser = new Parser(nul < 0 ? encoded : encoded.subarray(0, nul), opts, limits);
  return parser.compile(opts.root ?? 'root');
}

class Parser {
  private readonly src: Uint8Array;
  private readonly symbols = new Map<string, number>();
  private readonly rules: (number[] | undefined)[] = [];
  /** Where each symbol was first referenced, for undefined-rule errors. */
  private readonly firstRef = new Map<number, number>();
  /** Where each rule is defined (generated rules: where their group or repetition is). */
  private readonly definedAt = new Map<number, number>();
  private elements = 0;

  constructor(
    bytes: Uint8Array,
    private readonly opts: ParseGrammarOptions,
    private readonly limits: GrammarLimits,
  ) {
    this.src = bytes;
  }

  /** The byte at i, 0 past the end (the C parser reads a NUL-terminated string). */
  private at(i: number): number {
    return i < this.src.length ? this.src[i] : 0;
  }

  compile(rootName: string): Grammar {
    let pos = this.space(0, true);
    while (this.at(pos)) pos = this.rule(pos);
    this.checkDefined();
    if (this.rules.length === 0) throw this.fail(pos, 'at least one rule', 'the grammar has no rules');
    const root = this.symbols.get(rootName);
    if (root === undefined) throw this.fail(this.src.length, `a rule named "${rootName}"`, `the grammar has no rule "${rootName}"`);
    const grammar = this.flatten(root);
    const r = leftRecursiveRule(grammar);
    if (r >= 0) {
      const name = grammar.ruleNames[r];
      const e = this.fail(this.definedAt.get(r) ?? 0, 'a grammar without left recursion', `rule "${name}" is left-recursive: it can reach itself before matching anything`);
      e.details.rule = name;
      throw e;
    }
    return grammar;
  }

  // -- errors -------------------------------------------------------------

  private fail(offset: number, expected: string, message?: string): GrammarError {
    const { line, column } = this.lineColumn(offset);
    const found = this.foundAt(offset);
    const what = message ?? `expected ${expected} but found ${found}`;
    return new GrammarError('grammar/parse', `grammar: ${what} at line ${line}, column ${column}`, { line, column, expected, found });
  }

  private lineColumn(offset: number): { line: number; column: number } {
    let line = 1;
    let column = 1;
    const end = Math.min(offset, this.src.length);
    for (let i = 0; i < end; i++) {
      const b = this.src[i];
      if (b === 0x0a) {
        line++;
        column = 1;
      } else if (b >> 6 !== 2) {
        column++;
      }
    }
    return { line, column };
  }

  private foundAt(offset: number): string {
    if (offset >= this.src.length) return 'the end of the grammar';
    let end = offset;
    while (end < this.src.length && end - offset < 24 && this.src[end] !== 0x0a && this.src[end] !== 0x0d) end++;
    if (end === offset) return 'a line break';
    return JSON.stringify(new TextDecoder().decode(this.src.subarray(offset, end)));
  }

  private count(n: number, offset: number): void {
    this.elements += n;
    if (this.elements > this.limits.maxElements) {
      const { line, column } = this.lineColumn(offset);
      const e = limitError('maxElements', this.limits.maxElements, `expanded to more than ${this.limits.maxElements} elements (near line ${line}, column ${column})`);
      Object.assign(e.details, { line, column });
      throw e;
    }
  }

  // -- symbols and rules --------------------------------------------------

  private symbolId(name: string): number {
    let id = this.symbols.get(name);
    if (id === undefined) {
      id = this.symbols.size;
      this.symbols.set(name, id);
    }
    return id;
  }

  /** llama.cpp names generated rules base_N with N = the symbol count, and
   *  overwrites a user rule of that name: reproduced, since it decides which
   *  rule a reference ends up meaning. */
  private generateSymbolId(base: string): number {
    const id = this.symbols.size;
    this.symbols.set(`${base}_${id}`, id);
    return id;
  }

  private addRule(id: number, rule: number[]): void {
    while (this.rules.length <= id) this.rules.push(undefined);
    this.rules[id] = rule;
  }

  // -- lexical pieces -----------------------------------------------------

  private space(pos: number, newlineOk: boolean): number {
    for (;;) {
      const c = this.at(pos);
      if (c === 0x23) {
        while (this.at(pos) && this.at(pos) !== 0x0d && this.at(pos) !== 0x0a) pos++;
      } else if (c === 0x20 || c === 0x09 || (newlineOk && (c === 0x0d || c === 0x0a))) {
        pos++;
      } else {
        return pos;
      }
    }
  }

  private name(pos: number): number {
    let p = pos;
    while (isWordChar(this.at(p))) p++;
    if (p === pos) throw this.fail(pos, 'a rule name');
    return p;
  }

  private int(pos: number): number {
    let p = pos;
    while (isDigit(this.at(p))) p++;
    if (p === pos) throw this.fail(pos, 'an integer');
    return p;
  }

  /** The value of the digits in [pos, end), failing where C++'s stoull would. */
  private bigInt(pos: number, end: number): bigint {
    const v = BigInt(new TextDecoder().decode(this.src.subarray(pos, end)));
    if (v >= 2n ** 64n) throw this.fail(pos, 'an integer below 2^64', 'integer out of range');
    return v;
  }

  private hex(pos: number, size: number): [number, number] {
    let value = 0;
    let p = pos;
    for (; p < pos + size && this.at(p); p++) {
      const c = this.at(p);
      let d: number;
      if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else if (isDigit(c)) d = c - 0x30;
      else break;
      value = value * 16 + d;
    }
    if (p !== pos + size) throw this.fail(p, `${size} hex digits`);
    return [value, p];
  }

  /** One character of a literal or class: an escape or a UTF-8 character. */
  private char(pos: number): [number, number] {
    const c = this.at(pos);
    if (c === 0x5c) {
      const e = this.at(pos + 1);
      switch (e) {
        case CH('x'): return this.hex(pos + 2, 2);
        case CH('u'): return this.hex(pos + 2, 4);
        case CH('U'): return this.hex(pos + 2, 8);
        case CH('t'): return [0x09, pos + 2];
        case CH('r'): return [0x0d, pos + 2];
        case CH('n'): return [0x0a, pos + 2];
        case CH('\\'): case CH('"'): case CH('['): case CH(']'): case CH('-'):
          return [e, pos + 2];
        default:
          throw this.fail(pos, 'an escape (\\x \\u \\U \\t \\r \\n \\\\ \\" \\[ \\] \\-)', `unknown escape ${this.foundAt(pos)}`);
      }
    }
    if (!c) throw this.fail(pos, 'a character', 'unexpected end of the grammar');
    const len = CHAR_LENGTH[c >> 4];
    let value = c & ((1 << (8 - len)) - 1);
    let p = pos + 1;
    for (; p < pos + len && this.at(p); p++) value = (value << 6) + (this.at(p) & 0x3f);
    return [value, p];
  }

  private token(pos: number): [number, number] {
    if (this.at(pos) !== CH('<')) throw this.fail(pos, "'<'");
    let p = pos + 1;
    if (this.at(p) === CH('[')) {
      p++;
      const end = this.int(p);
      // stoul, then the cast to a 32-bit id.
      const id = Number(this.bigInt(p, end) & 0xffffffffn);
      p = end;
      if (this.at(p) !== CH(']')) throw this.fail(p, "']'");
      p++;
      if (this.at(p) !== CH('>')) throw this.fail(p, "'>'");
      return [id, p + 1];
    }
    const tokenize = this.opts.tokenize;
    while (this.at(p) && this.at(p) !== CH('>')) p++;
    if (this.at(p) !== CH('>')) throw this.fail(p, "'>'");
    p++;
    const text = new TextDecoder().decode(this.src.subarray(pos, p));
    if (!tokenize) throw this.fail(pos, 'a vocabulary to resolve token references', `no vocabulary to resolve the token ${text}`);
    const ids = tokenize(text);
    if (ids.length !== 1) throw this.fail(pos, 'text that is exactly one token', `${text} is ${ids.length} tokens, not one`);
    return [ids[0] >>> 0, p];
  }

  // -- structure ----------------------------------------------------------

  private rule(pos: number): number {
    const nameEnd = this.name(pos);
    let p = this.space(nameEnd, false);
    const name = new TextDecoder().decode(this.src.subarray(pos, nameEnd));
    const id = this.symbolId(name);
    if (!this.definedAt.has(id)) this.definedAt.set(id, pos);
    if (!(this.at(p) === CH(':') && this.at(p + 1) === CH(':') && this.at(p + 2) === CH('='))) throw this.fail(p, "'::='");
    p = this.space(p + 3, true);
    p = this.alternates(p, name, id, false, 1);
    if (this.at(p) === 0x0d) p += this.at(p + 1) === 0x0a ? 2 : 1;
    else if (this.at(p) === 0x0a) p++;
    else if (this.at(p)) throw this.fail(p, 'a line break or the end of the grammar');
    return this.space(p, true);
  }

  private alternates(pos: number, ruleName: string, ruleId: number, nested: boolean, depth: number): number {
    if (depth > this.limits.maxNesting) {
      const { line, column } = this.lineColumn(pos);
      const e = limitError('maxNesting', this.limits.maxNesting, `nesting of groups (line ${line}, column ${column})`);
      Object.assign(e.details, { line, column });
      throw e;
    }
    const rule: number[] = [];
    let p = this.sequence(pos, ruleName, rule, nested, depth);
    while (this.at(p) === CH('|')) {
      rule.push(pack(ALT, 0));
      this.count(1, p);
      p = this.space(p + 1, true);
      p = this.sequence(p, ruleName, rule, nested, depth);
    }
    rule.push(pack(END, 0));
    this.count(1, p);
    this.addRule(ruleId, rule);
    return p;
  }

  private sequence(src: number, ruleName: string, rule: number[], nested: boolean, depth: number): number {
    let lastSymStart = rule.length;
    let pos = src;
    let nPrevRules = 1;
    const push = (type: number, value: number): void => {
      rule.push(pack(type, value));
      this.count(1, pos);
    };

    // S{m,n} → S…S (m times) then n−m nested optional rules S' ::= S S'' | ;
    // S{m,} → S…S then S' ::= S S' | . A rule per optional copy, as llama.cpp.
    const repeat = (min: number, max: number, at: number): void => {
      const noMax = max === Infinity;
      if (lastSymStart === rule.length) throw this.fail(at, 'an item before */+/?/{');
      const prev = rule.slice(lastSymStart);
      let totalRules = 1;
      if (!noMax && max > 0) totalRules = max;
      else if (min > 0) totalRules = min;
      if (nPrevRules * totalRules >= MAX_REPETITIONS) {
        const { line, column } = this.lineColumn(at);
        throw new GrammarError(
          'grammar/limit',
          `grammar repetitions at line ${line}, column ${column} multiply to ${nPrevRules * totalRules} rules, over llama.cpp's ${MAX_REPETITIONS}`,
          { bound: 'repetitions', limit: MAX_REPETITIONS, line, column },
        );
      }
      if (min === 0) {
        rule.length = lastSymStart;
      } else {
        this.count((min - 1) * prev.length, at);
        for (let i = 1; i < min; i++) for (const e of prev) rule.push(e);
      }
      const nOpt = noMax ? 1 : max - min;
      this.count(nOpt * (prev.length + 3) + 1, at);
      let lastRecRuleId = 0;
      const recRule = prev.slice();
      for (let i = 0; i < nOpt; i++) {
        recRule.length = prev.length;
        const recRuleId = this.generateSymbolId(ruleName);
        this.definedAt.set(recRuleId, at);
        if (i > 0 || noMax) recRule.push(pack(RULE_REF, noMax ? recRuleId : lastRecRuleId));
        recRule.push(pack(ALT, 0), pack(END, 0));
        this.addRule(recRuleId, recRule.slice());
        lastRecRuleId = recRuleId;
      }
      if (nOpt > 0) rule.push(pack(RULE_REF, lastRecRuleId));
      nPrevRules *= totalRules;
    };

    for (;;) {
      const c = this.at(pos);
      if (!c) break;
      if (c === CH('"')) {
        pos++;
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.at(pos) !== CH('"')) {
          if (!this.at(pos)) throw this.fail(pos, 'a closing \'"\'', 'unexpected end of the grammar inside a literal');
          const [cp, next] = this.char(pos);
          pos = next;
          push(CHAR, cp);
        }
        pos = this.space(pos + 1, nested);
      } else if (c === CH('[')) {
        pos++;
        let startType = CHAR;
        if (this.at(pos) === CH('^')) {
          pos++;
          startType = CHAR_NOT;
        }
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.at(pos) !== CH(']')) {
          if (!this.at(pos)) throw this.fail(pos, "a closing ']'", 'unexpected end of the grammar inside a character class');
          const [cp, next] = this.char(pos);
          pos = next;
          push(lastSymStart < rule.length ? CHAR_ALT : startType, cp);
          if (this.at(pos) === CH('-') && this.at(pos + 1) !== CH(']')) {
            if (!this.at(pos + 1)) throw this.fail(pos + 1, 'the end of a range', 'unexpected end of the grammar inside a character class');
            const [hi, after] = this.char(pos + 1);
            pos = after;
            push(CHAR_RNG_UPPER, hi);
          }
        }
        pos = this.space(pos + 1, nested);
      } else if (c === CH('<') || c === CH('!')) {
        let type = TOKEN;
        if (c === CH('!')) {
          type = TOKEN_NOT;
          pos++;
        }
        const [id, end] = this.token(pos);
        lastSymStart = rule.length;
        nPrevRules = 1;
        push(type, id);
        pos = this.space(end, nested);
      } else if (isWordChar(c)) {
        const nameEnd = this.name(pos);
        const refId = this.symbolId(new TextDecoder().decode(this.src.subarray(pos, nameEnd)));
        if (!this.firstRef.has(refId)) this.firstRef.set(refId, pos);
        pos = this.space(nameEnd, nested);
        lastSymStart = rule.length;
        nPrevRules = 1;
        push(RULE_REF, refId);
      } else if (c === CH('(')) {
        const open = pos;
        pos = this.space(pos + 1, true);
        const nBefore = this.symbols.size;
        const subId = this.generateSymbolId(ruleName);
        this.definedAt.set(subId, open);
        pos = this.alternates(pos, ruleName, subId, true, depth + 1);
        nPrevRules = Math.max(1, this.symbols.size - nBefore);
        lastSymStart = rule.length;
        push(RULE_REF, subId);
        if (this.at(pos) !== CH(')')) throw this.fail(pos, `')' to close the group opened at ${this.where(open)}`);
        pos = this.space(pos + 1, nested);
      } else if (c === CH('.')) {
        lastSymStart = rule.length;
        nPrevRules = 1;
        push(CHAR_ANY, 0);
        pos = this.space(pos + 1, nested);
      } else if (c === CH('*') || c === CH('+') || c === CH('?')) {
        const at = pos;
        pos = this.space(pos + 1, nested);
        if (c === CH('*')) repeat(0, Infinity, at);
        else if (c === CH('+')) repeat(1, Infinity, at);
        else repeat(0, 1, at);
      } else if (c === CH('{')) {
        const at = pos;
        pos = this.space(pos + 1, nested);
        if (!isDigit(this.at(pos))) throw this.fail(pos, 'an integer');
        let end = this.int(pos);
        const min = this.bigInt(pos, end);
        pos = this.space(end, nested);
        let max = 2n ** 64n; // none
        if (this.at(pos) === CH('}')) {
          max = min;
          pos = this.space(pos + 1, nested);
        } else if (this.at(pos) === CH(',')) {
          pos = this.space(pos + 1, nested);
          if (isDigit(this.at(pos))) {
            end = this.int(pos);
            max = this.bigInt(pos, end);
            pos = this.space(end, nested);
          }
          if (this.at(pos) !== CH('}')) throw this.fail(pos, "'}'");
          pos = this.space(pos + 1, nested);
        } else {
          throw this.fail(pos, "',' or '}'");
        }
        if (min > BigInt(MAX_REPETITIONS)) {
          const { line, column } = this.lineColumn(at);
          throw new GrammarError('grammar/limit', `grammar repetition count ${min} at line ${line}, column ${column} is over llama.cpp's ${MAX_REPETITIONS}`, {
            bound: 'repetitions', limit: MAX_REPETITIONS, line, column,
          });
        }
        // llama.cpp reads a maximum over its threshold as "no maximum".
        const maxN = max > BigInt(MAX_REPETITIONS) ? Infinity : Number(max);
        // llama.cpp's unsigned max − min wraps here and loops for ever.
        if (maxN < Number(min)) throw this.fail(at, 'a maximum no smaller than the minimum', `repetition {${min},${max}} has its maximum below its minimum`);
        repeat(Number(min), maxN, at);
      } else {
        break;
      }
    }
    return pos;
  }

  private where(offset: number): string {
    const { line, column } = this.lineColumn(offset);
    return `line ${line}, column ${column}`;
  }

  // -- validation and output ------------------------------------------------

  private nameOf(id: number): string {
    for (const [name, v] of this.symbols) if (v === id) return name;
    return `#${id}`;
  }

  private undefinedRule(id: number): GrammarError {
    const name = this.nameOf(id);
    const at = this.firstRef.get(id) ?? this.src.length;
    return this.fail(at, `a definition of rule "${name}"`, `rule "${name}" is used but never defined`);
  }

  private checkDefined(): void {
    for (let r = 0; r < this.rules.length; r++) {
      const rule = this.rules[r];
      if (!rule) throw this.undefinedRule(r);
      for (const e of rule) {
        if (typeOf(e) !== RULE_REF) continue;
        const v = valueOf(e);
        if (v >= this.rules.length || !this.rules[v]) throw this.undefinedRule(v);
      }
    }
  }

  private flatten(root: number): Grammar {
    const rules = this.rules as number[][];
    let n = 0;
    for (const r of rules) n += r.length;
    const type = new Uint8Array(n);
    const value = new Uint32Array(n);
    const ruleStart = new Int32Array(rules.length);
    const tokens = new Set<number>();
    let p = 0;
    rules.forEach((rule, r) => {
      ruleStart[r] = p;
      for (const e of rule) {
        type[p] = typeOf(e);
        value[p] = valueOf(e);
        if (type[p] === TOKEN || type[p] === TOKEN_NOT) tokens.add(value[p]);
        p++;
      }
    });
    const ruleNames: string[] = rules.map((_, r) => `#${r}`);
    for (const [name, id] of this.symbols) if (id < ruleNames.length) ruleNames[id] = name;
    return Object.freeze({ type, value, ruleStart, ruleNames: Object.freeze(ruleNames), root, tokenRefs: Object.freeze([...tokens].sort((a, b) => a - b)) });
  }
}

/**
 * llama.cpp refuses left-recursive grammars (its matcher would expand them
 * for ever). Its check follows, from every alternative, the leading rule
 * references, and past a reference only when that rule has an alternative
 * that is empty as written; a cycle there is left recursion. Same relation,
 * found here by one linear depth-first search (llama.cpp's re-walks shared
 * rules and is exponential on adversarial grammars). Returns a rule on the
 * cycle, or -1.
 */
function leftRecursiveRule(g: Grammar): number {
  const nRules = g.ruleStart.length;
  const mayBeEmpty = new Uint8Array(nRules);
  for (let r = 0; r < nRules; r++) {
    let atStart = true;
    for (let p = g.ruleStart[r]; ; p++) {
      const t = g.type[p];
      if (t === END || t === ALT) {
        if (atStart) mayBeEmpty[r] = 1;
        atStart = true;
        if (t === END) break;
      } else {
        atStart = false;
      }
    }
  }
  const edges: number[][] = [];
  for (let r = 0; r < nRules; r++) {
    const out: number[] = [];
    let leading = true;
    for (let p = g.ruleStart[r]; ; p++) {
      const t = g.type[p];
      if (t === RULE_REF && leading) {
        out.push(g.value[p]);
        if (!mayBeEmpty[g.value[p]]) leading = false;
      } else if (t === END || t === ALT) {
        leading = true;
      } else {
        leading = false;
      }
      if (t === END) break;
    }
    edges.push(out);
  }
  const color = new Uint8Array(nRules); // 0 unseen, 1 on the current path, 2 done
  for (let start = 0; start < nRules; start++) {
    if (color[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    color[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [r, i] = top;
      if (i < edges[r].length) {
        top[1]++;
        const s = edges[r][i];
        if (color[s] === 1) return s;
        if (color[s] === 0) {
          color[s] = 1;
          stack.push([s, 0]);
        }
      } else {
        color[r] = 2;
        stack.pop();
      }
    }
  }
  return -1;
}
