// The builder through which GBNF grammars are composed from parts: named
// rules written by hand and rules generated from JSON schemas (tool-call
// arguments, response formats), as llama.cpp's common_grammar_builder does.
import type { JsonSchema } from '../../shared/types.js';

export interface GrammarBuilder {
  /** Adds a rule (GBNF right-hand side) under a name not yet taken (a
   * suffix makes it unique); returns the name it got. */
  addRule(name: string, body: string): string;
  /** Adds the rules that match `schema` (its $refs resolved, see
   * resolveRefs), the top one named after `name`; returns that rule's name. */
  addSchema(name: string, schema: JsonSchema): string;
  /** Registers the $defs / definitions of a schema so that $refs into it
   * resolve in later addSchema calls. */
  resolveRefs(schema: JsonSchema): void;
}
