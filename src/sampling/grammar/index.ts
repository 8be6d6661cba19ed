// The GBNF grammar engine: parse once (parseGrammar), index a model's
// vocabulary once (GrammarVocab), then one GrammarMatcher per generation.
export { parseGrammar, type ParseGrammarOptions } from './parse.js';
export { printGrammar, type Grammar } from './rules.js';
export { DEFAULT_GRAMMAR_LIMITS, type GrammarLimits } from './limits.js';
export { GrammarVocab, grammarVocabFor, type VocabSource } from './vocab.js';
export { GrammarMatcher, grammarMatchesText, type GrammarMatcherOptions, type GrammarSnapshot } from './matcher.js';
export { escapeRegex, type GrammarTrigger } from './trigger.js';
export type { GrammarBuilder } from './builder.js';
