// hob run / hob chat: a conversation in the terminal, through the public API
// (createEngine: the browser's engine worker, in a worker thread). Each turn
// sends the whole conversation; the engine keeps what its cache already
// holds, so only the new turn is evaluated. Ctrl-C stops a reply (the partial
// reply stays in the conversation); at the prompt it quits.
import { createInterface } from 'node:readline';

import { HobError } from '../../shared/errors.js';
import type { ChatCompletionDelta, ChatMessage, ChatMessageInput, HobEngine, ToolCall, Usage } from '../../shared/types.js';
import { Engine } from '../../core/wasm-engine.js';
import { renderChat, BUILTIN_TEMPLATES, type BuiltinTemplate } from '../../chat/template.js';
import { createEngine } from '../create-engine.js';
import { readGgufHeaderFile } from '../index.js';
import { constraintOptions, gpuLayersOption, modelOptions, num, parseCommand, samplingOptions, samplingParams, threadsOption, UsageError } from './args.js';
import { cachedModelFailure, describeError, logShift, modelArg, resolveModelPath } from './model.js';
import { constraintParams } from './constraints.js';
import { imageOptions, projectorPath, readImages } from './images.js';
import { ProgressBar } from './progress.js';
import { resumeSession, saveSession, sessionLocation } from './resume.js';

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The texts of the BOS and EOS tokens, from the file's metadata (for a built-in template rendered here). */
async function specialTokenTexts(path: string): Promise<{ bos: string; eos: string }> {
  const reader = await Engine.create({ threads: 1 });
  const header = await readGgufHeaderFile(reader, path).finally(() => reader.dispose());
  const tokens = header.metadata['tokenizer.ggml.tokens'];
  const text = (key: string): string => {
    const id = header.metadata[key];
    if (!Array.isArray(tokens) || (typeof id !== 'number' && typeof id !== 'bigint')) return '';
    const t = tokens[Number(id)];
    return typeof t === 'string' ? t : '';
  };
  return { bos: text('tokenizer.ggml.bos_token_id'), eos: text('tokenizer.ggml.eos_token_id') };
}

