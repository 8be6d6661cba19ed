// The `hob` command line: tokenize, complete and inspect with the wasm
// engine. Output is JSON where the command asks for it; any error is one
// line on stderr and exit status 1.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import { Engine, Sampler } from '../core/engine.js';
import { complete } from '../core/generate.js';
import { Sequence } from '../core/sequence.js';
import { HobError } from '../api/errors.js';
import { requestNodeGpu } from './gpu.js';
import { loadModelFile, readGgufHeaderFile } from './index.js';

const usage = `usage: hob <command> [options]

commands:
  tokenize  --model M --text T                 print {"ids": [...]}
  complete  --model M --prompt P [options]      generate text
            --n-predict N   tokens to generate (default 32)
            --temp T        temperature; 0 is greedy (default 0.8)
            --top-k K --top-p P --min-p P --repeat-penalty R --repeat-last-n N
            --seed S        random seed (default 0)
            --ctx-size C    context window (default: the model's)
            --threads T     threads (default: all cores)
            --gpu-layers N  blocks to offload to the GPU (WebGPU through the
                            'webgpu' package), counted from the last; 'auto'
                            takes as many as fit; -ngl is the same (default 0)
            --ignore-eos    keep generating after end-of-generation tokens
            --json          print ids, text and timings as JSON
  inspect   --model M [--full]                  metadata and tensor table as JSON
`;

class UsageError extends Error {}

function num(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    process.stdout.write(usage);
    return;
  }
  const { values: o } = parseArgs({
    // llama.cpp spells it -ngl, which is not a valid short option here.
    args: rest.map((a) => (a === '-ngl' ? '--gpu-layers' : a)),
    options: {
      model: { type: 'string', short: 'm' },
      text: { type: 'string' },
      prompt: { type: 'string', short: 'p' },
      'n-predict': { type: 'string', short: 'n' },
      temp: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      'repeat-last-n': { type: 'string' },
      seed: { type: 'string', short: 's' },
      'ctx-size': { type: 'string', short: 'c' },
      threads: { type: 'string', short: 't' },
      'gpu-layers': { type: 'string' },
      'ignore-eos': { type: 'boolean' },
      json: { type: 'boolean' },
      full: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (o.help) {
    process.stdout.write(usage);
    return;
  }
  if (!['tokenize', 'complete', 'inspect'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (!o.model) throw new UsageError('--model is required');

  const threads = command === 'complete' ? num(o.threads, 'threads', availableParallelism()) : 1;
  const engine = await Engine.create({ threads });

  if (command === 'inspect') {
    const header = await readGgufHeaderFile(engine, o.model, { maxArray: o.full ? undefined : 16 });
    process.stdout.write(JSON.stringify(header, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    return;
  }

  const gpuArg = o['gpu-layers'] ?? '0';
  const gpuLayers = gpuArg === 'auto' ? 'auto' : num(gpuArg, 'gpu-layers', 0);
  const gpu = command === 'complete' && gpuLayers !== 0 ? await requestNodeGpu() : undefined;
  const model = await loadModelFile(engine, o.model, { gpuLayers: command === 'complete' ? gpuLayers : 0, gpu });
  if (gpu && !o.json && model.loadReport) {
    const r = model.loadReport;
    process.stderr.write(`gpu: ${r.gpuLayers} of ${r.nLayer} blocks on ${gpu.caps.adapterName} (${r.reason})\n`);
  }
  if (command === 'tokenize') {
    process.stdout.write(JSON.stringify({ ids: model.tokenize(o.text ?? '') }) + '\n');
    return;
  }

  const session = model.createSession({ nCtx: num(o['ctx-size'], 'ctx-size', 0), nThreads: threads });
  const sampler = new Sampler(engine, {
    temperature: num(o.temp, 'temp', 0.8),
    topK: o['top-k'] === undefined ? undefined : num(o['top-k'], 'top-k', 40),
    topP: o['top-p'] === undefined ? undefined : num(o['top-p'], 'top-p', 0.95),
    minP: o['min-p'] === undefined ? undefined : num(o['min-p'], 'min-p', 0.05),
    repeatPenalty: o['repeat-penalty'] === undefined ? undefined : num(o['repeat-penalty'], 'repeat-penalty', 1),
    repeatLastN: o['repeat-last-n'] === undefined ? undefined : num(o['repeat-last-n'], 'repeat-last-n', 64),
    seed: num(o.seed, 'seed', 0),
  });
  const promptIds = model.tokenize(o.prompt ?? '');
  if (promptIds.length === 0) throw new UsageError('the prompt has no tokens');
  const result = await complete(model, new Sequence(session), sampler, promptIds, {
    nPredict: num(o['n-predict'], 'n-predict', 32),
    ignoreEos: o['ignore-eos'],
    onToken: o.json ? undefined : (_t, piece) => process.stdout.write(piece),
  });
  const nThreads = session.nThreads;
  session.free();
  model.free();
  gpu?.device.destroy();
  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        ...result,
        threads: nThreads,
        backend: `wasm-${engine.variant}`,
        gpuLayers: model.loadReport?.gpuLayers ?? 0,
      }) + '\n',
    );
  } else {
    process.stdout.write('\n');
    const t = result.timings;
    process.stderr.write(
      `prefill: ${t.prefillTokens} tokens, ${t.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
        `decode: ${t.decodeTokens} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tokens/s\n`,
    );
  }
}

// No process.exit on success: it would cut off output still queued for a
// pipe. The engine's threads do not hold the process open.
main(process.argv.slice(2)).catch((e: unknown) => {
  const msg = e instanceof HobError ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e);
  process.stderr.write(`hob: ${msg}\n`);
  if (e instanceof UsageError) process.stderr.write('run "hob --help" for usage\n');
  process.exitCode = 1;
});
