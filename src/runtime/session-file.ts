// The bytes of a saved session, version 1 (little-endian):
//
//   offset  size          field
//   0       4             magic "HOBS"
//   4       4             u32 version (1)
//   8       4             u32 H: bytes of the JSON header that follows
//   12      H             header (UTF-8 JSON, SessionHeader), then zero
//                         padding to a multiple of 4
//           4 n           i32 token ids of the n cached tokens
//           4 n           i32 positions of their cells (cell i at i)
//           per layer l = 0 .. nLayer-1:
//             2 n kvDim   K rows of cells 0 .. n-1 (F16 bits)
//             2 n kvDim   V rows
//
// The header names the model (ModelIdentity: the file's fingerprint), the
// context size and the cache's type and shape, so a restore can refuse a
// session that does not fit before touching anything. Only used cells are
// written. The bytes come back from storage (untrusted): decoding checks
// every length against what is there and fails with 'session/invalid'
// naming the offset. Stores add a checksum per chunk (src/store).
import type { KvLayer, KvState } from '../core/kv-state.js';
import { SessionError } from '../shared/errors.js';
import type { ModelIdentity } from '../shared/model.js';

export const SESSION_VERSION = 1;
const MAGIC = [0x48, 0x4f, 0x42, 0x53]; // "HOBS"
/** Bounds a saved header may not pass (the meta text is in it). */
const MAX_HEADER_BYTES = 64 << 20;
const MAX_LAYERS = 4096;
const MAX_KV_DIM = 1 << 20;
const MAX_CTX = 1 << 26;

/** What a session file holds. */
export interface SessionFile {
  identity: ModelIdentity;
  kv: KvState;
  /** The cached token ids, one per cell. */
  tokens: Int32Array;
  savedAtMs: number;
  /** The caller's text (saveSession's meta). */
  meta?: string;
}

/** The JSON header of version 1. */
interface SessionHeader {
  model: ModelIdentity;
  nCtx: number;
  nLayer: number;
  kvType: number;
  kvDim: number;
  nCells: number;
  gpuLayers: number;
  savedAtMs: number;
  meta?: string;
}

function u8(a: Int32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The file as pieces in order (views of the state's arrays, no copy of
 * the rows) and their total size. */
export function encodeSessionFile(f: SessionFile): { pieces: Uint8Array[]; sizeBytes: number } {
  const { kv } = f;
  const nCells = kv.positions.length;
  if (f.tokens.length !== nCells) {
    throw new SessionError('session/invalid', `${f.tokens.length} tokens for ${nCells} cache cells`, { nTokens: f.tokens.length, nCells });
  }
  const header: SessionHeader = {
    model: f.identity, nCtx: kv.nCtx, nLayer: kv.nLayer, kvType: kv.kvType, kvDim: kv.kvDim, nCells, gpuLayers: kv.gpuLayers,
    savedAtMs: f.savedAtMs, ...(f.meta !== undefined ? { meta: f.meta } : {}),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  if (json.length > MAX_HEADER_BYTES) {
    throw new SessionError('session/invalid', `the session's header (meta included) is ${json.length} bytes, more than ${MAX_HEADER_BYTES}`, { headerBytes: json.length });
  }
  const head = new Uint8Array(12 + json.length + ((4 - (json.length % 4)) % 4));
  head.set(MAGIC, 0);
  const dv = new DataView(head.buffer);
  dv.setUint32(4, SESSION_VERSION, true);
  dv.setUint32(8, json.length, true);
  head.set(json, 12);
  const pieces = [head, u8(f.tokens), u8(kv.positions)];
  for (const l of kv.layers) pieces.push(u8(l.k), u8(l.v));
  return { pieces, sizeBytes: pieces.reduce((n, p) => n + p.byteLength, 0) };
}

/** Sequential reads over pieces of one file: a view where a field lies in
 * one piece (aligned for its element size), a copy where it straddles. */
class PieceReader {
  private piece = 0;
  private at = 0;
  offset = 0;
  readonly sizeBytes: number;

  constructor(private readonly pieces: readonly Uint8Array[]) {
    this.sizeBytes = pieces.reduce((n, p) => n + p.byteLength, 0);
  }

  read(n: number, what: string): Uint8Array {
    if (n > this.sizeBytes - this.offset) {
      throw new SessionError('session/invalid', `the saved session ends at byte ${this.sizeBytes}, inside its ${what} (${n} bytes at ${this.offset})`, {
        offset: this.offset, sizeBytes: this.sizeBytes,
      });
    }
    while (this.piece < this.pieces.length && this.at === this.pieces[this.piece].byteLength) {
      this.piece++;
      this.at = 0;
    }
    this.offset += n;
    const p = this.pieces[this.piece];
    if (n === 0) return new Uint8Array(0);
    if (this.at + n <= p.byteLength) {
      const view = p.subarray(this.at, this.at + n);
      this.at += n;
      return view;
    }
    const out = new Uint8Array(n);
    for (let filled = 0; filled < n; ) {
      const src = this.pieces[this.piece];
      const take = Math.min(n - filled, src.byteLength - this.at);
      out.set(src.subarray(this.at, this.at + take), filled);
      filled += take;
      this.at += take;
      if (this.at === src.byteLength) {
        this.piece++;
        this.at = 0;
      }
    }
    return out;
  }

  int32(n: number, what: string): Int32Array {
    const b = this.read(n * 4, what);
    return b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, n) : new Int32Array(b.slice().buffer);
  }

  uint16(n: number, what: string): Uint16Array {
    const b = this.read(n * 2, what);
    return b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, n) : new Uint16Array(b.slice().buffer);
  }
}

