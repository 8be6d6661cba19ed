// The JSON-schema-to-GBNF converter: llama.cpp's common_schema_converter
// (common/json-schema-to-grammar.cpp) step for step, so that its grammars
// equal llama.cpp's as text, with three things llama.cpp lacks: a keyword it
// would not enforce is an error (schema-keywords.ts decides which), where
// llama.cpp's output would break the schema Hob writes its own rule (each
// place says why), and every loop the schema drives is bounded (limits).
// Public entry points: json-schema.ts (a schema) and builder.ts (rules and
// schemas together).
import type { JsonSchema } from '../../shared/types.js';
import { escapePointer, limitError, schemaError, type SchemaGrammarLimits } from './schema-errors.js';
import {
  has,
  IGNORED_KEYWORDS,
  integerBounds,
  isTrivialKeyword,
  keywordTypes,
  nonEmptyArray,
  own,
  requiredNames,
  T_ANY,
  T_ARRAY,
  T_INTEGER,
  T_OBJECT,
  T_STRING,
  TYPE_MASKS,
  typeOfValue,
} from './schema-keywords.js';
import { mergeAllOf, type PropEntry } from './schema-allof.js';
import { notStringsBody, objectBody, type ObjectMember } from './schema-objects.js';
import { resolvePointer } from './schema-refs.js';
import { patternToRule, type PatternHost } from './schema-regex.js';
import {
  buildRepetition,
  dumpJson,
  FORMAT_LENGTHS,
  formatLiteral,
  integerRangeRule,
  isPlainObject,
  isReservedName,
  PRIMITIVE_RULES,
  sanitizeRuleName,
  SPACE_RULE,
  STRING_FORMAT_RULES,
  type SharedRule,
} from './schema-rules.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** A rule made for a subschema, and the JSON types its values can have. */
interface Visit {
  rule: string;
  types: number;
}

/** A $ref's state within its document: resolving (rule null), or done. */
interface RefState {
  rule: string | null;
  /** The name the rule will get, which recursive references use meanwhile. */
  claimed: string;
  types: number;
  /** How many objects and arrays enclosed the visit when resolving began. */
  structureDepth: number;
  recursive: boolean;
}

/** A schema whose local $refs ("#/...") resolve against it. */
interface Doc {
  root: unknown;
  refs: Map<string, RefState>;
}

export class SchemaConverter implements PatternHost {
  private readonly rules = new Map<string, string>([['space', SPACE_RULE]]);
  private readonly claimed = new Set<string>();
  private readonly docs: Doc[] = [];
  private doc: Doc | null = null;
  private grammarChars = SPACE_RULE.length + 11;
  private depth = 0;
  private visits = 0;
  private structureDepth = 0;
  private expansion = 0;

  readonly maxRepetition: number;
  readonly maxPatternLength: number;
  readonly maxPatternDepth: number;

  constructor(private readonly limits: SchemaGrammarLimits) {
    this.maxRepetition = limits.maxRepetition;
    this.maxPatternLength = limits.maxPatternLength;
    this.maxPatternDepth = limits.maxPatternDepth;
  }

  /** llama.cpp's _add_rule: the name made valid; if taken by another body,
   * the first free name with a numeric suffix. */
  addRule(name: string, body: string): string {
    const base = sanitizeRuleName(name);
    if (this.claimed.delete(base)) return this.setRule(base, body);
    const existing = this.rules.get(base);
    if (existing === undefined || existing === body) return this.setRule(base, body);
    let i = 0;
    for (;;) {
      const key = base + i;
      const other = this.rules.get(key);
      if ((other === undefined && !this.claimed.has(key)) || other === body) return this.setRule(key, body);
      i++;
    }
  }

  private setRule(name: string, body: string): string {
    if (!this.rules.has(name)) {
      if (this.rules.size >= this.limits.maxRules) throw limitError('maxRules', this.rules.size + 1, this.limits.maxRules, '');
      this.grammarChars += name.length + 5;
    } else {
      this.grammarChars -= this.rules.get(name)!.length;
    }
    this.grammarChars += body.length;
    if (this.grammarChars > this.limits.maxGrammarChars) {
      throw limitError('maxGrammarChars', this.grammarChars, this.limits.maxGrammarChars, '');
    }
    this.rules.set(name, body);
    return name;
  }

