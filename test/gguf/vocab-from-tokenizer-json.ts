// Turns a Hugging Face tokenizer.json (+ tokenizer_config.json) into the
// tokenizer.ggml.* metadata llama.cpp's converter would write, in a GGUF of
// our own writer: byte-level BPE becomes `gpt2` with its merges and the
// pre-tokenizer name the caller gives; BPE with byte fallback (SentencePiece
// exported to tokenizer.json, as Llama 2 and Gemma 3 ship) becomes `llama`
// with scores from the merge order. Optionally adds a tiny zero-weight llama
// body so that engines which need tensors can load the file.
import { GgufWriter } from './writer';

/** llama_token_type values (llama.cpp's convert script writes the same). */
const TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

interface TokenizerJson {
  added_tokens?: AddedToken[];
  normalizer?: unknown;
  model: {
    type: string;
    vocab: Record<string, number>;
    merges?: (string | [string, string])[];
    byte_fallback?: boolean;
    unk_token?: string | null;
  };
}

interface TokenizerConfig {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  unk_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  chat_template?: string | { name: string; template: string }[];
}

export interface VocabFromJsonOptions {
  /** general.name */
  name: string;
  /** tokenizer.ggml.pre for byte-level BPE (llama.cpp picks it by hashing
   *  the tokenizer's output; here the caller says it). Ignored for SPM. */
  pre?: string;
  config?: TokenizerConfig;
  /** Adds llama.* hyperparameters and zero tensors (1 block, width 32). */
  withModel?: boolean;
  /** Writes a byte-fallback (SentencePiece-style) BPE as tokenizer model
   *  "gemma4" (its merges, no scores), as Gemma 4's converter does. */
  model?: 'gemma4';
}

export interface ConvertedVocab {
  model: 'gpt2' | 'llama' | 'gemma4';
  tokens: string[];
  types: number[];
  writer: GgufWriter;
}

const tokenText = (t: string | { content: string } | null | undefined): string | undefined =>
  t == null ? undefined : typeof t === 'string' ? t : t.content;

/** Does the normalizer prepend "▁" (SentencePiece's dummy prefix)? */
function prependsSpaceMark(normalizer: unknown): boolean {
  const walk = (n: unknown): boolean => {
    if (!n || typeof n !== 'object') return false;
    const o = n as { type?: string; prepend?: string; normalizers?: unknown[] };
    if (o.type === 'Prepend' && o.prepend === '\u2581') return true;
    return Array.isArray(o.normalizers) && o.normalizers.some(walk);
  };
  return walk(normalizer);
}

