// hob complete, tokenize and inspect.
import { readFile } from 'node:fs/promises';

import { Engine, Sampler } from '../../core/engine.js';
import { complete } from '../../core/generate.js';
import { Sequence } from '../../core/sequence.js';
import { readGgufHeaderFile } from '../index.js';
import { modelOptions, num, parseCommand, samplerOptions, samplingOptions, UsageError } from './args.js';
import { cachedModelFailure, logShift, modelArg, openModel, prefillWithProgress, resolveModelPath } from './model.js';

export async function tokenizeCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    text: { type: 'string' },
    prompt: { type: 'string', short: 'p' },
    'no-special': { type: 'boolean' },
  });
  const text = o.text ?? o.prompt;
  if (text === undefined) throw new UsageError('--text is required');
  const m = await openModel(o, positionals, { threads: 1, withGpu: false });
  process.stdout.write(JSON.stringify({ ids: m.model.tokenize(text, { addSpecial: !o['no-special'] }) }) + '\n');
  m.close();
}

export async function inspectCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, { ...modelOptions, full: { type: 'boolean' } });
  const arg = modelArg(o, positionals);
  const path = await resolveModelPath(arg, !o['no-progress'] && process.stderr.isTTY === true, o);
  const engine = await Engine.create({ threads: 1 });
  const header = await readGgufHeaderFile(engine, path, { maxArray: o.full ? undefined : 16 }).catch((e: unknown) => {
    throw cachedModelFailure(e, arg, path);
  });
  process.stdout.write(JSON.stringify(header, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
}

export async function completeCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    ...samplingOptions,
    prompt: { type: 'string', short: 'p' },
    file: { type: 'string', short: 'f' },
    'n-predict': { type: 'string', short: 'n' },
    'ignore-eos': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (o.prompt !== undefined && o.file !== undefined) throw new UsageError('give --prompt or --file, not both');
  const prompt = o.file !== undefined ? await readFile(o.file, 'utf8') : o.prompt;
  if (prompt === undefined) throw new UsageError('--prompt (or --file) is required');
  const nPredict = num(o['n-predict'], 'n-predict', 32, { min: 0, integer: true });
  const sampling = samplerOptions(o);
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });

  const m = await openModel(o, positionals);
  const { engine, model } = m;
  if (m.gpu && !o.json && model.loadReport) {
    const r = model.loadReport;
    process.stderr.write(`gpu: ${r.gpuLayers} of ${r.nLayer} blocks on ${m.gpu.caps.adapterName} (${r.reason})\n`);
  }
  const session = model.createSession({ nCtx, nThreads: m.threads });
  const sequence = new Sequence(session, { onShift: logShift });
  const promptIds = model.tokenize(prompt);
  if (promptIds.length === 0) throw new UsageError('the prompt has no tokens');
  const early = await prefillWithProgress(sequence, promptIds, !o.json && !o['no-progress'] && process.stderr.isTTY === true);
  const result = await complete(model, sequence, new Sampler(engine, sampling), promptIds, {
    nPredict,
    ignoreEos: o['ignore-eos'],
    onToken: o.json ? undefined : (_t, piece) => process.stdout.write(piece),
  });
  // Chunks evaluated for the progress bar count as prefill too.
  const t = result.timings;
  t.reusedTokens -= early.evaluated;
  t.prefillTokens += early.evaluated;
  t.prefillMs += early.ms;
  t.prefillTokensPerSecond = t.prefillTokens / (t.prefillMs / 1000);
  const nThreads = session.nThreads;
  session.free();
  m.close();
  if (o.json) {
    process.stdout.write(
      JSON.stringify({ ...result, threads: nThreads, backend: `wasm-${engine.variant}`, gpuLayers: model.loadReport?.gpuLayers ?? 0 }) + '\n',
    );
  } else {
    process.stdout.write('\n');
    process.stderr.write(
      `prefill: ${t.prefillTokens} tokens, ${t.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
        `decode: ${t.decodeTokens} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tokens/s\n`,
    );
  }
}
