// Command-line parsing shared by the hob commands: the option sets, the
// usage text of each command, and UsageError (a mistake on the command
// line, answered with one line and a pointer to --help).
import { availableParallelism } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import type { SamplingParams } from '../../shared/types.js';
import { capThreads, INT32_MAX, UINT32_MAX } from '../../shared/limits.js';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export const modelOptions = {
  model: { type: 'string', short: 'm' },
  threads: { type: 'string', short: 't' },
  'gpu-layers': { type: 'string' },
  'ctx-size': { type: 'string', short: 'c' },
  'no-progress': { type: 'boolean' },
  'net-timeout': { type: 'string' },
} as const satisfies Options;

export const samplingOptions = {
  temp: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  'repeat-last-n': { type: 'string' },
  seed: { type: 'string', short: 's' },
} as const satisfies Options;

export const constraintOptions = {
  grammar: { type: 'string' },
  'grammar-file': { type: 'string' },
  'json-schema': { type: 'string', short: 'j' },
  'json-schema-file': { type: 'string' },
  tools: { type: 'string' },
  'tool-choice': { type: 'string' },
  'reasoning-budget': { type: 'string' },
} as const satisfies Options;

export const constraintHelp = `structured output:
  --grammar TEXT        constrain the output to a GBNF grammar (llama.cpp's format)
  --grammar-file F      the same, from a file
  -j, --json-schema S   constrain the output to JSON valid under this JSON schema
  --json-schema-file F  the same, from a file
  --tools F             a JSON file with an OpenAI tools array: the model may call
                        them (the prompt goes through the chat template)
  --tool-choice C       auto (default), none, required, or a function's name
  --reasoning-budget N  tokens a thinking model may think before its answer
                        (llama.cpp's flag): 0 switches thinking off, -1 (the
                        default) leaves it unbounded
`;

export const imageOptions = {
  mmproj: { type: 'string' },
  image: { type: 'string', multiple: true },
} as const satisfies Options;

const imageHelp = `images (a vision model):
  --mmproj F            the model's vision projector (llama.cpp's mmproj GGUF;
                        a file or a URL, downloaded once); auto: the one the
                        Hub lists next to an hf: model
  --image F             a PNG, JPEG or binary PPM image (repeatable); the images
                        go before the prompt's text, as llama.cpp's mtmd-cli puts them
`;

const modelHelp = `model:
  -m, --model M         a GGUF file, or an http(s) URL (downloaded once into
                        ~/.cache/hob or $HOB_CACHE_DIR, resumed if cut); the
                        first argument without a flag is taken as the model too
  -t, --threads N       CPU threads (default: all cores)
  -ngl, --gpu-layers N  blocks to offload to the GPU, counted from the last, or
                        'auto' (WebGPU through the optional 'webgpu' package)
  -c, --ctx-size N      context window in tokens (default: the model's)
  --net-timeout S       give up a download after S seconds without data (default 30)
  --no-progress         no progress bars on stderr
`;

const samplingHelp = `sampling (llama.cpp's names and defaults):
  --temp T              temperature; 0 is greedy (default 0.8)
  --top-k K             (default 40)     --top-p P   (default 0.95)
  --min-p P             (default 0.05)   --seed S    (default 0)
  --repeat-penalty R    (default 1, off) --repeat-last-n N (default 64)
`;

export const commandHelp: Record<string, string> = {
  run: `usage: hob run [--model] M [options]     (also: hob chat)

An interactive chat in the terminal, in the model's chat template, streamed.
Ctrl-C stops a reply; Ctrl-C at the prompt (or Ctrl-D, or /exit) quits.
/reset starts a new conversation. Lines read from a pipe are turns too.

options:
  --system TEXT         a system message at the start of the conversation
  -n, --n-predict N     tokens per reply at most (default 1024)
  --template NAME       use the built-in template chatml, llama3, gemma, phi3
                        or mistral instead of the file's
  --timings             after each reply, print token counts and speeds on stderr
  --session FILE        keep the conversation and its cache in FILE: resumed at
                        the start when it matches the model and context, saved
                        after each reply (llama.cpp's --prompt-cache)
${modelHelp.replace("(default: the model's)", "(default: the model's, at most 4096)")}${samplingHelp}${constraintHelp}${imageHelp.replace('the prompt\'s text', 'the first message\'s text')}`,
  complete: `usage: hob complete [--model] M --prompt P [options]

Continues a prompt and streams the text to stdout; prefill and decode speeds
go to stderr. Long prompts show their processing progress.

options:
  -p, --prompt P        the prompt text
  -f, --file F          read the prompt from a file
  -n, --n-predict N     tokens to generate (default 32)
  --ignore-eos          keep generating after end-of-generation tokens
  --json                print prompt ids, ids, text and timings as one JSON object
                        (with --tools also content and tool_calls)
  --logprobs N          with --json: each generated token's log-probability and
                        the N (0 to 20) most likely tokens at its step, under
                        "logprobs" (OpenAI's entries, with token ids); with
                        images, "usage" holds prompt_tokens_details.image_tokens
${modelHelp}${samplingHelp}${constraintHelp}${imageHelp}`,
  tokenize: `usage: hob tokenize [--model] M --text T

Prints {"ids": [...]}: the token ids of the text, with BOS/EOS as the model's
metadata asks. Reads only the file's vocabulary, never its weights: a
vocabulary-only GGUF works, and so does a model of any size at once.

options:
  --text T              the text (or -p, --prompt)
  --no-special          add no BOS/EOS
${modelHelp}`,
  embed: `usage: hob embed [--model] M --text T [--text T2 ...] [options]

Prints the embedding of each text as JSON in OpenAI's shape ({"object":
"list", "data": [{"embedding": [...]}, ...], "usage"}): pooled as the model's
file asks, L2-normalized. Inputs are evaluated together where the context
allows; each attends to itself only.

options:
  --text T              a text to embed (repeatable)
  -f, --file F          one text a line
  --dimensions N        keep the first N values, normalized again (Matryoshka)
  --pooling P           mean, cls or last: pool a model whose file names none
  --no-normalize        the pooled vectors as they are
${modelHelp}`,
  rerank: `usage: hob rerank [--model] M --query Q --document D [--document D2 ...]

Prints each document's relevance to the query as llama.cpp's /rerank does
({"results": [{"index", "relevance_score"}, ...]}, best first), with a
reranker (bge-reranker, Qwen3-Reranker).

options:
  -q, --query Q         the query
  --document D          a document (repeatable)
  -f, --file F          one document a line
  --top-n N             keep the N best
  --return-documents    each result carries its document's text
${modelHelp}`,
  inspect: `usage: hob inspect [--model] M [--full]

Prints the GGUF's metadata and tensor table as JSON, without loading the
weights. Arrays are shortened to 16 entries unless --full.
${modelHelp}`,
  fit: `usage: hob fit [--model] M [options]

Whether the model fits this machine with these settings, from its GGUF header
alone (a URL or an hf: model is not downloaded): the wasm memory and, with
--gpu-layers, the GPU memory it would take (the adapter of the 'webgpu'
package, or why there is none), against the budgets. Prints the verdict and
the settings to load with; exit status 1 when the asked settings do not fit.

options:
  --memory-budget MiB   wasm memory budget (default: half of this machine's, at most 4096)
  --gpu-budget MiB      GPU memory budget (default 2048)
  --json                print checkFit's report as JSON
${modelHelp}`,
  bench: `usage: hob bench [--model] M [options]

Prompt processing (pp) and text generation (tg) speed, as llama-bench
measures them: pp evaluates N random tokens in one batch, tg generates N
tokens one at a time; each test runs R times after a warm-up, mean ± sd.

options:
  -p, --n-prompt N      prompt tokens (default 128; 0 skips the test)
  -n, --n-gen N         generated tokens (default 32; 0 skips the test)
  -r, --repetitions R   runs per test (default 3)
  --json                print the results as JSON
${modelHelp}`,
};
commandHelp.chat = commandHelp.run;

