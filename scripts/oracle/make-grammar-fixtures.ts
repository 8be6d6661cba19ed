// Regenerates the grammar fixtures from llama.cpp:
//   test/fixtures/grammar-verdicts.json: whether each grammar parses, and for
//     each string whether the grammar matches it, from node-llama-cpp's
//     LlamaGrammar (isTextCompatible: llama_grammar_accept per code point);
//     and token-level inputs fed with llama_grammar_accept_token.
//   test/fixtures/grammar-generation.json: on a random f32 model with Qwen 3's
//     vocabulary (test/oracle/grammar-model.ts), llama.cpp's candidate set
//     (llama_grammar_apply_impl over every token) after each token of a
//     text fed through the grammar; and greedy tokens under a grammar from
//     node-llama-cpp (LlamaContextSequence.evaluate, temperature 0), and for
//     lazy grammars, which node-llama-cpp cannot build, from the harness.
// The harness (grammar-oracle.cpp) is compiled here against the libllama that
// node-llama-cpp ships, with the headers of the same llama.cpp commit taken
// from the git bundle in its package; it needs g++ and the linux-x64 binaries.
//   npx tsx scripts/oracle/make-grammar-fixtures.ts      (from the repository root)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { getLlama, LlamaGrammar, LlamaGrammarEvaluationState, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { GRAMMAR_MODEL, writeGrammarModel } from '../../test/oracle/grammar-model';
import {
  GREEDY_CASES, MASK_CASES, PARSE_FAILURES, TOKEN_CASES, VERDICT_CASES,
  type TokenItem, type TriggerSpec, type VerdictCase,
} from './grammar-cases';

