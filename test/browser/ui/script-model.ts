// A real GGUF whose greedy output is a script we choose: every block's
// weights are zero, so the last hidden state is the current token's
// embedding, and the output head maps each script token to the next one.
// Chat tests use it to make a real model stream known text (markdown, code,
// or an <img onerror>/<script> payload) through the real engine.
import { GgufWriter } from '../../gguf/writer.js';
import { TOKEN_TYPE } from '../../gguf/random-model.js';

export interface ScriptSpec {
  /** Pieces the model emits once, in order, after the generation prompt. */
  preamble: string[];
  /** Pieces it then repeats forever (until max_tokens or a stop); none: it ends with EOS. */
  loop?: string[];
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
  if (new Set(script).size !== script.length) throw new Error('script pieces must be distinct');
  if (script.length >= N_EMBD) throw new Error(`at most ${N_EMBD - 1} script pieces`);

  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  for (const c of SPACE + CHARS) {
    tokens.push(c);
    types.push(TOKEN_TYPE.normal);
  }
  const scriptIds = script.map((piece) => {
    const text = piece.replaceAll(' ', SPACE);
    if (tokens.includes(text)) throw new Error(`script piece ${JSON.stringify(piece)} is already a token`);
    tokens.push(text);
    types.push(TOKEN_TYPE.normal);
    return tokens.length - 1;
  });
  // Every prefix of a piece is a token too (scored below it), so that
  // SentencePiece's pairwise merges tokenize the script's text back into its
  // pieces: an answer sent back in the next prompt then matches the cache.
  for (const piece of script) {
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

  // Embedding: script token i is one-hot at dimension i + 1; every other token at 0.
  const embd = new Float32Array(N_EMBD * nVocab);
  for (let id = 0; id < nVocab; id++) {
    const i = scriptIds.indexOf(id);
    embd[id * N_EMBD + (i + 1)] = 1;
  }
  // Output head: row u has GAIN at the dimensions of the tokens followed by u.
  const head = new Float32Array(N_EMBD * nVocab);
  const next = (i: number): number => {
    if (i + 1 < script.length) return scriptIds[i + 1];
    return spec.loop?.length ? scriptIds[spec.preamble.length] : eos;
  };
  head[scriptIds[0] * N_EMBD + 0] = GAIN; // after any prompt: the first piece
  script.forEach((_, i) => (head[next(i) * N_EMBD + (i + 1)] = GAIN));

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
