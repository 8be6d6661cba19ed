// A real GGUF whose greedy output is a script we choose: every block's
// weights are zero, so the last hidden state is the current token's
// embedding, and the output head maps each script token to the next one.
// Chat tests use it to make a real model stream known text (markdown, code,
// or an <img onerror>/<script> payload, a thought and a tool call) through
// the real engine. Attention is zero, so the model sees only its last token:
// a second turn that must differ from the first (the answer after a tool
// result) starts from a cue the chat template writes at the prompt's end.
import { readFileSync } from 'node:fs';

import { GgufWriter } from '../../gguf/writer.js';
import { TOKEN_TYPE } from '../../gguf/random-model.js';

export interface ScriptSpec {
  /** Pieces the model emits once, in order, after the generation prompt. */
  preamble: string[];
  /** Pieces it then repeats forever (until max_tokens or a stop); none: it ends with EOS. */
  loop?: string[];
  /** Other scripts: when the prompt ends with `cue` (a control token the
   *  chat template writes), the model writes `pieces`, then EOS. */
  cued?: { cue: string; pieces: string[] }[];
  name?: string;
  /** The file's chat template (default: ChatML). */
  chatTemplate?: string;
}

const SPACE = '\u2581';
const N_EMBD = 64;
/** Logit of the scripted next token: √nEmbd·GAIN over every other token's 0. */
const GAIN = 5;
const CHATML =
  "{%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";
const CHARS = 'etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789.,!?\'"-:;()/&%$#@+=*_[]';

export function writeScriptModel(spec: ScriptSpec): Uint8Array {
  const script = [...spec.preamble, ...(spec.loop ?? [])];
  const cued = spec.cued ?? [];
  const all = [...script, ...cued.flatMap((c) => c.pieces)];
  if (new Set(all).size !== all.length) throw new Error('script pieces must be distinct');
  if (all.length + cued.length >= N_EMBD) throw new Error(`at most ${N_EMBD - 1} script pieces and cues`);

  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>', ...cued.map((c) => c.cue)];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control, ...cued.map(() => TOKEN_TYPE.control)];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  for (const c of SPACE + CHARS) {
    tokens.push(c);
    types.push(TOKEN_TYPE.normal);
  }
  const pieceId = (piece: string): number => {
    const text = piece.replaceAll(' ', SPACE);
    if (tokens.includes(text)) throw new Error(`script piece ${JSON.stringify(piece)} is already a token`);
    tokens.push(text);
    types.push(TOKEN_TYPE.normal);
    return tokens.length - 1;
  };
  const scriptIds = script.map(pieceId);
  const cuedIds = cued.map((c) => c.pieces.map(pieceId));
  // Every prefix of a piece is a token too (scored below it), so that
  // SentencePiece's pairwise merges tokenize the script's text back into its
  // pieces: an answer sent back in the next prompt then matches the cache.
  for (const piece of all) {
    const chars = [...piece.replaceAll(' ', SPACE)];
    for (let n = 2; n < chars.length; n++) {
      const prefix = chars.slice(0, n).join('');
      if (!tokens.includes(prefix)) {
        tokens.push(prefix);
        types.push(TOKEN_TYPE.normal);
      }
    }
  }
  const nVocab = tokens.length;
  const eos = 4;
  // Longer tokens merge first.
  const scores = tokens.map((t, id) => (types[id] === TOKEN_TYPE.normal ? [...t].length - 1000 : 0));

  // Embedding: script token i is one-hot at dimension i + 1, then the cues
  // and the cued pieces on dimensions of their own; every other token at 0.
  const dims = new Map<number, number>();
  scriptIds.forEach((id, i) => dims.set(id, i + 1));
  for (const [k] of cued.entries()) dims.set(5 + k, dims.size + 1);
  for (const ids of cuedIds) for (const id of ids) dims.set(id, dims.size + 1);
  const embd = new Float32Array(N_EMBD * nVocab);
  for (let id = 0; id < nVocab; id++) embd[id * N_EMBD + (dims.get(id) ?? 0)] = 1;
  // Output head: row u has GAIN at the dimensions of the tokens followed by u.
  const head = new Float32Array(N_EMBD * nVocab);
  const next = (i: number): number => {
    if (i + 1 < script.length) return scriptIds[i + 1];
    return spec.loop?.length ? scriptIds[spec.preamble.length] : eos;
  };
  head[scriptIds[0] * N_EMBD + 0] = GAIN; // after any prompt: the first piece
  script.forEach((_, i) => (head[next(i) * N_EMBD + (i + 1)] = GAIN));
  // After a cue: its pieces, in order, then EOS.
  cuedIds.forEach((ids, k) => {
    const chain = [5 + k, ...ids];
    for (let j = 0; j < chain.length; j++) head[(j + 1 < chain.length ? chain[j + 1] : eos) * N_EMBD + dims.get(chain[j])!] = GAIN;
  });

  const w = new GgufWriter();
  const nHead = 4;
  w.addKv('general.architecture', 'llama', 'string');
  w.addKv('general.name', spec.name ?? 'hob-script', 'string');
  w.addKv('general.file_type', 0, 'uint32');
  w.addKv('llama.vocab_size', nVocab, 'uint32');
  w.addKv('llama.context_length', 4096, 'uint32');
  w.addKv('llama.embedding_length', N_EMBD, 'uint32');
  w.addKv('llama.block_count', 1, 'uint32');
  w.addKv('llama.feed_forward_length', 64, 'uint32');
  w.addKv('llama.attention.head_count', nHead, 'uint32');
  w.addKv('llama.attention.head_count_kv', 2, 'uint32');
  w.addKv('llama.rope.freq_base', 10000, 'float32');
  w.addKv('llama.rope.dimension_count', N_EMBD / nHead, 'uint32');
  w.addKv('llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32');
  w.addKv('tokenizer.ggml.model', 'llama', 'string');
  w.addKv('tokenizer.ggml.tokens', tokens, 'string[]');
  w.addKv('tokenizer.ggml.scores', scores, 'float32[]');
  w.addKv('tokenizer.ggml.token_type', types, 'int32[]');
  w.addKv('tokenizer.ggml.bos_token_id', 1, 'uint32');
  w.addKv('tokenizer.ggml.eos_token_id', eos, 'uint32');
  w.addKv('tokenizer.ggml.unknown_token_id', 0, 'uint32');
  w.addKv('tokenizer.ggml.add_bos_token', false, 'bool');
  w.addKv('tokenizer.ggml.add_eos_token', false, 'bool');
  w.addKv('tokenizer.chat_template', spec.chatTemplate ?? CHATML, 'string');

  const ones = new Float32Array(N_EMBD).fill(1);
  const zeros = (n: number) => new Float32Array(n);
  const kvDim = 2 * (N_EMBD / nHead);
  w.addTensor('token_embd.weight', [N_EMBD, nVocab], 'f32', embd);
  w.addTensor('output_norm.weight', [N_EMBD], 'f32', ones);
  w.addTensor('output.weight', [N_EMBD, nVocab], 'f32', head);
  w.addTensor('blk.0.attn_norm.weight', [N_EMBD], 'f32', ones);
  w.addTensor('blk.0.attn_q.weight', [N_EMBD, N_EMBD], 'f32', zeros(N_EMBD * N_EMBD));
  w.addTensor('blk.0.attn_k.weight', [N_EMBD, kvDim], 'f32', zeros(N_EMBD * kvDim));
  w.addTensor('blk.0.attn_v.weight', [N_EMBD, kvDim], 'f32', zeros(N_EMBD * kvDim));
  w.addTensor('blk.0.attn_output.weight', [N_EMBD, N_EMBD], 'f32', zeros(N_EMBD * N_EMBD));
  w.addTensor('blk.0.ffn_norm.weight', [N_EMBD], 'f32', ones);
  w.addTensor('blk.0.ffn_gate.weight', [N_EMBD, 64], 'f32', zeros(N_EMBD * 64));
  w.addTensor('blk.0.ffn_up.weight', [N_EMBD, 64], 'f32', zeros(N_EMBD * 64));
  w.addTensor('blk.0.ffn_down.weight', [64, N_EMBD], 'f32', zeros(N_EMBD * 64));
  return w.toBytes();
}

