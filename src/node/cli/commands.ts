// hob complete, tokenize and inspect.
import { readFile } from 'node:fs/promises';

import { Session } from '../../core/session.js';
import { Engine } from '../../core/wasm-engine.js';
import { generate, type GenerationResult } from '../../runtime/generate.js';
import { prepareRequest } from '../../runtime/request.js';
import { Sequence } from '../../runtime/sequence.js';
import { MAX_TOP_LOGPROBS } from '../../sampling/logprobs.js';
import { loadVocabFile, readGgufHeaderFile } from '../index.js';
import { constraintOptions, modelOptions, num, parseCommand, samplingOptions, samplingParams, UsageError } from './args.js';
import { cachedModelFailure, logShift, modelArg, openModel, PROMPT_PROGRESS_MIN, resolveModelPath } from './model.js';
import { constraintParams } from './constraints.js';
import { imageOptions, loadProjectorFile, projectorPath, readImages } from './images.js';
import { ProgressBar } from './progress.js';

export async function tokenizeCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    text: { type: 'string' },
    prompt: { type: 'string', short: 'p' },
    'no-special': { type: 'boolean' },
  });
  const text = o.text ?? o.prompt;
  if (text === undefined) throw new UsageError('--text is required');
  // The vocabulary alone: no weight is read, so vocabulary-only files work
  // and a large model tokenizes at once.
  const arg = modelArg(o, positionals);
  const path = await resolveModelPath(arg, !o['no-progress'] && process.stderr.isTTY === true, o);
  const engine = await Engine.create({ threads: 1 });
  const model = await loadVocabFile(engine, path).catch((e: unknown) => {
    throw cachedModelFailure(e, arg, path);
  });
  process.stdout.write(JSON.stringify({ ids: model.tokenize(text, { addSpecial: !o['no-special'] }) }) + '\n');
  model.free();
  engine.dispose();
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
    ...constraintOptions,
    ...imageOptions,
    prompt: { type: 'string', short: 'p' },
    file: { type: 'string', short: 'f' },
    'n-predict': { type: 'string', short: 'n' },
    'ignore-eos': { type: 'boolean' },
    json: { type: 'boolean' },
    logprobs: { type: 'string' },
  });
  if (o.prompt !== undefined && o.file !== undefined) throw new UsageError('give --prompt or --file, not both');
  const prompt = o.file !== undefined ? await readFile(o.file, 'utf8') : o.prompt;
  if (prompt === undefined) throw new UsageError('--prompt (or --file) is required');
  const nPredict = num(o['n-predict'], 'n-predict', 32, { min: 0, integer: true });
  if (o.logprobs !== undefined && !o.json) throw new UsageError('--logprobs needs --json');
  const logprobs = o.logprobs === undefined ? {} : { logprobs: true, top_logprobs: num(o.logprobs, 'logprobs', 0, { min: 0, max: MAX_TOP_LOGPROBS, integer: true }) };
  const sampling = samplingParams(o);
  const constraints = await constraintParams(o);
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const images = await readImages(o);
  if (o.mmproj !== undefined && o['gpu-layers'] !== undefined && o['gpu-layers'] !== '0') {
    throw new UsageError('--mmproj runs with every block on the CPU (image rows are evaluated there): drop --gpu-layers');
  }
  const mmproj = await projectorPath(o, !o.json && !o['no-progress'] && process.stderr.isTTY === true, modelArg(o, positionals));

  const m = await openModel(o, positionals, { contextSize: nCtx });
  const { engine, model } = m;
  let projector;
  try {
    projector = mmproj === undefined ? undefined : await loadProjectorFile(engine, model, mmproj);
  } catch (e) {
    m.close();
    throw e;
  }
  if (m.gpu && !o.json && model.loadReport) {
    const r = model.loadReport;
    process.stderr.write(`gpu: ${r.gpuLayers} of ${r.nLayer} blocks on ${m.gpu.caps.adapterName} (${r.reason})\n`);
  }
  const session = Session.create(model, { nCtx, nThreads: m.threads });
  const sequence = new Sequence(session, { onShift: logShift });
  // The prompt as the API tokenizes a text completion; with tools, as one
  // user turn of a chat, through the model's template.
  // Images go before the text, in the user turn or the completion's prompt.
  const content = [...images.map((url) => ({ type: 'image_url' as const, image_url: { url } })), { type: 'text' as const, text: prompt }];
  const request = constraints.tools
    ? { ...sampling, ...constraints, ...logprobs, messages: [{ role: 'user' as const, content: images.length ? content : prompt }] }
    : { ...sampling, ...constraints, ...logprobs, prompt, images };
  let prepared;
  try {
    prepared = prepareRequest(model, request, projector);
  } catch (e) {
    projector?.free();
    session.free();
    m.close();
    throw e;
  }
  const ids = prepared.promptIds;
  // Long prompts show their progress (evaluated in chunks for it).
  const bar = !o.json && !o['no-progress'] && process.stderr.isTTY === true && ids.length > 2 * PROMPT_PROGRESS_MIN
    ? new ProgressBar('prompt', { unit: 'tokens', summary: false })
    : undefined;
  let r: GenerationResult;
  try {
    r = await generate(model, sequence, { ...prepared.generation, promptIds: ids, maxTokens: nPredict, ignoreEos: o['ignore-eos'] }, {
      onText: (delta) => {
        for (const d of prepared.reply.push(delta)) if (!o.json && d.content) process.stdout.write(d.content);
      },
      onPrefill: bar && ((p) => bar.update(p.loaded, p.total)),
    });
  } finally {
    bar?.clear();
    session.free();
    projector?.free();
    m.close();
  }
  const reply = prepared.reply.finish(r.finishReason);
  if (!o.json) for (const d of reply.deltas) if (d.content) process.stdout.write(d.content);
  const evaluated = r.promptTokens - r.cachedTokens;
  const timings = {
    reusedTokens: r.cachedTokens,
    prefillTokens: evaluated,
    prefillMs: r.prefillMs,
    prefillTokensPerSecond: evaluated / (r.prefillMs / 1000),
    decodeTokens: r.decodeTokens,
    decodeMs: r.decodeMs,
    decodeTokensPerSecond: r.decodeTokens > 0 ? r.decodeTokens / (r.decodeMs / 1000) : 0,
  };
  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        promptIds: ids, ids: r.ids, text: r.text, finishReason: reply.finishReason, timings,
        threads: m.threads, backend: `wasm-${engine.variant}`, gpuLayers: model.loadReport?.gpuLayers ?? 0,
        ...(constraints.tools ? { content: reply.message.content, tool_calls: reply.message.tool_calls ?? [] } : {}),
        ...(reply.message.reasoning_content ? { reasoning: reply.message.reasoning_content } : {}),
        ...(r.logprobs ? { logprobs: r.logprobs } : {}),
        ...(prepared.imageTokens > 0 ? { usage: { prompt_tokens_details: { image_tokens: prepared.imageTokens } } } : {}),
      }) + '\n',
    );
  } else {
    for (const call of reply.message.tool_calls ?? []) process.stdout.write(`\n→ ${call.function.name}(${call.function.arguments})`);
    process.stdout.write('\n');
    process.stderr.write(
      `prefill: ${timings.prefillTokens} tokens, ${timings.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
        `decode: ${timings.decodeTokens} tokens, ${timings.decodeTokensPerSecond.toFixed(1)} tokens/s\n`,
    );
  }
}
