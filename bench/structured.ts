// Structured-output benchmark: decode tokens/s under a 20-property JSON
// schema against unconstrained decoding, for Hob and for node-llama-cpp
// (llama.cpp, CPU), on one random Qwen2-0.5B-shaped Q4_0 model carrying
// Qwen 3's real 151,669-token vocabulary (bench/structured-case.ts).
// Two cases:
//   random:  the random model's own choices. Outside strings nearly every
//            sampled token is refused and every logit is masked: the worst case.
//   teacher: teacher forcing; the model's logit of a valid document's next
//            token is raised, so its choice fits the grammar, as a trained
//            model's mostly does when asked for JSON: the sample-first path.
// Hob runs its real path (prepareRequest and generate, response_format
// json_schema; bench/structured-hob.ts) in this process;
// node-llama-cpp runs in a child (bench/structured-native.ts) with
// llama.cpp's own grammar for the schema. Free and constrained runs
// alternate (A/B, B/A, ...) after a warm-up. A run's rate counts the steps
// after its first sampled token, each an evaluation and a sample (prefill
// excluded); every step's time is kept too, and step-time quantiles over
// all runs of an arm are reported beside the medians of runs, since a
// shared machine's load comes in bursts. Also: the schema's compile times,
// the per-model vocabulary index, refused samples, and where a step's time
// goes (a profiled run per arm). Writes bench/structured.json and prints
// Markdown tables. A benchmark, not a test: it asserts nothing about speed.
//
//   npm run bench:structured -- [--decode 64] [--reps 5] [--threads 2[,1]]
//        [--peers hob,native] [--out bench/structured.json] [--dir DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { SAMPLING, SCHEMA, TEACHER_BIAS, writeBenchModel } from './structured-case.js';
import { runHob, type Arm, type Case, type ColdWarm, type HobRun } from './structured-hob.js';
import type { NativeJob, NativeResult } from './structured-native.js';

const { values: opts } = parseArgs({
  options: {
    decode: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    peers: { type: 'string', default: 'hob,native' },
    out: { type: 'string', default: 'bench/structured.json' },
    dir: { type: 'string', default: join(tmpdir(), 'hob-bench-models') },
    'peer-modules': { type: 'string', default: 'scripts/oracle/node_modules' },
    // llama.cpp's converter (scripts/oracle/build-json-schema-tool.sh).
    'schema-tool': { type: 'string', default: 'build/json-schema-tool/json-schema-to-grammar' },
    'settle-ms': { type: 'string', default: '1500' },
  },
});
const nDecode = Number(opts.decode);
const reps = Number(opts.reps);
const threadList = opts.threads!.split(',').map(Number);
const peers = opts.peers!.split(',');
const root = resolve(import.meta.dirname, '..');
const CASES = ['random', 'teacher'] as const;

const round = (x: number, d = 2): number => Number(x.toFixed(d));
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
};
const median = (xs: number[]): number => quantile(xs, 0.5);
const load = (): number[] => loadavg().map((x) => round(x));

/** llama.cpp's own grammar for the schema, from its converter when built. */
function llamaGbnf(hobGbnf: string): { gbnf: string; source: string } {
  const tool = resolve(root, opts['schema-tool']!);
  if (existsSync(tool)) {
    const r = spawnSync(tool, [], { input: JSON.stringify(SCHEMA), encoding: 'utf8' });
    if (r.status === 0) return { gbnf: r.stdout, source: "llama.cpp's json-schema-to-grammar (common/json-schema-to-grammar.cpp)" };
    console.error(`llama.cpp's converter refused the schema: ${r.stderr}`);
  } else {
    console.error(`${tool} is missing (bash scripts/oracle/build-json-schema-tool.sh): node-llama-cpp gets Hob's grammar`);
  }
  return { gbnf: hobGbnf, source: "Hob's jsonSchemaToGbnf (llama.cpp's converter was not available)" };
}

