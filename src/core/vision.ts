// A multimodal projector in the engine (cpp/clip.h): llama.cpp's mmproj
// GGUF loaded next to a text model, turning RGB pixels into embedding rows
// the text model's session evaluates in place of tokens
// (Session.evalEmbeddings). Also where an image sits in the prompt: the
// marker tokens llama.cpp's mtmd puts around each sub-image, and whether
// the text model reads its rows with attention both ways.
import { Status } from './c-api.js';
import { allocModelBuffer } from './model.js';
import type { Engine } from './wasm-engine.js';
import { HobError } from '../shared/errors.js';

/** How an image of a given size is split: a gridX x gridY grid of tiles
 *  (row by row) then the overview, each `tokensPerImage` rows; 0 x 0 and
 *  one image for a projector that does not tile (gemma3, gemma4v: the
 *  latter's rows depend on the image's size). */
export interface ImageLayout {
  gridX: number;
  gridY: number;
  /** Embedding rows of the whole image. */
  nRows: number;
  /** The image's place in the prompt, markers and sub-images in order, as
   *  llama.cpp's mtmd puts them for this projector type. */
  parts: ImagePart[];
  /** Each sub-image's rows attend to one another both ways (Gemma 3, Gemma
   *  4 but for E2B and E4B): pass it to Session.evalEmbeddings with them. */
  bidirectional: boolean;
}

/** The projector types the engine loads (cpp/api.h hob_projector_type). */
export type ProjectorType = 'idefics3' | 'gemma3' | 'gemma4v';
const PROJECTOR_TYPES: readonly ProjectorType[] = ['idefics3', 'gemma3', 'gemma4v'];

export interface EncodedImage extends ImageLayout {
  /** nRows x nEmbd floats, sub-image by sub-image in prompt order. */
  embeddings: Float32Array;
}

/** The ViT of a projector (hob_clip_vit_shape): what a device that runs
 *  its blocks (src/gpu/vit.ts) needs to know. */
export interface VitShape {
  /** Rows of one sub-image: its patches (0 where they depend on the image's
   *  size: gemma4v, whose blocks run in the engine only). */
  nPatches: number;
  nEmbd: number;
  nHead: number;
  nFf: number;
  nLayer: number;
  imageSize: number;
  /** The LayerNorms' epsilon. */
  eps: number;
}

/** Runs the ViT blocks over one sub-image's rows (nPatches x nEmbd),
 *  returning the rows after them. */
export type VitBlocks = (x: Float32Array) => Promise<Float32Array>;

/** Largest image side the engine takes (ClipModel::kMaxImageSide, cpp/clip.h). */
export const MAX_IMAGE_SIDE = 16384;

/** A loaded projector. */
export class Projector {
  /** Width of its rows: the text model's n_embd must be the same. */
  readonly nEmbd: number;
  /** Rows of one sub-image; 0 where they depend on the image's size
   *  (gemma4v: layout() gives them). */
  readonly tokensPerImage: number;
  readonly projectorType: ProjectorType;
  /** The text model reads each sub-image's rows attending both ways. */
  readonly bidirectional: boolean;
  /** The shape of its ViT. */
  readonly vit: VitShape;
  private freed = false;

  /** Loads an mmproj GGUF from its bytes. An unknown projector type is
   *  'model/unsupported-architecture' naming it. */
  static load(engine: Engine, bytes: Uint8Array): Projector {
    const ptr = allocModelBuffer(engine, bytes.byteLength);
    engine.heap().set(bytes, ptr);
    // The engine takes ownership of ptr, also when loading fails.
    engine.check(engine.module._hob_clip_load(ptr, bytes.byteLength, 1, engine.out(0)));
    return new Projector(engine, engine.u32(engine.out(0)));
  }

  private constructor(
    readonly engine: Engine,
    readonly handle: number,
  ) {
    this.nEmbd = engine.module._hob_clip_n_embd(handle);
    this.tokensPerImage = engine.module._hob_clip_tokens_per_image(handle);
    this.projectorType = PROJECTOR_TYPES[engine.module._hob_clip_projector_type(handle)];
    this.bidirectional = engine.module._hob_clip_non_causal(handle) === 1;
    engine.check(engine.module._hob_clip_vit_shape(handle, engine.out(0), engine.out(3)));
    const shape = new Int32Array(engine.heap().buffer, engine.out(0), 6).slice();
    const eps = new Float32Array(engine.heap().buffer, engine.out(3), 1)[0];
    const [nPatches, nEmbd, nHead, nFf, nLayer, imageSize] = shape;
    this.vit = { nPatches, nEmbd, nHead, nFf, nLayer, imageSize, eps };
  }

