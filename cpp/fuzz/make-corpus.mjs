// Writes the seed corpus of the GGUF fuzz target (cpp/fuzz/corpus/): small
// valid files that reach deep into the parser and the tokenizer, plus a few
// vocabularies that are malformed in the ways other loaders were attacked.
// Plain Node, no dependencies: node cpp/fuzz/make-corpus.mjs
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

// GGUF metadata value types and tensor type ids, as the specification numbers them.
const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };
const SCALAR = {
  u8: [1, 'setUint8'], i8: [1, 'setInt8'], u16: [2, 'setUint16'], i16: [2, 'setInt16'],
  u32: [4, 'setUint32'], i32: [4, 'setInt32'], f32: [4, 'setFloat32'], bool: [1, 'setUint8'],
  u64: [8, 'setBigUint64'], i64: [8, 'setBigInt64'], f64: [8, 'setFloat64'],
};
// [id, elements per block, bytes per block]
const TYPE = {
  F32: [0, 1, 4], F16: [1, 1, 2], Q4_0: [2, 32, 18], Q4_1: [3, 32, 20], Q5_0: [6, 32, 22], Q8_0: [8, 32, 34],
  Q2_K: [10, 256, 84], Q4_K: [12, 256, 144], Q6_K: [14, 256, 210], IQ4_NL: [20, 32, 18], BF16: [30, 1, 2],
};

