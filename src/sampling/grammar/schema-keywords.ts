// Which JSON Schema keywords constrain which instances, and which never
// constrain anything: the tables behind the converter's rule that a keyword
// it does not enforce is an error unless ignoring it cannot let a value the
// schema rejects through. The keyword lists themselves are documented in
// json-schema.ts and docs/structured-output.md.
import { schemaError } from './schema-errors.js';

/** JSON instance types as bits, so that a set of types is a number. Integers
 * and other numbers are apart because `integer` admits only the first. */
export const T_NULL = 1;
export const T_BOOLEAN = 2;
export const T_INTEGER = 4;
export const T_FRACTION = 8;
export const T_STRING = 16;
export const T_ARRAY = 32;
export const T_OBJECT = 64;
export const T_NUMBER = T_INTEGER | T_FRACTION;
export const T_ANY = 127;

/** The values of `type`, as type sets. */
export const TYPE_MASKS: Readonly<Record<string, number>> = {
  null: T_NULL,
  boolean: T_BOOLEAN,
  integer: T_INTEGER,
  number: T_NUMBER,
  string: T_STRING,
  array: T_ARRAY,
  object: T_OBJECT,
};

/** The type of a JSON value (1.0 is an integer, as JSON Schema counts). */
export function typeOfValue(v: unknown): number {
  if (v === null) return T_NULL;
  if (typeof v === 'boolean') return T_BOOLEAN;
  if (typeof v === 'number') return Number.isInteger(v) ? T_INTEGER : T_FRACTION;
  if (typeof v === 'string') return T_STRING;
  if (Array.isArray(v)) return T_ARRAY;
  return T_OBJECT;
}

/** Keywords that never reject a value: annotations, identifiers and
 * containers of definitions (JSON Schema 2020-12 and earlier drafts, and
 * OpenAPI's additions). `nullable: true` (OpenAPI 3.0) only allows null, so
 * ignoring it narrows what is generated; `contentEncoding`,
 * `contentMediaType` and `contentSchema` are annotations since 2019-09. */
export const IGNORED_KEYWORDS: ReadonlySet<string> = new Set([
  'title',
  'description',
  'default',
  'examples',
  'example',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$comment',
  '$schema',
  '$id',
  'id',
  '$anchor',
  '$dynamicAnchor',
  '$recursiveAnchor',
  '$vocabulary',
  '$defs',
  'definitions',
  'contentEncoding',
  'contentMediaType',
  'contentSchema',
  'nullable',
  'discriminator',
  'xml',
  'externalDocs',
]);

const STRING_KEYWORDS = ['minLength', 'maxLength', 'pattern'];
const NUMBER_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'divisibleBy'];
const OBJECT_KEYWORDS = [
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
  'unevaluatedProperties',
];
const ARRAY_KEYWORDS = [
  'items',
  'prefixItems',
  'additionalItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'contains',
  'minContains',
  'maxContains',
  'unevaluatedItems',
];
const ANY_KEYWORDS = ['type', 'enum', 'const', 'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', '$ref', '$dynamicRef', '$recursiveRef', 'disallow', 'extends'];

const KEYWORD_TYPES = new Map<string, number>([
  ...STRING_KEYWORDS.map((k): [string, number] => [k, T_STRING]),
  ...NUMBER_KEYWORDS.map((k): [string, number] => [k, T_NUMBER]),
  ...OBJECT_KEYWORDS.map((k): [string, number] => [k, T_OBJECT]),
  ...ARRAY_KEYWORDS.map((k): [string, number] => [k, T_ARRAY]),
  ...ANY_KEYWORDS.map((k): [string, number] => [k, T_ANY]),
]);

/** Formats of numbers (OpenAPI). int64, float and double admit every number
 * the number and integer rules generate (at most 16 digits); int32 does not. */
const NUMBER_FORMATS = new Set(['int32', 'int64', 'float', 'double']);
const HARMLESS_NUMBER_FORMATS = new Set(['int64', 'float', 'double']);

/** The instance types a keyword constrains, or undefined for a keyword no
 * JSON Schema draft defines (validators ignore those; so does Hob). */
export function keywordTypes(keyword: string, value: unknown): number | undefined {
  if (keyword === 'format') return typeof value === 'string' && NUMBER_FORMATS.has(value) ? T_NUMBER : T_STRING;
  return KEYWORD_TYPES.get(keyword);
}

const isEmptyObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
const isTrueSchema = (v: unknown): boolean => v === true || isEmptyObject(v);

