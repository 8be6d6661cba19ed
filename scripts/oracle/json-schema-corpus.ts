// The schemas make-json-schema-fixtures.ts runs through llama.cpp's converter
// and Hob's, each with JSON instances (valid and invalid; the fixture script
// asks ajv which is which). The kinds of cases of llama.cpp's
// tests/test-json-schema-to-grammar.cpp, and more: unions, recursion,
// patterns, unicode, realistic tool and response schemas, and the keywords
// Hob refuses, with the instances llama.cpp's grammar then lets through.
//
// `differs` says why Hob's grammar text is not llama.cpp's on purpose (the
// verdicts on the instances are compared instead); `rejects` names the error
// Hob raises for a schema it cannot enforce.

export interface CorpusCase {
  name: string;
  schema: unknown;
  /** Instances as values, written as compact JSON. */
  values?: unknown[];
  /** Instances as raw text (whitespace, escapes). */
  texts?: string[];
  /** Validate with draft-07 semantics (items arrays) instead of 2020-12. */
  draft7?: boolean;
  differs?: string;
  /** The error Hob raises: its code, and the keyword (details.keyword) or
   * the limit (details.limit) it names. */
  rejects?: { code: 'grammar/schema' | 'grammar/limit'; keyword: string };
}

const DATE_WHY = "Hob's date rule knows month lengths (llama.cpp's admits 2023-02-31, which format date rejects) and leaves out 29 February";
const DOT_WHY = "`.` accepts no raw quote, backslash or control character (llama.cpp's dot does, so output can be invalid JSON); they come escaped";
const REF_WHY = 'references inside the target of a top-level $ref resolve (llama.cpp leaves them unresolved and turns them into any object)';
const NEG_WHY = 'a negated class also excludes the quote, backslash and controls raw (llama.cpp lets them through raw) and accepts their JSON escapes';

const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties), extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
  ...extra,
});

/** The 20-property schema of the speed measurement too. */
export const TWENTY_PROPERTIES = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string', minLength: 1, maxLength: 80 },
    email: { type: 'string', pattern: '^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$' },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    height: { type: 'number' },
    active: { type: 'boolean' },
    role: { type: 'string', enum: ['admin', 'editor', 'viewer'] },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 5 },
    address: obj({ street: { type: 'string' }, city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, ['city']),
    score: { type: 'number' },
    level: { type: 'integer', minimum: 1, maximum: 10 },
    nickname: { type: ['string', 'null'] },
    created: { type: 'string', format: 'date-time' },
    birthday: { type: 'string', format: 'date' },
    status: { enum: ['new', 'open', 'closed', null] },
    ratio: { type: 'number' },
    verified: { type: 'boolean' },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
    notes: { type: 'string', maxLength: 500 },
    priority: { type: 'integer', minimum: -5, maximum: 5 },
  },
  required: ['id', 'name', 'email', 'age', 'active', 'role'],
  additionalProperties: false,
};