  chargeRepetition(count: number, weight: number, pointer: string): void {
    this.expansion += count * weight;
    if (this.expansion > this.limits.maxRepetitionExpansion) {
      throw limitError('maxRepetitionExpansion', this.expansion, this.limits.maxRepetitionExpansion, pointer);
    }
  }

  /** Registers a schema whose $defs later addSchema calls may reference. */
  registerDocument(schema: unknown): void {
    if (!this.docs.some((d) => d.root === schema)) this.docs.push({ root: schema, refs: new Map() });
  }

  /** Adds the rules for `schema`; the top one is `name` (the root rule for
   * 'root' or ''). Its $refs resolve against the registered document that
   * holds it, else against the schema itself. */
  addSchema(name: string, schema: JsonSchema): string {
    this.doc = this.documentOf(schema);
    this.structureDepth = 0;
    try {
      return this.visit(schema, name === 'root' ? '' : name, '').rule;
    } finally {
      this.doc = null;
    }
  }

  /** The grammar: every rule, sorted by name as llama.cpp's std::map sorts. */
  format(): string {
    return [...this.rules.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((name) => `${name} ::= ${this.rules.get(name)}\n`)
      .join('');
  }

  private documentOf(schema: unknown): Doc {
    const direct = this.docs.find((d) => d.root === schema);
    if (direct) return direct;
    // A subschema of a registered document resolves against that document.
    for (const d of this.docs) {
      const stack: unknown[] = [d.root];
      let budget = this.limits.maxVisits;
      while (stack.length > 0 && budget-- > 0) {
        const node = stack.pop();
        if (node === schema) return d;
        if (typeof node === 'object' && node !== null) for (const child of Object.values(node)) stack.push(child);
      }
    }
    const doc = { root: schema, refs: new Map<string, RefState>() };
    this.docs.push(doc);
    return doc;
  }

  private addPrimitive(name: string, rule: SharedRule): string {
    const n = this.addRule(name, rule.body);
    for (const dep of rule.deps) {
      if (!this.rules.has(dep)) this.addPrimitive(dep, PRIMITIVE_RULES[dep] ?? STRING_FORMAT_RULES[dep]);
    }
    return n;
  }

  private visit(schema: unknown, name: string, at: string, unionTypes = 0): Visit {
    if (++this.visits > this.limits.maxVisits) throw limitError('maxVisits', this.visits, this.limits.maxVisits, at);
    if (++this.depth > this.limits.maxDepth) throw limitError('maxDepth', this.depth, this.limits.maxDepth, at);
    try {
      return this.visitSchema(schema, name, at, unionTypes);
    } finally {
      this.depth--;
    }
  }

  /** llama.cpp's visit: the first matching case decides the rule. */
  private visitSchema(schema: unknown, name: string, at: string, unionTypes: number): Visit {
    if (schema === true) schema = {};
    if (schema === false) throw schemaError('', at, 'the schema false admits no value');
    if (!isPlainObject(schema)) throw schemaError('', at, `a schema must be an object or a boolean, not ${describe(schema)}`);
    const s = schema;
    const ruleName = isReservedName(name) ? name + '-' : name === '' ? 'root' : name;
    const type = this.readType(s, at);
    const t = typeof type === 'string' ? type : null;
    const format = own(s, 'format');
    if (format !== undefined && typeof format !== 'string') throw schemaError('format', `${at}/format`, 'format must be a string');
    const sep = name === '' ? '' : '-';
    const typeIs = (...ts: (string | null)[]): boolean => ts.includes(t);

    if (has(s, '$ref')) {
      const target = this.resolveRef(own(s, '$ref'), `${at}/$ref`);
      return this.done(s, at, ['$ref'], { rule: this.addRule(ruleName, target.rule), types: target.types }, unionTypes);
    }
    if (has(s, 'oneOf') || has(s, 'anyOf')) {
      const key = has(s, 'oneOf') ? 'oneOf' : 'anyOf';
      const alts = nonEmptyArray(s, key, at);
      return this.done(s, at, [key], this.union(ruleName, name, alts.map((alt, i) => [alt, `${at}/${key}/${i}`] as const), 0), unionTypes);
    }
    if (Array.isArray(type)) {
      // Each type gets a copy of the schema (llama.cpp's way), in which the
      // other types' keywords do not apply.
      const mask = type.reduce((m: number, x: string) => m | TYPE_MASKS[x], 0);
      const copies = type.map((x) => [{ ...s, type: x }, at] as const);
      return this.union(ruleName, name, copies, mask);
    }
    if (has(s, 'const') || has(s, 'enum')) return this.visitConstants(s, ruleName, at, unionTypes);
    const additional = own(s, 'additionalProperties');
    if (typeIs(null, 'object') && (has(s, 'properties') || (additional !== undefined && additional !== true))) {
      return this.visitObject(s, name, ruleName, at, unionTypes);
    }
    if (typeIs(null, 'object', 'string') && has(s, 'allOf')) return this.visitAllOf(s, name, ruleName, at, unionTypes);
    if (typeIs(null, 'array') && (has(s, 'items') || has(s, 'prefixItems'))) return this.visitArray(s, name, ruleName, sep, at, unionTypes);
    if (typeIs(null, 'string') && has(s, 'pattern')) {
      const pattern = own(s, 'pattern');
      if (typeof pattern !== 'string') throw schemaError('pattern', `${at}/pattern`, 'pattern must be a string');
      const r = patternToRule(pattern, ruleName, this, `${at}/pattern`);
      return this.done(s, at, ['pattern', ...this.impliedLengths(s, r.minLength, r.maxLength)], { rule: r.rule, types: T_STRING }, unionTypes);
    }
    if (typeIs(null, 'string') && format === 'uuid') {
      const rule = this.addPrimitive(ruleName === 'root' ? 'root' : 'uuid', PRIMITIVE_RULES.uuid);
      return this.done(s, at, ['format', ...this.impliedLengths(s, ...FORMAT_LENGTHS.uuid)], { rule, types: T_STRING }, unionTypes);
    }
    if (typeIs(null, 'string') && (format === 'date' || format === 'time' || format === 'date-time')) {
      const shared = `${format}-string`;
      const rule = this.addRule(ruleName, this.addPrimitive(shared, STRING_FORMAT_RULES[shared]));
      return this.done(s, at, ['format', ...this.impliedLengths(s, ...FORMAT_LENGTHS[format])], { rule, types: T_STRING }, unionTypes);
    }
    if (t === 'string' && (has(s, 'minLength') || has(s, 'maxLength'))) {
      const min = this.count(s, 'minLength', at, 0);
      const max = this.count(s, 'maxLength', at, Infinity);
      if (min > max) throw schemaError('minLength', `${at}/minLength`, `minLength ${min} is above maxLength ${max}`);
      this.chargeRepetition(max === Infinity ? min : max, 1, at);
      const char = this.addPrimitive('char', PRIMITIVE_RULES.char);
      const rule = this.addRule(ruleName, '"\\"" ' + buildRepetition(char, min, max) + ' "\\""');
      return this.done(s, at, ['minLength', 'maxLength'], { rule, types: T_STRING }, unionTypes);
    }
    if (t === 'integer' && ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => has(s, k))) {
      const [min, max] = integerBounds(s, at);
      const bounds = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
      if (min === null && max === null) {
        // Only draft-04 booleans (exclusiveMinimum: false): no bound at all.
        return this.done(s, at, bounds, { rule: this.addPrimitive(ruleName === 'root' ? 'root' : 'integer', PRIMITIVE_RULES.integer), types: T_INTEGER }, unionTypes);
      }
      return this.done(s, at, bounds, { rule: this.addRule(ruleName, integerRangeRule(min, max)), types: T_INTEGER }, unionTypes);
    }
    if (Object.values(s).every((v) => v === undefined) || t === 'object') {
      return this.done(s, at, [], { rule: this.addRule(ruleName, this.addPrimitive('object', PRIMITIVE_RULES.object)), types: T_OBJECT }, unionTypes);
    }
    if (t === null) {
      // No type and no keyword that picks one (say, only a description): any value.
      return this.done(s, at, [], { rule: this.addRule(ruleName, this.addPrimitive('value', PRIMITIVE_RULES.value)), types: T_ANY }, unionTypes);
    }
    return this.done(s, at, [], { rule: this.addPrimitive(ruleName === 'root' ? 'root' : t, PRIMITIVE_RULES[t]), types: TYPE_MASKS[t] }, unionTypes);
  }

