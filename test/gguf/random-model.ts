// Random `llama`-architecture models for tests and benchmarks: a seeded,
// platform-independent PRNG, a synthetic SentencePiece vocabulary llama.cpp
// accepts, and presets from a 4-block toy to Qwen2-0.5B and Llama-1B shapes.
// Weights are generated lazily while writing, so large models stream.
import { ENCODINGS, GgufWriter, type TensorType } from './writer';

// ---------------------------------------------------------------------------
// PRNG: xoshiro128** seeded through splitmix32. Normals are Irwin–Hall sums of
// four uniforms, rescaled to unit variance: bell-shaped, bounded at ±2√3 σ,
// and built from integer ops and exactly rounded IEEE arithmetic only (no
// Math.log/cos, whose last bits may differ between engines), so a spec gives
// byte-identical files everywhere.

function splitmix32(state: number): [next: number, out: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a over the UTF-16 code units: a stable per-tensor stream id. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A stream determined by `seed` and, optionally, a name (one per tensor). */
  constructor(seed: number, stream = '') {
    let st = (seed ^ hashString(stream)) | 0;
    let o: number;
    [st, o] = splitmix32(st); this.s0 = o | 0;
    [st, o] = splitmix32(st); this.s1 = o | 0;
    [st, o] = splitmix32(st); this.s2 = o | 0;
    [st, o] = splitmix32(st); this.s3 = o | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the one bad state
  }

  /** Next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const x = Math.imul(this.s1, 5);
    const r = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() * 2 ** -32;
  }

  /**
   * Fills `out` with mean + std·z, z of unit variance. The xoshiro step is
   * inlined with the state in locals: this loop writes every weight of a
   * 0.5B model, and it is the difference between seconds and a minute.
   */
  fillNormal(out: Float32Array, mean: number, std: number): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const scale = Math.sqrt(3) * std; // sum of 4 U(0,1) has variance 1/3
    for (let i = 0; i < out.length; i++) {
      let sum = 0;
      for (let r = 0; r < 4; r++) {
        const x = Math.imul(s1, 5);
        sum += Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
        const t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
      }
      // sum·2^-32 − 2 is exact; one rounded multiply and add follow.
      out[i] = mean + (sum * 2 ** -32 - 2) * scale;
    }
    this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
  }
}

// ---------------------------------------------------------------------------
// Synthetic SentencePiece vocabulary

/** llama_token_type values stored in tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
}

const SPACE = '\u2581'; // ▁, SentencePiece's visible space

const SINGLE_CHARS =
  SPACE + 'etaoinshrdlcumwfgypbvkjxqz' + 'ETAOINSHRDLCUMWFGYPBVKJXQZ' + '0123456789' + `.,!?'"-:;()/&%$#@+=*_[]`;

// Common English words (by rough frequency, then words of the test prompts)
// and frequent subwords. Each is added with all of its prefixes so every
// token can be reached by SentencePiece's pairwise merges.
const WORDS = (
  'the of and to a in is was that for it with as on be at by this had not are but from or have an they ' +
  'which one you were her all she there would their we him been has when who will more no if out so said ' +
  'what up its about into than them can only other new some could time these two may then do first any my ' +
  'now such like our over man me even most made after also did many before must through back years where ' +
  'much your way well down should because each just those people how too little state good very make world ' +
  'still own see men work long get here between both life being under never day same another know while ' +
  'last might us great old year off come since against go came right used take three upon once girl boy ' +
  'quick brown fox jumps lazy dog cat house water sun story tell told happy small big name lived Once The ' +
  'In It He She There This What test tests failed passed number numbers percent model models language'
).split(' ');

const SUBWORDS = 'ing ed er es ly tion th he in an re on at en nd st or te ar al le ou it is ent ion'.split(' ');

/**
 * `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then normal tokens: single
 * characters, "▁"+word and subword pieces with their prefixes, then letter
 * n-grams until `nVocab`. Scores strictly decrease along the list, so merges
 * never tie.
 */
