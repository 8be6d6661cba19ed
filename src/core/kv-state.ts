// A session's KV cache as plain arrays, for saving a session and restoring
// it: the K and V rows of every used cell of every layer (the CPU blocks'
// copied out of wasm, the offloaded blocks' read back from their device) and
// the cells' positions. Session.saveState and restoreState use these; the
// byte layout of a saved session is src/runtime/session-file.ts.
import { HobError, SessionError } from '../shared/errors.js';
import type { Engine } from './wasm-engine.js';

/** One layer's rows of the used cells: (nCells, kvDim) values each, as the
 * cache stores them (F16 bits). */
export interface KvLayer {
  k: Uint16Array;
  v: Uint16Array;
}

/** What a session's cache holds, wherever each layer lives. */
export interface KvState {
  /** GGUF type id of the cached values (1: F16). */
  kvType: number;
  /** Values in one cell's K (or V) row: n_head_kv * head_dim. */
  kvDim: number;
  nCtx: number;
  nLayer: number;
  /** Blocks offloaded when it was saved. A restore puts every layer's
   * cells where that layer runs now, so a different split restores too. */
  gpuLayers: number;
  /** The cells' positions, oldest first: cell i sits at position i. */
  positions: Int32Array;
  /** Every layer, in order: (nCells, kvDim) rows of K and of V. */
  layers: KvLayer[];
}

/** The shape a state must have to restore into a session. */
export interface KvShape {
  kvType: number;
  kvDim: number;
  nCtx: number;
  nLayer: number;
}

/** Refuses a state that does not fit `shape`, naming the first field that
 * differs, before anything changes. The rows themselves must also hold
 * exactly the cells the positions list, and the positions must be 0, 1, ... */
export function checkKvState(state: KvState, shape: KvShape): void {
  const fields: [keyof KvShape, string][] = [
    ['nLayer', 'layer count'],
    ['kvType', 'KV cache type'],
    ['kvDim', 'KV row width'],
    ['nCtx', 'context size'],
  ];
  for (const [field, what] of fields) {
    if (state[field] !== shape[field]) {
      throw new SessionError('session/mismatch', `the saved session has a ${what} of ${state[field]}, this engine ${shape[field]}`, {
        field: field === 'nCtx' ? 'contextSize' : field, saved: state[field], current: shape[field],
      });
    }
  }
  const n = state.positions.length;
  if (n > state.nCtx) {
    throw new SessionError('session/invalid', `the saved session holds ${n} cells, more than its context of ${state.nCtx}`, { nCells: n, nCtx: state.nCtx });
  }
  for (let i = 0; i < n; i++) {
    if (state.positions[i] !== i) {
      throw new SessionError('session/invalid', `saved cell ${i} has position ${state.positions[i]}; cell i must sit at position i`, { cell: i });
    }
  }
  if (state.layers.length !== state.nLayer) {
    throw new SessionError('session/invalid', `the saved session has rows for ${state.layers.length} of ${state.nLayer} layers`, {
      layers: state.layers.length, nLayer: state.nLayer,
    });
  }
  const values = n * state.kvDim;
  state.layers.forEach((l, i) => {
    if (l.k.length !== values || l.v.length !== values) {
      throw new SessionError('session/invalid', `layer ${i} of the saved session has ${l.k.length} K and ${l.v.length} V values, not ${values}`, { layer: i });
    }
  });
}

/** Copies the rows of cells [0, nCells) of the wasm cache's layers [0, nLayers). */
export function readEngineLayers(engine: Engine, session: number, nLayers: number, nCells: number, kvDim: number): KvLayer[] {
  const m = engine.module;
  const count = nCells * kvDim;
  const k = m._malloc(Math.max(2, count * 2));
  const v = m._malloc(Math.max(2, count * 2));
  try {
    const out: KvLayer[] = [];
    for (let l = 0; l < nLayers; l++) {
      engine.check(m._hob_session_kv_read(session, l, 0, nCells, k, v, count), { layer: l, nCells });
      out.push({ k: new Uint16Array(engine.heap().buffer, k, count).slice(), v: new Uint16Array(engine.heap().buffer, v, count).slice() });
    }
    return out;
  } finally {
    m._free(k);
    m._free(v);
  }
}

/** Writes rows of cells [0, nCells) of the wasm cache's first layers (the
 * cache must be empty: rows of used cells cannot be written). */
export function writeEngineLayers(engine: Engine, session: number, layers: readonly KvLayer[], nCells: number, kvDim: number): void {
  const m = engine.module;
  const count = nCells * kvDim;
  if (count === 0) return;
  const k = m._malloc(count * 2);
  const v = m._malloc(count * 2);
  try {
    layers.forEach((layer, l) => {
      new Uint16Array(engine.heap().buffer, k, count).set(layer.k);
      new Uint16Array(engine.heap().buffer, v, count).set(layer.v);
      engine.check(m._hob_session_kv_write(session, l, 0, nCells, k, v, count), { layer: l, nCells });
    });
  } finally {
    m._free(k);
    m._free(v);
  }
}

/** Marks the cells whose rows were written used, at their positions. */
export function appendEngineCells(engine: Engine, session: number, positions: Int32Array): void {
  const m = engine.module;
  const ptr = m._malloc(Math.max(4, positions.length * 4));
  try {
    new Int32Array(engine.heap().buffer, ptr, positions.length).set(positions);
    engine.check(m._hob_session_kv_append(session, ptr, positions.length), { nCells: positions.length });
  } finally {
    m._free(ptr);
  }
}

/** A state's bytes in memory (what a save writes, before its header). */
export function kvStateBytes(state: KvState): number {
  return state.positions.length * 4 + state.layers.reduce((n, l) => n + l.k.byteLength + l.v.byteLength, 0);
}

export function staleSave(): HobError {
  return new HobError('internal', 'the session changed while its cache was being read');
}