function invalid(what: string, offset: number): SessionError {
  return new SessionError('session/invalid', `the saved session's ${what}`, { offset });
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Reads and checks the header fields of version 1. */
function parseHeader(json: Uint8Array): SessionHeader {
  let h: Partial<SessionHeader>;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json)) as Partial<SessionHeader>;
  } catch {
    throw invalid('header is not UTF-8 JSON', 12);
  }
  if (!h || typeof h !== 'object') throw invalid('header is not an object', 12);
  const m = h.model;
  if (!m || typeof m.name !== 'string' || typeof m.architecture !== 'string' || typeof m.fingerprint !== 'string' || !isInt(m.sizeBytes, 0, Number.MAX_SAFE_INTEGER)) {
    throw invalid('header names no model', 12);
  }
  const checks: [keyof SessionHeader, number, number][] = [
    ['nCtx', 1, MAX_CTX], ['nLayer', 0, MAX_LAYERS], ['kvType', 0, 1 << 16], ['kvDim', 1, MAX_KV_DIM],
    ['nCells', 0, MAX_CTX], ['gpuLayers', 0, MAX_LAYERS], ['savedAtMs', 0, Number.MAX_SAFE_INTEGER],
  ];
  for (const [k, min, max] of checks) if (!isInt(h[k], min, max)) throw invalid(`header field ${k} is missing or out of range`, 12);
  if (h.meta !== undefined && typeof h.meta !== 'string') throw invalid('header field meta is not a string', 12);
  if (h.nCells! > h.nCtx!) throw invalid(`header holds ${h.nCells} cells in a context of ${h.nCtx}`, 12);
  if (h.kvDim! % 2 !== 0) throw invalid(`KV row width ${h.kvDim} is odd`, 12);
  return h as SessionHeader;
}

/** Decodes a session file from its pieces (the chunks of a store, or one
 * buffer). The arrays returned may view the pieces. */
export function decodeSessionFile(pieces: readonly Uint8Array[]): SessionFile {
  const r = new PieceReader(pieces);
  const fixed = r.read(12, 'magic, version and header length');
  if (!MAGIC.every((b, i) => fixed[i] === b)) throw invalid('first bytes are not "HOBS": these are not the bytes of a saved session', 0);
  const dv = new DataView(fixed.buffer, fixed.byteOffset, 12);
  const version = dv.getUint32(4, true);
  if (version !== SESSION_VERSION) {
    throw new SessionError('session/invalid', `the saved session has version ${version}; this version of Hob reads ${SESSION_VERSION}`, { version, offset: 4 });
  }
  const headerBytes = dv.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES) throw invalid(`header length ${headerBytes} is more than ${MAX_HEADER_BYTES}`, 8);
  const h = parseHeader(r.read(headerBytes, 'header'));
  r.read((4 - (headerBytes % 4)) % 4, 'header padding');
  const n = h.nCells;
  // Every size is known now: the file must be exactly this long.
  const rows = n * h.kvDim;
  const expected = r.offset + 8 * n + h.nLayer * 4 * rows;
  if (expected !== r.sizeBytes) {
    throw new SessionError('session/invalid', `the saved session is ${r.sizeBytes} bytes; its header describes ${expected}`, {
      sizeBytes: r.sizeBytes, expectedBytes: expected,
    });
  }
  const tokens = r.int32(n, 'token ids');
  const positions = r.int32(n, 'positions');
  const layers: KvLayer[] = [];
  for (let l = 0; l < h.nLayer; l++) layers.push({ k: r.uint16(rows, `layer ${l} K rows`), v: r.uint16(rows, `layer ${l} V rows`) });
  return {
    identity: h.model,
    kv: { kvType: h.kvType, kvDim: h.kvDim, nCtx: h.nCtx, nLayer: h.nLayer, gpuLayers: h.gpuLayers, positions, layers },
    tokens,
    savedAtMs: h.savedAtMs,
    ...(h.meta !== undefined ? { meta: h.meta } : {}),
  };
}

/** Refuses a session saved with another model file, naming both. */
export function checkIdentity(saved: ModelIdentity, current: ModelIdentity | undefined): void {
  if (!current) {
    throw new SessionError('session/mismatch', 'this model was not loaded from a file Hob can identify, so no saved session can be checked against it', {
      field: 'model', saved: saved.name,
    });
  }
  if (saved.fingerprint !== current.fingerprint || saved.sizeBytes !== current.sizeBytes) {
    const name = (m: ModelIdentity) => `${m.name || 'unnamed'} (${m.architecture}, ${m.sizeBytes} bytes, ${m.fingerprint.slice(0, 12)})`;
    throw new SessionError('session/mismatch', `the saved session belongs to the model ${name(saved)}, not to the loaded ${name(current)}`, {
      field: 'model', saved: saved.fingerprint, current: current.fingerprint, savedName: saved.name, currentName: current.name,
    });
  }
}