/** Whether `keyword: value` (in `schema`) holds for every value, so that
 * not enforcing it lets nothing through. */
export function isTrivialKeyword(keyword: string, value: unknown, schema: Record<string, unknown>): boolean {
  switch (keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties':
    case 'additionalItems':
    case 'unevaluatedItems':
    case 'items':
    case 'propertyNames':
      return isTrueSchema(value);
    case 'uniqueItems':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return value === false;
    case 'minItems':
    case 'minLength':
    case 'minProperties':
      return value === 0;
    case 'minContains':
    case 'maxContains':
      return schema.contains === undefined;
    case 'required':
    case 'prefixItems':
      return Array.isArray(value) && value.length === 0;
    case 'properties':
    case 'patternProperties':
    case 'dependentRequired':
    case 'dependentSchemas':
    case 'dependencies':
      return isEmptyObject(value);
    case 'then':
    case 'else':
      return schema.if === undefined;
    case 'format':
      return typeof value === 'string' && HARMLESS_NUMBER_FORMATS.has(value);
    default:
      return false;
  }
}

/** A keyword's value, if the schema has it as its own (not inherited from
 * Object.prototype, as `constructor` would be) and not undefined. */
export function own(s: Record<string, unknown>, keyword: string): unknown {
  return Object.hasOwn(s, keyword) ? s[keyword] : undefined;
}

export function has(s: Record<string, unknown>, keyword: string): boolean {
  return own(s, keyword) !== undefined;
}

/** The value of `keyword`, which must be a non-empty array (anyOf, enum, ...). */
export function nonEmptyArray(s: Record<string, unknown>, keyword: string, at: string): unknown[] {
  const v = own(s, keyword);
  if (!Array.isArray(v) || v.length === 0) throw schemaError(keyword, `${at}/${keyword}`, `${keyword} must be a non-empty array`);
  return v;
}

/** The names of `required` (none if absent). */
export function requiredNames(s: Record<string, unknown>, at: string): Set<string> {
  const required = own(s, 'required') ?? [];
  if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) {
    throw schemaError('required', `${at}/required`, 'required must be an array of strings');
  }
  return new Set(required as string[]);
}

/** The integers minimum/maximum/exclusiveMinimum/exclusiveMaximum admit,
 * as [lowest, highest] (null: unbounded). Rounded inward where a bound is
 * not an integer (llama.cpp truncates, admitting 1 for minimum 1.5), the
 * tighter of minimum and exclusiveMinimum where both are set (llama.cpp
 * reads only minimum), and draft-04's exclusiveMinimum: true, which makes
 * minimum exclusive (llama.cpp reads it as the number 1). */
export function integerBounds(s: Record<string, unknown>, at: string): [bigint | null, bigint | null] {
  const read = (k: string): number | boolean | undefined => {
    const v = own(s, k);
    if (v === undefined || (typeof v === 'boolean' && k.startsWith('exclusive'))) return v as boolean | undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw schemaError(k, `${at}/${k}`, `${k} must be a number`);
    return v;
  };
  const minimum = read('minimum');
  const exMin = read('exclusiveMinimum');
  const maximum = read('maximum');
  const exMax = read('exclusiveMaximum');
  const lows: number[] = [];
  const highs: number[] = [];
  if (typeof minimum === 'number') lows.push(exMin === true && Number.isInteger(minimum) ? minimum + 1 : Math.ceil(minimum));
  if (typeof exMin === 'number') lows.push(Math.floor(exMin) + 1);
  if (typeof maximum === 'number') highs.push(exMax === true && Number.isInteger(maximum) ? maximum - 1 : Math.floor(maximum));
  if (typeof exMax === 'number') highs.push(Math.ceil(exMax) - 1);
  const lo = lows.length > 0 ? Math.max(...lows) : null;
  const hi = highs.length > 0 ? Math.min(...highs) : null;
  for (const [b, k] of [
    [lo, 'minimum'],
    [hi, 'maximum'],
  ] as const) {
    if (b !== null && !Number.isSafeInteger(b)) throw schemaError(k, `${at}/${k}`, `the bound ${b} is beyond the integers a JSON number holds exactly (2^53)`);
  }
  if (lo !== null && hi !== null && lo > hi) throw schemaError('minimum', `${at}/minimum`, `no integer lies within the bounds (${lo} > ${hi})`);
  return [lo === null ? null : BigInt(lo), hi === null ? null : BigInt(hi)];
}
