// The record that describes one stored model, and how its bytes are cut into
// chunks. A model is one file or the parts of a split GGUF; chunks are
// numbered across the parts, and none straddles two parts, so each chunk is
// one Range request to one URL.
import type { GgufSummary } from './gguf-summary.js';

/** Where one part of a model comes from, before any of it is stored. */
export interface PartSource {
  /** Where the part was downloaded from (absent for a file the user picked). */
  url?: string;
  /** The picked file's name (absent for a download). */
  fileName?: string;
  sizeBytes: number;
  /** The server's validators when the part was first fetched: a change means a new file. */
  etag?: string;
  lastModified?: string;
  /** SHA-256 of the whole part (hex), when the caller or the server gave one; checked before completion. */
  sha256?: string;
}

/** A part of a stored model: its source and the chunks that hold it. */
export interface ModelPart extends PartSource {
  firstChunk: number;
  nChunks: number;
}

export interface ModelManifest {
  format: 1;
  id: string;
  /** 'complete' only when every chunk is stored and its hash checked. */
  state: 'partial' | 'complete';
  sizeBytes: number;
  chunkSizeBytes: number;
  nChunks: number;
  parts: ModelPart[];
  /** Read from the header before the rest is fetched; absent until then. */
  gguf?: GgufSummary;
  /** SHA-256 (hex) of every chunk, recorded at completion and checked by verify and loading. */
  chunkSha256?: string[];
  createdAtMs: number;
  completedAtMs?: number;
}

/** A stored model as list() and get() return it. */
export interface StoredModel extends ModelManifest {
  /** Bytes of the chunks stored so far (sizeBytes once complete). */
  storedBytes: number;
}


/** A new manifest for parts of the given sizes (nothing stored yet). */
export function planManifest(id: string, parts: PartSource[], chunkSizeBytes: number): ModelManifest {
  let firstChunk = 0;
  const planned = parts.map((p) => {
    // An empty part still has a (zero-length) chunk, so every part has a first one.
    const nChunks = Math.max(1, Math.ceil(p.sizeBytes / chunkSizeBytes));
    const part: ModelPart = { ...p, firstChunk, nChunks };
    firstChunk += nChunks;
    return part;
  });
  return {
    format: 1,
    id,
    state: 'partial',
    sizeBytes: parts.reduce((a, p) => a + p.sizeBytes, 0),
    chunkSizeBytes,
    nChunks: firstChunk,
    parts: planned,
    createdAtMs: Date.now(),
  };
}

export interface ChunkSpan {
  index: number;
  part: number;
  /** Offset of the chunk inside its part. */
  offsetBytes: number;
  sizeBytes: number;
}

export function chunkSpan(m: ModelManifest, index: number): ChunkSpan {
  const part = m.parts.findIndex((p) => index >= p.firstChunk && index < p.firstChunk + p.nChunks);
  if (part < 0) throw new RangeError(`chunk ${index} is not in a model of ${m.nChunks} chunks`);
  const p = m.parts[part];
  const offsetBytes = (index - p.firstChunk) * m.chunkSizeBytes;
  return { index, part, offsetBytes, sizeBytes: Math.min(m.chunkSizeBytes, p.sizeBytes - offsetBytes) };
}

/** Bytes held by the given stored chunks. */
export function bytesOfChunks(m: ModelManifest, indexes: Iterable<number>): number {
  let n = 0;
  for (const i of indexes) if (i < m.nChunks) n += chunkSpan(m, i).sizeBytes;
  return n;
}

/** Whether a source's validators say it is still the file the manifest describes. */
export function sameFile(stored: PartSource, now: PartSource): boolean {
  if (stored.sizeBytes !== now.sizeBytes) return false;
  if (stored.sha256 && now.sha256 && stored.sha256 !== now.sha256) return false;
  if (stored.etag || now.etag) return stored.etag === now.etag;
  if (stored.lastModified || now.lastModified) return stored.lastModified === now.lastModified;
  return true;
}