/** The chat tests' model: an XSS payload, a code block, then an endless sentence. */
export const TEST_SCRIPT: ScriptSpec = {
  name: 'hob-script-test',
  preamble: [
    'Here is ',
    '<img src=x onerror="window.__xss=1">',
    ' and ',
    '<script>window.__xss=2</script>',
    ' as text.\n\n',
    '```js\n',
    'console.log(42);\n',
    '```\n\n',
  ],
  loop: ['The ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'the ', 'lazy ', 'dog. '],
};

/** The screenshots' model: a short markdown answer. */
export const DEMO_SCRIPT: ScriptSpec = {
  name: 'hob-script-demo',
  preamble: [
    '**Hob** runs GGUF models ',
    'right in your browser:\n\n',
    '- *private*: nothing leaves the device\n',
    '- *offline* after the first visit\n',
    '- WebGPU offload with `gpu-layers`\n\n',
    'Drop it into a page:\n\n',
    '```html\n',
    '<hob-chat model="model.gguf"></hob-chat>\n',
    '```\n',
  ],
};

const QWEN3_TEMPLATE = readFileSync(new URL('../../fixtures/chat-templates/Qwen-Qwen3-0.6B.jinja', import.meta.url), 'utf8');
const QWEN3_GENERATION_PROMPT = "{{- '<|im_start|>assistant\\n' }}";
/** What the Qwen 3 template below writes after a tool result. */
export const AFTER_TOOL_CUE = '<|after_tool|>';

/** Qwen 3's own chat template (tools in the system turn, calls in
 *  <tool_call> blocks, results in <tool_response> blocks, <think> for
 *  reasoning), plus one line: after a tool result the prompt ends with
 *  AFTER_TOOL_CUE, so that the script model, which sees only the last token,
 *  answers instead of calling the tool again. */
export function qwen3ToolTemplate(): string {
  if (!QWEN3_TEMPLATE.includes(QWEN3_GENERATION_PROMPT)) throw new Error('the Qwen 3 template changed: its generation prompt is not where it was');
  return QWEN3_TEMPLATE.replace(
    QWEN3_GENERATION_PROMPT,
    `${QWEN3_GENERATION_PROMPT}{%- if messages[-1].role == 'tool' %}{{- '${AFTER_TOOL_CUE}' }}{%- endif %}`,
  );
}

/** The tool tests' model: it thinks, calls get_weather for Paris, and once
 *  the result is in, answers. */
export const TOOL_SCRIPT: ScriptSpec = {
  name: 'hob-script-tools',
  preamble: [
    '<think>',
    '\nThe user wants ',
    'the weather in Paris: ',
    '<b>ask</b> the tool.',
    '\n</think>',
    '\n\n',
    '<tool_call>',
    '\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
    '\n</tool_call>',
  ],
  cued: [{ cue: AFTER_TOOL_CUE, pieces: ['The tool ', 'has answered', ': see above.'] }],
  chatTemplate: qwen3ToolTemplate(),
};
