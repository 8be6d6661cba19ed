// allOf as llama.cpp's converter reads it: the components' properties merged
// into one object (all of them required; those of an anyOf inside the allOf
// optional), or the intersection of the components' enums. Here only where
// that reading is exact: no property defined twice, no component requiring
// or forbidding what the merged object does not do, no enum mixed with
// properties. Every other keyword of a component must hold for the merged
// value; the converter checks that with the `components` this returns.
import { escapePointer, limitError, schemaError } from './schema-errors.js';
import { has, nonEmptyArray, own, requiredNames, T_ANY, T_OBJECT, TYPE_MASKS, typeOfValue } from './schema-keywords.js';
import { resolvePointer } from './schema-refs.js';
import { dumpJson, formatLiteral, isPlainObject } from './schema-rules.js';

/** A property to generate: its name, its schema and where that sits. */
export interface PropEntry {
  key: string;
  schema: unknown;
  at: string;
}

/** A component's keywords to check: those the merge honoured, and the types
 * the value of the component has (null: those of the merged value). */
interface ComponentCheck {
  schema: Record<string, unknown>;
  at: string;
  honored: string[];
  types: { rule: string; types: number } | null;
}

export interface AllOfMerge {
  props: PropEntry[];
  required: Set<string>;
  /** The enum literals every component admits, sorted as llama.cpp sorts them. */
  enum: { texts: string[]; types: number } | null;
  components: ComponentCheck[];
  /** ['required'] if `s.required` names only properties the merge requires. */
  impliedRequired(s: Record<string, unknown>, at: string): string[];
}

export function mergeAllOf(comps: unknown[], at: string, root: unknown, maxDepth: number): AllOfMerge {
  const props: PropEntry[] = [];
  const owners = new Map<string, string>();
  const required = new Set<string>();
  const closed: { names: Set<string>; at: string }[] = [];
  const enums: Map<string, number>[] = [];
  const neutral: { c: Record<string, unknown>; at: string }[] = [];
  const components: ComponentCheck[] = [];
  const checked = (schema: Record<string, unknown>, cAt: string, honored: string[], types: number | null): void => {
    components.push({ schema, at: cAt, honored, types: types === null ? null : { rule: '', types } });
  };

  const add = (comp: unknown, isRequired: boolean, ptr: string): void => {
    let c = comp;
    let cAt = ptr;
    for (let hops = 0; isPlainObject(c) && has(c, '$ref'); hops++) {
      if (hops >= maxDepth) throw limitError('maxDepth', hops, maxDepth, cAt);
      checked(c, cAt, ['$ref'], T_ANY);
      ({ node: c, pointer: cAt } = resolvePointer(root, own(c, '$ref'), `${cAt}/$ref`));
    }
    if (c === true) c = {};
    if (!isPlainObject(c)) throw schemaError('allOf', cAt, 'an allOf component must be a schema object');
    if (has(c, 'properties')) {
      const p = own(c, 'properties');
      if (!isPlainObject(p)) throw schemaError('properties', `${cAt}/properties`, 'properties must be an object');
      for (const [key, schema] of Object.entries(p)) {
        if (schema === undefined) continue;
        const prev = owners.get(key);
        if (prev !== undefined) {
          throw schemaError('allOf', cAt, `property "${key}" is defined both at ${prev || '/'} and here; Hob merges allOf components only when their properties are distinct`);
        }
        owners.set(key, cAt);
        props.push({ key, schema, at: `${cAt}/properties/${escapePointer(key)}` });
        if (isRequired) required.add(key);
      }
      for (const r of requiredNames(c, cAt)) {
        if (!Object.hasOwn(p, r)) throw schemaError('required', `${cAt}/required`, `required property "${r}" is not in the component's properties`);
        if (!isRequired) throw schemaError('required', `${cAt}/required`, 'an anyOf alternative inside allOf cannot require properties: Hob makes its properties optional');
      }
      const additional = own(c, 'additionalProperties');
      if (additional === false && isRequired) closed.push({ names: new Set(Object.keys(p)), at: `${cAt}/additionalProperties` });
      else if (additional !== undefined && additional !== true) {
        throw schemaError('additionalProperties', `${cAt}/additionalProperties`, 'additionalProperties in an allOf component is supported only as false, outside anyOf');
      }
      checked(c, cAt, ['properties', 'required', 'additionalProperties'], T_OBJECT);
    } else if (has(c, 'enum')) {
      if (!isRequired) throw schemaError('enum', `${cAt}/enum`, 'an enum in an anyOf inside allOf is not supported');
      const type = own(c, 'type');
      const mask = typeof type === 'string' && Object.hasOwn(TYPE_MASKS, type) ? TYPE_MASKS[type] : T_ANY;
      const texts = new Map<string, number>();
      nonEmptyArray(c, 'enum', cAt).forEach((v, i) => {
        const text = formatLiteral(dumpJson(v, maxDepth, `${cAt}/enum/${i}`));
        if (typeOfValue(v) & mask) texts.set(text, typeOfValue(v));
      });
      checked(c, cAt, ['enum', 'type'], [...texts.values()].reduce((m, x) => m | x, 0));
      enums.push(texts);
    } else {
      // llama.cpp ignores the component; each of its keywords must hold.
      neutral.push({ c, at: cAt });
    }
  };

  comps.forEach((comp, i) => {
    const ptr = `${at}/allOf/${i}`;
    if (isPlainObject(comp) && has(comp, 'anyOf')) {
      checked(comp, ptr, ['anyOf'], T_OBJECT);
      nonEmptyArray(comp, 'anyOf', ptr).forEach((alt, j) => add(alt, false, `${ptr}/anyOf/${j}`));
    } else {
      add(comp, true, ptr);
    }
  });

  let enumResult: AllOfMerge['enum'] = null;
  if (enums.length > 0) {
    if (props.length > 0) throw schemaError('allOf', `${at}/allOf`, 'allOf mixes enums and object properties');
    const texts = [...enums[0].keys()].filter((text) => enums.every((e) => e.has(text))).sort(compareCodePoints);
    if (texts.length === 0) throw schemaError('allOf', `${at}/allOf`, 'the enums of the allOf components have no value in common: no value validates');
    enumResult = { texts, types: texts.reduce((m, text) => m | enums[0].get(text)!, 0) };
  } else {
    for (const c of closed) {
      const extra = props.find((p) => !c.names.has(p.key));
      if (extra) throw schemaError('additionalProperties', c.at, `forbids property "${extra.key}" that another allOf component adds`);
    }
  }
  const impliedRequired = (s: Record<string, unknown>, sAt: string): string[] =>
    has(s, 'required') && enumResult === null && [...requiredNames(s, sAt)].every((r) => required.has(r)) ? ['required'] : [];
  for (const n of neutral) components.push({ schema: n.c, at: n.at, honored: impliedRequired(n.c, n.at), types: null });
  return { props, required, enum: enumResult, components, impliedRequired };
}

/** Orders strings by code point, as std::string orders their UTF-8 bytes. */
function compareCodePoints(a: string, b: string): number {
  const ca = Array.from(a, (c) => c.codePointAt(0)!);
  const cb = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
  return ca.length - cb.length;
}
