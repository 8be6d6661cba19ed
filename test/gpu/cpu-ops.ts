// The engine's CPU ops (cpp/ops_api.h) called through the test-only wasm
// build (hob-ops: the single-threaded engine plus the op API, never shipped),
// as the reference the GPU kernels are compared with. Loads in Node and in
// the browser test page alike.
import { heapU8, loadWasm, type HobModule } from '../../src/core/wasm.js';

/** The exports of cpp/ops_api.h (int64_t arguments arrive as bigint). */
interface OpsExports {
  _hob_op_last_error(): number;
  _hob_op_matmul(type: number, w: number, rows: bigint, cols: bigint, x: number, T: number, y: number): number;
  _hob_op_matmul_tile(type: number, w: number, rows: bigint, cols: bigint, x: number, T: number, y: number, tileRows: number, tileTokens: number, reps: number): number;
  _hob_op_dequantize_row(type: number, x: number, n: bigint, y: number): number;
  _hob_op_quantize_row(type: number, x: number, n: bigint, out: number): number;
  _hob_op_rmsnorm(x: number, weight: number, y: number, T: number, n: number, eps: number): number;
  _hob_op_rope(x: number, T: number, nHeads: number, headDim: number, pos: number, style: number, nRot: number, freqBase: number, freqScale: number, ff: number): number;
  _hob_op_kv_store(k: number, v: number, T: number, kvDim: number, kOut: number, vOut: number): number;
  _hob_op_attention(q: number, k: number, v: number, cell0: number, T: number, nHead: number, nHeadKv: number, headDim: number, scale: number, out: number): number;
  _hob_op_rope_shift_k(k: number, nCells: number, kvDim: number, cell0: number, n: number, nHeads: number, headDim: number, delta: number, style: number, nRot: number, freqBase: number, freqScale: number, ff: number): number;
  _hob_op_kv_erase(k: number, v: number, nCtx: number, kvDim: number, used: number, start: number, end: number, nHeads: number, headDim: number, style: number, nRot: number, freqBase: number, freqScale: number, ff: number): number;
  _hob_op_silu_mul(x: number, up: number, n: bigint): number;
  _hob_op_add(x: number, y: number, n: bigint): number;
  _hob_op_attention_window(q: number, k: number, v: number, cell0: number, T: number, nHead: number, nHeadKv: number, headDim: number, scale: number, window: number, softcap: number, out: number): number;
  _hob_op_gelu_mul(x: number, up: number, n: bigint): number;
  _hob_op_add_bias(x: number, bias: number, T: number, n: number): number;
}

type Module = HobModule & OpsExports;
type Typed = Float32Array | Int32Array | Uint16Array | Uint8Array;

export interface CpuRope {
  style: 'normal' | 'neox';
  nRot: number;
  freqBase: number;
  freqScale: number;
  freqFactors?: Float32Array;
}

/** A status other than 0 from an op, with the engine's message. */
export class CpuOpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class CpuOps {
  private constructor(private readonly m: Module) {}

  /** The SIMD128 build, or its relaxed-SIMD twin (hob-ops-relaxed: the
   * same glue, repacked weights and 8-bit dot kernels). */
  static async load(simd: 'simd128' | 'relaxed' = 'simd128'): Promise<CpuOps> {
    const { module } = await loadWasm({
      threads: 1,
      variant: 'st',
      // Literal URLs, one per file: Vite rewrites only those.
      assets:
        simd === 'relaxed'
          ? {
              glue: new URL('../../wasm/out/hob-ops-relaxed.mjs', import.meta.url).href,
              wasm: new URL('../../wasm/out/hob-ops-relaxed.wasm', import.meta.url).href,
            }
          : {
              glue: new URL('../../wasm/out/hob-ops.mjs', import.meta.url).href,
              wasm: new URL('../../wasm/out/hob-ops.wasm', import.meta.url).href,
            },
    });
    return new CpuOps(module as Module);
  }

  /** Copies arrays into the wasm heap, runs fn on their addresses, copies
   * back the ones listed in `outs`, and frees everything. */
  private call(inputs: (Typed | null)[], outs: number[], fn: (ptrs: number[]) => number): void {
    const ptrs = inputs.map((a) => {
      if (!a) return 0;
      const p = this.m._malloc(Math.max(4, a.byteLength));
      heapU8(this.m).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
      return p;
    });
    try {
      const status = fn(ptrs);
      if (status !== 0) throw new CpuOpError(status, this.m.UTF8ToString(this.m._hob_op_last_error()));
      for (const i of outs) {
        const a = inputs[i]!;
        new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(heapU8(this.m).subarray(ptrs[i], ptrs[i] + a.byteLength));
      }
    } finally {
      for (const p of ptrs) if (p) this.m._free(p);
    }
  }

  matmul(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, T: number): Float32Array {
    const y = new Float32Array(T * rows);
    this.call([w, x, y], [2], ([pw, px, py]) => this.m._hob_op_matmul(type, pw, BigInt(rows), BigInt(cols), px, T, py));
    return y;
  }

  /** matmul with the relaxed kernels' register tile set for the call
   * (rows x tokens); results equal matmul's. */
  matmulTile(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, T: number, tile: [number, number]): Float32Array {
    const y = new Float32Array(T * rows);
    this.call([w, x, y], [2], ([pw, px, py]) => this.m._hob_op_matmul_tile(type, pw, BigInt(rows), BigInt(cols), px, T, py, tile[0], tile[1], 1));
    return y;
  }