export const CORPUS: CorpusCase[] = [
  // --- primitives and types
  { name: 'string', schema: { type: 'string' }, values: ['', 'abc', 'é"\\\n', 1, null], texts: ['"\\u0041"', '"a\\/b"'] },
  { name: 'number', schema: { type: 'number' }, values: [0, -1.5, 1e21, 12345678901234567, '1'], texts: ['1.5E+3', '01', '-0', '1.'] },
  { name: 'integer', schema: { type: 'integer' }, values: [0, -42, 1.5, '3', 9007199254740991], texts: ['1.0', '-0'] },
  { name: 'boolean', schema: { type: 'boolean' }, values: [true, false, 0, 'true'] },
  { name: 'null', schema: { type: 'null' }, values: [null, 0, 'null'] },
  { name: 'array without items', schema: { type: 'array' }, values: [[], [1, 'a', null, { b: [true] }], {}] },
  { name: 'object without properties', schema: { type: 'object' }, values: [{}, { a: 1, b: [null] }, []], texts: ['{ "a" : 1 }'] },
  { name: 'empty schema', schema: {}, values: [{}, { x: { y: 'z' } }, 1, 'a'] },
  { name: 'description only', schema: { description: 'Anything at all', title: 'Any' }, values: [1, 'a', null, [1], { a: false }] },
  { name: 'true schema', schema: true, values: [{}, { a: 1 }, 3], differs: 'llama.cpp refuses the boolean schema true; Hob reads it as {} (any object, as llama.cpp reads {})' },
  { name: 'nullable string', schema: { type: ['string', 'null'] }, values: ['x', null, 1] },
  {
    name: 'type union with per-type keywords',
    schema: { type: ['integer', 'string', 'null'], minimum: 10, maxLength: 3 },
    values: [10, 999, 9, 'abc', 'abcd', null, 1.5],
  },
  { name: 'type union of number and integer', schema: { type: ['number', 'integer'] }, values: [1, 1.5, -3e-7, 'x'] },

  // --- const and enum
  { name: 'string const', schema: { const: 'foo' }, values: ['foo', 'bar', 1] },
  { name: 'number const', schema: { const: 123 }, values: [123, 124, '123'] },
  { name: 'fractional const', schema: { const: 0.000125 }, values: [0.000125, 1.25e-4, 0] },
  {
    name: 'number constants',
    schema: { enum: [1.5e-7, 0.0001, 0.00001, 123456.789, -0.5, 1e15, 1e16, 1e19, 1e20, 2e21, 9007199254740993, -9.223372036854776e18, 1.7976931348623157e308] },
    values: [1.5e-7, 0.00001, 1e16, 1e20, 2e21, 1.7976931348623157e308, 3],
  },
  { name: 'object const', schema: { const: { a: [1, 'x'], b: null } }, values: [{ a: [1, 'x'], b: null }, { b: null, a: [1, 'x'] }, {}] },
  {
    name: 'const with escapes',
    schema: { type: 'string', const: ' \r \n " \\ \t \u0001 ', title: 'Code' },
    values: [' \r \n " \\ \t \u0001 ', ' '],
  },
  { name: 'enum of strings', schema: { type: 'string', enum: ['red', 'amber', 'green'] }, values: ['red', 'green', 'blue', 1] },
  { name: 'enum of mixed values', schema: { enum: ['red', null, 42, ['foo'], { a: 1 }, true] }, values: ['red', null, 42, ['foo'], { a: 1 }, true, false, 43] },
  {
    name: 'enum with unicode and quotes',
    schema: { enum: ['café', '日本語', 'emoji 😀', 'say "hi"', 'back\\slash', 'tab\there', 'line\nbreak'] },
    values: ['café', '日本語', 'emoji 😀', 'say "hi"', 'back\\slash', 'tab\there', 'line\nbreak', 'cafe'],
  },
  {
    name: 'enum filtered by type',
    schema: { type: 'string', enum: ['a', 1, null, 'b'] },
    values: ['a', 'b', 1, null],
    differs: 'enum values the type excludes are left out (llama.cpp generates 1 and null, which type string rejects)',
  },
  { name: 'nullable enum', schema: { type: ['string', 'null'], enum: ['x', 'y', null] }, values: ['x', null, 'z'] },

  // --- strings
  { name: 'minLength 1', schema: { type: 'string', minLength: 1 }, values: ['a', '', 'ab'] },
  { name: 'minLength 3', schema: { type: 'string', minLength: 3 }, values: ['abc', 'ab', 'abcdef', 'a\nb'] },
  { name: 'maxLength 3', schema: { type: 'string', maxLength: 3 }, values: ['', 'abc', 'abcd'], texts: ['"\\u0041bc"', '"\\u0041bcd"'] },
  { name: 'minLength and maxLength', schema: { type: 'string', minLength: 1, maxLength: 4 }, values: ['a', 'abcd', '', 'abcde', 'ü😀'] },
  { name: 'maxLength 0', schema: { type: 'string', maxLength: 0 }, values: ['', 'a'] },

  // --- integer ranges
  { name: 'integer min 0', schema: { type: 'integer', minimum: 0 }, values: [0, 7, 1234567890, -1] },
  { name: 'integer min 1', schema: { type: 'integer', minimum: 1 }, values: [1, 10, 0, -5] },
  { name: 'integer min 25', schema: { type: 'integer', minimum: 25 }, values: [25, 26, 30, 99, 100, 24, 19, 3] },
  { name: 'integer max 30', schema: { type: 'integer', maximum: 30 }, values: [30, 29, 0, -1000, 31, 100] },
  { name: 'integer min -5', schema: { type: 'integer', minimum: -5 }, values: [-5, -1, 0, 5000, -6, -10] },
  { name: 'integer max -5', schema: { type: 'integer', maximum: -5 }, values: [-5, -6, -100, -4, 0] },
  { name: 'integer min -123 max 42', schema: { type: 'integer', minimum: -123, maximum: 42 }, values: [-123, -100, 0, 42, -124, 43, 99] },
  { name: 'integer min 15 max 300', schema: { type: 'integer', minimum: 15, maximum: 300 }, values: [15, 99, 100, 299, 300, 14, 301, 1000] },
  { name: 'integer large range', schema: { type: 'integer', minimum: 1000, maximum: 999999999999 }, values: [1000, 5555, 999999999999, 999, 1000000000000] },
  { name: 'integer single value', schema: { type: 'integer', minimum: 7, maximum: 7 }, values: [7, 6, 8] },
  {
    name: 'integer exclusive bounds',
    schema: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 },
    values: [1, 9, 0, 10],
  },
  {
    name: 'integer with fractional bounds',
    schema: { type: 'integer', minimum: 1.5, maximum: 9.5 },
    values: [2, 9, 1, 10],
    differs: 'fractional bounds round inward (llama.cpp truncates 1.5 to 1 and generates 1, below the minimum)',
  },
  {
    name: 'integer minimum and tighter exclusiveMinimum',
    schema: { type: 'integer', minimum: 0, exclusiveMinimum: 5 },
    values: [6, 5, 0],
    differs: 'both lower bounds apply (llama.cpp reads only minimum and generates 0..5)',
  },

  // --- objects
  {
    name: 'required properties in original order',
    schema: { type: 'object', properties: { b: { type: 'string' }, c: { type: 'string' }, a: { type: 'string' } }, required: ['a', 'b', 'c'], additionalProperties: false, definitions: {} },
    values: [{ b: 'x', c: 'y', a: 'z' }, { a: 'z', b: 'x', c: 'y' }, { b: 'x', c: 'y' }],
  },
  { name: 'one optional property', schema: { properties: { a: { type: 'string' } }, additionalProperties: false }, values: [{}, { a: 'x' }, { a: 1 }, { b: 'x' }] },
  {
    name: 'optional properties',
    schema: { properties: { a: { type: 'string' }, b: { type: 'integer' }, c: { type: 'boolean' } }, additionalProperties: false },
    values: [{}, { a: 'x', c: true }, { b: 1 }, { a: 'x', b: 1, c: false }, { c: true, a: 'x' }, { d: 1 }],
  },
  {
    name: 'required and optional properties',
    schema: { properties: { b: { type: 'string' }, a: { type: 'string' }, d: { type: 'string' }, c: { type: 'string' } }, required: ['a', 'b'], additionalProperties: false },
    values: [{ b: '1', a: '2' }, { b: '1', a: '2', c: '4' }, { b: '1', a: '2', d: '3', c: '4' }, { a: '2' }],
  },
  {
    name: 'additionalProperties schema',
    schema: { type: 'object', additionalProperties: { type: 'array', items: { type: 'number' } } },
    values: [{}, { x: [1, 2.5] }, { x: [1], y: [] }, { x: ['a'] }, { x: 1 }],
  },
  { name: 'additionalProperties true', schema: { type: 'object', additionalProperties: true }, values: [{}, { a: 1 }, 1] },
  { name: 'additionalProperties false alone', schema: { type: 'object', additionalProperties: false }, values: [{}, { a: 1 }] },
  {
    name: 'required and additional properties',
    schema: { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: { type: 'string' } },
    values: [{ a: 1 }, { a: 1, b: 'x' }, { a: 1, b: 2 }, { b: 'x' }, { a: 1, aa: 'x', ab: 'y' }],
  },
  {
    name: 'required, optional and additional properties',
    schema: { type: 'object', properties: { and: { type: 'number' }, also: { type: 'number' } }, required: ['and'], additionalProperties: { type: 'number' } },
    values: [{ and: 1 }, { and: 1, also: 2 }, { and: 1, x: 3 }, { and: 1, al: 3, alsoo: 4 }, { and: 1, also: 'x' }],
  },
  {
    name: 'additional property names with a dash and a bracket',
    schema: { type: 'object', properties: { 'a-b': { type: 'integer' }, 'a]c': { type: 'integer' }, ad: { type: 'integer' } }, additionalProperties: { type: 'integer' } },
    values: [{ 'a-b': 1 }, { 'a]c': 2, z: 3 }, { ae: 4 }, { 'a-b': 'x' }],
    differs: 'class characters of property names are escaped in the additional-key rule (llama.cpp writes "-" raw between others, which makes a range)',
  },
  {
    name: 'property names with unicode, spaces and quotes',
    schema: obj({ 'naïve café': { type: 'string' }, 'with space': { type: 'integer' }, 'say "hi"': { type: 'boolean' }, '日本': { type: 'null' } }),
    values: [{ 'naïve café': 'x', 'with space': 1, 'say "hi"': true, 日本: null }, { 'naïve café': 'x' }],
  },
  {
    name: 'property named "*" beside additional properties',
    schema: { type: 'object', properties: { '*': { type: 'string' } }, additionalProperties: { type: 'integer' } },
    values: [{ '*': 'x' }, { '*': 'x', a: 1 }, { a: 1 }, { '*': 1 }],
    differs: 'a property named "*" is a property (llama.cpp confuses it with its marker for the additional properties and lets it repeat)',
  },
  {
    name: 'property with an empty name',
    schema: { properties: { '': { type: 'integer' }, a: { type: 'integer' } }, additionalProperties: { type: 'integer' } },
    values: [{}, { '': 1 }, { '': 1, a: 2, b: 3 }, { '': 'x' }],
    differs: "the value rule of a top-level property named \"\" is '-' (llama.cpp names it root, and the grammar's root becomes an integer)",
  },
  {
    name: 'names that collide with shared rules',
    schema: obj({ number: obj({ number: obj({ root: { type: 'number' } }) }), string: { type: 'string' }, dot: { type: 'string', pattern: '^.$' } }),
    values: [{ number: { number: { root: 1.5 } }, string: 'x', dot: 'y' }, { number: { number: { root: 'x' } }, string: 'x', dot: 'y' }],
    differs: DOT_WHY,
  },
  {
    name: 'property with the schema false',
    schema: { type: 'object', properties: { a: { type: 'integer' }, secret: false }, additionalProperties: { type: 'integer' } },
    values: [{}, { a: 1 }, { a: 1, b: 2 }, { a: 1, secret: 2 }, { se: 3 }],
    differs: 'a property whose schema is false is never generated nor admitted as an additional property (llama.cpp refuses the schema)',
  },
  {
    name: 'nested objects',
    schema: obj({ user: obj({ name: { type: 'string' }, address: obj({ city: { type: 'string' }, geo: obj({ lat: { type: 'number' }, lon: { type: 'number' } }) }) }) }),
    values: [{ user: { name: 'a', address: { city: 'b', geo: { lat: 1, lon: 2 } } } }, { user: { name: 'a', address: { city: 'b' } } }],
  },

  // --- arrays
  { name: 'array of strings', schema: { type: 'array', items: { type: 'string' } }, values: [[], ['a', 'b'], [1]] },
  { name: 'array of empty schemas', schema: { type: 'array', items: {} }, values: [[], [{}], [{ a: 1 }], [1]] },
  { name: 'minItems 2', schema: { items: { type: 'boolean' }, minItems: 2 }, values: [[true, false], [true, false, true], [true]] },
  { name: 'maxItems 0', schema: { items: { type: 'boolean' }, maxItems: 0 }, values: [[], [true]] },
  { name: 'maxItems 1', schema: { items: { type: 'boolean' }, maxItems: 1 }, values: [[], [true], [true, false]] },
  { name: 'maxItems 2', schema: { items: { type: 'boolean' }, maxItems: 2 }, values: [[], [true, true], [true, true, true]] },
  {
    name: 'minItems and maxItems of integer ranges',
    schema: { items: { type: 'integer', minimum: -12, maximum: 207 }, minItems: 3, maxItems: 5 },
    values: [[-12, 0, 207], [1, 2, 3, 4, 5], [1, 2], [1, 2, 3, 4, 5, 6], [1, 2, 208]],
  },
  { name: 'tuple', schema: { prefixItems: [{ type: 'string' }, { type: 'number' }] }, values: [['a', 1], ['a'], [1, 'a']] },
  {
    name: 'tuple closed with items false',
    schema: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'boolean' }], items: false },
    values: [[1, true], [1, true, 2], [1]],
    differs: 'prefixItems with items: false is the tuple llama.cpp generates (llama.cpp refuses items: false)',
  },
  { name: 'draft-07 tuple', draft7: true, schema: { items: [{ type: 'string' }, { type: 'null' }], additionalItems: false }, values: [['a', null], ['a'], ['a', null, 1]] },
  { name: 'tuple with formats', schema: { items: [{ format: 'date' }, { format: 'uuid' }, { format: 'time' }, { format: 'date-time' }] }, draft7: true, values: [['2024-01-31', '123e4567-e89b-12d3-a456-426614174000', '12:00:00Z', '2024-01-31T12:00:00+01:00'], ['2023-02-31', '123e4567-e89b-12d3-a456-426614174000', '12:00:00Z', '2024-01-31T12:00:00Z']], differs: DATE_WHY },
  {
    name: 'array of objects',
    schema: { type: 'array', items: obj({ id: { type: 'integer' }, label: { type: 'string' } }, ['id']), minItems: 1 },
    values: [[{ id: 1 }], [{ id: 1, label: 'a' }, { id: 2 }], [], [{ label: 'a' }]],
  },
  { name: 'nested arrays', schema: { type: 'array', items: { type: 'array', items: { type: 'integer' }, maxItems: 2 } }, values: [[[1, 2], []], [[1, 2, 3]]] },
  { name: 'uniqueItems with at most one item', schema: { type: 'array', items: { type: 'integer' }, maxItems: 1, uniqueItems: true }, values: [[], [1], [1, 1]] },

  // --- composition
  {
    name: 'anyOf of references',
    schema: {
      anyOf: [{ $ref: '#/definitions/foo' }, { $ref: '#/definitions/bar' }],
      definitions: { foo: { properties: { a: { type: 'number' } } }, bar: { properties: { b: { type: 'number' } } } },
      type: 'object',
    },
    values: [{}, { a: 1 }, { b: 2 }, { a: 'x' }],
  },
  {
    name: 'anyOf with a reference into properties',
    schema: {
      properties: { a: { anyOf: [{ type: 'string' }, { type: 'number' }] }, b: { anyOf: [{ $ref: '#/properties/a/anyOf/0' }, { type: 'boolean' }] } },
      type: 'object',
    },
    values: [{ a: 'x', b: true }, { a: 1, b: 'y' }, { b: 1 }],
  },
  { name: 'oneOf of disjoint types', schema: { oneOf: [{ type: 'string', maxLength: 2 }, { type: 'integer', minimum: 0 }] }, values: ['ab', 5, 'abc', -1] },
  { name: 'nullable through anyOf', schema: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Maybe' }, values: ['x', null, 1] },
  {
    name: 'allOf merging objects',
    schema: {
      allOf: [{ $ref: '#/definitions/foo' }, { $ref: '#/definitions/bar' }, { anyOf: [{ $ref: '#/definitions/baz' }, { $ref: '#/definitions/bam' }] }],
      definitions: {
        foo: { properties: { a: { type: 'number' } } },
        bar: { properties: { b: { type: 'number' } } },
        bam: { properties: { c: { type: 'number' } } },
        baz: { properties: { d: { type: 'number' } } },
      },
      type: 'object',
    },
    values: [{ a: 1, b: 2 }, { a: 1, b: 2, d: 3, c: 4 }, { a: 1 }, { a: 1, b: 'x' }],
  },
  {
    name: 'allOf of enums',
    schema: { allOf: [{ $ref: '#/definitions/foo' }, { $ref: '#/definitions/bar' }], definitions: { foo: { type: 'string', enum: ['a', 'b', 'c'] }, bar: { type: 'string', enum: ['b', 'c', 'd'] } } },
    values: ['b', 'c', 'a', 'd'],
  },

  // --- references
  {
    name: 'top-level $ref',
    schema: { $ref: '#/definitions/foo', definitions: { foo: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false } } },
    values: [{ a: 'x' }, {}, { a: 1 }],
  },
  {
    name: 'top-level $ref whose target refers on',
    schema: { $ref: '#/$defs/a', $defs: { a: obj({ b: { $ref: '#/$defs/c' } }), c: { type: 'string' } } },
    values: [{ b: 'x' }, { b: {} }],
    differs: REF_WHY,
  },
  {
    name: 'recursive linked list',
    schema: { $defs: { node: { type: 'object', properties: { value: { type: 'integer' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['value', 'next'], additionalProperties: false } }, $ref: '#/$defs/node' },
    values: [{ value: 1, next: null }, { value: 1, next: { value: 2, next: null } }, { value: 1 }, { value: 1, next: { value: 'x', next: null } }],
  },
  {
    name: 'recursive tree',
    schema: {
      type: 'object',
      properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/tree' } } },
      required: ['name'],
      additionalProperties: false,
      $defs: { tree: { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/tree' } } }, required: ['name'], additionalProperties: false } },
    },
    values: [{ name: 'a' }, { name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] }, { name: 'a', children: [{}] }],
  },
  {
    name: 'mutually recursive definitions',
    schema: {
      $ref: '#/$defs/expr',
      $defs: {
        expr: { anyOf: [{ type: 'integer' }, { $ref: '#/$defs/sum' }] },
        sum: obj({ op: { const: '+' }, args: { type: 'array', items: { $ref: '#/$defs/expr' }, minItems: 2, maxItems: 2 } }),
      },
    },
    values: [1, { op: '+', args: [1, 2] }, { op: '+', args: [1, { op: '+', args: [2, 3] }] }, { op: '-', args: [1, 2] }, { op: '+', args: [1] }],
    differs: REF_WHY,
  },
  {
    name: 'recursion through the root',
    schema: { type: 'object', properties: { value: { type: 'string' }, child: { $ref: '#' } }, required: ['value'], additionalProperties: false },
    values: [{ value: 'a' }, { value: 'a', child: { value: 'b' } }, { value: 'a', child: {} }],
    differs: 'Hob resolves "#" (the whole schema); llama.cpp refuses it',
  },
  {
    name: 'reference with escaped pointer characters',
    schema: { $ref: '#/$defs/a~1b', $defs: { 'a/b': { type: 'integer', minimum: 3 } } },
    values: [3, 2],
    differs: 'Hob decodes ~1 in JSON pointers; llama.cpp fails to resolve the reference',
  },

  // --- patterns
  { name: 'pattern simple', schema: { type: 'string', pattern: '^abc?d*efg+(hij)?kl$' }, values: ['abdefgkl', 'abcddefggghijkl', 'abefgkl', 'abdefkl'] },
  { name: 'pattern escapes', schema: { type: 'string', pattern: '^\\[\\]\\{\\}\\(\\)\\|\\+\\*\\?$' }, values: ['[]{}()|+*?', '[]{}'] },
  { name: 'pattern top-level alternation', schema: { type: 'string', pattern: '^A|B|C|D$' }, values: ['A', 'D', 'E'] },
  {
    name: 'pattern phone number',
    schema: { type: 'string', pattern: '^(\\([0-9]{1,3}\\))?[0-9]{3}-[0-9]{4} a{3,5}nd$' },
    values: ['(1)555-1234 aaand', '555-1234 aaaaand', '555-12345 aaand', '(1234)555-1234 aaand'],
  },
  { name: 'pattern non-capturing groups', schema: { type: 'string', pattern: '^(?:(?:ab)+c)?d$' }, values: ['d', 'ababcd', 'cd'] },
  { name: 'pattern code', schema: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' }, values: ['ABC-1234', 'AB-1234', 'abc-1234'] },
  { name: 'pattern hex colour', schema: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' }, values: ['#00ffAA', '#00ffA', '00ffAA'] },
  { name: 'pattern unicode literal', schema: { type: 'string', pattern: '^héllo wörld$' }, values: ['héllo wörld', 'hello world'] },
  { name: 'pattern with a quote', schema: { type: 'string', pattern: '^a"b$' }, values: ['a"b', 'ab'], differs: 'a quote in a pattern is generated as \\" (llama.cpp writes it raw, ending the JSON string)' },
  { name: 'pattern with a dot', schema: { type: 'string', pattern: '^a.c$' }, values: ['abc', 'a"c', 'a\\c', 'a\nc', 'ac'], differs: DOT_WHY },
  { name: 'pattern with negated class', schema: { type: 'string', pattern: '^[^@]+@[^@]+\\.[a-z]{2,}$' }, values: ['me@example.com', 'a"b@c.de', 'me@@x.com', 'me@x.c'], differs: NEG_WHY },
  {
    name: 'pattern with digit shorthand',
    schema: { type: 'string', pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)$' },
    values: ['1.2.3', '0.10.0', '01.2.3', '1.2'],
    differs: '\\d and \\w are supported (llama.cpp falls back to any string)',
  },
  {
    name: 'pattern escaped dot before a quantifier',
    schema: { type: 'string', pattern: '^ab\\.*$' },
    values: ['ab', 'ab...', 'abab.'],
    differs: 'a quantifier after an escape applies to that character (llama.cpp repeats the run "ab.")',
  },
  { name: 'pattern lazy quantifier', schema: { type: 'string', pattern: '^a+?b$' }, values: ['ab', 'aaab', 'b'], differs: 'lazy x+? is x+ (llama.cpp writes x+?, which GBNF reads as (x+)? and admits "b")' },
  { name: 'pattern printable ASCII class', schema: { type: 'string', pattern: '^[ -~]{1,8}$' }, values: ['hello', 'a"b', 'a\\b', '', '123456789'], differs: 'a class containing the quote or backslash generates them escaped (llama.cpp raw)' },
  { name: 'pattern escaped slash', schema: { type: 'string', pattern: '^https?:\\/\\/[a-z.]+$' }, values: ['https://example.com', 'http://a.b', 'ftp://a'], differs: 'escaped punctuation such as \\/ is supported (llama.cpp falls back to any string)' },
  { name: 'pattern empty', schema: { type: 'string', pattern: '^$' }, values: ['', 'a'] },
  { name: 'pattern optional groups and alternatives', schema: { type: 'string', pattern: '^(a|bc|)(x(y|z)?)*$' }, values: ['', 'bc', 'xyxz', 'ax', 'bcy'] },
  { name: 'pattern and implied lengths', schema: { type: 'string', pattern: '^[0-9]{5}$', minLength: 5, maxLength: 5 }, values: ['12345', '1234'] },

  // --- formats
  { name: 'format date', schema: { type: 'string', format: 'date' }, values: ['2024-01-31', '2023-04-30', '2023-02-28', '2023-02-31', '2023-04-31', '2024-13-01', 'x'], differs: DATE_WHY },
  { name: 'format time', schema: { type: 'string', format: 'time' }, values: ['12:34:56Z', '23:59:59.123+01:00', '24:00:00Z', '12:34:56'] },
  { name: 'format date-time', schema: { type: 'string', format: 'date-time' }, values: ['2024-01-31T12:34:56Z', '2024-01-31T12:34:56.789-05:30', '2024-01-31 12:34:56Z'], differs: DATE_WHY },
  { name: 'format uuid', schema: { type: 'string', format: 'uuid' }, values: ['123e4567-e89b-12d3-a456-426614174000', 'ABCDEF01-2345-6789-abcd-ef0123456789', '123e4567e89b12d3a456426614174000'] },
  { name: 'format uuid in a property', schema: obj({ id: { type: 'string', format: 'uuid' }, when: { type: 'string', format: 'time' } }), values: [{ id: '123e4567-e89b-12d3-a456-426614174000', when: '01:02:03Z' }, { id: 'x', when: '01:02:03Z' }] },
  { name: 'harmless number format', schema: { type: 'integer', format: 'int64', minimum: 0 }, values: [0, 12, -1] },

  // --- realistic
  {
    name: 'weather tool arguments',
    schema: obj(
      {
        location: { type: 'string', description: 'City and country, e.g. Paris, France' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 14 },
      },
      ['location'],
    ),
    values: [{ location: 'Paris, France' }, { location: 'Oslo', unit: 'celsius', days: 3 }, { location: 'Oslo', days: 15 }, { unit: 'celsius' }],
  },
  {
    name: 'strict response format',
    schema: obj({
      answer: { type: 'string' },
      confidence: { type: 'number' },
      sources: { type: 'array', items: obj({ url: { type: 'string' }, title: { type: ['string', 'null'] } }) },
      followUp: { anyOf: [{ type: 'string' }, { type: 'null'}] },
    }),
    values: [
      { answer: 'x', confidence: 0.9, sources: [], followUp: null },
      { answer: 'x', confidence: 1, sources: [{ url: 'u', title: null }], followUp: 'y' },
      { answer: 'x', confidence: 1, sources: [{ url: 'u' }], followUp: null },
    ],
    texts: ['{\n  "answer": "x",\n  "confidence": 0.5,\n  "sources": [\n    {\n      "url": "u",\n      "title": "t"\n    }\n  ],\n  "followUp": null\n}'],
  },
  {
    name: 'recipe',
    schema: obj({
      title: { type: 'string', minLength: 1 },
      servings: { type: 'integer', minimum: 1, maximum: 12 },
      ingredients: { type: 'array', minItems: 1, items: obj({ name: { type: 'string' }, grams: { type: 'number' } }) },
      steps: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 10 },
      vegetarian: { type: 'boolean' },
    }),
    values: [
      { title: 'Soup', servings: 2, ingredients: [{ name: 'leek', grams: 200 }], steps: ['boil'], vegetarian: true },
      { title: '', servings: 2, ingredients: [{ name: 'leek', grams: 200 }], steps: ['boil'], vegetarian: true },
      { title: 'Soup', servings: 13, ingredients: [{ name: 'leek', grams: 200 }], steps: ['boil'], vegetarian: true },
    ],
  },
  {
    name: 'twenty properties',
    schema: TWENTY_PROPERTIES,
    values: [
      { id: '123e4567-e89b-12d3-a456-426614174000', name: 'Ada', email: 'ada@example.org', age: 36, active: true, role: 'admin' },
      { id: '123e4567-e89b-12d3-a456-426614174000', name: 'Ada', email: 'ada@example.org', age: 36, active: true, role: 'admin', tags: ['a'], address: { city: 'London' }, level: 3, status: null, country: 'GB', priority: -5 },
      { id: '123e4567-e89b-12d3-a456-426614174000', name: 'Ada', email: 'ada@example.org', age: 151, active: true, role: 'admin' },
      { id: '123e4567-e89b-12d3-a456-426614174000', name: 'Ada', email: 'ada@example', age: 36, active: true, role: 'admin' },
    ],
    differs: DATE_WHY,
  },

  // --- refused by Hob (llama.cpp ignores the keyword)
  { name: 'multipleOf', schema: { type: 'integer', multipleOf: 5 }, values: [10, 7], rejects: { code: 'grammar/schema', keyword: 'multipleOf' } },
  { name: 'uniqueItems', schema: { type: 'array', items: { type: 'integer' }, uniqueItems: true }, values: [[1, 2], [1, 1]], rejects: { code: 'grammar/schema', keyword: 'uniqueItems' } },
  { name: 'contains', schema: { type: 'array', items: { type: 'integer' }, contains: { const: 3 } }, values: [[3], [1]], rejects: { code: 'grammar/schema', keyword: 'contains' } },
  {
    name: 'patternProperties',
    schema: { type: 'object', properties: { a: { type: 'integer' } }, patternProperties: { '^x': { type: 'string' } } },
    values: [{ a: 1 }],
    rejects: { code: 'grammar/schema', keyword: 'patternProperties' },
  },
  { name: 'minProperties', schema: { type: 'object', properties: { a: { type: 'integer' } }, minProperties: 1 }, values: [{ a: 1 }, {}], rejects: { code: 'grammar/schema', keyword: 'minProperties' } },
  { name: 'not', schema: { type: 'string', not: { const: 'x' } }, values: ['y', 'x'], rejects: { code: 'grammar/schema', keyword: 'not' } },
  { name: 'if then else', schema: { type: 'integer', if: { minimum: 10 }, then: { multipleOf: 2 } }, values: [12, 11], rejects: { code: 'grammar/schema', keyword: 'if' } },
  { name: 'number bounds', schema: { type: 'number', minimum: 0, maximum: 1 }, values: [0.5, 2, -1], rejects: { code: 'grammar/schema', keyword: 'minimum' } },
  { name: 'format email', schema: { type: 'string', format: 'email' }, values: ['a@b.co', 'nope'], rejects: { code: 'grammar/schema', keyword: 'format' } },
  { name: 'minItems without items', schema: { type: 'array', minItems: 2 }, values: [[1, 2], []], rejects: { code: 'grammar/schema', keyword: 'minItems' } },
  { name: 'unanchored pattern', schema: { type: 'string', pattern: '[0-9]+' }, values: ['a1', 'abc'], rejects: { code: 'grammar/schema', keyword: 'pattern' } },
  { name: 'pattern with lookahead', schema: { type: 'string', pattern: '^(?=.*[A-Z]).{8,}$' }, values: ['Abcdefgh', 'abcdefgh'], rejects: { code: 'grammar/schema', keyword: 'pattern' } },
  {
    name: 'maxLength beside a pattern',
    schema: { type: 'string', pattern: '^[a-z]+$', maxLength: 3 },
    values: ['abc', 'abcd'],
    rejects: { code: 'grammar/schema', keyword: 'maxLength' },
  },
  {
    name: 'required property not in properties',
    schema: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a', 'b'], additionalProperties: true },
    values: [{ a: 1, b: 2 }, { a: 1 }],
    rejects: { code: 'grammar/schema', keyword: 'required' },
  },
  {
    name: 'keyword beside anyOf',
    schema: { anyOf: [{ type: 'object' }, { type: 'null' }], properties: { a: { type: 'integer' } }, required: ['a'] },
    values: [{ a: 1 }, {}],
    rejects: { code: 'grammar/schema', keyword: 'properties' },
  },
  {
    name: 'keyword beside $ref',
    schema: { $ref: '#/$defs/s', maxLength: 2, $defs: { s: { type: 'string' } } },
    values: ['ab', 'abc'],
    rejects: { code: 'grammar/schema', keyword: 'maxLength' },
  },
  { name: 'enum beside maxLength', schema: { enum: ['a', 'abcd'], maxLength: 2 }, values: ['a', 'abcd'], rejects: { code: 'grammar/schema', keyword: 'maxLength' } },
  { name: 'remote $ref', schema: { $ref: 'https://example.com/schema.json' }, rejects: { code: 'grammar/schema', keyword: '$ref' } },
  { name: 'min above max', schema: { type: 'string', minLength: 5, maxLength: 2 }, values: ['abc'], rejects: { code: 'grammar/schema', keyword: 'minLength' } },
  { name: 'empty enum', schema: { enum: [] }, rejects: { code: 'grammar/schema', keyword: 'enum' } },
  { name: 'allOf with a property twice', schema: { allOf: [{ properties: { a: { type: 'integer' } } }, { properties: { a: { type: 'integer', minimum: 5 } } }] }, values: [{ a: 5 }, { a: 1 }], rejects: { code: 'grammar/schema', keyword: 'allOf' } },
  { name: 'prefixItems with an items schema', schema: { type: 'array', prefixItems: [{ type: 'integer' }], items: { type: 'string' } }, values: [[1, 'a'], ['a', 'b']], rejects: { code: 'grammar/schema', keyword: 'items' } },
  { name: 'maxLength past the repetition limit', schema: { type: 'string', maxLength: 5000 }, values: ['abc', 'x'.repeat(5001)], rejects: { code: 'grammar/limit', keyword: 'maxRepetition' } },
];

/** Sets of tool parameter schemas, composed as llama.cpp's tool-call
 * grammars compose them through the builder: each schema added under its
 * name (refs resolved), then root as the alternation of the names. */
export interface ToolSetCase {
  name: string;
  tools: [string, unknown][];
  values?: unknown[];
  differs?: string;
}

const weatherArgs = obj({ city: { type: 'string' }, unit: { enum: ['c', 'f'] } }, ['city']);

export const TOOL_SETS: ToolSetCase[] = [
  {
    name: 'two tools with shared rules',
    tools: [
      ['get_weather-args', weatherArgs],
      ['search-args', { type: 'object', properties: { q: { $ref: '#/$defs/q' }, limit: { type: 'integer', minimum: 1, maximum: 50 } }, required: ['q'], $defs: { q: { type: 'string', maxLength: 40 } } }],
    ],
    values: [{ city: 'Oslo' }, { city: 'Oslo', unit: 'c' }, { q: 'cats' }, { q: 'cats', limit: 3 }, { q: 'cats', limit: 51 }, { city: 1 }],
  },
  {
    name: 'tools named like shared rules',
    tools: [
      ['string', { type: 'object', properties: { s: { type: 'string' } } }],
      ['value', { type: 'object', properties: { v: {} } }],
      ['root', { type: 'integer' }],
    ],
    values: [{}, { s: 'x' }, { v: {} }, 3, 'x'],
  },
  {
    name: 'tools without parameters',
    tools: [
      ['now-args', { type: 'object', properties: {} }],
      ['ping-args', {}],
    ],
    values: [{}, { a: 1 }],
  },
  {
    name: 'tools whose $defs share names',
    tools: [
      ['a-args', obj({ x: { $ref: '#/$defs/item' } }), ],
      ['b-args', obj({ y: { $ref: '#/$defs/item' } })],
    ].map(([n, s], i) => [n, { ...(s as object), $defs: { item: i === 0 ? { type: 'integer' } : { type: 'string' } } }] as [string, unknown]),
    values: [{ x: 1 }, { y: 'a' }, { y: 1 }, { x: 'a' }],
    differs: "each tool's references resolve in its own schema (llama.cpp resolves the second tool's #/$defs/item to the first tool's definition)",
  },
  {
    name: 'tools with recursive and nested parameters',
    tools: [
      ['create_file-args', obj({ path: { type: 'string', pattern: '^[a-z/]+\\.txt$' }, content: { type: 'string' }, mode: { type: 'integer', minimum: 0, maximum: 511 } }, ['path', 'content'])],
      ['make_tree-args', { type: 'object', properties: { root: { $ref: '#/$defs/node' } }, required: ['root'], additionalProperties: false, $defs: { node: obj({ name: { type: 'string' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } }, ['name']) } }],
    ],
    values: [{ path: 'a/b.txt', content: 'x' }, { path: 'a/b.txt', content: 'x', mode: 420 }, { root: { name: 'a', kids: [{ name: 'b' }] } }, { path: 'B.txt', content: 'x' }],
  },
];