export function syntheticVocab(nVocab: number): Vocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  const minVocab = tokens.length + [...SINGLE_CHARS].length;
  if (nVocab < minVocab) throw new Error(`synthetic vocab needs at least ${minVocab} tokens, asked for ${nVocab}`);

  const seen = new Set(tokens);
  const add = (t: string): boolean => {
    if (tokens.length >= nVocab) return false;
    if (!seen.has(t)) {
      seen.add(t);
      tokens.push(t);
      types.push(TOKEN_TYPE.normal);
    }
    return true;
  };
  const withPrefixes = (t: string): boolean => {
    const chars = [...t];
    for (let n = 2; n <= chars.length; n++) if (!add(chars.slice(0, n).join(''))) return false;
    return true;
  };

  for (const c of SINGLE_CHARS) add(c);
  fill: {
    for (const w of WORDS) if (!withPrefixes(SPACE + w)) break fill;
    for (const w of SUBWORDS) if (!withPrefixes(w)) break fill;
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    let grams = [...letters];
    while (tokens.length < nVocab) {
      grams = grams.flatMap((g) => [...letters].map((c) => g + c));
      for (const g of grams) if (!add(SPACE + g) || !add(g)) break fill;
    }
  }

  // Control/byte tokens score 0 as in llama's own vocabulary; normal tokens
  // score −1, −2, … in list order (higher merges first).
  let rank = 0;
  const scores = types.map((t) => (t === TOKEN_TYPE.normal ? -++rank : 0));
  return { tokens, scores, types };
}

// ---------------------------------------------------------------------------
// Model spec and presets

export interface LlamaSpec {
  name: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nVocab: number;
  nCtxTrain: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** Type of the 2-D weights of the blocks. */
  weightType: TensorType;
  embdType: TensorType;
  /** Type of output.weight (unused when tied). */
  outputType: TensorType;
  /** No output.weight: llama.cpp then uses token_embd as the output head. */
  tiedOutput: boolean;
  /** Standard deviation of the blocks' 2-D weights. */
  std: number;
  /** Standard deviation of token_embd (the output head too when tied). */
  embdStd: number;
  /** Standard deviation of output.weight: the logits' spread is about
   *  outputStd·√nEmbd, so this sets how peaked the next-token distribution is. */
  outputStd: number;
  /** Norm weights are 1 + normStd·z. */
  normStd: number;
  seed: number;
}

export type PresetName = 'tiny' | 'qwen2-0.5b' | 'llama-1b';

export const PRESETS: Readonly<Record<PresetName, LlamaSpec>> = {
  // Test-sized: 4 blocks, GQA (4 query heads over 2 KV heads), n_ff a
  // multiple of 32 so every 32-block quant type fits (the K-quants need
  // rows of 256: override nEmbd and nFf for them). Block weights are small
  // (std 0.04, a third of unit gain at width 64) so the network is well
  // conditioned: with std 0.2, one 8-bit rounding of an activation landing the
  // other way (a different summation order) moved later logits by up to 0.7,
  // and greedy comparisons between implementations measured chaos, not bugs.
  tiny: {
    name: 'hob-tiny', nEmbd: 64, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 192, nVocab: 512,
    nCtxTrain: 2048, ropeFreqBase: 10000, rmsEps: 1e-5,
    weightType: 'f32', embdType: 'f32', outputType: 'f32', tiedOutput: false,
    std: 0.04, embdStd: 1, outputStd: 0.5, normStd: 0.1, seed: 1,
  },
  // Benchmark shapes. Block weights scale as 1/√nEmbd like the tiny preset's;
  // the head's std keeps the logits' spread near 4.5 (tied: token_embd's).
  // Qwen2-0.5B's shapes (head_dim 64, GQA 7:1), written as architecture llama.
  'qwen2-0.5b': {
    name: 'hob-random-qwen2-0.5b', nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, nFf: 4864, nVocab: 151936,
    nCtxTrain: 32768, ropeFreqBase: 1000000, rmsEps: 1e-6,
    weightType: 'q4_0', embdType: 'q4_0', outputType: 'q4_0', tiedOutput: true,
    std: 0.05, embdStd: 0.15, outputStd: 0.15, normStd: 0.1, seed: 1,
  },
  // Llama-3.2-1B's shapes (head_dim 64, GQA 4:1).
  'llama-1b': {
    name: 'hob-random-llama-1b', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192, nVocab: 128256,
    nCtxTrain: 131072, ropeFreqBase: 500000, rmsEps: 1e-5,
    weightType: 'q4_0', embdType: 'q4_0', outputType: 'q4_0', tiedOutput: true,
    std: 0.035, embdStd: 0.1, outputStd: 0.1, normStd: 0.1, seed: 1,
  },
};