export const usage = `usage: hob <command> [options]

Runs GGUF models with the same WebAssembly engine as the browser.

commands:
  run, chat   interactive chat with a model, in its chat template
  complete    continue a prompt, streamed
  tokenize    print the token ids of a text
  embed       print the embeddings of texts as JSON
  rerank      score documents against a query with a reranker
  inspect     print a GGUF's metadata and tensor table
  fit         will the model fit this machine (memory, GPU)? from its header
  bench       prompt-processing and generation speed (llama-bench style)

"hob <command> --help" describes a command's options. --model takes a file
or a URL (downloaded once into a cache, with progress and resume).
`;

export type Values<O> = { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string } & { help?: boolean };

/** Parses a command's arguments; a mistake is a UsageError of one line. */
export function parseCommand<O extends Options>(args: string[], options: O): { values: Values<O>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      // llama.cpp spells it -ngl, which is not a valid short option here.
      args: args.map((a) => (a === '-ngl' ? '--gpu-layers' : a)),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values<O>, positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(err.message.split('\n')[0].split('. ')[0].replace(/\.$/, ''));
    throw e;
  }
}

/**
 * A numeric option. Whole numbers are checked against their range (by
 * default int32's, what the engine's C API takes): a number past it is
 * refused, never wrapped (--ctx-size 4294967298 used to run with a context
 * of 2).
 */
export function num(v: string | undefined, name: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  if (opts.integer) {
    const min = opts.min ?? -INT32_MAX - 1;
    const max = opts.max ?? INT32_MAX;
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${v}`);
    return n;
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${v}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${v}`);
  return n;
}

/** --threads, capped at the hardware's threads (with a note on stderr when it is). */
export function threadsOption(v: string | undefined): number {
  const hardware = availableParallelism();
  const asked = num(v, 'threads', hardware, { min: 1, integer: true });
  const { threads, capped } = capThreads(asked, hardware);
  if (capped) process.stderr.write(`hob: --threads ${asked} is more than the ${threads} hardware threads here; using ${threads}\n`);
  return threads;
}

export function gpuLayersOption(v: string | undefined): number | 'auto' {
  if (v === 'auto') return 'auto';
  return num(v, 'gpu-layers', 0, { min: 0, integer: true });
}

/** The sampling flags as the API's parameters (llama.cpp's server names):
 * the CLI samples with the same chain as the API, so the same settings give
 * the same text. Unset flags take the chain's defaults, but the seed, which
 * is 0 (not random) so that runs repeat. */
export function samplingParams(o: Partial<Record<keyof typeof samplingOptions, string>>): SamplingParams {
  const p: SamplingParams = {
    temperature: num(o.temp, 'temp', 0.8, { min: 0 }),
    seed: num(o.seed, 'seed', 0, { min: 0, max: UINT32_MAX, integer: true }),
  };
  const set = <K extends keyof SamplingParams>(k: K, flag: keyof typeof samplingOptions, range: Parameters<typeof num>[3] = {}) => {
    if (o[flag] !== undefined) p[k] = num(o[flag], flag, 0, range) as SamplingParams[K];
  };
  set('top_k', 'top-k', { min: 0, integer: true });
  set('top_p', 'top-p', { min: 0, max: 1 });
  set('min_p', 'min-p', { min: 0, max: 1 });
  set('repeat_penalty', 'repeat-penalty');
  set('repeat_last_n', 'repeat-last-n', { min: -1, integer: true });
  return p;
}