function runNative(modelPath: string, threads: number, promptIds: number[], docIds: number[], gbnf: string): NativeResult {
  const dir = join(tmpdir(), 'hob-bench-structured');
  mkdirSync(dir, { recursive: true });
  const gbnfPath = join(dir, 'schema.gbnf');
  writeFileSync(gbnfPath, gbnf);
  const job: NativeJob = {
    modelPath, promptIds, docIds, gbnfPath, nDecode, reps, threads, sampling: SAMPLING, teacherBias: TEACHER_BIAS,
    peerModules: resolve(root, opts['peer-modules']!),
  };
  const jobPath = join(dir, 'job.json');
  writeFileSync(jobPath, JSON.stringify(job));
  const r = spawnSync(process.execPath, [...process.execArgv, join(root, 'bench/structured-native.ts'), jobPath], {
    encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`node-llama-cpp failed (status ${r.status}, ${r.signal ?? 'no signal'}):\n${r.stdout}`);
  return JSON.parse(line.slice(7)) as NativeResult;
}

interface Sample {
  case: Case;
  arm: Arm;
  rep: number;
  steps: number;
  ms: number;
  stepMs: number[];
  cpuMs: number;
}

/** One engine's numbers for one case. Rates in tokens/s; ratios are schema over free. */
interface Summary {
  /** Median over runs of each run's rate. */
  free: number;
  schema: number;
  ratio: number;
  /** Median over reps of the ratio of the two runs of a rep. */
  pairedRatio: number;
  /** From every step of every run of an arm: the median step and the fastest tenth. */
  stepMedian: { free: number; schema: number; ratio: number };
  stepP10: { free: number; schema: number; ratio: number };
  /** Tokens per second of the process's CPU time (its threads together), median of runs. */
  cpu: { free: number; schema: number; ratio: number };
  runs: { free: number[]; schema: number[] };
}

function summarize(samples: Sample[], kase: Case): Summary {
  const of = (arm: Arm) => samples.filter((s) => s.case === kase && s.arm === arm && s.rep >= 0);
  const tps = (s: { steps: number; ms: number }) => s.steps / (s.ms / 1000);
  const free = of('free');
  const schema = of('schema');
  const pairs = schema.map((s) => tps(s) / tps(free.find((f) => f.rep === s.rep)!));
  const steps = (xs: Sample[]) => xs.flatMap((s) => s.stepMs);
  const atQuantile = (q: number) => {
    const f = 1000 / quantile(steps(free), q);
    const c = 1000 / quantile(steps(schema), q);
    return { free: round(f), schema: round(c), ratio: round(c / f, 3) };
  };
  const f = median(free.map(tps));
  const c = median(schema.map(tps));
  const tpc = (s: Sample) => s.steps / (s.cpuMs / 1000);
  const fc = median(free.map(tpc));
  const cc = median(schema.map(tpc));
  return {
    free: round(f), schema: round(c), ratio: round(c / f, 3), pairedRatio: round(median(pairs), 3),
    stepMedian: atQuantile(0.5), stepP10: atQuantile(0.1),
    cpu: { free: round(fc), schema: round(cc), ratio: round(cc / fc, 3) },
    runs: { free: free.map((s) => round(tps(s))), schema: schema.map((s) => round(tps(s))) },
  };
}

/** Whether every teacher-forced run wrote the document's tokens. */
const followed = (xs: { case: Case; tokens: number[] }[], docIds: number[]) =>
  xs.filter((s) => s.case === 'teacher').every((s) => s.tokens.every((t, i) => t === docIds[i]));

async function main(): Promise<void> {
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? '', totalMemGiB: round(totalmem() / 2 ** 30, 1), node: process.version };
  const loadStart = load();
  console.error(`machine: ${machine.cpus} × ${machine.model}; load ${loadStart.join(' ')}`);
  const t0 = performance.now();
  const { path, spec, written } = writeBenchModel(opts.dir!);
  console.error(`${written ? 'wrote' : 'reusing'} ${path} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  let compile: HobRun['compile'];
  let first: HobRun | undefined;
  const configs = [];
  for (const threads of threadList) {
    const hob = await runHob(path, { threads, nDecode, reps, settleMs: Number(opts['settle-ms']), compile: !compile, log: (l) => console.error(l) });
    compile ??= hob.compile;
    first ??= hob;
    const g = peers.includes('native') ? llamaGbnf(hob.gbnf) : undefined;
    let native: (NativeResult & { grammarSource: string }) | undefined;
    try {
      native = g && { grammarSource: g.source, ...runNative(path, threads, hob.promptIds, hob.docIds, g.gbnf) };
    } catch (e) {
      // Hob's numbers are still written; the table says the peer is missing.
      console.error(String(e));
    }
    configs.push({
      threads,
      hob: {
        variant: hob.info.variant,
        summary: Object.fromEntries(CASES.map((k) => {
          const runs = hob.samples.filter((s) => s.case === k && s.arm === 'schema' && s.rep >= 0);
          const refused = runs.reduce((a, s) => a + s.resamples, 0);
          const drawn = runs.reduce((a, s) => a + s.samples, 0);
          return [k, { ...summarize(hob.samples, k), refusedFraction: round(refused / drawn, 3) }];
        })),
        teacherFollowed: followed(hob.samples, hob.docIds),
        profile: hob.profiles,
        samples: hob.samples,
      },
      nodeLlamaCpp: native && {
        version: native.version,
        grammarSource: native.grammarSource,
        loadMs: round(native.loadMs),
        grammarCreateMs: { cold: round(native.grammarMs.cold, 3), warm: round(median(native.grammarMs.warm), 3) },
        summary: Object.fromEntries(CASES.map((k) => [k, summarize(native.samples, k)])),
        teacherFollowed: followed(native.samples, hob.docIds),
        samples: native.samples,
      },
    });
  }
  const result = {
    date: new Date().toISOString().slice(0, 10),
    machine,
    loadavg: { start: loadStart, end: load() },
    settings: {
      nDecode, reps, threads: threadList, sampling: SAMPLING, teacherBias: TEACHER_BIAS,
      order: 'per case: warm-up (free, schema; the first case twice around an idle pause), then reps of free,schema and schema,free alternately',
    },
    model: { spec, file: path.split('/').pop(), promptTokens: first!.promptIds.length, documentTokens: first!.docIds.length },
    schema: SCHEMA,
    compile,
    configs,
  };
  writeFileSync(resolve(root, opts.out!), JSON.stringify(result, null, 2) + '\n');
  console.log(tables(result));
}

type Result = {
  date: string;
  machine: { cpus: number; model: string };
  loadavg: { start: number[]; end: number[] };
  compile: HobRun['compile'];
  configs: {
    threads: number;
    hob: { summary: Record<string, Summary & { refusedFraction: number }>; profile: HobRun['profiles'] };
    nodeLlamaCpp?: { summary: Record<string, Summary>; version: string; grammarCreateMs: { cold: number; warm: number } };
  }[];
};

function tables(r: Result): string {
  const x = (v: number) => `${v.toFixed(2)}×`;
  const lines = [
    `Decode tokens/s under the 20-property schema ("schema") and without it ("free"): random Qwen2-0.5B-shaped Q4_0 model, Qwen 3's vocabulary ` +
      `(151,669 tokens), ${nDecode} tokens (teacher forcing: the document's tokens up to that), ${reps} runs of each arm, interleaved; ` +
      `${r.date}, ${r.machine.cpus} × ${r.machine.model}, load average ${r.loadavg.start.join(' ')} at the start, ${r.loadavg.end.join(' ')} at the end.`,
    '',
    '| case | engine | threads | free | schema | ratio (median runs) | ratio (paired runs) | ratio (median step) | ratio (fastest tenth of steps) | ratio (tokens per CPU second) | refused samples |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const k of CASES) {
    for (const c of r.configs) {
      const h = c.hob.summary[k];
      const name = k === 'random' ? "random model's own choice" : 'teacher forcing';
      lines.push(`| ${name} | Hob | ${c.threads} | ${h.free} | ${h.schema} | ${x(h.ratio)} | ${x(h.pairedRatio)} | ${x(h.stepMedian.ratio)} | ${x(h.stepP10.ratio)} | ${x(h.cpu.ratio)} | ${(100 * h.refusedFraction).toFixed(0)}% |`);
      const n = c.nodeLlamaCpp?.summary[k];
      if (n) lines.push(`| ${name} | node-llama-cpp ${c.nodeLlamaCpp!.version} | ${c.threads} | ${n.free} | ${n.schema} | ${x(n.ratio)} | ${x(n.pairedRatio)} | ${x(n.stepMedian.ratio)} | ${x(n.stepP10.ratio)} | ${x(n.cpu.ratio)} | |`);
    }
  }
  const c = r.compile as Record<string, ColdWarm>;
  const cpu = (v: number) => `${v} ms`;
  const row = (name: string, t: ColdWarm) => `| ${name} | ${t.coldMs} ms | ${t.warmMs} ms | ${t.warmMinMs} ms | ${cpu(t.coldCpuMs)} | ${cpu(t.warmCpuMs)} |`;
  lines.push(
    '',
    '| compile (Hob) | first call | later calls, median | fastest | CPU, first call | CPU, later median |',
    '|---|---:|---:|---:|---:|---:|',
    row('JSON schema → GBNF', c.schemaToGbnf),
    row('GBNF parse', c.gbnfParse),
    row('schema → grammar (both)', c.schemaToGrammar),
    row('matcher for a request', c.matcherCreate),
    row('prepareRequest with the schema (template, tokens, grammar)', c.prepareRequestSchema),
    row('vocabulary index (once per model)', c.vocabIndex),
  );
  const n = r.configs.find((k) => k.nodeLlamaCpp)?.nodeLlamaCpp;
  if (n) lines.push(`| llama.cpp grammar from GBNF (node-llama-cpp createGrammar) | ${n.grammarCreateMs.cold} ms | ${n.grammarCreateMs.warm} ms | | | |`);
  for (const cfg of r.configs) {
    const p = cfg.hob.profile;
    const stages = [...new Set(Object.values(p).flatMap((s) => Object.keys(s.msPerStep)))];
    lines.push('', `Hob, ${cfg.threads} threads: ms per step, one profiled run per arm`, '', `| stage | ${Object.keys(p).join(' | ')} |`, `|---|${Object.keys(p).map(() => '---:').join('|')}|`);
    for (const s of stages) lines.push(`| ${s} | ${Object.values(p).map((v) => v.msPerStep[s] ?? '').join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

await main();