  /** The split of a width x height image, without its pixels. */
  layout(width: number, height: number): ImageLayout {
    const e = this.engine;
    checkSize(width, height);
    e.check(e.module._hob_clip_image_layout(this.live(), width, height, e.out(0), e.out(1), e.out(2)), { width, height });
    const gridX = e.i32(e.out(0));
    const gridY = e.i32(e.out(1));
    const parts = this.projectorType === 'gemma3' ? gemma3Layout()
      : this.projectorType === 'gemma4v' ? gemma4Layout() : idefics3Layout(gridX, gridY);
    return { gridX, gridY, nRows: e.u32(e.out(2)), parts, bidirectional: this.bidirectional };
  }

  /** Preprocesses and encodes RGB pixels (width x height x 3 bytes, row major). */
  encode(rgb: Uint8Array, width: number, height: number): EncodedImage {
    const e = this.engine;
    const m = e.module;
    const layout = this.layout(width, height);
    const { nRows } = layout;
    checkRgb(rgb, width, height);
    const count = nRows * this.nEmbd;
    const pix = m._malloc(rgb.byteLength);
    const out = m._malloc(count * 4);
    try {
      if (!pix || !out) throw new HobError('memory/out-of-memory', `no room for a ${width}x${height} image in the wasm heap`, { width, height });
      e.heap().set(rgb, pix);
      const status = m._hob_clip_encode(this.live(), pix, width, height, out, count, e.out(0));
      if (status !== Status.OK) e.check(status, { width, height });
      const embeddings = new Float32Array(e.heap().buffer, out, count).slice();
      return { ...layout, embeddings };
    } finally {
      m._free(pix);
      m._free(out);
    }
  }

  /** encode in steps, the ViT blocks of each sub-image run by `blocks`
   *  (on a GPU: src/gpu/vit.ts) between the patch embedding and the
   *  projector, which run here. With blocks that compute what the engine's
   *  do, the rows are encode's. Fixed-size projectors only (not gemma4v,
   *  which the engine encodes whole: 'argument/invalid'). */
  async encodeWith(rgb: Uint8Array, width: number, height: number, blocks: VitBlocks): Promise<EncodedImage> {
    this.checkSteps();
    const layout = this.layout(width, height);
    const subImages = this.preprocess(rgb, width, height);
    const per = this.tokensPerImage * this.nEmbd;
    const embeddings = new Float32Array(layout.nRows * this.nEmbd);
    for (const [i, pixels] of subImages.entries()) {
      const x = await blocks(this.embedPatches(pixels));
      embeddings.set(this.project(x), i * per);
    }
    return { ...layout, embeddings };
  }

  /** The projector's preprocessing: the sub-images in the layout's order,
   *  each 3 x imageSize x imageSize floats (planar, normalized). */
  preprocess(rgb: Uint8Array, width: number, height: number): Float32Array[] {
    this.checkSteps();
    const { nRows } = this.layout(width, height);
    checkRgb(rgb, width, height);
    const per = 3 * this.vit.imageSize ** 2;
    const n = nRows / this.tokensPerImage;
    const e = this.engine;
    return this.call([rgb.byteLength, n * per * 4], ([pix, out]) => {
      e.heap().set(rgb, pix);
      e.check(e.module._hob_clip_preprocess(this.live(), pix, width, height, out, n * per, e.out(0)), { width, height });
      return Array.from({ length: n }, (_, i) => this.f32(out + i * per * 4, per));
    });
  }

  /** One sub-image's pixels into its nPatches x nEmbd rows: the patch
   *  embedding and the positions. */
  embedPatches(pixels: Float32Array): Float32Array {
    const n = this.vit.nPatches * this.vit.nEmbd;
    const e = this.engine;
    return this.call([pixels.byteLength, n * 4], ([pix, out]) => {
      this.put(pixels, pix);
      e.check(e.module._hob_clip_embed_patches(this.live(), pix, pixels.length, out, n));
      return this.f32(out, n);
    });
  }

  /** The ViT blocks on the CPU over a sub-image's rows (a new array). */
  runBlocks(x: Float32Array): Float32Array {
    const e = this.engine;
    return this.call([x.byteLength], ([buf]) => {
      this.put(x, buf);
      e.check(e.module._hob_clip_run_blocks(this.live(), buf, x.length));
      return this.f32(buf, x.length);
    });
  }

  /** The post-LayerNorm and the projector over a sub-image's rows after
   *  the blocks: its tokensPerImage rows of nEmbd. */
  project(x: Float32Array): Float32Array {
    const n = this.tokensPerImage * this.nEmbd;
    const e = this.engine;
    return this.call([x.byteLength, n * 4], ([buf, out]) => {
      this.put(x, buf);
      e.check(e.module._hob_clip_project(this.live(), buf, x.length, out, n));
      return this.f32(out, n);
    });
  }

