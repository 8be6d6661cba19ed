// Regenerates test/fixtures/json-schema-grammars.json: for every schema of
// json-schema-corpus.ts, the grammar llama.cpp's own converter makes
// (build/json-schema-tool, built by build-json-schema-tool.sh from
// llama.cpp's source), Hob's answer (the same text, or its own text and
// why, or the error it raises), and for each JSON instance whether it is
// valid (ajv, with ajv-formats) and whether llama.cpp's grammar engine
// (node-llama-cpp) accepts it whole under llama.cpp's grammar and under
// Hob's. Also sets of tool schemas composed through the builder (llama.cpp's
// build_grammar, as its tool-call grammars use it), and llama.cpp's JSON grammars (grammars/json.gbnf and the
// converter's grammar for {}, which llama-server uses for json_object).
//
// The script stops on anything unexplained: Hob's text differing from
// llama.cpp's without a reason in the corpus, a reason that no longer
// applies, an error Hob should (not) raise, a Hob grammar llama.cpp cannot
// parse, or a Hob grammar accepting an instance the schema rejects.
//   bash scripts/oracle/build-json-schema-tool.sh
//   npx tsx scripts/oracle/make-json-schema-fixtures.ts      (from the repository root)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { getLlama, type Llama } from 'node-llama-cpp';
import { isHobError } from '../../src/shared/errors';
import { buildGrammar } from '../../src/sampling/grammar/builder';
import { JSON_GBNF, JSON_OBJECT_GBNF, jsonSchemaToGbnf } from '../../src/sampling/grammar/json-schema';
import { CORPUS, TOOL_SETS, type CorpusCase } from './json-schema-corpus';

const GENERATOR = 'node-llama-cpp 3.21.1, ajv 8 with ajv-formats 3';
const root = resolve(import.meta.dirname, '../..');
const outPath = join(root, 'test/fixtures/json-schema-grammars.json');
const tool = join(root, 'build/json-schema-tool/json-schema-to-grammar');
const llamaSrc = process.env.LLAMA_CPP_SRC ?? join(root, 'build/llama.cpp-src');

type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

interface Instance {
  text: string;
  valid: boolean;
  /** Whether llama.cpp's grammar engine accepts the whole text. */
  llama?: boolean;
  hob?: boolean;
}

interface FixtureCase {
  name: string;
  schema: unknown;
  draft7?: true;
  llama: { grammar?: string; error?: string; warning?: string };
  hob: { same: true } | { grammar: string; why: string } | { error: { code: string; keyword: string; message: string } };
  instances: Instance[];
}

const failures: string[] = [];
const fail = (c: { name: string }, why: string): void => {
  failures.push(`${c.name}: ${why}`);
};

/** Texts that are not JSON (01, 1.) are invalid instances of any schema. */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function runTool(schema: unknown, args: string[] = []): FixtureCase['llama'] {
  const r = spawnSync(tool, args, { input: JSON.stringify(schema), encoding: 'utf8' });
  if (r.status === 0) return { grammar: r.stdout, ...(r.stderr.trim() ? { warning: r.stderr.trim() } : {}) };
  return { error: r.stderr.trim() };
}

/** A counted repetition {m,n} with m > n, if the grammar has one. */
function reversedRepetition(grammar: string): string | undefined {
  return [...grammar.matchAll(/\{(\d+),(\d+)\}/g)].find((m) => Number(m[1]) > Number(m[2]))?.[0];
}

/** Whether each text is accepted whole by `grammar`; null if llama.cpp cannot parse the grammar. */
async function verdicts(llama: Llama, grammar: string, texts: string[]): Promise<boolean[] | null> {
  let g: Awaited<ReturnType<Llama['createGrammar']>>;
  try {
    g = await llama.createGrammar({ grammar });
  } catch {
    return null;
  }
  const addon = (g as unknown as { _grammar: { isTextCompatible(text: string): boolean } })._grammar;
  return texts.map((t) => addon.isTextCompatible(t));
}

function hobAnswer(c: CorpusCase): { grammar: string } | { error: { code: string; keyword: string; message: string } } {
  try {
    return { grammar: jsonSchemaToGbnf(c.schema as never) };
  } catch (e) {
    if (!isHobError(e)) throw e;
    const keyword = String(e.code === 'grammar/limit' ? e.details.limit : e.details.keyword);
    return { error: { code: e.code, keyword, message: e.message } };
  }
}