  /** `type` checked: a known type name, or a non-empty array of them. */
  private readType(s: Record<string, unknown>, at: string): string | string[] | null {
    const type = own(s, 'type');
    if (type === undefined) return null;
    const known = (x: unknown): x is string => typeof x === 'string' && Object.hasOwn(TYPE_MASKS, x);
    if (known(type)) return type;
    if (Array.isArray(type) && type.length > 0 && type.every(known)) return type;
    throw schemaError('type', `${at}/type`, `type must be one of ${Object.keys(TYPE_MASKS).join(', ')} or a non-empty array of them, not ${JSON.stringify(type)}`);
  }

  /** A non-negative integer keyword (minItems, maxLength, ...), within
   * maxRepetition where it becomes a counted repetition. */
  private count(s: Record<string, unknown>, key: string, at: string, absent: number, repeats = true): number {
    const v = own(s, key);
    if (v === undefined) return absent;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw schemaError(key, `${at}/${key}`, `${key} must be a non-negative integer`);
    if (repeats && v > this.limits.maxRepetition) throw limitError('maxRepetition', v, this.limits.maxRepetition, `${at}/${key}`);
    return v;
  }

  /** minLength/maxLength beside a pattern or format hold when every string
   * the rule matches has a length within them. */
  private impliedLengths(s: Record<string, unknown>, minLength: number, maxLength: number): string[] {
    const implied: string[] = [];
    const min = own(s, 'minLength');
    const max = own(s, 'maxLength');
    if (typeof min === 'number' && min <= minLength) implied.push('minLength');
    if (typeof max === 'number' && max >= maxLength) implied.push('maxLength');
    return implied;
  }