  /** Milliseconds per matmul of each matmulTile shape, alternating shapes
   * `reps` times (best of each); the inputs are copied in once, and each
   * timing runs ceil(64 / T) products on one repacked copy of the weight,
   * so the repacking counts little. */
  timeTiles(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, T: number, tiles: [number, number][], reps: number): number[] {
    const best = tiles.map(() => Infinity);
    const y = new Float32Array(T * rows);
    const inner = Math.ceil(64 / T);
    this.call([w, x, y], [], ([pw, px, py]) => {
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < tiles.length; i++) {
          const t0 = performance.now();
          const st = this.m._hob_op_matmul_tile(type, pw, BigInt(rows), BigInt(cols), px, T, py, tiles[i][0], tiles[i][1], inner);
          if (st !== 0) return st;
          best[i] = Math.min(best[i], (performance.now() - t0) / inner);
        }
      }
      return 0;
    });
    return best;
  }

  dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
    const y = new Float32Array(n);
    this.call([bytes, y], [1], ([px, py]) => this.m._hob_op_dequantize_row(type, px, BigInt(n), py));
    return y;
  }

  /** x as the activation type `type` (its GGUF row bytes), as a matmul converts it. */
  quantize(type: number, x: Float32Array, rowBytes: number): Uint8Array {
    const out = new Uint8Array(rowBytes);
    this.call([x, out], [1], ([px, po]) => this.m._hob_op_quantize_row(type, px, BigInt(x.length), po));
    return out;
  }

  rmsnorm(x: Float32Array, weight: Float32Array, T: number, n: number, eps: number): Float32Array {
    const y = new Float32Array(T * n);
    this.call([x, weight, y], [2], ([px, pw, py]) => this.m._hob_op_rmsnorm(px, pw, py, T, n, eps));
    return y;
  }

  rope(x: Float32Array, T: number, nHeads: number, headDim: number, pos: Int32Array, r: CpuRope): Float32Array {
    const out = x.slice();
    this.call([out, pos, r.freqFactors ?? null], [0], ([px, pp, pf]) =>
      this.m._hob_op_rope(px, T, nHeads, headDim, pp, r.style === 'neox' ? 1 : 0, r.nRot, r.freqBase, r.freqScale, pf),
    );
    return out;
  }

  kvStore(k: Float32Array, v: Float32Array, T: number, kvDim: number): { k: Uint16Array; v: Uint16Array } {
    const ko = new Uint16Array(T * kvDim);
    const vo = new Uint16Array(T * kvDim);
    this.call([k, v, ko, vo], [2, 3], ([pk, pv, pko, pvo]) => this.m._hob_op_kv_store(pk, pv, T, kvDim, pko, pvo));
    return { k: ko, v: vo };
  }

  attention(q: Float32Array, k: Float32Array, v: Float32Array, cell0: number, T: number, s: { nHead: number; nHeadKv: number; headDim: number; scale: number }): Float32Array {
    const out = new Float32Array(T * s.nHead * s.headDim);
    this.call([q, k, v, out], [3], ([pq, pk, pv, po]) =>
      this.m._hob_op_attention(pq, pk, pv, cell0, T, s.nHead, s.nHeadKv, s.headDim, s.scale, po),
    );
    return out;
  }

  kvErase(k: Uint16Array, v: Uint16Array, nCtx: number, kvDim: number, used: number, start: number, end: number, nHeads: number, headDim: number, r: CpuRope): { k: Uint16Array; v: Uint16Array } {
    const ko = k.slice();
    const vo = v.slice();
    this.call([ko, vo, r.freqFactors ?? null], [0, 1], ([pk, pv, pf]) =>
      this.m._hob_op_kv_erase(pk, pv, nCtx, kvDim, used, start, end, nHeads, headDim, r.style === 'neox' ? 1 : 0, r.nRot, r.freqBase, r.freqScale, pf),
    );
    return { k: ko, v: vo };
  }

  siluMul(x: Float32Array, up: Float32Array): Float32Array {
    const out = x.slice();
    this.call([out, up], [0], ([px, pu]) => this.m._hob_op_silu_mul(px, pu, BigInt(x.length)));
    return out;
  }

  add(x: Float32Array, y: Float32Array): Float32Array {
    const out = x.slice();
    this.call([out, y], [0], ([px, py]) => this.m._hob_op_add(px, py, BigInt(x.length)));
    return out;
  }

  /** Attention within a sliding window and with a score soft-cap (Gemma). */
  attentionWindow(q: Float32Array, k: Float32Array, v: Float32Array, cell0: number, T: number, s: { nHead: number; nHeadKv: number; headDim: number; scale: number; window: number; softcap: number }): Float32Array {
    const out = new Float32Array(T * s.nHead * s.headDim);
    this.call([q, k, v, out], [3], ([pq, pk, pv, po]) =>
      this.m._hob_op_attention_window(pq, pk, pv, cell0, T, s.nHead, s.nHeadKv, s.headDim, s.scale, s.window, s.softcap, po),
    );
    return out;
  }

  geluMul(x: Float32Array, up: Float32Array): Float32Array {
    const out = x.slice();
    this.call([out, up], [0], ([px, pu]) => this.m._hob_op_gelu_mul(px, pu, BigInt(out.length)));
    return out;
  }

  addBias(x: Float32Array, bias: Float32Array, T: number): Float32Array {
    const out = x.slice();
    this.call([out, bias], [0], ([px, pb]) => this.m._hob_op_add_bias(px, pb, T, bias.length));
    return out;
  }

}
