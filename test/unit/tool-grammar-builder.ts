// A GrammarBuilder for tests, until the JSON-schema converter arrives: it
// writes GBNF for the small set of schemas the tool-call grammars hand it
// (objects with properties, const, enum, string, integer, number, boolean,
// arrays with minItems/maxItems, anyOf, a 9-character id pattern; anything
// else is any JSON value). Used by scripts/oracle/make-tool-grammar-fixtures.ts
// to have llama.cpp judge whole tool-call grammars, and by the test that
// checks the grammars still read as they did then.
import type { GrammarBuilder } from '../../src/sampling/grammar/builder.js';
import type { JsonSchema } from '../../src/shared/types.js';
import { gbnfLiteral } from '../../src/chat/tool-grammar.js';

const SPACE = '( " " | "\\n"{1,2} [ \\t]{0,20} )?';
const BASE: Record<string, string> = {
  space: SPACE,
  'json-string': '"\\"" ( [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\\"" space',
  'json-number': '"-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )? space',
  'json-integer': '"-"? ( "0" | [1-9] [0-9]{0,15} ) space',
  'json-boolean': '( "true" | "false" ) space',
  'json-null': '"null" space',
  'json-value': '( json-object | json-array | json-string | json-number | json-boolean | json-null )',
  'json-object': '"{" space ( json-string ":" space json-value ( "," space json-string ":" space json-value )* )? "}" space',
  'json-array': '"[" space ( json-value ( "," space json-value )* )? "]" space',
};

export class SchemaGrammarBuilder implements GrammarBuilder {
  readonly rules = new Map<string, string>(Object.entries(BASE));

  addRule(name: string, body: string): string {
    let n = name;
    for (let i = 1; this.rules.has(n); i++) n = `${name}-${i}`;
    this.rules.set(n, body);
    return n;
  }

  addSchema(name: string, schema: JsonSchema): string {
    return this.addRule(name, this.body(schema));
  }

  resolveRefs(): void {
    // $refs are written as any JSON value.
  }

  /** The grammar text, its root rule (named `root`, as llama.cpp expects) first. */
  text(root: string): string {
    const rules = [...this.rules].filter(([n]) => n !== 'root');
    const first = root === 'root' ? this.rules.get('root')! : root;
    return [`root ::= ${first}`, ...rules.map(([n, b]) => `${n} ::= ${b}`)].join('\n') + '\n';
  }

  private body(schema: JsonSchema): string {
    if (typeof schema !== 'object') return 'json-value';
    const s = schema as Record<string, unknown>;
    if ('const' in s) return `${gbnfLiteral(JSON.stringify(s.const))} space`;
    if (Array.isArray(s.enum)) return `( ${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')} ) space`;
    if (Array.isArray(s.anyOf)) return `( ${s.anyOf.map((a) => this.body(a as JsonSchema)).join(' | ')} )`;
    switch (s.type) {
      case 'string':
        return s.pattern === '^[a-zA-Z0-9]{9}$' ? '"\\"" [a-zA-Z0-9]{9} "\\"" space' : 'json-string';
      case 'integer':
        return 'json-integer';
      case 'number':
        return 'json-number';
      case 'boolean':
        return 'json-boolean';
      case 'array': {
        const item = this.body((s.items ?? {}) as JsonSchema);
        const min = (s.minItems as number | undefined) ?? 0;
        const max = s.maxItems as number | undefined;
        const more = max === undefined ? '*' : `{0,${max - 1}}`;
        const list = `( ${item} ) ( "," space ( ${item} ) )${more}`;
        return `"[" space ${min > 0 ? list : `( ${list} )?`} "]" space`;
      }
      case 'object': {
        const props = Object.entries((s.properties ?? {}) as Record<string, JsonSchema>);
        if (!props.length) return 'json-object';
        const required = new Set((s.required ?? []) as string[]);
        if (!props.some(([k]) => required.has(k))) return 'json-object';
        const kv = ([k, v]: [string, JsonSchema]) => `${gbnfLiteral(JSON.stringify(k))} space ":" space ${this.body(v)}`;
        // Required members in order, then each optional one, in order, or not.
        const req = props.filter(([k]) => required.has(k)).map(kv);
        const opt = props.filter(([k]) => !required.has(k)).map((p) => `( "," space ${kv(p)} )?`);
        return `"{" space ${[req.join(' "," space '), ...opt].join(' ')} "}" space`;
      }
      default:
        return 'json-value';
    }
  }
}