  /** Checks the schema's other keywords and returns the visit: each must be
   * one the case enforced (`honored`), one that never constrains, one whose
   * types the rule cannot produce, or one that holds for every value. */
  private done(s: Record<string, unknown>, at: string, honored: string[], v: Visit, unionTypes: number): Visit {
    const type = this.readType(s, at);
    const declared = unionTypes || (type === null ? 0 : [type].flat().reduce((m, x) => m | TYPE_MASKS[x], 0));
    for (const [k, value] of Object.entries(s)) {
      if (value === undefined || honored.includes(k) || IGNORED_KEYWORDS.has(k)) continue;
      if (k === 'type') {
        if (declared !== 0 && (v.types & ~declared) !== 0) {
          throw schemaError('type', `${at}/type`, `the schema's other keywords admit values that type ${JSON.stringify(type)} excludes`);
        }
        continue;
      }
      const applies = keywordTypes(k, value);
      if (applies === undefined || (applies & v.types) === 0 || isTrivialKeyword(k, value, s)) continue;
      throw schemaError(k, `${at}/${escapePointer(k)}`, `keyword "${k}" is not supported here (${unsupportedReason(honored)})`);
    }
    return v;
  }

  private union(ruleName: string, name: string, alts: readonly (readonly [unknown, string])[], unionTypes: number): Visit {
    let types = 0;
    const rules = alts.map(([alt, at], i) => {
      const v = this.visit(alt, name + (name === '' ? 'alternative-' : '-') + i, at, unionTypes);
      types |= v.types;
      return v.rule;
    });
    return { rule: this.addRule(ruleName, rules.join(' | ')), types };
  }

