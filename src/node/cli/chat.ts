// hob run / hob chat: a conversation in the terminal. Each turn renders the
// whole conversation with the model's chat template; the sequence keeps what
// its cache already holds, so only the new turn is evaluated. Ctrl-C stops a
// reply (the partial reply stays in the conversation); at the prompt it quits.
import { createInterface } from 'node:readline';

import { Sampler } from '../../core/engine.js';
import { complete } from '../../core/generate.js';
import { Sequence } from '../../core/sequence.js';
import { renderChat, BUILTIN_TEMPLATES, type BuiltinTemplate, type ChatMessage } from '../../chat/template.js';
import { modelOptions, num, parseCommand, samplerOptions, samplingOptions, UsageError } from './args.js';
import { describeError, logShift, openModel, prefillWithProgress } from './model.js';

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export async function chatCommand(args: string[]): Promise<void> {
  const { values: o, positionals } = parseCommand(args, {
    ...modelOptions,
    ...samplingOptions,
    system: { type: 'string' },
    'n-predict': { type: 'string', short: 'n' },
    template: { type: 'string' },
    timings: { type: 'boolean' },
  });
  const template = o.template as BuiltinTemplate | undefined;
  if (template !== undefined && !(template in BUILTIN_TEMPLATES)) {
    throw new UsageError(`--template must be one of ${Object.keys(BUILTIN_TEMPLATES).join(', ')}, got "${template}"`);
  }
  const nPredict = num(o['n-predict'], 'n-predict', 1024, { min: 1, integer: true });
  const sampling = samplerOptions(o);
  const nCtx = num(o['ctx-size'], 'ctx-size', 0, { min: 0, integer: true });
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const showProgress = !o['no-progress'] && process.stderr.isTTY === true;

  const m = await openModel(o, positionals);
  const { engine, model } = m;
  const session = model.createSession({ nCtx, nThreads: m.threads });
  const sequence = new Sequence(session, { onShift: logShift });
  const chatTemplate = model.metaString('tokenizer.chat_template');
  const special = (id: number) => (id >= 0 ? model.detokenize([id], true) : '');
  const bosText = special(model.info.bos);
  const eosText = special(model.info.eos);
  if (tty) {
    const how = template ? `built-in ${template} template` : chatTemplate ? "the model's chat template" : 'a built-in template';
    process.stderr.write(
      `${DIM}${model.info.name || m.path}: ${model.info.architecture}, context ${session.nCtx} tokens, ${how}, wasm-${engine.variant} ×${session.nThreads}` +
        `${m.gpu ? `, ${model.loadReport?.gpuLayers ?? 0} blocks on the GPU` : ''}\nCtrl-C stops a reply; /reset starts over; /exit or Ctrl-D quits.${RESET}\n`,
    );
  }

  const system: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
  let messages: ChatMessage[] = [...system];
  let generating = false;
  let stop = false;

  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
  const onInterrupt = () => {
    if (generating) stop = true;
    else rl.close();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  rl.setPrompt('> ');

  /** The prompt ids of the conversation, dropping the oldest turns until the reply has room. */
  const promptFor = (): number[] => {
    for (;;) {
      const text = renderChat(chatTemplate, messages, { addGenerationPrompt: true, bosToken: bosText, eosToken: eosText, architecture: model.info.architecture, builtin: template });
      const ids = model.tokenize(text, { addSpecial: !(bosText && text.startsWith(bosText)) });
      const turns = messages.length - system.length;
      if (ids.length + Math.min(nPredict, 64) <= session.nCtx || turns <= 1) return ids;
      // A user turn and its reply go together, so roles keep alternating.
      messages = [...system, ...messages.slice(system.length + Math.min(2, turns - 1))];
    }
  };

  if (tty) rl.prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit' || line === '/quit') break;
      if (line === '/reset') {
        messages = [...system];
        sequence.clear();
        if (tty) rl.prompt();
        continue;
      }
      if (line === '') {
        if (tty) rl.prompt();
        continue;
      }
      messages.push({ role: 'user', content: line });
      const ids = promptFor();
      if (ids.length >= session.nCtx) {
        messages.pop();
        process.stderr.write(`hob: this message is ${ids.length} tokens, more than the context of ${session.nCtx}\n`);
        if (tty) rl.prompt();
        continue;
      }
      // The input keeps flowing while a reply streams: on a terminal that is
      // how readline sees the Ctrl-C that stops it.
      generating = true;
      stop = false;
      try {
        const early = await prefillWithProgress(sequence, ids, showProgress);
        const result = await complete(model, sequence, new Sampler(engine, sampling), ids, {
          nPredict: Math.min(nPredict, session.nCtx - ids.length),
          onToken: (_t, piece) => process.stdout.write(piece),
          shouldStop: () => stop,
          // Lets a Ctrl-C in between two tokens.
          pause: () => new Promise((r) => setImmediate(r)),
        });
        process.stdout.write('\n');
        messages.push({ role: 'assistant', content: result.text });
        if (result.finishReason === 'abort') process.stderr.write(`${tty ? DIM : ''}(stopped)${tty ? RESET : ''}\n`);
        if (o.timings) {
          const t = result.timings;
          const evaluated = t.prefillTokens + early.evaluated;
          const prefillMs = t.prefillMs + early.ms;
          process.stderr.write(
            `prompt: ${evaluated} new tokens, ${t.reusedTokens - early.evaluated} reused, ${(evaluated / (prefillMs / 1000)).toFixed(1)} tokens/s; ` +
              `reply: ${result.ids.length} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tokens/s\n`,
          );
        }
      } catch (e) {
        // One failed turn (a full context, a bad template render) does not end the chat.
        process.stdout.write('\n');
        process.stderr.write(`hob: ${describeError(e)}\n`);
        messages.pop();
        sequence.clear();
      } finally {
        generating = false;
      }
      if (tty) rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
    session.free();
    m.close();
  }
}