/** A preset with some fields replaced; `weightType` alone sets all three types. */
export function makeSpec(preset: PresetName, overrides: Partial<LlamaSpec> = {}): LlamaSpec {
  const base = PRESETS[preset];
  if (!base) throw new Error(`unknown preset ${preset} (${Object.keys(PRESETS).join(', ')})`);
  const t = overrides.weightType;
  return { ...base, ...(t ? { embdType: t, outputType: t } : {}), ...overrides };
}

/** llama_ftype recorded as general.file_type, from the blocks' weight type
 *  (the K-quants as their "_S" mixes, the all-one-type ones). */
const FILE_TYPE: Readonly<Record<TensorType, number>> = {
  f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7, q5_0: 8, q5_1: 9,
  q2_k: 10, q3_k: 11, q4_k: 14, q5_k: 16, q6_k: 18, iq4_nl: 25, bf16: 32,
};

/**
 * The type a tensor gets when its rows are not a whole number of the asked
 * type's blocks: llama.cpp's quantizer falls back the same way (K-quants need
 * rows of 256, so e.g. Qwen2-0.5B's 896-wide matrices end up in Q5_0 in a
 * Q4_K file).
 */
export function typeForRow(type: TensorType, rowLength: number): TensorType {
  if (rowLength % ENCODINGS[type].blockSize === 0) return type;
  const fallback: Partial<Record<TensorType, TensorType>> = {
    q2_k: 'iq4_nl', q3_k: 'iq4_nl', q4_k: 'q5_0', q5_k: 'q5_1', q6_k: 'q8_0',
  };
  const t = fallback[type];
  if (!t || rowLength % ENCODINGS[t].blockSize !== 0) {
    throw new Error(`rows of ${rowLength} elements fit neither ${type} nor its fallback`);
  }
  return t;
}

function checkSpec(s: LlamaSpec): void {
  const fail = (why: string): never => {
    throw new Error(`llama spec ${s.name}: ${why}`);
  };
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf', 'nVocab', 'nCtxTrain'] as const) {
    if (!Number.isSafeInteger(s[k]) || s[k] < 1) fail(`${k} = ${s[k]} is not a positive integer`);
  }
  if (s.nEmbd % s.nHead !== 0) fail(`nEmbd ${s.nEmbd} is not a multiple of nHead ${s.nHead}`);
  if (s.nHead % s.nHeadKv !== 0) fail(`nHead ${s.nHead} is not a multiple of nHeadKv ${s.nHeadKv}`);
  if ((s.nEmbd / s.nHead) % 2 !== 0) fail(`head dim ${s.nEmbd / s.nHead} is odd (RoPE rotates pairs)`);
}

/**
 * A GgufWriter holding a random llama model. Weights are generated when the
 * writer streams them, each tensor from its own PRNG stream (seed, name), so
 * a tensor's values do not depend on the others.
 */
export function buildRandomLlama(spec: LlamaSpec): GgufWriter {
  checkSpec(spec);
  const vocab = syntheticVocab(spec.nVocab);
  const w = new GgufWriter();

  w.addKv('general.architecture', 'llama', 'string');
  w.addKv('general.name', spec.name, 'string');
  addRandomLlamaHparams(w, spec);
  w.addKv('tokenizer.ggml.model', 'llama', 'string');
  w.addKv('tokenizer.ggml.tokens', vocab.tokens, 'string[]');
  w.addKv('tokenizer.ggml.scores', vocab.scores, 'float32[]');
  w.addKv('tokenizer.ggml.token_type', vocab.types, 'int32[]');
  w.addKv('tokenizer.ggml.bos_token_id', 1, 'uint32');
  w.addKv('tokenizer.ggml.eos_token_id', 2, 'uint32');
  w.addKv('tokenizer.ggml.unknown_token_id', 0, 'uint32');
  w.addKv('tokenizer.ggml.add_bos_token', true, 'bool');
  w.addKv('tokenizer.ggml.add_eos_token', false, 'bool');
  addRandomLlamaTensors(w, spec);
  return w;
}

/** The file type and llama.* hyperparameters of a spec, for a writer that
 *  brings its own vocabulary (general.architecture must be 'llama'). */