  /** const and enum. A value the schema's type excludes is left out (where
   * llama.cpp would generate it); a const beside an enum must be in it. */
  private visitConstants(s: Record<string, unknown>, ruleName: string, at: string, unionTypes: number): Visit {
    const type = own(s, 'type');
    const mask = unionTypes || (typeof type === 'string' ? TYPE_MASKS[type] : T_ANY);
    const literal = (v: unknown, ptr: string): string => formatLiteral(dumpJson(v, this.limits.maxDepth, ptr));
    if (has(s, 'const')) {
      const value = own(s, 'const');
      const text = literal(value, `${at}/const`);
      if ((typeOfValue(value) & mask) === 0) throw schemaError('const', `${at}/const`, 'the const value is not of the schema\'s type: no value validates');
      if (has(s, 'enum')) {
        const values = nonEmptyArray(s, 'enum', at);
        if (!values.some((v, i) => literal(v, `${at}/enum/${i}`) === text)) throw schemaError('enum', `${at}/enum`, 'the const value is not in the enum: no value validates');
      }
      return this.done(s, at, ['const', 'enum', 'type'], { rule: this.addRule(ruleName, text), types: typeOfValue(value) }, unionTypes);
    }
    const values = own(s, 'enum');
    if (!Array.isArray(values) || values.length === 0) throw schemaError('enum', `${at}/enum`, 'enum must be a non-empty array');
    let types = 0;
    const texts: string[] = [];
    values.forEach((v, i) => {
      const text = literal(v, `${at}/enum/${i}`);
      if ((typeOfValue(v) & mask) === 0) return;
      types |= typeOfValue(v);
      texts.push(text);
    });
    if (texts.length === 0) throw schemaError('enum', `${at}/enum`, 'no enum value is of the schema\'s type: no value validates');
    return this.done(s, at, ['enum', 'type'], { rule: this.addRule(ruleName, '(' + texts.join(' | ') + ')'), types }, unionTypes);
  }

  private visitObject(s: Record<string, unknown>, name: string, ruleName: string, at: string, unionTypes: number): Visit {
    const props = own(s, 'properties') ?? {};
    if (!isPlainObject(props)) throw schemaError('properties', `${at}/properties`, 'properties must be an object');
    const required = requiredNames(s, at);
    for (const r of required) {
      if (!Object.hasOwn(props, r)) throw schemaError('required', `${at}/required`, `required property "${r}" is not in properties (Hob generates only the listed properties)`);
      if (props[r] === false) throw schemaError('required', `${at}/required`, `required property "${r}" has the schema false: no value validates`);
    }
    // A property whose schema is false must be absent: it is not generated
    // (llama.cpp refuses the schema), nor admitted as an additional one.
    const entries = Object.entries(props)
      .filter(([, v]) => v !== undefined && v !== false)
      .map(([key, schema]) => ({ key, schema, at: `${at}/properties/${escapePointer(key)}` }));
    const excluded = Object.keys(props).filter((k) => props[k] === false);
    const additional = own(s, 'additionalProperties');
    if (additional !== undefined && typeof additional !== 'boolean' && !isPlainObject(additional)) {
      throw schemaError('additionalProperties', `${at}/additionalProperties`, 'additionalProperties must be a schema');
    }
    const rule = this.addRule(ruleName, this.objectRule(entries, required, name, additional, `${at}/additionalProperties`, excluded));
    const honored = ['properties', 'required', 'additionalProperties', ...this.impliedObjectKeywords(s, entries.length, required.size, additional)];
    return this.done(s, at, honored, { rule, types: T_OBJECT }, unionTypes);
  }

  /** Object keywords that the generated objects satisfy by construction:
   * a property count inside min/maxProperties, and no unevaluated property
   * when no property beyond the listed ones is generated. */
  private impliedObjectKeywords(s: Record<string, unknown>, nProps: number, nRequired: number, additional: unknown): string[] {
    const closed = additional === undefined || additional === false;
    const implied: string[] = [];
    const min = own(s, 'minProperties');
    const max = own(s, 'maxProperties');
    if (typeof min === 'number' && min <= nRequired) implied.push('minProperties');
    if (typeof max === 'number' && closed && max >= nProps) implied.push('maxProperties');
    if (closed && has(s, 'unevaluatedProperties')) implied.push('unevaluatedProperties');
    return implied;
  }

