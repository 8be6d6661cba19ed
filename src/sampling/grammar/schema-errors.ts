// How JSON-schema conversion fails: the bounds on the work a schema may
// cause, and the two errors, with the JSON pointer of the part of the
// schema they are about: a schema Hob cannot enforce ('grammar/schema',
// naming the keyword) and one whose conversion would outgrow a bound
// ('grammar/limit', naming the bound).
import { GrammarError } from '../../shared/errors.js';

/** Bounds on the work an untrusted schema can cause; past one, conversion
 * fails with GrammarError 'grammar/limit' naming it (details.limit). */
export interface SchemaGrammarLimits {
  /** Nesting of subschemas (and $ref hops) followed at once. */
  maxDepth: number;
  /** Subschemas visited in all (a schema that reuses parts can multiply them). */
  maxVisits: number;
  /** Characters of the grammar text. */
  maxGrammarChars: number;
  /** Rules in the grammar. */
  maxRules: number;
  /** The largest count in a counted repetition (minItems, maxItems,
   * minLength, maxLength, {n,m} in a pattern). llama.cpp's grammar parser
   * refuses more than 2000 and reads a larger maximum as no maximum at all. */
  maxRepetition: number;
  /** Symbols all counted repetitions expand to when the grammar is parsed. */
  maxRepetitionExpansion: number;
  /** Characters of one pattern. */
  maxPatternLength: number;
  /** Nesting of groups in one pattern (llama.cpp's MAX_PATTERN_DEPTH). */
  maxPatternDepth: number;
}

export const DEFAULT_SCHEMA_LIMITS: Readonly<SchemaGrammarLimits> = {
  maxDepth: 100,
  maxVisits: 20_000,
  maxGrammarChars: 1_000_000,
  maxRules: 20_000,
  maxRepetition: 2000,
  maxRepetitionExpansion: 200_000,
  maxPatternLength: 10_000,
  maxPatternDepth: 100,
};

export function schemaError(keyword: string, pointer: string, message: string): GrammarError {
  return new GrammarError('grammar/schema', `JSON schema at ${pointer || '/'}: ${message}`, { keyword, pointer });
}

export function limitError(limit: keyof SchemaGrammarLimits, value: number, max: number, pointer: string): GrammarError {
  return new GrammarError('grammar/limit', `JSON schema at ${pointer || '/'}: exceeds ${limit} (${value} > ${max})`, { limit, value, max, pointer });
}

/** A JSON pointer token for `key` (RFC 6901: ~ and / escaped). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