export function addRandomLlamaHparams(w: GgufWriter, spec: LlamaSpec): void {
  checkSpec(spec);
  const { nEmbd, nHead, nHeadKv, nFf, nVocab } = spec;
  const headDim = nEmbd / nHead;
  w.addKv('general.file_type', FILE_TYPE[spec.weightType], 'uint32');
  w.addKv('general.quantization_version', 2, 'uint32');
  w.addKv('llama.vocab_size', nVocab, 'uint32');
  w.addKv('llama.context_length', spec.nCtxTrain, 'uint32');
  w.addKv('llama.embedding_length', nEmbd, 'uint32');
  w.addKv('llama.block_count', spec.nLayer, 'uint32');
  w.addKv('llama.feed_forward_length', nFf, 'uint32');
  w.addKv('llama.attention.head_count', nHead, 'uint32');
  w.addKv('llama.attention.head_count_kv', nHeadKv, 'uint32');
  w.addKv('llama.rope.freq_base', spec.ropeFreqBase, 'float32');
  w.addKv('llama.rope.dimension_count', headDim, 'uint32');
  w.addKv('llama.attention.layer_norm_rms_epsilon', spec.rmsEps, 'float32');
}

/** The random weights of a spec (nVocab rows of token_embd, and of output
 *  unless tied), generated lazily as the writer streams them. */
export function addRandomLlamaTensors(w: GgufWriter, spec: LlamaSpec): void {
  checkSpec(spec);
  const { nEmbd, nHead, nHeadKv, nFf, nVocab } = spec;
  const headDim = nEmbd / nHead;
  const random = (name: string, dims: number[], type: TensorType, mean: number, std: number): void =>
    addRandomTensor(w, spec.seed, name, dims, typeForRow(type, dims[0]), mean, std);

  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out.
  random('token_embd.weight', [nEmbd, nVocab], spec.embdType, 0, spec.embdStd); // (vocab, dim)
  random('output_norm.weight', [nEmbd], 'f32', 1, spec.normStd);
  if (!spec.tiedOutput) random('output.weight', [nEmbd, nVocab], spec.outputType, 0, spec.outputStd);
  const kvDim = nHeadKv * headDim;
  for (let l = 0; l < spec.nLayer; l++) {
    const blk = `blk.${l}.`;
    const t = spec.weightType;
    random(blk + 'attn_norm.weight', [nEmbd], 'f32', 1, spec.normStd);
    random(blk + 'attn_q.weight', [nEmbd, nEmbd], t, 0, spec.std); // dim → n_head·head_dim
    random(blk + 'attn_k.weight', [nEmbd, kvDim], t, 0, spec.std); // dim → n_head_kv·head_dim
    random(blk + 'attn_v.weight', [nEmbd, kvDim], t, 0, spec.std);
    random(blk + 'attn_output.weight', [nEmbd, nEmbd], t, 0, spec.std);
    random(blk + 'ffn_norm.weight', [nEmbd], 'f32', 1, spec.normStd);
    random(blk + 'ffn_gate.weight', [nEmbd, nFf], t, 0, spec.std); // dim → n_ff
    random(blk + 'ffn_up.weight', [nEmbd, nFf], t, 0, spec.std);
    random(blk + 'ffn_down.weight', [nFf, nEmbd], t, 0, spec.std); // n_ff → dim
  }
}

/**
 * Adds `name` holding normal(mean, std) values from the PRNG stream (seed,
 * name), generated as the writer streams the tensor (a second pass replays
 * the stream): a tensor's values depend on its seed and name alone, never
 * on the tensors written before it. Every random test model writes its
 * weights through this.
 */
export function addRandomTensor(w: GgufWriter, seed: number, name: string, dims: number[], type: TensorType, mean: number, std: number): void {
  let rng = new Rng(seed, name);
  let next = 0;
  w.addTensor(name, dims, type, (out, start) => {
    if (start === 0) rng = new Rng(seed, name);
    if (start !== next && start !== 0) throw new Error(`${name}: fill out of order (${start}, expected ${next})`);
    rng.fillNormal(out, mean, std);
    next = start + out.length;
  });
}

/** The GGUF bytes of a random llama model (see buildRandomLlama). */
export function writeRandomLlama(spec: LlamaSpec): Uint8Array {
  return buildRandomLlama(spec).toBytes();
}
