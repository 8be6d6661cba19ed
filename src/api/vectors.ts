// The embeddings and rerank API on the caller's side of the worker: requests
// checked and made ready to cross, results shaped as OpenAI's embeddings API
// and llama.cpp's /rerank return them (base64 vectors as little-endian
// float32 bytes, rerank results sorted and cut to top_n).
import { HobError } from '../shared/errors.js';
import type {
  EmbeddingCreateRequest, EmbeddingList, RerankRequest, RerankResponse, TokenEmbeddingList, TokenEmbeddingRequest,
} from '../shared/types.js';
import type { EmbedRequest, EmbedResult, RerankScores, TokenEmbedResult } from '../worker/protocol.js';

function inputs(input: unknown): string[] {
  const list = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string')) {
    throw new HobError('argument/invalid', 'input must be a string or a non-empty array of strings');
  }
  return list;
}

/** What the worker takes of embeddings.create; the checks that need no model. */
export function embedRequest(req: EmbeddingCreateRequest): EmbedRequest {
  if (!req || typeof req !== 'object') throw new HobError('argument/invalid', 'embeddings.create needs { input }');
  const format = req.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    throw new HobError('argument/invalid', `encoding_format must be 'float' or 'base64', got ${JSON.stringify(format)}`);
  }
  if (req.normalize !== undefined && typeof req.normalize !== 'boolean') throw new HobError('argument/invalid', 'normalize must be a boolean');
  return {
    input: inputs(req.input),
    ...(req.pooling !== undefined ? { pooling: req.pooling } : {}),
    ...(req.dimensions !== undefined ? { dimensions: req.dimensions } : {}),
    ...(req.normalize !== undefined ? { normalize: req.normalize } : {}),
  };
}

export function tokenEmbedRequest(req: TokenEmbeddingRequest): { input: string[]; normalize?: boolean } {
  if (!req || typeof req !== 'object') throw new HobError('argument/invalid', 'embeddings.tokens needs { input }');
  return { input: inputs(req.input), ...(req.normalize !== undefined ? { normalize: req.normalize === true } : {}) };
}

export function rerankRequest(req: RerankRequest): { query: string; documents: string[] } {
  if (!req || typeof req.query !== 'string') throw new HobError('argument/invalid', 'rerank needs { query: string, documents: string[] }');
  if (!Array.isArray(req.documents) || req.documents.length === 0 || req.documents.some((d) => typeof d !== 'string')) {
    throw new HobError('argument/invalid', 'documents must be a non-empty array of strings');
  }
  if (req.top_n !== undefined && (!Number.isInteger(req.top_n) || req.top_n < 0)) {
    throw new HobError('argument/invalid', `top_n must be a non-negative integer, got ${req.top_n}`);
  }
  return { query: req.query, documents: req.documents };
}

/** A vector's float32 bytes, little-endian, in base64: OpenAI's encoding_format 'base64'. */
export function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function embeddingList(r: EmbedResult, model: string, format: 'float' | 'base64' = 'float'): EmbeddingList {
  return {
    object: 'list',
    data: r.vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? float32Base64(v) : Array.from(v) })),
    model,
    usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
  };
}

export function tokenEmbeddingList(r: TokenEmbedResult, model: string): TokenEmbeddingList {
  return {
    object: 'list',
    data: r.tokens.map((tokens, index) => ({
      object: 'token_embeddings', index, tokens, embeddings: r.vectors[index].map((v) => Array.from(v)),
    })),
    model,
    usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
  };
}

/** llama.cpp's /rerank response: results by score, highest first (ties keep request order), top_n of them. */
export function rerankResponse(req: RerankRequest, r: RerankScores, model: string): RerankResponse {
  const results = r.scores
    .map((score, index) => ({
      index,
      relevance_score: score,
      ...(req.return_documents ? { document: { text: req.documents[index] } } : {}),
    }))
    .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
    .slice(0, req.top_n ?? r.scores.length);
  return { object: 'list', model, results, usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens } };
}
