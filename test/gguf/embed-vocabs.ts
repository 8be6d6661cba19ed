// The tokenizers of the embedding test models (test/gguf/embed-models.ts)
// as metadata entries: BERT's WordPiece from llama.cpp's bge vocabulary file
// (test/data/vocab), or the synthetic SentencePiece vocabulary. Node only
// (reads files).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { testdataDir } from '../data';
import { syntheticTokenizer, type EmbedVocab } from './embed-models';
import { readGgufKvs, type KvEntry } from './read-kvs';

const cache = new Map<EmbedVocab, KvEntry[]>();

export function embedTokenizer(vocab: EmbedVocab): KvEntry[] {
  let kvs = cache.get(vocab);
  if (kvs) return kvs;
  if (vocab === 'wordpiece') {
    kvs = readGgufKvs(readFileSync(join(testdataDir, 'vocab', 'ggml-vocab-bert-bge.gguf')));
  } else {
    kvs = syntheticTokenizer();
  }
  kvs = kvs.filter((k) => k.key.startsWith('tokenizer.'));
  cache.set(vocab, kvs);
  return kvs;
}