const GENERATOR = 'node-llama-cpp 3.21.1';
const root = resolve(import.meta.dirname, '../..');
const oracleDir = import.meta.dirname;
const installed = JSON.parse(readFileSync(join(oracleDir, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;
if (`node-llama-cpp ${installed}` !== GENERATOR) throw new Error(`expected ${GENERATOR} but node-llama-cpp ${installed} is installed`);

const hex = (s: string | Uint8Array): string => {
  const b = typeof s === 'string' ? new TextEncoder().encode(s) : s;
  return b.length ? Buffer.from(b).toString('hex') : '-';
};

// ---------------------------------------------------------------------------
// The harness

function buildHarness(dir: string): { exe: string; bins: string } {
  const bins = join(oracleDir, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
  const libllama = readdirSync(bins).find((f) => /^libllama\.v.*\.so$/.test(f));
  const libggml = readdirSync(bins).find((f) => /^libggml\.v.*\.so$/.test(f));
  if (!libllama || !libggml) throw new Error(`no libllama / libggml in ${bins}`);
  const src = join(dir, 'llama.cpp');
  execFileSync('git', ['clone', '-q', join(oracleDir, 'node_modules/node-llama-cpp/llama/gitRelease.bundle'), src], { stdio: 'ignore' });
  const exe = join(dir, 'grammar-oracle');
  execFileSync('g++', [
    '-std=c++17', '-O1', join(oracleDir, 'grammar-oracle.cpp'), '-o', exe,
    `-I${src}/include`, `-I${src}/ggml/include`, `-I${src}/src`,
    `-L${bins}`, `-l:${libllama}`, `-l:${libggml}`, '-l:libggml-base.so', `-Wl,-rpath,${bins}`,
  ]);
  return { exe, bins };
}

class Harness {
  private readonly proc;
  private readonly lines: AsyncIterator<string>;

  constructor(exe: string, bins: string) {
    this.proc = spawn(exe, [bins], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  async ask(line: string): Promise<string> {
    this.proc.stdin.write(line + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error(`harness closed after: ${line.slice(0, 80)}`);
    return r.value;
  }

  async init(grammar: string, opts: { root?: string; vocab?: boolean; lazy?: { patterns: string[]; tokens: number[] } } = {}): Promise<boolean> {
    const lazy = opts.lazy;
    const pats = lazy ? [lazy.patterns.length, ...lazy.patterns.map(hex)] : [0];
    const toks = lazy ? [lazy.tokens.length, ...lazy.tokens] : [0];
    const r = await this.ask(['init', hex(grammar), hex(opts.root ?? 'root'), opts.vocab ? 1 : 0, lazy ? 1 : 0, ...pats, ...toks].join(' '));
    if (r.startsWith('error')) throw new Error(`harness init: ${Buffer.from(r.slice(6), 'hex').toString()}`);
    return r === 'ok';
  }

  async ok(line: string): Promise<boolean> {
    const r = await this.ask(line);
    return r === 'ok';
  }

  close(): void {
    this.proc.stdin.end('quit\n');
  }
}

// ---------------------------------------------------------------------------
// Verdicts

/** The (token, piece) pairs of a token-level input, as the harness takes them. */
function tokenPieces(items: TokenItem[]): [number, string][] {
  const out: [number, string][] = [];
  for (const it of items) {
    if (typeof it === 'number') out.push([it, hex(`<[${it}]>`)]);
    else if (typeof it === 'string') for (const ch of it) out.push([0, hex(ch)]);
    else out.push([it.token, it.hexPiece ?? hex(it.piece)]);
  }
  return out;
}

async function verdicts(llama: Llama, harness: Harness): Promise<unknown> {
  let disagreements = 0;
  const grammarOf = async (c: { grammar: string; root?: string }): Promise<LlamaGrammar | undefined> => {
    try {
      return await llama.createGrammar({ grammar: c.grammar, rootRuleName: c.root ?? 'root' });
    } catch {
      return undefined;
    }
  };
  const cases = [];
  for (const c of VERDICT_CASES as VerdictCase[]) {
    const g = await grammarOf(c);
    if (!g) throw new Error(`${c.name}: llama.cpp does not parse the grammar`);
    const test = (text: string): boolean => (g as unknown as { _grammar: { isTextCompatible(t: string): boolean } })._grammar.isTextCompatible(text);
    const out: [string, boolean][] = [];
    for (const [texts, want] of [[c.pass, true], [c.fail, false]] as const) {
      for (const t of texts) {
        const got = test(t);
        if (got !== want) {
          disagreements++;
          process.stdout.write(`  note: ${c.name}: llama.cpp says ${got} for ${JSON.stringify(t.slice(0, 60))}\n`);
        }
        out.push([t, got]);
      }
    }
    cases.push({ name: c.name, grammar: c.grammar, ...(c.root ? { root: c.root } : {}), verdicts: out });
  }
  const parseFailures = [];
  for (const c of PARSE_FAILURES) {
    const fails = (await grammarOf(c)) === undefined;
    if (!fails) {
      disagreements++;
      process.stdout.write(`  note: ${c.name}: llama.cpp parses it\n`);
    }
    parseFailures.push({ name: c.name, grammar: c.grammar, ...(c.root ? { root: c.root } : {}), fails });
  }
  const tokenCases = [];
  for (const c of TOKEN_CASES) {
    const out: [TokenItem[], boolean][] = [];
    for (const [inputs, want] of [[c.pass, true], [c.fail, false]] as const) {
      for (const items of inputs) {
        if (!(await harness.init(c.grammar))) throw new Error(`${c.name}: llama.cpp does not parse the grammar`);
        let ok = true;
        for (const [t, piece] of tokenPieces(items)) {
          if (!(await harness.ok(`accept_token ${t} ${piece}`))) {
            ok = false;
            break;
          }
        }
        if (ok) ok = (await harness.ask('complete')) === 'complete 1';
        if (ok !== want) {
          disagreements++;
          process.stdout.write(`  note: ${c.name}: llama.cpp says ${ok} for ${JSON.stringify(items)}\n`);
        }
        out.push([items, ok]);
      }
    }
    tokenCases.push({ name: c.name, grammar: c.grammar, verdicts: out });
  }
  const n = cases.reduce((a, c) => a + c.verdicts.length, 0) + parseFailures.length + tokenCases.reduce((a, c) => a + c.verdicts.length, 0);
  process.stdout.write(`verdicts: ${n} cases (${disagreements} differ from the intended verdict)\n`);
  return { generator: GENERATOR, cases, parseFailures, tokenCases };
}

// ---------------------------------------------------------------------------
// Candidate sets and greedy generation on the Qwen 3 vocabulary model

/** llama.cpp's trigger patterns for a trigger list (common_sampler_init). */
function lazyOf(model: LlamaModel, triggers: TriggerSpec[]): { patterns: string[]; tokens: number[] } {
  const escape = (s: string): string => s.replace(/[.^$|()*+?[\]{}\\]/g, '\\$&');
  const patterns: string[] = [];
  const tokens: number[] = [];
  for (const t of triggers) {
    if (t.type === 'word') patterns.push(escape(t.value));
    else if (t.type === 'pattern') patterns.push(t.value);
    else if (t.type === 'pattern_full') patterns.push(`${t.value.startsWith('^') ? '' : '^'}${t.value}${t.value.endsWith('$') ? '' : '$'}`);
    else {
      const ids = model.tokenize(t.text, true);
      if (ids.length !== 1) throw new Error(`trigger token ${t.text} is ${ids.length} tokens`);
      tokens.push(ids[0]);
    }
  }
  return { patterns, tokens };
}

/** A mask line of the harness as the fixture keeps it: the count, a hash,
 *  and the ids themselves when few are allowed or few rejected. */
function maskRecord(hexBits: string, nVocab: number): { count: number; sha256: string; ids?: number[]; notIds?: number[] } {
  const bytes = Buffer.from(hexBits, 'hex');
  const ids: number[] = [];
  for (let i = 0; i < nVocab; i++) if ((bytes[i >> 3] >> (i & 7)) & 1) ids.push(i);
  const rec: { count: number; sha256: string; ids?: number[]; notIds?: number[] } = {
    count: ids.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  if (ids.length <= 64) rec.ids = ids;
  else if (nVocab - ids.length <= 64) {
    const set = new Set(ids);
    rec.notIds = [];
    for (let i = 0; i < nVocab; i++) if (!set.has(i)) rec.notIds.push(i);
  }
  return rec;
}

/** GBNF literal for arbitrary text (every non-alphanumeric as an escape). */
function gbnfLiteral(text: string): string {
  let s = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    s += /[A-Za-z0-9 ]/.test(ch) ? ch : c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : c <= 0xffff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return s + '"';
}

async function generation(llama: Llama, harness: Harness, modelPath: string, spec: unknown, sha256: string): Promise<unknown> {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const nVocab = Number((await harness.ask(`vocab ${hex(modelPath)}`)).split(' ')[1]);
  const piece = async (id: number): Promise<Buffer> => Buffer.from((await harness.ask(`piece ${id}`)).slice(6).replace(/^-$/, ''), 'hex');

  const masks = [];
  for (const c of MASK_CASES) {
    const lazy = c.lazy ? lazyOf(model, c.lazy) : undefined;
    if (!(await harness.init(c.grammar, { vocab: true, lazy }))) throw new Error(`${c.name}: llama.cpp does not parse the grammar`);
    const tokens = model.tokenize(c.text, true).map(Number);
    const steps = [];
    let error: string | undefined;
    for (let i = 0; i <= tokens.length; i++) {
      const m = await harness.ask('mask');
      steps.push(maskRecord(m.slice(5), nVocab));
      if (i === tokens.length) break;
      const r = await harness.ask(`accept ${tokens[i]}`);
      if (r !== 'ok') {
        error = Buffer.from(r.slice(6), 'hex').toString();
        break;
      }
    }
    process.stdout.write(`mask ${c.name}: ${tokens.length} tokens, allowed ${steps.map((s) => s.count).join(' ')}${error ? ` (error: ${error})` : ''}\n`);
    masks.push({ name: c.name, grammar: c.grammar, ...(c.lazy ? { lazy: c.lazy } : {}), text: c.text, tokens, steps, ...(error ? { error } : {}) });
  }

  // Greedy generation: node-llama-cpp for grammars it can build, the harness
  // for all (a cross-check, and the only source for lazy grammars).
  const nCtx = 512;
  const context = await model.createContext({ contextSize: nCtx, batchSize: nCtx, threads: 2, flashAttention: false });
  const sequence = context.getSequence();
  await harness.ask(`model ${hex(modelPath)} ${nCtx}`);
  const harnessGreedy = async (grammar: string, promptIds: number[], n: number, lazy?: { patterns: string[]; tokens: number[] }): Promise<{ tokens: number[]; margins: number[] }> => {
    if (!(await harness.init(grammar, { vocab: true, lazy }))) throw new Error('llama.cpp does not parse the grammar');
    const r = await harness.ask(`greedy ${n} ${promptIds.length} ${promptIds.join(' ')}`);
    if (!r.startsWith('tokens')) throw new Error(`harness greedy: ${Buffer.from(r.slice(6), 'hex').toString()}`);
    const pairs = r.split(' ').slice(1).map((x) => x.split(':'));
    return { tokens: pairs.map((p) => Number(p[0])), margins: pairs.map((p) => (p[1] === 'inf' ? Infinity : Number(p[1]))) };
  };
  const greedy = [];
  for (const c of GREEDY_CASES) {
    const promptIds = model.tokenize(c.prompt, true).map(Number);
    let grammar = c.grammar;
    let lazy: TriggerSpec[] | undefined;
    if (c.lazyAuto) {
      // The trigger: `length` bytes from the middle of token `fromToken` of
      // the unconstrained output; the grammar starts with the text that the
      // trigger's token replays (from the trigger to the end of its piece).
      const free = await harnessGreedy('root ::= [\\x00-\\U0010FFFF]*', promptIds, c.nPredict, { patterns: ['^\\b\\B$'], tokens: [] });
      const pieces: Buffer[] = [];
      for (const t of free.tokens) pieces.push(await piece(t));
      const all = Buffer.concat(pieces);
      const start = Buffer.concat(pieces.slice(0, c.lazyAuto.fromToken)).length + 1;
      const word = all.subarray(start, start + c.lazyAuto.length);
      // The trigger fires on the token that completes the word; the grammar
      // is then fed the text from the word to the end of that token.
      let end = 0;
      for (const p of pieces) {
        end += p.length;
        if (end >= start + word.length) break;
      }
      const replayed = all.subarray(start, end);
      const valid = (b: Buffer): boolean => Buffer.from(b.toString('utf8'), 'utf8').equals(b);
      if (word.length !== c.lazyAuto.length || !valid(word) || !valid(replayed) || all.indexOf(word) !== start) {
        throw new Error(`${c.name}: pick another trigger than ${JSON.stringify(word.toString('latin1'))} in ${JSON.stringify(all.toString('latin1'))}`);
      }
      lazy = [{ type: 'word', value: word.toString('utf8') }];
      grammar = `root ::= ${gbnfLiteral(replayed.toString('utf8'))} tail\n${c.grammar}`;
    }
    const triggers = lazy ? lazyOf(model, lazy) : undefined;
    const viaHarness = await harnessGreedy(grammar, promptIds, c.nPredict, triggers);
    let tokens = viaHarness.tokens;
    if (!lazy) {
      // node-llama-cpp builds grammars without a vocabulary first: token
      // references go in by id.
      const byId = grammar.replace(/<([^[\]>]+)>/g, (_, text: string) => `<[${model.tokenize(`<${text}>`, true)[0]}]>`);
      const g = new LlamaGrammar(llama, { grammar: byId });
      const state = new LlamaGrammarEvaluationState({ model, grammar: g });
      await sequence.clearHistory();
      tokens = [];
      for await (const t of sequence.evaluate(promptIds as Token[], { temperature: 0, grammarEvaluationState: state, yieldEogToken: true })) {
        tokens.push(Number(t));
        if (model.isEogToken(t) || tokens.length >= c.nPredict) break;
      }
      if (JSON.stringify(tokens) !== JSON.stringify(viaHarness.tokens)) throw new Error(`${c.name}: node-llama-cpp ${tokens} and the harness ${viaHarness.tokens} disagree`);
    }
    const minMargin = Math.min(...viaHarness.margins);
    const text = model.detokenize(tokens.filter((t) => !model.isEogToken(t as Token)) as Token[], true);
    process.stdout.write(`greedy ${c.name}: ${tokens.length} tokens, min margin ${minMargin.toFixed(4)}: ${JSON.stringify(text)}\n`);
    if (minMargin < 1e-3) process.stdout.write(`  warning: near-tie in ${c.name}\n`);
    greedy.push({
      name: c.name, grammar, ...(lazy ? { lazy } : {}), prompt: c.prompt, promptIds, nPredict: c.nPredict,
      tokens, minMargin: Number(minMargin.toPrecision(4)), source: lazy ? 'harness' : 'node-llama-cpp',
    });
  }
  await context.dispose();
  await model.dispose();
  return { generator: GENERATOR, model: { spec, sha256, nVocab }, masks, greedy };
}

// ---------------------------------------------------------------------------

/** One JSON line per case keeps diffs readable. */
function writeFixture(path: string, value: Record<string, unknown>): void {
  const parts = Object.entries(value).map(([k, v]) =>
    Array.isArray(v) ? `  ${JSON.stringify(k)}: [\n${v.map((x) => '    ' + JSON.stringify(x)).join(',\n')}\n  ]` : `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  writeFileSync(path, `{\n${parts.join(',\n')}\n}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hob-grammar-'));
  const { exe, bins } = buildHarness(dir);
  const harness = new Harness(exe, bins);
  const llama = await getLlama({ gpu: false, build: 'never' });
  try {
    writeFixture(join(root, 'test/fixtures/grammar-verdicts.json'), (await verdicts(llama, harness)) as Record<string, unknown>);
    const { bytes, sha256 } = writeGrammarModel(GRAMMAR_MODEL);
    const modelPath = join(dir, 'model.gguf');
    writeFileSync(modelPath, bytes);
    writeFixture(join(root, 'test/fixtures/grammar-generation.json'), (await generation(llama, harness, modelPath, GRAMMAR_MODEL, sha256)) as Record<string, unknown>);
  } finally {
    harness.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