  /** llama.cpp's _build_object_rule: a key-value rule for each property,
   * then the object rule (schema-objects.ts). The additional properties are
   * a member of their own (llama.cpp keys them as "*", which a property of
   * that name then shadows). */
  private objectRule(entries: PropEntry[], required: Set<string>, name: string, additional: unknown, additionalAt: string, excluded: string[] = []): string {
    const sep = name === '' ? '' : '-';
    const requiredKvs: string[] = [];
    const optional: ObjectMember[] = [];
    this.structureDepth++;
    try {
      for (const e of entries) {
        // llama.cpp names the value of a top-level "" property "" too, which
        // makes it the root rule; it gets "-" here.
        const value = this.visit(e.schema, name + sep + e.key || '-', e.at);
        const keyLiteral = formatLiteral(dumpJson(e.key, 1, e.at));
        const kv = this.addRule(`${name}${sep}${e.key}-kv`, `${keyLiteral} space ":" space ${value.rule}`);
        if (required.has(e.key)) requiredKvs.push(kv);
        else optional.push({ kv, key: e.key, additional: false });
      }
      if (additional === true || isPlainObject(additional)) {
        const subName = `${name}${sep}additional`;
        const value = isPlainObject(additional) ? this.visit(additional, `${subName}-value`, additionalAt).rule : this.addPrimitive('value', PRIMITIVE_RULES.value);
        const names = [...entries.map((e) => e.key), ...excluded];
        const key = names.length === 0 ? this.addPrimitive('string', PRIMITIVE_RULES.string) : this.addRule(`${subName}-k`, this.notStrings(names, additionalAt));
        optional.push({ kv: this.addRule(`${subName}-kv`, `${key} ":" space ${value}`), key: '*', additional: true });
      }
    } finally {
      this.structureDepth--;
    }
    return objectBody(requiredKvs, optional, (key, body) => this.addRule(`${name}${sep}${key}-rest`, body));
  }

  private notStrings(names: string[], at: string): string {
    const body = notStringsBody(names, this.addPrimitive('char', PRIMITIVE_RULES.char));
    if (body === null) {
      throw schemaError('additionalProperties', at, 'a property name with a quote, backslash or control character cannot be told apart from additional properties');
    }
    return body;
  }

  /** allOf as llama.cpp merges it (schema-allof.ts): one object of the
   * components' properties, or the intersection of their enums. */
  private visitAllOf(s: Record<string, unknown>, name: string, ruleName: string, at: string, unionTypes: number): Visit {
    const merged = mergeAllOf(nonEmptyArray(s, 'allOf', at), at, this.doc!.root, this.limits.maxDepth);
    let v: Visit;
    if (merged.enum !== null) {
      v = { rule: this.addRule(ruleName, '(' + merged.enum.texts.join(' | ') + ')'), types: merged.enum.types };
    } else {
      v = { rule: this.addRule(ruleName, this.objectRule(merged.props, merged.required, name, undefined, at)), types: T_OBJECT };
    }
    // What llama.cpp ignores in a component must hold for the merged value.
    for (const c of merged.components) this.done(c.schema, c.at, c.honored, c.types ?? v, 0);
    return this.done(s, at, ['allOf', ...merged.impliedRequired(s, at)], v, unionTypes);
  }