  /** The step functions need a fixed patch grid. */
  private checkSteps(): void {
    if (this.tokensPerImage <= 0) {
      throw new HobError('argument/invalid', `a ${this.projectorType} projector encodes whole images only (its patch grid depends on the image's size)`);
    }
  }

  /** Runs fn with wasm buffers of these sizes, freed after it. */
  private call<T>(sizes: number[], fn: (ptrs: number[]) => T): T {
    const m = this.engine.module;
    const ptrs = sizes.map((n) => m._malloc(Math.max(4, n)));
    try {
      if (ptrs.some((p) => !p)) throw new HobError('memory/out-of-memory', `no room for ${sizes.reduce((a, b) => a + b, 0)} bytes of image data in the wasm heap`);
      return fn(ptrs);
    } finally {
      for (const p of ptrs) if (p) m._free(p);
    }
  }

  private put(a: Float32Array, ptr: number): void {
    this.engine.heap().set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), ptr);
  }

  /** A copy of n floats of the heap, in memory of its own (not shared with
   *  the engine's threads: WebGPU takes no shared memory). */
  private f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.engine.heap().buffer, ptr, n).slice();
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.engine.module._hob_clip_free(this.handle);
  }

  private live(): number {
    if (this.freed) throw new HobError('argument/invalid', 'the projector was freed');
    return this.handle;
  }
}

function checkRgb(rgb: Uint8Array, width: number, height: number): void {
  if (rgb.byteLength !== width * height * 3) {
    throw new HobError('argument/invalid', `${rgb.byteLength} bytes are not ${width}x${height} RGB pixels`, {
      bytes: rgb.byteLength, width, height,
    });
  }
}

function checkSize(width: number, height: number): void {
  const ok = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= MAX_IMAGE_SIDE;
  if (!ok(width) || !ok(height)) {
    throw new HobError('argument/invalid', `image size ${width}x${height} is empty or over ${MAX_IMAGE_SIDE} pixels a side`, {
      width, height,
    });
  }
}

/** One step of an image's place in the prompt: text tokenized with special
 *  tokens parsed, one token looked up by its exact piece, or sub-image
 *  `index` (in encode order: its rows). */
export type ImagePart =
  | { kind: 'text'; text: string }
  | { kind: 'piece'; piece: string }
  | { kind: 'image'; index: number };

/** SmolVLM's (idefics3's) layout, as llama.cpp's mtmd builds it: each tile
 *  behind `<fake_token_around_image><row_R_col_C>`, a newline after each row
 *  but the last, then "\n\n" `<fake_token_around_image>` `<global-img>`,
 *  the overview, and `<fake_token_around_image>`. */
export function idefics3Layout(gridX: number, gridY: number): ImagePart[] {
  const parts: ImagePart[] = [];
  for (let y = 0; y < gridY; y++) {
    for (let x = 0; x < gridX; x++) {
      parts.push({ kind: 'text', text: `<fake_token_around_image><row_${y + 1}_col_${x + 1}>` });
      parts.push({ kind: 'image', index: y * gridX + x });
    }
    if (y !== gridY - 1) parts.push({ kind: 'piece', piece: '\n' });
  }
  parts.push({ kind: 'piece', piece: '\n\n' }, { kind: 'piece', piece: '<fake_token_around_image>' }, { kind: 'piece', piece: '<global-img>' });
  parts.push({ kind: 'image', index: gridX * gridY });
  parts.push({ kind: 'piece', piece: '<fake_token_around_image>' });
  return parts;
}

/** Gemma 3's layout, as llama.cpp's mtmd builds it: `<start_of_image>`, the
 *  image's rows, `<end_of_image>`, each marker tokenized with special tokens
 *  parsed. No newlines: the mtmd the fixtures come from adds none (the
 *  prompt's own text carries whatever the chat template put there). */
export function gemma3Layout(): ImagePart[] {
  return [{ kind: 'text', text: '<start_of_image>' }, { kind: 'image', index: 0 }, { kind: 'text', text: '<end_of_image>' }];
}

/** Gemma 4's layout, as llama.cpp's mtmd builds it: `<|image>`, the image's
 *  rows, `<image|>`, each marker tokenized with special tokens parsed. */
export function gemma4Layout(): ImagePart[] {
  return [{ kind: 'text', text: '<|image>' }, { kind: 'image', index: 0 }, { kind: 'text', text: '<image|>' }];
}
