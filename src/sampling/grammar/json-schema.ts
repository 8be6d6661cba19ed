// JSON Schema to GBNF, with llama.cpp's semantics (the converter llama-server
// uses, common/json-schema-to-grammar.cpp): the same grammar text for every
// schema Hob supports, so that equality of text proves equivalence
// (test/oracle/json-schema.test.ts checks it against llama.cpp's own tool).
// Also the JSON grammars for response_format { type: 'json_object' }.
// The conversion itself lives in json-schema-converter.ts (and the
// schema-*.ts helpers); the builder for composing grammars in builder.ts.
//
// Supported, as llama.cpp converts them: type (and arrays of types), const,
// enum, properties, required, additionalProperties, anyOf, oneOf (as anyOf:
// a value matching two alternatives is not excluded), allOf (merged objects,
// intersected enums), $ref to "#/..." within the schema ($defs, definitions,
// any JSON pointer, "#" itself; recursive references become recursive
// rules), items, prefixItems (with items: false), minItems, maxItems,
// minLength, maxLength, pattern (anchored ^...$, see schema-regex.ts),
// integer minimum, maximum, exclusiveMinimum, exclusiveMaximum (and the
// draft-04 boolean forms), format date, time, date-time, uuid; the schemas
// true (as {}) and false as a property's schema (the property is absent).
// Like llama.cpp, Hob generates a subset of what the schema admits: objects
// without properties beyond `properties` unless additionalProperties says
// so, tuples without extra items, integers of at most 16 digits, `{}` as any
// object, strings without the `\/` escape.
//
// Ignored, because they never reject a value: title, description, default,
// examples, example, deprecated, readOnly, writeOnly, $comment, $schema,
// $id, id, $anchor, $dynamicAnchor, $recursiveAnchor, $vocabulary, $defs,
// definitions, contentEncoding, contentMediaType, contentSchema, nullable
// (OpenAPI: only widens), discriminator, xml, externalDocs, keywords no
// JSON Schema draft defines, keywords of a type the rule cannot produce
// (minLength on an integer), keywords that hold for every value
// (uniqueItems: false, minItems: 0, required: [], items: true, ...), and
// formats int64, float, double.
//
// Rejected with GrammarError 'grammar/schema' (details.keyword and the JSON
// pointer details.pointer), where llama.cpp silently ignores them and may
// generate values the schema rejects: multipleOf, uniqueItems (unless at
// most one item), contains, patternProperties, propertyNames,
// minProperties/maxProperties (unless the generated objects always
// satisfy them), dependentRequired, dependentSchemas, dependencies,
// unevaluatedProperties (unless no extra property is generated), not,
// if/then/else, $dynamicRef, $recursiveRef, minimum/maximum on non-integer
// numbers, formats other than the four above (and int64/float/double),
// minItems/maxItems without items, minLength/maxLength beside a pattern or
// format that does not imply them, any keyword beside $ref, anyOf or oneOf
// (but annotations and a matching type), a required property missing from
// properties, prefixItems with an items schema, unsupported regex syntax,
// remote $refs (refused, never fetched), and schemas no value satisfies
// (false, an empty enum, min above max).
//
// Untrusted input: depth, visits, grammar size, rules, counted repetitions
// and the regex parser are bounded (SchemaGrammarLimits); past a bound the
// error is GrammarError 'grammar/limit' with details.limit naming it.
import type { JsonSchema } from '../../shared/types.js';
import { buildGrammar, type GrammarBuildOptions } from './builder.js';

export { DEFAULT_SCHEMA_LIMITS, type SchemaGrammarLimits } from './schema-errors.js';
export type { GrammarBuildOptions } from './builder.js';

/** The GBNF grammar that admits exactly the JSON values `schema` admits
 * (or a subset of them, see above), its root rule matching the whole
 * value: llama.cpp's json_schema_to_grammar. */
export function jsonSchemaToGbnf(schema: JsonSchema, opts?: GrammarBuildOptions): string {
  return buildGrammar((b) => {
    b.resolveRefs(schema);
    b.addSchema('root', schema);
  }, opts);
}

/** The grammar llama-server constrains response_format
 * { type: 'json_object' } with: its converter's grammar for the empty
 * schema {}, any JSON object. */
export const JSON_OBJECT_GBNF: string = jsonSchemaToGbnf({});

/** llama.cpp's grammars/json.gbnf (its rules; the comments left out): any
 * JSON object, with whitespace after every token. What llama.cpp's tools
 * and node-llama-cpp mean by the "json" grammar; llama-server uses
 * JSON_OBJECT_GBNF instead. Its number rule is llama.cpp's as written,
 * exponent digits and all. */
export const JSON_GBNF = [
  'root ::= object',
  'value ::= object | array | string | number | ("true" | "false" | "null") ws',
  'object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws',
  'array ::= "[" ws ( value ("," ws value)* )? "]" ws',
  'string ::= "\\"" ( [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\\"" ws',
  'number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws',
  'ws ::= | " " | "\\n" [ \\t]{0,20}',
  '',
].join('\n');
