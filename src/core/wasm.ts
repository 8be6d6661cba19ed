// Loads the engine's WebAssembly build and gives typed access to its C API
// (cpp/api.h) and memory. Two builds exist: hob-mt (SIMD + pthreads), used
// where SharedArrayBuffer is allowed (cross-origin isolated pages, Node), and
// hob-st (SIMD, one thread) everywhere else. Each has a relaxed-SIMD twin
// (hob-mt-relaxed, hob-st-relaxed: 8-bit dot products on weights repacked at
// load, results bit-identical), picked where the runtime validates the
// relaxed instructions (relaxedSimdSupported).

/** The exported C API, as emscripten exposes it (underscore-prefixed). */
export interface HobExports {
  _malloc(size: number): number;
  _free(ptr: number): void;
  _hob_last_error(): number;
  _hob_init(nThreads: number): number;
  _hob_threads(): number;
  _hob_alloc(size: number): number;
  _hob_free(ptr: number): void;
  _hob_heap_bytes(): bigint;
  _hob_type_name(type: number): number;

  _hob_gguf_open(data: number, size: number, fileSize: bigint, out: number): number;
  _hob_gguf_close(gguf: number): void;
  _hob_gguf_version(gguf: number): number;
  _hob_gguf_data_offset(gguf: number): bigint;
  _hob_gguf_kv_count(gguf: number): bigint;
  _hob_gguf_kv_key(gguf: number, i: bigint, buf: number, cap: number, len: number): number;
  _hob_gguf_kv_type(gguf: number, i: bigint, type: number, elemType: number, count: number): number;
  _hob_gguf_kv_number(gguf: number, i: bigint, j: bigint, out: number): number;
  _hob_gguf_kv_string(gguf: number, i: bigint, j: bigint, buf: number, cap: number, len: number): number;
  _hob_gguf_tensor_count(gguf: number): bigint;
  _hob_gguf_tensor_name(gguf: number, i: bigint, buf: number, cap: number, len: number): number;
  _hob_gguf_tensor_info(
    gguf: number, i: bigint, type: number, nDims: number, dims: number, offset: number, size: number,
  ): number;

  _hob_model_load(data: number, size: number, takeOwnership: number, out: number): number;
  _hob_model_free(model: number): void;
  _hob_model_load_vocab(header: number, headerSize: number, fileSize: bigint, out: number): number;
  _hob_model_vocab_only(model: number): number;
  _hob_model_n_vocab(model: number): number;
  _hob_model_n_ctx_train(model: number): number;
  _hob_model_n_embd(model: number): number;
  _hob_model_n_layer(model: number): number;
  _hob_model_token_bos(model: number): number;
  _hob_model_token_eos(model: number): number;
  _hob_model_token_is_eog(model: number, token: number): number;
  _hob_model_add_space_prefix(model: number): number;
  _hob_model_token_sep(model: number): number;
  _hob_model_add_bos(model: number): number;
  _hob_model_add_eos(model: number): number;
  _hob_model_add_sep(model: number): number;
  _hob_model_weight_bytes(model: number): bigint;
  _hob_model_meta_string(model: number, key: number, buf: number, cap: number, len: number): number;
  _hob_model_hparam(model: number, which: number, out: number): number;

  _hob_loader_create(header: number, headerSize: number, fileSize: bigint, nCpuLayers: number, out: number): number;
  _hob_loader_free(loader: number): void;
  _hob_loader_resident_bytes(loader: number): bigint;
  _hob_loader_range_count(loader: number): number;
  _hob_loader_range(loader: number, i: number, offset: number, size: number): number;
  _hob_loader_write(loader: number, fileOffset: bigint, bytes: number, n: number): number;
  _hob_loader_finish(loader: number, out: number): number;

  _hob_tokenize(
    model: number, text: number, textLen: number, addSpecial: number, parseSpecial: number,
    tokens: number, cap: number, nTokens: number,
  ): number;
  _hob_token_to_piece(model: number, token: number, renderSpecial: number, buf: number, cap: number, len: number): number;

