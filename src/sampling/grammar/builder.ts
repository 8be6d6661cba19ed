// The builder through which GBNF grammars are composed from parts: named
// rules written by hand and rules generated from JSON schemas (tool-call
// arguments, response formats), as llama.cpp's common_grammar_builder does.
import { GrammarError, HobError } from '../../shared/errors.js';
import type { JsonSchema } from '../../shared/types.js';
import { SchemaConverter } from './json-schema-converter.js';
import { DEFAULT_SCHEMA_LIMITS, type SchemaGrammarLimits } from './schema-errors.js';

export interface GrammarBuilder {
  /** Adds a rule (GBNF right-hand side) under a name not yet taken (a
   * suffix makes it unique); returns the name it got. */
  addRule(name: string, body: string): string;
  /** Adds the rules that match `schema` (its $refs resolved, see
   * resolveRefs), the top one named after `name`; returns that rule's name.
   * `name` 'root' makes the top rule the grammar's root. The schema's
   * "#/..." references resolve against the document registered with
   * resolveRefs that holds it, else against the schema itself. */
  addSchema(name: string, schema: JsonSchema): string;
  /** Registers the $defs / definitions of a schema so that $refs into it
   * resolve in later addSchema calls. */
  resolveRefs(schema: JsonSchema): void;
}

/** Options of buildGrammar and jsonSchemaToGbnf. */
export interface GrammarBuildOptions {
  /** Bounds on the work a schema may cause (defaults: DEFAULT_SCHEMA_LIMITS). */
  limits?: Partial<SchemaGrammarLimits>;
}

/** Runs `build` against a fresh builder and returns the whole GBNF text:
 * every rule once, sorted by name, with the shared rules (`space`,
 * `string`, `value`, ...) that the added schemas use, as llama.cpp's
 * build_grammar does. A schema Hob cannot enforce, or one past a limit, is a
 * GrammarError ('grammar/schema' or 'grammar/limit'). */
export function buildGrammar(build: (b: GrammarBuilder) => void, opts: GrammarBuildOptions = {}): string {
  const limits = { ...DEFAULT_SCHEMA_LIMITS, ...opts.limits };
  for (const [name, value] of Object.entries(limits)) {
    // A NaN bound would compare false and bound nothing.
    if (typeof value !== 'number' || !(value >= 0)) throw new HobError('argument/invalid', `limits.${name} must be a non-negative number`, { name });
  }
  const converter = new SchemaConverter(limits);
  try {
    build({
      addRule: (name, body) => converter.addRule(name, body),
      addSchema: (name, schema) => converter.addSchema(name, schema),
      resolveRefs: (schema) => converter.registerDocument(schema),
    });
  } catch (e) {
    // Only a maxDepth raised far above the default lets nesting reach the
    // engine's stack; that too is a bound, and gets the bound's error.
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      throw new GrammarError('grammar/limit', `JSON schema nests deeper than the stack holds (maxDepth ${limits.maxDepth})`, { limit: 'maxDepth', max: limits.maxDepth });
    }
    throw e;
  }
  return converter.format();
}