export function vocabFromTokenizerJson(json: TokenizerJson, opts: VocabFromJsonOptions): ConvertedVocab {
  const m = json.model;
  if (m.type !== 'BPE') throw new Error(`tokenizer model ${m.type} is not BPE`);
  const added = json.added_tokens ?? [];
  const isSpm = m.byte_fallback === true;
  const gemma4 = opts.model === 'gemma4';
  if (gemma4 && !isSpm) throw new Error(`${opts.name}: the gemma4 tokenizer model is a byte-fallback BPE`);

  // Ids may skip numbers: llama.cpp's converter fills holes with [PAD<id>].
  let n = 0;
  for (const id of Object.values(m.vocab)) n = Math.max(n, id + 1);
  for (const t of added) n = Math.max(n, t.id + 1);
  const tokens: string[] = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types: number[] = new Array(n).fill(TYPE.unused);
  for (const [text, id] of Object.entries(m.vocab)) {
    tokens[id] = text;
    types[id] = isSpm && /^<0x[0-9A-F]{2}>$/.test(text) ? TYPE.byte : TYPE.normal;
  }
  for (const t of added) {
    tokens[t.id] = t.content;
    types[t.id] = t.special ? TYPE.control : TYPE.userDefined;
  }
  if (m.unk_token != null && m.vocab[m.unk_token] !== undefined) types[m.vocab[m.unk_token]] = TYPE.unknown;

  const merges = (m.merges ?? []).map((x) => (typeof x === 'string' ? x : `${x[0]} ${x[1]}`));
  const w = new GgufWriter();
  w.addKv('general.architecture', 'llama', 'string');
  w.addKv('general.name', opts.name, 'string');
  if (opts.withModel) addTinyLlamaKvs(w, n);
  w.addKv('tokenizer.ggml.model', gemma4 ? 'gemma4' : isSpm ? 'llama' : 'gpt2', 'string');
  if (!isSpm) {
    if (!opts.pre) throw new Error(`${opts.name}: a byte-level BPE tokenizer needs its pre-tokenizer name`);
    w.addKv('tokenizer.ggml.pre', opts.pre, 'string');
  }
  w.addKv('tokenizer.ggml.tokens', tokens, 'string[]');
  if (isSpm && !gemma4) {
    // SentencePiece merges the pair whose result scores best; the merge
    // list is that order, so a token's score is minus the rank of the first
    // merge that makes it (0 for tokens no merge makes).
    const scores = new Float32Array(n);
    const made = new Set<number>();
    merges.forEach((line, rank) => {
      const id = m.vocab[line.replace(' ', '')];
      if (id !== undefined && !made.has(id)) {
        made.add(id);
        scores[id] = -rank - 1;
      }
    });
    w.addKv('tokenizer.ggml.scores', scores, 'float32[]');
  }
  w.addKv('tokenizer.ggml.token_type', types, 'int32[]');
  if (!isSpm || gemma4) w.addKv('tokenizer.ggml.merges', merges, 'string[]');

  const idOf = (t: string | { content: string } | null | undefined): number | undefined => {
    const text = tokenText(t);
    if (text === undefined) return undefined;
    const id = tokens.indexOf(text);
    return id >= 0 ? id : undefined;
  };
  const c = opts.config ?? {};
  const ids: [string, number | undefined][] = [
    ['bos', idOf(c.bos_token)],
    ['eos', idOf(c.eos_token)],
    ['unknown', idOf(c.unk_token) ?? (m.unk_token != null ? m.vocab[m.unk_token] : undefined)],
    ['padding', idOf(c.pad_token)],
  ];
  for (const [k, id] of ids) if (id !== undefined) w.addKv(`tokenizer.ggml.${k}_token_id`, id, 'uint32');
  if (c.add_bos_token !== undefined) w.addKv('tokenizer.ggml.add_bos_token', c.add_bos_token, 'bool');
  if (c.add_eos_token !== undefined) w.addKv('tokenizer.ggml.add_eos_token', c.add_eos_token, 'bool');
  if (isSpm && !gemma4) w.addKv('tokenizer.ggml.add_space_prefix', prependsSpaceMark(json.normalizer), 'bool');
  if (typeof c.chat_template === 'string') w.addKv('tokenizer.chat_template', c.chat_template, 'string');

  if (opts.withModel) addTinyLlamaTensors(w, n);
  return { model: gemma4 ? 'gemma4' : isSpm ? 'llama' : 'gpt2', tokens, types, writer: w };
}

const TINY = { nEmbd: 32, nFf: 32, nHead: 2 };

function addTinyLlamaKvs(w: GgufWriter, nVocab: number): void {
  w.addKv('llama.vocab_size', nVocab, 'uint32');
  w.addKv('llama.context_length', 256, 'uint32');
  w.addKv('llama.embedding_length', TINY.nEmbd, 'uint32');
  w.addKv('llama.block_count', 1, 'uint32');
  w.addKv('llama.feed_forward_length', TINY.nFf, 'uint32');
  w.addKv('llama.attention.head_count', TINY.nHead, 'uint32');
  w.addKv('llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32');
}

// Zero weights: the tokenizer tests never evaluate the model.
function addTinyLlamaTensors(w: GgufWriter, nVocab: number): void {
  const { nEmbd: E, nFf: F } = TINY;
  const zeros = (out: Float32Array): void => void out.fill(0);
  w.addTensor('token_embd.weight', [E, nVocab], 'q4_0', zeros); // (vocab, dim), tied output
  w.addTensor('output_norm.weight', [E], 'f32', zeros);
  for (const [name, dims] of [
    ['attn_norm', [E]], ['attn_q', [E, E]], ['attn_k', [E, E]], ['attn_v', [E, E]], ['attn_output', [E, E]],
    ['ffn_norm', [E]], ['ffn_gate', [E, F]], ['ffn_up', [E, F]], ['ffn_down', [F, E]],
  ] as const) {
    w.addTensor(`blk.0.${name}.weight`, dims, 'f32', zeros);
  }
}