  _hob_session_create(model: number, nCtx: number, nThreads: number, out: number): number;
  _hob_session_free(session: number): void;
  _hob_session_n_ctx(session: number): number;
  _hob_session_n_past(session: number): number;
  _hob_session_positions(session: number, out: number, cap: number): number;
  _hob_session_n_threads(session: number): number;
  _hob_session_eval(session: number, tokens: number, nTokens: number): number;
  _hob_session_logits(session: number, out: number, cap: number): number;
  _hob_session_eval_hidden(session: number, tokens: number, nTokens: number, hidden: number, cap: number): number;
  _hob_session_eval_embd(session: number, embd: number, nRows: number, count: number, nonCausal: number): number;
  _hob_session_eval_embd_hidden(session: number, embd: number, nRows: number, count: number, nonCausal: number, hidden: number, cap: number): number;

  _hob_clip_load(data: number, size: number, takeOwnership: number, out: number): number;
  _hob_clip_free(clip: number): void;
  _hob_clip_n_embd(clip: number): number;
  _hob_clip_tokens_per_image(clip: number): number;
  _hob_clip_non_causal(clip: number): number;
  _hob_clip_projector_type(clip: number): number;
  _hob_clip_image_layout(clip: number, width: number, height: number, gridX: number, gridY: number, nRows: number): number;
  _hob_clip_encode(clip: number, rgb: number, width: number, height: number, out: number, cap: number, nRows: number): number;
  _hob_clip_vit_shape(clip: number, shape: number, eps: number): number;
  _hob_clip_preprocess(clip: number, rgb: number, width: number, height: number, pixels: number, cap: number, nImages: number): number;
  _hob_clip_embed_patches(clip: number, pixels: number, count: number, x: number, cap: number): number;
  _hob_clip_run_blocks(clip: number, x: number, count: number): number;
  _hob_clip_project(clip: number, x: number, count: number, out: number, cap: number): number;
  _hob_session_eval_hidden_pl(session: number, tokens: number, nTokens: number, hidden: number, cap: number, perLayer: number, perLayerCap: number): number;
  _hob_session_head(session: number, hidden: number, n: number): number;
  _hob_session_eval_packed(
    session: number, tokens: number, nTokens: number, seqLens: number, nSeqs: number, hidden: number, cap: number,
  ): number;
  _hob_session_pool(
    session: number, hidden: number, nTokens: number, seqLens: number, nSeqs: number, pooling: number,
    out: number, cap: number, nOut: number,
  ): number;
  _hob_session_set_logits(session: number, logits: number, n: number): number;
  _hob_session_truncate(session: number, nKeep: number): number;
  _hob_session_erase(session: number, start: number, end: number): number;
  _hob_session_shift(session: number, nKeep: number, nDiscard: number): number;
  _hob_session_can_erase(session: number, start: number, end: number): number;
  _hob_session_reserve_checkpoints(session: number, n: number): number;
  _hob_session_n_checkpoints(session: number): number;
  _hob_session_checkpoint_pos(session: number, slot: number): number;
  _hob_session_checkpoint_save(session: number, slot: number): number;
  _hob_session_checkpoint_restore(session: number, slot: number): number;
  _hob_session_kv_type(session: number): number;
  _hob_session_kv_dim(session: number): number;
  _hob_session_kv_layers(session: number): number;
  _hob_session_kv_read(session: number, layer: number, cell0: number, n: number, k: number, v: number, cap: number): number;
  _hob_session_kv_write(session: number, layer: number, cell0: number, n: number, k: number, v: number, count: number): number;
  _hob_session_kv_append(session: number, pos: number, n: number): number;

  _hob_sampler_create(out: number): number;
  _hob_sampler_free(sampler: number): void;
  _hob_sampler_set(sampler: number, param: number, value: number): number;
  _hob_sampler_sample(sampler: number, session: number, token: number): number;
  _hob_sampler_accept(sampler: number, token: number): number;
  _hob_sampler_reset(sampler: number): void;
}

/** The part of emscripten's pthread runtime we touch. */
interface PThreadRuntime {
  unusedWorkers: { unref?: () => void; terminate(): void }[];
  runningWorkers: { unref?: () => void; terminate(): void }[];
  terminateAllThreads(): void;
}

export interface HobModule extends HobExports {
  UTF8ToString(ptr: number, maxBytes?: number): string;
  PThread?: PThreadRuntime;
  HEAPU8: Uint8Array;
  wasmMemory?: WebAssembly.Memory;
  asm?: { memory?: WebAssembly.Memory };
}

export type WasmVariant = 'mt' | 'st';

