// One instance of the engine's WebAssembly module and the helpers every
// owner of its handles uses: statuses checked and turned into typed
// errors, scratch slots for out-parameters, strings and bytes copied out of
// the heap. Models, sessions and the GGUF reader build on it (model.ts,
// session.ts, gguf-header.ts); it knows none of them.
import { Status } from './c-api.js';
import { HobError } from '../shared/errors.js';
import { errorFromStatus } from './status.js';
import { heapU8, loadWasm, terminateWasm, type HobModule, type LoadWasmOptions, type WasmVariant } from './wasm.js';

export interface EngineOptions extends Partial<LoadWasmOptions> {}

/** One wasm engine instance: owns the module and everything made in it. */
export class Engine {
  /** Scratch for out-parameters of C calls (never held across calls). */
  private readonly outPtr: number;

  private constructor(
    readonly module: HobModule,
    readonly variant: WasmVariant,
    readonly threads: number,
  ) {
    this.outPtr = module._malloc(64);
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const { module, variant } = await loadWasm({ threads, variant: opts.variant, assets: opts.assets });
    const engine = new Engine(module, variant, variant === 'mt' ? threads : 1);
    // The pool's threads start now, while emscripten's preloaded workers are
    // idle: a thread started later, from a busy caller, could not start.
    engine.check(module._hob_init(engine.threads));
    return engine;
  }

  /** Stops the engine's threads. Models and sessions made by it are dead. */
  dispose(): void {
    terminateWasm(this.module);
  }

  /** Throws the typed error for a failed status, with the engine's message. */
  check(status: number, details: Record<string, number | string> = {}): void {
    if (status === Status.OK) return;
    throw errorFromStatus(status, this.module.UTF8ToString(this.module._hob_last_error()), details);
  }

  heap(): Uint8Array {
    return heapU8(this.module);
  }

  /** The end of the engine's heap: the most engine memory used so far (the
   * heap never shrinks). The wasm memory itself may be larger: it grows in
   * steps, and never below its initial size. */
  heapBytes(): number {
    return Number(this.module._hob_heap_bytes());
  }

  u32(ptr: number): number {
    return new DataView(this.heap().buffer).getUint32(ptr, true);
  }

  i32(ptr: number): number {
    return new DataView(this.heap().buffer).getInt32(ptr, true);
  }

  /** Scratch address for out-parameter `slot` (8 bytes each). */
  out(slot: number): number {
    return this.outPtr + slot * 8;
  }

  /** Calls a C function that copies a string out, growing the buffer once
   * if it reports BUFFER_TOO_SMALL. */
  readBytes(call: (buf: number, cap: number, len: number) => number, guess = 256): Uint8Array {
    const m = this.module;
    let cap = guess;
    for (let attempt = 0; attempt < 2; attempt++) {
      const buf = m._malloc(cap + 1);
      try {
        const status = call(buf, cap + 1, this.out(7));
        const len = this.u32(this.out(7));
        if (status === Status.ERR_BUFFER_TOO_SMALL && attempt === 0) {
          cap = len;
          continue;
        }
        this.check(status);
        return this.heap().slice(buf, buf + len);
      } finally {
        m._free(buf);
      }
    }
    throw new HobError('internal', 'string buffer size kept changing');
  }

  readString(call: (buf: number, cap: number, len: number) => number): string {
    return new TextDecoder().decode(this.readBytes(call));
  }
}