  private visitArray(s: Record<string, unknown>, name: string, ruleName: string, sep: string, at: string, unionTypes: number): Visit {
    const honored = ['items', 'prefixItems', 'additionalItems', 'unevaluatedItems', 'minItems', 'maxItems'];
    const items = own(s, 'items');
    let tuple: unknown[] | null = null;
    let tupleKey = 'items';
    if (has(s, 'prefixItems')) {
      const prefix = own(s, 'prefixItems');
      if (!Array.isArray(prefix)) throw schemaError('prefixItems', `${at}/prefixItems`, 'prefixItems must be an array of schemas');
      // llama.cpp takes items and drops prefixItems; items: false (no more
      // items) is what llama.cpp's tuples generate anyway.
      if (items !== undefined && items !== false) throw schemaError('items', `${at}/items`, 'items beside prefixItems is supported only as false');
      tuple = prefix;
      tupleKey = 'prefixItems';
    } else if (Array.isArray(items)) {
      tuple = items;
    }
    const min = this.count(s, 'minItems', at, 0, tuple === null);
    const max = this.count(s, 'maxItems', at, Infinity, tuple === null);
    if (min > max) throw schemaError('minItems', `${at}/minItems`, `minItems ${min} is above maxItems ${max}`);
    let body: string;
    this.structureDepth++;
    try {
      if (tuple !== null) {
        // A tuple generates exactly its items (extra items, which JSON
        // Schema would allow, are never generated).
        const n = tuple.length;
        if (n < min || n > max) throw schemaError(n < min ? 'minItems' : 'maxItems', at, `a tuple of ${n} items cannot have ${min} to ${max} items`);
        if (own(s, 'uniqueItems') === true && n <= 1) honored.push('uniqueItems');
        const parts = tuple.map((it, i) => this.visit(it, `${name}${sep}tuple-${i}`, `${at}/${tupleKey}/${i}`).rule);
        body = '"[" space ' + parts.join(' "," space ') + ' space "]"';
      } else {
        const item = this.visit(items, `${name}${sep}item`, `${at}/items`).rule;
        this.chargeRepetition(max === Infinity ? min : max, 1, at);
        if (own(s, 'uniqueItems') === true && max <= 1) honored.push('uniqueItems');
        body = '"[" space ' + buildRepetition(item, min, max, '"," space') + ' space "]"';
      }
    } finally {
      this.structureDepth--;
    }
    return this.done(s, at, honored, { rule: this.addRule(ruleName, body), types: T_ARRAY }, unionTypes);
  }

  /** The rule for a $ref: visited once per document; a reference met again
   * while its target is being visited is recursion, and gets the name the
   * rule will have. */
  private resolveRef(ref: unknown, at: string): Visit {
    const doc = this.doc!;
    const state = typeof ref === 'string' ? doc.refs.get(ref) : undefined;
    if (state) {
      if (state.rule !== null) return { rule: state.rule, types: state.types };
      if (state.structureDepth === this.structureDepth) {
        throw schemaError('$ref', at, `$ref ${ref} refers back to itself with no object or array in between, which no finite value satisfies`);
      }
      state.recursive = true;
      return { rule: state.claimed, types: T_ANY };
    }
    const { node, pointer } = resolvePointer(doc.root, ref, at);
    const key = ref as string;
    const claimed = this.claim('ref' + sanitizeRuleName(key.slice(1)));
    const st: RefState = { rule: null, claimed, types: T_ANY, structureDepth: this.structureDepth, recursive: false };
    doc.refs.set(key, st);
    try {
      const v = this.visit(node, claimed, pointer);
      if (st.recursive && v.rule !== claimed) throw schemaError('$ref', at, `recursive $ref ${key} resolves to a shared rule`);
      st.rule = v.rule;
      st.types = v.types;
      return v;
    } finally {
      this.claimed.delete(claimed);
      if (st.rule === null) doc.refs.delete(key);
    }
  }

  /** Reserves a rule name for a $ref being visited (llama.cpp's "ref" +
   * the fragment), with a suffix if another rule has it. */
  private claim(base: string): string {
    let name = base;
    for (let i = 0; this.rules.has(name) || this.claimed.has(name); i++) name = base + i;
    this.claimed.add(name);
    return name;
  }
}

/** Why a keyword the case did not enforce is an error. */
function unsupportedReason(honored: string[]): string {
  if (honored.includes('$ref')) return 'beside $ref only annotations are allowed';
  const beside = honored.find((k) => ['anyOf', 'oneOf', 'enum', 'const'].includes(k));
  if (beside) return `it would be ignored beside ${beside}`;
  return 'Hob cannot enforce it in a grammar, and ignoring it could generate values the schema rejects';
}