/** The SIMD instruction set of a build: 'relaxed' adds relaxed SIMD's 8-bit
 * dot product to 'simd128'. */
export type WasmSimd = 'relaxed' | 'simd128';

/** A module of one function that uses i32x4.relaxed_dot_i8x16_i7x16_add_s
 * (the instruction the relaxed kernels are built on) on three constants. */
const RELAXED_PROBE = (() => {
  const zero = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...zero, ...zero, ...zero, 0xfd, 0x93, 0x02, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of that type
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
})();

/** Node's first major version whose V8 runs the final relaxed-SIMD
 * semantics by default. Node 20 has an older draft behind
 * --experimental-wasm-relaxed-simd whose dot product gives other results
 * (test/browser/relaxed.test.ts documents it), so it gets the SIMD128 build
 * even with that flag. */
const NODE_RELAXED_MAJOR = 22;

let relaxedCache: boolean | undefined;

/** Whether this runtime runs the relaxed-SIMD builds: it validates the
 * probe, and under Node is a version with the final semantics. Chromium
 * 114+ does; browsers without relaxed SIMD get the SIMD128 builds. */
export function relaxedSimdSupported(): boolean {
  if (relaxedCache === undefined) {
    const node = typeof process !== 'undefined' ? process.versions?.node : undefined;
    const nodeOk = !node || Number(node.split('.')[0]) >= NODE_RELAXED_MAJOR;
    relaxedCache = nodeOk && typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);
  }
  return relaxedCache;
}

/** Where the build's files are; each a URL string (browser) or file URL (Node). */
export interface WasmAssets {
  glue: string;
  wasm: string;
  worker?: string;
}

/** Default locations. The package ships wasm/out/ next to dist/, so the
 * same relative path holds from src/core/ and from dist/core/. Each URL is a
 * `new URL(literal, import.meta.url)`, the pattern Vite, webpack 5, Rollup
 * and Parcel recognise: they copy the file into the build and rewrite the URL. */
export function defaultAssets(variant: WasmVariant, simd: WasmSimd = 'simd128'): WasmAssets {
  // The relaxed builds share the pthread worker script: it imports the glue
  // it is given (mainScriptUrlOrBlob).
  if (variant === 'mt' && simd === 'relaxed') {
    return {
      glue: new URL('../../wasm/out/hob-mt-relaxed.mjs', import.meta.url).href,
      wasm: new URL('../../wasm/out/hob-mt-relaxed.wasm', import.meta.url).href,
      worker: new URL('../../wasm/out/hob-mt.worker.js', import.meta.url).href,
    };
  }
  if (variant === 'mt') {
    return {
      glue: new URL('../../wasm/out/hob-mt.mjs', import.meta.url).href,
      wasm: new URL('../../wasm/out/hob-mt.wasm', import.meta.url).href,
      worker: new URL('../../wasm/out/hob-mt.worker.js', import.meta.url).href,
    };
  }
  if (simd === 'relaxed') {
    return {
      glue: new URL('../../wasm/out/hob-st-relaxed.mjs', import.meta.url).href,
      wasm: new URL('../../wasm/out/hob-st-relaxed.wasm', import.meta.url).href,
    };
  }
  return {
    glue: new URL('../../wasm/out/hob-st.mjs', import.meta.url).href,
    wasm: new URL('../../wasm/out/hob-st.wasm', import.meta.url).href,
  };
}

/** The threaded build needs shared memory, which browsers allow only on
 * cross-origin isolated pages. */
export function threadsAvailable(): boolean {
  if (typeof process !== 'undefined' && process.versions?.node) return true;
  return typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

export interface LoadWasmOptions {
  /** Threads the engine may use, the calling one included. */
  threads: number;
  variant?: WasmVariant;
  /** Which instruction set; by default 'relaxed' where relaxedSimdSupported().
   * Says which build `assets` are, when given (default 'simd128' then). */
  simd?: WasmSimd;
  assets?: WasmAssets;
}

/** Node built-ins, imported only under Node. The specifier is not a literal,
 * so browser bundlers (Vite, webpack, Rollup, esbuild) neither try to
 * resolve nor polyfill it. */
const nodeImport = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);

type ModuleFactory = (overrides: Record<string, unknown>) => Promise<HobModule>;