// Little-endian byte sink.
class Bytes {
  constructor() { this.chunks = []; this.length = 0; }
  push(u8) { this.chunks.push(u8); this.length += u8.length; return this; }
  num(kind, value) {
    const [size, set] = SCALAR[kind];
    const b = new Uint8Array(size);
    const v = size === 8 && kind !== 'f64' ? BigInt(value) : kind === 'bool' ? Number(value) : value;
    new DataView(b.buffer)[set](0, v, true);
    return this.push(b);
  }
  str(s) {
    const u8 = new TextEncoder().encode(s);
    return this.num('u64', u8.length).push(u8);
  }
  bytes() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

// A GGUF file: kv(key, type, value) where arrays are ['arr', elemType, values];
// tensor(name, dims, typeName) placed at aligned offsets; deterministic data.
class Gguf {
  constructor(version = 3, alignment = 32) {
    this.version = version;
    this.alignment = alignment;
    this.kvs = new Bytes();
    this.nKv = 0;
    this.infos = new Bytes();
    this.nTensors = 0;
    this.dataEnd = 0;
  }
  kv(key, type, value) {
    this.kvs.str(key).num('u32', T[type]);
    if (type === 'arr') {
      const [elem, values] = value;
      this.kvs.num('u32', T[elem]).num('u64', values.length);
      for (const v of values) elem === 'str' ? this.kvs.str(v) : this.kvs.num(elem, v);
    } else if (type === 'str') {
      this.kvs.str(value);
    } else {
      this.kvs.num(type, value);
    }
    this.nKv++;
    return this;
  }
  tensor(name, dims, typeName) {
    const [id, block, typeSize] = TYPE[typeName];
    const offset = Math.ceil(this.dataEnd / this.alignment) * this.alignment;
    this.infos.str(name).num('u32', dims.length);
    for (const d of dims) this.infos.num('u64', d);
    this.infos.num('u32', id).num('u64', offset);
    const bytes = (dims[0] / block) * typeSize * dims.slice(1).reduce((a, b) => a * b, 1);
    this.dataEnd = offset + bytes;
    this.nTensors++;
    return this;
  }
  bytes() {
    const head = new Bytes().push(new TextEncoder().encode('GGUF'))
      .num('u32', this.version).num('u64', this.nTensors).num('u64', this.nKv)
      .push(this.kvs.bytes()).push(this.infos.bytes());
    const dataOffset = this.nTensors ? Math.ceil(head.length / this.alignment) * this.alignment : head.length;
    const out = new Uint8Array(dataOffset + this.dataEnd);
    out.set(head.bytes());
    // Small, valid-looking weights: the same byte pattern for every type.
    for (let i = dataOffset; i < out.length; i++) out[i] = (i * 37) & 0x3b;
    return out;
  }
}

function everyType(g) {
  g.kv('general.architecture', 'str', 'llama').kv('general.name', 'str', 'every type')
    .kv('t.u8', 'u8', 255).kv('t.i8', 'i8', -128).kv('t.u16', 'u16', 65535).kv('t.i16', 'i16', -32768)
    .kv('t.u32', 'u32', 4294967295).kv('t.i32', 'i32', -2147483648).kv('t.f32', 'f32', 0.1)
    .kv('t.bool', 'bool', true).kv('t.str', 'str', 'h\u00e9llo \u2581world')
    .kv('t.u64', 'u64', 2n ** 64n - 1n).kv('t.i64', 'i64', -(2n ** 63n)).kv('t.f64', 'f64', Math.PI);
  for (const [elem, values] of Object.entries({
    u8: [0, 1, 255], i8: [-128, 127], u16: [0, 65535], i16: [-32768, 32767], u32: [0, 4294967295],
    i32: [-2147483648, 2147483647], f32: [0.5, -0.25], bool: [true, false], u64: [0, 2n ** 64n - 1n],
    i64: [-(2n ** 63n), 1], f64: [1e300, -0.0], str: ['', 'a', '<0x00>', '\u2581hello'],
  })) g.kv(`a.${elem}`, 'arr', [elem, values]);
  return g.kv('a.empty', 'arr', ['u32', []]);
}

const hex = (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

// A SentencePiece vocabulary: <unk> <s> </s>, byte tokens, then pieces with
// scores (higher merges first), a user-defined and a control token.
function spmVocab(g, { byteCount = 256, addSpacePrefix = true, extra = {} } = {}) {
  const pieces = ['\u2581', '\u2581H', '\u2581w', 'e', 'l', 'o', 'r', 'd', 'H', 'w', 'll', 'llo', 'ello', 'or', 'ld',
    '\u2581Hello', '\u2581world', '\u2581\u2581', '\u00e9', '\u2581<', 's', '>'];
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < byteCount; b++) { tokens.push(hex(b)); types.push(6); }
  for (const p of pieces) { tokens.push(p); types.push(1); }
  tokens.push('<|im_end|>', '<pad>');
  types.push(4, 3);
  const scores = tokens.map((t, i) => (types[i] === 1 ? -i / 4 - t.length : 0));
  g.kv('tokenizer.ggml.model', 'str', 'llama')
    .kv('tokenizer.ggml.tokens', 'arr', ['str', tokens])
    .kv('tokenizer.ggml.scores', 'arr', ['f32', scores])
    .kv('tokenizer.ggml.token_type', 'arr', ['i32', types])
    .kv('tokenizer.ggml.bos_token_id', 'u32', 1)
    .kv('tokenizer.ggml.eos_token_id', 'u32', 2)
    .kv('tokenizer.ggml.unknown_token_id', 'u32', 0)
    .kv('tokenizer.ggml.padding_token_id', 'u32', tokens.length - 1)
    .kv('tokenizer.ggml.add_bos_token', 'bool', true)
    .kv('tokenizer.ggml.add_eos_token', 'bool', false)
    .kv('tokenizer.ggml.add_space_prefix', 'bool', addSpacePrefix);
  for (const [k, [type, v]] of Object.entries(extra)) g.kv(k, type, v);
  g.nVocab = tokens.length;
  return g;
}

function llamaHeader(g, nEmbd, nFf, nLayer) {
  return g.kv('general.architecture', 'str', 'llama')
    .kv('llama.context_length', 'u32', 128).kv('llama.embedding_length', 'u32', nEmbd)
    .kv('llama.block_count', 'u32', nLayer).kv('llama.feed_forward_length', 'u32', nFf)
    .kv('llama.rope.dimension_count', 'u32', nEmbd / 2).kv('llama.attention.head_count', 'u32', 2)
    .kv('llama.attention.head_count_kv', 'u32', 1).kv('llama.attention.layer_norm_rms_epsilon', 'f32', 1e-5)
    .kv('llama.rope.freq_base', 'f32', 10000).kv('general.file_type', 'u32', 1);
}

const seeds = {
  'v3-every-type.seed': everyType(new Gguf(3)),
  'v2-every-type.seed': everyType(new Gguf(2)),
  'tensors-float.seed': new Gguf().kv('general.architecture', 'str', 'llama')
    .tensor('a.f32', [4, 3], 'F32').tensor('b.f16', [8, 2, 2], 'F16').tensor('c.bf16', [2, 2, 2, 2], 'BF16'),
  'tensors-quant-align64.seed': new Gguf(3, 64).kv('general.alignment', 'u32', 64)
    .tensor('q4_0', [64, 2], 'Q4_0').tensor('q4_1', [32], 'Q4_1').tensor('q5_0', [32], 'Q5_0')
    .tensor('q8_0', [32, 1, 2], 'Q8_0').tensor('q2_k', [256], 'Q2_K').tensor('q4_k', [256], 'Q4_K')
    .tensor('q6_k', [256, 2], 'Q6_K').tensor('iq4_nl', [32], 'IQ4_NL'),
  'tensors-align1.seed': new Gguf(3, 1).kv('general.alignment', 'u32', 1)
    .tensor('a', [3], 'F16').tensor('b', [1], 'F32'),
  'spm-vocab.seed': spmVocab(new Gguf().kv('general.architecture', 'str', 'llama')),
  'spm-vocab-few-bytes.seed': spmVocab(new Gguf(2).kv('general.architecture', 'str', 'llama'), {
    byteCount: 16, addSpacePrefix: false, extra: { 'tokenizer.ggml.eot_token_id': ['u32', 21] },
  }),
  // A whole tiny Llama: hyperparameters, vocabulary and F16/Q8_0 weights.
  'llama-tiny.seed': (() => {
    const g = spmVocab(llamaHeader(new Gguf(), 32, 64, 1), { byteCount: 16 });
    const { nVocab } = g;
    return g.tensor('token_embd.weight', [32, nVocab], 'F16').tensor('blk.0.attn_norm.weight', [32], 'F32')
      .tensor('blk.0.attn_q.weight', [32, 32], 'Q8_0').tensor('blk.0.attn_k.weight', [32, 16], 'Q8_0')
      .tensor('blk.0.attn_v.weight', [32, 16], 'Q8_0').tensor('blk.0.attn_output.weight', [32, 32], 'Q8_0')
      .tensor('blk.0.ffn_norm.weight', [32], 'F32').tensor('blk.0.ffn_gate.weight', [32, 64], 'Q4_0')
      .tensor('blk.0.ffn_up.weight', [32, 64], 'Q4_0').tensor('blk.0.ffn_down.weight', [64, 32], 'Q4_0')
      .tensor('output_norm.weight', [32], 'F32').tensor('output.weight', [32, nVocab], 'F16');
  })(),
  // BPE and WordPiece vocabularies, which the tokenizer refuses or handles.
  'bpe-vocab.seed': new Gguf().kv('general.architecture', 'str', 'gpt2')
    .kv('tokenizer.ggml.model', 'str', 'gpt2').kv('tokenizer.ggml.pre', 'str', 'gpt-2')
    .kv('tokenizer.ggml.tokens', 'arr', ['str', ['!', 'H', 'e', 'l', 'o', '\u0120', '\u0120w', 'He', 'll', '<|endoftext|>']])
    .kv('tokenizer.ggml.token_type', 'arr', ['i32', [1, 1, 1, 1, 1, 1, 1, 1, 1, 3]])
    .kv('tokenizer.ggml.merges', 'arr', ['str', ['H e', 'l l', '\u0120 w']])
    .kv('tokenizer.ggml.bos_token_id', 'u32', 9).kv('tokenizer.ggml.eos_token_id', 'u32', 9),
  'wpm-vocab.seed': new Gguf().kv('general.architecture', 'str', 'bert').kv('tokenizer.ggml.model', 'str', 'bert')
    .kv('tokenizer.ggml.tokens', 'arr', ['str', ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', '##lo', 'world']])
    .kv('tokenizer.ggml.token_type', 'arr', ['i32', [3, 2, 3, 3, 1, 1, 1]]),
  // Malformed vocabularies (the GGUF itself is valid): arrays of the wrong
  // element type and length, special ids out of range, odd byte tokens.
  'spm-vocab-wrong-types.seed': new Gguf().kv('tokenizer.ggml.model', 'str', 'llama')
    .kv('tokenizer.ggml.tokens', 'arr', ['str', ['<unk>', '<s>', '</s>', 'a', 'b']])
    .kv('tokenizer.ggml.scores', 'arr', ['str', ['0', '1']])
    .kv('tokenizer.ggml.token_type', 'arr', ['u8', [2, 3, 3]])
    .kv('tokenizer.ggml.bos_token_id', 'i32', -5).kv('tokenizer.ggml.eos_token_id', 'u64', 2n ** 63n)
    .kv('tokenizer.ggml.unknown_token_id', 'u32', 5),
  'spm-vocab-odd-bytes.seed': new Gguf().kv('tokenizer.ggml.model', 'str', 'llama')
    .kv('tokenizer.ggml.tokens', 'arr', ['str', ['<unk>', '<s>', '</s>', '<0x-1>', '<0x100>', '<0xZZ>', '<0x>', '<0x41',
      '<0x0A>', '<0x0A>', '', '\u2581', 'a']])
    .kv('tokenizer.ggml.scores', 'arr', ['f32', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -2]])
    .kv('tokenizer.ggml.token_type', 'arr', ['i32', [2, 3, 3, 6, 6, 6, 6, 6, 6, 6, 1, 1, 99]])
    .kv('tokenizer.ggml.bos_token_id', 'u32', 1).kv('tokenizer.ggml.eos_token_id', 'u32', 2),
};

mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (f.endsWith('.seed') || f.endsWith('.gguf')) rmSync(join(OUT, f));
let total = 0;
for (const [name, g] of Object.entries(seeds)) {
  const bytes = g.bytes();
  if (bytes.length >= 64 * 1024) throw new Error(`${name} is ${bytes.length} bytes, over the 64 KB seed limit`);
  writeFileSync(join(OUT, name), bytes);
  total += bytes.length;
  console.log(`${name.padEnd(30)} ${String(bytes.length).padStart(6)} bytes`);
}
console.log(`${Object.keys(seeds).length} seeds, ${total} bytes`);