async function main(): Promise<void> {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: run bash scripts/oracle/build-json-schema-tool.sh first`);
  const commit = spawnSync('git', ['-C', llamaSrc, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const ajv2020 = addFormats(new Ajv2020({ strict: false }) as unknown as Ajv);
  const ajv7 = addFormats(new Ajv({ strict: false }));
  const cases: FixtureCase[] = [];
  let sameCount = 0;
  let llamaLets = 0;

  for (const c of CORPUS) {
    if (process.env.VERBOSE) console.log(`- ${c.name}`);
    const texts = [...(c.values ?? []).map((v) => JSON.stringify(v)), ...(c.texts ?? [])];
    let validate: (v: unknown) => boolean;
    try {
      validate = (c.draft7 ? ajv7 : ajv2020).compile(c.schema as object) as (v: unknown) => boolean;
    } catch (e) {
      if (texts.length > 0) throw new Error(`${c.name}: ajv cannot compile the schema (${String(e)}); give it no instances`);
      validate = () => false;
    }
    const instances: Instance[] = texts.map((text) => ({ text, valid: isJson(text) && validate(JSON.parse(text)) }));
    const llamaOut = runTool(c.schema);
    if (llamaOut.grammar !== undefined && reversedRepetition(llamaOut.grammar)) {
      // x{5,2}: llama.cpp's grammar parser counts max - min repetitions in
      // unsigned arithmetic and loops (practically) forever on it.
      llamaOut.error = `its grammar holds ${reversedRepetition(llamaOut.grammar)}, on which llama.cpp's grammar parser hangs`;
    } else if (llamaOut.grammar !== undefined) {
      const v = await verdicts(llama, llamaOut.grammar, texts);
      if (v) v.forEach((ok, i) => (instances[i].llama = ok));
      else llamaOut.error = 'its grammar does not parse in llama.cpp';
    }
    const hob = hobAnswer(c);
    let hobEntry: FixtureCase['hob'];
    if ('error' in hob) {
      hobEntry = hob;
      if (!c.rejects) fail(c, `Hob raised ${hob.error.code} (${hob.error.message}) but the corpus expects a grammar`);
      else if (c.rejects.code !== hob.error.code || c.rejects.keyword !== hob.error.keyword) {
        fail(c, `Hob raised ${hob.error.code} naming ${hob.error.keyword}, the corpus expects ${c.rejects.code} naming ${c.rejects.keyword}`);
      }
      llamaLets += instances.filter((i) => i.llama && !i.valid).length;
    } else {
      if (c.rejects) fail(c, 'Hob made a grammar but the corpus expects it to refuse the schema');
      if (hob.grammar === llamaOut.grammar) {
        hobEntry = { same: true };
        sameCount++;
        if (llamaOut.error) fail(c, `Hob's grammar, llama.cpp's text, cannot be used: ${llamaOut.error}`);
        if (c.differs) fail(c, 'Hob now makes llama.cpp\'s grammar: drop "differs" from the corpus');
      } else {
        if (!c.differs) fail(c, `Hob's grammar differs from llama.cpp's with no reason given:\n--- llama.cpp\n${llamaOut.grammar ?? llamaOut.error}\n--- Hob\n${hob.grammar}`);
        hobEntry = { grammar: hob.grammar, why: c.differs ?? '' };
        const v = await verdicts(llama, hob.grammar, texts);
        if (!v) fail(c, "llama.cpp cannot parse Hob's grammar");
        else v.forEach((ok, i) => (instances[i].hob = ok));
      }
      const accepted = (i: Instance): boolean | undefined => ('same' in hobEntry ? i.llama : i.hob);
      for (const i of instances) if (accepted(i) && !i.valid) fail(c, `Hob's grammar accepts ${i.text}, which the schema rejects`);
    }
    cases.push({ name: c.name, schema: c.schema, ...(c.draft7 ? { draft7: true as const } : {}), llama: llamaOut, hob: hobEntry, instances });
  }

  // Tool sets through the builder, as llama.cpp's tool-call grammars use it.
  const toolSets: { name: string; tools: [string, unknown][]; llama: string; hob: { same: true } | { grammar: string; why: string }; instances: Instance[] }[] = [];
  for (const c of TOOL_SETS) {
    const llamaOut = runTool(c.tools, ['--tools']);
    if (llamaOut.grammar === undefined) throw new Error(`${c.name}: llama.cpp refused the tool set: ${llamaOut.error}`);
    const hob = buildGrammar((b) => {
      const names = c.tools.map(([name, schema]) => {
        b.resolveRefs(schema as never);
        return b.addSchema(name, schema as never);
      });
      b.addRule('root', names.join(' | '));
    });
    const texts = (c.values ?? []).map((v) => JSON.stringify(v));
    const validators = c.tools.map(([, schema]) => ajv2020.compile(schema as object));
    const instances: Instance[] = texts.map((text) => ({ text, valid: validators.some((v) => v(JSON.parse(text))) }));
    (await verdicts(llama, llamaOut.grammar, texts))?.forEach((ok, i) => (instances[i].llama = ok));
    let hobEntry: { same: true } | { grammar: string; why: string } = { same: true };
    if (hob !== llamaOut.grammar) {
      if (!c.differs) fail(c, `Hob's tool grammar differs from llama.cpp's with no reason given:\n--- llama.cpp\n${llamaOut.grammar}\n--- Hob\n${hob}`);
      hobEntry = { grammar: hob, why: c.differs ?? '' };
      (await verdicts(llama, hob, texts))?.forEach((ok, i) => (instances[i].hob = ok));
    } else if (c.differs) {
      fail(c, 'Hob now makes llama.cpp\'s tool grammar: drop "differs" from the corpus');
    }
    for (const i of instances) if (('same' in hobEntry ? i.llama : i.hob) && !i.valid) fail(c, `Hob's tool grammar accepts ${i.text}, which no tool's schema admits`);
    toolSets.push({ name: c.name, tools: c.tools, llama: llamaOut.grammar, hob: hobEntry, instances });
  }

  // The JSON grammars: llama.cpp's json.gbnf and llama-server's json_object grammar.
  const jsonTexts = ['{}', '{"a":1}', '{ "a" : [1, 2.5, "x", null, true, {"b": {}}] }', '[]', '1', '"s"', '{"a":1e10}', '{"a":01}', '{"a":}'];
  const gbnfFile = readFileSync(join(llamaSrc, 'grammars/json.gbnf'), 'utf8');
  const jsonObject = runTool({});
  if (jsonObject.grammar !== JSON_OBJECT_GBNF) failures.push('JSON_OBJECT_GBNF differs from llama.cpp\'s grammar for {}');
  const jsonGrammars = {
    jsonGbnf: { llama: gbnfFile, texts: jsonTexts, llamaVerdicts: await verdicts(llama, gbnfFile, jsonTexts), hobVerdicts: await verdicts(llama, JSON_GBNF, jsonTexts) },
    jsonObject: { llama: jsonObject.grammar ?? '', texts: jsonTexts, llamaVerdicts: await verdicts(llama, jsonObject.grammar ?? '', jsonTexts) },
  };
  if (JSON.stringify(jsonGrammars.jsonGbnf.llamaVerdicts) !== JSON.stringify(jsonGrammars.jsonGbnf.hobVerdicts)) failures.push('JSON_GBNF judges the JSON texts unlike json.gbnf');

  if (failures.length > 0) {
    console.error(failures.join('\n\n'));
    process.exit(1);
  }
  writeFileSync(outPath, JSON.stringify({ generator: GENERATOR, llamaCpp: commit, cases, toolSets, jsonGrammars }, null, 1) + '\n');
  const supported = cases.filter((c) => !('error' in c.hob)).length;
  const n = cases.reduce((s, c) => s + c.instances.length, 0);
  console.log(
    `wrote ${outPath}: ${cases.length} schemas (${sameCount} with llama.cpp's grammar text, ${supported - sameCount} with Hob's own, ` +
      `${cases.length - supported} refused), ${n} instances, ${toolSets.length} tool sets; llama.cpp's grammars accept ${llamaLets} invalid instances of the refused schemas`,
  );
}

await main();