/** Instantiates the engine. In Node the wasm is read from disk (emscripten's
 * own loader would try fetch on a file path); in browsers it is fetched. */
export async function loadWasm(opts: LoadWasmOptions): Promise<{ module: HobModule; variant: WasmVariant; simd: WasmSimd }> {
  const variant: WasmVariant = opts.variant ?? (opts.threads > 1 && threadsAvailable() ? 'mt' : 'st');
  const simd: WasmSimd = opts.simd ?? (opts.assets || !relaxedSimdSupported() ? 'simd128' : 'relaxed');
  const assets = opts.assets ?? defaultAssets(variant, simd);
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;

  let wasmBinary: ArrayBuffer | Uint8Array;
  let workerPath = assets.worker;
  if (isNode) {
    const { readFile } = (await nodeImport('node:fs/promises')) as typeof import('node:fs/promises');
    const { fileURLToPath } = (await nodeImport('node:url')) as typeof import('node:url');
    const { createRequire } = (await nodeImport('node:module')) as typeof import('node:module');
    const { dirname } = (await nodeImport('node:path')) as typeof import('node:path');
    wasmBinary = await readFile(fileURLToPath(assets.wasm));
    // Emscripten's ES module glue reaches for CommonJS globals under Node.
    const g = globalThis as Record<string, unknown>;
    g.require ??= createRequire(assets.glue);
    g.__dirname ??= dirname(fileURLToPath(assets.glue));
    // Node's Worker takes a path, not a file URL string.
    if (workerPath) workerPath = fileURLToPath(workerPath);
  } else {
    // Bundlers inline small assets as data: URLs (Vite below 4 KiB, which the
    // pthread worker script is). A worker from a data: URL has an opaque
    // origin and could not load the glue or share memory; a blob: URL keeps
    // the page's origin.
    if (workerPath?.startsWith('data:')) workerPath = URL.createObjectURL(await (await fetch(workerPath)).blob());
    const res = await fetch(assets.wasm);
    if (!res.ok) throw new Error(`cannot fetch ${assets.wasm}: HTTP ${res.status}`);
    wasmBinary = await res.arrayBuffer();
  }
  // The glue is loaded from where the bundler put it, never bundled itself.
  const { default: factory } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ assets.glue)) as { default: ModuleFactory };
  const processHandlers = isNode ? keepProcessHandlers() : undefined;
  const module = await factory({
    wasmBinary,
    hobWorkers: Math.max(1, opts.threads - 1),
    mainScriptUrlOrBlob: assets.glue,
    locateFile: (path: string) => (path.endsWith('.worker.js') && workerPath ? workerPath : path),
    print: () => {},
    printErr: (s: string) => console.warn(`[hob wasm] ${s}`),
  });
  processHandlers?.restore();
  if (isNode && module.PThread) {
    // Pool threads only run while the engine blocks the caller in a call, so
    // they must not keep a finished Node process alive.
    for (const w of [...module.PThread.unusedWorkers, ...module.PThread.runningWorkers]) w.unref?.();
  }
  return { module, variant, simd };
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * The glue registers process handlers in Node that rethrow every uncaught
 * error and unhandled rejection of the whole process (Node then prints the
 * glue's 70 KB source line with the stack, and an application's own
 * handlers stop mattering). The engine needs neither: they are taken out
 * again right after the module is made.
 */
function keepProcessHandlers(): { restore(): void } {
  type Listener = (...args: unknown[]) => void;
  const proc = process as unknown as { listeners(e: string): Listener[]; off(e: string, l: Listener): void };
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set(proc.listeners(e))]));
  return {
    restore() {
      for (const e of PROCESS_EVENTS) {
        for (const l of proc.listeners(e)) if (!before.get(e)!.has(l)) proc.off(e, l);
      }
    },
  };
}

/** Stops the module's threads; the module is unusable afterwards. */
export function terminateWasm(m: HobModule): void {
  if (!m.PThread) return;
  for (const w of [...m.PThread.unusedWorkers, ...m.PThread.runningWorkers]) w.terminate();
}

/** A view of the whole wasm heap; fresh after any growth. */
export function heapU8(m: HobModule): Uint8Array {
  const memory = m.wasmMemory ?? m.asm?.memory;
  if (memory && m.HEAPU8.buffer !== memory.buffer) return new Uint8Array(memory.buffer);
  return m.HEAPU8;
}