export async function chatCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    ...samplingOptions,
    ...constraintOptions,
    ...imageOptions,
    system: { type: 'string' },
    'n-predict': { type: 'string', short: 'n' },
    template: { type: 'string' },
    timings: { type: 'boolean' },
    session: { type: 'string' },
  });
  const sessionFile = o.session as string | undefined;
  const template = o.template as BuiltinTemplate | undefined;
  if (template !== undefined && !(template in BUILTIN_TEMPLATES)) {
    throw new UsageError(`--template must be one of ${Object.keys(BUILTIN_TEMPLATES).join(', ')}, got "${template}"`);
  }
  if (o.image?.length && (sessionFile || template)) throw new UsageError(`--image cannot go with --${sessionFile ? 'session' : 'template'}`);
  const nPredict = num(o['n-predict'], 'n-predict', 1024, { min: 1, integer: true });
  const sampling = samplingParams(o);
  const constraints = await constraintParams(o);
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const threads = threadsOption(o.threads);
  const gpuLayers = gpuLayersOption(o['gpu-layers']);
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const showProgress = !o['no-progress'] && process.stderr.isTTY === true;

  const arg = modelArg(o, positionals);
  const path = await resolveModelPath(arg, showProgress, o);
  const images = await readImages(o);
  const mmproj = await projectorPath(o, showProgress, arg);
  const special = template ? await specialTokenTexts(path).catch((e: unknown) => { throw cachedModelFailure(e, arg, path); }) : undefined;
  const bar = showProgress ? new ProgressBar('load', { unit: 'bytes', summary: false }) : undefined;
  let engine: HobEngine;
  try {
    engine = await createEngine({
      model: { path },
      ...(mmproj !== undefined ? { projector: { path: mmproj } } : {}),
      threads,
      gpuLayers,
      contextSize: nCtx > 0 ? nCtx : undefined,
      ...(sessionFile ? { sessionDir: sessionLocation(sessionFile).dir } : {}),
      onProgress: (p) => bar?.update(p.loaded, p.total),
    });
  } catch (e) {
    throw cachedModelFailure(e, arg, path);
  } finally {
    bar?.clear();
  }
  const offShift = engine.on('shift', logShift);
  const info = await engine.info();
  const contextSize = info.contextSize;
  if (tty) {
    const how = template ? `built-in ${template} template` : info.model.chatTemplate ? "the model's chat template" : 'a built-in template';
    process.stderr.write(
      `${DIM}${info.model.name || path}: ${info.model.architecture}, context ${contextSize} tokens, ${how}, wasm-${info.variant} ×${info.threads}` +
        `${gpuLayers !== 0 ? `, ${info.load.gpuLayers} blocks on the GPU` : ''}\nCtrl-C stops a reply; /reset starts over; /exit or Ctrl-D quits.${RESET}\n`,
    );
  }

  const system: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
  let messages: ChatMessage[] = [...system];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (sessionFile) {
    // The saved turns after this run's system message (--system wins).
    const resumed = await resumeSession(engine, sessionFile, log);
    if (resumed) messages = [...system, ...resumed.filter((m) => m.role !== 'system')];
  }
  let reply: AbortController | undefined;
  // The images belong to the first user turn, before its text (mtmd-cli's
  // place for them); they leave with it when old turns make room.
  let imageTurn: ChatMessage | undefined;
  const withImages = (msgs: ChatMessage[]): ChatMessageInput[] =>
    msgs.map((m) => (m === imageTurn ? { ...m, content: [...images.map((url) => ({ type: 'image_url' as const, image_url: { url } })), { type: 'text' as const, text: m.content ?? '' }] } : m));

  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
  const onInterrupt = () => {
    // A second Ctrl-C while a reply is still stopping quits: the engine may
    // be stuck in work that cannot see the stop.
    if (reply?.signal.aborted) process.exit(130);
    if (reply) reply.abort();
    else rl.close();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  rl.setPrompt('> ');

  /** The conversation as text: the engine's own rendering, or the built-in
   * template named by --template (without a leading BOS: the completion adds it). */
  const render = async (): Promise<string> => {
    if (!special) return engine.applyChatTemplate(messages, { addGenerationPrompt: true });
    const text = renderChat(info.model.chatTemplate, messages, {
      addGenerationPrompt: true, bosToken: special.bos, eosToken: special.eos, architecture: info.model.architecture, builtin: template,
    });
    return special.bos && text.startsWith(special.bos) ? text.slice(special.bos.length) : text;
  };

  /** Drops the oldest turns until the prompt leaves the reply some room; returns the prompt and its token count. */
  const fitConversation = async (): Promise<{ text: string; nTokens: number }> => {
    for (;;) {
      const text = await render();
      const nTokens = (await engine.tokenize(text, { addSpecial: true, parseSpecial: true })).length;
      const turns = messages.length - system.length;
      if (nTokens + Math.min(nPredict, 64) <= contextSize || turns <= 1) return { text, nTokens };
      // A user turn and its reply go together, so roles keep alternating.
      messages = [...system, ...messages.slice(system.length + Math.min(2, turns - 1))];
    }
  };

  /** Streams one reply to stdout (its thought dimmed, its tool calls as
   * arrows); returns the assistant's turn, how it ended and the usage. */
  const streamReply = async (prompt: string, signal: AbortSignal): Promise<{ turn: ChatMessage; finish?: string; usage?: Usage }> => {
    const req = { stream: true as const, signal, max_tokens: nPredict, ...sampling, ...constraints };
    let text = '';
    let thinking = false;
    const calls: ToolCall[] = [];
    let finish: string | undefined;
    let usage: Usage | undefined;
    const take = (d: ChatCompletionDelta, f: string | null, u: Usage | undefined) => {
      if (d.reasoning_content) {
        if (!thinking && tty) process.stdout.write(DIM);
        thinking = true;
        process.stdout.write(d.reasoning_content);
      }
      if (d.content) {
        if (thinking) process.stdout.write(`${tty ? RESET : ''}\n`);
        thinking = false;
        process.stdout.write(d.content);
        text += d.content;
      }
      for (const c of d.tool_calls ?? []) {
        if (c.function?.name === undefined || c.function.arguments === undefined || c.id === undefined) continue;
        calls.push({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } });
        process.stdout.write(`${text ? '\n' : ''}→ ${c.function.name}(${c.function.arguments})`);
      }
      finish = f ?? finish;
      usage = u ?? usage;
    };
    if (special) {
      for await (const c of await engine.completions.create({ ...req, prompt })) take({ content: c.choices[0].text }, c.choices[0].finish_reason, c.usage);
    } else {
      for await (const c of await engine.chat.completions.create({ ...req, messages: withImages(messages) })) take(c.choices[0].delta, c.choices[0].finish_reason, c.usage);
    }
    if (thinking && tty) process.stdout.write(RESET);
    const turn: ChatMessage = calls.length ? { role: 'assistant', content: text || null, tool_calls: calls } : { role: 'assistant', content: text };
    return { turn, finish, usage };
  };

  if (tty) rl.prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit' || line === '/quit') break;
      if (line === '/reset') {
        messages = [...system];
        imageTurn = undefined;
        await engine.resetContext();
        if (tty) rl.prompt();
        continue;
      }
      if (line === '') {
        if (tty) rl.prompt();
        continue;
      }
      messages.push({ role: 'user', content: line });
      if (images.length && !imageTurn) imageTurn = messages.at(-1);
      // The input keeps flowing while a reply streams: on a terminal that is
      // how readline sees the Ctrl-C that stops it.
      reply = new AbortController();
      try {
        const { text: prompt, nTokens } = await fitConversation();
        if (nTokens >= contextSize) {
          if (messages.pop() === imageTurn) imageTurn = undefined;
          process.stderr.write(`hob: this message is ${nTokens} tokens, more than the context of ${contextSize}\n`);
          if (tty) rl.prompt();
          continue;
        }
        const r = await streamReply(prompt, reply.signal);
        process.stdout.write('\n');
        messages.push(r.turn);
        if (sessionFile) await saveSession(engine, sessionFile, messages, log);
        if (r.finish === 'abort') process.stderr.write(`${tty ? DIM : ''}(stopped)${tty ? RESET : ''}\n`);
        if (o.timings && r.usage) {
          const u = r.usage;
          process.stderr.write(
            `prompt: ${u.prompt_tokens - u.cached_tokens} new tokens, ${u.cached_tokens} reused, ${u.prefill_tokens_per_second.toFixed(1)} tokens/s; ` +
              `reply: ${u.completion_tokens} tokens, ${u.decode_tokens_per_second.toFixed(1)} tokens/s\n`,
          );
        }
      } catch (e) {
        // One failed turn (a full context) does not end the chat, but the
        // exit status tells a script that one failed. A template that raised
        // or ran past its budget would fail every turn: that ends it.
        process.stdout.write('\n');
        process.stderr.write(`hob: ${describeError(e)}\n`);
        process.exitCode = 1;
        if (messages.pop() === imageTurn) imageTurn = undefined;
        if (e instanceof HobError && e.code.startsWith('template/')) break;
        await engine.resetContext().catch(() => undefined);
      } finally {
        reply = undefined;
      }
      if (tty) rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
    offShift();
    await engine.unload();
  }
}
